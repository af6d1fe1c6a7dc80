"""How fast a big OME-Zarr image opens: ``python -m benchmarks.open_speed``.

The store is a 5-level, 4-channel, 32768 x 32768 uint16 NGFF 0.4 image (8 GiB raw at level
0) made WITHOUT writing most of its pixels: the zarr arrays and the OME metadata are created
with zarr directly (chunks (1, 1024, 1024), blosc-zstd), and real data (cells and shot noise,
from `benchmarks.memory.make_block`) goes only into the two lowest levels (3: 4096², 4: 2048²),
so a reader that computes contrast limits has something to read. Level 0-2 chunks are absent,
i.e. the fill value: a reader that touched them would find zeros and, more to the point, would
be slow on a real store. By default the ``omero`` channels have no ``window``, so both readers
have to work out contrast limits (``--window`` writes windows like our writer does).

Each measurement runs in a fresh subprocess, ``--repeats`` times (median reported), the two
plugins alternating:

a. our reader, ``get_reader(path)(path)``: time to layer data, with napari and the reader's
   module imported beforehand (napari has them loaded when it calls a reader);
b. napari-ome-zarr's ``napari_get_reader(path)(path)``, the same way;
c. time to the first screenshot in a real napari viewer under Xvfb (``xvfb-run -a``):
   ``napari.Viewer(show=True)``, then ``viewer.open(path, plugin=...)`` and
   ``viewer.screenshot(canvas_only=True)`` are timed (viewer start-up is reported apart).

One more traced run per plugin and mode records every file the process opens inside the store
(a ``sys.addaudithook`` on ``open``, which every zarr store class goes through), grouped by
level, chunk vs metadata; the number of level-0 chunk files read at open time should be 0.
``--profile`` adds a cProfile run of our reader and prints its top functions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .measure import ROOT
from .workloads import OUTPUT

SIZE = 32768
CHANNELS = 4
LEVELS = 5
CHUNK = 1024
DATA_LEVELS = (3, 4)
PLUGINS = {"ours": "napari-omezarr-export", "napari-ome-zarr": "napari-ome-zarr"}
META_FILES = {".zarray", ".zattrs", ".zgroup", "zarr.json", ".zmetadata"}
COLORS = ("0000FF", "00FF00", "FF0000", "FF00FF")


# --- the store -------------------------------------------------------------------------------


def make_store(path: Path, *, window: bool = False) -> dict:
    """Create the sparse store at ``path``; return what was written."""
    import numcodecs
    import zarr

    from napari_omezarr_export.core.write.pyramid import downsample

    from .memory import make_block

    shutil.rmtree(path, ignore_errors=True)
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    compressor = numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.BITSHUFFLE)
    arrays = []
    for level in range(LEVELS):
        n = SIZE >> level
        arrays.append(
            root.create_array(
                str(level),
                shape=(CHANNELS, n, n),
                chunks=(1, CHUNK, CHUNK),
                dtype="uint16",
                compressors=compressor,
                fill_value=0,
                chunk_key_encoding={"name": "v2", "separator": "/"},
            )
        )
    first = min(DATA_LEVELS)
    n = SIZE >> first
    windows = []
    for c in range(CHANNELS):
        blocks = n // CHUNK
        plane = np.block(
            [
                [make_block(c, by, bx, (CHUNK, CHUNK)) for bx in range(blocks)]
                for by in range(blocks)
            ]
        )
        for level in range(first, LEVELS):
            if level > first:
                plane = downsample(plane, (2, 2), "mean")
            if level in DATA_LEVELS:
                arrays[level][c] = plane
        windows.append((float(np.percentile(plane, 0.1)), float(np.percentile(plane, 99.9))))
    datasets = [
        {
            "path": str(level),
            "coordinateTransformations": [
                {"type": "scale", "scale": [1.0, 0.325 * 2**level, 0.325 * 2**level]}
            ],
        }
        for level in range(LEVELS)
    ]
    channels = []
    for c in range(CHANNELS):
        channel = {"label": f"C{c}", "color": COLORS[c], "active": True}
        if window:
            lo, hi = windows[c]
            channel["window"] = {"start": lo, "end": hi, "min": 0.0, "max": 65535.0}
        channels.append(channel)
    root.attrs.update(
        {
            "multiscales": [
                {
                    "version": "0.4",
                    "name": "sparse",
                    "axes": [
                        {"name": "c", "type": "channel"},
                        {"name": "y", "type": "space", "unit": "micrometer"},
                        {"name": "x", "type": "space", "unit": "micrometer"},
                    ],
                    "datasets": datasets,
                }
            ],
            "omero": {"version": "0.4", "channels": channels},
        }
    )
    return {"data_levels": list(DATA_LEVELS), "window": window}


# --- tracing which files are read -------------------------------------------------------------


def install_open_trace(store: Path) -> list[str]:
    """Record every file opened under ``store`` (relative paths), via an audit hook."""
    prefix = str(store.resolve()) + os.sep
    opened: list[str] = []

    def hook(event: str, args: tuple) -> None:
        if event == "open" and args and isinstance(args[0], str | bytes | os.PathLike):
            name = os.fsdecode(args[0])
            if not os.path.isabs(name):
                name = os.path.abspath(name)
            if name.startswith(prefix):
                opened.append(name[len(prefix) :])

    sys.addaudithook(hook)
    return opened


def summarize_reads(opened: list[str]) -> dict:
    """Counts of chunk files read per level, and of metadata files."""
    chunks: dict[str, int] = {}
    meta = 0
    for rel in opened:
        parts = rel.split(os.sep)
        if parts[-1] in META_FILES:
            meta += 1
            continue
        level = parts[0] if len(parts) > 1 else "?"
        chunks[level] = chunks.get(level, 0) + 1
    return {
        "chunk_reads": dict(sorted(chunks.items())),
        "meta_reads": meta,
        "level0_chunk_reads": chunks.get("0", 0),
    }


# --- the workers ------------------------------------------------------------------------------


def _read(plugin: str, path: str):
    if plugin == "ours":
        from napari_omezarr_export._napari._reader import get_reader

        return get_reader(path)(path)
    from napari_ome_zarr import napari_get_reader

    return napari_get_reader(path)(path)


def _jsonable(value):
    """Contrast limits as plain floats: a pair, a list of pairs (one layer per channel), None."""
    if value is None:
        return None
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(v) for v in value]
    return float(value)


def worker_reader(args: argparse.Namespace) -> dict:
    t_import0 = time.perf_counter()
    # What a running napari viewer has already imported when it calls a reader.
    import dask.array  # noqa: F401
    import napari
    import napari.layers
    import napari.utils.colormaps  # noqa: F401
    import zarr  # noqa: F401

    t_napari = time.perf_counter() - t_import0
    t0 = time.perf_counter()
    if args.plugin == "ours":
        import napari_omezarr_export._napari._reader  # noqa: F401
    else:
        import napari_ome_zarr  # noqa: F401
    t_plugin = time.perf_counter() - t0
    opened = install_open_trace(Path(args.path)) if args.trace else None
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t0 = time.perf_counter()
    layers = _read(args.plugin, args.path)
    first = time.perf_counter() - t0
    first_reads = list(opened) if opened is not None else None  # the first call's reads only
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    t0 = time.perf_counter()
    _read(args.plugin, args.path)
    second = time.perf_counter() - t0
    result = {
        "import_napari_s": t_napari,
        "import_plugin_s": t_plugin,
        "open_s": first,
        "open_again_s": second,
        "layers": len(layers),
        "levels": [len(d) if isinstance(d, list) else 1 for d, _, _ in layers],
        "contrast_limits": [_jsonable(kw.get("contrast_limits")) for _, kw, _ in layers],
    }
    if first_reads is not None:
        result.update(summarize_reads(first_reads))
    return result


def worker_viewer(args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    import napari
    from qtpy.QtWidgets import QApplication

    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    viewer = napari.Viewer(show=True)
    QApplication.processEvents()
    t_viewer = time.perf_counter() - t0
    opened = install_open_trace(Path(args.path)) if args.trace else None
    t0 = time.perf_counter()
    layers = viewer.open(args.path, plugin=PLUGINS[args.plugin])
    t_open = time.perf_counter() - t0
    shot = viewer.screenshot(canvas_only=True)
    t_shot = time.perf_counter() - t0
    result = {
        "import_napari_s": t_import,
        "viewer_s": t_viewer,
        "open_call_s": t_open,
        "first_screenshot_s": t_shot,
        "layers": len(layers),
        "screenshot_shape": list(shot.shape),
        "screenshot_std": float(np.asarray(shot[..., :3], dtype=np.float32).std()),
        "data_levels": [int(getattr(layer, "data_level", -1)) for layer in viewer.layers],
    }
    if opened is not None:
        result.update(summarize_reads(opened))
    viewer.close()
    return result


def worker(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["reader", "viewer"])
    parser.add_argument("--plugin", choices=list(PLUGINS), required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--profile", default=None)
    args = parser.parse_args(argv)
    result = worker_reader(args) if args.mode == "reader" else worker_viewer(args)
    print("RESULT " + json.dumps(result), flush=True)
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown (Qt, dask threads): nothing more to measure


# --- the parent -------------------------------------------------------------------------------


def run_worker(
    mode: str,
    plugin: str,
    path: Path,
    *,
    trace: bool = False,
    profile: Path | None = None,
    timeout: float = 300.0,
) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.open_speed",
        "--worker",
        mode,
        "--plugin",
        plugin,
        "--path",
        str(path),
    ]
    if trace:
        cmd.append("--trace")
    if profile is not None:
        cmd += ["--profile", str(profile)]
    if mode == "viewer":
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24", *cmd]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    if mode == "viewer":
        env.pop("QT_QPA_PLATFORM", None)  # a real X server (Xvfb), not offscreen
    record: dict = {"mode": mode, "plugin": plugin, "trace": trace}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if not lines:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-4:]
            record["error"] = f"exit {proc.returncode}: " + " | ".join(tail)[-500:]
        else:
            record.update(json.loads(lines[-1][len("RESULT ") :]))
    except subprocess.TimeoutExpired:
        record["error"] = f"timed out after {timeout:.0f} s"
    record["process_s"] = time.perf_counter() - t0
    return record


def machine_line() -> str:
    import napari
    import napari_ome_zarr
    import zarr

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"nproc {os.cpu_count()}, RAM {mem:.1f} GiB, Python {platform.python_version()}, "
        f"napari {napari.__version__}, napari-ome-zarr {napari_ome_zarr.__version__}, "
        f"zarr {zarr.__version__}, load average at start "
        f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def _median(records: list[dict], key: str) -> float | None:
    values = [r[key] for r in records if key in r]
    return statistics.median(values) if values else None


def _fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def report(records: list[dict], header: str, store_note: str) -> str:
    lines = [
        f"### Open speed: 4x{SIZE}x{SIZE} uint16, {LEVELS} levels ({store_note})",
        "",
        header,
        "",
    ]
    lines += [
        "| measurement | ours (median) | napari-ome-zarr (median) | ours / theirs | runs | "
        "ours all runs |",
        "|---|---:|---:|---:|---:|---|",
    ]
    rows = [
        ("reader", "open_s", "(a/b) reader call to layer data, s"),
        ("reader", "open_again_s", "same, second call in the process, s"),
        ("reader", "import_plugin_s", "import of the reader module (napari loaded), s"),
        ("viewer", "first_screenshot_s", "(c) viewer.open + first screenshot, s"),
        ("viewer", "open_call_s", "viewer.open alone, s"),
        ("viewer", "viewer_s", "napari.Viewer(show=True) start-up, s"),
    ]
    for mode, key, label in rows:
        ours = [
            r for r in records if r["mode"] == mode and r["plugin"] == "ours" and not r["trace"]
        ]
        theirs = [
            r
            for r in records
            if r["mode"] == mode and r["plugin"] == "napari-ome-zarr" and not r["trace"]
        ]
        a, b = _median(ours, key), _median(theirs, key)
        ratio = f"{a / b:.2f}" if a and b else ""
        runs = ", ".join(f"{r[key]:.3f}" for r in ours if key in r)
        lines.append(
            f"| {label} | {_fmt(a)} | {_fmt(b)} | {ratio} | "
            f"{sum(key in r for r in ours)}/{sum(key in r for r in theirs)} | {runs} |"
        )
    lines += [
        "",
        "| traced run | plugin | chunk files read per level | level-0 chunks | "
        "metadata files | layers | contrast limits / screenshot |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for r in records:
        if not r["trace"]:
            continue
        if "error" in r:
            lines.append(f"| {r['mode']} | {r['plugin']} | {r['error']} | | | | |")
            continue
        extra = (
            f"limits {r['contrast_limits'][:2]}..."
            if r["mode"] == "reader"
            else f"std {r['screenshot_std']:.1f}, data_level {r['data_levels']}"
        )
        lines.append(
            f"| {r['mode']} | {r['plugin']} | {r['chunk_reads']} | "
            f"{r['level0_chunk_reads']} | {r['meta_reads']} | {r['layers']} | {extra} |"
        )
    errors = [r for r in records if "error" in r and not r["trace"]]
    for r in errors:
        lines.append(f"\nerror: {r['mode']} {r['plugin']}: {r['error']}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        worker(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--modes", default="reader,viewer")
    parser.add_argument("--window", action="store_true", help="write omero windows")
    parser.add_argument("--store", default=None, help="where to make the store (deleted after)")
    parser.add_argument("--keep", action="store_true", help="keep the store")
    parser.add_argument("--profile", action="store_true", help="cProfile our reader once")
    parser.add_argument("--out", default=None, help="markdown report path")
    args = parser.parse_args(argv)

    store = Path(args.store or OUTPUT / "stores" / f"open-speed-{os.getpid()}.ome.zarr")
    store.parent.mkdir(parents=True, exist_ok=True)
    header = machine_line()
    print(header, file=sys.stderr)
    t0 = time.perf_counter()
    made = make_store(store, window=args.window)
    print(f"store made in {time.perf_counter() - t0:.1f} s: {store} {made}", file=sys.stderr)
    note = (
        "omero windows present" if args.window else "no omero windows: contrast computed"
    ) + f"; data only in levels {', '.join(map(str, DATA_LEVELS))}"
    modes = args.modes.split(",")
    records = []
    try:
        for rnd in range(args.repeats):
            for mode in modes:
                order = (
                    ["ours", "napari-ome-zarr"] if rnd % 2 == 0 else ["napari-ome-zarr", "ours"]
                )
                for plugin in order:
                    rec = run_worker(mode, plugin, store)
                    rec["round"] = rnd
                    records.append(rec)
                    key = "open_s" if mode == "reader" else "first_screenshot_s"
                    print(
                        f"  [{rnd + 1}/{args.repeats}] {mode:6s} {plugin:15s} "
                        f"{rec.get(key, float('nan')):.3f} s  load {os.getloadavg()[0]:.2f} "
                        f"{rec.get('error', '')}",
                        file=sys.stderr,
                    )
        for mode in modes:
            for plugin in PLUGINS:
                rec = run_worker(mode, plugin, store, trace=True)
                records.append(rec)
                print(f"  traced {mode} {plugin}: {json.dumps(rec)[:400]}", file=sys.stderr)
        if args.profile:
            prof = OUTPUT / "open_speed_ours.prof"
            run_worker("reader", "ours", store, profile=prof)
            import pstats

            stats = pstats.Stats(str(prof))
            stats.sort_stats("cumulative").print_stats(25)
    finally:
        if not args.keep:
            shutil.rmtree(store, ignore_errors=True)
    text = report(records, header, note)
    text += f"\nLoad average at end: {'/'.join(f'{x:.2f}' for x in os.getloadavg())}\n"
    print(text)
    out = (
        Path(args.out) if args.out else OUTPUT / f"open-speed-{time.strftime('%Y%m%d-%H%M%S')}.md"
    )
    out.write_text(text)
    out.with_suffix(".json").write_text(
        json.dumps({"machine": header, "records": records}, indent=1)
    )


if __name__ == "__main__":
    main()

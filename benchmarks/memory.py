"""Peak memory of exporting images larger than RAM: ``python -m benchmarks.memory``.

The input is a LAZY dask array whose blocks are made on the fly (``da.map_blocks``), so the
image never exists in memory: whatever the writer's process holds at its peak is the writer's
own working set (plus dask's and the generator's). Each size is written with our writer in a
fresh subprocess (``python -m benchmarks.memory --worker ...``), which reports wall time,
MB/s of raw input, peak RSS (``VmHWM``, see `benchmarks.measure._status_mib`) and bytes on
disk. It then checks, outside the timing, a sample of level-0 chunks (and a few level-1
chunks) pixel for pixel against the generator, and validates the metadata with
``ome-zarr-models`` (and ``yaozarrs``), via `benchmarks.measure.validate_metadata`.

The shapes keep the width at 32768 and grow the height, because our band writer reads level 0
in bands of whole chunk rows across the full width: its memory should not depend on height.
Memory does grow with width (a band is 1024 rows x full width); ``--square`` uses square
images instead (1x32768x32768 and 1x93184x93184 for 2 and 16 GiB) to show that.

Realistic content, made fast: every block is cell-sized bright blobs over a smooth background
that is continuous across the whole image, 12-bit, with shot noise. Per block, a seeded
generator picks one of a few precomputed 1280x1280 "cell" fields and one of a few
precomputed standard-normal fields, and an offset into each; the noise is Poisson's normal
approximation ``clean + sqrt(clean) * N(0, 1)`` (exact enough for the >= 150 photon counts
here; a true ``rng.poisson`` per 1024x1024 block costs ~50 ms on this machine and would make
the generator, not the writer, the bottleneck). Blocks are a pure function of
``(seed, c, block row, block column)``, so the check regenerates them exactly.

Usage::

    python -m benchmarks.memory                      # 2 and 16 GiB, ours only
    python -m benchmarks.memory --sizes 2 --peers    # also ome-zarr-py at the small size
    python -m benchmarks.memory --sizes 1,4 --levels 0   # levels 0: automatic
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from .measure import ROOT, _maxrss_mib, _peak_mib, _status_mib, disk_bytes, validate_metadata
from .workloads import OUTPUT

GIB = 2**30
CHUNK = 1024
WIDTH = 32768
BASE = 1280  # precomputed fields are BASE x BASE; a block is a CHUNK x CHUNK window of one
N_FIELDS = 6
SEED = 20240


# --- the generator ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _fields() -> tuple[np.ndarray, np.ndarray]:
    """(cell fields, noise fields): float32 (N_FIELDS, BASE, BASE), made once per process."""
    from napari_omezarr_export.core.samples import smooth_blobs

    rng = np.random.default_rng(SEED)
    cells = np.empty((N_FIELDS, BASE, BASE), np.float32)
    for i in range(N_FIELDS):
        f = smooth_blobs((BASE, BASE), rng, sigma=24.0, amplitude=1.0)
        f = np.clip((f - 0.55) * 2.5, 0.0, None) ** 1.5  # bright cell-sized blobs, dark gaps
        cells[i] = f
    noise = rng.standard_normal((N_FIELDS, BASE, BASE), dtype=np.float32)
    return cells, noise


_fields_lock = threading.Lock()


def _get_fields() -> tuple[np.ndarray, np.ndarray]:
    with _fields_lock:  # dask calls the generator from several threads at first
        return _fields()


def _background(start: int, stop: int, period: float, phase: float) -> np.ndarray:
    """A smooth 1-D profile over global coordinates: continuous across blocks."""
    t = np.arange(start, stop, dtype=np.float32)
    return (np.sin(t / period + phase) + np.sin(t / (period * 0.37) + 2 * phase)).astype(
        np.float32
    )


def make_block(c: int, by: int, bx: int, shape: tuple[int, int], seed: int = SEED) -> np.ndarray:
    """The uint16 block at chunk (c, by, bx) of size ``shape`` (edge blocks may be smaller)."""
    cells, noise = _get_fields()
    rng = np.random.default_rng([seed, c, by, bx])
    k, j = rng.integers(N_FIELDS, size=2)
    oy, ox, ny, nx = rng.integers(0, BASE - CHUNK + 1, size=4)
    brightness = np.float32(rng.uniform(1800.0, 3400.0))
    h, w = shape
    y0, x0 = by * CHUNK, bx * CHUNK
    bg_y = 60.0 * _background(y0, y0 + h, 2900.0, 0.3 * c)
    bg_x = 60.0 * _background(x0, x0 + w, 4100.0, 1.1 + c)
    clean = cells[k, oy : oy + h, ox : ox + w] * brightness
    clean += bg_y[:, None]
    clean += bg_x[None, :]
    clean += np.float32(400.0)  # background offset: stays >= ~150 counts
    out = np.sqrt(clean)
    out *= noise[j, ny : ny + h, nx : nx + w]
    out += clean
    np.clip(out, 0.0, 4095.0, out=out)
    return np.rint(out).astype(np.uint16)


def _dask_block(block_info=None) -> np.ndarray:
    info = block_info[None]
    c, by, bx = info["chunk-location"]
    _, h, w = info["chunk-shape"]
    return make_block(c, by, bx, (h, w))[None]


def lazy_image(shape: tuple[int, int, int]):
    """A (c, y, x) uint16 dask array with CHUNK x CHUNK blocks made on demand."""
    import dask.array as da

    chunks = tuple(
        (1,) * n if i == 0 else (CHUNK,) * (n // CHUNK) + ((n % CHUNK,) if n % CHUNK else ())
        for i, n in enumerate(shape)
    )
    return da.map_blocks(
        _dask_block, dtype=np.uint16, chunks=chunks, meta=np.empty((0, 0, 0), np.uint16)
    )


def shape_for(gib: float, square: bool) -> tuple[int, int, int]:
    """A 1 x y x x shape of about ``gib`` GiB uint16; y/x multiples of CHUNK."""
    pixels = gib * GIB / 2
    if square:
        side = round(math.sqrt(pixels) / CHUNK) * CHUNK
        return (1, side, side)
    return (1, max(CHUNK, round(pixels / WIDTH / CHUNK) * CHUNK), WIDTH)


# --- the checks ------------------------------------------------------------------------------


def check_sample(
    store: Path, shape: tuple[int, int, int], n: int = 8, seed: int = 1, level1: bool = True
) -> dict:
    """Compare ``n`` level-0 chunks (corners included) and 3 level-1 chunks to the generator.

    Level 1 is compared with our ``mean`` (round half up); ``level1=False`` skips it for
    writers that round differently (ome-zarr-py's ``downscale_local_mean`` truncates).
    """
    import zarr

    from napari_omezarr_export.core.write.pyramid import downsample

    from .measure import level_paths

    paths = level_paths(store)
    lv0 = zarr.open_array(str(store / paths[0]), mode="r")
    if tuple(lv0.shape) != shape or lv0.dtype != np.uint16:
        raise AssertionError(f"level 0 is {lv0.shape} {lv0.dtype}, expected {shape} uint16")
    rows, cols = math.ceil(shape[1] / CHUNK), math.ceil(shape[2] / CHUNK)
    rng = np.random.default_rng(seed)
    picks = {(0, 0), (rows - 1, cols - 1), (0, cols - 1), (rows - 1, 0)}
    while len(picks) < min(n, rows * cols):
        picks.add((int(rng.integers(rows)), int(rng.integers(cols))))

    def expected(by: int, bx: int) -> np.ndarray:
        h = min(CHUNK, shape[1] - by * CHUNK)
        w = min(CHUNK, shape[2] - bx * CHUNK)
        return make_block(0, by, bx, (h, w))

    for by, bx in sorted(picks):
        got = lv0[0, by * CHUNK : (by + 1) * CHUNK, bx * CHUNK : (bx + 1) * CHUNK]
        want = expected(by, bx)
        if not np.array_equal(got, want):
            bad = int(np.count_nonzero(got != want))
            raise AssertionError(f"level-0 chunk ({by}, {bx}) differs in {bad} pixels")
    checked1 = 0
    if level1 and len(paths) > 1:
        lv1 = zarr.open_array(str(store / paths[1]), mode="r")
        for by, bx in [(0, 0), ((rows - 1) // 2, (cols - 1) // 2), (rows // 4, cols // 3)]:
            src = np.block(
                [
                    [expected(y, x) for x in range(2 * bx, min(2 * bx + 2, cols))]
                    for y in range(2 * by, min(2 * by + 2, rows))
                ]
            )
            want = downsample(src, (2, 2), "mean")
            got = lv1[
                0, by * CHUNK : by * CHUNK + want.shape[0], bx * CHUNK : bx * CHUNK + want.shape[1]
            ]
            if not np.array_equal(got, want):
                bad = int(np.count_nonzero(got != want))
                raise AssertionError(f"level-1 chunk ({by}, {bx}) differs in {bad} pixels")
            checked1 += 1
    groups = validate_metadata(store)
    return {
        "levels": len(paths),
        "chunks_checked_l0": len(picks),
        "chunks_checked_l1": checked1,
        "groups_validated": groups,
    }


# --- the worker ------------------------------------------------------------------------------


class RssSampler:
    """Sample VmRSS every ``interval`` s on a thread: when in the run the peak happened."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            rss = _status_mib("VmRSS")
            if rss is not None:
                self.samples.append((time.perf_counter() - self._t0, rss))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        if not self.samples:
            return {}
        values = [v for _, v in self.samples]
        n = len(values)
        return {
            "rss_median_mib": statistics.median(values),
            "rss_first_quarter_max_mib": max(values[: max(1, n // 4)]),
            "rss_last_quarter_max_mib": max(values[-max(1, n // 4) :]),
        }


def _write_ours(image, out: Path, levels: int | None) -> Path:
    from napari_omezarr_export import ChannelStyle, PyramidOptions, StorageOptions, write_image

    return write_image(
        image,
        out,
        axes="cyx",
        channels=[ChannelStyle("C0", "00FF00")],
        pyramid=PyramidOptions(levels=levels),
        storage=StorageOptions(chunks=(1, CHUNK, CHUNK)),
    )[0]


def _write_ome_zarr_py(image, out: Path, levels: int | None) -> Path:
    import numcodecs
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.scale import Methods
    from ome_zarr.writer import write_image

    root = zarr.open_group(str(out), mode="w", zarr_format=2)
    compressor = numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.BITSHUFFLE)
    write_image(
        image,
        root,
        scale_factors=[{"y": 2**i, "x": 2**i} for i in range(1, levels or 5)],
        method=Methods.LOCAL_MEAN,
        fmt=FormatV04(),
        axes=["c", "y", "x"],
        storage_options={"chunks": (1, CHUNK, CHUNK), "compressor": compressor},
    )
    return out


WRITERS = {"ours": _write_ours, "ome-zarr-py": _write_ome_zarr_py}


def worker(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writer", default="ours")
    parser.add_argument("--shape", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--levels", type=int, default=5)
    parser.add_argument("--no-check", action="store_true")
    args = parser.parse_args(argv)

    import dask.array  # noqa: F401 - imported before the baseline
    import zarr  # noqa: F401

    import napari_omezarr_export  # noqa: F401

    if args.writer == "ome-zarr-py":
        import ome_zarr.writer  # noqa: F401
    shape = tuple(int(n) for n in args.shape.split("x"))
    out = Path(args.out)
    image = lazy_image(shape)
    _get_fields()
    result = {"rss_ready_mib": _peak_mib(), "nbytes": int(image.nbytes), "levels": args.levels}
    with RssSampler() as sampler:
        t0 = time.perf_counter()
        store = WRITERS[args.writer](image, out, args.levels or None)
        wall = time.perf_counter() - t0
    result.update(
        wall_s=wall,
        mb_s=image.nbytes / 1e6 / wall,
        rss_peak_mib=_peak_mib(),
        ru_maxrss_mib=_maxrss_mib(),
        load_after=os.getloadavg()[0],
        **sampler.summary(),
    )
    result["disk_bytes"] = disk_bytes(out)
    if args.no_check:
        result["check"] = "skipped"
    else:
        try:
            result.update(check_sample(Path(store), shape, level1=args.writer == "ours"))
            result["check"] = "ok"
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            result["check"] = f"FAILED: {type(exc).__name__}: {exc}"[:300]
    print("RESULT " + json.dumps(result), flush=True)


# --- the parent ------------------------------------------------------------------------------


def free_gib(path: Path) -> float:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize / GIB


def run_size(
    writer: str,
    shape: tuple[int, ...],
    levels: int,
    workdir: Path,
    timeout: float,
    check: bool = True,
) -> dict:
    out = workdir / f"mem-{writer}-{'x'.join(map(str, shape))}-{os.getpid()}.ome.zarr"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.memory",
        "--worker",
        "--writer",
        writer,
        "--shape",
        "x".join(map(str, shape)),
        "--out",
        str(out),
        "--levels",
        str(levels),
    ]
    if not check:
        cmd.append("--no-check")
    record: dict = {"writer": writer, "shape": list(shape)}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(os.environ, PYTHONWARNINGS="ignore"),
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            record["error"] = f"exit {proc.returncode}: " + " | ".join(tail)[-400:]
        else:
            record.update(json.loads(lines[-1][len("RESULT ") :]))
    except subprocess.TimeoutExpired:
        record["error"] = f"timed out after {timeout:.0f} s"
    finally:
        record["subprocess_s"] = time.perf_counter() - t0
        shutil.rmtree(out, ignore_errors=True)
    return record


def machine_line() -> str:
    import dask
    import zarr

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    return (
        f"nproc {os.cpu_count()}, RAM {mem:.1f} GiB, Python {platform.python_version()}, "
        f"zarr {zarr.__version__}, dask {dask.__version__}, load average at start "
        f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def table(records: list[dict]) -> str:
    lines = [
        "| writer | shape (c,y,x) | raw GiB | levels | wall s | MB/s | peak RSS MiB | "
        "RSS before write MiB | on disk GiB | ratio | check |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in records:
        shape = "x".join(map(str, r["shape"]))
        raw = math.prod(r["shape"]) * 2 / GIB
        if "error" in r:
            lines.append(f"| {r['writer']} | {shape} | {raw:.1f} | | | | | | | | {r['error']} |")
            continue
        lines.append(
            f"| {r['writer']} | {shape} | {raw:.1f} | {r.get('levels', '')} | {r['wall_s']:.0f} | "
            f"{r['mb_s']:.0f} | {r['rss_peak_mib']:.0f} | {r['rss_ready_mib']:.0f} | "
            f"{r['disk_bytes'] / GIB:.2f} | {r['nbytes'] / r['disk_bytes']:.2f} | {r['check']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        worker(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2,16", help="raw sizes in GiB, comma-separated")
    parser.add_argument("--levels", type=int, default=5, help="0: automatic")
    parser.add_argument("--square", action="store_true", help="square images, width grows too")
    parser.add_argument(
        "--peers", action="store_true", help="also ome-zarr-py's write_image at the smallest size"
    )
    parser.add_argument("--peer-timeout", type=float, default=300.0)
    parser.add_argument("--workdir", default=str(OUTPUT / "stores"))
    parser.add_argument("--no-check", action="store_true")
    parser.add_argument("--out", default=None, help="markdown report path")
    args = parser.parse_args(argv)

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = [float(s) for s in args.sizes.split(",")]
    header = machine_line()
    print(header, file=sys.stderr)
    records = []
    for gib in sizes:
        shape = shape_for(gib, args.square)
        free = free_gib(workdir)
        if free < max(40.0, gib * 1.0 + 5):
            print(f"skipping {gib} GiB: only {free:.0f} GiB free under {workdir}", file=sys.stderr)
            records.append(
                {"writer": "ours", "shape": list(shape), "error": f"skipped: {free:.0f} GiB free"}
            )
            continue
        print(
            f"[{time.strftime('%H:%M:%S')}] ours {shape} ({gib} GiB), {free:.0f} GiB free, "
            f"load {os.getloadavg()[0]:.2f}",
            file=sys.stderr,
        )
        rec = run_size(
            "ours", shape, args.levels, workdir, timeout=3 * 3600, check=not args.no_check
        )
        rec["gib"] = gib
        records.append(rec)
        print(json.dumps(rec), file=sys.stderr)
    if args.peers:
        shape = shape_for(min(sizes), args.square)
        print(f"[{time.strftime('%H:%M:%S')}] ome-zarr-py {shape}", file=sys.stderr)
        rec = run_size(
            "ome-zarr-py",
            shape,
            args.levels or 5,
            workdir,
            timeout=args.peer_timeout,
            check=not args.no_check,
        )
        records.append(rec)
        print(json.dumps(rec), file=sys.stderr)

    ours = [r for r in records if r["writer"] == "ours" and "rss_peak_mib" in r]
    lines = [
        f"### Memory: lazy dask input, {', '.join(f'{s:g}' for s in sizes)} GiB",
        "",
        header,
        "",
        table(records),
        "",
    ]
    if len(ours) >= 2:
        small, big = ours[0], ours[-1]
        ratio = big["rss_peak_mib"] / small["rss_peak_mib"]
        lines.append(
            f"Peak RSS ratio {big['gib']:g} GiB / {small['gib']:g} GiB: **{ratio:.2f}** "
            f"(raw size ratio {big['nbytes'] / small['nbytes']:.1f}); target: both under 1536 MiB."
        )
        lines.append(f"Load average at end: {'/'.join(f'{x:.2f}' for x in os.getloadavg())}")
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out) if args.out else OUTPUT / f"memory-{time.strftime('%Y%m%d-%H%M%S')}.md"
    out.write_text(text)
    out.with_suffix(".json").write_text(
        json.dumps({"machine": header, "records": records}, indent=1)
    )


if __name__ == "__main__":
    main()

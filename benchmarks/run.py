"""Benchmark suite entry point: ``python -m benchmarks.run [--workloads W1,W2] [--repeats 3]``.

Writes each workload with our writer, ome-zarr-py, bioio-ome-zarr and ngff-zarr under equal
settings (and the compress-and-write "limit"), then defaults against defaults, then measures the
import-time cost of our package and runs a small codec study. Every write runs in a fresh
subprocess and is checked; the markdown report goes to stdout and ``benchmarks/output/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from . import report
from .measure import command_seconds, run_one
from .workloads import OUTPUT, Workload, ensure_data, get_workloads
from .writers import EQUAL_WRITERS, PEERS


def machine_line() -> str:
    import numcodecs
    import zarr

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return (
        f"nproc {os.cpu_count()}, RAM {mem:.1f} GiB, Python {platform.python_version()}, "
        f"numpy {np.__version__}, zarr {zarr.__version__}, numcodecs {numcodecs.__version__}, "
        f"{platform.platform()}, load average at start {load:.2f}"
    )


def run_writers(
    wl: Workload,
    writers: list[str],
    repeats: int,
    settings: str,
    *,
    check: bool = True,
    log=print,
) -> list[dict]:
    """Every writer once per round, alternating, ``repeats`` rounds."""
    data_path = ensure_data(wl, in_subprocess=True)
    records = []
    for rnd in range(repeats):
        for writer in writers:
            t0 = time.perf_counter()
            rec = run_one(writer, wl, data_path, settings, check=check)
            rec["round"] = rnd
            records.append(rec)
            status = rec.get("error") or rec.get("check")
            wall = rec.get("wall_s")
            log(
                f"  [{wl.name} {settings} round {rnd + 1}/{repeats}] {writer:15s} "
                f"{f'{wall:.2f} s' if wall is not None else '':>9s} "
                f"(subprocess {time.perf_counter() - t0:.1f} s, load {os.getloadavg()[0]:.1f}) "
                f"{status}"
            )
    return records


def import_time(repeats: int = 5) -> dict:
    """Median wall time of ``import zarr`` with and without our package, alternating."""
    base, ours = [], []
    for _ in range(repeats):
        base += command_seconds("import zarr", 1)
        ours += command_seconds("import zarr, napari_omezarr_export", 1)
    return {"zarr": statistics.median(base), "ours": statistics.median(ours)}


# (name, Blosc cname or None for plain zstd, level, shuffle, Blosc block size; 0 = Blosc's own)
CODECS = [
    ("blosc-zstd 1 bit", "zstd", 1, "bit", 0),
    ("blosc-zstd 1 byte", "zstd", 1, "byte", 0),
    ("blosc-zstd 3 bit", "zstd", 3, "bit", 0),
    ("blosc-zstd 3 byte", "zstd", 3, "byte", 0),
    ("blosc-zstd 5 bit", "zstd", 5, "bit", 0),
    ("blosc-zstd 5 byte", "zstd", 5, "byte", 0),
    ("blosc-zstd 1 bit 256 KiB", "zstd", 1, "bit", 1 << 18),
    ("blosc-zstd 1 bit 1 MiB", "zstd", 1, "bit", 1 << 20),
    ("blosc-zstd 1 byte 1 MiB", "zstd", 1, "byte", 1 << 20),
    ("blosc-zstd 3 bit 1 MiB", "zstd", 3, "bit", 1 << 20),
    ("blosc-zstd 5 byte 1 MiB", "zstd", 5, "byte", 1 << 20),
    ("blosc-lz4 5 bit", "lz4", 5, "bit", 0),
    ("blosc-lz4 5 byte", "lz4", 5, "byte", 0),
    ("zstd 3 (no shuffle)", None, 3, None, 0),
]


def _is_default(cname: str | None, level: int, shuffle: str | None, blocksize: int) -> bool:
    from napari_omezarr_export import StorageOptions

    default = StorageOptions()
    return (f"blosc-{cname}", level, shuffle, blocksize) == (
        default.codec,
        default.level,
        default.shuffle,
        default.blocksize,
    )


def codec_study(
    data: np.ndarray,
    chunk: tuple[int, int] = (1024, 1024),
    repeats: int = 3,
    max_chunks: int = 32,
):
    """Compression ratio and single-thread (de)compress speed per codec on 2-D chunks.

    At most ``max_chunks`` chunks are used, spread evenly over the data.
    """
    import numcodecs
    from numcodecs import blosc

    blosc.set_nthreads(1)
    shuffles = {"bit": numcodecs.Blosc.BITSHUFFLE, "byte": numcodecs.Blosc.SHUFFLE}
    planes = data.reshape(-1, *data.shape[-2:])
    chunks = [
        np.ascontiguousarray(p[y : y + chunk[0], x : x + chunk[1]])
        for p in planes
        for y in range(0, p.shape[0], chunk[0])
        for x in range(0, p.shape[1], chunk[1])
    ]
    chunks = chunks[:: max(1, len(chunks) // max_chunks)][:max_chunks]
    raw = sum(c.nbytes for c in chunks)
    rows = []
    for name, cname, level, shuffle, blocksize in CODECS:
        if cname is None:
            codec = numcodecs.Zstd(level=level)
        else:
            codec = numcodecs.Blosc(cname, level, shuffles[shuffle], blocksize=blocksize)
        c_times, d_times = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            encoded = [codec.encode(c) for c in chunks]
            c_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for e in encoded:
                codec.decode(e)
            d_times.append(time.perf_counter() - t0)
        size = sum(len(e) for e in encoded)
        c_s, d_s = statistics.median(c_times), statistics.median(d_times)
        rows.append(
            {
                "name": name,
                "ratio": raw / size,
                "compress_s": c_s,
                "compress_mbs": raw / 1e6 / c_s,
                "decompress_mbs": raw / 1e6 / d_s,
                "default": _is_default(cname, level, shuffle, blocksize),
            }
        )
    blosc.set_nthreads(os.cpu_count() or 1)
    return rows


def codec_study_subprocess(wl: Workload) -> list[dict]:
    """`codec_study` on the workload's data, in a child so this process stays small."""
    import subprocess

    code = (
        "import json, sys, numpy as np; from benchmarks.run import codec_study; "
        "print(json.dumps(codec_study(np.load(sys.argv[1]))))"
    )
    path = ensure_data(wl, in_subprocess=True)
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        cwd=Path(__file__).resolve().parent.parent,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="W1,W2,W3,W4")
    parser.add_argument(
        "--defaults-workloads",
        default="W1,W2",
        help="workloads for the defaults-vs-defaults table ('' for none)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--writers", default=",".join(EQUAL_WRITERS))
    parser.add_argument("--quick", action="store_true", help="smaller shapes, 3 levels at most")
    parser.add_argument("--no-check", action="store_true", help="skip the output checks")
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--skip-codecs", action="store_true")
    parser.add_argument("--out", default=None, help="report path (default benchmarks/output/)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    writers = [w for w in args.writers.split(",") if w]
    workloads = get_workloads([w for w in args.workloads.split(",") if w], args.quick)
    defaults = get_workloads([w for w in args.defaults_workloads.split(",") if w], args.quick)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else OUTPUT / f"report-{stamp}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    sections = [
        "# Benchmark report",
        f"Command: `python -m benchmarks.run {' '.join(sys.argv[1:] if argv is None else argv)}`",
        f"Machine: {machine_line()}",
    ]
    raw: dict = {"equal": {}, "defaults": {}}
    durations: dict[str, float] = {}

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    def save() -> None:
        # After every section, so that an interrupted run keeps what it measured.
        done = ", ".join(f"{k}: {v / 60:.1f} min" for k, v in durations.items())
        text = "\n\n".join([*sections, "## Durations", done]) + "\n"
        out.write_text(text)
        out.with_suffix(".json").write_text(json.dumps(raw, indent=1, default=str))
        return text

    # The quick sections first, then each workload: equal settings, then its defaults.
    if not args.skip_import:
        result = import_time()
        raw["import"] = result
        sections += ["## Import time", report.import_table(result)]
        save()
    for wl in [] if args.skip_codecs else get_workloads(["W1", "W3"], args.quick):
        rows = codec_study_subprocess(wl)
        raw[f"codecs-{wl.name}"] = rows
        sections += [
            f"## Codec study: level-0 1024x1024 chunks of {wl.name} data {wl.shape} "
            f"{wl.dtype} (current default in bold)",
            report.codec_table(rows),
        ]
        save()
    default_names = {wl.name for wl in defaults}
    for wl in workloads:
        t0 = time.perf_counter()
        log(f"{wl.name}: {wl.description or wl.shape} ({wl.nbytes / 2**20:.0f} MiB)")
        ensure_data(wl, in_subprocess=True)
        durations[f"{wl.name} data"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        records = run_writers(wl, writers, args.repeats, "equal", check=not args.no_check, log=log)
        raw["equal"][wl.name] = records
        summary = report.summarize(records)
        durations[f"{wl.name} equal"] = time.perf_counter() - t0
        sections += [
            f"## {wl.name} equal settings: {wl.description} — {wl.shape} {wl.dtype}, "
            f"chunks {wl.chunk_shape}, {wl.levels} levels, Blosc zstd 5 byte-shuffle, "
            f"zarr v2 / NGFF 0.4, {args.repeats} alternating rounds",
            report.equal_table(wl, summary),
            report.ratios_line(wl, summary),
        ]
        save()
        if wl.name not in default_names:
            continue
        t0 = time.perf_counter()
        names = [w for w in writers if w in ("ours", *PEERS)]
        if "ours" in names:
            names.insert(1, "ours, 1 level")
        records = run_writers(
            wl, names, args.repeats, "defaults", check=not args.no_check, log=log
        )
        raw["defaults"][wl.name] = records
        durations[f"{wl.name} defaults"] = time.perf_counter() - t0
        sections += [
            f"## {wl.name} defaults against defaults — {wl.shape} {wl.dtype}",
            report.defaults_table(wl, report.summarize(records)),
        ]
        save()
    durations["total"] = time.perf_counter() - started
    text = save()
    print(text)
    log(f"report written to {out}")
    failed = [
        r
        for recs in (*raw["equal"].values(), *raw["defaults"].values())
        for r in recs
        if r["writer"].startswith("ours")
        and ("error" in r or str(r.get("check")).startswith("FAILED"))
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

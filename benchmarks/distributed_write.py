"""Writing one large dask array on a LocalCluster: ``python -m benchmarks.distributed_write``.

The image is 1x16384x16384 uint16 (512 MiB), LAZY: its 1024x1024 blocks are made on demand by
`benchmarks.memory.lazy_image` (realistic cells and shot noise), wherever dask computes them,
so no writer gets the pixels for free. Every writer uses the same settings: 5 levels (mean),
1024x1024 chunks, Blosc zstd 5 with byte shuffle, NGFF 0.4.

Each writer runs in a fresh subprocess (``--worker NAME``), which prints one JSON line:

* ``ours, single process``: ``write_image(..., client=False)``, no cluster; dask's threaded
  scheduler computes the blocks on this machine's 2 cores. The baseline (ratio 1.0).
* the others start a ``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)``
  (``--workers N`` for another number of workers, to see how the work spreads):
  ``ours, distributed``: ``write_image(..., client=client)``; ``ours, client encodes``: the
  single-process writer with the client active, as write_image behaved before issue 17 (the
  workers compute the bands, the client receives, encodes and writes them); ``ngff-zarr`` and
  ``ome-zarr-py``: their dask paths (to_multiscales + to_ngff_zarr; write_image with a dask
  array), with the client active so their dask computations run on the cluster.

Measured: wall time of the write call; CPU seconds of every process (the client's, which
holds the scheduler, and each worker's: a shared machine's load changes wall times, hardly
this); bytes the client process received over TCP (the
LocalCluster's scheduler runs in that process, so its control messages count too, a few MB);
bytes the workers sent (``transfer_outgoing_bytes_total``: to each other and to the client);
the peak RSS (VmHWM) of each worker and of the client process, and each worker's RSS when
the write began; per worker, the tasks it ran and the seconds it spent executing them (its
busy share of the write's wall time). The output is checked after the timing: a sample of
level-0 chunks equals the generator's blocks, and the metadata passes both validators.

Usage::

    python -m benchmarks.distributed_write                  # every writer, one run each
    python -m benchmarks.distributed_write --repeats 3 --writers ours-single,ours-dist
    python -m benchmarks.distributed_write --size 4096 --writers ours-dist,ours-single
    python -m benchmarks.distributed_write --workers 4 --writers ours-dist
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .measure import _status_mib, cpu_seconds, disk_bytes, error_line, validate_metadata
from .memory import CHUNK, lazy_image, machine_line, make_block
from .writers import blosc_zstd5

LEVELS = 5
WRITERS = {
    "ours-single": "ours, single process",
    "ours-dist": "ours, distributed",
    "ours-client-encodes": "ours, client encodes (before issue 17)",
    "ngff-zarr": "ngff-zarr 0.50, dask on the cluster",
    "ome-zarr-py": "ome-zarr-py, dask on the cluster",
}


def _write_ours(image, out: Path, client) -> Path:
    from napari_omezarr_export import PyramidOptions, StorageOptions, write_image

    storage = StorageOptions(
        ngff_version="0.4", chunks=(1, CHUNK, CHUNK), codec="blosc-zstd", level=5,
        shuffle="byte", blocksize=0,
    )  # fmt: skip
    pyramid = PyramidOptions(levels=LEVELS, image_method="mean")
    return write_image(image, out, axes="cyx", pyramid=pyramid, storage=storage, client=client)[0]


def _write_ngff_zarr(image, out: Path, client) -> Path:
    import ngff_zarr as nz

    ngff = nz.to_ngff_image(image, dims=["c", "y", "x"])
    multiscales = nz.to_multiscales(
        ngff,
        scale_factors=[{"y": 2**i, "x": 2**i} for i in range(1, LEVELS)],
        method=nz.Methods.DASK_BIN_SHRINK,
        chunks={"c": 1, "y": CHUNK, "x": CHUNK},
    )
    nz.to_ngff_zarr(str(out), multiscales, version="0.4", compressor=blosc_zstd5())
    return out


def _write_ome_zarr_py(image, out: Path, client) -> Path:
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.scale import Methods
    from ome_zarr.writer import write_image

    root = zarr.open_group(str(out), mode="w", zarr_format=2)
    write_image(
        image, root, scale_factors=[{"y": 2**i, "x": 2**i} for i in range(1, LEVELS)],
        method=Methods.LOCAL_MEAN, fmt=FormatV04(), axes=["c", "y", "x"],
        storage_options={"chunks": (1, CHUNK, CHUNK), "compressor": blosc_zstd5()},
    )  # fmt: skip
    return out


def _warm_worker() -> None:
    import dask.array  # noqa: F401

    from .memory import _get_fields

    _get_fields()


def _worker_stats(dask_worker=None) -> dict:
    state = dask_worker.state
    executing = state.task_counter.cumulative_elapsed(by_prefix=False).get("executing", 0.0)
    return {
        "rss_mib": _status_mib("VmRSS"),
        "peak_mib": _status_mib("VmHWM"),
        "sent_bytes": int(getattr(dask_worker, "transfer_outgoing_bytes_total", 0)),
        "cpu_seconds": cpu_seconds(),
        "tasks": state.executed_count,
        "executing_seconds": executing,
    }


def _count_client_bytes() -> list[int]:
    """Count the bytes every TCP message this process receives carries (client and scheduler)."""
    from distributed.comm import tcp

    received = [0]
    original = tcp.from_frames

    async def counting(frames, *args, **kwargs):
        received[0] += sum(memoryview(f).nbytes for f in frames)
        return await original(frames, *args, **kwargs)

    tcp.from_frames = counting
    return received


def _check(store: Path, size: int) -> None:
    """Level-0 corner and centre chunks equal the generator's; the metadata is valid."""
    import zarr

    multiscales = json.loads((store / ".zattrs").read_text())["multiscales"][0]
    level0 = zarr.open_array(str(store / multiscales["datasets"][0]["path"]), mode="r")
    n = size // CHUNK
    for by, bx in {(0, 0), (n // 2, n // 3), (n - 1, n - 1)}:
        got = level0[0, by * CHUNK : (by + 1) * CHUNK, bx * CHUNK : (bx + 1) * CHUNK]
        if not np.array_equal(got, make_block(0, by, bx, (CHUNK, CHUNK))):
            raise AssertionError(f"level 0 chunk ({by}, {bx}) differs from its source")
    validate_metadata(store)


def worker(name: str, size: int, out: Path, n_workers: int = 2) -> dict:
    """Run one writer on a fresh cluster of ``n_workers`` (or none); return its measurements."""
    image = lazy_image((1, size, size))
    write = {"ngff-zarr": _write_ngff_zarr, "ome-zarr-py": _write_ome_zarr_py}.get(
        name, _write_ours
    )
    record: dict = {"writer": WRITERS[name], "size": size, "n_workers": n_workers}
    if name == "ours-single":
        start, cpu = time.perf_counter(), cpu_seconds()
        store = _write_ours(image, out, client=False)
        record["seconds"] = time.perf_counter() - start
        record["cpu_seconds"] = cpu_seconds() - cpu
        record["client_peak_mib"] = _status_mib("VmHWM")
    else:
        from distributed import Client, LocalCluster

        received = _count_client_bytes()
        with (
            LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                local_directory=tempfile.mkdtemp(prefix="bench-dask-"),
            ) as cluster,
            Client(cluster) as client,
        ):  # fmt: skip
            # Warm, as the single process is when its timer starts: dask.array imported, the
            # generator's fields made. Our package and the peers' are imported in the timing.
            client.run(_warm_worker)
            before = client.run(_worker_stats)
            received[0] = 0
            start, cpu = time.perf_counter(), cpu_seconds()
            store = write(image, out, client if name == "ours-dist" else False)
            record["seconds"] = time.perf_counter() - start
            record["client_cpu_seconds"] = cpu_seconds() - cpu
            record["client_received_bytes"] = received[0]
            after = client.run(_worker_stats)
        record["workers"] = [
            {
                "rss_at_start_mib": before[w]["rss_mib"],
                "peak_mib": after[w]["peak_mib"],
                "sent_bytes": after[w]["sent_bytes"] - before[w]["sent_bytes"],
                "cpu_seconds": after[w]["cpu_seconds"] - before[w]["cpu_seconds"],
                "tasks": after[w]["tasks"] - before[w]["tasks"],
                "executing_seconds": after[w]["executing_seconds"]
                - before[w]["executing_seconds"],
            }
            for w in sorted(after)
        ]
        record["client_peak_mib"] = _status_mib("VmHWM")
        workers_cpu = sum(w["cpu_seconds"] for w in record["workers"])
        record["cpu_seconds"] = record["client_cpu_seconds"] + workers_cpu
    record["disk_bytes"] = disk_bytes(out)
    _check(store, size)
    return record


def _mb(n: float | None) -> str:
    return "-" if n is None else f"{n / 1e6:.1f}"


def report(records: list[dict]) -> str:
    """A markdown table; ratios against ours, single process (1.0 = as fast)."""
    single = [r for r in records if r["writer"] == WRITERS["ours-single"] and "error" not in r]
    base = None
    if single:  # the median run of ours, single process
        base = sorted(single, key=lambda r: r["seconds"])[(len(single) - 1) // 2]
    lines = [
        "| writer | s | × ours single | CPU s (all processes) | × CPU | client received MB "
        "| workers sent MB | worker peak RSS MiB (at start) | client peak MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        if "error" in r:
            lines.append(f"| {r['writer']} | failed: {r['error']} | | | | | | | |")
            continue
        ratio = f"{r['seconds'] / base['seconds']:.2f}" if base else "-"
        cpu_ratio = f"{r['cpu_seconds'] / base['cpu_seconds']:.2f}" if base else "-"
        workers = r.get("workers", [])
        sent = sum(w["sent_bytes"] for w in workers) if workers else None
        peaks = ", ".join(f"{w['peak_mib']:.0f} ({w['rss_at_start_mib']:.0f})" for w in workers)
        lines.append(
            f"| {r['writer']} | {r['seconds']:.2f} | {ratio} | {r['cpu_seconds']:.1f} | "
            f"{cpu_ratio} | "
            f"{_mb(r.get('client_received_bytes'))} | {_mb(sent)} | {peaks or '-'} | "
            f"{r['client_peak_mib']:.0f} |"
        )
    return "\n".join(lines)


def per_worker_report(records: list[dict]) -> str:
    """A markdown table of each worker of each cluster run: its share of the work."""
    lines = [
        "| writer (run) | worker | tasks run | s executing tasks | busy share of the write "
        "| CPU s | peak RSS MiB (at start) | sent MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    runs: dict[str, int] = {}
    for r in records:
        run = runs[r["writer"]] = runs.get(r["writer"], 0) + 1
        for i, w in enumerate(r.get("workers", [])):
            lines.append(
                f"| {r['writer']} ({run}) | {i} | {w.get('tasks', '-')} | "
                f"{w.get('executing_seconds', 0):.2f} | "
                f"{w.get('executing_seconds', 0) / r['seconds']:.0%} | {w['cpu_seconds']:.1f} | "
                f"{w['peak_mib']:.0f} ({w['rss_at_start_mib']:.0f}) | {_mb(w['sent_bytes'])} |"
            )
    return "\n".join(lines) if len(lines) > 2 else ""


def run_one(name: str, size: int, n_workers: int = 2) -> dict:
    """Run ``name`` in a fresh subprocess; its store is deleted afterwards."""
    out = Path(tempfile.mkdtemp(prefix="bench-dist-")) / "image.zarr"
    command = [sys.executable, "-m", "benchmarks.distributed_write", "--worker", name]
    command += ["--size", str(size), "--workers", str(n_workers), "--out", str(out)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            return {"writer": WRITERS[name], "error": error_line(done.stderr)}
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size", type=int, default=16384, help="image height and width")
    parser.add_argument("--writers", default=",".join(WRITERS))
    parser.add_argument("--repeats", type=int, default=1, help="rounds, writers alternating")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers (1 thread)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        sys.stdout.write(json.dumps(worker(args.worker, args.size, args.out, args.workers)) + "\n")
        return
    records = []
    for _ in range(args.repeats):  # alternating: a busy spell on a shared machine hits all
        for name in args.writers.split(","):
            sys.stderr.write(f"{WRITERS[name]} ...\n")
            records.append(run_one(name, args.size, args.workers))
            sys.stderr.write(json.dumps(records[-1]) + "\n")
    title = (
        f"1x{args.size}x{args.size} uint16, {LEVELS} levels, "
        f"LocalCluster {args.workers} x 1 thread"
    )
    records.sort(key=lambda r: list(WRITERS.values()).index(r["writer"]))
    text = f"# Distributed write: {title}\n\n{machine_line()}\n\n{report(records)}\n"
    if workers_table := per_worker_report(records):
        text += f"\nPer worker:\n\n{workers_table}\n"
    sys.stdout.write(text)
    out = Path(__file__).resolve().parent / "output"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"distributed-{stamp}.md").write_text(text)
    (out / f"distributed-{stamp}.json").write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()

"""Writing one new OME-Zarr image straight to S3: ``python -m benchmarks.remote_write``.

The target is an S3 bucket served by moto on 127.0.0.1 (`MotoS3Server` from
``tests/remote_servers.py``), started in this (the parent) process; every write makes a new
key in it. The image is 1xNxN uint16 (``--size N``, 8192: 128 MiB), the realistic cells and
shot noise of `benchmarks.memory.lazy_image`. Each writer process computes it to numpy
BEFORE its timer starts, so the timing holds the pyramid, the encoding and the upload, not
the synthetic generator (which no user pays); ours takes the numpy array as it is, ome-zarr-py
a dask array over it with the stored chunks (it wraps numpy in dask itself otherwise, with
dask's automatic chunks), ngff-zarr the numpy array (``to_multiscales`` chunks it).

Every writer has the same settings: 4 levels of factor 2 on y/x (mean, or the peer's mean:
ome-zarr-py ``LOCAL_MEAN``, ngff-zarr ``DASK_BIN_SHRINK``), 1x1024x1024 chunks, Blosc zstd 5
with byte shuffle (``numcodecs.Blosc`` for the peers; ours ``codec="blosc-zstd"``,
``shuffle="byte"``, ``blocksize=0`` as Blosc's default), zarr v2 / NGFF 0.4.

Writers (``--writers``, all by default), each in a fresh subprocess (``--worker NAME``)
that prints one JSON line; the parent runs them in alternation for ``--repeats`` rounds:

* ``ours``: ``write_image(data, "s3://...")``. A new target's chunks are staged locally and
  uploaded in background batches of ``upload_stream.STREAM_BYTES`` (128 MiB) while the
  encoding goes on, the metadata last. The baseline (ratio 1.0: its median run by wall time).
* ``ours-staged``: the same with ``upload_stream.STREAM_BYTES = 1 << 60`` set in its process:
  the whole store is staged, then uploaded (the behaviour before streaming).

  A batch starts only once ``STREAM_BYTES`` of chunks are staged: at the default size (88 MiB
  stored) ours streams nothing and both rows run the same code; at ``--size 16384`` (341 MiB
  stored) it streams 2 batches. ``--stream-bytes`` sets ours' batch size (``batches streamed``
  in the table says how many went up while encoding).
* ``ome-zarr-py``: ``ome_zarr.io.parse_url(url, mode="w", fmt=FormatV04())``, whose store is
  zarr's ``FsspecStore`` on s3fs, then ``ome_zarr.writer.write_image`` into that group: dask
  writes each chunk straight to S3, nothing is staged.
* ``ngff-zarr``: ``to_ngff_zarr("s3://...", to_multiscales(...))``, as a user would try first.
* ``ngff-zarr-put``: what ngff-zarr's error for that advises: ``to_ngff_zarr`` into a local
  folder (under the temporary folder), then fsspec's ``put`` of the folder to S3, then the
  folder is deleted; all of it timed.

Measured per run, in the writer's process: the wall time of the write call; its CPU seconds
(user + system of the writer's process, minus the disk sampler's own thread; moto serves in
the parent, so its work is not counted); the peak local disk the write used for staging (each
writer process gets its own fresh ``TMPDIR``; a thread sums the sizes of the files under
``tempfile.gettempdir()`` every 20 ms, tolerating files that vanish); the peak RSS of the
write (``/proc/self/clear_refs`` resets ``VmHWM`` once the source array is made, so the
generator's own peak is not counted; the RSS before the write, source array included, is
given beside it); the batches ours streamed while encoding. The parent then counts the
objects and bytes stored under the key (and deletes them, as moto holds them in memory).
The output is checked after the timing: three level-0 chunks (corners and middle) read back
from S3 equal the source, and the metadata documents, downloaded, pass both validators
(`benchmarks.measure.validate_metadata`).

moto shares this machine's 2 cores with the writer, as any local server would: wall times
include its serving; ratios of alternating runs are the result, absolute times are not.

Usage::

    python -m benchmarks.remote_write --repeats 3
    python -m benchmarks.remote_write --size 1024 --repeats 1      # a quick look (smoke test)
    python -m benchmarks.remote_write --writers ours,ours-staged --size 16384
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from .measure import ROOT, _status_mib, cpu_seconds, error_line, validate_metadata
from .memory import CHUNK, lazy_image, machine_line
from .writers import blosc_zstd5

LEVELS = 4
BUCKET = "remote-write-bench"
SAMPLE_SECONDS = 0.02
META_DOCS = frozenset({".zarray", ".zattrs", ".zgroup", ".zmetadata", "zarr.json"})
MIB = 2**20


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


WRITERS = {
    "ours": "ours, streaming upload",
    "ours-staged": "ours, staged whole (STREAM_BYTES = 2^60)",
    "ome-zarr-py": f"ome-zarr-py {_version('ome-zarr')}, FsspecStore",
    "ngff-zarr": f"ngff-zarr {_version('ngff-zarr')}, s3:// URL",
    "ngff-zarr-put": f"ngff-zarr {_version('ngff-zarr')}, local folder + fsspec put",
}
# Imported before the timer starts (their import time is not what this measures).
_OURS = ["napari_omezarr_export", "napari_omezarr_export.core.write.upload_stream"]
_NGFF = ["dask.array", "ngff_zarr", "fsspec"]
WARM_IMPORTS = {
    "ours": _OURS,
    "ours-staged": _OURS,
    "ome-zarr-py": ["dask.array", "ome_zarr.io", "ome_zarr.writer", "skimage.transform"],
    "ngff-zarr": _NGFF,
    "ngff-zarr-put": _NGFF,
}
SCALE_FACTORS = [{"y": 2**i, "x": 2**i} for i in range(1, LEVELS)]


# --- the writers (run in the worker process) ---------------------------------------------------


def _write_ours(data: np.ndarray, url: str) -> None:
    from napari_omezarr_export import PyramidOptions, StorageOptions, write_image

    storage = StorageOptions(
        ngff_version="0.4", chunks=(1, CHUNK, CHUNK), codec="blosc-zstd", level=5,
        shuffle="byte", blocksize=0,
    )  # fmt: skip
    pyramid = PyramidOptions(levels=LEVELS, image_method="mean")
    write_image(data, url, axes="cyx", pyramid=pyramid, storage=storage)


def _write_ome_zarr_py(data: np.ndarray, url: str) -> None:
    import dask.array as da
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.io import parse_url
    from ome_zarr.scale import Methods
    from ome_zarr.writer import write_image

    location = parse_url(url, mode="w", fmt=FormatV04())  # FsspecStore.from_url; makes the group
    root = zarr.open_group(location.store, mode="a", zarr_format=2)
    image = da.from_array(data, chunks=(1, CHUNK, CHUNK))
    write_image(
        image, root, scale_factors=SCALE_FACTORS, method=Methods.LOCAL_MEAN, fmt=FormatV04(),
        axes=["c", "y", "x"],
        storage_options={"chunks": (1, CHUNK, CHUNK), "compressor": blosc_zstd5()},
    )  # fmt: skip


def _ngff_multiscales(data: np.ndarray):
    import ngff_zarr as nz

    return nz.to_multiscales(
        nz.to_ngff_image(data, dims=["c", "y", "x"]),
        scale_factors=SCALE_FACTORS,
        method=nz.Methods.DASK_BIN_SHRINK,
        chunks={"c": 1, "y": CHUNK, "x": CHUNK},
    )


def _write_ngff_zarr(data: np.ndarray, url: str) -> None:
    import ngff_zarr as nz

    nz.to_ngff_zarr(url, _ngff_multiscales(data), version="0.4", compressor=blosc_zstd5())


def _write_ngff_zarr_put(data: np.ndarray, url: str) -> None:
    import fsspec
    import ngff_zarr as nz

    local = Path(tempfile.mkdtemp(prefix="ngff-zarr-")) / "image.ome.zarr"
    try:
        multiscales = _ngff_multiscales(data)
        nz.to_ngff_zarr(str(local), multiscales, version="0.4", compressor=blosc_zstd5())
        fs, path = fsspec.core.url_to_fs(url)
        fs.put(f"{local}/", f"{path}/", recursive=True)
    finally:
        shutil.rmtree(local.parent, ignore_errors=True)


def _write_ours_staged(data: np.ndarray, url: str) -> None:
    from napari_omezarr_export.core.write import upload_stream

    upload_stream.STREAM_BYTES = 1 << 60  # never a batch while encoding: staged whole
    _write_ours(data, url)


WRITE = {
    "ours": _write_ours,
    "ours-staged": _write_ours_staged,
    "ome-zarr-py": _write_ome_zarr_py,
    "ngff-zarr": _write_ngff_zarr,
    "ngff-zarr-put": _write_ngff_zarr_put,
}


# --- measuring (in the worker process) ------------------------------------------------------


def _tree_bytes(folder: str) -> int:
    """Total size of the files under ``folder``; files and folders may vanish meanwhile."""
    total = 0
    stack = [folder]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        else:
                            total += entry.stat(follow_symlinks=False).st_size
                    except OSError:  # gone since it was listed
                        continue
        except OSError:
            continue
    return total


class DiskSampler:
    """Sample the bytes under a folder every `SAMPLE_SECONDS` in a thread; keep the peak.

    Parameters
    ----------
    folder : str
        The folder whose files are summed (the writer's temporary folder).

    Attributes
    ----------
    peak_bytes : int
        The most bytes seen at once.
    samples : int
        How many times the folder was summed.
    cpu_seconds : float
        The sampler thread's own CPU time (to subtract from the process's).
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.peak_bytes = 0
        self.samples = 0
        self.cpu_seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="disk-sampler", daemon=True)

    def _run(self) -> None:
        start = time.thread_time()
        while True:
            self.peak_bytes = max(self.peak_bytes, _tree_bytes(self.folder))
            self.samples += 1
            if self._stop.wait(SAMPLE_SECONDS):
                break
        self.peak_bytes = max(self.peak_bytes, _tree_bytes(self.folder))
        self.cpu_seconds = time.thread_time() - start

    def __enter__(self) -> DiskSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _count_batches() -> dict:
    """Count the batches (and their files) our writer uploads while it encodes."""
    from napari_omezarr_export.core.write import upload_stream

    counts = {"batches": 0, "files": 0}
    original = upload_stream.ChunkStream._start

    def counting(self, paths):
        counts["batches"] += 1
        counts["files"] += len(paths)
        return original(self, paths)

    upload_stream.ChunkStream._start = counting
    return counts


def _s3fs():
    import fsspec

    return fsspec.filesystem("s3")


def check(url: str, data: np.ndarray, scratch: Path) -> int:
    """Compare three level-0 chunks read from S3 to ``data``; validate the metadata.

    The metadata documents (``.zattrs``, ``.zgroup``, ``.zarray``...) are downloaded into
    ``scratch`` with their relative paths and validated there.

    Returns
    -------
    int
        How many metadata documents were downloaded.
    """
    import zarr
    from zarr.storage import FsspecStore

    root = zarr.open_group(FsspecStore.from_url(url, read_only=True), mode="r")
    datasets = root.attrs["multiscales"][0]["datasets"]
    if len(datasets) != LEVELS:
        raise AssertionError(f"{len(datasets)} levels written, not {LEVELS}")
    path0 = datasets[0]["path"]
    level0 = root[path0]
    if tuple(level0.shape) != data.shape or level0.dtype != data.dtype:
        raise AssertionError(f"level 0 is {level0.shape} {level0.dtype}, not {data.shape}")
    n = data.shape[1] // CHUNK
    for by, bx in sorted({(0, 0), (n // 2, n // 3), (n - 1, n - 1)}):
        window = (0, slice(by * CHUNK, (by + 1) * CHUNK), slice(bx * CHUNK, (bx + 1) * CHUNK))
        if not np.array_equal(level0[window], data[window]):
            raise AssertionError(f"level 0 chunk ({by}, {bx}) differs from the source")
    fs = _s3fs()
    prefix = url.removeprefix("s3://").rstrip("/")
    docs = [key for key in fs.find(prefix) if key.rsplit("/", 1)[-1] in META_DOCS]
    for key in docs:
        local = scratch / key[len(prefix) + 1 :]
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(fs.cat_file(key))
    validate_metadata(scratch)
    return len(docs)


def worker(name: str, size: int, url: str, stream_bytes: int | None = None) -> dict:
    """Run one writer in this process on a new S3 key; return its measurements.

    The S3 endpoint and credentials come from the environment (``AWS_ENDPOINT_URL``...), the
    staging folder from ``TMPDIR``, both set by `run_one`. ``stream_bytes`` replaces
    ``upload_stream.STREAM_BYTES`` for ``ours`` (``ours-staged`` sets its own).

    Returns
    -------
    dict
        ``seconds``, ``cpu_seconds``, ``peak_staging_bytes``, ``peak_rss_mib``,
        ``rss_before_mib``, ``streamed_batches`` (ours), ``check`` ("ok" or why not), ...
    """
    for module in WARM_IMPORTS[name] + ["s3fs", "zarr"]:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    counts = _count_batches() if name.startswith("ours") else None
    if name == "ours" and stream_bytes is not None:
        from napari_omezarr_export.core.write import upload_stream

        upload_stream.STREAM_BYTES = stream_bytes
    data = np.ascontiguousarray(lazy_image((1, size, size)).compute(scheduler="threads"))
    tmp = tempfile.gettempdir()
    record: dict = {"name": name, "writer": WRITERS[name], "size": size}
    record["tmp_before_bytes"] = _tree_bytes(tmp)
    with contextlib.suppress(OSError):  # reset VmHWM: the generator's peak is not the write's
        Path("/proc/self/clear_refs").write_text("5")
    record["rss_before_mib"] = _status_mib("VmRSS")
    with DiskSampler(tmp) as sampler:
        start, cpu = time.perf_counter(), cpu_seconds()
        WRITE[name](data, url)
        record["seconds"] = time.perf_counter() - start
        cpu = cpu_seconds() - cpu
    record["cpu_seconds"] = cpu - sampler.cpu_seconds
    record["peak_rss_mib"] = _status_mib("VmHWM")
    record["peak_staging_bytes"] = sampler.peak_bytes - record["tmp_before_bytes"]
    record["staging_left_bytes"] = _tree_bytes(tmp) - record["tmp_before_bytes"]
    record["disk_samples"] = sampler.samples
    if counts is not None:
        record["streamed_batches"] = counts["batches"]
        record["streamed_files"] = counts["files"]
    try:
        scratch = Path(tempfile.mkdtemp(prefix="check-"))
        record["metadata_docs"] = check(url, data, scratch)
        record["check"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure is reported, not raised
        record["check"] = f"FAILED: {type(exc).__name__}: {exc}"[:300]
    return record


# --- the parent side ------------------------------------------------------------------------


def _remote_servers():
    """`tests/remote_servers.py` (the tests' folder is not a package)."""
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import remote_servers

    return remote_servers


def _stored(server, bucket: str, prefix: str, delete: bool = True) -> tuple[int, int]:
    """(objects, bytes) under ``prefix``; deletes them afterwards unless told not to."""
    client = server.client()
    keys, total = [], 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            keys.append(item["Key"])
            total += int(item["Size"])
    if delete:
        for i in range(0, len(keys), 1000):
            objects = [{"Key": key} for key in keys[i : i + 1000]]
            client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
    return len(keys), total


def run_one(
    name: str,
    size: int,
    server,
    bucket: str = BUCKET,
    timeout: float = 1800,
    stream_bytes: int | None = None,
) -> dict:
    """Run writer ``name`` in a fresh subprocess, writing a new key of ``bucket`` on ``server``.

    Parameters
    ----------
    name : str
        A key of `WRITERS`.
    size : int
        The image's height and width (a multiple of 1024).
    server : MotoS3Server
        The running S3 server (``tests/remote_servers.py``); ``bucket`` must exist on it.
    bucket : str
        The bucket written to.
    timeout : float
        Seconds before the subprocess is killed.
    stream_bytes : int, optional
        ``upload_stream.STREAM_BYTES`` for ``ours`` (its own 128 MiB by default): a small
        value makes a small image stream too.

    Returns
    -------
    dict
        The worker's measurements plus ``objects`` and ``stored_bytes`` (what the key holds
        afterwards; the objects are then deleted), or ``writer`` and ``error``.
    """
    prefix = f"{name}-{uuid.uuid4().hex[:8]}.ome.zarr"
    url = f"s3://{bucket}/{prefix}"
    tmp = tempfile.mkdtemp(prefix="bench-remote-")
    env = dict(os.environ, **server.env(), TMPDIR=tmp, PYTHONWARNINGS="ignore")
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        env.pop(variable, None)
    command = [sys.executable, "-m", "benchmarks.remote_write", "--worker", name]
    command += ["--size", str(size), "--url", url]
    if stream_bytes is not None:
        command += ["--stream-bytes", str(stream_bytes)]
    record: dict = {"name": name, "writer": WRITERS[name], "error": "?"}
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            record = {"name": name, "writer": WRITERS[name], "error": error_line(done.stderr)}
        else:
            record = json.loads(done.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        record = {"name": name, "writer": WRITERS[name], "error": f"timed out ({timeout:.0f} s)"}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        record["objects"], record["stored_bytes"] = _stored(server, bucket, prefix + "/")
    return record


def run_all(
    size: int,
    repeats: int = 1,
    names: list[str] | None = None,
    log=None,
    stream_bytes: int | None = None,
) -> list[dict]:
    """Start moto, run the writers in alternation for ``repeats`` rounds; return the records.

    Parameters
    ----------
    size : int
        The image's height and width.
    repeats : int
        Rounds; in each, every writer runs once, in the order of ``names``.
    names : list of str, optional
        Keys of `WRITERS` (all by default).
    log : file, optional
        Where progress goes (nothing by default).
    stream_bytes : int, optional
        ``upload_stream.STREAM_BYTES`` for ``ours`` (see `run_one`).

    Returns
    -------
    list of dict
        One record per run (see `run_one`), in the order they ran.
    """
    names = list(names or WRITERS)
    unknown = set(names) - set(WRITERS)
    if unknown:
        raise ValueError(f"unknown writers {sorted(unknown)}; known: {', '.join(WRITERS)}")
    records = []
    with _remote_servers().MotoS3Server() as server:
        server.make_bucket(BUCKET)
        for _ in range(repeats):  # alternating: a busy spell on a shared machine hits all
            for name in names:
                if log is not None:
                    log.write(f"{WRITERS[name]} ...\n")
                records.append(run_one(name, size, server, stream_bytes=stream_bytes))
                if log is not None:
                    log.write(json.dumps(records[-1]) + "\n")
                    log.flush()
    return records


def _median_run(runs: list[dict]) -> dict:
    """The run of median wall time (the lower middle one of an even count)."""
    return sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]


def _base(records: list[dict]) -> dict | None:
    ours = [r for r in records if r.get("name") == "ours" and "error" not in r]
    return _median_run(ours) if ours else None


def _ratio(value: float, base: float | None) -> str:
    return f"{value / base:.2f}" if base else "-"


def _row(r: dict, base: dict | None, run: str) -> str:
    batches = r.get("streamed_batches")
    return (
        f"| {r['writer']} | {run} | {r['seconds']:.2f} | "
        f"{_ratio(r['seconds'], base and base['seconds'])} | {r['cpu_seconds']:.1f} | "
        f"{_ratio(r['cpu_seconds'], base and base['cpu_seconds'])} | "
        f"{r['peak_staging_bytes'] / MIB:.0f} | "
        f"{r['peak_rss_mib']:.0f} ({r['rss_before_mib']:.0f}) | {r['objects']} | "
        f"{r['stored_bytes'] / 1e6:.1f} | {'-' if batches is None else batches} | {r['check']} |"
    )


HEADER = (
    "| writer | run | wall s | × wall | CPU s | × CPU | peak staging MiB "
    "| peak RSS MiB (before write) | objects | stored MB | batches streamed | check |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def report(records: list[dict]) -> str:
    """Markdown: each writer's median run, then every run; ratios against ours' median run.

    Parameters
    ----------
    records : list of dict
        As `run_all` returns them.

    Returns
    -------
    str
        Two tables (medians, every run); a failed writer shows its error.
    """
    base = _base(records)
    medians, runs = [HEADER], [HEADER]
    by_writer: dict[str, list[dict]] = {}
    for r in records:
        by_writer.setdefault(r["writer"], []).append(r)
    for writer, rows in by_writer.items():
        ok = [r for r in rows if "error" not in r]
        if ok:
            medians.append(_row(_median_run(ok), base, f"median of {len(ok)}"))
        failed = [r for r in rows if "error" in r]
        if failed:
            errors = sorted({r["error"] for r in failed})
            medians.append(
                f"| {writer} | {len(failed)} failed | {'; '.join(errors)} | | | | | | | | | |"
            )
        for i, r in enumerate(rows, 1):
            if "error" in r:
                runs.append(f"| {writer} | {i} | failed: {r['error']} | | | | | | | | | |")
            else:
                runs.append(_row(r, base, str(i)))
    return "Medians:\n\n" + "\n".join(medians) + "\n\nEvery run:\n\n" + "\n".join(runs)


def ratios_line(records: list[dict]) -> str:
    """One line: each writer's median wall and CPU as multiples of ours' median run."""
    base = _base(records)
    if base is None:
        return "ours did not run: no ratios"
    parts = []
    for name in WRITERS:
        ok = [r for r in records if r.get("name") == name and "error" not in r]
        if ok and name != "ours":
            wall = statistics.median(r["seconds"] for r in ok) / base["seconds"]
            cpu = statistics.median(r["cpu_seconds"] for r in ok) / base["cpu_seconds"]
            parts.append(f"{name} {wall:.2f}x wall, {cpu:.2f}x CPU")
    return "Against ours (median run): " + ("; ".join(parts) or "no other writer ran")


def main(argv: list[str] | None = None) -> Path | None:
    """Parse the command line; run the benchmark (or, with ``--worker``, one writer).

    Returns
    -------
    Path or None
        The markdown report written (None in a worker).
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size", type=int, default=8192, help="image height and width")
    parser.add_argument("--writers", default=",".join(WRITERS))
    parser.add_argument("--repeats", type=int, default=1, help="rounds, writers alternating")
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).resolve().parent / "output",
        help="folder of the report (.md) and the records (.json)",
    )  # fmt: skip
    parser.add_argument(
        "--stream-bytes", type=int, default=None,
        help="upload_stream.STREAM_BYTES for ours (default: the module's, 128 MiB)",
    )  # fmt: skip
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.size % CHUNK:
        parser.error(f"--size must be a multiple of {CHUNK}")
    if args.worker:
        record = worker(args.worker, args.size, args.url, args.stream_bytes)
        sys.stdout.write(json.dumps(record) + "\n")
        return None
    names = args.writers.split(",")
    records = run_all(args.size, args.repeats, names, sys.stderr, args.stream_bytes)
    title = (
        f"1x{args.size}x{args.size} uint16 ({args.size**2 * 2 / MIB:.0f} MiB), {LEVELS} levels, "
        f"{CHUNK}x{CHUNK} chunks, Blosc zstd 5 byte shuffle, NGFF 0.4, "
        f"{args.repeats} alternating rounds"
    )
    if args.stream_bytes is not None:
        title += f", ours with STREAM_BYTES = {args.stream_bytes}"
    text = (
        f"# Remote write to S3 (moto on 127.0.0.1): {title}\n\n{machine_line()}\n\n"
        f"{report(records)}\n\n{ratios_line(records)}\n"
    )
    sys.stdout.write(text)
    args.output.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (args.output / f"remote-write-{stamp}.json").write_text(json.dumps(records, indent=1))
    path = args.output / f"remote-write-{stamp}.md"
    path.write_text(text)
    return path


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()

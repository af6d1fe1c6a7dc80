"""The work a distributed write runs on its workers: one region of one pass.

`write_region` gets its block computed on the worker from the source's own graph, writes the
block and the windows of the levels the region owns with the same band pass as a
single-process write (`napari_omezarr_export.core.write.band_writer`), and returns only what
the client needs: the region's `DataSummary`, and, when coarse levels remain, the region's
block of the first coarse level (a 4**owned-th of the region), which stays on the workers:
the next pass cuts that level into regions of its own and reads them from these blocks
(`coarse_part`). Level-0 pixels never travel to the client.

Where the files go is a sink: `LocalSink` writes into the staging folder the client created
(a filesystem the workers share with the client, at the same path), `RemoteSink` writes into
a private local folder on the worker and uploads its chunk files straight to the object
store's keys, once the client has withdrawn the old store (see `RemoteSink.gate`).

Tasks stop early when the client sets the write's stop event (a failed or cancelled write):
they check it between bands and return a result marked ``stopped`` (no error, so the workers
log no failure), so once every task has ended nothing writes any more.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr

from napari_omezarr_export.core.errors import WriteFailedError
from napari_omezarr_export.core.write.band_writer import ArrayWindow, iter_write_levels
from napari_omezarr_export.core.write.object_store import META_DOCS
from napari_omezarr_export.core.write.plan import DataSummary
from napari_omezarr_export.core.write.region_sources import TaskSource
from napari_omezarr_export.core.write.regions import RegionGrid

if TYPE_CHECKING:
    from upath import UPath

__all__ = [
    "LocalSink",
    "RegionJob",
    "RegionResult",
    "RemoteSink",
    "coarse_part",
    "small_part",
    "write_region",
]
_STOP_CHECK_SECONDS = 0.2  # how often a task asks the scheduler whether to stop
# glibc mallopt parameters, and the values a region task uses (see `_roomy_malloc`)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_TASK_TRIM, _TASK_MMAP = 256 * 2**20, 64 * 2**20
_GLIBC_MMAP_DEFAULT = 128 * 2**10
# The roomy settings outlast our last task by this long: the next region's source blocks,
# computed by dask between our tasks, then reuse the heap too (measured: 640k page faults in
# the two workers on 1x16384x16384 uint16 without it).
_LINGER_SECONDS = 2.0
_malloc_lock = threading.Lock()
_malloc_users = [0]
_malloc_restore: list[threading.Timer | None] = [None]


def _glibc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


@contextlib.contextmanager
def _roomy_malloc() -> Iterator[None]:
    """Let glibc reuse freed memory while our tasks run; give it back to the system after.

    dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also fixes
    glibc's mmap threshold at 128 KiB: every buffer of a chunk or more (encoded chunks,
    contiguous copies, downsampling sums) is then a fresh mmap, zeroed page by page, and
    unmapped when freed. On 1x16384x16384 uint16 that cost 2.9 million page faults and 9 s of
    system time in the two workers, against 1.5 s in one process. While a region task runs,
    buffers up to 64 MiB come from the heap and up to 256 MiB of free heap is kept; when the
    last of our tasks in the process has ended (and no other began for `_LINGER_SECONDS`,
    so that dask's tasks computing the next region's source blocks use the heap as well), the
    worker's settings are restored and the free memory is returned (``malloc_trim``), as dask
    wants. Measured in benchmarks/README.md.
    """
    trim_env = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    libc = _glibc() if trim_env is not None else None
    if libc is None:
        yield
        return
    with _malloc_lock:
        _malloc_users[0] += 1
        if _malloc_restore[0] is not None:  # still roomy: the last task ended moments ago
            _malloc_restore[0].cancel()
            _malloc_restore[0] = None
        elif _malloc_users[0] == 1:
            libc.mallopt(_M_MMAP_THRESHOLD, _TASK_MMAP)
            libc.mallopt(_M_TRIM_THRESHOLD, _TASK_TRIM)
    try:
        yield
    finally:
        with _malloc_lock:
            _malloc_users[0] -= 1
            if _malloc_users[0] == 0:
                timer = threading.Timer(_LINGER_SECONDS, _restore_malloc, (libc, trim_env))
                timer.daemon = True
                _malloc_restore[0] = timer
                timer.start()


def _restore_malloc(libc: Any, trim_env: str) -> None:
    """Put back the worker's malloc settings and return the free memory, unless in use again."""
    with _malloc_lock:
        if _malloc_users[0] or _malloc_restore[0] is not threading.current_thread():
            return  # a task began meanwhile (and cancelled this restore)
        _malloc_restore[0] = None
        with contextlib.suppress(ValueError):
            libc.mallopt(_M_TRIM_THRESHOLD, int(trim_env))
        libc.mallopt(_M_MMAP_THRESHOLD, _GLIBC_MMAP_DEFAULT)
        libc.malloc_trim(0)


class _WriteStopped(Exception):
    """Raised inside a task when the client asked the write to stop; the task returns."""


@dataclass(frozen=True)
class LocalSink:
    """Write into the client's staging folder (an absolute path the workers can reach)."""

    stage: str
    zarr_format: int

    @contextlib.contextmanager
    def arrays(
        self, group: str, levels: Sequence[int], stop: Any = None
    ) -> Iterator[tuple[list[zarr.Array], list[str]]]:
        """Open the levels of ``group`` that the client created; nothing to upload after.

        Raises `WriteFailedError` when this worker cannot see the staging folder.
        """
        if not Path(self.stage).is_dir():
            raise WriteFailedError(
                f"A worker of the cluster (process {os.getpid()} on {socket.gethostname()}) "
                f"cannot see the staging folder {self.stage}, which the client created beside "
                "the target. The workers write the chunk files there themselves, so they must "
                "see the target's folder at the same path as the client: the same machine, or "
                "a shared filesystem (NFS, Lustre...) mounted at the same path. Save to such a "
                "folder or to an object store (s3://...), or without the cluster (client=False)."
            )
        yield [_open_level(self.stage, group, level, self.zarr_format) for level in levels], []


@dataclass(frozen=True)
class RemoteSink:
    """Write into a private local folder on the worker, then upload the chunk files.

    ``docs`` holds the array metadata documents the client created (relative key -> bytes),
    so the worker can open the arrays before any metadata is at the target. ``gate`` names
    two distributed Events, ``(ready, begun)``, or is None once the old store was withdrawn:
    a task with files to upload sets ``ready`` and waits for ``begun``, which the client sets
    once it has withdrawn the old store's OME attributes. So a write that fails before any
    region is ready to upload (an unreadable source) leaves the old store as it was.
    """

    target: UPath
    zarr_format: int
    docs: dict[str, bytes] = field(default_factory=dict)
    gate: tuple[str, str] | None = None

    @contextlib.contextmanager
    def arrays(
        self, group: str, levels: Sequence[int], stop: Any = None
    ) -> Iterator[tuple[list[zarr.Array], list[str]]]:
        """Open the levels in a new local folder; when the block ends well, upload its chunks.

        Yields the arrays and a list that receives the keys uploaded.
        """
        folder = Path(tempfile.mkdtemp(prefix="omezarr-export-region-"))
        try:
            for key, content in self.docs.items():
                (folder / key).parent.mkdir(parents=True, exist_ok=True)
                (folder / key).write_bytes(content)
            keys: list[str] = []
            yield [_open_level(str(folder), group, lvl, self.zarr_format) for lvl in levels], keys
            keys.extend(self._upload(folder, stop))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _upload(self, folder: Path, stop: Any) -> list[str]:
        keys = sorted(
            p.relative_to(folder).as_posix()
            for p in folder.rglob("*")
            if p.is_file() and p.name not in META_DOCS
        )
        if keys:
            self._wait_for_the_gate(stop)
            fs, root = self.target.fs, str(self.target.path).rstrip("/")
            fs.put([str(folder / k) for k in keys], [f"{root}/{k}" for k in keys])
        return keys

    def _wait_for_the_gate(self, stop: Any) -> None:
        """Say this region is ready to upload; wait until the client withdrew the old store."""
        if self.gate is None:
            return
        from distributed import Event

        ready, begun = (Event(name) for name in self.gate)
        if begun.is_set():
            return
        ready.set()
        while not begun.wait(timeout=_STOP_CHECK_SECONDS):
            if stop is not None:
                stop()


def _open_level(root: str, group: str, level: int, zarr_format: int) -> zarr.Array:
    path = f"{group}/{level}" if group else str(level)
    return zarr.open_array(store=root, path=path, mode="r+", zarr_format=zarr_format)


@dataclass(frozen=True)
class RegionJob:
    """What every task of one group's distributed write shares."""

    sink: LocalSink | RemoteSink
    group: str
    grid: RegionGrid
    method: str
    dtype: str
    summary: DataSummary  # empty, with the tracking the metadata needs (first pass only)
    stop_event: str
    first_level: int = 0  # the store level the grid's level 0 is (later passes: coarse levels)
    host_threads: dict[str, int] = field(default_factory=dict)  # task threads per worker host


@dataclass
class RegionResult:
    """A region task's result: small, except ``coarse``, which stays on the workers."""

    region: tuple[slice, ...]
    summary: DataSummary
    keys: list[str]
    pid: int
    coarse: np.ndarray | None = None
    stopped: bool = False  # the client stopped the write before this region was written

    def small(self) -> RegionResult:
        """The part the client gathers: everything but the coarse block."""
        return RegionResult(self.region, self.summary, self.keys, self.pid, None, self.stopped)


class _StopCheck:
    """Ask the scheduler whether the write was stopped, at most every few tenths of a second."""

    def __init__(self, name: str) -> None:
        from distributed import Event

        self._event = Event(name)
        self._next = 0.0

    def __call__(self) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + _STOP_CHECK_SECONDS
        if self._event.is_set():
            raise _WriteStopped


class _Capture:
    """A level the band pass 'writes' into memory: the region's first coarse block."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.data = np.zeros(shape, dtype=dtype)
        self.shape = self.chunks = shape

    def __setitem__(self, index: tuple, block: np.ndarray) -> None:
        self.data[index] = block


def _run_pass(
    job: RegionJob, block: np.ndarray, targets: list, stop: _StopCheck, observe: Any = None
) -> None:
    factors = job.grid.factors
    threads = _encode_threads(job.host_threads)
    with _roomy_malloc():
        for _ in iter_write_levels(
            block, targets, factors, job.method, observe=observe, write_threads=threads
        ):
            stop()


def _encode_threads(host_threads: dict[str, int]) -> int | None:
    """Threads a task encodes with: the host's cores shared among its worker threads, 1 to 2.

    None (the single-process default) outside a worker.

    The single-process writer encodes on 2 threads beside the one reading bands. A region task
    does the same, but every worker thread on the host runs one: two single-thread workers on
    two cores then ran 4 encoders and 2 readers, and spent 5% more CPU and wall time than with
    one encoder each (measured on 1x16384x16384 uint16, benchmarks/README.md).
    """
    try:
        from distributed import get_worker

        host = get_worker().address.rsplit(":", 1)[0]
    except ValueError:  # not in a worker (a test calling the task directly)
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(2, (cores or 1) // max(1, host_threads.get(host, 1))))


def write_region(job: RegionJob, region: tuple[slice, ...], block: Any) -> RegionResult:
    """Write one region's block and the windows of the levels it owns.

    Parameters
    ----------
    job : RegionJob
        The pass's shared settings.
    region : tuple of slice
        The region's index in the pass's first level (level 0 of the store, in the first pass).
    block : array-like or TaskSource
        Its data, computed on this worker: by dask before the task, or by the task itself,
        band by band (`TaskSource`).

    Returns
    -------
    RegionResult
        The region's summary, the keys it uploaded (remote sinks), this process's id, and its
        block of the first coarse level when there is one; ``stopped`` (and nothing written
        or uploaded) when the client stopped the write first.
    """
    stop = _StopCheck(job.stop_event)
    try:
        stop()
        return _write_region(job, region, block, stop)
    except _WriteStopped:
        return RegionResult(tuple(region), copy.deepcopy(job.summary), [], os.getpid(), None, True)


def _write_region(
    job: RegionJob, region: tuple[slice, ...], block: Any, stop: _StopCheck
) -> RegionResult:
    grid = job.grid
    if isinstance(block, TaskSource):
        block = block.open()
    else:
        block = np.asarray(block).astype(job.dtype, copy=False)
    summary = copy.deepcopy(job.summary)
    starts = [r.start for r in region]

    def observe(index: tuple[slice, ...], band: np.ndarray) -> None:
        shifted = tuple(slice(s + i.start, s + i.stop) for i, s in zip(index, starts, strict=True))
        summary.observe(shifted, band)

    tracking = summary.track_range or summary.track_values
    levels = range(job.first_level, job.first_level + grid.owned)
    with job.sink.arrays(job.group, levels, stop) as (arrays, keys):
        targets: list[Any] = []
        for level, array in enumerate(arrays):
            window = grid.window(region, level)
            shape = tuple(w.stop - w.start for w in window)
            targets.append(ArrayWindow(array, [w.start for w in window], shape))
        capture = None
        if grid.has_coarse:
            window = grid.window(region, grid.owned)
            capture = _Capture(tuple(w.stop - w.start for w in window), np.dtype(job.dtype))
            targets.append(capture)
        _run_pass(job, block, targets, stop, observe if tracking else None)
        stop()
    coarse = None if capture is None else capture.data
    return RegionResult(tuple(region), summary, keys, os.getpid(), coarse)


def small_part(result: RegionResult) -> RegionResult:
    """`RegionResult.small`, as a task: what the client gathers of a region's result."""
    return result.small()


def coarse_part(result: RegionResult) -> np.ndarray:
    """A region's block of the first coarse level, as a task: a source of the next pass."""
    if result.coarse is None:
        raise ValueError(f"region {result.region} kept no coarse block")  # a planning bug
    return result.coarse

"""The work a distributed write runs on its workers: one region, or the final coarse levels.

`write_region` gets its level-0 block computed on the worker from the source's own graph,
writes the block and the windows of the levels the region owns with the same band pass as a
single-process write (`napari_omezarr_export.core.write.band_writer`), and returns only what
the client needs: the region's `DataSummary`, and, when coarse levels remain, the region's
block of the first coarse level (a 4**owned-th of the region), which stays on the workers for
`write_coarse`. Level-0 pixels never travel to the client.

Where the files go is a sink: `LocalSink` writes into the staging folder the client created
(a filesystem the workers share with the client), `RemoteSink` writes into a private local
folder on the worker and uploads its chunk files straight to the object store's keys.

Tasks stop early when the client sets the write's stop event (a failed or cancelled write):
they check it between bands, so once every task has ended nothing writes any more.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import os
import shutil
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

from napari_omezarr_export.core.write.band_writer import ArrayWindow, iter_write_levels
from napari_omezarr_export.core.write.plan import DataSummary
from napari_omezarr_export.core.write.regions import RegionGrid

if TYPE_CHECKING:
    from upath import UPath

__all__ = [
    "LocalSink",
    "RegionJob",
    "RegionResult",
    "RemoteSink",
    "WriteStopped",
    "small_part",
    "write_coarse",
    "write_region",
]

_META_DOCS = frozenset({".zarray", ".zattrs", ".zgroup", "zarr.json"})
_STOP_CHECK_SECONDS = 0.2  # how often a task asks the scheduler whether to stop
# glibc mallopt parameters, and the values a region task uses (see `_roomy_malloc`)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_TASK_TRIM, _TASK_MMAP = 256 * 2**20, 64 * 2**20
_GLIBC_MMAP_DEFAULT = 128 * 2**10
_malloc_lock = threading.Lock()
_malloc_users = [0]


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
    last of our tasks in the process ends, the worker's settings are restored and the free
    memory is returned (``malloc_trim``), as dask wants. Measured in benchmarks/README.md.
    """
    trim_env = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    libc = _glibc() if trim_env is not None else None
    if libc is None:
        yield
        return
    with _malloc_lock:
        _malloc_users[0] += 1
        if _malloc_users[0] == 1:
            libc.mallopt(_M_MMAP_THRESHOLD, _TASK_MMAP)
            libc.mallopt(_M_TRIM_THRESHOLD, _TASK_TRIM)
    try:
        yield
    finally:
        with _malloc_lock:
            _malloc_users[0] -= 1
            if _malloc_users[0] == 0:
                with contextlib.suppress(ValueError):
                    libc.mallopt(_M_TRIM_THRESHOLD, int(trim_env))
                libc.mallopt(_M_MMAP_THRESHOLD, _GLIBC_MMAP_DEFAULT)
                libc.malloc_trim(0)


class WriteStopped(Exception):
    """Raised in a task when the client asked the write to stop."""


@dataclass(frozen=True)
class LocalSink:
    """Write into the client's staging folder (a path the workers can reach)."""

    stage: str
    zarr_format: int

    @contextlib.contextmanager
    def arrays(
        self, group: str, levels: Sequence[int]
    ) -> Iterator[tuple[list[zarr.Array], list[str]]]:
        """Open the levels of ``group`` that the client created; nothing to upload after."""
        yield [_open_level(self.stage, group, level, self.zarr_format) for level in levels], []


@dataclass(frozen=True)
class RemoteSink:
    """Write into a private local folder on the worker, then upload the chunk files.

    ``docs`` holds the array metadata documents the client created (relative key -> bytes),
    so the worker can open the arrays before any metadata is at the target.
    """

    target: UPath
    zarr_format: int
    docs: dict[str, bytes] = field(default_factory=dict)

    @contextlib.contextmanager
    def arrays(
        self, group: str, levels: Sequence[int]
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
            keys.extend(self._upload(folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _upload(self, folder: Path) -> list[str]:
        keys = sorted(
            p.relative_to(folder).as_posix()
            for p in folder.rglob("*")
            if p.is_file() and p.name not in _META_DOCS
        )
        if keys:
            fs, root = self.target.fs, str(self.target.path).rstrip("/")
            fs.put([str(folder / k) for k in keys], [f"{root}/{k}" for k in keys])
        return keys


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
    summary: DataSummary  # empty, with the tracking the metadata needs
    stop_event: str


@dataclass
class RegionResult:
    """A region task's result: small, except ``coarse``, which stays on the workers."""

    region: tuple[slice, ...]
    summary: DataSummary
    keys: list[str]
    pid: int
    coarse: np.ndarray | None = None

    def small(self) -> RegionResult:
        """The part the client gathers: everything but the coarse block."""
        return RegionResult(self.region, self.summary, self.keys, self.pid)


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
            raise WriteStopped


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
    with _roomy_malloc():
        for _ in iter_write_levels(block, targets, factors, job.method, observe=observe):
            stop()


def write_region(job: RegionJob, region: tuple[slice, ...], block: Any) -> RegionResult:
    """Write one region's level-0 block and the windows of the levels it owns.

    Parameters
    ----------
    job : RegionJob
        The group's shared settings.
    region : tuple of slice
        The region's level-0 index.
    block : array-like
        Its level-0 data, computed on this worker.

    Returns
    -------
    RegionResult
        The region's summary, the keys it uploaded (remote sinks), this process's id, and its
        block of the first coarse level when there is one.
    """
    stop = _StopCheck(job.stop_event)
    stop()
    grid = job.grid
    block = np.asarray(block).astype(job.dtype, copy=False)
    summary = copy.deepcopy(job.summary)
    starts = [r.start for r in region]

    def observe(index: tuple[slice, ...], band: np.ndarray) -> None:
        shifted = tuple(slice(s + i.start, s + i.stop) for i, s in zip(index, starts, strict=True))
        summary.observe(shifted, band)

    tracking = summary.track_range or summary.track_values
    with job.sink.arrays(job.group, range(grid.owned)) as (arrays, keys):
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


def write_coarse(job: RegionJob, results: list[RegionResult]) -> RegionResult:
    """Assemble the first coarse level from the regions' blocks and write the coarse levels.

    Parameters
    ----------
    job : RegionJob
        The group's shared settings.
    results : list of RegionResult
        Every region's result, with its coarse block.

    Returns
    -------
    RegionResult
        The keys uploaded (remote sinks) and this process's id.
    """
    stop = _StopCheck(job.stop_event)
    stop()
    grid = job.grid
    level = np.zeros(grid.level_shapes[grid.owned], dtype=job.dtype)
    for result in results:
        level[grid.window(result.region, grid.owned)] = result.coarse
    levels = range(grid.owned, len(grid.level_shapes))
    with job.sink.arrays(job.group, levels) as (arrays, keys):
        _run_pass(job, level, list(arrays), stop)
        stop()
    return RegionResult((), copy.deepcopy(job.summary), keys, os.getpid())

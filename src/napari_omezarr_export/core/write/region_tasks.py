"""The work a distributed write runs on its workers: one region of one pass.

`write_region` gets its block computed on the worker from the source's own graph, writes the
block and the windows of the levels the region owns with the same band pass as a
single-process write (`napari_omezarr_export.core.write.band_writer`), and returns only what
the client needs: the region's `DataSummary`, and, when coarse levels remain, the region's
block of the first coarse level (a 4**owned-th of the region), which stays on the workers:
the next pass cuts that level into regions of its own and reads them from these blocks
(`coarse_part`). Level-0 pixels never travel to the client.

Where the files go is a sink (`napari_omezarr_export.core.write.region_sinks`): the client's
staging folder, or the object store the worker uploads to.

Tasks stop early when the client sets the write's stop event (a failed or cancelled write):
they check it between bands and return a result marked ``stopped`` (no error, so the workers
log no failure), so once every task has ended nothing writes any more.
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_omezarr_export.core.write.band_writer import ArrayWindow, iter_write_levels
from napari_omezarr_export.core.write.plan import DataSummary
from napari_omezarr_export.core.write.region_sinks import (
    STOP_CHECK_SECONDS,
    LocalSink,
    RemoteSink,
)
from napari_omezarr_export.core.write.region_sources import TaskSource
from napari_omezarr_export.core.write.regions import RegionGrid
from napari_omezarr_export.core.write.worker_malloc import roomy_malloc

__all__ = [
    "RegionJob",
    "RegionResult",
    "coarse_part",
    "small_part",
    "write_region",
]


class _WriteStopped(Exception):
    """Raised inside a task when the client asked the write to stop; the task returns."""


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
        self._next = now + STOP_CHECK_SECONDS
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
    with roomy_malloc():
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

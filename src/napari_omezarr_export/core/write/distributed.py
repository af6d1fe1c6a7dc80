"""Write one large dask array on a dask.distributed cluster: the pixels never reach the client.

The steps, for each group (the image, a label image) whose data is a dask array:

1. prepare (client): the store writer creates every level's array in the staging folder;
2. regions (workers): level 0 is cut into regions that own whole chunks, or whole shards, of
   the first levels (`napari_omezarr_export.core.write.regions`); each task computes its
   region from the source's own graph on the worker, writes it and its pyramid windows, and
   returns a small `RegionResult` (statistics for the metadata, the process id);
3. coarse (one worker): the levels no region owns are written from the regions' blocks of the
   first coarse level, which go from worker to worker, never through the client;
4. finalize (client): the metadata is written last, by the store writer, as for any write.

A local target's staging folder must be reachable from the workers at the same path (one
machine, or a shared filesystem). For an object store each task uploads its own chunk files;
the client uploads the metadata last (`napari_omezarr_export.core.write.object_store`).

A failure or a cancel sets the write's stop event: tasks check it between bands and stop, the
client waits until every task it started has ended, and only then is the staging folder (or,
for an object store, every key of this write) removed, so nothing writes after the clean-up.
Regions are started a few per worker thread at a time: the scheduler never holds the whole
image's graph, and a cancel waits for at most that many tasks. Each region's tasks (its source
blocks, the slicing, the write) are kept on one worker, the one with the fewest regions in
flight, so its level-0 pixels do not travel between workers either (measured: 16.8 MB of
worker-to-worker traffic for a 4096x4096 image before, 0.0 after).

`distributed` is imported only here, and only when a write uses a cluster: the core imports
without it. numpy data, ``.ozx`` targets and labels added to an existing image are written by
the single-process writer (numpy arrays would have to be sent to the workers whole, and a zip
has one writer).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_omezarr_export.core.stores import ZIP_SUFFIX, StorePath
from napari_omezarr_export.core.write.band_writer import count_chunks, write_unit
from napari_omezarr_export.core.write.plan import DataSummary, GroupPlan
from napari_omezarr_export.core.write.region_tasks import (
    LocalSink,
    RegionJob,
    RegionResult,
    RemoteSink,
    small_part,
    write_coarse,
    write_region,
)
from napari_omezarr_export.core.write.regions import RegionGrid, plan_regions

if TYPE_CHECKING:
    from upath import UPath

__all__ = ["DistributedRun", "client_for", "runs_distributed"]

log = logging.getLogger(__name__)

_META_DOCS = frozenset({".zarray", ".zattrs", "zarr.json"})
# Region tasks queued per worker thread: enough that no thread waits for the scheduler.
_IN_FLIGHT_PER_THREAD = 2


def runs_distributed(plan: GroupPlan) -> bool:
    """Whether ``plan``'s data is a dask array, which workers can compute region by region."""
    if "dask.array" not in sys.modules:
        return False  # no dask array can exist yet
    import dask.array as da

    return isinstance(plan.data, da.Array)


def client_for(client: Any, plans: Sequence[GroupPlan], target: StorePath) -> Any:
    """Return the `distributed.Client` a write runs on, or None for a single-process write.

    Parameters
    ----------
    client : distributed.Client, bool or None
        A client to use; None to use the active one when `distributed` is already imported
        (no import cost otherwise); False never to use one.
    plans : sequence of GroupPlan
        The groups written; a cluster is used only when one of them holds a dask array.
    target : Path or UPath
        The store; a local ``.ozx`` zip is always written by one process.

    Returns
    -------
    distributed.Client or None
        The client, or None.
    """
    if client is False:
        return None
    if client is None or client is True:
        if "distributed" not in sys.modules:
            return None
        from distributed import default_client

        try:
            client = default_client()
        except ValueError:  # no client is active
            return None
    if isinstance(target, Path) and target.suffix.lower() == ZIP_SUFFIX:
        return None
    return client if any(runs_distributed(p) for p in plans) else None


@dataclass
class DistributedRun:
    """One store's distributed write: where workers write, and what they uploaded.

    Parameters
    ----------
    client : distributed.Client
        The cluster's client.
    stage : Path
        The client's staging folder, holding the arrays' metadata once they are created.
    zarr_format : int
        The store's zarr format.
    target : UPath, optional
        The object store the workers upload to; None when they write into ``stage``.
    """

    client: Any
    stage: Path
    zarr_format: int
    target: UPath | None = None
    uploaded: list[str] = field(default_factory=list)
    pids: set[int] = field(default_factory=set)

    def _sink(self, group: str) -> LocalSink | RemoteSink:
        if self.target is None:
            return LocalSink(str(self.stage), self.zarr_format)
        folder = self.stage / group if group else self.stage
        docs = {
            p.relative_to(self.stage).as_posix(): p.read_bytes()
            for p in folder.glob("*/*")
            if p.name in _META_DOCS and p.parent.name.isdigit()
        }
        return RemoteSink(self.target, self.zarr_format, docs)

    def iter_levels(
        self, arrays: Sequence[Any], plan: GroupPlan, summary: DataSummary, group: str
    ) -> Iterator[int]:
        """Write ``plan``'s levels into the created ``arrays`` on the workers.

        Parameters
        ----------
        arrays : sequence of zarr.Array
            The levels, created in `stage`.
        plan : GroupPlan
            The group; its data is a dask array.
        summary : DataSummary
            Gets the regions' statistics folded in.
        group : str
            The group's path in the store.

        Yields
        ------
        int
            Chunks written since the last yield, as regions complete.
        """
        threads = sum(self.client.nthreads().values()) or 1
        units = [write_unit(a) for a in arrays]
        grid = plan_regions(
            plan.level_shapes, units, plan.factors, plan.dtype.itemsize, threads=threads
        )
        empty = copy.deepcopy(summary)
        job = RegionJob(
            self._sink(group), group, grid, plan.method, plan.dtype.str, empty,
            stop_event=f"omezarr-export-stop-{uuid.uuid4().hex}",
        )  # fmt: skip
        data = plan.data if plan.data.dtype == plan.dtype else plan.data.astype(plan.dtype)
        chunks = [tuple(a.chunks) for a in arrays]
        log.info(
            "Writing %s on %d worker threads: %d regions of %s owning %d of %d levels",
            group or "the image", threads, math.prod(
                math.ceil(n / e) for n, e in zip(grid.level_shapes[0], grid.edges, strict=True)
            ), grid.edges, grid.owned, len(grid.level_shapes),
        )  # fmt: skip
        with _Tasks(self.client, job.stop_event) as tasks:
            regions = iter(grid.regions())
            limit = _IN_FLIGHT_PER_THREAD * threads + 1
            for region in _take(regions, limit):
                tasks.start_region(job, region, data[region])
            for result in tasks.iter_results():
                self._collect(result, summary)
                yield _region_chunks(grid, result.region, chunks)
                for region in _take(regions, 1):
                    tasks.start_region(job, region, data[region])
            if grid.has_coarse:
                self._collect(tasks.run_coarse(job), None)
                yield sum(
                    count_chunks(grid.level_shapes[lvl], chunks[lvl])
                    for lvl in range(grid.owned, len(grid.level_shapes))
                )

    def _collect(self, result: RegionResult, summary: DataSummary | None) -> None:
        if summary is not None:
            summary.merge(result.summary)
        self.uploaded.extend(result.keys)
        self.pids.add(result.pid)
        log.debug("region %s written by process %d", result.region, result.pid)


def _take(items: Iterator[Any], n: int) -> list[Any]:
    return [item for _, item in zip(range(n), items, strict=False)]


def _region_chunks(
    grid: RegionGrid, region: tuple[slice, ...], chunks: Sequence[tuple[int, ...]]
) -> int:
    """Chunks a region writes: its window on every level it owns."""
    total = 0
    for level in range(grid.owned):
        window = grid.window(region, level)
        total += count_chunks([w.stop - w.start for w in window], chunks[level])
    return total


class _Tasks:
    """The futures of one group's write; on leaving with an error, stop them all and wait."""

    def __init__(self, client: Any, stop_event: str) -> None:
        from distributed import Event, as_completed

        self._client = client
        self._event = Event(stop_event, client=client)
        self._done = as_completed()
        self._full: list[Any] = []  # region results, coarse blocks included: kept on workers
        self._started: list[Any] = []
        self._load = dict.fromkeys(client.nthreads(), 0)  # regions in flight per worker
        self._worker_of: dict[str, str] = {}

    def __enter__(self) -> _Tasks:
        return self

    def start_region(self, job: RegionJob, region: tuple[slice, ...], block: Any) -> None:
        """Start one region: its block is computed from the source's graph on a worker."""
        import dask

        # Culled first: the graph sent for a region holds only that region's source tasks (and,
        # for an in-memory source, only its pixels), not the whole image's graph each time.
        (block,) = dask.optimize(block)
        task = dask.delayed(partial(write_region, job), pure=False)(region, block)
        where = {}
        if self._load:  # the least busy worker computes the region's blocks and writes them
            worker = min(self._load, key=self._load.__getitem__)
            self._load[worker] += 1
            where = {"workers": [worker], "allow_other_workers": True}
        full = self._client.compute(task, **where)
        small = self._client.submit(small_part, full, pure=False, **where)
        if where:
            self._worker_of[small.key] = where["workers"][0]
        self._full.append(full)
        self._started += [full, small]
        self._done.add(small)

    def iter_results(self) -> Iterator[RegionResult]:
        """Yield the small results as regions complete; a failed region raises its error."""
        for small in self._done:
            worker = self._worker_of.pop(small.key, None)
            if worker in self._load:
                self._load[worker] -= 1
            yield small.result()

    def run_coarse(self, job: RegionJob) -> RegionResult:
        """Write the coarse levels on one worker, from the regions' blocks; wait for it."""
        coarse = self._client.submit(write_coarse, job, self._full, pure=False)
        self._started.append(coarse)
        return coarse.result()

    def __exit__(self, kind: type | None, *_: object) -> None:
        from distributed import wait

        try:
            if kind is not None:  # a failure, or the generator closed: stop every task
                self._event.set()
                with contextlib.suppress(Exception):
                    wait(self._started)
        finally:
            self._client.cancel(self._started)  # frees the coarse blocks on the workers
            with contextlib.suppress(Exception):
                self._event.clear()

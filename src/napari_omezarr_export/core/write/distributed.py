"""Write one large dask array on a dask.distributed cluster: the pixels never reach the client.

The steps, for each group (the image, a label image) whose data is a dask array:

1. prepare (client): the store writer creates every level's array in the staging folder;
2. regions (workers): level 0 is cut into regions that own whole chunks, or whole shards, of
   the first levels (`napari_omezarr_export.core.write.regions`); each task computes its
   region from the source's own graph on the worker, writes it and its pyramid windows, and
   returns a small `RegionResult` (statistics for the metadata, the process id);
3. coarse passes (workers): the levels no region owns start at a level that the regions'
   blocks of it, kept on the workers, make up; that level is cut into regions in turn and
   written by the same tasks, reading their blocks from the previous pass's (worker to
   worker, never through the client), until a pass owns every level left. No task ever holds
   more than a region (a single coarse task held a quarter of level 0 when big shards let
   the regions own only level 0);
4. finalize (client): the metadata is written last, by the store writer, as for any write.

A local target's staging folder must be reachable from the workers at the same path (one
machine, or a shared filesystem): it is handed to them as an absolute path. For an object
store each task uploads its own chunk files; the old store's OME attributes are withdrawn
when the first region is ready to upload (`before_upload`), not before, so a source that
fails before that leaves the old store whole; the client uploads the metadata last
(`napari_omezarr_export.core.write.object_store`).

A failure or a cancel sets the write's stop event: tasks check it between bands and stop, the
client waits until every task it started has ended, and only then is the staging folder (or,
for an object store, every key of this write) removed, so nothing writes after the clean-up.
Regions are started a few per worker thread at a time: the scheduler never holds the whole
image's graph, and a cancel waits for at most that many tasks. A region whose part of the
source graph is its own computes it inside its write task, band by band
(`napari_omezarr_export.core.write.region_sources`): the scheduler sees one task per region.
Otherwise (a persisted source, work shared between regions) the region's source tasks are
submitted with it and kept on the same worker, the one with the fewest regions in flight, so
its level-0 pixels do not travel between workers either (measured: 16.8 MB of
worker-to-worker traffic for a 4096x4096 image before, 0.0 after).

`distributed` is imported only here, and only when a write uses a cluster: the core imports
without it. numpy data, ``.ozx`` targets and labels added to an existing image are written by
the single-process writer (numpy arrays would have to be sent to the workers whole, and a zip
has one writer).
"""

from __future__ import annotations

import copy
import logging
import math
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_omezarr_export.core.stores import ZIP_SUFFIX, StorePath
from napari_omezarr_export.core.write import regions as region_plan
from napari_omezarr_export.core.write.band_writer import count_chunks, write_unit
from napari_omezarr_export.core.write.object_store import META_DOCS
from napari_omezarr_export.core.write.plan import DataSummary, GroupPlan
from napari_omezarr_export.core.write.region_futures import RegionFutures
from napari_omezarr_export.core.write.region_sinks import LocalSink, RemoteSink
from napari_omezarr_export.core.write.region_tasks import (
    RegionJob,
    RegionResult,
)
from napari_omezarr_export.core.write.regions import RegionGrid, plan_regions

if TYPE_CHECKING:
    from upath import UPath

__all__ = ["DistributedRun", "client_for", "runs_distributed"]

log = logging.getLogger(__name__)

# Region tasks queued per worker thread: enough that no thread waits for the scheduler.
_IN_FLIGHT_PER_THREAD = 2
_GATE_POLL_SECONDS = 0.05  # how often the client looks for a region ready to upload


def runs_distributed(plan: GroupPlan) -> bool:
    """Whether ``plan``'s data is a dask array, which workers can compute region by region.

    Not a source rechunked by dask's P2P method (which dask picks for large rechunks when a
    cluster is active): its shuffle cannot be computed region by region (distributed raises
    P2PConsistencyError or loses dependencies). The single-process writer writes it, the
    cluster still computing its bands, and a warning says how to write it on the workers.
    """
    if "dask.array" not in sys.modules:
        return False  # no dask array can exist yet
    import dask.array as da

    if not isinstance(plan.data, da.Array):
        return False
    if _uses_p2p(plan.data):
        log.warning(
            "%s is rechunked with dask's P2P method, which cannot be written region by region "
            "on the workers; this process writes it, with the cluster computing its bands. "
            "To write it on the workers, rechunk with method='tasks' (or set dask's "
            "'array.rechunk.method' to 'tasks').",
            plan.path or "The image",
        )
        return False
    return True


def _uses_p2p(data: Any) -> bool:
    """Whether a dask array's graph has a P2P rechunk layer (a few layers to look at)."""
    layers = getattr(data.__dask_graph__(), "layers", {})
    return any("p2p" in f"{type(layer).__name__} {name}".lower() for name, layer in layers.items())


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
    before_upload : callable, optional
        Called once, when the first region is ready to upload to ``target`` (and before it
        does): withdraws the old store there.
    """

    client: Any
    stage: Path
    zarr_format: int
    target: UPath | None = None
    before_upload: Callable[[], None] | None = None
    uploaded: list[str] = field(default_factory=list)
    pids: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        # Workers may run in another working directory (a cluster started elsewhere).
        self.stage = Path(self.stage).absolute()

    def _sink(self, group: str, gate: tuple[str, str] | None) -> LocalSink | RemoteSink:
        if self.target is None:
            return LocalSink(str(self.stage), self.zarr_format)
        folder = self.stage / group if group else self.stage
        docs = {
            p.relative_to(self.stage).as_posix(): p.read_bytes()
            for p in folder.glob("*/*")
            if p.name in META_DOCS and p.parent.name.isdigit()
        }
        return RemoteSink(self.target, self.zarr_format, docs, gate)

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
        host_threads = _threads_per_host(self.client.nthreads())
        units = [write_unit(a) for a in arrays]
        chunks = [tuple(a.chunks) for a in arrays]
        data = plan.data if plan.data.dtype == plan.dtype else plan.data.astype(plan.dtype)
        name = uuid.uuid4().hex
        gate = None
        if self.target is not None and self.before_upload is not None:
            gate = (f"omezarr-export-ready-{name}", f"omezarr-export-begun-{name}")
        sink = self._sink(group, gate)
        first, tracked = 0, copy.deepcopy(summary)
        with RegionFutures(self.client, f"omezarr-export-stop-{name}", gate) as tasks:
            while True:  # one pass per run of owned levels, level 0 first
                shapes = plan.level_shapes[first:]
                # A coarse level that fits in one region is written by one task, every level
                # left at once: splitting a few MiB costs more tasks and passes than it saves.
                level_bytes = math.prod(shapes[0]) * plan.dtype.itemsize
                small = first > 0 and level_bytes <= region_plan.REGION_BYTES
                grid = plan_regions(
                    shapes, units[first:], plan.factors, plan.dtype.itemsize, threads=threads,
                    wanted=1 if small else None,
                )  # fmt: skip
                # The one task of a small pass runs alone: it may encode on every core (2 at most).
                job = RegionJob(
                    sink, group, grid, plan.method, plan.dtype.str,
                    tracked if first == 0 else DataSummary(), tasks.stop_event, first,
                    {} if small else host_threads,
                )  # fmt: skip
                log.info(
                    "Writing %s on %d worker threads: %d regions of %s owning levels %d-%d of %d",
                    group or "the image", threads, _count(grid), grid.edges, first,
                    first + grid.owned - 1, len(plan.level_shapes),
                )  # fmt: skip
                # The source pass's regions compute their part of the source inside their
                # task where they can (region_sources); coarse passes read the blocks the
                # previous pass left on the workers.
                inside = first == 0
                for result in self._iter_pass(tasks, job, data, threads, inside):
                    self._collect(result, summary if first == 0 else None)
                    yield _region_chunks(grid, result.region, chunks[first:])
                if not grid.has_coarse:
                    return
                data = tasks.coarse_level(grid, plan.dtype)
                first += grid.owned

    def _iter_pass(
        self, tasks: RegionFutures, job: RegionJob, data: Any, threads: int, inside: bool
    ) -> Iterator[RegionResult]:
        """Run one pass's regions, a few per worker thread at a time; yield their results.

        ``inside``: the regions may compute their source inside their task (`task_source`).
        """
        regions = iter(job.grid.regions())
        tasks.new_pass()
        for region in _take(regions, _IN_FLIGHT_PER_THREAD * threads + 1):
            tasks.start_region(job, region, data[region], inside)
        for result in tasks.iter_results(self._gate_keeper(tasks)):
            yield result
            for region in _take(regions, 1):
                tasks.start_region(job, region, data[region], inside)

    def _gate_keeper(self, tasks: RegionFutures) -> Callable[[Any], None]:
        """Before each wait for a result: withdraw the old store once a region is ready."""

        def keep(done: Any) -> None:
            if self.before_upload is None or tasks.gate is None:
                return
            # Regions wait for the gate before they upload, so wait for a result only once
            # one is there (an error, or a region with nothing to upload) or the gate is open.
            while not done.has_ready():
                if tasks.region_ready():
                    self.before_upload()
                    self.before_upload = None
                    tasks.open_gate()
                    return
                time.sleep(_GATE_POLL_SECONDS)

        return keep

    def _collect(self, result: RegionResult, summary: DataSummary | None) -> None:
        if summary is not None:
            summary.merge(result.summary)
        self.uploaded.extend(result.keys)
        self.pids.add(result.pid)
        log.debug("region %s written by process %d", result.region, result.pid)


def _threads_per_host(nthreads: dict[str, int]) -> dict[str, int]:
    """Worker threads per host, from ``{worker address: threads}``."""
    hosts: dict[str, int] = {}
    for address, n in nthreads.items():
        host = address.rsplit(":", 1)[0]
        hosts[host] = hosts.get(host, 0) + n
    return hosts


def _count(grid: RegionGrid) -> int:
    return math.prod(
        math.ceil(n / e) for n, e in zip(grid.level_shapes[0], grid.edges, strict=True)
    )


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

"""The futures of one group's distributed write, pass by pass, and how they are stopped.

`RegionFutures` starts each region's task on the worker with the fewest regions in flight,
yields the small results as regions complete, builds the next pass's source from the coarse
blocks the regions left on the workers, and, when the write fails or is cancelled, stops
every task and waits for them before anything is cleaned up
(`napari_omezarr_export.core.write.distributed` drives it).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any

from napari_omezarr_export.core.write.region_sources import task_source
from napari_omezarr_export.core.write.region_tasks import (
    RegionJob,
    RegionResult,
    coarse_part,
    small_part,
    write_region,
)
from napari_omezarr_export.core.write.regions import RegionGrid

__all__ = ["RegionFutures"]


class RegionFutures:
    """The futures of one group's write; on leaving with an error, stop them all and wait.

    ``gate`` names the Events of `RemoteSink.gate` (None when no upload waits for it).
    """

    def __init__(self, client: Any, stop_event: str, gate: tuple[str, str] | None) -> None:
        from distributed import Event, as_completed

        self._client = client
        self.stop_event = stop_event
        self.gate = gate
        self._event = Event(stop_event, client=client)
        self._gate = None if gate is None else tuple(Event(n, client=client) for n in gate)
        self._done = as_completed()
        self._full: list[tuple[tuple[slice, ...], Any]] = []  # this pass's regions and results
        self._parts: list[Any] = []  # their coarse blocks, which the next pass reads
        self._spent: list[Any] = []  # the previous pass's: read by this pass, then released
        self._started: list[Any] = []
        self._load = dict.fromkeys(client.nthreads(), 0)  # regions in flight per worker
        self._worker_of: dict[str, str] = {}

    def __enter__(self) -> RegionFutures:
        return self

    def region_ready(self) -> bool:
        """Whether a region said it is ready to upload (`RemoteSink.gate`)."""
        return self._gate is not None and self._gate[0].is_set()

    def open_gate(self) -> None:
        """Let the regions upload: the old store was withdrawn."""
        if self._gate is not None:
            self._gate[1].set()

    def new_pass(self) -> None:
        """Start a pass: release the blocks of the pass before last (the last one read them)."""
        _release(self._spent)
        spent = {id(f) for f in self._spent}
        self._started = [f for f in self._started if id(f) not in spent]
        self._spent = [full for _, full in self._full] + self._parts
        self._full, self._parts = [], []

    def start_region(
        self, job: RegionJob, region: tuple[slice, ...], block: Any, inside: bool
    ) -> None:
        """Start one region: its block is computed from the source's graph on a worker.

        Inside the write task when ``inside`` and `task_source` allow it, else by the
        scheduler, as tasks of their own that feed the write task.

        Parameters
        ----------
        job : RegionJob
            What every region of this pass shares: where and how to write.
        region : tuple of slice
            The region, in the pass's first level.
        block : dask.array.Array
            The source's slice for the region.
        inside : bool
            Whether the region may compute its block inside its task (the source pass).
        """
        import dask

        # Culled first: the graph sent for a region holds only that region's source tasks (and,
        # for an in-memory source, only its pixels), not the whole image's graph each time.
        (block,) = dask.optimize(block)
        where = {}
        if self._load:  # the least busy worker computes the region's blocks and writes them
            worker = min(self._load, key=self._load.__getitem__)
            self._load[worker] += 1
            where = {"workers": [worker], "allow_other_workers": True}
        source = task_source(block, job.dtype) if inside else None
        if source is not None:
            full = self._client.submit(write_region, job, region, source, pure=False, **where)
        else:
            task = dask.delayed(partial(write_region, job), pure=False)(region, block)
            full = self._client.compute(task, **where)
        small = self._client.submit(small_part, full, pure=False, **where)
        if where:
            self._worker_of[small.key] = where["workers"][0]
        self._full.append((region, full))
        self._started += [full, small]
        self._done.add(small)

    def iter_results(self, before_wait: Callable[[Any], None]) -> Iterator[RegionResult]:
        """Yield the small results as regions complete; a failed region raises its error.

        ``before_wait(done)`` runs before each wait for the next result.
        """
        while self._done.count():
            before_wait(self._done)
            small = next(self._done)
            worker = self._worker_of.pop(small.key, None)
            if worker in self._load:
                self._load[worker] -= 1
            result = small.result()
            if not result.stopped:  # a stopped region comes only after a failure elsewhere
                yield result

    def coarse_level(self, grid: RegionGrid, dtype: Any) -> Any:
        """The first coarse level of the pass just done, as a dask array of its regions' blocks.

        The blocks stay where their regions wrote them; the next pass's regions read them.
        """
        import dask.array as da
        import numpy as np

        counts = [math.ceil(n / e) for n, e in zip(grid.level_shapes[0], grid.edges, strict=True)]
        pieces = np.empty(counts, dtype=object)
        for region, full in self._full:
            window = grid.window(region, grid.owned)
            part = self._client.submit(coarse_part, full, pure=False)
            self._started.append(part)
            self._parts.append(part)
            at = tuple(r.start // e for r, e in zip(region, grid.edges, strict=True))
            shape = tuple(w.stop - w.start for w in window)
            pieces[at] = da.from_delayed(part, shape=shape, dtype=dtype)
        return da.block(pieces.tolist())

    def __exit__(self, kind: type | None, *_: object) -> None:
        from distributed import wait

        try:
            if kind is not None:  # a failure, or the generator closed: stop every task
                self._event.set()
                with contextlib.suppress(Exception):
                    wait(self._started)
        finally:
            # Released, not cancelled: cancelling a key also cancels the graph keys that read
            # it, which the scheduler refuses (an assertion) for keys no client asked for.
            _release(self._started)  # frees the coarse blocks on the workers
            for event in (self._event, *(self._gate or ())):
                with contextlib.suppress(Exception):
                    event.clear()


def _release(futures: Sequence[Any]) -> None:
    """Tell the scheduler we no longer want these results; it forgets them once unused."""
    for future in futures:
        future.release()

"""How a region's pixels reach the worker that writes it: inside its task, or through dask.

A distributed write gives each region of level 0 to one task. The region's source is a slice
of a dask array, and there are two ways to get it to that task:

* **inside the task** (`TaskSource`): the region's own part of the source graph, culled and
  pickled, travels as the task's argument, and the task computes it band by band on its own
  thread with dask's synchronous scheduler, while its encoder thread compresses the band
  before. The scheduler sees one task per region instead of one per source block, no source
  block is moved between workers by work stealing, and no region is ever whole in memory.
  Measured on 1x16384x16384 uint16 (benchmarks/README.md): CPU of the whole write -9%, wall
  time -10%, worker peak memory -10%.
* **through the scheduler**: the region's source tasks are submitted with the write task, which
  receives the computed block. Needed when the graph is not the region's alone: data persisted
  on the cluster (its blocks are futures held by workers), or a source whose regions share
  work (``x - x.mean()``: each region would compute the mean again).

`regions_share_work` and `task_source` choose. Data made in memory (``da.from_array`` of
numpy) travels inside the task either way: its culled graph holds the region's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TaskSource", "regions_share_work", "task_source"]

# Tasks that two regions' graphs may have in common and still count as their own: the array
# and store objects their getters read through (a few, whatever the image's size).
_SHARED_TASKS_ALLOWED = 16


@dataclass(frozen=True)
class TaskSource:
    """A region's source, computed inside the task that writes it.

    Read like an array: ``source.open()[index]`` computes that part of the region with dask's
    synchronous scheduler (on the calling thread: a worker thread computing inside a task must
    not hand work back to the cluster) and returns a numpy array of ``dtype``.

    Parameters
    ----------
    pickled : bytes
        The region's dask array, culled to its own tasks and pickled with cloudpickle (bytes,
        so the client does not take the array's tasks for dependencies of the write task).
    dtype : str
        The dtype written.
    """

    pickled: bytes
    dtype: str

    def open(self) -> _SyncArray:
        """Unpickle the region's dask array, to read it band by band."""
        import pickle

        # Our own bytes, pickled by the client of this write.
        return _SyncArray(pickle.loads(self.pickled), np.dtype(self.dtype))


class _SyncArray:
    """A dask array read with the synchronous scheduler, as numpy of one dtype."""

    def __init__(self, array: Any, dtype: np.dtype) -> None:
        self._array = array
        self.dtype = dtype
        self.shape = tuple(array.shape)
        self.ndim = len(self.shape)

    def __getitem__(self, index: Any) -> np.ndarray:
        part = self._array[index].compute(scheduler="sync")
        return np.asarray(part).astype(self.dtype, copy=False)


def regions_share_work(data: Any, first: tuple[slice, ...], last: tuple[slice, ...]) -> bool:
    """Whether two regions of ``data``, the farthest apart, need tasks in common.

    Parameters
    ----------
    data : dask.array.Array
        The source.
    first, last : tuple of slice
        The first and the last region (the same region when there is one).

    Returns
    -------
    bool
        True when their culled graphs share more than a few tasks: work such as a mean over
        the whole image, which every region computing its own source would repeat. Two culls,
        whatever the image's size (culling the whole graph instead would take minutes for
        a million chunks).
    """
    if first == last:
        return False
    common = _graph(data[first]).keys() & _graph(data[last]).keys()
    return len(common) > _SHARED_TASKS_ALLOWED


def task_source(block: Any, dtype: np.dtype) -> TaskSource | None:
    """Return ``block`` packed to be computed inside its write task, or None if it cannot be.

    Parameters
    ----------
    block : dask.array.Array
        The region's slice of the source, already culled (`dask.optimize`).
    dtype : numpy.dtype
        The dtype written.

    Returns
    -------
    TaskSource or None
        None when the block's graph reads results held on the cluster (data persisted there,
        whose blocks are futures): the scheduler then brings them to the task.
    """
    import cloudpickle

    graph = dict(block.__dask_graph__())
    # dask's task nodes name the keys they read; a culled graph that reads keys it does not
    # hold reads them from the cluster.
    read = set().union(*(getattr(node, "dependencies", ()) for node in graph.values()))
    if read - graph.keys():
        return None
    return TaskSource(cloudpickle.dumps(block), np.dtype(dtype).str)


def _graph(array: Any) -> dict:
    import dask

    (optimized,) = dask.optimize(array)
    return dict(optimized.__dask_graph__())

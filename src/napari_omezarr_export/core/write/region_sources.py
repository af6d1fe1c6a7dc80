"""How a region's pixels reach the worker that writes it: inside its task, or through dask.

A distributed write gives each region of level 0 to one task. The region's source is a slice
of a dask array, and there are two ways to get it to that task:

* **inside the task** (`TaskSource`): the region's own part of the source graph, culled and
  pickled, travels as the task's argument, and the task computes it on its own thread with
  dask's synchronous scheduler, band by band while its encoder thread compresses the band
  before, so that no region is whole in memory. When two bands need a task in common (a
  source chunk taller than a band, a whole-plane TIFF page, a rechunk), the region is computed
  once instead and then cut into bands: a band at a time would compute that task for every
  band. The scheduler sees the region's write task and its small result instead of one task
  per source block, and no source block is moved between workers by work stealing. Measured
  on 1x16384x16384 uint16 (benchmarks/README.md): as fast as one process on 2 cores, where
  the scheduler path was 1.25-1.35x slower.
* **through the scheduler**: the region's source tasks are submitted with the write task, which
  receives the computed block. Needed when the graph is not the region's alone: data persisted
  on the cluster (its blocks are futures held by workers), or layers with annotations (the
  resources or retries they ask for are the scheduler's to grant).

Work that every region needs (``x - x.mean()``) is computed again by every region on either
path (dask fuses and renames each region's culled graph, so no two regions share a key):
persist such a source, or compute the statistic first. `task_source` chooses. Data made in
memory (``da.from_array`` of numpy) travels inside the task either way: its culled graph
holds the region's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TaskSource", "task_source"]


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
    """A dask array read with the synchronous scheduler, as numpy of one dtype.

    Band by band, unless the first two bands asked for need a task in common: then the whole
    array is computed once, at the first read, and cut.
    """

    def __init__(self, array: Any, dtype: np.dtype) -> None:
        self._array = array
        self.dtype = dtype
        self.shape = tuple(array.shape)
        self.ndim = len(self.shape)
        self._banded: bool | None = None
        self._whole: np.ndarray | None = None

    def __getitem__(self, index: tuple[slice, ...]) -> np.ndarray:
        if self._banded is None:
            self._banded = not _bands_share_work(self._array, index)
        if self._banded:
            return self._compute(self._array[index])
        if self._whole is None:
            self._whole = self._compute(self._array)
        return self._whole[index]

    def _compute(self, array: Any) -> np.ndarray:
        return np.asarray(array.compute(scheduler="sync")).astype(self.dtype, copy=False)


def _bands_share_work(array: Any, band: tuple[slice, ...]) -> bool:
    """Whether ``band`` of ``array`` and the band below it need a task in common.

    Bands are rows (the second-last axis) of whole chunks; two culls of the region's graph.
    """
    y = len(band) - 2
    rows = band[y].indices(array.shape[y])
    below = slice(rows[1], min(rows[1] + rows[1] - rows[0], array.shape[y]))
    if below.start >= below.stop:
        return False  # one band: nothing to share
    next_band = (*band[:y], below, *band[y + 1 :])
    return bool(_work(array[band]) & _work(array[next_band]))


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
        whose blocks are futures), or has layers with annotations: the scheduler then runs it.
    """
    import cloudpickle
    from distributed import futures_of

    graph = block.__dask_graph__()
    layers = getattr(graph, "layers", {})
    if any(getattr(layer, "annotations", None) for layer in layers.values()):
        return None
    if futures_of(block):
        return None
    nodes = dict(graph)
    # dask's task nodes name the keys they read; a culled graph that reads keys it does not
    # hold reads them from the cluster.
    read = set().union(*(getattr(node, "dependencies", ()) for node in nodes.values()))
    if read - nodes.keys():
        return None
    return TaskSource(cloudpickle.dumps(block), np.dtype(dtype).str)


def _work(array: Any) -> set:
    """The keys of the tasks that compute something in ``array``'s culled graph.

    Data nodes (an array or store object, numpy pixels) and aliases are not work.
    """
    from dask.core import flatten, istask

    try:
        from dask._task_spec import Alias
    except ImportError:  # pragma: no cover - a dask before task specs: its tasks are tuples
        Alias = ()

    # Culled, not optimized: fusing would rename a shared task differently in each graph.
    keys = set(flatten(array.__dask_keys__()))
    graph = dict(array.__dask_graph__().cull(keys))
    return {key for key, node in graph.items() if istask(node) and not isinstance(node, Alias)}

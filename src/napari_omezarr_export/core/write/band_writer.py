"""Write every pyramid level in one pass over level 0, in bands of whole chunk rows.

Level 0 is read once, one band of chunk rows at a time (the full x extent, and the full z
extent when z is halved). Each band is written, then downsampled into the next level's buffer;
a level writes as soon as its buffer holds whole chunk rows, and passes them on the same way.
Every write covers whole chunks, so each chunk of each level is compressed exactly once. Memory
stays near two bands per level, whatever the image's height: the pass never holds a whole level.

Writes run on a small thread pool (`WriteQueue`), so that compressing one band's chunks
overlaps reading and downsampling the next on the main thread. Where `chunk_files` can write an
array's chunk (or shard) files exactly as zarr would, each chunk or shard is its own task;
otherwise (other codecs) each band goes to zarr as one ``array[index] = block``.

The pass also runs on one region of the levels (`ArrayWindow`): a distributed write gives each
task a unit-aligned region of level 0 and the windows of the levels below it that the region
wholly owns (see `napari_omezarr_export.core.write.distributed`).
"""

from __future__ import annotations

import itertools
import math
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from napari_omezarr_export.core.write.chunk_files import ChunkFileWriter, chunk_file_writer
from napari_omezarr_export.core.write.pyramid import downsample

__all__ = ["ArrayWindow", "LevelTarget", "count_chunks", "iter_write_levels", "write_unit"]

BandObserver = Callable[[tuple[slice, ...], np.ndarray], None]

# Writes queued at once: enough to keep both cores compressing while the main thread reads and
# downsamples the next band, few enough that memory stays a few bands per level.
UNITS_IN_FLIGHT = 16  # single chunks (or shards) that we encode ourselves
BANDS_IN_FLIGHT = 4  # whole bands handed to zarr


class ArrayWindow:
    """A unit-aligned window of a zarr array, written as if it were the whole array.

    Parameters
    ----------
    array : zarr.Array
        The level.
    start : sequence of int
        The window's first element per axis: a multiple of the write unit (chunk or shard).
    shape : sequence of int
        The window's shape: whole units, or up to the array's edge.
    """

    def __init__(self, array: object, start: Sequence[int], shape: Sequence[int]) -> None:
        self.array = array
        self.start = tuple(int(s) for s in start)
        self.shape = tuple(int(n) for n in shape)
        self.chunks = tuple(array.chunks)
        self.shards = getattr(array, "shards", None)

    def files(self) -> ChunkFileWriter | None:
        """The array's chunk-file writer for this window, or None when zarr writes."""
        if not hasattr(self.array, "metadata"):
            return None
        files = chunk_file_writer(self.array)
        return None if files is None else files.window(self.start, self.shape)

    def __setitem__(self, index: tuple, block: np.ndarray) -> None:
        full = tuple(index) + (slice(None),) * (len(self.shape) - len(index))
        shifted = tuple(
            slice(s + (i.start or 0), s + (n if i.stop is None else i.stop))
            for i, s, n in zip(full, self.start, self.shape, strict=True)
        )
        self.array[shifted] = block


@dataclass
class LevelTarget:
    """One level's destination array and the rows still waiting to be written."""

    array: object  # a zarr.Array (or anything with .shape, .chunks and __setitem__)
    pending: list[np.ndarray] = field(default_factory=list)
    written_rows: int = 0
    files: ChunkFileWriter | None = None

    @classmethod
    def for_array(cls, array: object) -> LevelTarget:
        """Return a target that writes its own chunk files where they would equal zarr's."""
        if isinstance(array, ArrayWindow):
            return cls(array, files=array.files())
        return cls(array, files=chunk_file_writer(array) if hasattr(array, "metadata") else None)

    @property
    def shape(self) -> tuple[int, ...]:
        """The level's shape."""
        return tuple(self.array.shape)


class WriteQueue:
    """Run writes on a small pool, with a bounded number queued (see `submit`).

    A failed write re-raises its error in the caller at the next `submit` or `drain`.
    `close` cancels what has not started and waits for what has, so nothing writes into a
    staging folder after a cancelled export has removed it. ``threads`` is the pool's size:
    at most 2, and never more than the machine's cores, by default.
    """

    def __init__(self, threads: int | None = None) -> None:
        if threads is None:
            threads = min(2, os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(max_workers=max(1, threads))
        self._pending: deque[Future] = deque()

    def submit(self, limit: int, write: Callable[..., None], *args: object) -> None:
        """Call ``write(*args)`` in the background, once at most ``limit`` others are queued."""
        self._pending.append(self._pool.submit(write, *args))
        while len(self._pending) > limit:
            self._pending.popleft().result()

    def write(self, target: LevelTarget, index: tuple, block: np.ndarray) -> None:
        """Write ``block`` to ``target``'s array at ``index``: chunk by chunk, or through zarr."""
        if target.files is None or not target.files.aligned(index, block):
            self.submit(BANDS_IN_FLIGHT, target.array.__setitem__, index, block)
            return
        for coords, unit in target.files.split(index, block):
            self.submit(UNITS_IN_FLIGHT, target.files.write, coords, unit)

    def drain(self) -> None:
        """Wait for every write; raise the first error."""
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        """Cancel queued writes and wait for running ones."""
        for future in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True)


def write_unit(array: object) -> tuple[int, ...]:
    """The block a write should cover whole: the shard when sharded, else the chunk."""
    return tuple(getattr(array, "shards", None) or array.chunks)


def count_chunks(shape: Sequence[int], chunks: Sequence[int]) -> int:
    """Return how many chunks an array of ``shape`` has."""
    return math.prod(math.ceil(n / c) for n, c in zip(shape, chunks, strict=True))


def _outer_blocks(shape: Sequence[int], chunks: Sequence[int], n_outer: int) -> Iterator[tuple]:
    """Chunk-aligned index blocks over the leading axes that are not downsampled."""
    ranges = [range(0, shape[i], chunks[i]) for i in range(n_outer)]
    for starts in itertools.product(*ranges):
        yield tuple(slice(s, min(s + chunks[i], shape[i])) for i, s in enumerate(starts))


def band_rows(chunks: Sequence[int]) -> int:
    """Rows per level-0 band: one chunk row, doubled when odd so windows never split."""
    rows = chunks[-2]
    return rows * 2 if rows % 2 else rows


def iter_bands(
    shape: Sequence[int], chunks: Sequence[int], factors: Sequence[int]
) -> Iterator[tuple[tuple[slice, ...], tuple[slice, ...]]]:
    """Yield ``(outer, index)`` for each level-0 band, in writing order.

    ``outer`` selects one chunk-aligned block of the leading axes that are not downsampled;
    ``index`` is the band's full index (the whole z extent when z is halved, whole x).

    Parameters
    ----------
    shape, chunks : sequence of int
        Level-0 shape and chunk shape.
    factors : sequence of int
        Per-axis factor between levels.

    Yields
    ------
    tuple of (tuple of slice, tuple of slice)
        The outer block and the band's index.
    """
    y_axis = len(shape) - 2
    halved = [i for i, f in enumerate(factors) if f > 1] or [y_axis]
    n_outer = min(halved)
    step = band_rows(chunks)
    inner = tuple(slice(0, shape[i]) for i in range(n_outer, y_axis))
    for outer in _outer_blocks(shape, chunks, n_outer):
        for y0 in range(0, shape[y_axis], step):
            rows = slice(y0, min(y0 + step, shape[y_axis]))
            yield outer, (*outer, *inner, rows, slice(0, shape[-1]))


def iter_write_levels(
    source: object,
    arrays: Sequence[object],
    factors: Sequence[int],
    method: str,
    *,
    observe: BandObserver | None = None,
    write_threads: int | None = None,
) -> Iterator[int]:
    """Write ``source`` into ``arrays[0]`` and its pyramid into the rest, in one pass.

    Parameters
    ----------
    source : array-like
        Level-0 data in NGFF order: numpy, dask or zarr; read one band at a time.
    arrays : sequence of zarr.Array
        One per level, full resolution first, all with the same chunk shape on y.
    factors : sequence of int
        Per-axis factor between levels (2 on halved axes, 1 elsewhere).
    method : str
        Downsampling method (see `napari_omezarr_export.core.write.pyramid.downsample`).
    observe : callable, optional
        Called with each level-0 band's index and data, to gather statistics on the way.
    write_threads : int, optional
        Threads that encode and write chunks (`WriteQueue`); 2 at most by default.

    Yields
    ------
    int
        The number of chunks written since the last yield.
    """
    targets: list[LevelTarget] = []
    current_outer = None
    writes = WriteQueue(write_threads)
    try:
        for outer, index in iter_bands(source.shape, write_unit(arrays[0]), factors):
            if outer != current_outer:
                targets, current_outer = [LevelTarget.for_array(a) for a in arrays], outer
            band = np.asarray(source[index])
            if observe is not None:
                observe(index, band)
            yield from _push(targets, 0, band, outer, factors, method, writes)
        writes.drain()
    finally:
        writes.close()


def _push(
    targets: list[LevelTarget],
    level: int,
    rows: np.ndarray,
    outer: tuple[slice, ...],
    factors: Sequence[int],
    method: str,
    writes: WriteQueue,
) -> Iterator[int]:
    """Queue ``rows`` for ``level``; write whole chunk rows and pass them to the next level."""
    target = targets[level]
    target.pending.append(rows)
    y_axis = rows.ndim - 2
    chunk_rows = write_unit(target.array)[y_axis]
    queued = sum(p.shape[y_axis] for p in target.pending)
    at_end = target.written_rows + queued == target.shape[y_axis]
    ready = queued if at_end else queued - queued % chunk_rows
    if not at_end and ready % 2:
        ready -= chunk_rows  # an odd row count would split a downsampling window
    if ready <= 0:
        return
    merged = (
        target.pending[0] if len(target.pending) == 1 else np.concatenate(target.pending, y_axis)
    )
    out, rest = np.split(merged, [ready], axis=y_axis)
    target.pending = [rest] if rest.shape[y_axis] else []
    start = target.written_rows
    index = (*outer, *([slice(None)] * (y_axis - len(outer))), slice(start, start + ready))
    writes.write(target, index, out)
    target.written_rows += ready
    yield count_chunks(out.shape, target.array.chunks)
    if level + 1 < len(targets):
        smaller = downsample(out, factors, method)
        yield from _push(targets, level + 1, smaller, outer, factors, method, writes)

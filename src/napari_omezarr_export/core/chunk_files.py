"""Write whole chunks of a zarr array straight to their files: encode with numcodecs, save bytes.

Why not ``array[index] = block``: zarr 3 sends every chunk of a write through its one
event-loop thread, which copies the chunk into a new fill-value buffer and compares every pixel
with the fill value before a worker thread compresses it. On two cores that serial part, not
compression, set the pace. Encoding each chunk with the same numcodecs codec on our own pool
and writing its file directly took W2 (4x8192x8192 uint16, 5 levels, default codec) from 1.98 s
to about 1.55 s of wall time (see benchmarks/README.md, "Chunk files").

This is done only where the files are byte-identical to zarr's own, which
``tests/core/test_chunk_files.py`` checks file by file: a local store, no sharding, no filters,
C order, a zero fill value, and no compressor or one numcodecs Blosc or Zstd compressor. Any other
array returns None from `chunk_file_writer`, and its writes go through zarr.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
from zarr.codecs import BloscCodec, BytesCodec, ZstdCodec
from zarr.storage import LocalStore

__all__ = ["ChunkFileWriter", "chunk_file_writer"]

Encoder = Callable[[np.ndarray], Any]

_V3_SHUFFLE = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}


def _v2_encoder(metadata: Any) -> Encoder | None:
    if metadata.filters or metadata.order != "C":
        return None
    compressor = metadata.compressor
    if compressor is None:
        return bytes
    if isinstance(compressor, numcodecs.Blosc | numcodecs.Zstd):
        return compressor.encode
    return None


def _v3_encoder(metadata: Any) -> Encoder | None:
    codecs = list(metadata.codecs)
    if not codecs or not isinstance(codecs[0], BytesCodec) or len(codecs) > 2:
        return None
    if codecs[0].endian is not None and codecs[0].endian.value != "little":
        return None
    if len(codecs) == 1:
        return bytes
    codec = codecs[1]
    if isinstance(codec, BloscCodec):
        # The settings zarr's BloscCodec hands to numcodecs for each chunk's bytes.
        blosc = numcodecs.Blosc(
            cname=codec.cname.value,
            clevel=codec.clevel,
            shuffle=_V3_SHUFFLE[codec.shuffle.value],
            blocksize=codec.blocksize,
            typesize=codec.typesize,
        )
        return lambda chunk: blosc.encode(chunk.view(np.uint8).reshape(-1))
    if isinstance(codec, ZstdCodec):
        return numcodecs.Zstd(level=codec.level, checksum=codec.checksum).encode
    return None


def chunk_file_writer(array: Any) -> ChunkFileWriter | None:
    """Return a writer of ``array``'s chunk files, or None when zarr must write them.

    Parameters
    ----------
    array : zarr.Array
        A newly created, empty array.

    Returns
    -------
    ChunkFileWriter or None
        None unless the store is local, the array unsharded, its fill value zero and its
        codecs ones this module encodes exactly like zarr.
    """
    store = array.store
    metadata = array.metadata
    if not isinstance(store, LocalStore) or not np.dtype(array.dtype).isnative:
        return None
    if getattr(array, "shards", None) is not None or metadata.fill_value != 0:
        return None
    encode = _v2_encoder(metadata) if metadata.zarr_format == 2 else _v3_encoder(metadata)
    if encode is None:
        return None
    directory = Path(store.root) / array.path
    return ChunkFileWriter(directory, encode, metadata.encode_chunk_key, array.chunks, array.dtype)


def _is_fill(chunk: np.ndarray) -> bool:
    """Whether every byte of the contiguous ``chunk`` is zero: the zero fill value, bit for bit."""
    raw = chunk.view(np.uint8).reshape(-1)
    # A sparse sample settles almost every chunk that holds data without a full pass.
    if raw[::4093].any():
        return False
    return not raw.any()


class ChunkFileWriter:
    """Encode and save whole chunks of one array as files, the way zarr names and pads them.

    Parameters
    ----------
    directory : Path
        The array's folder in the store.
    encode : callable
        Turns one C-contiguous chunk into its stored bytes.
    chunk_key : callable
        Turns chunk coordinates into the key under ``directory``, like ``"0/1/2"``.
    chunks : sequence of int
        The chunk shape; edge chunks are padded to it with zeros, as zarr does.
    dtype : numpy.dtype
        The array's data type.
    """

    def __init__(
        self,
        directory: Path,
        encode: Encoder,
        chunk_key: Callable[[tuple[int, ...]], str],
        chunks: Sequence[int],
        dtype: np.dtype,
    ) -> None:
        self._directory = directory
        self._encode = encode
        self._chunk_key = chunk_key
        self.chunks = tuple(int(c) for c in chunks)
        self._dtype = np.dtype(dtype)
        self._folders: set[Path] = set()

    def split(
        self, index: tuple[slice, ...], block: np.ndarray
    ) -> Iterator[tuple[tuple[int, ...], np.ndarray]]:
        """Yield ``(chunk coordinates, view)`` for each chunk of a chunk-aligned ``block``.

        Parameters
        ----------
        index : tuple of slice
            Where ``block`` goes in the array, leading axes first (missing axes start at 0);
            every start is a multiple of the chunk shape.
        block : numpy.ndarray
            The data; it covers whole chunks, except where it ends at the array's edge.

        Yields
        ------
        tuple
            Chunk coordinates and the view of ``block`` that fills that chunk.
        """
        starts = [s.start or 0 for s in index] + [0] * (block.ndim - len(index))
        counts = [math.ceil(n / c) for n, c in zip(block.shape, self.chunks, strict=True)]
        for offsets in itertools.product(*(range(n) for n in counts)):
            view = block[
                tuple(slice(o * c, (o + 1) * c) for o, c in zip(offsets, self.chunks, strict=True))
            ]
            coords = tuple(
                start // c + o for start, c, o in zip(starts, self.chunks, offsets, strict=True)
            )
            yield coords, view

    def write_chunk(self, coords: tuple[int, ...], data: np.ndarray) -> None:
        """Encode one chunk and save it, unless it is all zero (zarr leaves those out too)."""
        if data.shape == self.chunks:
            chunk = np.ascontiguousarray(data, dtype=self._dtype)
        else:
            chunk = np.zeros(self.chunks, dtype=self._dtype)
            chunk[tuple(slice(0, n) for n in data.shape)] = data
        if _is_fill(chunk):
            return
        path = self._directory / self._chunk_key(coords)
        if path.parent not in self._folders:
            os.makedirs(path.parent, exist_ok=True)
            self._folders.add(path.parent)
        payload = self._encode(chunk)
        with open(path, "wb") as file:
            file.write(payload)

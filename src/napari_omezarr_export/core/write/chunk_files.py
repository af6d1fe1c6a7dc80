"""Write whole chunks (or shards) of a zarr array straight to their files, as zarr would.

Why not ``array[index] = block``: zarr 3 sends every chunk of a write through its one
event-loop thread, which copies the chunk into a new fill-value buffer and compares every pixel
with the fill value before a worker thread compresses it. On two cores that serial part, not
compression, set the pace. Encoding each chunk with the same numcodecs codec on our own pool
and writing its file directly took W2 (4x8192x8192 uint16, 5 levels, default codec) from 2.35 s
to 1.56 s of wall time (1.98 s with zarr's ``write_empty_chunks=True``), and sharded NGFF 0.5
from 1.75 s to 1.06 s (benchmarks/README.md, "Why our writer is faster").

This is done only where the files are byte-identical to zarr's own, which
``tests/core/test_chunk_files.py`` checks file by file: a local store, a zero fill value, and
either zarr v2 without filters, C order, with no compressor or one numcodecs Blosc or Zstd
compressor, or zarr v3 with ``bytes`` (little-endian) and at most one Blosc or Zstd codec,
optionally inside the sharding codec with its default index (``bytes`` + ``crc32c``, at the
end). Any other array returns None from `chunk_file_writer`, and its writes go through zarr.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import google_crc32c
import numcodecs
import numpy as np
from zarr.codecs import (
    BloscCodec,
    BytesCodec,
    Crc32cCodec,
    Endian,
    ShardingCodec,
    ShardingCodecIndexLocation,
    ZstdCodec,
)
from zarr.storage import LocalStore

try:  # zarr's order of inner chunks in a shard; without it, zarr writes shards itself
    from zarr.core.indexing import morton_order_iter
except ImportError:  # pragma: no cover - a zarr release that moved it
    morton_order_iter = None

__all__ = ["PARTIAL_SUFFIX", "ChunkFileWriter", "chunk_file_writer", "watch_written"]

PARTIAL_SUFFIX = ".partial"  # a chunk file still being written (zarr's LocalStore's suffix too)
# Folders being watched (`watch_written`) -> what to call with each chunk file written there.
_watchers: dict[str, Callable[[Path, int], None]] = {}
_watchers_lock = threading.Lock()


@contextlib.contextmanager
def watch_written(folder: Path, written: Callable[[Path, int], None]) -> Iterator[None]:
    """Call ``written(path, size)`` for each chunk file written under ``folder`` in the block.

    Called from the writing threads, once the file is complete (renamed to its name). Files
    zarr writes itself (a codec or a write this module does not handle) are not reported.

    Parameters
    ----------
    folder : Path
        A store's folder (a staging folder).
    written : callable
        Receives the file's path and its size in bytes; must be quick and thread-safe.
    """
    key = os.path.abspath(folder)
    with _watchers_lock:
        _watchers[key] = written
    try:
        yield
    finally:
        with _watchers_lock:
            _watchers.pop(key, None)


def _report_written(path: Path, size: int) -> None:
    text = os.path.abspath(path)
    for folder, written in list(_watchers.items()):
        if text.startswith(folder + os.sep):
            written(path, size)


Encoder = Callable[[np.ndarray], Any]
UnitEncoder = Callable[[np.ndarray], "bytes | None"]
_ABSENT = 2**64 - 1  # a shard index entry for an inner chunk that is not stored

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


def _is_little_bytes(codec: Any) -> bool:
    return isinstance(codec, BytesCodec) and codec.endian in (None, Endian.little)


def _v3_encoder(codecs: Sequence[Any]) -> Encoder | None:
    """The encoder of ``[bytes]`` or ``[bytes, blosc or zstd]``; None for any other chain."""
    if not codecs or not _is_little_bytes(codecs[0]) or len(codecs) > 2:
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


def _chunk_encoder(encode: Encoder) -> UnitEncoder:
    """Encode one chunk; None for a chunk equal to the fill value (zarr leaves those out)."""

    def encode_chunk(chunk: np.ndarray) -> bytes | None:
        chunk = np.ascontiguousarray(chunk)
        return None if _is_fill(chunk) else encode(chunk)

    return encode_chunk


def _shard_encoder(sharding: ShardingCodec, shard_shape: Sequence[int]) -> UnitEncoder | None:
    """Encode one shard as zarr's sharding codec does, or None when it is set up otherwise.

    The inner chunks are stored in Morton order, empty ones left out, followed by the index:
    (offset, length) per inner chunk as little-endian uint64, (2**64-1, 2**64-1) when absent,
    then the CRC32C of the index as a little-endian uint32.
    """
    index_codecs = list(sharding.index_codecs)
    default_index = (
        len(index_codecs) == 2
        and _is_little_bytes(index_codecs[0])
        and isinstance(index_codecs[1], Crc32cCodec)
        and sharding.index_location is ShardingCodecIndexLocation.end
    )
    if morton_order_iter is None or not default_index:
        return None
    encode = _v3_encoder(list(sharding.codecs))
    if encode is None:
        return None
    inner = tuple(sharding.chunk_shape)
    per_shard = tuple(s // c for s, c in zip(shard_shape, inner, strict=True))
    order = list(morton_order_iter(per_shard))

    def encode_shard(shard: np.ndarray) -> bytes | None:
        index = np.full((*per_shard, 2), _ABSENT, dtype="<u8")
        pieces, offset = [], 0
        for coords in order:
            window = tuple(slice(i * c, (i + 1) * c) for i, c in zip(coords, inner, strict=True))
            chunk = np.ascontiguousarray(shard[window])
            if _is_fill(chunk):
                continue
            payload = encode(chunk)
            pieces.append(payload)
            index[coords] = (offset, len(payload))
            offset += len(payload)
        if not pieces:
            return None
        table = index.tobytes()
        checksum = np.array(google_crc32c.value(table), dtype="<u4").tobytes()
        return b"".join([*pieces, table, checksum])

    return encode_shard


def chunk_file_writer(array: Any) -> ChunkFileWriter | None:
    """Return a writer of ``array``'s chunk (or shard) files, or None when zarr must write them.

    Parameters
    ----------
    array : zarr.Array
        A newly created, empty array.

    Returns
    -------
    ChunkFileWriter or None
        None unless the store is local, the fill value zero and the codecs ones this module
        encodes exactly like zarr.
    """
    store = array.store
    metadata = array.metadata
    if not isinstance(store, LocalStore) or not np.dtype(array.dtype).isnative:
        return None
    if metadata.fill_value != 0:
        return None
    unit = tuple(array.chunks)
    if metadata.zarr_format == 2:
        encode = _v2_encoder(metadata)
        encode_unit = None if encode is None else _chunk_encoder(encode)
    elif len(metadata.codecs) == 1 and isinstance(metadata.codecs[0], ShardingCodec):
        unit = tuple(array.shards)
        encode_unit = _shard_encoder(metadata.codecs[0], unit)
    else:
        encode = _v3_encoder(list(metadata.codecs))
        encode_unit = None if encode is None else _chunk_encoder(encode)
    if encode_unit is None:
        return None
    directory = Path(store.root) / array.path
    return ChunkFileWriter(
        directory, encode_unit, metadata.encode_chunk_key, unit, array.shape, array.dtype
    )


def _is_fill(chunk: np.ndarray) -> bool:
    """Whether every byte of the contiguous ``chunk`` is zero: the zero fill value, bit for bit."""
    raw = chunk.view(np.uint8).reshape(-1)
    # A sparse sample settles almost every chunk that holds data without a full pass.
    if raw[::4093].any():
        return False
    return not raw.any()


class ChunkFileWriter:
    """Encode and save whole chunks (or shards) of one array as files, as zarr names and pads them.

    Parameters
    ----------
    directory : Path
        The array's folder in the store.
    encode : callable
        Turns one unit (a chunk, or a shard) into its stored bytes, or None to store nothing.
    key : callable
        Turns unit coordinates into the file's key under ``directory``, like ``"0/1/2"``.
    unit : sequence of int
        The chunk or shard shape; units at the array's edge are padded to it with zeros.
    shape : sequence of int
        The array's shape.
    dtype : numpy.dtype
        The array's data type.
    """

    def __init__(
        self,
        directory: Path,
        encode: UnitEncoder,
        key: Callable[[tuple[int, ...]], str],
        unit: Sequence[int],
        shape: Sequence[int],
        dtype: np.dtype,
    ) -> None:
        self._directory = directory
        self._encode = encode
        self._key = key
        self.unit = tuple(int(c) for c in unit)
        self.shape = tuple(int(n) for n in shape)
        self._dtype = np.dtype(dtype)
        self._folders: set[Path] = set()
        self._offset = (0,) * len(self.unit)

    def window(self, start: Sequence[int], shape: Sequence[int]) -> ChunkFileWriter:
        """Return a writer of the units inside a unit-aligned window of the array.

        Indices and unit coordinates given to the returned writer count from ``start``, so a
        task that writes one region of a level sees the region as a whole array.

        Parameters
        ----------
        start : sequence of int
            The window's first element per axis; a multiple of the unit shape.
        shape : sequence of int
            The window's shape; it ends on a unit boundary or at the array's edge.

        Returns
        -------
        ChunkFileWriter
            A writer of the same files, for that window.
        """
        if any(s % u for s, u in zip(start, self.unit, strict=True)):
            raise ValueError(f"window start {tuple(start)} is not on the unit grid {self.unit}")
        window = ChunkFileWriter(
            self._directory, self._encode, self._key, self.unit, shape, self._dtype
        )
        window._offset = tuple(
            o + s // u for o, s, u in zip(self._offset, start, self.unit, strict=True)
        )
        return window

    def aligned(self, index: tuple[slice, ...], block: np.ndarray) -> bool:
        """Whether ``block`` at ``index`` covers whole units (or runs to the array's edge).

        Only then can each unit be encoded from the block alone; anything else goes to zarr,
        which reads what is already stored first.
        """
        starts = [s.start or 0 for s in index] + [0] * (block.ndim - len(index))
        return all(
            start % unit == 0 and (length % unit == 0 or start + length == size)
            for start, length, unit, size in zip(
                starts, block.shape, self.unit, self.shape, strict=True
            )
        )

    def split(
        self, index: tuple[slice, ...], block: np.ndarray
    ) -> Iterator[tuple[tuple[int, ...], np.ndarray]]:
        """Yield ``(unit coordinates, view)`` for each unit of a unit-aligned ``block``.

        Parameters
        ----------
        index : tuple of slice
            Where ``block`` goes in the array, leading axes first (missing axes start at 0);
            every start is a multiple of the unit shape.
        block : numpy.ndarray
            The data; it covers whole units, except where it ends at the array's edge.

        Yields
        ------
        tuple
            Unit coordinates and the view of ``block`` that fills that unit.
        """
        starts = [s.start or 0 for s in index] + [0] * (block.ndim - len(index))
        counts = [math.ceil(n / c) for n, c in zip(block.shape, self.unit, strict=True)]
        for offsets in itertools.product(*(range(n) for n in counts)):
            view = block[
                tuple(slice(o * c, (o + 1) * c) for o, c in zip(offsets, self.unit, strict=True))
            ]
            coords = tuple(
                start // c + o for start, c, o in zip(starts, self.unit, offsets, strict=True)
            )
            yield coords, view

    def write(self, coords: tuple[int, ...], data: np.ndarray) -> None:
        """Encode one unit and save it, unless it holds only the fill value."""
        data = np.asarray(data, dtype=self._dtype)  # as zarr would store it, whatever came in
        if data.shape != self.unit:
            padded = np.zeros(self.unit, dtype=self._dtype)
            padded[tuple(slice(0, n) for n in data.shape)] = data
            data = padded
        payload = self._encode(data)
        if payload is None:
            return
        if any(self._offset):
            coords = tuple(c + o for c, o in zip(coords, self._offset, strict=True))
        path = self._directory / self._key(coords)
        if path.parent not in self._folders:
            os.makedirs(path.parent, exist_ok=True)
            self._folders.add(path.parent)
        # Under a temporary name, then renamed, as zarr's LocalStore does: a file that has its
        # name is complete, so a staged store's chunks can be uploaded while others are written
        # (`core.write.upload_stream`). One rename per chunk file: negligible beside encoding.
        partial = path.with_name(path.name + PARTIAL_SUFFIX)
        with open(partial, "wb") as file:
            file.write(payload)
        os.replace(partial, path)
        if _watchers:
            _report_written(path, len(payload))

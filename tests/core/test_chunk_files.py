"""Chunk files we write ourselves must be byte for byte the files zarr writes."""

from __future__ import annotations

import numcodecs
import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec, ZstdCodec

from napari_omezarr_export.core.chunk_files import chunk_file_writer

SHAPE, CHUNKS = (2, 300, 517), (1, 128, 128)

V2_COMPRESSORS = {
    "blosc-zstd-bit-1MiB": numcodecs.Blosc("zstd", 1, numcodecs.Blosc.BITSHUFFLE, 1 << 20),
    "blosc-lz4-byte-auto": numcodecs.Blosc("lz4", 5, numcodecs.Blosc.SHUFFLE),
    "zstd": numcodecs.Zstd(level=3),
    "none": None,
}
V3_COMPRESSORS = {
    "blosc-zstd-bit-1MiB": BloscCodec(
        cname="zstd", clevel=1, shuffle="bitshuffle", blocksize=1 << 20
    ),
    "blosc-lz4-byte-auto": BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),
    "zstd": ZstdCodec(level=3),
    "none": None,
}


def _data(dtype: str, rng: np.random.Generator) -> np.ndarray:
    data = rng.integers(0, 100, size=SHAPE).astype(dtype)
    data[0, :128, :256] = 0  # two chunks equal to the fill value: neither is written
    if np.dtype(dtype).kind == "f":
        data[1, :128, :128] = 0
        data[1, 5, 5] = -0.0  # not the fill value bit for bit: this chunk is written
    return data


def _create(root, name: str, fmt: int, compressor, dtype: str):
    extra = {"chunk_key_encoding": {"name": "v2", "separator": "/"}} if fmt == 2 else {}
    return root.create_array(
        name=name,
        shape=SHAPE,
        chunks=CHUNKS,
        dtype=dtype,
        compressors=compressor,
        fill_value=0,
        **extra,
    )


def _files(folder) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith((".z", "zarr.json"))
    }


@pytest.mark.parametrize("dtype", ["uint16", "int32", "float32", "uint8"])
@pytest.mark.parametrize(
    ("fmt", "codec"),
    [(2, name) for name in V2_COMPRESSORS] + [(3, name) for name in V3_COMPRESSORS],
)
def test_our_chunk_files_are_byte_identical_to_zarrs(tmp_path, rng, fmt, codec, dtype):
    compressors = V2_COMPRESSORS if fmt == 2 else V3_COMPRESSORS
    data = _data(dtype, rng)
    root = zarr.open_group(tmp_path / "store.zarr", mode="w", zarr_format=fmt)
    by_zarr = _create(root, "by_zarr", fmt, compressors[codec], dtype)
    by_zarr[...] = data
    ours = _create(root, "ours", fmt, compressors[codec], dtype)
    writer = chunk_file_writer(ours)
    assert writer is not None
    # Two chunk-aligned blocks, the second ending at the array's edge.
    for rows in (slice(0, 256), slice(256, SHAPE[1])):
        index = (slice(0, SHAPE[0]), rows)
        for coords, chunk in writer.split(index, data[index]):
            writer.write_chunk(coords, chunk)

    expected = _files(tmp_path / "store.zarr" / "by_zarr")
    assert _files(tmp_path / "store.zarr" / "ours") == expected
    assert len(expected) < np.prod([-(-n // c) for n, c in zip(SHAPE, CHUNKS, strict=True)])
    np.testing.assert_array_equal(ours[...], data)


def test_zarr_writes_what_we_cannot_write_exactly(tmp_path):
    root = zarr.open_group(tmp_path / "v3.zarr", mode="w", zarr_format=3)
    sharded = root.create_array(
        "sharded", shape=(64, 64), chunks=(16, 16), shards=(32, 32), dtype="uint8"
    )
    filled = root.create_array("filled", shape=(64, 64), chunks=(16, 16), dtype="u1", fill_value=7)
    v2 = zarr.open_group(tmp_path / "v2.zarr", mode="w", zarr_format=2)
    filtered = v2.create_array(
        "filtered", shape=(64,), chunks=(16,), dtype="i4", filters=[numcodecs.Delta("i4")]
    )
    big_endian = v2.create_array("big", shape=(64,), chunks=(16,), dtype=">u2")
    in_memory = zarr.create_array(zarr.storage.MemoryStore(), shape=(64,), dtype="u2")
    for array in (sharded, filled, filtered, big_endian, in_memory):
        assert chunk_file_writer(array) is None

"""Chunk and shard files we write ourselves must be byte for byte the files zarr writes."""

from __future__ import annotations

import numcodecs
import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec, ZstdCodec

from napari_omezarr_export.core.write.band_writer import count_chunks, iter_write_levels
from napari_omezarr_export.core.write.chunk_files import chunk_file_writer

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


def _create(root, name: str, fmt: int, compressor, dtype: str, shards=None):
    extra = {"chunk_key_encoding": {"name": "v2", "separator": "/"}} if fmt == 2 else {}
    if shards is not None:
        extra["shards"] = shards
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
    ("fmt", "codec", "shards"),
    [(2, name, None) for name in V2_COMPRESSORS]
    + [(3, name, None) for name in V3_COMPRESSORS]
    + [(3, name, (1, 256, 256)) for name in V3_COMPRESSORS]
    + [(3, "blosc-zstd-bit-1MiB", (2, 128, 384))],
)
def test_our_files_are_byte_identical_to_zarrs(tmp_path, rng, fmt, codec, shards, dtype):
    compressors = V2_COMPRESSORS if fmt == 2 else V3_COMPRESSORS
    data = _data(dtype, rng)
    root = zarr.open_group(tmp_path / "store.zarr", mode="w", zarr_format=fmt)
    by_zarr = _create(root, "by_zarr", fmt, compressors[codec], dtype, shards)
    by_zarr[...] = data
    ours = _create(root, "ours", fmt, compressors[codec], dtype, shards)
    writer = chunk_file_writer(ours)
    assert writer is not None
    # Two blocks aligned on whole units, the second ending at the array's edge.
    unit_rows = writer.unit[1]
    for rows in (slice(0, unit_rows), slice(unit_rows, SHAPE[1])):
        index = (slice(0, SHAPE[0]), rows)
        for coords, unit in writer.split(index, data[index]):
            writer.write(coords, unit)

    expected = _files(tmp_path / "store.zarr" / "by_zarr")
    assert expected and _files(tmp_path / "store.zarr" / "ours") == expected
    np.testing.assert_array_equal(ours[...], data)
    if shards is None:  # the all-zero chunks are left out
        assert len(expected) < np.prod([-(-n // c) for n, c in zip(SHAPE, CHUNKS, strict=True)])


def test_an_all_zero_shard_is_left_out(tmp_path):
    root = zarr.open_group(tmp_path / "store.zarr", mode="w", zarr_format=3)
    array = _create(root, "a", 3, V3_COMPRESSORS["zstd"], "uint8", shards=(1, 256, 256))
    writer = chunk_file_writer(array)
    data = np.zeros(SHAPE, np.uint8)
    data[1, 260, 300] = 1
    for coords, unit in writer.split((slice(0, 2),), data):
        writer.write(coords, unit)
    assert sorted(_files(tmp_path / "store.zarr" / "a")) == ["c/1/1/1"]
    np.testing.assert_array_equal(array[...], data)


@pytest.mark.filterwarnings("ignore:Combining a `sharding_indexed` codec")
def test_zarr_writes_what_we_cannot_write_exactly(tmp_path):
    root = zarr.open_group(tmp_path / "v3.zarr", mode="w", zarr_format=3)
    index_at_start = root.create_array(
        "start",
        shape=(64, 64),
        chunks=(16, 16),
        serializer=zarr.codecs.ShardingCodec(chunk_shape=(16, 16), index_location="start"),
        dtype="uint8",
    )
    filled = root.create_array("filled", shape=(64, 64), chunks=(16, 16), dtype="u1", fill_value=7)
    v2 = zarr.open_group(tmp_path / "v2.zarr", mode="w", zarr_format=2)
    filtered = v2.create_array(
        "filtered", shape=(64,), chunks=(16,), dtype="i4", filters=[numcodecs.Delta("i4")]
    )
    big_endian = v2.create_array("big", shape=(64,), chunks=(16,), dtype=">u2")
    in_memory = zarr.create_array(zarr.storage.MemoryStore(), shape=(64,), dtype="u2")
    for array in (index_at_start, filled, filtered, big_endian, in_memory):
        assert chunk_file_writer(array) is None


def test_the_zarr_path_and_ours_write_the_same_pyramid(tmp_path, rng):
    data = _data("uint16", rng)
    shapes = [SHAPE, (2, 150, 259), (2, 75, 130)]
    groups = {
        "zarr": zarr.open_group(zarr.storage.MemoryStore(), mode="w", zarr_format=2),
        "ours": zarr.open_group(tmp_path / "ours.zarr", mode="w", zarr_format=2),
    }
    levels = {}
    for how, group in groups.items():
        arrays = [
            group.create_array(str(i), shape=s, chunks=CHUNKS, dtype="uint16", fill_value=0)
            for i, s in enumerate(shapes)
        ]
        assert (chunk_file_writer(arrays[0]) is None) == (how == "zarr")
        done = sum(iter_write_levels(data, arrays, (1, 2, 2), "mean"))
        assert done == sum(count_chunks(a.shape, a.chunks) for a in arrays)
        levels[how] = [a[...] for a in arrays]
    for by_zarr, ours in zip(levels["zarr"], levels["ours"], strict=True):
        np.testing.assert_array_equal(by_zarr, ours)
    np.testing.assert_array_equal(levels["ours"][0], data)


def test_blocks_off_the_unit_grid_are_left_to_zarr_and_dtypes_are_cast(tmp_path, rng):
    root = zarr.open_group(tmp_path / "store.zarr", mode="w", zarr_format=2)
    array = _create(root, "a", 2, V2_COMPRESSORS["zstd"], "uint16")
    writer = chunk_file_writer(array)
    whole = (slice(0, 2), slice(0, 128))
    assert writer.aligned(whole, np.zeros((2, 128, 517)))
    assert writer.aligned((slice(0, 2), slice(256, 300)), np.zeros((2, 44, 517)))  # the edge
    assert not writer.aligned((slice(0, 2), slice(64, 192)), np.zeros((2, 128, 517)))
    assert not writer.aligned(whole, np.zeros((2, 100, 517)))  # ends inside a chunk
    wide = rng.integers(0, 1000, size=(2, 128, 517)).astype(np.int64)  # stored as uint16
    for coords, unit in writer.split(whole, wide):
        writer.write(coords, unit)
    np.testing.assert_array_equal(array[:, :128], wide)
    assert array[:, :128].dtype == np.uint16

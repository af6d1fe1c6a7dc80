"""Chunk sizing, chunk and shard checks and fitting, shape parsing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_omezarr_export import InvalidOptionError
from napari_omezarr_export.core.options import StorageOptions
from napari_omezarr_export.core.write.chunk_shapes import (
    check_chunks,
    chunks_for_memory_target,
    default_chunks,
    fit_chunks,
    fit_shards,
    format_shape,
    parse_shape,
)


@pytest.mark.parametrize(
    ("shape", "dtype", "target", "axes", "expected"),
    [
        ((2, 4096, 4096), "uint16", 4 * 2**20, "cyx", (1, 1024, 1024)),
        ((2, 4096, 4096), "uint8", 4 * 2**20, "cyx", (1, 2048, 2048)),
        ((3, 300, 200), "uint16", 4 * 2**20, "cyx", (1, 300, 200)),
        ((1, 40, 100, 100), "uint16", 2**20, "czyx", (1, 40, 100, 100)),
        ((1, 40, 256, 256), "float32", 2**20, "czyx", (1, 4, 256, 256)),
        ((1, 16, 100000), "uint8", 2**20, "cyx", (1, 16, 65536)),
    ],
    ids=["uint16-4MiB", "uint8-4MiB", "small-plane", "whole-z", "z-fills-target", "narrow"],
)
def test_chunks_for_memory_target(shape, dtype, target, axes, expected):
    chunks = chunks_for_memory_target(shape, dtype, target, axes)
    assert chunks == expected
    assert math.prod(chunks) * np.dtype(dtype).itemsize <= target
    assert check_chunks(shape, chunks, dtype) == ""


def test_chunks_need_two_dimensions():
    with pytest.raises(ValueError, match="fewer than 2"):
        chunks_for_memory_target((10,), "uint8", 1024)


@pytest.mark.parametrize(
    ("chunks", "shards", "message"),
    [
        ((1, 512), None, "has 2 entries but the image has 3 axes"),
        ((1, 0, 512), None, "below 1"),
        ((1, 20000, 20000), None, "too big"),
        ((1, 8, 8), None, "only 128 bytes"),
        ((1, 256, 256), (1, 300, 256), "whole multiple"),
        ((1, 256, 256), (1, 512), "has 2 entries"),
    ],
    ids=["count", "zero", "huge", "tiny", "shard-multiple", "shard-count"],
)
def test_check_chunks_explains_the_problem(chunks, shards, message):
    assert message in check_chunks((2, 20000, 20000), chunks, "uint16", shards)


def test_check_chunks_accepts_what_the_writer_accepts():
    shape, chunks, shards = (2, 1000, 1000), (1, 256, 256), (1, 512, 1000)
    assert check_chunks(shape, chunks, "uint16", shards) == ""
    assert fit_shards(shape, chunks, shards) is not None
    assert check_chunks(shape, None, "uint16") == ""
    StorageOptions(ngff_version="0.5", chunks=chunks, shards=shards)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1, 512, 512", (1, 512, 512)),
        ("(1,256,256)", (1, 256, 256)),
        ("64x64", (64, 64)),
        ("", None),
    ],
)
def test_parse_and_format_shape(text, expected):
    assert parse_shape(text) == expected
    if expected:
        assert parse_shape(format_shape(expected)) == expected
    assert format_shape(None) == ""


def test_parse_shape_rejects_words():
    with pytest.raises(ValueError, match="not a shape"):
        parse_shape("big")


@pytest.mark.parametrize(
    ("chunks", "shards"),
    [((1, 512), None), ((1, 256, 256), (1, 300, 256)), ((1, 256, 256), (1, 512))],
    ids=["chunk-count", "shard-multiple", "shard-count"],
)
def test_the_writer_refuses_what_the_check_explains(chunks, shards):
    shape = (2, 20000, 20000)
    message = check_chunks(shape, chunks, "uint16", shards)
    with pytest.raises(InvalidOptionError) as refused:
        fit_shards(shape, fit_chunks(shape, chunks), shards)
    assert str(refused.value) == message


def test_fit_chunks_caps_to_the_array_and_defaults_to_1024_on_y_and_x():
    assert fit_chunks((3, 100, 5000), None) == default_chunks((3, 100, 5000)) == (1, 100, 1024)
    assert fit_chunks((3, 100, 5000), (8, 512, 512)) == (3, 100, 512)
    assert fit_shards((3, 100, 5000), (1, 100, 512), (1, 200, 1024)) == (1, 100, 1024)

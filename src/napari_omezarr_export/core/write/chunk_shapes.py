"""Every chunk and shard shape rule: defaults, sizes near a memory target, checks, fitting.

The writer fits shapes with `fit_chunks` and `fit_shards`; the GUI explains problems with
`check_chunks`, which applies the same rules. `StorageOptions` checks only what needs no
array shape (positive entries, shards only on zarr v3).

Nothing here writes or imports napari, Qt or magicgui.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from napari_omezarr_export.core.errors import InvalidOptionError
from napari_omezarr_export.core.options import positive_shape_problem

__all__ = [
    "DEFAULT_CHUNK_YX",
    "MAX_CHUNK_BYTES",
    "check_chunks",
    "chunks_for_memory_target",
    "default_chunks",
    "fit_chunks",
    "fit_shards",
    "format_shape",
    "parse_shape",
]

# Blosc cannot compress buffers above 2 GiB; we stay well below, as readers load whole chunks.
MAX_CHUNK_BYTES = 512 * 2**20
MIN_SENSIBLE_CHUNK_BYTES = 4 * 2**10
DEFAULT_CHUNK_YX = 1024


def chunks_for_memory_target(
    shape: Sequence[int], dtype: Any, target_bytes: int, axes: str | None = None
) -> tuple[int, ...]:
    """Return a chunk shape ``(1, ..., cy, cx)`` whose size is close to ``target_bytes``.

    y and x get the largest power-of-two square (capped to the array) that fits the target;
    when a whole y/x plane fits with room to spare, z chunks grow to use it.

    Parameters
    ----------
    shape : sequence of int
        The array shape in NGFF axis order.
    dtype : numpy dtype or str
        The array's dtype.
    target_bytes : int
        The wanted uncompressed size of one chunk.
    axes : str, optional
        Axis names such as ``"czyx"``; by default the last two axes are y and x.

    Returns
    -------
    tuple of int
        One entry per axis, each between 1 and the axis length.
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) < 2:
        raise InvalidOptionError(
            f"Shape {shape} has fewer than 2 dimensions; chunks need y and x. Give an image "
            "with y and x axes."
        )
    axes = axes or "?" * (len(shape) - 2) + "yx"
    itemsize = np.dtype(dtype).itemsize
    budget = max(1, int(target_bytes) // itemsize)
    ny, nx = shape[-2], shape[-1]
    side = 2 ** max(0, int(math.log2(max(1, math.isqrt(budget)))))
    cy, cx = min(side, ny), min(side, nx)
    # A narrow array leaves budget on one side: give it to the other.
    if cy < side:
        cx = min(nx, max(cx, budget // cy))
    elif cx < side:
        cy = min(ny, max(cy, budget // cx))
    chunks = [1] * (len(shape) - 2) + [cy, cx]
    if "z" in axes and cy == ny and cx == nx:
        iz = axes.index("z")
        chunks[iz] = max(1, min(shape[iz], budget // (cy * cx)))
    return tuple(chunks)


def default_chunks(shape: Sequence[int]) -> tuple[int, ...]:
    """Return the default chunk shape: 1 on leading axes, up to 1024 on y and x.

    Parameters
    ----------
    shape : sequence of int
        The array shape in NGFF axis order.

    Returns
    -------
    tuple of int
        One entry per axis.
    """
    ndim = len(shape)
    return tuple(
        min(DEFAULT_CHUNK_YX, int(n)) if i >= ndim - 2 else 1 for i, n in enumerate(shape)
    )


def _count_problem(what: str, given: tuple[int, ...], shape: tuple[int, ...]) -> str:
    if len(given) == len(shape):
        return ""
    return (
        f"{what} shape {given} has {len(given)} entries but the image has {len(shape)} "
        f"axes {shape}; give one entry per axis."
    )


def _shard_problem(
    shape: tuple[int, ...], chunks: tuple[int, ...], shards: Sequence[int] | None
) -> str:
    """Why ``shards`` do not fit ``chunks`` (already capped to ``shape``), or ``""``."""
    if shards is None:
        return ""
    shards = tuple(int(s) for s in shards)
    problem = _count_problem("Shard", shards, shape) or positive_shape_problem("Shard", shards)
    if problem:
        return problem
    for s, c, n in zip(shards, chunks, shape, strict=True):
        if s < n and s % c:
            suggestion = tuple(
                max(k, math.ceil(min(r, m) / k) * k)
                for r, k, m in zip(shards, chunks, shape, strict=True)
            )
            return (
                f"Shard shape {shards} must be a whole multiple of the chunk shape {chunks} on "
                f"every axis; for example {suggestion}."
            )
    return ""


def fit_chunks(shape: Sequence[int], chunks: Sequence[int] | None) -> tuple[int, ...]:
    """Return the chunk shape to write: ``chunks`` capped to the array, or the default.

    Parameters
    ----------
    shape : sequence of int
        The array shape in NGFF axis order.
    chunks : sequence of int or None
        The requested chunk shape, or None for `default_chunks`.

    Returns
    -------
    tuple of int
        One entry per axis, each between 1 and the axis length.

    Raises
    ------
    InvalidOptionError
        When ``chunks`` does not have one entry per axis.
    """
    shape = tuple(int(n) for n in shape)
    if chunks is None:
        return default_chunks(shape)
    chunks = tuple(int(c) for c in chunks)
    problem = _count_problem("Chunk", chunks, shape)
    if problem:
        raise InvalidOptionError(problem)
    return tuple(max(1, min(c, n)) for c, n in zip(chunks, shape, strict=True))


def fit_shards(
    shape: Sequence[int], chunks: Sequence[int], shards: Sequence[int] | None
) -> tuple[int, ...] | None:
    """Return the shard shape to write: ``shards`` capped to the array, in whole chunks.

    Parameters
    ----------
    shape : sequence of int
        The array shape in NGFF axis order.
    chunks : sequence of int
        The chunk shape, from `fit_chunks`.
    shards : sequence of int or None
        The requested shard shape (zarr v3), or None for no sharding.

    Returns
    -------
    tuple of int or None
        Each entry a whole multiple of the chunk entry, or None when ``shards`` is None.

    Raises
    ------
    InvalidOptionError
        When ``shards`` does not have one entry per axis or is not a whole multiple of
        ``chunks`` where it is smaller than the array.
    """
    shape, chunks = tuple(int(n) for n in shape), tuple(int(c) for c in chunks)
    problem = _shard_problem(shape, chunks, shards)
    if problem:
        raise InvalidOptionError(problem)
    if shards is None:
        return None
    capped = (min(int(s), n) for s, n in zip(shards, shape, strict=True))
    return tuple(math.ceil(s / c) * c for s, c in zip(capped, chunks, strict=True))


def check_chunks(
    shape: Sequence[int],
    chunks: Sequence[int] | None,
    dtype: Any,
    shards: Sequence[int] | None = None,
) -> str:
    """Return a message explaining what is wrong with a chunk (and shard) shape, or ``""``.

    The same rules as `fit_chunks` and `fit_shards` (which the writer applies), plus advice
    on chunk sizes: too big to read or compress well, or so small that files multiply.

    Parameters
    ----------
    shape : sequence of int
        The array shape in NGFF axis order.
    chunks : sequence of int or None
        The chunk shape; None means the writer's default and is always fine.
    dtype : numpy dtype or str
        The array's dtype, to size the chunks.
    shards : sequence of int, optional
        The shard shape (zarr v3 only).

    Returns
    -------
    str
        An empty string when the shapes are fine, else a sentence saying what to change.
    """
    if chunks is None:
        return ""
    shape, chunks = tuple(int(n) for n in shape), tuple(int(c) for c in chunks)
    problem = _count_problem("Chunk", chunks, shape)
    if problem:
        return problem
    if problem := positive_shape_problem("Chunk", chunks):
        return problem
    capped = fit_chunks(shape, chunks)
    nbytes = math.prod(capped) * np.dtype(dtype).itemsize
    if nbytes > MAX_CHUNK_BYTES:
        return (
            f"Chunks of {chunks} are {nbytes / 2**20:.0f} MiB each, too big to read or compress "
            f"well; keep them under {MAX_CHUNK_BYTES // 2**20} MiB (a few MiB is typical)."
        )
    if nbytes < MIN_SENSIBLE_CHUNK_BYTES and math.prod(shape) > math.prod(capped):
        return (
            f"Chunks of {chunks} are only {nbytes} bytes each; that many tiny files is slow. "
            "Use larger y and x chunks (for example 256 or more)."
        )
    return _shard_problem(shape, capped, shards)


def parse_shape(text: str) -> tuple[int, ...] | None:
    """Parse ``"1, 1, 512, 512"`` (commas, spaces or ``x``) into a tuple; ``""`` gives None.

    Parameters
    ----------
    text : str
        The shape as typed.

    Returns
    -------
    tuple of int or None
        The shape, or None for empty text.
    """
    cleaned = text.replace("x", ",").replace("(", "").replace(")", "").replace(" ", ",")
    parts = [p for p in cleaned.split(",") if p.strip()]
    if not parts:
        return None
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        raise InvalidOptionError(
            f"{text!r} is not a shape; write whole numbers separated by commas, "
            "like '1, 512, 512'."
        ) from None


def format_shape(shape: Sequence[int] | None) -> str:
    """Return a shape as ``"1, 512, 512"`` (the inverse of `parse_shape`).

    Parameters
    ----------
    shape : sequence of int or None
        The shape.

    Returns
    -------
    str
        Comma-separated entries, or ``""`` for None.
    """
    return "" if shape is None else ", ".join(str(int(n)) for n in shape)

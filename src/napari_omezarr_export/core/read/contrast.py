"""The one contrast sampler: display limits from a small, bounded sample of an image.

The reader fills missing ``omero`` windows with it, and the export widget's "Windows from
data" uses it too. A sample is the smallest level's middle plane, cropped to a central
1024-pixel window on y and x, so even a huge single-level image costs only a few chunk
reads; its limits are the 0.1 and 99.9 percentiles of the finite values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["limits_from_plane", "sample_plane", "window_from_sample"]

_SAMPLE_EDGE = 1024


def sample_plane(levels: list[Any], spatial: tuple[int, ...]) -> Any:
    """Take a lazy sample of one channel for contrast limits: the smallest level's middle plane.

    Every non-spatial axis is indexed at its middle; spatial axes longer than 1024 pixels are
    cropped to a central 1024-pixel window, so even a huge single-level image costs only a few
    chunk reads.

    Parameters
    ----------
    levels : list of dask.array.Array
        One channel's levels, largest first.
    spatial : tuple of int
        Indices of the axes kept (usually y and x).

    Returns
    -------
    dask.array.Array
        The lazy sample.
    """
    level = levels[-1]
    index: list[Any] = []
    for axis, n in enumerate(level.shape):
        if axis not in spatial:
            index.append(n // 2)
        elif n > _SAMPLE_EDGE:
            start = (n - _SAMPLE_EDGE) // 2
            index.append(slice(start, start + _SAMPLE_EDGE))
        else:
            index.append(slice(None))
    return level[tuple(index)]


def limits_from_plane(plane: Any) -> tuple[float, float]:
    """Contrast limits from sampled pixels: the 0.1 and 99.9 percentiles (finite values only).

    Parameters
    ----------
    plane : array-like
        Sampled pixels (computed).

    Returns
    -------
    tuple of float
        (low, high) with high > low.
    """
    plane = np.asarray(plane)
    values = plane[np.isfinite(plane)] if plane.dtype.kind in "fc" else plane.ravel()
    if values.size == 0:
        return (0.0, 1.0)
    if values.dtype == bool:
        values = values.astype(np.uint8)
    low, high = (float(v) for v in np.percentile(values, [0.1, 99.9]))
    if high <= low:
        low, high = float(values.min()), float(values.max())
    if high <= low:
        high = low + 1.0
    return (low, high)


def window_from_sample(data: Any, spatial: tuple[int, ...] | None = None) -> tuple[float, float]:
    """Return contrast limits for one channel from the sample `sample_plane` takes of it.

    Parameters
    ----------
    data : array-like
        One channel's level, ideally the lowest-resolution one (numpy, dask or zarr).
    spatial : tuple of int, optional
        The axes kept whole (up to 1024 pixels); by default the last two (y and x).

    Returns
    -------
    tuple of float
        (low, high) with high > low.
    """
    spatial = tuple(range(data.ndim))[-2:] if spatial is None else spatial
    return limits_from_plane(np.asarray(sample_plane([data], spatial)))

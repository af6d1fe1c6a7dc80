"""One contrast sampler: the reader's missing windows and the widget's "Windows from data"."""

from __future__ import annotations

import dask.array as da
import numpy as np

from napari_omezarr_export.core.read.contrast import (
    limits_from_plane,
    sample_plane,
    window_from_sample,
)


def test_a_sample_is_the_smallest_levels_middle_plane_cropped_to_1024():
    big = da.zeros((5, 3000, 1500), dtype=np.uint16, chunks=(1, 512, 512))
    small = da.zeros((5, 100, 50), dtype=np.uint16, chunks=(1, 100, 50))
    assert sample_plane([big], (1, 2)).shape == (1024, 1024)
    assert sample_plane([big, small], (1, 2)).shape == (100, 50)


def test_limits_are_the_finite_percentiles_and_never_empty():
    data = np.arange(1000 * 1000, dtype=np.float32).reshape(1000, 1000)
    low, high = window_from_sample(data)
    assert 0 < low < 0.01 * data.max() and 0.99 * data.max() < high < data.max()
    assert window_from_sample(np.full((4, 4), 7, np.uint8)) == (7.0, 8.0)
    assert limits_from_plane(np.full((3, 3), np.nan)) == (0.0, 1.0)
    assert limits_from_plane(np.array([[np.nan, 1.0], [2.0, np.inf]]))[0] >= 1.0


def test_window_from_sample_reads_one_plane_of_a_stack_lazily():
    planes = np.stack([np.full((8, 8), v, np.uint16) for v in (10, 20, 30)])
    stack = da.from_array(planes, chunks=(1, 8, 8))
    assert window_from_sample(stack) == (20.0, 21.0)  # the middle plane only

"""`Concatenated` reads exactly what `numpy.concatenate` would hold, without copying layers."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_omezarr_export.core.write.stacking import Concatenated

_LENGTHS = st.lists(st.integers(1, 3), min_size=1, max_size=4)
_BOUND = st.integers(-8, 8) | st.none()


@settings(max_examples=60, deadline=None)
@given(
    lengths=_LENGTHS, start=_BOUND, stop=_BOUND, column=st.integers(0, 4), as_dask=st.booleans()
)
def test_reads_equal_numpy_concatenate(lengths, start, stop, column, as_dask):
    rng = np.random.default_rng(len(lengths))
    arrays = [rng.integers(0, 1000, size=(n, 3, 5), dtype=np.uint16) for n in lengths]
    parts = [da.from_array(a, chunks=1) if as_dask and i % 2 else a for i, a in enumerate(arrays)]
    joined, expected = Concatenated(parts), np.concatenate(arrays)
    assert joined.shape == expected.shape and joined.dtype == expected.dtype
    for index in [
        slice(start, stop),
        (slice(start, stop), slice(1, 3), column),
        (Ellipsis, column),
    ]:
        np.testing.assert_array_equal(joined[index], expected[index])
    for row in range(-len(expected), len(expected)):
        np.testing.assert_array_equal(joined[row], expected[row])
    np.testing.assert_array_equal(np.asarray(joined), expected)


def test_a_read_within_one_layer_is_a_view_of_it():
    layers = [np.zeros((1, 64, 64), np.uint16), np.ones((1, 64, 64), np.uint16)]
    band = Concatenated(layers)[1:2, :32]
    assert np.shares_memory(band, layers[1])


def test_mismatched_shapes_and_fancy_indices_are_refused():
    with pytest.raises(ValueError, match="cannot be joined along axis 0"):
        Concatenated([np.zeros((1, 4, 4)), np.zeros((1, 4, 5))])
    joined = Concatenated([np.zeros((2, 4)), np.zeros((1, 4))])
    with pytest.raises(TypeError, match="plain slice"):
        joined[::2]
    with pytest.raises(IndexError, match="out of bounds"):
        joined[3]

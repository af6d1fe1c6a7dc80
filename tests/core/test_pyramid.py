import numpy as np
import pytest

from napari_omezarr_export import InvalidOptionError
from napari_omezarr_export.core.ngff.axes import Axis
from napari_omezarr_export.core.options import PyramidOptions
from napari_omezarr_export.core.write.pyramid import downsample, level_factors, plan_level_shapes

YX = [Axis("c"), Axis("y"), Axis("x")]


def test_mean_rounds_half_up_without_overflow():
    block = np.array([[65535, 65535], [65535, 65534]], dtype=np.uint16)
    assert downsample(block, (2, 2), "mean").tolist() == [[65535]]  # 262139/4 = 65534.75
    block = np.array([[1, 2], [2, 2]], dtype=np.uint8)
    assert downsample(block, (2, 2), "mean").tolist() == [[2]]  # 7/4 = 1.75 -> 2


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint32, np.uint64])
def test_mean_extremes_stay_in_range(dtype):
    info = np.iinfo(dtype)
    block = np.array([[info.max, info.max], [info.max, info.max]], dtype=dtype)
    assert downsample(block, (2, 2), "mean")[0, 0] == info.max
    block = np.array([[info.min, info.min], [info.min, info.min]], dtype=dtype)
    assert downsample(block, (2, 2), "mean")[0, 0] == info.min


def test_float_mean_and_odd_edges():
    block = np.arange(15, dtype=np.float32).reshape(3, 5)
    out = downsample(block, (2, 2), "mean")
    assert out.shape == (2, 3) and out.dtype == np.float32
    assert out[0, 0] == pytest.approx((0 + 1 + 5 + 6) / 4)
    assert out[1, 2] == pytest.approx(14)  # the corner pixel alone, repeated by edge padding


def test_label_methods_never_invent_values(rng):
    labels = rng.integers(0, 5, size=(64, 64)).astype(np.int32) * 7
    for method in ("nearest", "mode"):
        out = downsample(labels, (2, 2), method)
        assert set(np.unique(out)) <= set(np.unique(labels))
    assert downsample(labels, (2, 2), "nearest").tolist() == labels[::2, ::2].tolist()


def test_mode_picks_the_most_frequent_value():
    block = np.array([[3, 9], [9, 9]], dtype=np.int32)
    assert downsample(block, (2, 2), "mode").tolist() == [[9]]
    block = np.array([[3, 9], [4, 5]], dtype=np.int32)
    assert downsample(block, (2, 2), "mode").tolist() == [[3]]  # a tie goes to top-left


def test_max_and_min():
    block = np.array([[1, 8], [3, 2]], dtype=np.uint16)
    assert downsample(block, (2, 2), "max").tolist() == [[8]]
    assert downsample(block, (2, 2), "min").tolist() == [[1]]


def test_automatic_levels_stop_when_one_chunk_holds_a_level():
    factors = level_factors(YX)
    shapes = plan_level_shapes((3, 8192, 5000), factors, (1, 1024, 1024), PyramidOptions())
    assert shapes == [(3, 8192, 5000), (3, 4096, 2500), (3, 2048, 1250), (3, 1024, 625)]


def test_z_is_halved_only_when_asked():
    axes = [Axis("z"), Axis("y"), Axis("x")]
    assert level_factors(axes) == (1, 2, 2)
    assert level_factors(axes, downsample_z=True) == (2, 2, 2)


def test_explicit_levels_beyond_one_pixel_is_an_error():
    with pytest.raises(InvalidOptionError, match="at most 3 pyramid levels"):
        plan_level_shapes((1, 4, 4), (1, 2, 2), (1, 4, 4), PyramidOptions(levels=5))

import pytest

from napari_omezarr_export import InvalidOptionError
from napari_omezarr_export.core.ngff.attributes import level_transforms
from napari_omezarr_export.core.ngff.axes import Axis, default_axis_names, ngff_unit, resolve_axes
from napari_omezarr_export.core.ngff.colors import css_hex, hex_digits, hex_to_rgb, rgb_to_hex
from napari_omezarr_export.core.options import ChannelStyle, PyramidOptions, StorageOptions


def test_level_transforms_follow_pixel_centres():
    levels = level_transforms([1.0, 0.5, 0.5], [0.0, 10.0, 20.0], [1, 2, 2], 3)
    assert levels[1] == [
        {"type": "scale", "scale": [1.0, 1.0, 1.0]},
        {"type": "translation", "translation": [0.0, 10.25, 20.25]},
    ]
    assert levels[2][0]["scale"] == [1.0, 2.0, 2.0]
    assert levels[2][1]["translation"] == [0.0, 10.75, 20.75]


@pytest.mark.parametrize(
    ("ndim", "channels", "names"),
    [(2, False, "yx"), (3, False, "zyx"), (3, True, "cyx"), (4, False, "tzyx"),
     (4, True, "czyx"), (5, True, "tczyx")],
)  # fmt: skip
def test_default_axis_names(ndim, channels, names):
    assert default_axis_names(ndim, has_channels=channels) == names


def test_axes_in_another_order_are_transposed():
    axes, order = resolve_axes(3, ["y", "x", "Z"], ["um", "um", "nm"])
    assert [a.name for a in axes] == ["z", "y", "x"]
    assert order == (2, 0, 1)
    assert [a.unit for a in axes] == ["nanometer", "micrometer", "micrometer"]


def test_units():
    assert ngff_unit("pixel", "x") is None
    assert ngff_unit("µm", "y") == "micrometer"
    assert ngff_unit("s", "t") == "second"
    assert Axis("c", unit="micrometer").to_json() == {"name": "c", "type": "channel"}


def test_options_are_checked_with_clear_messages():
    with pytest.raises(InvalidOptionError, match="choose one of 'blosc-zstd'"):
        StorageOptions(codec="gzip")
    with pytest.raises(InvalidOptionError, match="Shards need zarr v3"):
        StorageOptions(shards=(1, 2048, 2048))
    with pytest.raises(InvalidOptionError, match="6-digit hex"):
        ChannelStyle("GFP", "green")
    with pytest.raises(InvalidOptionError, match="start <= end"):
        ChannelStyle("GFP", "00FF00", 10, 5)
    with pytest.raises(InvalidOptionError, match="'mean', 'nearest'"):
        PyramidOptions(image_method="bilinear")
    assert ChannelStyle("GFP", "#00ff00").color == "00FF00"


@pytest.mark.parametrize(
    ("value", "digits"),
    [
        ("#00ff00", "00FF00"),
        ("00FF00", "00FF00"),
        (" 12ab34 ", "12AB34"),
        ("#12AB34FF", "12AB34"),
        ("green", None),
        ("#0f0", None),
        (0x00FF00, None),
        (None, None),
    ],
)
def test_one_hex_colour_rule(value, digits):
    assert hex_digits(value) == digits
    assert css_hex(value) == (f"#{digits.lower()}" if digits else None)
    if digits:
        assert ChannelStyle("a", color=value).color == digits
        assert rgb_to_hex(hex_to_rgb(value)) == digits
    else:
        with pytest.raises(InvalidOptionError, match="6-digit hex colour"):
            ChannelStyle("a", color=value)


def test_rgb_to_hex_drops_alpha():
    assert rgb_to_hex((1.0, 0.5, 0.0, 1.0)) == "FF8000"

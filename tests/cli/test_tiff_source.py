"""TIFF and OME-TIFF files as lazy images (core/sources/tiff.py): data, axes, names and scale."""

from __future__ import annotations

import pickle

import dask
import numpy as np
import pytest

from convert_fixtures import files_open_under
from napari_omezarr_export.core.errors import (
    InvalidOptionError,
    StoreAccessError,
    StoreFormatError,
)
from napari_omezarr_export.core.sources import tiff as tiff_source
from napari_omezarr_export.core.sources.tiff import map_axes, open_tiff

tifffile = pytest.importorskip("tifffile")


def _ome_tiff(path, data, **metadata):
    tifffile.imwrite(path, data, ome=True, metadata={"axes": "ZCYX", **metadata})
    return path


def test_an_ome_tiff_gives_its_channel_names_pixel_sizes_and_lazy_data(tmp_path, rng):
    data = rng.integers(0, 4000, (2, 3, 40, 24), dtype="uint16")
    path = _ome_tiff(
        tmp_path / "cells.ome.tif",
        data,
        Channel={"Name": ["DAPI", "GFP", "RFP"]},
        PhysicalSizeX=0.25,
        PhysicalSizeY=0.5,
        PhysicalSizeZ=2.0,
        PhysicalSizeZUnit="nm",
    )

    image = open_tiff(path)

    assert image.axes == "zcyx"
    assert image.channel_names == ["DAPI", "GFP", "RFP"]
    assert image.scale == {"x": 0.25, "y": 0.5, "z": 2.0}
    assert image.units == {"x": "micrometer", "y": "micrometer", "z": "nanometer"}
    # lazy: one chunk per page, as the file stores them; the values are the file's
    assert image.data.chunks == ((1, 1), (1, 1, 1), (40,), (24,))
    np.testing.assert_array_equal(image.data.compute(), data)


def test_open_tiff_reads_no_pixels_until_asked(tmp_path, rng):
    data = rng.integers(0, 255, (3, 16, 16), dtype="uint8")
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, data, photometric="minisblack")

    image = open_tiff(path)
    path.unlink()  # had open_tiff read the pixels, computing would still work

    with pytest.raises(FileNotFoundError):
        image.data.compute()


def test_a_plain_multipage_tiff_is_a_z_stack_without_scale(tmp_path, rng):
    data = rng.integers(0, 255, (5, 32, 20), dtype="uint8")
    path = tmp_path / "pages.tiff"
    tifffile.imwrite(path, data)

    image = open_tiff(path)

    assert (image.axes, image.channel_names, image.scale, image.units) == ("zyx", None, {}, {})
    np.testing.assert_array_equal(image.data[2:4, 5:9].compute(), data[2:4, 5:9])


def test_rgb_samples_are_channels_and_centimetre_resolution_is_a_pixel_size(tmp_path, rng):
    data = rng.integers(0, 255, (24, 32, 3), dtype="uint8")
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(
        path, data, photometric="rgb", resolution=(1e4 / 0.5, 1e4 / 0.5),
        resolutionunit="CENTIMETER",
    )  # fmt: skip

    image = open_tiff(path)

    assert image.axes == "yxc"
    assert image.scale == pytest.approx({"y": 0.5, "x": 0.5})
    assert image.units == {"y": "micrometer", "x": "micrometer"}


def test_inch_resolution_is_not_taken_for_a_pixel_size(tmp_path, rng):
    path = tmp_path / "dpi.tif"
    tifffile.imwrite(path, rng.integers(0, 255, (8, 8), dtype="uint8"), resolution=(72, 72),
                     resolutionunit="INCH")  # fmt: skip
    assert open_tiff(path).scale == {}


def test_an_imagej_hyperstack_keeps_its_axes_spacing_and_frame_interval(tmp_path, rng):
    data = rng.integers(0, 4000, (2, 3, 2, 16, 16), dtype="uint16")  # TZCYX
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(
        path, data, imagej=True, resolution=(4.0, 4.0),
        metadata={"axes": "TZCYX", "unit": "um", "spacing": 1.5, "finterval": 30},
    )  # fmt: skip

    image = open_tiff(path)

    assert image.axes == "tzcyx"
    assert image.scale == {"x": 0.25, "y": 0.25, "z": 1.5, "t": 30.0}
    assert image.units == {"x": "micrometer", "y": "micrometer", "z": "micrometer", "t": "second"}
    np.testing.assert_array_equal(image.data.compute(), data)


def test_the_lazy_array_pickles_and_reads_in_another_copy(tmp_path, rng):
    data = rng.integers(0, 255, (4, 16, 16), dtype="uint8")
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, data, photometric="minisblack")
    image = open_tiff(path)
    image.data[0].compute()  # the original has the file open now

    copy = pickle.loads(pickle.dumps(image.data))

    with dask.config.set(scheduler="threads"):
        np.testing.assert_array_equal(copy.compute(), data)


def test_the_pickled_array_finds_its_file_from_another_working_folder(tmp_path, rng, monkeypatch):
    data = rng.integers(0, 255, (2, 16, 16), dtype="uint8")
    tifffile.imwrite(tmp_path / "stack.tif", data, photometric="minisblack")
    monkeypatch.chdir(tmp_path)
    image = open_tiff("stack.tif")  # relative, as typed on a command line

    pickled = pickle.dumps(image.data)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # a dask worker started in another folder

    with dask.config.set(scheduler="sync"):
        np.testing.assert_array_equal(pickle.loads(pickled).compute(), data)
    assert image.path == tmp_path / "stack.tif"


def test_close_closes_the_file_and_a_later_read_opens_it_again(tmp_path, rng):
    data = rng.integers(0, 255, (3, 16, 16), dtype="uint8")
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, data, photometric="minisblack")
    image = open_tiff(path)
    assert files_open_under(tmp_path) == []  # metadata read, file closed

    with dask.config.set(scheduler="sync"):
        np.testing.assert_array_equal(image.data[1, :8].compute(), data[1, :8])
        assert files_open_under(tmp_path) == [str(path)]
        image.close()
        assert files_open_under(tmp_path) == []
        np.testing.assert_array_equal(image.data.compute(), data)
    image.close()
    image.close()  # closing twice is harmless
    assert files_open_under(tmp_path) == []


def test_a_file_that_is_not_a_tiff_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.tif"
    path.write_text("these are notes, not pixels")

    with pytest.raises(StoreFormatError, match=r"notes\.tif is not a TIFF file"):
        open_tiff(path)


def test_a_truncated_tiff_says_it_is_damaged(tmp_path):
    path = tmp_path / "cut.tif"
    path.write_bytes(b"II*\x00garbage")  # a TIFF header, then nothing readable

    with pytest.raises(StoreFormatError, match=r"cut\.tif starts like a TIFF but holds no"):
        open_tiff(path)


def test_a_missing_file_is_an_access_error(tmp_path):
    with pytest.raises(StoreAccessError, match=r"Cannot read .*missing\.tif"):
        open_tiff(tmp_path / "missing.tif")


def test_a_series_past_the_last_is_refused(tmp_path, rng):
    path = tmp_path / "one.tif"
    tifffile.imwrite(path, rng.integers(0, 255, (8, 8), dtype="uint8"))
    with pytest.raises(StoreFormatError, match="has 1 image series; there is no series 3"):
        open_tiff(path, series=3)


@pytest.mark.parametrize(
    ("tiff_axes", "expected"),
    [
        ("YX", "yx"),
        ("QYX", "zyx"),
        ("IYX", "zyx"),
        ("QQYX", "tzyx"),
        ("CQYX", "czyx"),
        ("ZQYX", "ztyx"),
        ("YXS", "yxc"),
        ("TZCYX", "tzcyx"),
    ],
)
def test_tifffile_axes_map_to_ngff_names(tiff_axes, expected):
    assert map_axes(tiff_axes) == expected


@pytest.mark.parametrize("tiff_axes", ["QQQQYX", "ZYXQTCV", "QZX", "CYXS"])
def test_axes_that_do_not_fit_tczyx_are_refused(tiff_axes):
    with pytest.raises(InvalidOptionError, match="do not fit OME-Zarr's t, c, z, y, x"):
        map_axes(tiff_axes)


def test_any_slice_of_the_lazy_array_reads_the_right_pixels(tmp_path, rng):
    data = rng.integers(0, 4000, (3, 2, 64, 96), dtype="uint16")
    path = tmp_path / "tiled.ome.tif"
    tifffile.imwrite(path, data, ome=True, tile=(32, 32), metadata={"axes": "ZCYX"})
    image = open_tiff(path)
    assert image.data.chunksize == (1, 1, 32, 32)

    for key in [
        (slice(None), 1, slice(5, 40), slice(30, 70)),  # across tiles
        (2, 0, slice(3, 9), slice(33, 35)),  # inside one tile
        (slice(0, 3, 2), slice(None), slice(60, 64), slice(None, None, 5)),  # steps
        (1, 1, 63, 95),  # one pixel
        (np.int64(2), slice(None), slice(1, 2), slice(64, 96)),  # a numpy index
    ]:
        np.testing.assert_array_equal(image.data[key].compute(), data[key])


def test_a_page_read_in_bands_is_decoded_once(tmp_path, rng, monkeypatch):
    data = rng.integers(0, 4000, (2, 64, 32), dtype="uint16")
    path = tmp_path / "pages.tif"
    tifffile.imwrite(path, data, photometric="minisblack")  # one strip per page
    image = open_tiff(path)
    assert image.data.chunksize == (1, 64, 32)
    decoded = []
    real_opened = tiff_source._TiffLevel._opened

    class Counting:
        def __init__(self, array):
            self.array = array

        def __getitem__(self, key):
            decoded.append(key)
            return self.array[key]

    monkeypatch.setattr(tiff_source._TiffLevel, "_opened", lambda s: Counting(real_opened(s)))

    with dask.config.set(scheduler="sync"):
        bands = [image.data[z, y : y + 16].compute() for z in (0, 1) for y in range(0, 64, 16)]

    np.testing.assert_array_equal(np.stack(bands).reshape(2, 64, 32), data)
    assert len(decoded) == 2  # one whole page each, not one read per band

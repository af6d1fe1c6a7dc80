"""Stores written by the peers (ome-zarr-py, bioio-ome-zarr, ngff-zarr) open faithfully."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

import napari_omezarr_export
from validation import assert_valid_store


def read(path):
    return {s.name: s for s in napari_omezarr_export.read(path)}


@pytest.fixture
def data(rng):
    data = rng.integers(100, 300, size=(2, 64, 64)).astype("uint16")
    data[:, 10:30, 10:30] = 3000
    return data


def _omero(window):
    return {
        "channels": [
            {"label": "DAPI", "color": "0000FF", "active": True, "window": window},
            {"label": "GFP", "color": "00FF00", "active": False, "window": window},
        ]
    }


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_py(tmp_path, data, version):
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.writer import write_image, write_labels

    fmt = FormatV04() if version == "0.4" else FormatV05()
    path = tmp_path / f"ozp{version}.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=fmt.zarr_format)
    window = {"start": 100, "end": 3000, "min": 0, "max": 65535}
    write_image(data, group, axes="cyx", fmt=fmt, scale_factors=(2,),
                scale={"y": 0.5, "x": 0.5}, axes_units={"y": "micrometer", "x": "micrometer"},
                omero=_omero(window))  # fmt: skip
    labels = np.zeros((64, 64), dtype="int32")
    labels[10:30, 10:30] = 7
    write_labels(labels, group, name="cells", axes="yx", fmt=fmt, scaler=None,
                 scale_factors=(2,),
                 scale={"y": 0.5, "x": 0.5},
                 label_metadata={"colors": [{"label-value": 7, "rgba": [255, 255, 0, 255]}],
                                 "properties": [{"label-value": 7, "class": "big"}]})  # fmt: skip
    if version == "0.4":
        assert_valid_store(path)
    specs = read(path)
    dapi, gfp, cells = specs["DAPI"], specs["GFP"], specs["cells"]
    assert dapi.color == "#0000ff" and gfp.color == "#00ff00"
    assert dapi.kwargs["contrast_limits"] == (100, 3000)
    assert gfp.kwargs["visible"] is False
    assert dapi.kwargs["scale"] == (0.5, 0.5)
    assert len(dapi.data) == 2 and dapi.data[1].shape == (32, 32)
    np.testing.assert_array_equal(np.asarray(dapi.data[0]), data[0])
    assert cells.kwargs["scale"] == (0.5, 0.5)
    assert cells.label_colors[7] == (1.0, 1.0, 0.0, 1.0)
    assert cells.kwargs["features"].to_dict("records") == [{"index": 7, "class": "big"}]
    assert np.asarray(cells.data[0]).max() == 7
    assert cells.kwargs["metadata"]["ome_zarr"]["version"] == version
    # the label image dropped alone finds its image
    (alone,) = read(path / "labels" / "cells").values()
    assert alone.kwargs["metadata"]["ome_zarr"]["image"] == str(path)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_bioio_ome_zarr_writer(tmp_path, data, zarr_format):
    from bioio_ome_zarr.writers import Channel, OMEZarrWriter

    path = tmp_path / f"bioio{zarr_format}.zarr"
    window = {"min": 0, "max": 65535, "start": 0, "end": 65535}  # the dtype's full range
    channels = [Channel(label=n, color=c, window=window) for n, c in
                (("DAPI", "0000FF"), ("mCherry", "FF0000"))]  # fmt: skip
    writer = OMEZarrWriter(
        str(path), level_shapes=[(2, 64, 64), (2, 32, 32)], dtype="uint16",
        zarr_format=zarr_format, channels=channels, axes_names=["c", "y", "x"],
        axes_types=["channel", "space", "space"],
        axes_units=[None, "micrometer", "micrometer"], physical_pixel_size=[1.0, 0.2, 0.2],
    )  # fmt: skip
    writer.write_full_volume(data)
    specs = read(path)
    assert list(specs) == ["DAPI", "mCherry"]
    dapi = specs["DAPI"]
    assert dapi.kwargs["scale"] == pytest.approx((0.2, 0.2))
    assert dapi.kwargs["units"] == ("micrometer", "micrometer")
    low, high = dapi.kwargs["contrast_limits"]  # 0-65535 window replaced from the data
    assert 100 <= low and high <= 3000
    assert len(dapi.data) == 2


def test_ngff_zarr_translation_and_sharding(tmp_path, data):
    import ngff_zarr as nz

    image = nz.to_ngff_image(data, dims=["c", "y", "x"], scale={"y": 0.4, "x": 0.4},
                             translation={"y": 12.0, "x": -3.0},
                             axes_units={"y": "micrometer", "x": "micrometer"})  # fmt: skip
    ms = nz.to_multiscales(image, scale_factors=[2], chunks=16)
    path = tmp_path / "ngff.ome.zarr"
    nz.to_ngff_zarr(str(path), ms, version="0.5", chunks_per_shard=2)
    assert (path / "zarr.json").is_file()
    specs = list(read(path).values())
    assert len(specs) == 2
    spec = specs[0]
    assert spec.kwargs["scale"] == pytest.approx((0.4, 0.4))
    assert spec.kwargs["translate"] == pytest.approx((12.0, -3.0))
    assert spec.kwargs["axis_labels"] == ("y", "x")
    np.testing.assert_array_equal(np.asarray(spec.data[0]), data[0])

"""Stores we write open in the reference readers with the same values, dims and names."""

import numpy as np
import pytest
from ome_zarr.io import parse_url
from ome_zarr.reader import Label, Multiscales, Reader

from napari_omezarr_export import ChannelStyle, LabelsSpec, StorageOptions, write_image

NAMES = ["DAPI", "GFP", "mCherry"]


@pytest.fixture(params=["0.4", "0.5"])
def store(request, tmp_path, rng):
    image = rng.poisson(600, size=(3, 256, 384)).astype(np.uint16)
    labels = np.zeros((256, 384), np.int32)
    labels[20:120, 30:200] = 4
    labels[130:250, 210:380] = 9
    styles = [
        ChannelStyle(n, c, 10, 1000)
        for n, c in zip(NAMES, ["0000FF", "00FF00", "FF0000"], strict=True)
    ]
    [path] = write_image(
        image, tmp_path / f"interop_{request.param}", channels=styles,
        scale=(1, 0.25, 0.25), units=(None, "micrometer", "micrometer"),
        labels=[LabelsSpec(labels, "cells", colors={4: (255, 0, 0, 255), 9: (0, 255, 0, 255)})],
        storage=StorageOptions(ngff_version=request.param, chunks=(1, 128, 128)),
    )  # fmt: skip
    return path, image, labels, request.param


def test_ome_zarr_py_reader(store):
    path, image, labels, _ = store
    nodes = list(Reader(parse_url(str(path)))())
    multiscale = next(n for n in nodes if n.load(Multiscales) and not n.load(Label))
    np.testing.assert_array_equal(np.asarray(multiscale.data[0]), image)
    assert multiscale.metadata["channel_names"] == NAMES
    assert multiscale.metadata["axes"][0]["name"] == "c"
    label_node = next(n for n in nodes if n.load(Label))
    np.testing.assert_array_equal(np.asarray(label_node.data[0]), labels)
    assert len(label_node.data) == len(multiscale.data)


def test_bioio_ome_zarr(store):
    from bioio_ome_zarr import Reader as BioReader

    path, image, _, _ = store
    reader = BioReader(path)
    assert reader.channel_names == NAMES
    assert reader.dims.C == 3 and reader.dims.Y == 256 and reader.dims.X == 384
    np.testing.assert_array_equal(np.asarray(reader.get_image_dask_data("CYX")), image)
    assert reader.physical_pixel_sizes.X == pytest.approx(0.25)


def test_napari_ome_zarr_reader(store):
    from napari_ome_zarr import napari_get_reader

    path, image, labels, _ = store
    layers = napari_get_reader(str(path))(str(path))
    images = [layer for layer in layers if layer[2] == "image"]
    found_labels = [layer for layer in layers if layer[2] == "labels"]
    assert images and found_labels
    data, kwargs, _ = images[0]
    np.testing.assert_array_equal(np.asarray(data[0]), image)
    # napari-ome-zarr prefixes each channel with the image's name: "image: DAPI".
    assert [name.split(": ")[-1] for name in kwargs["name"]] == NAMES
    assert kwargs["contrast_limits"][1] == [10, 1000]
    np.testing.assert_array_equal(np.asarray(found_labels[0][0][0]), labels)

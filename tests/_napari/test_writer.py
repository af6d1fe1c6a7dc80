"""File > Save Layers > OME-Zarr, driven through a real viewer as a user would."""

import json

import numpy as np
import pytest
import zarr

from napari_omezarr_export import WriteFailedError
from validation import assert_valid_store

PLUGIN = "napari-omezarr-export"


def _attrs(path):
    return json.loads((path / ".zattrs").read_text())


def _select(viewer, *names):
    viewer.layers.selection.clear()
    for name in names:
        viewer.layers.selection.add(viewer.layers[name])


@pytest.fixture
def viewer(make_napari_viewer, rng):
    viewer = make_napari_viewer()
    image = rng.poisson(500, size=(2, 200, 300)).astype(np.uint16)
    viewer.add_image(image, channel_axis=0, name=["DAPI", "GFP"], colormap=["blue", "green"],
                     contrast_limits=[(10, 900), (20, 800)], scale=(0.5, 0.5),
                     translate=(3, 4), units=("um", "um"))  # fmt: skip
    labels = np.zeros((200, 300), np.int32)
    labels[20:80, 40:120] = 5
    labels[100:180, 150:280] = 6
    viewer.add_labels(labels, name="cells", scale=(0.5, 0.5), translate=(3, 4),
                      features={"index": [5, 6], "area": [4800.0, 10400.0]})  # fmt: skip
    return viewer


def test_images_and_labels_save_as_one_store(viewer, tmp_path):
    _select(viewer, "DAPI", "GFP", "cells")
    written = viewer.layers.save(str(tmp_path / "field"), selected=True, plugin=PLUGIN)
    path = tmp_path / "field.ome.zarr"
    assert written == [str(path)]
    assert_valid_store(path)
    group = zarr.open_group(path, mode="r")
    np.testing.assert_array_equal(group["0"][1], viewer.layers["GFP"].data)
    np.testing.assert_array_equal(group["labels/cells/0"][:], viewer.layers["cells"].data)
    omero = _attrs(path)["omero"]["channels"]
    assert [(c["label"], c["color"]) for c in omero] == [("DAPI", "0000FF"), ("GFP", "00FF00")]
    assert omero[0]["window"]["start"] == 10 and omero[1]["window"]["end"] == 800
    ms = _attrs(path)["multiscales"][0]
    assert ms["datasets"][0]["coordinateTransformations"] == [
        {"type": "scale", "scale": [1.0, 0.5, 0.5]},
        {"type": "translation", "translation": [0.0, 3.0, 4.0]},
    ]
    assert [a.get("unit") for a in ms["axes"]] == [None, "micrometer", "micrometer"]
    label_attrs = _attrs(path / "labels" / "cells")["image-label"]
    colors = {c["label-value"]: c["rgba"] for c in label_attrs["colors"]}
    expected = np.rint(viewer.layers["cells"].colormap.map(np.array([5])) * 255).astype(int)
    assert colors[5] == expected[0].tolist()
    props = {p["label-value"]: p for p in label_attrs["properties"]}
    assert props[6]["area"] == 10400.0


def test_image_only_and_hidden_channel(viewer, tmp_path):
    viewer.layers["GFP"].visible = False
    _select(viewer, "DAPI", "GFP")
    viewer.layers.save(str(tmp_path / "img.zarr"), selected=True, plugin=PLUGIN)
    channels = _attrs(tmp_path / "img.zarr")["omero"]["channels"]
    assert [c["active"] for c in channels] == [True, False]


def test_labels_saved_back_into_their_image(viewer, tmp_path):
    _select(viewer, "DAPI", "GFP")
    viewer.layers.save(str(tmp_path / "img.zarr"), selected=True, plugin=PLUGIN)
    viewer.layers["cells"].data[0:10, 0:10] = 42  # the user edits the labels
    _select(viewer, "cells")
    written = viewer.layers.save(str(tmp_path / "img.zarr"), selected=True, plugin=PLUGIN)
    assert written == [str(tmp_path / "img.zarr" / "labels" / "cells")]
    group = zarr.open_group(tmp_path / "img.zarr", mode="r")
    assert group["labels/cells/0"][5, 5] == 42
    assert_valid_store(tmp_path / "img.zarr")


def test_labels_alone_to_a_new_path(viewer, tmp_path):
    _select(viewer, "cells")
    viewer.layers.save(str(tmp_path / "seg"), selected=True, plugin=PLUGIN)
    attrs = _attrs(tmp_path / "seg.ome.zarr")
    assert "image-label" in attrs and attrs["multiscales"][0]["name"] == "cells"
    assert_valid_store(tmp_path / "seg.ome.zarr")


def test_rgb_becomes_three_coloured_channels(make_napari_viewer, tmp_path, rng):
    viewer = make_napari_viewer()
    viewer.add_image(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8), name="photo", rgb=True)
    viewer.layers.save(str(tmp_path / "rgb.zarr"), plugin=PLUGIN)
    group = zarr.open_group(tmp_path / "rgb.zarr", mode="r")
    assert group["0"].shape == (3, 64, 80)
    channels = _attrs(tmp_path / "rgb.zarr")["omero"]["channels"]
    assert [c["color"] for c in channels] == ["FF0000", "00FF00", "0000FF"]
    np.testing.assert_array_equal(group["0"][2], viewer.layers["photo"].data[..., 2])


def test_layers_of_different_shapes_get_a_clear_error(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 32), np.uint8), name="small")
    viewer.add_image(np.zeros((64, 64), np.uint8), name="large")
    with pytest.raises(WriteFailedError, match=r"'small' \(32, 32\), 'large' \(64, 64\)"):
        viewer.layers.save(str(tmp_path / "mixed.zarr"), plugin=PLUGIN)
    assert not (tmp_path / "mixed.zarr").exists()


def test_npe2_write_round_trip(viewer, tmp_path):
    import npe2

    layer_data = [viewer.layers[n].as_layer_data_tuple() for n in ("DAPI", "GFP")]
    written = npe2.write(str(tmp_path / "npe2.ome.zarr"), layer_data, plugin_name=PLUGIN)
    assert written == [str(tmp_path / "npe2.ome.zarr")]
    assert_valid_store(written[0])


def test_multiscale_and_lazy_layers_are_written_from_level_0(make_napari_viewer, tmp_path, rng):
    import dask.array as da

    viewer = make_napari_viewer()
    full = da.from_array(rng.integers(0, 4000, (512, 640), dtype=np.uint16), chunks=(128, 128))
    viewer.add_image([full, full[::2, ::2], full[::4, ::4]], multiscale=True, name="big",
                     contrast_limits=(0, 4000))  # fmt: skip
    viewer.layers.save(str(tmp_path / "ms.zarr"), plugin=PLUGIN)
    group = zarr.open_group(tmp_path / "ms.zarr", mode="r")
    np.testing.assert_array_equal(group["0"][0], full.compute())
    assert_valid_store(tmp_path / "ms.zarr")


def test_five_dimensional_layers_keep_their_axes(make_napari_viewer, tmp_path, rng):
    viewer = make_napari_viewer()
    data = rng.integers(0, 255, (2, 3, 16, 20), dtype=np.uint8)
    viewer.add_image(data, name="a", axis_labels=("t", "z", "y", "x"), scale=(60, 2, 0.5, 0.5),
                     units=("s", "um", "um", "um"))  # fmt: skip
    viewer.add_image(data + 1, name="b", axis_labels=("t", "z", "y", "x"), scale=(60, 2, 0.5, 0.5),
                     units=("s", "um", "um", "um"))  # fmt: skip
    viewer.layers.save(str(tmp_path / "tczyx.zarr"), plugin=PLUGIN)
    group = zarr.open_group(tmp_path / "tczyx.zarr", mode="r")
    assert group["0"].shape == (2, 2, 3, 16, 20)
    np.testing.assert_array_equal(group["0"][:, 1], data + 1)
    axes = _attrs(tmp_path / "tczyx.zarr")["multiscales"][0]["axes"]
    assert [(a["name"], a.get("unit")) for a in axes] == [
        ("t", "second"), ("c", None), ("z", "micrometer"), ("y", "micrometer"),
        ("x", "micrometer")]  # fmt: skip
    assert_valid_store(tmp_path / "tczyx.zarr")

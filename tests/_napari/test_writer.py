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


# -- a layer with its own channel axis (a multichannel TIFF opened as one layer) ---------------

SIZES = {"t": 2, "c": 3, "z": 4, "y": 40, "x": 48}
PIXEL = {"t": 30.0, "c": 1.0, "z": 2.0, "y": 0.5, "x": 0.25}
UNITS = {"t": "s", "c": "pixel", "z": "um", "y": "um", "x": "um"}


def _level0(layer):
    return np.asarray(layer.data[0] if layer.multiscale else layer.data)


@pytest.mark.parametrize(
    "labels",
    [("c", "z", "y", "x"), ("t", "c", "z", "y", "x"), ("c", "y", "x"), ("z", "c", "y", "x")],
    ids=["czyx", "tczyx", "cyx", "zcyx-in-napari"],
)
def test_a_layer_with_its_own_channel_axis_saves_with_it(
    make_napari_viewer, tmp_path, rng, labels
):
    from napari_omezarr_export.core.options import MULTI_CHANNEL_COLORS

    data = rng.integers(0, 4000, [SIZES[a] for a in labels], dtype=np.uint16)
    viewer = make_napari_viewer()
    viewer.add_image(data, name="stack", axis_labels=labels, contrast_limits=(100, 3000),
                     scale=[PIXEL[a] for a in labels], translate=[1.0] * len(labels),
                     units=[UNITS[a] for a in labels])  # fmt: skip
    path = tmp_path / "stack.ome.zarr"
    assert viewer.layers.save(str(path), plugin=PLUGIN) == [str(path)]
    assert_valid_store(path)

    ngff = "".join(a for a in "tczyx" if a in labels)  # NGFF order, c after t
    in_ngff_order = data.transpose([labels.index(a) for a in ngff])
    np.testing.assert_array_equal(zarr.open_group(path, mode="r")["0"][:], in_ngff_order)
    multiscale = _attrs(path)["multiscales"][0]
    assert "".join(a["name"] for a in multiscale["axes"]) == ngff
    scale, translation = multiscale["datasets"][0]["coordinateTransformations"]
    assert scale["scale"] == [PIXEL[a] for a in ngff]
    assert translation["translation"] == [0.0 if a == "c" else 1.0 for a in ngff]
    assert [a.get("unit") for a in multiscale["axes"] if a["name"] != "c"] == [
        {"t": "second"}.get(a, "micrometer") for a in ngff if a != "c"
    ]

    reopened = make_napari_viewer()
    reopened.open(str(path), plugin=PLUGIN)
    names = [f"c{i}" for i in range(SIZES["c"])]
    assert [layer.name for layer in reopened.layers] == names
    for i, name in enumerate(names):
        layer = reopened.layers[name]
        expected = np.take(in_ngff_order, i, axis=ngff.index("c"))
        np.testing.assert_array_equal(_level0(layer), expected)
        assert tuple(layer.contrast_limits) == (100, 3000)
        top = np.rint(layer.colormap.colors[-1][:3] * 255).astype(int)
        assert "".join(f"{v:02X}" for v in top) == MULTI_CHANNEL_COLORS[i]


@pytest.mark.parametrize(
    ("colormap", "expected"),
    [
        ("magenta", ["FF00FF", "FF00FF"]),
        ("gray", ["0000FF", "00FF00"]),
        ("viridis", ["0000FF", "00FF00"]),
    ],
    ids=["one-colour", "gray-is-no-colour", "many-colours"],
)
def test_channel_names_from_metadata_colours_from_the_colormap_and_labels_alongside(
    make_napari_viewer, tmp_path, rng, colormap, expected
):
    data = rng.integers(0, 255, (2, 64, 80), dtype=np.uint8)
    cells = np.zeros((64, 80), np.int32)
    cells[10:30, 20:50] = 4
    viewer = make_napari_viewer()
    viewer.add_image([data, data[:, ::2, ::2]], multiscale=True, name="tiff",  # a pyramid
                     axis_labels=("c", "y", "x"), colormap=colormap, contrast_limits=(5, 200),
                     metadata={"channel_names": ["DAPI", "GFP"]})  # fmt: skip
    viewer.layers["tiff"].visible = False
    viewer.add_labels(cells, name="cells")
    path = tmp_path / "tiff.ome.zarr"
    viewer.layers.save(str(path), plugin=PLUGIN)
    assert_valid_store(path)
    omero = _attrs(path)["omero"]["channels"]
    assert [(c["label"], c["color"], c["active"]) for c in omero] == [
        ("DAPI", expected[0], False), ("GFP", expected[1], False)]  # fmt: skip

    reopened = make_napari_viewer()
    reopened.open(str(path), plugin=PLUGIN)
    assert [layer.name for layer in reopened.layers] == ["DAPI", "GFP", "cells"]
    for i, name in enumerate(("DAPI", "GFP")):
        layer = reopened.layers[name]
        np.testing.assert_array_equal(_level0(layer), data[i])
        assert tuple(layer.contrast_limits) == (5, 200)
        top = np.rint(layer.colormap.colors[-1][:3] * 255).astype(int)
        assert "".join(f"{v:02X}" for v in top) == expected[i]
    np.testing.assert_array_equal(_level0(reopened.layers["cells"]), cells)


def test_a_layer_with_its_own_channel_axis_cannot_join_other_image_layers(
    make_napari_viewer, tmp_path
):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 32), np.uint8), name="DAPI")
    viewer.add_image(np.zeros((2, 32, 32), np.uint8), name="stack", axis_labels=("c", "y", "x"))
    viewer.add_image(np.zeros((32, 32), np.uint8), name="GFP")
    with pytest.raises(
        WriteFailedError, match=r"'stack' has its own channel axis \(c\).*'DAPI', 'GFP'.*Split"
    ):
        viewer.layers.save(str(tmp_path / "mixed.zarr"), plugin=PLUGIN)
    assert list(tmp_path.iterdir()) == []


def test_channel_names_that_do_not_fit_the_channel_axis_are_refused(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((3, 32, 32), np.uint8), name="stack", axis_labels=("c", "y", "x"),
                     metadata={"channel_names": ["DAPI", "GFP"]})  # fmt: skip
    with pytest.raises(WriteFailedError, match=r"'channel_names'.*holds 3 channels.*list of 3"):
        viewer.layers.save(str(tmp_path / "stack.zarr"), plugin=PLUGIN)
    assert list(tmp_path.iterdir()) == []


# -- targets the writers cannot write -------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("foo://bucket/x.ome.zarr", r"the scheme foo:// is not one"),
        ("s3://bucket/exp.percell", r"\.percell experiment is written to a local folder only"),
        ("https://example.org/x", r"https:// URLs can only be read"),
    ],
    ids=["unknown-scheme-image", "s3-percell", "https-no-extension"],
)
def test_remote_targets_fail_loudly_and_create_nothing(
    viewer, target, message, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WriteFailedError, match=message):
        viewer.layers.save(target, plugin=PLUGIN)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["x.ome.zarr", "exp.percell"])
def test_saving_inside_a_file_says_it_is_a_file(viewer, name, tmp_path):
    (tmp_path / "notes.txt").write_text("my notes")
    with pytest.raises(WriteFailedError, match=r"notes\.txt is a file, not a folder"):
        viewer.layers.save(str(tmp_path / "notes.txt" / name), plugin=PLUGIN)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]

"""Open, edit, save back, reopen: labels from a store with a pyramid, as a user meets them.

The store is written with the public API (a pyramid, as every store of a useful size has), opened
in a real viewer through our reader, edited in paint mode, saved with Save Selected Layers and
reopened. Every pyramid level on disk must then be rebuilt from the edited level 0, and the
image's own files must not change.
"""

import numpy as np
import pytest
import zarr

import napari_omezarr_export.core.read.labels as core_labels
from napari_omezarr_export import LabelsSpec, PyramidOptions, write_image
from validation import assert_valid_store

PLUGIN = "napari-omezarr-export"
EDIT_COMMAND = "napari-omezarr-export.edit_labels_full_resolution"


@pytest.fixture
def store(tmp_path, rng):
    """A 2-channel 512x640 image with 3 levels and a nuclei label image (colours, properties)."""
    image = rng.poisson(300, size=(2, 512, 640)).astype(np.uint16)
    nuclei = np.zeros((512, 640), np.int32)
    nuclei[40:120, 50:200] = 1
    nuclei[300:420, 400:600] = 2
    labels = LabelsSpec(
        nuclei,
        "nuclei",
        colors={1: (255, 0, 0, 255), 2: (0, 255, 0, 255)},
        properties=[{"label-value": 1, "area": 12000}, {"label-value": 2, "area": 24000}],
    )
    [path] = write_image(
        image,
        tmp_path / "cells.ome.zarr",
        channels=["DAPI", "GFP"],
        scale=(1, 0.5, 0.5),
        translation=(0, 3.0, -2.0),
        labels=[labels],
        pyramid=PyramidOptions(levels=3),
    )
    assert len(zarr.open_group(path / "labels" / "nuclei", mode="r")) == 3
    return path


def _image_files(path):
    return {p: p.read_bytes() for p in path.rglob("*") if p.is_file() and "labels" not in p.parts}


def _levels_on_disk(label_path):
    group = zarr.open_group(label_path, mode="r")
    return [np.asarray(group[str(i)]) for i in range(len(group))]


def _assert_pyramid_from(level0_on_disk, levels):
    np.testing.assert_array_equal(levels[0], level0_on_disk)
    for k in range(1, len(levels)):
        # labels are downsampled by nearest: every level is level 0 sampled every 2**k pixels
        np.testing.assert_array_equal(levels[k], level0_on_disk[:: 2**k, :: 2**k])


def _save_selected(viewer, layer, path):
    viewer.layers.selection = {layer}
    viewer.layers.save(str(path), selected=True, plugin=PLUGIN)


def test_opened_labels_paint_fill_save_reopen(store, make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open(str(store), plugin=PLUGIN)
    nuclei = viewer.layers["nuclei"]
    assert not nuclei.multiscale and nuclei.editable
    assert isinstance(nuclei.data, np.ndarray)
    viewer.layers.selection.active = nuclei
    nuclei.mode = "paint"
    assert nuclei.mode == "paint"  # a multiscale layer stays in pan_zoom
    nuclei.brush_size = 10
    nuclei.paint((250, 300), 7)
    nuclei.mode = "fill"
    nuclei.fill((60, 100), 5)  # label 1 becomes 5
    nuclei.mode = "erase"
    nuclei.paint((350, 500), 0)
    edited = np.array(nuclei.data)
    assert edited[250, 300] == 7 and not (edited == 1).any() and edited[350, 500] == 0

    before = _image_files(store)
    _save_selected(viewer, nuclei, store)
    assert _image_files(store) == before
    assert_valid_store(store)
    levels = _levels_on_disk(store / "labels" / "nuclei")
    assert len(levels) == 3
    _assert_pyramid_from(edited, levels)

    reopened = make_napari_viewer()
    reopened.open(str(store), plugin=PLUGIN)
    back = reopened.layers["nuclei"]
    np.testing.assert_array_equal(back.data, edited)
    assert back.scale.tolist() == [0.5, 0.5] and back.translate.tolist() == [3.0, -2.0]
    assert back.colormap.map(np.array([2]))[0].tolist() == [0.0, 1.0, 0.0, 1.0]


def test_new_labels_painted_on_an_opened_image_save_into_it(store, make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open(str(store), plugin=PLUGIN)
    dapi = viewer.layers["DAPI"]
    cells = viewer.add_labels(
        np.zeros((512, 640), np.uint16), name="cells", scale=dapi.scale, translate=dapi.translate
    )
    cells.mode = "paint"
    cells.brush_size = 20
    for y, x in [(100, 100), (100, 110), (100, 120)]:  # a short stroke
        cells.paint((y, x), 3)
    painted = np.array(cells.data)
    assert (painted == 3).sum() > 300

    before = _image_files(store)
    _save_selected(viewer, cells, store)
    assert _image_files(store) == before
    assert_valid_store(store)
    _assert_pyramid_from(painted, _levels_on_disk(store / "labels" / "cells"))
    assert zarr.open_group(store / "labels", mode="r").attrs.asdict()["labels"] == [
        "nuclei",
        "cells",
    ]

    reopened = make_napari_viewer()
    reopened.open(str(store), plugin=PLUGIN)
    assert [layer.name for layer in reopened.layers] == ["DAPI", "GFP", "nuclei", "cells"]
    np.testing.assert_array_equal(reopened.layers["cells"].data, painted)


@pytest.fixture
def small_budget(monkeypatch):
    """Labels of this test's size count as too large to load: they open as a pyramid."""
    monkeypatch.setattr(core_labels, "EDITABLE_LABELS_BYTES", 64 * 1024)


def test_large_labels_open_read_only_and_one_action_makes_them_editable(
    store, small_budget, make_napari_viewer, qtbot
):
    from napari._app_model import get_app_model

    viewer = make_napari_viewer()
    viewer.open(str(store), plugin=PLUGIN)
    nuclei = viewer.layers["nuclei"]
    assert nuclei.multiscale and not nuclei.editable
    index = list(viewer.layers).index(nuclei)
    kept = {
        "scale": nuclei.scale.tolist(),
        "translate": nuclei.translate.tolist(),
        "metadata": nuclei.metadata,
        "features": nuclei.features.copy(),
        "color_2": nuclei.colormap.map(np.array([2]))[0].tolist(),
    }
    app = get_app_model()
    annotate = [item.command.id for item in app.menus.get_menu("napari/layers/annotate")]
    assert EDIT_COMMAND in annotate  # Layers > Annotate > Edit labels (load full resolution)
    viewer.layers.selection = {nuclei}
    app.commands.execute_command(EDIT_COMMAND).result()

    editable = viewer.layers["nuclei"]
    assert editable is not nuclei and list(viewer.layers).index(editable) == index
    assert not editable.multiscale and editable.editable and editable.mode == "paint"
    assert editable.scale.tolist() == kept["scale"]
    assert editable.translate.tolist() == kept["translate"]
    assert editable.metadata == kept["metadata"]
    assert editable.features.equals(kept["features"])
    assert editable.colormap.map(np.array([2]))[0].tolist() == kept["color_2"]
    np.testing.assert_array_equal(editable.data, zarr.open_array(store / "labels/nuclei/0"))

    editable.paint((200, 200), 9)
    edited = np.array(editable.data)
    _save_selected(viewer, editable, store)
    assert_valid_store(store)
    _assert_pyramid_from(edited, _levels_on_disk(store / "labels" / "nuclei"))


def test_the_action_says_what_to_select(make_napari_viewer):
    from napari_omezarr_export._napari._menus import edit_labels_full_resolution

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((8, 8)))
    assert edit_labels_full_resolution(viewer.layers) == []
    plain = viewer.add_labels(np.zeros((8, 8), np.int32))
    viewer.layers.selection = {plain}
    assert edit_labels_full_resolution(viewer.layers) == []  # already editable: left alone
    assert viewer.layers[-1] is plain

"""The export widget's "HCS plate field" layout, used as a user would."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr

import napari_omezarr_export
from napari_omezarr_export import StorageOptions, write_plate_field
from validation import assert_valid_store

PLUGIN, WIDGET = "napari-omezarr-export", "OME-Zarr export"
SHAPE = (2, 48, 64)


@pytest.fixture
def widget(make_napari_viewer, rng):
    viewer = make_napari_viewer()
    viewer.add_image(rng.poisson(300, SHAPE).astype(np.uint16), channel_axis=0,
                     name=["DAPI", "GFP"], colormap=["blue", "green"])  # fmt: skip
    cells = np.zeros(SHAPE[1:], np.int32)
    cells[10:30, 20:50] = 5
    viewer.add_labels(cells, name="cells")
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    dock._destination_layout.choice.value = "plate"
    return viewer, dock


def _attrs(group):
    if (group / "zarr.json").is_file():
        return json.loads((group / "zarr.json").read_text())["attributes"]
    return json.loads((group / ".zattrs").read_text())


def _files(path):
    return {p: p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _export(qtbot, dock):
    dock._export.changed()
    qtbot.waitUntil(lambda: dock._worker is None, timeout=20_000)


def test_plate_layout_shows_its_fields_and_previews_the_field(widget, tmp_path):
    _, dock = widget
    panel = dock._destination_layout
    assert not panel.plate_well.native.isHidden() and not panel.field.native.isHidden()
    assert panel.condition.native.isHidden() and panel.tile.native.isHidden()
    panel.plate_well.value, panel.field.value = "c12", 3
    dock._dest.value = tmp_path / "screen.ome.zarr"
    dock.refresh()
    assert sorted(dock._preview_attrs) == ["C/12/3", "C/12/3/labels", "C/12/3/labels/cells"]
    assert "field 3 of well c12" in dock._status.value
    panel.plate_well.value = "12C"
    dock.refresh()
    assert dock._preview.value.startswith("Cannot export: Well '12C' is not a well name")
    assert dock._preview_attrs == {}


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_plate_layout_adds_a_field_to_a_plate_and_leaves_the_others(
    widget, qtbot, tmp_path, version, rng
):
    viewer, dock = widget
    plate = tmp_path / "screen.ome.zarr"
    for well in ("A1", "B2"):
        write_plate_field(rng.poisson(50, SHAPE).astype(np.uint16), plate, well=well,
                          storage=StorageOptions(ngff_version=version))  # fmt: skip
    before = _files(plate)
    panel = dock._destination_layout
    panel.plate_well.value, panel.field.value = "B2", 1
    dock._dest.value = plate
    # the widget's own storage default may be another version: the plate keeps its own
    dock._storage._version.value = "0.5" if version == "0.4" else "0.4"
    dock.refresh()
    preview = dock._preview_attrs
    assert sorted(preview) == ["B/2/1", "B/2/1/labels", "B/2/1/labels/cells"]
    _export(qtbot, dock)
    assert "Saved" in dock._status.value, dock._status.value
    field = plate / "B" / "2" / "1"
    assert preview == {key: _attrs(plate / key) for key in preview}
    assert assert_valid_store(plate) >= 7  # plate, 2 wells, 3 fields, labels...
    # every other field is byte-identical; only the well's and the plate's lists changed
    lists = (plate, plate / "B" / "2")
    after = {p: b for p, b in _files(plate).items() if not p.is_relative_to(field)}
    assert {p: b for p, b in after.items() if p.parent not in lists} == {
        p: b for p, b in before.items() if p.parent not in lists
    }
    wells = _attrs(plate / "B" / "2")
    images = (wells.get("ome", wells))["well"]["images"]
    assert [i["path"] for i in images] == ["0", "1"]
    group = zarr.open_group(field, mode="r")
    np.testing.assert_array_equal(group["0"][1], viewer.layers["GFP"].data)
    np.testing.assert_array_equal(group["labels/cells/0"][:], viewer.layers["cells"].data)
    [image] = [s for s in napari_omezarr_export.read(plate) if s.layer_type == "image"][:1]
    assert sorted(image.kwargs["metadata"]["plate"]["wells"]) == ["A1", "B2"]


def test_layers_from_a_field_fill_its_well_and_field_and_export_replaces_it(
    make_napari_viewer, qtbot, tmp_path, rng
):
    plate = tmp_path / "screen.ome.zarr"
    for field in (0, 1):
        write_plate_field(rng.poisson(50, SHAPE).astype(np.uint16), plate, well="D7",
                          field=field, channels=["DAPI", "GFP"])  # fmt: skip
    before = _files(plate / "D" / "7" / "0")
    viewer = make_napari_viewer()
    viewer.open(str(plate / "D" / "7" / "1"), plugin=PLUGIN)
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    panel = dock._destination_layout
    panel.choice.value = "plate"
    assert (panel.plate_well.value, panel.field.value) == ("D7", 1)
    dock._dest.value = plate
    asked = []
    dock._confirm_replace = lambda path: asked.append(path) or True
    dock._channels.rows[0].set_window(0, 99)  # an edit the field gets
    dock.refresh()
    _export(qtbot, dock)
    assert asked == [plate / "D" / "7" / "1"]
    assert "Saved" in dock._status.value, dock._status.value
    assert _attrs(plate / "D" / "7" / "1")["omero"]["channels"][0]["window"]["end"] == 99
    assert _files(plate / "D" / "7" / "0") == before
    assert_valid_store(plate)


def test_labels_alone_cannot_be_a_field(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    viewer.add_labels(np.ones(SHAPE[1:], np.int32), name="cells")
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    dock._destination_layout.choice.value = "plate"
    dock._dest.value = tmp_path / "screen.ome.zarr"
    dock.refresh()
    assert dock._preview.value.startswith("Cannot export: An HCS plate field needs image layers")
    dock._export.changed()
    assert "needs image layers" in dock._status.value
    assert not (tmp_path / "screen.ome.zarr").exists()

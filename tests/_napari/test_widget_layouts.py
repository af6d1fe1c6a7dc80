"""The export widget's PerCell and Brieflow layouts, used as a user would."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
import zarr

from validation import assert_valid_store

PLUGIN, WIDGET = "napari-omezarr-export", "OME-Zarr export"


@pytest.fixture
def widget(make_napari_viewer, rng):
    viewer = make_napari_viewer()
    viewer.add_image(rng.poisson(300, (2, 96, 128)).astype(np.uint16), channel_axis=0,
                     name=["DAPI", "GFP"], colormap=["blue", "green"])  # fmt: skip
    cells = np.zeros((96, 128), np.int32)
    cells[10:50, 20:90] = 5
    viewer.add_labels(cells, name="cells")
    viewer.add_labels((cells > 0).astype(np.uint8), name="nuclei")
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    dock.refresh()
    return viewer, dock


def _attrs(group):
    return json.loads((group / ".zattrs").read_text())


def _export(qtbot, dock):
    dock._export.changed()
    qtbot.waitUntil(lambda: dock._worker is None, timeout=20_000)


def test_percell_layout_writes_a_region_with_a_mask(widget, qtbot, tmp_path):
    viewer, dock = widget
    panel = dock._destination_layout
    panel.choice.value = "percell"
    assert not panel.condition.native.isHidden() and panel.well.native.isHidden()
    panel.condition.value, panel.region.value = "treated", "field_7"
    panel.masks.value = [viewer.layers["nuclei"]]  # the user marks "nuclei" as a mask
    dock._dest.value = tmp_path / "screen.percell"
    dock.refresh()
    preview = dock._preview_attrs
    _export(qtbot, dock)
    root = tmp_path / "screen.percell"
    assert preview == {key: _attrs(root / key) for key in preview}
    assert sorted(preview) == [
        "images.zarr/treated/field_7",
        "labels.zarr/treated/field_7",
        "masks.zarr/treated/field_7/threshold_nuclei",
    ]
    assert "Saved" in dock._status.value
    for path in ("images.zarr/treated/field_7", "labels.zarr/treated/field_7",
                 "masks.zarr/treated/field_7/threshold_nuclei"):  # fmt: skip
        assert_valid_store(root / path)
    np.testing.assert_array_equal(
        zarr.open_group(root / "labels.zarr/treated/field_7")["0"][:], viewer.layers["cells"].data
    )
    with sqlite3.connect(root / "experiment.db") as conn:
        assert conn.execute("SELECT name FROM regions").fetchall() == [("field_7",)]


def test_brieflow_layout_writes_a_phenotype_store(widget, qtbot, tmp_path):
    viewer, dock = widget
    panel = dock._destination_layout
    panel.choice.value = "brieflow"
    panel.step.value, panel.well.value, panel.tile.value = "phenotype", "B3", "12"
    dock._dest.value = tmp_path / "run"
    dock.refresh()
    preview = dock._preview_attrs
    _export(qtbot, dock)
    store = tmp_path / "run" / "phenotype" / "omezarr" / "B3_12__phenotype.zarr"
    assert preview == {key: _attrs(store / key) for key in preview}
    assert sorted(preview) == ["", "labels", "labels/cells", "labels/nuclei"]
    assert assert_valid_store(store) == 4
    group = zarr.open_group(store, mode="r")
    assert sorted(group["labels"].attrs["labels"]) == ["cells", "nuclei"]
    np.testing.assert_array_equal(group["0"][1], viewer.layers["GFP"].data)


def test_brieflow_layout_refuses_other_label_names(widget, qtbot, tmp_path):
    viewer, dock = widget
    viewer.layers["cells"].name = "membranes"
    dock._destination_layout.choice.value = "brieflow"
    dock._dest.value = tmp_path / "run"
    dock._export.changed()
    assert "'membranes'" in dock._status.value
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("cycles", ["axis", "flatten"])
def test_brieflow_sbs_cycles_from_several_layers(make_napari_viewer, qtbot, tmp_path, rng, cycles):
    viewer = make_napari_viewer()
    stacks = [rng.poisson(300, (3, 64, 80)).astype(np.uint16) for _ in range(2)]  # 3 cycles each
    for name, stack in zip(("DAPI", "G"), stacks, strict=True):
        viewer.add_image(stack, name=name, axis_labels=("t", "y", "x"))
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    panel = dock._destination_layout
    panel.choice.value = "brieflow"
    panel.step.value, panel.well.value, panel.tile.value = "sbs", "A1", "3"
    panel.cycles.value = cycles
    dock._dest.value = tmp_path / "run"
    dock.refresh()
    preview = dock._preview_attrs
    _export(qtbot, dock)
    assert "Saved" in dock._status.value, dock._status.value
    [store] = (tmp_path / "run" / "sbs").rglob("*.zarr")
    assert preview == {key: _attrs(store / key) for key in preview}
    assert_valid_store(store)
    level0 = zarr.open_group(store, mode="r")["0"][:]
    expected = np.stack(stacks, axis=1)  # (cycle, channel, y, x)
    if cycles == "flatten":
        expected = expected.reshape(6, 64, 80)
    np.testing.assert_array_equal(level0, expected)

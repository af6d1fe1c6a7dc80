"""The OME-Zarr export dock widget, docked through the manifest like a user would."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from napari_omezarr_export import write_image
from validation import assert_valid_store

PLUGIN, WIDGET = "napari-omezarr-export", "OME-Zarr export"


@pytest.fixture
def docked(make_napari_viewer):
    """Return (viewer, widget) with the widget docked through the manifest."""

    def dock(*layers):
        viewer = make_napari_viewer()
        for add in layers:
            add(viewer)
        _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
        widget.refresh()
        return viewer, widget

    return dock


def _wait(qtbot, widget):
    qtbot.waitUntil(lambda: widget._worker is None, timeout=20_000)


def _read_attrs(store: Path, group: str) -> dict:
    folder = store / group if group else store
    if (folder / ".zattrs").exists():
        return json.loads((folder / ".zattrs").read_text())
    return json.loads((folder / "zarr.json").read_text())["attributes"]


def test_export_two_channels_and_labels(docked, qtbot, tmp_path, rng):
    a = rng.integers(0, 4000, (128, 96), dtype=np.uint16)
    b = rng.integers(0, 4000, (128, 96), dtype=np.uint16)
    lab = np.zeros((128, 96), np.int32)
    lab[10:40, 10:40] = 3
    viewer, widget = docked(
        lambda v: v.add_image(a, name="dapi", colormap="blue", contrast_limits=(0, 3000)),
        lambda v: v.add_image(b, name="gfp", colormap="green", contrast_limits=(5, 2000)),
        lambda v: v.add_labels(lab, name="cells"),
    )
    rows = widget._channels.rows
    assert [r._name.value for r in rows] == ["dapi", "gfp"]
    assert rows[0]._color.value == "0000FF"
    rows[1].set_color("FF00FF")
    rows[1]._start.value, rows[1]._end.value = 10.0, 1500.0
    rows[0]._name.value = "DNA"
    widget._pyramid._levels.value = 2
    widget._storage._codec.value = "zstd"
    widget._dest.value = tmp_path / "out.ome.zarr"
    widget.refresh()
    preview = widget._preview_attrs
    widget._export.changed()
    _wait(qtbot, widget)
    store = tmp_path / "out.ome.zarr"
    assert store.is_dir()
    import zarr

    root = zarr.open_group(store, mode="r")
    np.testing.assert_array_equal(root["0"][:], np.stack([a, b]))
    np.testing.assert_array_equal(root["labels/cells/0"][:], lab)
    attrs = _read_attrs(store, "")
    omero = attrs["omero"]["channels"]
    assert [c["label"] for c in omero] == ["DNA", "gfp"]
    assert omero[1]["color"] == "FF00FF"
    assert omero[1]["window"]["start"] == 10 and omero[1]["window"]["end"] == 1500
    assert len(attrs["multiscales"][0]["datasets"]) == 2
    zarray = json.loads((store / "0" / ".zarray").read_text())
    assert zarray["compressor"]["id"] == "zstd"
    for group, expected in preview.items():
        assert _read_attrs(store, group) == expected
    assert assert_valid_store(store) >= 2
    assert viewer.layers["gfp"].colormap.name == "green"  # rows don't touch layers


def test_layer_list_follows_viewer(docked, rng):
    viewer, widget = docked(lambda v: v.add_image(rng.random((32, 32)), name="one"))
    assert list(widget._layers.choices) == [viewer.layers["one"]]
    viewer.add_labels(np.zeros((32, 32), np.uint8), name="seg")
    viewer.add_points([[1, 1]], name="points")  # not exportable
    names = [layer.name for layer in widget._layers.choices]
    assert names == ["one", "seg"]
    assert [layer.name for layer in widget._layers.value] == ["one", "seg"]
    viewer.layers["one"].name = "renamed"
    labels = [widget._layers.native.item(i).text() for i in range(widget._layers.native.count())]
    assert labels == ["renamed", "seg"]
    assert [r._name.value for r in widget._channels.rows] == ["one"]  # edits kept, not renamed
    viewer.layers.remove("seg")
    assert [layer.name for layer in widget._layers.choices] == ["renamed"]
    widget._layers.value = []
    assert widget._channels.rows == []


def test_cancel_leaves_old_store_intact(docked, qtbot, tmp_path):
    import time

    import dask.array as da

    delay = [0.0]

    def slow(block):
        time.sleep(delay[0])
        return block

    data = da.ones((1024, 1024), dtype=np.uint16, chunks=(64, 64)).map_blocks(slow)
    _viewer, widget = docked(lambda v: v.add_image(data, name="big", contrast_limits=(0, 2)))
    target = tmp_path / "old.ome.zarr"
    widget._dest.value = target
    widget._storage._auto.value = False
    widget._storage._chunks.value = "1, 64, 64"
    widget._pyramid._levels.value = 1
    widget._export.changed()  # first export writes the "old" store (fast enough: 256 chunks)
    _wait(qtbot, widget)
    before = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert before
    asked = []
    widget._confirm_replace = lambda path: asked.append(path) or True
    started = []

    def cancel_on_first(progress):
        if not started:
            started.append(progress)
            widget._cancel.changed()

    delay[0] = 0.02
    widget._export.changed()
    widget._worker.yielded.connect(cancel_on_first)
    _wait(qtbot, widget)
    assert asked == [target]
    assert started and started[0][0] < started[0][1]
    assert "cancelled" in widget._status.value
    after = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert after == before
    assert not [p for p in tmp_path.iterdir() if ".omezarr-export-" in p.name]


def test_declined_replace_writes_nothing(docked, qtbot, tmp_path):
    viewer, widget = docked(lambda v: v.add_image(np.ones((16, 16), np.uint8), name="x"))
    target = tmp_path / "x.ome.zarr"
    widget._dest.value = target
    widget._export.changed()
    _wait(qtbot, widget)
    stamp = (target / ".zattrs").read_bytes()
    widget._confirm_replace = lambda path: False
    viewer.layers["x"].data = np.zeros((16, 16), np.uint8)
    widget._export.changed()
    assert widget._worker is None
    assert (target / ".zattrs").read_bytes() == stamp


def test_ngff_05_with_shards_matches_preview(docked, qtbot, tmp_path, rng):
    img = rng.integers(0, 255, (5, 200, 160), dtype=np.uint8)
    lab = (img > 200).astype(np.uint16)
    _viewer, widget = docked(
        lambda v: v.add_image(img, name="stack", colormap="magenta"),
        lambda v: v.add_labels(lab, name="bright"),
    )
    storage = widget._storage
    assert not storage._shards.enabled
    storage._version.value = "0.5"
    assert storage._shards.enabled
    storage._auto.value = False
    storage._chunks.value = "1, 1, 64, 64"
    storage._shards.value = "1, 1, 100, 64"
    widget.refresh()
    assert "multiple" in storage._check.value
    storage._shards.value = "1, 1, 128, 128"
    storage._codec.value = "blosc-lz4"
    widget._pyramid._downsample_z.value = True
    widget._dest.value = tmp_path / "v05"
    widget.refresh()
    assert storage._check.value == ""
    preview = widget._preview_attrs
    widget._export.changed()
    _wait(qtbot, widget)
    store = tmp_path / "v05.ome.zarr"
    import zarr

    root = zarr.open_group(store, mode="r")
    np.testing.assert_array_equal(root["0"][:], img[np.newaxis])
    np.testing.assert_array_equal(root["labels/bright/0"][:], lab)
    meta = json.loads((store / "0" / "zarr.json").read_text())
    assert meta["codecs"][0]["name"] == "sharding_indexed"
    assert set(preview) == {"", "labels", "labels/bright"}
    for group, expected in preview.items():
        assert _read_attrs(store, group) == expected
    assert assert_valid_store(store) >= 2


def test_options_are_remembered(docked, qtbot, tmp_path):
    viewer, widget = docked(lambda v: v.add_image(np.ones((16, 16), np.uint8), name="x"))
    widget._pyramid._image_method.value = "max"
    widget._storage._version.value = "0.5"
    widget._storage._codec.value = "none"
    widget._dest.value = tmp_path / "sub" / "x.ome.zarr"
    widget._export.changed()
    _wait(qtbot, widget)
    saved = json.loads((tmp_path / "config" / "export-widget.json").read_text())
    assert saved["image_method"] == "max" and saved["ngff_version"] == "0.5"
    from napari_omezarr_export._napari._widget.widget import ExportWidget

    again = ExportWidget(viewer)
    assert again._pyramid._image_method.value == "max"
    assert again._storage._version.value == "0.5"
    assert again._storage._codec.value == "none"
    assert again._destination().parent == tmp_path / "sub"


def test_invalid_selection_says_why_in_the_preview(docked, tmp_path):
    viewer, widget = docked(
        lambda v: v.add_image(np.ones((16, 16), np.uint8), name="a"),
        lambda v: v.add_image(np.ones((8, 8), np.uint8), name="b"),
    )
    assert widget._preview.value.startswith("{")  # a valid default: one of the two
    widget._layers.value = [viewer.layers["a"], viewer.layers["b"]]  # the user picks both
    widget.refresh()
    text = widget._preview.value
    assert text.startswith("Cannot export: Image layers of different shapes"), text
    assert "'a' (16, 16), 'b' (8, 8)" in text and "Select layers of one shape" in text
    assert widget._preview_attrs == {}
    shapes = widget._pyramid._shapes.value
    assert shapes.startswith("none: Image layers of different shapes") and "(8, 8)" in shapes
    widget._dest.value = tmp_path / "bad.ome.zarr"
    widget._export.changed()
    assert widget._worker is None
    assert "different shapes" in widget._status.value
    assert not (tmp_path / "bad.ome.zarr").exists()
    widget._layers.value = []
    widget.refresh()
    assert widget._preview.value == (
        "Cannot export: Select at least one Image or Labels layer to export."
    )


def _rgb_channels_and_labels(rgb_last: bool):
    """Adders for an RGB photo of another shape, two channel layers and their labels."""
    rgb = np.zeros((40, 50, 3), np.uint8)
    cells = np.zeros((64, 48), np.int32)
    cells[5:20, 5:20] = 2
    adders = [
        lambda v: v.add_image(np.full((64, 48), 7, np.uint16), name="dapi", colormap="blue"),
        lambda v: v.add_image(np.full((64, 48), 9, np.uint16), name="gfp", colormap="green"),
        lambda v: v.add_labels(cells, name="cells"),
        lambda v: v.add_labels(np.zeros((40, 50), np.uint8), name="photo marks"),
    ]
    photo = [lambda v: v.add_image(rgb, name="photo", rgb=True)]
    return adders + photo if rgb_last else photo + adders


@pytest.mark.parametrize("rgb_last", [False, True])
def test_default_selection_is_the_largest_group_and_its_labels(docked, rgb_last):
    viewer, widget = docked(*_rgb_channels_and_labels(rgb_last))
    assert len(viewer.layers.selection) == 1  # napari selected the last layer added
    assert [layer.name for layer in widget._layers.value] == ["dapi", "gfp", "cells"]
    assert [row._name.value for row in widget._channels.rows] == ["dapi", "gfp"]
    assert sorted(widget._preview_attrs) == ["", "labels", "labels/cells"]
    assert json.loads(widget._preview.value) == widget._preview_attrs
    assert widget._pyramid._shapes.value == "0: 2 × 64 × 48"
    assert widget._storage._chunks.value == "1, 64, 48"


def test_selected_layers_are_preselected_when_they_can_be_saved(docked):
    def select(names):  # as a user clicks, then shift-clicks, in the layer list
        def choose(viewer):
            viewer.layers.selection.clear()
            viewer.layers.selection.update([viewer.layers[n] for n in names])

        return choose

    _viewer, widget = docked(*_rgb_channels_and_labels(False), select(["gfp", "cells"]))
    assert [layer.name for layer in widget._layers.value] == ["gfp", "cells"]
    assert sorted(widget._preview_attrs) == ["", "labels", "labels/cells"]
    assert [c["label"] for c in widget._preview_attrs[""]["omero"]["channels"]] == ["gfp"]
    # A selection that cannot be saved together (RGB photo of another size) is not taken.
    _viewer, widget = docked(*_rgb_channels_and_labels(False), select(["photo", "dapi"]))
    assert [layer.name for layer in widget._layers.value] == ["dapi", "gfp", "cells"]
    assert widget._preview_attrs


def test_a_new_layer_joins_the_selection_when_it_fits(docked):
    viewer, widget = docked(lambda v: v.add_image(np.ones((64, 48), np.uint16), name="dapi"))
    viewer.add_image(np.zeros((40, 50, 3), np.uint8), name="photo", rgb=True)
    viewer.add_labels(np.zeros((64, 48), np.int32), name="cells")
    viewer.add_labels(np.zeros((40, 50), np.int32), name="photo marks")
    assert [layer.name for layer in widget._layers.value] == ["dapi", "cells"]
    widget.refresh()
    assert sorted(widget._preview_attrs) == ["", "labels", "labels/cells"]


def test_labels_alone_and_window_tools(docked, qtbot, tmp_path):
    lab = np.zeros((32, 32), np.int32)
    lab[4:9, 4:9] = 7
    viewer, widget = docked(lambda v: v.add_labels(lab, name="seg"))
    assert list(widget._preview_attrs) == [""]  # a labels store at the suggested name
    widget._dest.value = tmp_path / "seg.ome.zarr"
    widget.refresh()
    preview = widget._preview_attrs
    widget._export.changed()
    _wait(qtbot, widget)
    store = tmp_path / "seg.ome.zarr"
    assert assert_valid_store(store) >= 1
    assert preview and preview == {key: _read_attrs(store, key) for key in preview}
    # Into an existing image: the preview shows the label group and the image's labels list.
    [image] = write_image(np.ones((32, 32), np.uint8), tmp_path / "img.zarr")
    widget._dest.value = image
    widget.refresh()
    preview = widget._preview_attrs
    assert sorted(preview) == ["labels", "labels/seg"]
    widget._confirm_replace = lambda path: True  # "add labels to img.zarr?": yes
    widget._export.changed()
    _wait(qtbot, widget)
    assert preview == {key: _read_attrs(image, key) for key in preview}
    img = np.linspace(0, 1000, 32 * 32).reshape(32, 32).astype(np.float32)
    layer = viewer.add_image(img, name="ramp", contrast_limits=(0, 1))
    row = widget._channels.rows[0]
    widget.windows_from_data()
    assert 0 <= row._start.value < 5 and 995 < row._end.value <= 1000
    row.set_color("00FF00")
    row._name.value = "ramp2"
    assert layer.contrast_limits == [0, 1]
    widget._apply.changed()
    assert layer.name == "ramp2" and layer.contrast_limits[1] == pytest.approx(row._end.value)
    assert tuple(layer.colormap.colors[-1][:3]) == (0, 1, 0)


def _count_plans(monkeypatch) -> list:
    """Return a list that gets every `ExportPlan` made from now on."""
    from napari_omezarr_export import ExportPlan

    made = []
    original = ExportPlan.__init__

    def counting(self, *args, **kwargs):
        made.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(ExportPlan, "__init__", counting)
    return made


def test_one_plan_per_refresh_reused_by_export(docked, qtbot, tmp_path, monkeypatch, rng):
    """A refresh plans once; Export runs that plan when nothing changed, else plans once more."""
    image = rng.integers(0, 4000, (2, 64, 48), dtype=np.uint16)
    lab = np.zeros((64, 48), np.int32)
    lab[5:20, 5:20] = 2
    _, widget = docked(
        lambda v: v.add_image(image, name="img", channel_axis=0),
        lambda v: v.add_labels(lab, name="cells"),
    )
    made = _count_plans(monkeypatch)
    widget._dest.value = tmp_path / "counted.ome.zarr"
    widget._pyramid._levels.value = 2  # an option change: one refresh, one plan
    widget.refresh()
    assert len(made) == 1
    assert widget._pyramid._shapes.value == "0: 2 × 64 × 48\n1: 2 × 32 × 24"
    assert made[0].paths == [tmp_path / "counted.ome.zarr"]
    widget._export.changed()  # nothing changed: the refresh's plan is written
    _wait(qtbot, widget)
    assert len(made) == 1
    assert _read_attrs(tmp_path / "counted.ome.zarr", "") == widget._preview_attrs[""]
    widget._dest.value = tmp_path / "moved.ome.zarr"  # a new destination: planned once more
    widget._export.changed()
    _wait(qtbot, widget)
    assert len(made) == 2
    assert (tmp_path / "moved.ome.zarr" / "labels" / "cells").is_dir()


def test_export_right_after_a_layer_change_writes_the_new_state(docked, qtbot, tmp_path, rng):
    """Scale, translation and a labels layer's display state changed just before Export."""
    image = rng.integers(0, 4000, (2, 64, 48), dtype=np.uint16)
    viewer, widget = docked(
        lambda v: v.add_image(image, name="img", channel_axis=0),
        lambda v: v.add_labels(np.ones((64, 48), np.int32), name="cells"),
    )
    widget._dest.value = tmp_path / "changed.ome.zarr"
    widget.refresh()  # the plan for this destination is current; no refresh is pending
    assert not widget.refresh_pending
    for layer in viewer.layers:
        layer.scale = (0.5, 0.25)
    viewer.layers["cells"].opacity = 0.3
    widget._export.changed()  # at once, before the delayed refresh would have run
    _wait(qtbot, widget)
    attrs = _read_attrs(tmp_path / "changed.ome.zarr", "")
    level0 = attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]
    assert level0["scale"] == [1.0, 0.5, 0.25]
    cells = _read_attrs(tmp_path / "changed.ome.zarr", "labels/cells")
    assert cells["napari_display"]["opacity"] == 0.3


def test_labels_alone_plan_once_per_refresh(docked, qtbot, tmp_path, monkeypatch):
    lab = np.zeros((32, 32), np.int32)
    lab[2:9, 2:9] = 1
    _, widget = docked(lambda v: v.add_labels(lab, name="cells"))
    made = _count_plans(monkeypatch)
    widget._dest.value = tmp_path / "cells.ome.zarr"
    widget.refresh()
    assert len(made) == 1
    widget._export.changed()
    _wait(qtbot, widget)
    assert len(made) == 1
    assert _read_attrs(tmp_path / "cells.ome.zarr", "") == widget._preview_attrs[""]

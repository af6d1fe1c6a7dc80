"""The export widget with a layer that has its own channel axis, and with targets it refuses."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr

from validation import assert_valid_store

PLUGIN, WIDGET = "napari-omezarr-export", "OME-Zarr export"


@pytest.fixture
def stack(make_napari_viewer, rng):
    """A viewer holding one (z, c, y, x) layer whose channels differ a lot in brightness."""
    data = np.stack([rng.integers(0, 100, (3, 48, 64)), rng.integers(1000, 5000, (3, 48, 64))])
    data = np.moveaxis(data.astype(np.uint16), 0, 1)  # z, c, y, x
    viewer = make_napari_viewer()
    viewer.add_image(data, name="stack", axis_labels=("z", "c", "y", "x"),
                     metadata={"channel_names": ["dim", "bright"]})  # fmt: skip
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget._layers.value = [viewer.layers["stack"]]
    widget.refresh()
    return viewer, widget, data


def test_a_layer_with_its_own_channel_axis_gets_a_row_per_channel(stack, qtbot, tmp_path):
    _viewer, widget, data = stack
    rows = widget._channels.rows
    assert [row._name.value for row in rows] == ["dim", "bright"]
    widget.windows_from_data()  # each row's window from its own channel
    assert rows[0]._end.value < 100 <= 1000 <= rows[1]._start.value
    rows[1]._name.value = "GFP"
    widget._dest.value = tmp_path / "stack.ome.zarr"
    widget.refresh()
    assert widget._status.value == ""
    preview = widget._preview_attrs
    widget._export.changed()
    qtbot.waitUntil(lambda: widget._worker is None, timeout=20_000)
    store = tmp_path / "stack.ome.zarr"
    assert_valid_store(store)
    np.testing.assert_array_equal(zarr.open_group(store, mode="r")["0"][:], data.swapaxes(0, 1))
    attrs = json.loads((store / ".zattrs").read_text())
    assert attrs == preview[""]
    assert [c["label"] for c in attrs["omero"]["channels"]] == ["dim", "GFP"]


@pytest.mark.parametrize("target", ["foo://bucket/stack.ome.zarr", "{tmp}/notes.txt/x.ome.zarr"])
def test_targets_that_cannot_be_written_are_explained_and_nothing_is_written(
    stack, target, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("my notes")
    _, widget, _ = stack
    widget._dest.line_edit.value = target.format(tmp=tmp_path)  # typed into "Save as"
    widget.refresh()
    widget._export.changed()
    assert widget._worker is None
    expected = (
        "'foo://bucket/stack.ome.zarr': the scheme foo://" if "foo" in target else "is a file"
    )
    assert expected in widget._status.value
    assert {p.name for p in tmp_path.iterdir()} - {"config"} == {"notes.txt"}


def test_the_widget_exports_to_an_s3_url_typed_into_save_as(stack, qtbot, s3_env, tmp_path,
                                                            monkeypatch):  # fmt: skip
    from napari_omezarr_export import read

    monkeypatch.chdir(tmp_path)
    s3_env.make_bucket("widget-exports")
    _, widget, data = stack
    widget._dest.line_edit.value = "s3://widget-exports/run1/stack.ome.zarr"  # typed
    widget.refresh()
    widget._export.changed()
    qtbot.waitUntil(lambda: widget._worker is None, timeout=30_000)

    assert "Saved" in widget._status.value or "s3://widget-exports" in widget._status.value
    specs = read("s3://widget-exports/run1/stack.ome.zarr")
    assert [s.name for s in specs] == ["dim", "bright"]
    np.testing.assert_array_equal(np.asarray(specs[1].data[0]), data[:, 1])
    assert {p.name for p in tmp_path.iterdir()} - {"config"} == set()  # no local "s3:" folder

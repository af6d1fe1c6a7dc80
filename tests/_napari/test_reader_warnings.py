"""What the reader skipped or could not do reaches the user as a napari notification."""

import json

import numpy as np

import napari_omezarr_export.core.read.labels as core_labels
from napari_omezarr_export import LabelsSpec, PyramidOptions, write_image

PLUGIN = "napari-omezarr-export"


def _image_with_labels(tmp_path, levels=1):
    nuclei = np.zeros((64, 64), np.int32)
    nuclei[10:30, 10:30] = 1
    [path] = write_image(
        np.ones((2, 64, 64), np.uint16),
        tmp_path / "img.ome.zarr",
        channels=["DAPI", "GFP"],
        labels=[LabelsSpec(nuclei, "nuclei")],
        pyramid=PyramidOptions(levels=levels),
    )
    return path


def test_a_broken_labels_list_does_not_hide_the_image(make_napari_viewer, tmp_path, monkeypatch):
    path = _image_with_labels(tmp_path)
    attrs = path / "labels" / ".zattrs"
    attrs.write_text(json.dumps({"labels": "nuclei"}))  # a string, not a list
    shown = []
    monkeypatch.setattr("napari.utils.notifications.show_warning", shown.append)
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    assert [layer.name for layer in viewer.layers] == ["DAPI", "GFP"]
    assert len(shown) == 1
    assert str(attrs) in shown[0] and "must be a list of label names" in shown[0]
    assert "opens without its labels" in shown[0]


def test_labels_too_large_to_edit_say_how_to_edit_them(make_napari_viewer, tmp_path, monkeypatch):
    path = _image_with_labels(tmp_path, levels=2)
    monkeypatch.setattr(core_labels, "EDITABLE_LABELS_BYTES", 1024)
    told = []
    monkeypatch.setattr("napari.utils.notifications.show_info", told.append)
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    assert viewer.layers["nuclei"].multiscale
    assert any("nuclei" in m and "Edit labels (load full resolution)" in m for m in told)

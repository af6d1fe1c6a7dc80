"""Layers opened from a plate's field remember it, and File > Save Layers puts them back there."""

import json

import numpy as np
import pytest

import napari_omezarr_export
from napari_omezarr_export import (
    StorageOptions,
    WriteFailedError,
    write_image,
    write_plate_field,
)
from validation import assert_valid_store

PLUGIN = "napari-omezarr-export"
SHAPE = (2, 40, 48)


def _field(value):
    return (value + np.arange(np.prod(SHAPE)).reshape(SHAPE) % 11).astype(np.uint16)


def _files(path):
    return {p: p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _plate(tmp_path, version="0.4"):
    """A plate of wells A1 (fields 0, 1) and B2 (field 0), written by this plugin."""
    plate = tmp_path / "screen.ome.zarr"
    storage = StorageOptions(ngff_version=version)
    for value, (well, field) in enumerate([("A1", 0), ("A1", 1), ("B2", 0)]):
        write_plate_field(_field(100 * (value + 1)), plate, well=well, field=field,
                          channels=["DAPI", "GFP"], storage=storage)  # fmt: skip
    return plate


def _level0(plate, path):
    """The field's channel-0 full-resolution pixels, read back with our reader."""
    specs = napari_omezarr_export.read(plate / path)
    return np.asarray(specs[0].data[0])


def test_a_field_opened_alone_remembers_its_plate_well_and_field(make_napari_viewer, tmp_path):
    plate = _plate(tmp_path)
    viewer = make_napari_viewer()
    viewer.open(str(plate / "A" / "1" / "1"), plugin=PLUGIN)
    assert [layer.name for layer in viewer.layers] == ["DAPI", "GFP"]
    for layer in viewer.layers:
        assert layer.metadata["plate_field"] == {
            "plate": str(plate), "well": "A1", "field": 1, "path": "A/1/1",
        }  # fmt: skip
    # an ordinary image (not a field) carries no plate field
    write_image(_field(7), tmp_path / "alone.ome.zarr", channels=["DAPI", "GFP"])
    viewer.open(str(tmp_path / "alone.ome.zarr"), plugin=PLUGIN)
    assert "plate_field" not in viewer.layers[-1].metadata


@pytest.mark.parametrize(("version", "into"), [("0.4", "field"), ("0.5", "plate")])
def test_saving_a_fields_layers_writes_back_into_that_field(
    make_napari_viewer, tmp_path, version, into
):
    plate = _plate(tmp_path, version)
    others = {p: b for p, b in _files(plate).items() if "A/1/1" not in p.as_posix()}
    field = plate / "A" / "1" / "1"
    viewer = make_napari_viewer()
    viewer.open(str(field), plugin=PLUGIN)
    dapi = viewer.layers["DAPI"]
    edited = np.asarray(dapi.data[0] if dapi.multiscale else dapi.data).copy()
    edited[:10, :10] = 4242
    viewer.layers.remove(dapi)  # an edited copy in its place (napari cannot edit a pyramid)
    viewer.add_image(edited, name="DAPI", metadata=dict(dapi.metadata))
    viewer.layers.move(len(viewer.layers) - 1, 0)
    cells = np.zeros(SHAPE[1:], np.int32)
    cells[5:20, 8:30] = 7
    viewer.add_labels(cells, name="cells")
    viewer.layers["cells"].metadata = dict(viewer.layers["DAPI"].metadata)
    target = field if into == "field" else plate
    written = viewer.layers.save(str(target), plugin=PLUGIN)
    assert written == [str(field)]
    np.testing.assert_array_equal(_level0(plate, "A/1/1"), edited)
    after = _files(plate)
    # every other field, the well's and the plate's lists are byte-identical (they already
    # listed this field)
    assert {p: b for p, b in after.items() if "A/1/1" not in p.as_posix()} == others
    assert assert_valid_store(plate) >= 4
    reopened = make_napari_viewer()
    reopened.open(str(plate), plugin=PLUGIN)
    wells = reopened.layers[0].metadata["plate"]["wells"]
    assert sorted(wells) == ["A1", "B2"]
    specs = napari_omezarr_export.read(field)
    labels = [s for s in specs if s.layer_type == "labels"]
    assert [s.name for s in labels] == ["cells"]
    np.testing.assert_array_equal(np.asarray(labels[0].data[0]), cells)
    (zarr_json,) = {"0.4": [".zattrs"], "0.5": ["zarr.json"]}[version]
    assert (field / zarr_json).is_file()  # the plate kept its version


def test_saving_elsewhere_is_an_ordinary_save(make_napari_viewer, tmp_path):
    plate = _plate(tmp_path)
    before = _files(plate)
    viewer = make_napari_viewer()
    viewer.open(str(plate / "B" / "2" / "0"), plugin=PLUGIN)
    written = viewer.layers.save(str(tmp_path / "copy.ome.zarr"), plugin=PLUGIN)
    assert written == [str(tmp_path / "copy.ome.zarr")]
    assert_valid_store(tmp_path / "copy.ome.zarr")
    assert _files(plate) == before


def test_layers_of_two_fields_are_not_mixed_into_one(make_napari_viewer, tmp_path):
    plate = _plate(tmp_path)
    before = _files(plate)
    viewer = make_napari_viewer()
    viewer.open(str(plate / "A" / "1" / "0"), plugin=PLUGIN)
    viewer.open(str(plate / "A" / "1" / "1"), plugin=PLUGIN)
    viewer.layers.selection = set(list(viewer.layers)[1:3])  # GFP of field 0, DAPI of field 1
    with pytest.raises(WriteFailedError, match="different plate fields"):
        viewer.layers.save(str(plate), plugin=PLUGIN, selected=True)
    assert _files(plate) == before


def test_labels_alone_are_saved_into_the_field_they_belong_to(make_napari_viewer, tmp_path):
    plate = _plate(tmp_path)
    field = plate / "B" / "2" / "0"
    image_files = {p: b for p, b in _files(plate).items() if "labels" not in p.parts}
    viewer = make_napari_viewer()
    viewer.open(str(field), plugin=PLUGIN)
    painted = np.zeros(SHAPE[1:], np.int32)
    painted[5:20, 10:30] = 4
    labels = viewer.add_labels(painted, name="cells")
    labels.metadata = dict(viewer.layers["DAPI"].metadata)
    viewer.layers.selection = {labels}

    written = viewer.layers.save(str(field), plugin=PLUGIN, selected=True)

    assert written == [str(field / "labels" / "cells")]
    after = _files(plate)
    assert {p: b for p, b in after.items() if "labels" not in p.parts} == image_files
    found = {s.name: s for s in napari_omezarr_export.read(field)}
    np.testing.assert_array_equal(np.asarray(found["cells"].data[0]), painted)
    assert_valid_store(plate)


def test_a_field_of_a_reference_plate_is_saved_back_in_place(make_napari_viewer, tmp_path):
    from store_factories import make_plate

    plate, truth = make_plate(tmp_path / "ref.ome.zarr", rows="AB", columns=("1", "2"))
    field = plate / "B" / "1" / "0"
    others = {p: b for p, b in _files(plate).items() if not p.is_relative_to(field)}
    viewer = make_napari_viewer()
    viewer.open(str(field), plugin=PLUGIN)
    viewer.layers["channel 1"].contrast_limits = (0, 5000)
    written = viewer.layers.save(str(plate), plugin=PLUGIN)
    assert written == [str(field)]
    after = _files(plate)
    assert {p: b for p, b in after.items() if not p.is_relative_to(field)} == others
    np.testing.assert_array_equal(_level0(plate, "B/1/0"), truth[("B1", 0)][0])
    assert (
        json.loads((field / ".zattrs").read_text())["omero"]["channels"][1]["window"]["end"]
        == 5000
    )
    assert_valid_store(plate)

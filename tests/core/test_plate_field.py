"""An image opened from a plate's field knows its plate, well and field; other images do not."""

import json

import numpy as np
import pytest

import napari_omezarr_export
from napari_omezarr_export.core.reader import plate_field_of, plate_ngff_version
from store_factories import make_plate


def _metadata(path):
    return [spec.kwargs["metadata"] for spec in napari_omezarr_export.read(path)]


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_fields_of_a_reference_plate_carry_their_plate_well_and_field(tmp_path, version):
    plate, _ = make_plate(tmp_path / "p.ome.zarr", version, rows="AB", columns=("1", "10"))
    for metadata in _metadata(plate / "B" / "10" / "1"):
        assert metadata["plate_field"] == {
            "plate": str(plate), "well": "B10", "field": 1, "path": "B/10/1",
        }  # fmt: skip
    assert all("plate_field" not in m for m in _metadata(plate))  # the plate itself: a mosaic
    assert plate_ngff_version(plate) == version
    assert plate_ngff_version(plate / "A") is None  # a row group is no plate
    assert plate_ngff_version(tmp_path / "missing.zarr") is None


def _edit_attrs(path, key, change):
    """Change one OME attribute of a v2 group (.zattrs)."""
    attrs = json.loads((path / ".zattrs").read_text())
    attrs[key] = change(attrs[key])
    (path / ".zattrs").write_text(json.dumps(attrs))


def test_an_image_that_its_well_or_plate_does_not_list_is_no_field(tmp_path):
    plate, _ = make_plate(tmp_path / "p.ome.zarr", rows="A", columns=("1", "2"))
    _edit_attrs(plate / "A" / "1", "well", lambda w: {**w, "images": w["images"][:1]})
    _edit_attrs(plate, "plate", lambda p: {**p, "wells": p["wells"][:1]})  # lists A/1 only
    assert plate_field_of(plate / "A" / "1" / "0") is not None
    assert plate_field_of(plate / "A" / "1" / "1") is None  # the well does not list field 1
    assert plate_field_of(plate / "A" / "2" / "0") is None  # the plate does not list well A/2
    assert all("plate_field" not in m for m in _metadata(plate / "A" / "2" / "0"))


def test_a_plain_image_and_a_broken_well_give_no_field(tmp_path):
    path = tmp_path / "a" / "b" / "c" / "img.ome.zarr"
    napari_omezarr_export.write_image(np.zeros((8, 8), np.uint8), path)
    assert plate_field_of(path) is None
    assert all("plate_field" not in m for m in _metadata(path))
    (path.parent / ".zattrs").write_text("{not json")  # a broken parent: the image still opens
    assert plate_field_of(path) is None
    assert _metadata(path)

"""write_plate_field: a plate grows one field at a time, stays valid, and others never change."""

import numpy as np
import pytest
from napari_ome_zarr import napari_get_reader

import napari_omezarr_export
from napari_omezarr_export import (
    InvalidOptionError,
    StorageOptions,
    TargetExistsError,
    iter_write_plate_field,
    write_image,
    write_plate_field,
)
from validation import assert_valid_store


def _field(value, shape=(2, 40, 48)):
    return (value + np.arange(np.prod(shape)).reshape(shape) % 11).astype(np.uint16)


def _files(path):
    return {p: p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_fields_added_one_by_one_make_a_valid_plate(tmp_path, version):
    plate = tmp_path / "screen.ome.zarr"
    storage = StorageOptions(ngff_version=version)
    written = {("B3", 0): _field(100), ("B3", 1): _field(200), ("A10", 0): _field(300),
               ("A2", 0): _field(400)}  # fmt: skip
    for (well, field), data in written.items():
        [path] = write_plate_field(data, plate, well=well, field=field, channels=["DAPI", "GFP"],
                                   storage=storage)  # fmt: skip
        assert path == plate / well[0] / well[1:] / str(field)
        assert_valid_store(plate)
    specs = napari_omezarr_export.read(plate)
    image = specs[0]
    assert image.name == "DAPI"
    wells = image.kwargs["metadata"]["plate"]
    assert wells["rows"] == ["A", "B"] and wells["columns"] == ["2", "3", "10"]
    for (well, field), data in written.items():
        y0, x0, _, _ = wells["wells"][well]["box"]
        np.testing.assert_array_equal(
            np.asarray(image.data[0][field, y0 : y0 + 40, x0 : x0 + 48]), data[0]
        )
    # napari-ome-zarr (the reference reader) opens it: its mosaic shows each well's first field
    layers = napari_get_reader(str(plate))(str(plate))
    assert layers and layers[0][0][0].shape[-2:] == (2 * 40, 3 * 48)


def test_replacing_a_field_leaves_every_other_file_as_it_was(tmp_path):
    plate = tmp_path / "screen.ome.zarr"
    write_plate_field(_field(1), plate, well="A1", field=0)
    write_plate_field(_field(2), plate, well="A1", field=1)
    write_plate_field(_field(3), plate, well="B2", field=0)
    others = {p: b for p, b in _files(plate).items() if "A/1/1" not in str(p.relative_to(plate))}
    write_plate_field(_field(9), plate, well="A1", field=1)  # replaced
    after = _files(plate)
    changed = [p for p, b in others.items() if after.get(p) != b]
    assert changed == [], changed
    assert_valid_store(plate)
    image = napari_omezarr_export.read(plate / "A" / "1" / "1")[0]
    np.testing.assert_array_equal(
        np.asarray(image.data[0]), _field(9)
    )  # a z-stack: no channels given


def test_a_stopped_write_leaves_the_plate_as_it_was(tmp_path):
    plate = tmp_path / "screen.ome.zarr"
    write_plate_field(_field(1), plate, well="A1")
    before = _files(plate)
    steps = iter_write_plate_field(_field(2), plate, well="C4", field=0)
    next(steps)
    steps.close()  # a Cancel, half way
    assert _files(plate) == before
    assert_valid_store(plate)


def test_wrong_targets_and_wells_say_why(tmp_path):
    [image] = write_image(_field(1), tmp_path / "image.ome.zarr")
    with pytest.raises(TargetExistsError, match="not an HCS plate"):
        write_plate_field(_field(1), image, well="A1")
    with pytest.raises(InvalidOptionError, match="not a well name"):
        write_plate_field(_field(1), tmp_path / "p.zarr", well="1A")
    with pytest.raises(InvalidOptionError, match="whole number"):
        write_plate_field(_field(1), tmp_path / "p.zarr", well="A1", field=-1)
    assert not (tmp_path / "p.zarr").exists()

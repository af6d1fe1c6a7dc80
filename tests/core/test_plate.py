"""HCS plates written by ome-zarr-py (NGFF 0.4 and 0.5) open as mosaics with every field."""

import json
import logging

import numpy as np
import pytest
import zarr
from ome_zarr.format import FormatV04

import napari_omezarr_export
from napari_omezarr_export import StoreFormatError
from store_factories import make_plate


def _by_name(specs):
    return {s.name: s for s in specs}


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_every_field_of_every_well_is_in_place(tmp_path, version, caplog):
    path, truth = make_plate(tmp_path / "plate.ome.zarr", version, missing=("B/3",))
    with caplog.at_level(logging.WARNING):
        specs = napari_omezarr_export.read(path)
    layers = _by_name(specs)
    assert [s.layer_type for s in specs] == ["image", "image", "labels"]
    channel0 = specs[0]
    assert channel0.kwargs["axis_labels"] == ("field", "y", "x")
    assert channel0.multiscale and len(channel0.data) == 2
    wells = channel0.kwargs["metadata"]["plate"]["wells"]
    assert sorted(wells) == ["A1", "A2", "A3", "B1", "B2", "B3"]
    level0 = channel0.data[0]
    assert level0.shape[0] == 2  # the field slider
    for (well, field), data in truth.items():
        y0, x0, y1, x1 = wells[well]["box"]
        shown = np.asarray(level0[field, y0:y1, x0:x1])
        np.testing.assert_array_equal(shown[: data.shape[1], : data.shape[2]], data[0])
        assert not shown[data.shape[1] :, :].any() and not shown[:, data.shape[2] :].any()
    y0, x0, y1, x1 = wells["B3"]["box"]
    assert not np.asarray(level0[:, y0:y1, x0:x1]).any()  # a missing well is blank ...
    assert any("B3" in r.getMessage() and "missing" in r.getMessage() for r in caplog.records)
    h = wells["A2"]["box"][1]  # ... and wells are apart: the gap between A1 and A2 is blank
    assert h > truth[("A1", 0)].shape[2]
    assert not np.asarray(level0[:, :, truth[("A1", 0)].shape[2] : h]).any()
    wells_layer = layers["wells"]
    features = wells_layer.kwargs["features"]
    label = int(np.asarray(wells_layer.data[0][wells["B2"]["box"][0], wells["B2"]["box"][1]]))
    assert features.set_index("index").loc[label, "well"] == "B2"


def test_lower_levels_show_the_fields_lower_levels(tmp_path):
    path, _ = make_plate(tmp_path / "plate.ome.zarr", levels=3)
    image = napari_omezarr_export.read(path)[0]
    wells = image.kwargs["metadata"]["plate"]["wells"]
    level2 = zarr.open_array(path / "B" / "2" / "1" / "s2", mode="r")[0]  # ome-zarr-py's names
    y0, x0, _, _ = (v // 4 for v in wells["B2"]["box"])
    shown = np.asarray(image.data[2][1, y0 : y0 + level2.shape[0], x0 : x0 + level2.shape[1]])
    np.testing.assert_array_equal(shown, level2)


def test_wells_of_different_sizes_and_one_level(tmp_path):
    sizes = {"A/1": (48, 40), "A/2": (30, 64)}
    path, truth = make_plate(tmp_path / "p.zarr", rows="A", columns=("1", "2"), fields=1,
                             sizes=sizes, levels=1)  # fmt: skip
    image = napari_omezarr_export.read(path)[0]
    assert not image.multiscale
    wells = image.kwargs["metadata"]["plate"]["wells"]
    for well in ("A1", "A2"):
        y0, x0, _, _ = wells[well]["box"]
        data = truth[(well, 0)][0]
        got = np.asarray(image.data[0][0, y0 : y0 + data.shape[0], x0 : x0 + data.shape[1]])
        np.testing.assert_array_equal(got, data)


def test_a_dropped_well_opens_its_fields(tmp_path):
    path, truth = make_plate(tmp_path / "plate.ome.zarr")
    specs = napari_omezarr_export.read(path / "A" / "2")
    assert [s.layer_type for s in specs] == ["image", "image"]
    level0 = specs[1].data[0]  # channel 1
    for field in (0, 1):
        data = truth[("A2", field)][1]
        np.testing.assert_array_equal(
            np.asarray(level0[field, : data.shape[0], : data.shape[1]]), data
        )
    assert napari_omezarr_export.read(path / "A" / "2" / "1")[0].data[0].shape == (48, 40)


def _edit_plate(path, edit):
    attrs_file = path / ".zattrs"
    attrs = json.loads(attrs_file.read_text())
    edit(attrs["plate"])
    attrs_file.write_text(json.dumps(attrs))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda p: p["wells"].__setitem__(0, {"path": "../../x", "rowIndex": 0, "columnIndex": 0}),
         "outside"),
        (lambda p: p.__setitem__("rows", "A"), "'rows' must be a non-empty list"),
        (lambda p: p.__setitem__("wells", [{"path": f"A/{i}", "rowIndex": 0, "columnIndex": 0}
                                           for i in range(20_000)]), "20,000 wells"),
        (lambda p: p.__setitem__("wells", [{"path": f"A/{i}", "rowIndex": 0, "columnIndex": 0}
                                           for i in range(1_000_000)]), "larger than 16 MB"),
        (lambda p: p.__setitem__("wells", [{"path": "Z/9", "rowIndex": 7, "columnIndex": 7}]),
         "no well of this plate holds a readable image"),
    ],
    ids=["well-path-dotdot", "rows-not-a-list", "20000-wells", "a-million-wells",
         "wells-not-in-the-lists"],
)  # fmt: skip
def test_bad_plates_say_what_is_wrong(tmp_path, edit, match):
    path, _ = make_plate(tmp_path / "plate.ome.zarr", rows="A", columns=("1",), fields=1)
    _edit_plate(path, edit)
    with pytest.raises(StoreFormatError, match=match):
        napari_omezarr_export.read(path)


def test_wells_that_are_not_images_are_blank_with_a_warning(tmp_path, caplog):
    path, _ = make_plate(tmp_path / "plate.ome.zarr", rows="A", columns=("1", "2"), fields=1)
    field = path / "A" / "2" / "0" / ".zattrs"
    field.write_text(json.dumps({"not": "an image"}))
    with caplog.at_level(logging.WARNING):
        image = napari_omezarr_export.read(path)[0]
    assert any("A2" in r.getMessage() for r in caplog.records)
    y0, x0, y1, x1 = image.kwargs["metadata"]["plate"]["wells"]["A2"]["box"]
    assert not np.asarray(image.data[0][:, y0:y1, x0:x1]).any()


def test_labels_in_the_fields_become_a_mosaic_in_register(tmp_path):
    from ome_zarr.writer import write_labels as write_field_labels

    path, _ = make_plate(tmp_path / "plate.ome.zarr", rows="A", columns=("1", "2"))
    masks = {}
    for well, column in (("A1", "1"), ("A2", "2")):
        for field in (0, 1):
            mask = np.zeros((48, 40), np.uint16)
            mask[5 + field : 20, 3 : 10 + 5 * int(column)] = 1 + field
            masks[(well, field)] = mask
            group = zarr.open_group(path / "A" / column / str(field), mode="a")
            write_field_labels(mask, group, name="nuclei", axes="yx", fmt=FormatV04(),
                               scale_factors=[2])  # fmt: skip
    specs = _by_name(napari_omezarr_export.read(path))
    nuclei = specs["nuclei"]
    assert nuclei.layer_type == "labels" and nuclei.kwargs["axis_labels"] == ("field", "y", "x")
    assert nuclei.kwargs["scale"][-2:] == specs["channel 0"].kwargs["scale"][-2:]
    wells = nuclei.kwargs["metadata"]["plate"]["wells"]
    for (well, field), mask in masks.items():
        y0, x0, _, _ = wells[well]["box"]
        shown = np.asarray(nuclei.data[0][field, y0 : y0 + 48, x0 : x0 + 40])
        np.testing.assert_array_equal(shown, mask)

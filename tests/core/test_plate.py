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


def test_a_broken_field_leaves_only_its_own_slot_blank(tmp_path, caplog):
    path, truth = make_plate(tmp_path / "plate.ome.zarr", rows="A", columns=("1", "2"))
    (path / "A" / "2" / "0" / ".zattrs").write_text(json.dumps({"not": "an image"}))
    with caplog.at_level(logging.WARNING):
        image = napari_omezarr_export.read(path)[0]
    assert any("A2 field 0" in r.getMessage() for r in caplog.records)
    y0, x0, y1, x1 = image.kwargs["metadata"]["plate"]["wells"]["A2"]["box"]
    assert not np.asarray(image.data[0][0, y0:y1, x0:x1]).any()
    shown = np.asarray(image.data[0][1, y0 : y0 + 48, x0 : x0 + 40])
    np.testing.assert_array_equal(shown, truth[("A2", 1)][0])  # field 1 stays on slot 1


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


def _label_fields(path, values, properties):
    """Write a ``nuclei`` label image into fields A1/0, A1/1, A2/0, A2/1 (not A2/1 if absent).

    ``values(well, field)`` gives the two label values of that field; ``properties(well, field,
    value)`` the property row of each (None: that label image has no properties).
    """
    from ome_zarr.writer import write_labels as write_field_labels

    masks = {}
    for well in ("A1", "A2"):
        for field in (0, 1):
            mask = np.zeros((48, 40), np.uint16)
            first, second = values(well, field)
            mask[4:14, 4:14], mask[20:30, 20:30] = first, second
            rows = [properties(well, field, v) for v in (first, second)]
            meta = {"properties": rows} if rows[0] is not None else {}
            group = zarr.open_group(path / "A" / well[1] / str(field), mode="a")
            write_field_labels(mask, group, name="nuclei", axes="yx", fmt=FormatV04(),
                               scale_factors=[2], label_metadata=meta)  # fmt: skip
            masks[(well, field)] = mask
    return masks


def test_field_label_properties_shared_values_keep_what_agrees(tmp_path):
    path, _ = make_plate(tmp_path / "plate.ome.zarr", rows="A", columns=("1", "2"))

    def props(well, field, value):
        if (well, field) == ("A2", 1):
            return None  # a field whose labels have no properties
        area = 100 * int(well[1]) + 10 * field + value
        return {"label-value": value, "class": "nucleus" if value == 1 else "debris",
                "area": area}  # fmt: skip

    _label_fields(path, lambda well, field: (1, 2), props)
    specs = _by_name(napari_omezarr_export.read(path))
    nuclei = specs["nuclei"]
    per_field = nuclei.kwargs["metadata"]["plate"]["features"]
    assert list(per_field.columns) == ["well", "field", "label", "class", "area"]
    assert len(per_field) == 6  # 3 fields with properties x 2 values
    row = per_field.set_index(["well", "field", "label"]).loc[("A2", 0, 2)]
    assert row["area"] == 202 and row["class"] == "debris"
    assert ("A2", 1) not in set(zip(per_field["well"], per_field["field"], strict=True))
    # napari maps one value to one row: what is true of a value in every field is kept
    features = nuclei.kwargs["features"]
    assert list(features.columns) == ["index", "class"]
    assert dict(zip(features["index"], features["class"], strict=True)) == {
        1: "nucleus",
        2: "debris",
    }
    # the images and the wells layer carry no label table
    assert "features" not in specs["channel 0"].kwargs["metadata"]["plate"]
    assert "features" not in specs["wells"].kwargs["metadata"]["plate"]


def test_field_label_properties_unique_values_name_their_well_and_field(tmp_path):
    path, _ = make_plate(tmp_path / "plate.ome.zarr", rows="A", columns=("1", "2"))

    def values(well, field):
        base = 10 * (2 * int(well[1]) + field)  # objects numbered across the whole plate
        return base + 1, base + 2

    def props(well, field, value):
        return {"label-value": value, "area": value * 3, "well": "mine"}

    masks = _label_fields(path, values, props)
    nuclei = _by_name(napari_omezarr_export.read(path))["nuclei"]
    features = nuclei.kwargs["features"]
    assert list(features.columns) == ["index", "well", "field", "area", "well (property)"]
    assert len(features) == 8 and features["index"].is_unique
    wells = nuclei.kwargs["metadata"]["plate"]["wells"]
    for (well, field), mask in masks.items():
        y0, x0, _, _ = wells[well]["box"]
        value = int(np.asarray(nuclei.data[0][field, y0 + 25, x0 + 25]))
        assert value == mask[25, 25] != 0
        row = features.set_index("index").loc[value]
        assert (row["well"], row["field"], row["area"]) == (well, field, value * 3)


def test_a_dropped_well_keeps_its_fields_label_properties(tmp_path):
    path, _ = make_plate(tmp_path / "plate.ome.zarr", rows="A", columns=("1", "2"))
    _label_fields(path, lambda well, field: (1, 2),
                  lambda well, field, value: {"label-value": value, "n": field})  # fmt: skip
    nuclei = _by_name(napari_omezarr_export.read(path / "A" / "2"))["nuclei"]
    per_field = nuclei.kwargs["metadata"]["plate"]["features"]
    assert set(per_field["well"]) == {"A2"} and sorted(per_field["field"]) == [0, 0, 1, 1]
    assert "features" not in nuclei.kwargs  # "n" differs between the fields: nothing agrees


def test_hovering_field_labels_shows_their_properties(make_napari_viewer, tmp_path):
    path, _ = make_plate(tmp_path / "plate.ome.zarr", rows="A", columns=("1", "2"))

    def values(well, field):
        return (1, 2) if well == "A1" else (30 + field, 40 + field)

    def props(well, field, value):
        return {"label-value": value, "class": "nucleus" if value in (1, 30, 31) else "debris"}

    _label_fields(path, values, props)
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin="napari-omezarr-export")
    nuclei = viewer.layers["nuclei"]
    box = nuclei.metadata["plate"]["wells"]["A2"]["box"]
    scale = nuclei.scale
    viewer.dims.set_point(0, 1)
    for (dy, dx), shown in (((25, 25), "class: debris"), ((8, 8), "class: nucleus")):
        position = (1, (box[0] + dy) * scale[1], (box[1] + dx) * scale[2])
        status = nuclei.get_status(position, world=True)
        assert shown in status["coordinates"], status
    background = nuclei.get_status((1, box[0] * scale[1], box[1] * scale[2]), world=True)
    assert "class" not in background["coordinates"]

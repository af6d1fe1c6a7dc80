"""Reading NGFF 0.6: coordinate systems, every transform kind, labels, plates and the drafts.

Stores are written by ngff-zarr (its 0.6 writer) or by hand from the 0.6rc0 text
(tests/ngff06_stores.py); each hand-made one is validated against the spec's JSON schemas
before it is read. Expected placements are worked out from the spec's definitions of each
transform (``world = matrix @ [index, 1]``), not taken from the reader.
"""

from __future__ import annotations

import json
import logging
import math

import ngff_zarr
import numpy as np
import pytest

from napari_omezarr_export.core.errors import StoreFormatError
from napari_omezarr_export.core.ngff.affine import inverse_matrix, transform_matrix
from napari_omezarr_export.core.reader import read
from ngff06_stores import axes06, image06, labels06, write_array06, write_group06
from ngff06_validation import assert_valid_06, schema_validator


def _images(layers):
    return [s for s in layers if s.layer_type == "image"]


def _world(spec, index):
    """Where napari puts a level-0 index: affine @ (index * scale + translate)."""
    point = np.asarray(index, float) * spec.kwargs["scale"] + spec.kwargs["translate"]
    affine = np.asarray(spec.kwargs.get("affine", np.eye(len(point) + 1)))
    return (affine @ np.append(point, 1.0))[:-1]


# --- stores ngff-zarr writes -------------------------------------------------------------------


def test_ngff_zarr_06_image_opens_with_its_scale_translation_units_and_pixels(tmp_path, rng):
    data = rng.integers(0, 4000, (2, 64, 48), dtype="uint16")
    image = ngff_zarr.to_ngff_image(
        data,
        dims=["c", "y", "x"],
        scale={"y": 0.5, "x": 0.25},
        translation={"y": 3.0, "x": 1.0},
        axes_units={"y": "micrometer", "x": "micrometer"},
        name="cells",
    )
    path = tmp_path / "nz.ome.zarr"
    ngff_zarr.to_ngff_zarr(path, ngff_zarr.to_multiscales(image, scale_factors=[2]), version="0.6")
    assert assert_valid_06(path, spec_tag=False) == 1
    layers = _images(read(path))
    assert len(layers) == 2
    for c, spec in enumerate(layers):
        assert spec.kwargs["scale"] == (0.5, 0.25)
        assert spec.kwargs["translate"] == (3.0, 1.0)
        assert spec.kwargs["axis_labels"] == ("y", "x")
        assert spec.kwargs["units"] == ("micrometer", "micrometer")
        assert "affine" not in spec.kwargs
        assert spec.kwargs["metadata"]["ome_zarr"]["version"] == "0.6"
        assert spec.kwargs["metadata"]["ome_zarr"]["coordinate_system"] == "intrinsic"
        np.testing.assert_array_equal(np.asarray(spec.data[0]), data[c])
        assert spec.data[1].shape == (32, 24)
    # ngff-zarr reads the same placement back
    back = ngff_zarr.from_ngff_zarr(path)
    assert back.images[0].scale == {"c": 1.0, "y": 0.5, "x": 0.25}
    assert back.images[0].translation == {"c": 0.0, "y": 3.0, "x": 1.0}


# --- hand-made stores: each transform kind ------------------------------------------------------


@pytest.mark.parametrize("translation", [None, [10.0, -4.0]])
def test_level_scale_and_sequence_give_scale_and_translate(tmp_path, rng, translation):
    data = rng.integers(0, 255, (32, 32), dtype="uint8")
    path = image06(tmp_path / "img", data, axes="yx", scale=[0.5, 2.0], translation=translation)
    assert_valid_06(path)
    (spec,) = _images(read(path))
    assert spec.kwargs["scale"] == (0.5, 2.0)
    assert spec.kwargs["translate"] == tuple(translation or (0.0, 0.0))
    assert spec.multiscale and spec.data[1].shape == (16, 16)


def _edit_block(path, edit):
    """Change an image's multiscale block in place (``edit(block)``)."""
    doc = json.loads((path / "zarr.json").read_text())
    edit(doc["attributes"]["ome"]["multiscales"][0])
    (path / "zarr.json").write_text(json.dumps(doc))


def test_identity_level_transform_means_pixel_units(tmp_path, rng):
    path = image06(tmp_path / "img", rng.random((16, 16)), axes="yx", scale=[1, 1], levels=1)

    def to_identity(block):
        transform = block["datasets"][0]["coordinateTransformations"][0]
        transform["type"] = "identity"
        del transform["scale"]

    _edit_block(path, to_identity)
    assert_valid_06(path)
    (spec,) = _images(read(path))
    assert spec.kwargs["scale"] == (1.0, 1.0) and spec.kwargs["translate"] == (0.0, 0.0)


def test_multiscale_scale_to_a_named_system_is_shown_in_that_system(tmp_path, rng):
    # The spec's example multiscales_transformations: intrinsic -> physical, scale [10, 10].
    path = image06(
        tmp_path / "img",
        rng.random((16, 16)),
        axes="yx",
        scale=[1.0, 1.0],
        intrinsic="intrinsic",
        systems=[{"name": "physical", "axes": axes06("yx")}],
        transforms=[
            {
                "type": "scale",
                "scale": [10, 10],
                "input": {"name": "intrinsic"},
                "output": {"name": "physical"},
            }
        ],
    )
    assert_valid_06(path)
    (spec,) = _images(read(path))
    assert spec.kwargs["scale"] == (10.0, 10.0)
    assert "affine" not in spec.kwargs
    assert spec.kwargs["metadata"]["ome_zarr"]["coordinate_system"] == "physical"


def _rotated_image(tmp_path, rng, transform, *, axes="yx", shape=(16, 12)):
    return image06(
        tmp_path / "img",
        rng.random(shape),
        axes=axes,
        scale=[0.5] * len(axes),
        translation=[1.0] * len(axes),
        systems=[{"name": "rotated", "axes": axes06(axes)}],
        transforms=[{"input": {"name": "physical"}, "output": {"name": "rotated"}, **transform}],
    )


def test_rotation_becomes_the_layer_affine_after_scale_and_translate(tmp_path, rng):
    rotation = [[0.0, -1.0], [1.0, 0.0]]  # the spec's example: x = -j, y = i
    path = _rotated_image(tmp_path, rng, {"type": "rotation", "rotation": rotation})
    assert_valid_06(path)
    (spec,) = _images(read(path))
    assert spec.kwargs["scale"] == (0.5, 0.5) and spec.kwargs["translate"] == (1.0, 1.0)
    np.testing.assert_array_equal(spec.kwargs["affine"], [[0, -1, 0], [1, 0, 0], [0, 0, 1]])
    # pixel (2, 4) is at physical (2, 3), rotated to (-3, 2)
    np.testing.assert_allclose(_world(spec, (2, 4)), [-3.0, 2.0])
    assert spec.kwargs["metadata"]["ome_zarr"]["coordinate_system"] == "rotated"


def test_affine_on_a_channel_image_drops_the_channel_row_and_column(tmp_path, rng):
    affine = [[1, 0, 0, 0], [0, 0.8, -0.6, 5], [0, 0.6, 0.8, -2]]  # c kept, yx rotated + shift
    path = _rotated_image(
        tmp_path, rng, {"type": "affine", "affine": affine}, axes="cyx", shape=(2, 16, 12)
    )
    assert_valid_06(path)
    layers = _images(read(path))
    assert len(layers) == 2
    for spec in layers:
        np.testing.assert_allclose(
            spec.kwargs["affine"], [[0.8, -0.6, 5], [0.6, 0.8, -2], [0, 0, 1]]
        )
        physical = np.array([3, 5]) * 0.5 + 1.0
        expected = np.array([[0.8, -0.6], [0.6, 0.8]]) @ physical + [5, -2]
        np.testing.assert_allclose(_world(spec, (3, 5)), expected)


def test_affine_stored_in_a_zarr_array_is_read(tmp_path, rng):
    path = _rotated_image(tmp_path, rng, {"type": "affine", "path": "coordinateTransformations/a"})
    matrix = np.array([[2.0, 0.5, 1.0], [0.0, 1.0, -3.0]])
    write_group06(path / "coordinateTransformations", {})
    write_array06(path / "coordinateTransformations" / "a", matrix)
    (spec,) = _images(read(path))
    np.testing.assert_allclose(spec.kwargs["affine"], [[2, 0.5, 1], [0, 1, -3], [0, 0, 1]])


def test_displacement_field_opens_unapplied_with_a_warning_naming_it(tmp_path, rng, caplog):
    path = _rotated_image(
        tmp_path,
        rng,
        {
            "type": "displacements",
            "path": "coordinateTransformations/field",
            "interpolation": "linear",
            "name": "warp to atlas",
        },
    )
    assert_valid_06(path)
    with caplog.at_level(logging.WARNING):
        (spec,) = _images(read(path))
    assert "displacements 'warp to atlas'" in caplog.text
    assert "not applied" in caplog.text
    assert "affine" not in spec.kwargs
    assert spec.kwargs["scale"] == (0.5, 0.5) and spec.kwargs["translate"] == (1.0, 1.0)


def test_inverse_of_a_transform_into_the_intrinsic_system_is_used(tmp_path, rng):
    # Only "rotated -> physical" is given: showing in "rotated" needs its inverse.
    path = image06(
        tmp_path / "img",
        rng.random((8, 8)),
        axes="yx",
        scale=[1.0, 1.0],
        systems=[{"name": "rotated", "axes": axes06("yx")}],
        transforms=[
            {
                "type": "translation",
                "translation": [4.0, -2.0],
                "input": {"name": "rotated"},
                "output": {"name": "physical"},
            }
        ],
    )
    (spec,) = _images(read(path))
    assert spec.kwargs["translate"] == (-4.0, 2.0)


# --- the transform algebra, checked against the spec's worked examples ---------------------------


def test_spec_examples_of_each_transform_kind():
    def apply(transform, point, n_out=None):
        placement = transform_matrix("t", transform, len(point), n_out)
        return (placement.matrix @ np.append(point, 1.0))[:-1]

    i, j = 3.0, 5.0
    # sequence: x = (i + 0.1) * 2, y = (j + 0.9) * 3
    sequence = {
        "type": "sequence",
        "transformations": [
            {"type": "translation", "translation": [0.1, 0.9]},
            {"type": "scale", "scale": [2, 3]},
        ],
    }
    np.testing.assert_allclose(apply(sequence, [i, j]), [(i + 0.1) * 2, (j + 0.9) * 3])
    # mapAxis [1, 0]: output 0 takes input 1
    np.testing.assert_allclose(apply({"type": "mapAxis", "mapAxis": [1, 0]}, [i, j]), [j, i])
    # byDimension1: translation -1 on axis 1, scale 2 on axis 0
    by_dimension = {
        "type": "byDimension",
        "transformations": [
            {
                "transformation": {"type": "translation", "translation": [-1.0]},
                "inputAxes": [1],
                "outputAxes": [1],
            },
            {
                "transformation": {"type": "scale", "scale": [2.0]},
                "inputAxes": [0],
                "outputAxes": [0],
            },
        ],
    }
    np.testing.assert_allclose(apply(by_dimension, [i, j]), [2 * i, j - 1])
    # projectAxis2: c, i, j -> z = 0, y = i, x = j
    project = {"type": "projectAxis", "createdOutputs": [0], "droppedInputs": [0]}
    np.testing.assert_allclose(apply(project, [7.0, i, j], 3), [0.0, i, j])
    # 2-D to 3-D, rows of N+1 columns (linear part, then shift): z = 1, y = 2 + 3i + 4j, ...
    affine = {"type": "affine", "affine": [[0, 0, 1], [3, 4, 2], [6, 7, 5]]}
    np.testing.assert_allclose(apply(affine, [i, j], 3), [1, 2 + 3 * i + 4 * j, 5 + 6 * i + 7 * j])
    # bijection: forward applied; walking back uses the given inverse
    bijection = {
        "type": "bijection",
        "forward": {"type": "scale", "scale": [2, 4]},
        "inverse": {"type": "scale", "scale": [0.5, 0.25]},
    }
    np.testing.assert_allclose(apply(bijection, [i, j]), [2 * i, 4 * j])
    back = inverse_matrix("t", bijection, 2, 2).matrix
    np.testing.assert_allclose(back @ [2 * i, 4 * j, 1], [i, j, 1])
    # a rotation by 30 degrees, inverted numerically
    c, s = math.cos(math.pi / 6), math.sin(math.pi / 6)
    rotation = {"type": "rotation", "rotation": [[c, -s], [s, c]]}
    forward = transform_matrix("t", rotation, 2).matrix
    inverse = inverse_matrix("t", rotation, 2, 2).matrix
    np.testing.assert_allclose(inverse @ forward, np.eye(3), atol=1e-12)


def test_fields_inside_a_sequence_are_named_as_skipped():
    sequence = {
        "type": "sequence",
        "transformations": [
            {"type": "coordinates", "path": "ct/map", "interpolation": "nearest"},
            {"type": "translation", "translation": [1, 2]},
        ],
    }
    placement = transform_matrix("t", sequence, 2)
    assert placement.skipped == ("coordinates 'ct/map'",)
    np.testing.assert_allclose(placement.matrix[:2, 2], [1, 2])


@pytest.mark.parametrize(
    ("transform", "message"),
    [
        ({"type": "scale", "scale": [1, 2, 3]}, "must list 2 finite numbers"),
        ({"type": "affine", "affine": [[1, 0], [0, 1]]}, "must be 2 x 3"),
        ({"type": "mapAxis", "mapAxis": [0, 0]}, "distinct indices"),
        ({"type": "sequence", "transformations": []}, "lists no transformations"),
        ({"scale": [1, 1]}, "has no type"),
    ],
)
def test_malformed_transforms_are_refused_with_the_reason(transform, message):
    with pytest.raises(StoreFormatError, match=message):
        transform_matrix("img", transform, 2)


# --- labels, plates, drafts, errors ------------------------------------------------------------


def test_labels_of_a_06_image_follow_its_scale_and_affine(tmp_path, rng):
    path = _rotated_image(tmp_path, rng, {"type": "rotation", "rotation": [[0, -1], [1, 0]]})
    cells = (rng.random((16, 12)) > 0.5).astype("uint8")
    labels06(path, {"cells": cells}, axes="yx", scale=[0.5, 0.5])
    assert assert_valid_06(path) == 2  # the image and its label image
    layers = read(path)
    (image,) = _images(layers)
    (label,) = [s for s in layers if s.layer_type == "labels"]
    assert label.name == "cells"
    assert label.kwargs["scale"] == image.kwargs["scale"]
    assert label.kwargs["translate"] == image.kwargs["translate"]
    np.testing.assert_array_equal(label.kwargs["affine"], image.kwargs["affine"])
    np.testing.assert_array_equal(np.asarray(label.data[0]), cells)


def test_a_06_plate_opens_as_a_mosaic_like_05(tmp_path, rng):
    root = tmp_path / "plate.ome.zarr"
    wells = [("A", "1"), ("A", "2")]
    plate = {
        "rows": [{"name": "A"}],
        "columns": [{"name": "1"}, {"name": "2"}],
        "wells": [
            {"path": f"{r}/{c}", "rowIndex": 0, "columnIndex": i} for i, (r, c) in enumerate(wells)
        ],
        "field_count": 1,
    }
    write_group06(root, {"plate": plate})
    (root / "A").mkdir()
    (root / "A" / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group"}')
    truth = {}
    for r, c in wells:
        write_group06(root / r / c, {"well": {"images": [{"path": "0"}]}})
        truth[c] = rng.integers(0, 1000, (2, 24, 20), dtype="uint16")
        image06(root / r / c / "0", truth[c], axes="cyx", scale=[1.0, 0.5, 0.5])
    assert assert_valid_06(root) == 5  # plate, 2 wells, 2 fields
    layers = _images(read(root))
    assert len(layers) == 2
    mosaic = layers[0]
    assert mosaic.kwargs["metadata"]["plate"]["rows"] == ["A"]
    assert mosaic.kwargs["scale"][-2:] == (0.5, 0.5)
    boxes = mosaic.kwargs["metadata"]["plate"]["wells"]
    level0 = np.asarray(mosaic.data[0])  # (field, y, x) for channel 0
    for c, data in truth.items():
        y0, x0, y1, x1 = boxes["A" + c]["box"]
        np.testing.assert_array_equal(level0[0, y0:y1, x0:x1], data[0])


def test_a_pre_rc0_draft_with_string_inputs_opens_like_the_release(tmp_path, rng, caplog):
    data = rng.random((16, 16))
    release = image06(tmp_path / "rc0", data, axes="yx", scale=[0.5, 0.5], translation=[2, 3])
    draft = image06(
        tmp_path / "dev3", data, axes="yx", scale=[0.5, 0.5], translation=[2, 3], draft=True
    )
    assert '"input": "0"' in (draft / "zarr.json").read_text()
    with caplog.at_level(logging.INFO):
        (spec_draft,) = _images(read(draft))
    (spec_release,) = _images(read(release))
    assert "NGFF 0.6 draft" in caplog.text
    for key in ("scale", "translate", "axis_labels", "units"):
        assert spec_draft.kwargs[key] == spec_release.kwargs[key]


def test_levels_mapping_into_different_systems_are_refused(tmp_path, rng):
    path = image06(tmp_path / "img", rng.random((16, 16)), axes="yx", scale=[1, 1])

    def split(block):
        block["datasets"][1]["coordinateTransformations"][0]["output"]["name"] = "other"

    _edit_block(path, split)
    with pytest.raises(StoreFormatError, match="same output coordinate system"):
        read(path)


def test_a_coordinate_system_with_the_wrong_number_of_axes_is_refused(tmp_path, rng):
    path = image06(tmp_path / "img", rng.random((2, 16, 16)), axes="cyx", scale=[1, 1, 1])

    def drop_channel(block):
        block["coordinateSystems"][0]["axes"].pop(0)

    _edit_block(path, drop_channel)
    with pytest.raises(StoreFormatError, match="has 2 axes but the arrays have 3 dimensions"):
        read(path)


def test_a_draft_that_does_not_parse_is_named_in_the_error(tmp_path, rng):
    path = image06(tmp_path / "dev2", rng.random((16, 16)), axes="yx", scale=[1, 1], draft=True)

    def old_layout(block):  # a draft without coordinateSystems, axes as in 0.5
        block["axes"] = block.pop("coordinateSystems")[0]["axes"]

    _edit_block(path, old_layout)
    with pytest.raises(StoreFormatError, match=r"tagged '0\.6\.dev3', a pre-release draft"):
        read(path)


def test_a_link_that_cannot_be_inverted_leaves_the_image_in_its_intrinsic_system(tmp_path, rng):
    path = image06(
        tmp_path / "img",
        rng.random((8, 8)),
        axes="yx",
        scale=[2.0, 2.0],
        systems=[{"name": "flat", "axes": axes06("yx")}],
        transforms=[
            {
                "type": "affine",
                "affine": [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]],  # singular
                "input": {"name": "flat"},
                "output": {"name": "physical"},
            }
        ],
    )
    (spec,) = _images(read(path))
    assert spec.kwargs["scale"] == (2.0, 2.0) and "affine" not in spec.kwargs
    assert spec.kwargs["metadata"]["ome_zarr"]["coordinate_system"] == "physical"


def test_a_06_bioformats2raw_collection_opens_every_series(tmp_path, rng):
    root = write_group06(tmp_path / "bf2raw.zarr", {"bioformats2raw.layout": 3})
    series = [rng.integers(0, 100, (16, 16), dtype="uint8") for _ in range(2)]
    for i, data in enumerate(series):
        image06(root / str(i), data, axes="yx", scale=[0.5, 0.5], name=f"s{i}")
    assert assert_valid_06(root) == 2  # the two images; bf2raw has no multiscales to check
    schema_validator("bf2raw").validate(json.loads((root / "zarr.json").read_text())["attributes"])
    layers = _images(read(root))
    assert [s.name for s in layers] == ["series 0: s0", "series 1: s1"]
    for spec, data in zip(layers, series, strict=True):
        assert spec.kwargs["scale"] == (0.5, 0.5)
        np.testing.assert_array_equal(np.asarray(spec.data[0]), data)

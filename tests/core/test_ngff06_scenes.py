"""NGFF 0.6 scenes: every image of a scene opens, placed in the scene's coordinate system.

Scenes are hand-made from the 0.6rc0 text ("scene" metadata; the examples scene_stitching and
multi-hop registration) and validated against the spec's JSON schemas. Expected positions are
computed from the transforms' definitions.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from napari_omezarr_export.core.errors import StoreFormatError
from napari_omezarr_export.core.read.discovery import discover
from napari_omezarr_export.core.read.scene import SCENE_KEY
from napari_omezarr_export.core.reader import read
from ngff06_stores import (
    axes06,
    image06,
    labels06,
    scene06,
    to_world,
    write_array06,
    write_group06,
)
from ngff06_validation import assert_valid_06

WORLD = {"name": "world", "axes": axes06("yx")}


def _world(spec, index):
    point = np.asarray(index, float) * spec.kwargs["scale"] + spec.kwargs["translate"]
    affine = np.asarray(spec.kwargs.get("affine", np.eye(len(point) + 1)))
    return (affine @ np.append(point, 1.0))[:-1]


def _tiles(rng, n=4, shape=(24, 32)):
    return {f"tile_{i}": rng.integers(0, 1000, shape, dtype="uint16") for i in range(n)}


def test_a_stitching_scene_opens_every_tile_at_its_place(tmp_path, rng):
    offsets = {"tile_0": [0, 0], "tile_1": [0, 348], "tile_2": [276, 0], "tile_3": [276, 348]}
    tiles = _tiles(rng)
    transforms = [to_world("world", t, "translation", translation=o) for t, o in offsets.items()]
    root = scene06(
        tmp_path / "scene.zarr", tiles, transforms, scale=[11.5, 10.875], systems=[WORLD]
    )
    assert assert_valid_06(root) == 5
    assert discover(root).kind == "scene"
    layers = read(root)
    assert [s.name for s in layers] == list(tiles)
    for spec in layers:
        tile = spec.name
        assert spec.kwargs["translate"] == tuple(float(v) for v in offsets[tile])
        assert spec.kwargs["scale"] == (11.5, 10.875)
        assert "affine" not in spec.kwargs
        assert spec.kwargs["metadata"][SCENE_KEY] == {
            "scene": str(root),
            "image": tile,
            "coordinate_system": "world",
        }
        np.testing.assert_array_equal(np.asarray(spec.data[0]), tiles[tile])
    # tiles 0 and 1 touch: the last pixel of tile 0 and the first of tile 1 are one pixel apart
    by_name = {s.name: s for s in layers}
    right_edge = _world(by_name["tile_0"], (0, 31))[1]
    assert _world(by_name["tile_1"], (0, 0))[1] - right_edge == pytest.approx(348 - 31 * 10.875)


def test_channel_images_in_a_scene_are_named_by_image_and_channel(tmp_path, rng):
    world = {"name": "world", "axes": axes06("cyx")}
    for name in ("a", "b"):
        image06(tmp_path / "s" / name, rng.random((2, 16, 16)), axes="cyx", scale=[1, 1, 1])
    shift = {"a": [0, 0, 0], "b": [0, 5, 20]}
    transforms = [to_world("world", n, "translation", translation=shift[n]) for n in shift]
    write_group06(
        tmp_path / "s",
        {"scene": {"coordinateTransformations": transforms, "coordinateSystems": [world]}},
    )
    assert_valid_06(tmp_path / "s")
    layers = read(tmp_path / "s")
    assert [s.name for s in layers] == [
        "a: channel 0",
        "a: channel 1",
        "b: channel 0",
        "b: channel 1",
    ]
    assert [s.kwargs["translate"] for s in layers[2:]] == [(5.0, 20.0)] * 2


def test_multi_hop_affine_registration_places_each_image_in_the_common_reference(tmp_path, rng):
    # The spec's "multi-hop" example: instrument1 -> instrument2 <- instrument3, no scene
    # systems, so the target is the system most images reach: instrument2's.
    root = tmp_path / "reg.zarr"
    for name in ("instrument1", "instrument2", "instrument3"):
        image06(root / name, rng.random((16, 16)), axes="yx", scale=[0.5, 0.5])
    a1 = [[0.0, -1.0, 30.0], [1.0, 0.0, 2.0]]  # rotate 90 degrees and shift
    a3 = [[2.0, 0.0, -1.0], [0.0, 2.0, 4.0]]  # a scale and shift: folds into scale/translate
    transforms = [
        {
            "type": "affine",
            "affine": a1,
            "input": {"path": "instrument1", "name": "physical"},
            "output": {"path": "instrument2", "name": "physical"},
        },
        {
            "type": "affine",
            "affine": a3,
            "input": {"path": "instrument3", "name": "physical"},
            "output": {"path": "instrument2", "name": "physical"},
        },
    ]
    write_group06(root, {"scene": {"coordinateTransformations": transforms}})
    assert assert_valid_06(root) == 4
    layers = {s.name: s for s in read(root)}
    assert list(layers) == ["instrument1", "instrument2", "instrument3"]
    one, two, three = layers.values()
    index = (3, 7)
    physical = np.array(index) * 0.5
    np.testing.assert_allclose(_world(one, index), np.array(a1)[:, :2] @ physical + [30, 2])
    np.testing.assert_allclose(_world(two, index), physical)
    np.testing.assert_allclose(_world(three, index), 2 * physical + [-1, 4])
    assert "affine" in one.kwargs and "affine" not in three.kwargs
    assert three.kwargs["scale"] == (1.0, 1.0)
    assert {s.kwargs["metadata"][SCENE_KEY]["coordinate_system"] for s in layers.values()} == {
        "physical"
    }


def test_a_transform_from_the_scene_system_to_an_image_is_walked_backwards(tmp_path, rng):
    tiles = _tiles(rng, 2)
    transforms = [
        to_world("world", "tile_0", "translation", translation=[0, 0]),
        {
            "type": "translation",
            "translation": [-10.0, -20.0],
            "input": {"name": "world"},
            "output": {"path": "tile_1", "name": "physical"},
        },
    ]
    root = scene06(tmp_path / "s.zarr", tiles, transforms, systems=[WORLD])
    assert_valid_06(root)
    layers = {s.name: s for s in read(root)}
    assert layers["tile_1"].kwargs["translate"] == (10.0, 20.0)


def test_a_displacement_field_in_the_chain_is_named_in_a_warning(tmp_path, rng, caplog):
    tiles = _tiles(rng, 2)
    field = {
        "type": "displacements",
        "path": "coordinateTransformations/dfield",
        "interpolation": "linear",
    }
    transforms = [
        to_world("world", "tile_0", "translation", translation=[0, 0]),
        {
            "type": "bijection",
            "input": {"path": "tile_1", "name": "physical"},
            "output": {"name": "world"},
            "forward": {
                "type": "sequence",
                "transformations": [field, {"type": "translation", "translation": [5.0, 6.0]}],
            },
            "inverse": {
                "type": "sequence",
                "transformations": [{"type": "translation", "translation": [-5.0, -6.0]}, field],
            },
        },
    ]
    root = scene06(tmp_path / "s.zarr", tiles, transforms, systems=[WORLD])
    assert_valid_06(root)
    with caplog.at_level(logging.WARNING):
        layers = {s.name: s for s in read(root)}
    assert "displacements 'coordinateTransformations/dfield'" in caplog.text
    assert "tile_1" in caplog.text
    assert layers["tile_1"].kwargs["translate"] == (5.0, 6.0)  # the affine part is applied


def test_an_image_no_transform_reaches_is_shown_in_its_own_system_with_a_warning(
    tmp_path, rng, caplog
):
    tiles = _tiles(rng, 2)
    transforms = [
        to_world("world", "tile_0", "translation", translation=[7, 7]),
        {
            "type": "identity",
            "input": {"path": "tile_1", "name": "physical"},
            "output": {"name": "elsewhere"},
        },
    ]
    systems = [WORLD, {"name": "elsewhere", "axes": axes06("yx")}]
    root = scene06(tmp_path / "s.zarr", tiles, transforms, systems=systems)
    with caplog.at_level(logging.WARNING):
        layers = {s.name: s for s in read(root)}
    assert "'tile_1'" in caplog.text and "own coordinate system" in caplog.text
    assert layers["tile_1"].kwargs["translate"] == (0.0, 0.0)
    assert layers["tile_1"].kwargs["metadata"][SCENE_KEY]["coordinate_system"] is None
    assert layers["tile_0"].kwargs["translate"] == (7.0, 7.0)


def test_labels_of_a_scene_image_move_with_it(tmp_path, rng):
    tiles = _tiles(rng, 1)
    rotation = {"type": "rotation", "rotation": [[0.0, -1.0], [1.0, 0.0]]}
    transforms = [
        {"input": {"path": "tile_0", "name": "physical"}, "output": {"name": "world"}, **rotation}
    ]
    root = scene06(tmp_path / "s.zarr", tiles, transforms, systems=[WORLD])
    labels06(root / "tile_0", {"nuclei": np.ones((24, 32), "uint8")}, axes="yx", scale=[1, 1])
    assert assert_valid_06(root) == 3
    image, labels = read(root)
    assert labels.layer_type == "labels" and labels.name == "tile_0: nuclei"
    np.testing.assert_array_equal(labels.kwargs["affine"], image.kwargs["affine"])
    np.testing.assert_array_equal(image.kwargs["affine"], [[0, -1, 0], [1, 0, 0], [0, 0, 1]])


def test_a_scene_referring_to_a_missing_image_says_which(tmp_path, rng):
    root = scene06(
        tmp_path / "s.zarr",
        _tiles(rng, 1),
        [
            to_world("world", "tile_0", "translation", translation=[0, 0]),
            to_world("world", "tile_9", "translation", translation=[0, 0]),
        ],
        systems=[WORLD],
    )
    with pytest.raises(StoreFormatError, match="tile_9"):
        read(root)


def test_a_scene_of_05_images_is_refused_with_the_reason(tmp_path, rng):
    root = scene06(
        tmp_path / "s.zarr",
        _tiles(rng, 1),
        [to_world("world", "tile_0", "translation", translation=[0, 0])],
        systems=[WORLD],
    )
    doc = (root / "tile_0" / "zarr.json").read_text().replace('"0.6rc0"', '"0.5"')
    (root / "tile_0" / "zarr.json").write_text(doc)
    with pytest.raises(StoreFormatError, match=r"must be NGFF 0\.6 like the scene"):
        read(root)


def test_a_scene_ngff_zarr_writes_opens_with_each_image_placed(tmp_path):
    import ngff_zarr
    from ngff_zarr.v06.zarr_metadata import Affine, Axis, CoordinateSystem, Translation
    from ngff_zarr.v06.zarr_metadata import CoordinateSystemIdentifier as Ref

    data = np.arange(64 * 48, dtype="uint16").reshape(64, 48)
    images = {}
    for name in ("a", "b"):
        image = ngff_zarr.to_ngff_image(
            data,
            dims=["y", "x"],
            scale={"y": 0.5, "x": 0.5},
            axes_units={"y": "micrometer", "x": "micrometer"},
            name=name,
        )
        images[name] = ngff_zarr.to_multiscales(image, scale_factors=[2])
    space = [Axis(name=n, type="space", unit="micrometer") for n in "yx"]
    turn = [[0.0, -1.0, 5.0], [1.0, 0.0, 40.0]]
    transforms = [
        Translation(
            translation=[0.0, 10.0],
            input=Ref(path="a", name="intrinsic"),
            output=Ref(name="world"),
        ),
        Affine(affine=turn, input=Ref(path="b", name="intrinsic"), output=Ref(name="world")),
    ]
    scene = ngff_zarr.NgffScene(
        images=images,
        coordinateTransformations=transforms,
        coordinateSystems=[CoordinateSystem(name="world", axes=space)],
    )
    root = tmp_path / "nz_scene.zarr"
    ngff_zarr.to_ome_zarr(root, scene, version="0.6")
    assert assert_valid_06(root, spec_tag=False) == 3
    layers = {s.name: s for s in read(root)}
    assert list(layers) == ["a", "b"]
    a, b = layers["a"], layers["b"]
    assert a.kwargs["scale"] == (0.5, 0.5) and a.kwargs["translate"] == (0.0, 10.0)
    np.testing.assert_allclose(b.kwargs["affine"], [*turn, [0, 0, 1]])
    np.testing.assert_allclose(_world(b, (4, 6)), [-3.0 + 5.0, 2.0 + 40.0])
    np.testing.assert_array_equal(np.asarray(b.data[0]), data)


def test_a_scene_over_http_opens_as_the_local_copy(tmp_path, rng, http_server_factory):
    tiles = _tiles(rng, 2)
    transforms = [
        to_world("world", "tile_0", "translation", translation=[0, 0]),
        to_world("world", "tile_1", "affine", path="coordinateTransformations/turn"),
    ]
    root = scene06(tmp_path / "s.zarr", tiles, transforms, systems=[WORLD])
    write_group06(root / "coordinateTransformations", {})
    turn = np.array([[0.0, -1.0, 50.0], [1.0, 0.0, 0.0]])
    write_array06(root / "coordinateTransformations" / "turn", turn)
    server = http_server_factory(tmp_path)
    remote = read(server.url_for("s.zarr"))
    local = read(root)
    assert [s.name for s in remote] == [s.name for s in local] == ["tile_0", "tile_1"]
    for there, here in zip(remote, local, strict=True):
        for key in ("scale", "translate", "axis_labels", "units"):
            assert there.kwargs[key] == here.kwargs[key]
        np.testing.assert_array_equal(there.kwargs.get("affine"), here.kwargs.get("affine"))
        np.testing.assert_array_equal(np.asarray(there.data[0]), np.asarray(here.data[0]))
    np.testing.assert_allclose(remote[1].kwargs["affine"], [*turn, [0, 0, 1]])

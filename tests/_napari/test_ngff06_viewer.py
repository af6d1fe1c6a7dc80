"""An NGFF 0.6 scene dropped on a real viewer: every image placed, one of them rotated.

The screenshot goes to /work/notes/ngff06_scene.png (when that folder exists) for a person to
look at: three tiles side by side, the third turned by 30 degrees.
"""

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1]))
from ngff06_stores import axes06, scene06, to_world
from ngff06_validation import assert_valid_06

PLUGIN = "napari-omezarr-export"
NOTES = Path("/work/notes")


def _tile(value: int, size: int = 64) -> np.ndarray:
    """A bright frame around a gradient, so placement and rotation show in a picture."""
    x = np.mgrid[:size, :size][1]
    tile = (value * (1 + x / size)).astype("uint16")
    tile[:4], tile[-4:], tile[:, :4], tile[:, -4:] = 4000, 4000, 4000, 4000
    tile[size // 2 - 2 : size // 2 + 2, : size // 2] = 4000  # an arm pointing along -x
    return tile


def test_a_scene_opens_with_each_image_placed_and_named(make_napari_viewer, tmp_path, qtbot):
    angle = math.radians(30)
    c, s = math.cos(angle), math.sin(angle)
    transforms = [
        to_world("world", "left", "translation", translation=[0.0, 0.0]),
        to_world("world", "middle", "translation", translation=[0.0, 40.0]),
        to_world(
            "world",
            "turned",
            "affine",
            affine=[[c, -s, 0.0], [s, c, 95.0]],
        ),
    ]
    tiles = {"left": _tile(800), "middle": _tile(1600), "turned": _tile(2400)}
    world = {"name": "world", "axes": axes06("yx")}
    root = scene06(tmp_path / "scene.zarr", tiles, transforms, scale=[0.5, 0.5], systems=[world])
    viewer = make_napari_viewer(show=True)
    viewer.open(str(root), plugin=PLUGIN)
    assert [layer.name for layer in viewer.layers] == ["left", "middle", "turned"]
    assert tuple(viewer.layers["middle"].translate) == (0.0, 40.0)
    np.testing.assert_allclose(viewer.layers["middle"].scale, (0.5, 0.5))
    turned = viewer.layers["turned"]
    np.testing.assert_allclose(turned.affine.affine_matrix, [[c, -s, 0], [s, c, 95], [0, 0, 1]])
    # napari scales first, then applies the affine: pixel (63, 63) is at physical (31.5, 31.5)
    corner = turned.data_to_world((63, 63))
    np.testing.assert_allclose(corner, [(c - s) * 31.5, (s + c) * 31.5 + 95])
    # the world holds all three tiles: from x = 0 to past the turned tile
    extent = viewer.layers.extent.world
    assert extent[0][1] <= 0 and extent[1][1] >= 95 + c * 31.5
    viewer.window._qt_window.resize(1000, 600)
    qtbot.wait(200)
    viewer.reset_view()
    picture = viewer.screenshot(canvas_only=True, flash=False)
    assert picture[..., :3].std() > 5
    if NOTES.is_dir():
        from imageio.v3 import imwrite

        imwrite(NOTES / "ngff06_scene.png", picture)


def test_the_widget_writes_06_when_chosen_and_it_reopens_in_place(
    make_napari_viewer, qtbot, tmp_path, rng
):
    image = rng.integers(0, 255, (2, 512, 384), dtype=np.uint8)
    cells = (image[0] > 200).astype(np.uint16)
    viewer = make_napari_viewer()
    viewer.add_image(image, name="cells", channel_axis=0, scale=(0.5, 0.25), translate=(3, 4))
    viewer.add_labels(cells, name="bright", scale=(0.5, 0.25), translate=(3, 4))
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "OME-Zarr export")
    storage = widget._storage
    assert storage._version.value == "0.4"  # 0.6 is opt-in
    storage._version.value = "0.6"
    assert storage._shards.enabled
    widget._dest.value = tmp_path / "v06"
    widget.refresh()
    preview = widget._preview_attrs
    assert preview[""]["ome"]["version"] == "0.6rc0"
    widget._export.changed()
    qtbot.waitUntil(lambda: widget._worker is None, timeout=20_000)
    store = tmp_path / "v06.ome.zarr"
    assert assert_valid_06(store) == 2
    viewer.layers.clear()
    viewer.open(str(store), plugin=PLUGIN)
    assert [layer.name for layer in viewer.layers] == ["cells", "cells [1]", "bright"]
    for layer in viewer.layers:
        np.testing.assert_allclose(layer.scale, (0.5, 0.25))
        np.testing.assert_allclose(layer.translate, (3, 4))
    np.testing.assert_array_equal(np.asarray(viewer.layers["bright"].data), cells)

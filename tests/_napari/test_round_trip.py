"""Save with our writer, open with our reader: the viewer looks the same."""

import numpy as np
import pytest

from validation import assert_valid_store

PLUGIN = "napari-omezarr-export"


@pytest.fixture
def saved(make_napari_viewer, tmp_path, rng):
    viewer = make_napari_viewer()
    image = rng.poisson(400, size=(2, 256, 320)).astype(np.uint16)
    viewer.add_image(image, channel_axis=0, name=["DAPI", "GFP"], colormap=["blue", "green"],
                     contrast_limits=[(300, 600), (350, 500)], scale=(0.5, 0.25),
                     translate=(10, -5), units=("um", "um"), axis_labels=("y", "x"))  # fmt: skip
    viewer.layers["GFP"].visible = False
    labels = np.zeros((256, 320), np.int32)
    labels[30:90, 40:150] = 3
    labels[120:250, 160:300] = 8
    viewer.add_labels(labels, name="cells", scale=(0.5, 0.25), translate=(10, -5),
                      features={"index": [3, 8], "gene": ["ACTB", "TP53"]})  # fmt: skip
    path = tmp_path / "round.ome.zarr"
    viewer.layers.save(str(path), plugin=PLUGIN)
    assert_valid_store(path)
    return viewer, path


def test_layers_come_back_the_same(saved, make_napari_viewer):
    original, path = saved
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    assert [layer.name for layer in viewer.layers] == ["DAPI", "GFP", "cells"]
    for name in ("DAPI", "GFP"):
        before, after = original.layers[name], viewer.layers[name]
        data = after.data[0] if after.multiscale else after.data
        np.testing.assert_array_equal(np.asarray(data), before.data)
        assert tuple(after.contrast_limits) == tuple(before.contrast_limits)
        np.testing.assert_allclose(after.scale, before.scale)
        np.testing.assert_allclose(after.translate, before.translate)
        np.testing.assert_allclose(
            after.colormap.colors[-1], before.colormap.colors[-1], atol=0.01
        )
        assert after.visible == before.visible
        assert [str(u) for u in after.units] == ["micrometer", "micrometer"]
    cells = viewer.layers["cells"]
    data = cells.data[0] if cells.multiscale else cells.data
    np.testing.assert_array_equal(np.asarray(data), original.layers["cells"].data)
    np.testing.assert_allclose(cells.translate, (10, -5))
    assert dict(zip(cells.features["index"], cells.features["gene"], strict=True)) == {
        3: "ACTB", 8: "TP53"}  # fmt: skip
    values = np.array([3, 8])
    expected = original.layers["cells"].colormap.map(values)
    np.testing.assert_allclose(cells.colormap.map(values), expected, atol=0.01)


def test_screenshots_match(saved, make_napari_viewer, tmp_path, qtbot):
    from imageio.v3 import imwrite

    original, path = saved
    original.window.show()
    viewer = make_napari_viewer(show=True)
    viewer.open(str(path), plugin=PLUGIN)
    for v in (original, viewer):
        v.window._qt_window.resize(900, 700)
    qtbot.wait(200)
    for v in (original, viewer):
        v.reset_view()
    before = original.screenshot(canvas_only=True, flash=False)
    after = viewer.screenshot(canvas_only=True, flash=False)
    imwrite(tmp_path / "before.png", before)
    imwrite(tmp_path / "after.png", after)
    assert before.shape == after.shape
    difference = np.abs(before.astype(int) - after.astype(int))
    assert np.mean(difference) < 2.0, f"mean pixel difference {np.mean(difference):.2f}"
    assert before[..., :3].std() > 5  # the canvas shows something, not a blank


def test_opened_labels_save_back_into_their_store(saved, make_napari_viewer):
    _, path = saved
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    image_files = {
        p: p.read_bytes() for p in path.rglob("*") if "labels" not in p.parts and p.is_file()
    }
    cells = viewer.layers["cells"]
    assert cells.metadata["ome_zarr"]["image"] is not None
    viewer.layers.selection = {cells}
    viewer.layers.save(str(path), selected=True, plugin=PLUGIN)
    after = {p: p.read_bytes() for p in path.rglob("*") if "labels" not in p.parts and p.is_file()}
    assert after == image_files
    reopened = make_napari_viewer()
    reopened.open(str(path), plugin=PLUGIN)
    assert [layer.name for layer in reopened.layers] == ["DAPI", "GFP", "cells"]
    assert_valid_store(path)


def test_labels_display_state_survives_a_round_trip(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    viewer.add_image(np.ones((64, 64), np.uint16), name="DAPI")
    mask = np.zeros((64, 64), np.uint8)
    mask[8:40, 8:40] = 1
    viewer.add_labels(mask, name="GFP mask", opacity=0.4, visible=False)
    viewer.add_labels(mask * 2, name="cells", opacity=0.55)
    path = tmp_path / "display.ome.zarr"
    viewer.layers.save(str(path), plugin=PLUGIN)
    assert_valid_store(path)

    reopened = make_napari_viewer()
    reopened.open(str(path), plugin=PLUGIN)
    hidden, shown = reopened.layers["GFP mask"], reopened.layers["cells"]
    assert not hidden.visible and hidden.opacity == pytest.approx(0.4)
    assert shown.visible and shown.opacity == pytest.approx(0.55)

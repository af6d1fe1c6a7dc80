"""A dropped plate in a real viewer: a field slider, wells apart, the well under the cursor."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "core"))
from test_plate import make_plate

PLUGIN = "napari-omezarr-export"


def test_plate_opens_with_a_field_slider_and_names_the_well_under_the_cursor(
    make_napari_viewer, tmp_path, qtbot
):
    path, truth = make_plate(tmp_path / "plate.ome.zarr", rows="ABC", columns=("1", "2", "3"),
                             missing=("B/3",))  # fmt: skip
    viewer = make_napari_viewer(show=True)
    viewer.open(str(path), plugin=PLUGIN)
    assert [layer.name for layer in viewer.layers] == ["channel 0", "channel 1", "wells"]
    assert viewer.dims.axis_labels == ("field", "y", "x")
    assert viewer.dims.nsteps[0] == 2  # two fields per well
    boxes = viewer.layers["channel 0"].metadata["plate"]["wells"]
    y0, x0, _, _ = boxes["C2"]["box"]
    viewer.dims.set_point(0, 1)
    viewer.cursor.position = (1, y0 + 3, x0 + 3)
    # what napari's status bar shows for the active layer under the cursor
    status = viewer.layers["wells"].get_status(viewer.cursor.position, world=True)
    assert "well: C2, row: C, column: 2" in status["coordinates"]
    shown = viewer.layers["channel 0"].data[0][1, y0 : y0 + 48, x0 : x0 + 40]
    np.testing.assert_array_equal(np.asarray(shown), truth[("C2", 1)][0])
    viewer.window._qt_window.resize(900, 700)
    qtbot.wait(200)
    viewer.reset_view()
    picture = viewer.screenshot(canvas_only=True, flash=False)
    assert picture[..., :3].std() > 5  # wells and gaps, not a blank canvas

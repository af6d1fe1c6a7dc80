"""The export widget as a user sees it: it fits napari's dock, and a screenshot (docs/widget.png).

The picture is always rendered (so the layout is exercised at 1280x800); it is written to
docs/ only with ``UPDATE_WIDGET_SCREENSHOT=1``. The fit is checked at the dock width of a
1600x1100 window (about 400 pixels), widget by widget.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from napari_omezarr_export._napari._demo import wait_for_refresh

DOCS = Path(__file__).resolve().parents[2] / "docs"
PLUGIN, WIDGET = "napari-omezarr-export", "OME-Zarr export"
DOCK_WIDTH = 400


def _stained_tissue():
    """Haematoxylin and DAB channels of scikit-image's IHC sample, and nuclei labels."""
    from skimage import color, data, filters, measure, morphology

    hed = color.rgb2hed(data.immunohistochemistry())
    channels = []
    for i in (0, 2):
        c = hed[..., i]
        channels.append(((c - c.min()) / np.ptp(c) * 4000).astype(np.uint16))
    nuclei = channels[0] > filters.threshold_otsu(channels[0])
    nuclei = morphology.remove_small_objects(morphology.opening(nuclei), max_size=40)
    return channels, measure.label(nuclei).astype(np.int32)


def test_screenshot(make_napari_viewer, qtbot, tmp_path):
    (hema, dab), nuclei = _stained_tissue()
    viewer = make_napari_viewer(show=True)
    viewer.add_image(hema, name="haematoxylin", colormap="cyan", contrast_limits=(300, 2600))
    viewer.add_image(dab, name="DAB", colormap="yellow", blending="additive")
    viewer.add_labels(nuclei, name="nuclei", opacity=0.4)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget._dest.value = Path.home() / "data" / "tissue.ome.zarr"
    widget.windows_from_data()
    viewer.window._qt_window.resize(1280, 800)
    assert widget._pyramid._shapes.value == "–"  # not refreshed yet: the preview waits 300 ms
    wait_for_refresh(widget)  # as `make demo` does before its screenshot
    assert widget._pyramid._shapes.value.startswith("0: 2 × 512 × 512")
    assert widget._storage._chunks.value == "1, 512, 512"
    shot = viewer.screenshot(canvas_only=False, flash=False)
    assert shot.shape[0] >= 700 and shot.shape[1] >= 1200
    from imageio.v3 import imwrite

    imwrite(tmp_path / "widget.png", shot)
    if os.environ.get("UPDATE_WIDGET_SCREENSHOT") == "1":
        DOCS.mkdir(exist_ok=True)
        imwrite(DOCS / "widget.png", shot)


def _wait_for_refresh(qtbot, widget):
    qtbot.waitUntil(lambda: not widget.refresh_pending, timeout=10_000)
    qtbot.wait(50)  # lay out what the refresh changed


def _outside(widget, viewport) -> list[str]:
    """The visible widgets inside ``widget`` that do not lie within the viewport's width, or
    are narrower than their content (both are clipped on screen)."""
    from qtpy.QtCore import QPoint
    from qtpy.QtWidgets import QAbstractSpinBox, QWidget

    problems = []
    for child in widget.findChildren(QWidget):
        if not child.isVisibleTo(viewport) or child.parentWidget() is None:
            continue
        left = child.mapTo(viewport, QPoint(0, 0)).x()
        name = f"{type(child).__name__} {getattr(child, 'text', lambda: '')()!r}"
        if isinstance(child, QAbstractSpinBox):  # its hint is for the widest value allowed
            needed = child.fontMetrics().horizontalAdvance(child.text()) + 8
            width = child.lineEdit().width()
        else:
            needed, width = child.minimumSizeHint().width(), child.width()
        if left < 0 or left + child.width() > viewport.width():
            problems.append(f"{name} spans x={left}..{left + child.width()}")
        elif width < needed:
            problems.append(f"{name} is {width} px wide, its content needs {needed}")
    return problems


def test_widget_fits_the_default_dock_width(make_napari_viewer, qtbot, tmp_path, rng):
    from qtpy.QtCore import Qt

    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1600, 1100)
    viewer.add_image(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8), name="photo", rgb=True)
    for name in ("a long channel name, as microscopes write them", "GFP"):
        viewer.add_image(rng.integers(0, 60000, (300, 200), dtype=np.uint16), name=name)
    viewer.add_labels(np.zeros((300, 200), np.int32), name="cells")
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget._dest.value = tmp_path / "a" / "deeply" / "nested" / "folder" / "export.ome.zarr"
    _wait_for_refresh(qtbot, widget)
    assert dock.width() <= DOCK_WIDTH + 20  # napari docks it at about its preferred width
    window = viewer.window._qt_window
    window.resizeDocks([dock], [DOCK_WIDTH], Qt.Orientation.Horizontal)
    qtbot.wait(50)
    assert dock.width() <= DOCK_WIDTH  # it may be made that narrow
    viewport = widget._scroll.viewport()
    rows = widget._channels.rows
    assert len(rows) == 2 and rows[0]._end.native.isVisibleTo(viewport)
    problems = _outside(widget._body.native, viewport)
    assert not problems, "\n".join(problems)
    for layout in ("percell", "brieflow"):  # their extra fields fit too
        widget._destination_layout.choice.value = layout
        qtbot.wait(50)
        problems = _outside(widget._body.native, viewport)
        assert not problems, f"{layout}: " + "\n".join(problems)
    widget._destination_layout.choice.value = "image"
    widget._layers.value = list(widget._layers.choices)  # an error in the preview and shapes
    widget.refresh()
    qtbot.wait(50)
    assert widget._preview.value.startswith("Cannot export")
    problems = _outside(widget._body.native, viewport)
    assert dock.width() <= DOCK_WIDTH and not problems, "\n".join(problems)
    from imageio.v3 import imwrite

    imwrite(tmp_path / "dock.png", viewer.screenshot(canvas_only=False, flash=False))

"""A screenshot of the export widget docked beside real data (docs/widget.png).

The picture is always rendered (so the layout is exercised at 1280x800); it is written to
docs/ only with ``UPDATE_WIDGET_SCREENSHOT=1``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(autouse=True)
def _config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NAPARI_OMEZARR_EXPORT_CONFIG_DIR", str(tmp_path / "config"))


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
    _, widget = viewer.window.add_plugin_dock_widget("napari-omezarr-export", "OME-Zarr export")
    widget._dest.value = Path.home() / "data" / "tissue.ome.zarr"
    widget.windows_from_data()
    widget.refresh()
    viewer.window._qt_window.resize(1280, 800)
    qtbot.wait(300)
    shot = viewer.screenshot(canvas_only=False, flash=False)
    assert shot.shape[0] >= 700 and shot.shape[1] >= 1200
    from imageio.v3 import imwrite

    imwrite(tmp_path / "widget.png", shot)
    if os.environ.get("UPDATE_WIDGET_SCREENSHOT") == "1":
        DOCS.mkdir(exist_ok=True)
        imwrite(DOCS / "widget.png", shot)

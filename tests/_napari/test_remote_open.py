"""Opening URLs in a real viewer: viewer.open, npe2, and the "Open OME-Zarr URL" widget."""

from __future__ import annotations

import os

import numpy as np
import pytest

from napari_omezarr_export import LabelsSpec, PyramidOptions, StorageOptions, write_image
from napari_omezarr_export._napari._open_url import OpenUrlWidget, recent_urls
from store_factories import cells_image, cells_labels, make_plate

PLUGIN = "napari-omezarr-export"


@pytest.fixture
def store(tmp_path, rng):
    path = tmp_path / "cells.ome.zarr"
    write_image(
        cells_image(rng, c=2, y=128, x=96),
        path,
        axes="cyx",
        channels=["DAPI", "GFP"],
        labels=[LabelsSpec(cells_labels(128, 96), "nuclei")],
        pyramid=PyramidOptions(levels=2),
        storage=StorageOptions(ngff_version="0.5"),
    )
    return path


def _local_layers(viewer_factory, path):
    viewer = viewer_factory()
    return viewer.open(str(path), plugin=PLUGIN)


def test_viewer_opens_a_url_as_it_opens_the_folder(make_napari_viewer, store, tmp_path,
                                                    http_server_factory):  # fmt: skip
    server = http_server_factory(tmp_path)
    viewer = make_napari_viewer()

    layers = viewer.open(server.url_for(store.name), plugin=PLUGIN)
    local = _local_layers(make_napari_viewer, store)

    assert [layer.name for layer in layers] == ["DAPI", "GFP", "nuclei"]
    for remote, here in zip(layers, local, strict=True):
        assert remote.scale.tolist() == here.scale.tolist()
        if remote.__class__.__name__ == "Image":
            assert remote.contrast_limits == here.contrast_limits
            assert remote.colormap.name == here.colormap.name
        level0 = remote.data[0] if remote.multiscale else remote.data
        here0 = here.data[0] if here.multiscale else here.data
        np.testing.assert_array_equal(np.asarray(level0), np.asarray(here0))
    assert layers[2].data[0].shape == (128, 96)  # labels stay a lazy pyramid


def test_npe2_reads_a_url(store, tmp_path, http_server_factory):
    import npe2

    server = http_server_factory(tmp_path)
    tuples = npe2.read([server.url_for(store.name)], plugin_name=PLUGIN, stack=False)
    assert [t[1]["name"] for t in tuples] == ["DAPI", "GFP", "nuclei"]


def test_a_plate_url_opens_in_the_viewer(make_napari_viewer, tmp_path, http_server_factory):
    make_plate(tmp_path / "plate.ome.zarr", "0.5")
    server = http_server_factory(tmp_path)
    viewer = make_napari_viewer()

    layers = viewer.open(server.url_for("plate.ome.zarr"), plugin=PLUGIN)

    assert any(layer.name.startswith("wells") for layer in layers) or len(layers) >= 2


def test_the_open_url_widget_opens_remembers_and_explains(
    make_napari_viewer, qtbot, store, tmp_path, http_server_factory
):
    server = http_server_factory(tmp_path)
    viewer = make_napari_viewer()
    widget = OpenUrlWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Open OME-Zarr URL")
    url = server.url_for(store.name)

    widget.url.value = url
    widget.open_button.clicked.emit()
    qtbot.waitUntil(lambda: widget.open_button.enabled and len(viewer.layers) == 3, timeout=20000)

    assert [layer.name for layer in viewer.layers] == ["DAPI", "GFP", "nuclei"]
    assert recent_urls() == [url]
    assert url in widget.recent.choices
    screenshot = viewer.screenshot(canvas_only=False, flash=False)
    assert screenshot.std() > 0
    out = os.environ.get("OMEZARR_SCREENSHOTS")
    if out:
        import imageio.v3 as iio

        iio.imwrite(os.path.join(out, "open_url_widget.png"), screenshot)

    # A URL with nothing there: the widget says why, and nothing is added.
    widget.url.value = server.url_for("nothing-here.ome.zarr")
    widget.open_button.clicked.emit()
    qtbot.waitUntil(lambda: widget.open_button.enabled and "Nothing" in widget.status.value,
                    timeout=20000)  # fmt: skip
    assert len(viewer.layers) == 3
    assert "nothing-here.ome.zarr" in widget.status.value


def test_the_widget_passes_s3_options(make_napari_viewer, qtbot, store, s3_server, monkeypatch):
    s3_server.make_bucket("widget-public", public=True)
    s3_server.upload_dir(store, "widget-public", "cells.ome.zarr")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    viewer = make_napari_viewer()
    widget = OpenUrlWidget(viewer)

    widget.url.value = "s3://widget-public/cells.ome.zarr"
    widget.anonymous.value = True
    widget.endpoint.value = s3_server.endpoint_url
    widget.open_button.clicked.emit()
    qtbot.waitUntil(lambda: widget.open_button.enabled and len(viewer.layers) == 3, timeout=20000)

    assert [layer.name for layer in viewer.layers] == ["DAPI", "GFP", "nuclei"]


def test_the_napari_command_line_opens_a_url(qtbot, store, tmp_path, http_server_factory,
                                             monkeypatch):  # fmt: skip
    """``napari URL``: the command line's own viewer set-up, without entering its event loop."""
    from napari.__main__ import _build_viewer

    server = http_server_factory(tmp_path)
    monkeypatch.setattr("sys.argv", ["napari", server.url_for(store.name), "--plugin", PLUGIN])
    viewer = _build_viewer()
    try:
        assert [layer.name for layer in viewer.layers] == ["DAPI", "GFP", "nuclei"]
    finally:
        viewer.close()

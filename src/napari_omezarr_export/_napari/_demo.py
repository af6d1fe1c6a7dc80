"""``make demo``: save synthetic cells with the plugin's writers, reopen them with its readers.

Run ``python -m napari_omezarr_export._napari._demo`` (``--headless`` under Xvfb saves a
screenshot instead of showing the window). It prints where everything was written.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from pathlib import Path

PLUGIN = "napari-omezarr-export"
WIDGET = "OME-Zarr export"
REFRESH_TIMEOUT_S = 30.0


def _save_sample(viewer: object, out: Path) -> tuple[Path, Path]:
    """Save the sample as an OME-Zarr image and as a .percell region, via File > Save Layers."""
    from napari_omezarr_export._napari._sample_data import sample_layer_data

    for data, kwargs, layer_type in sample_layer_data():
        viewer._add_layer_from_data(data, kwargs, layer_type)  # as File > Open Sample does
    viewer.layers.select_all()
    written = viewer.layers.save(str(out / "cells.ome.zarr"), selected=True, plugin=PLUGIN)
    viewer.layers.selection.discard(viewer.layers["nuclei"])  # a region holds one segmentation
    viewer.layers.save(str(out / "experiment.percell"), selected=True, plugin=PLUGIN)
    return Path(written[0]), out / "experiment.percell"


def _save_v05_copy(out: Path) -> Path:
    """Write the same data as NGFF 0.5 (zarr v3, sharded) through the Python API."""
    from napari_omezarr_export import ChannelStyle, LabelsSpec, StorageOptions, write_image
    from napari_omezarr_export.core.samples import CHANNEL_COLORS, CHANNEL_NAMES, synthetic_cells

    cells = synthetic_cells(2048)
    styles = [ChannelStyle(n, c) for n, c in zip(CHANNEL_NAMES, CHANNEL_COLORS, strict=True)]
    return write_image(
        cells.image,
        out / "cells_v05.ome.zarr",
        channels=styles,
        scale=(1, cells.pixel_size, cells.pixel_size),
        units=(None, "micrometer", "micrometer"),
        labels=[LabelsSpec(cells.nuclei, "nuclei")],
        storage=StorageOptions(ngff_version="0.5", shards=(1, 2048, 2048)),
    )[0]


def _save_plate(out: Path) -> Path:
    """Write a small HCS plate (2 rows x 3 columns, 2 fields per well) one field at a time."""
    from napari_omezarr_export import ChannelStyle, write_plate_field
    from napari_omezarr_export.core.samples import CHANNEL_COLORS, CHANNEL_NAMES, synthetic_cells

    cells = synthetic_cells(1024, seed=3)
    styles = [
        ChannelStyle(n, c, 100, 2500) for n, c in zip(CHANNEL_NAMES, CHANNEL_COLORS, strict=True)
    ]
    plate = out / "plate.ome.zarr"
    for n, well in enumerate(("A1", "A2", "A3", "B1", "B2")):  # B3 stays empty
        for field in (0, 1):
            y, x = divmod(2 * n + field, 4)
            tile = cells.image[:, y * 256 : (y + 1) * 256, x * 256 : (x + 1) * 256]
            write_plate_field(tile, plate, well=well, field=field, channels=styles)
    return plate


def _show_plate(plate: Path, out: Path, *, headless: bool) -> Path | None:
    """Open the plate and show, on the canvas, what hovering well B2 puts in the status bar."""
    import napari

    viewer = napari.Viewer(title="plate.ome.zarr", show=not headless)
    viewer.open(str(plate), plugin=PLUGIN)
    wells = viewer.layers["wells"]
    y0, x0, y1, x1 = wells.metadata["plate"]["wells"]["B2"]["box"]
    viewer.cursor.position = (0, (y0 + y1) / 2, (x0 + x1) / 2)
    status = wells.get_status(viewer.cursor.position, world=True)  # the status bar's text
    viewer.text_overlay.text = "under the cursor: " + status["coordinates"].split("; ", 1)[-1]
    viewer.text_overlay.position = "top_left"
    viewer.text_overlay.visible = True
    if not headless:
        return None
    return _screenshot(viewer, out / "demo_plate_screenshot.png")


def run(out: Path, *, headless: bool) -> list[Path]:
    """Run the demo and return the paths it wrote.

    Parameters
    ----------
    out : Path
        Output folder (replaced).
    headless : bool
        Save a screenshot and close instead of showing the window.

    Returns
    -------
    list of Path
        The stores and the screenshot.
    """
    import napari

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    writer_viewer = napari.Viewer(show=False)
    image_store, experiment = _save_sample(writer_viewer, out)
    writer_viewer.close()
    v05_store = _save_v05_copy(out)
    plate = _save_plate(out)
    written = [image_store, v05_store, experiment, plate]
    plate_shot = _show_plate(plate, out, headless=headless)
    written += [plate_shot] if plate_shot else []
    percell_viewer = napari.Viewer(title="experiment.percell", show=not headless)
    percell_viewer.open(str(experiment), plugin=PLUGIN)
    if headless:
        written.append(_screenshot(percell_viewer, out / "demo_percell_screenshot.png"))

    viewer = napari.Viewer(show=not headless)
    viewer.window._qt_window.resize(1280, 800)
    viewer.open(str(image_store), plugin=PLUGIN)
    for name in ("cells", "GFP mask"):
        viewer.layers[name].visible = False  # show the image under the nuclei
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    if headless:
        viewer.window._qt_window.resize(1280, 800)
        wait_for_refresh(widget)  # the screenshot shows level shapes, chunks and the preview
        written.append(_screenshot(viewer, out / "demo_screenshot.png"))
    return written


def wait_for_refresh(widget: object, timeout_s: float = REFRESH_TIMEOUT_S) -> None:
    """Process Qt events until the export widget has refreshed its preview.

    Parameters
    ----------
    widget : ExportWidget
        The docked export widget.
    timeout_s : float
        Give up after this many seconds.

    Raises
    ------
    TimeoutError
        When the widget still waits for its refresh after ``timeout_s``.
    """
    from qtpy.QtWidgets import QApplication

    deadline = time.monotonic() + timeout_s
    while widget.refresh_pending:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"The export widget did not refresh its preview within {timeout_s:.0f} s."
            )
        QApplication.processEvents()
        time.sleep(0.01)
    QApplication.processEvents()  # lay out what the refresh changed


def _screenshot(viewer: object, path: Path) -> Path:
    """Save what the user would see, then close the viewer (headless runs)."""
    from imageio.v3 import imwrite

    viewer.window._qt_window.resize(1280, 800)
    imwrite(path, viewer.screenshot(canvas_only=False, flash=False))
    viewer.close()
    return path


def main() -> None:
    """Parse the command line, run the demo, print what was written."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--headless", action="store_true", help="save a screenshot, no window")
    parser.add_argument("--out", type=Path, default=Path("demo_output"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    written = run(args.out.resolve(), headless=args.headless)
    for path in written:
        print(f"wrote {path}")
    if not args.headless:
        import napari

        napari.run()


if __name__ == "__main__":
    main()

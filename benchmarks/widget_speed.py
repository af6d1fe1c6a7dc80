"""Is exporting from the dock widget as fast as the Python API? (progress reporting included)

``xvfb-run -a python -m benchmarks.widget_speed [--size 2048] [--repeats 5]`` writes the same
3-channel uint16 image, in one napari process, alternately through ``write_image`` (one
3-channel array) and through the docked widget's Export button (three image layers; a thread
worker with a progress bar updated per batch of chunks), and reports the median of each and
their ratio. Both use the same options, the widget's defaults.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

PLUGIN, WIDGET = "napari-omezarr-export", "OME-Zarr export"


def _data(size: int) -> np.ndarray:
    from napari_omezarr_export.core.samples import smooth_blobs

    rng = np.random.default_rng(0)
    field = smooth_blobs((3, size, size), rng, sigma=size / 32, amplitude=3000.0) + 200
    return rng.poisson(field).astype(np.uint16)


def _api(data: np.ndarray, target: Path, widget: object) -> float:
    """``write_image`` on the 3-channel array, with the channels and options the widget uses."""
    from napari_omezarr_export import write_image

    options = {
        "channels": widget._channels.styles(),
        "pyramid": widget._pyramid.options(),
        "storage": widget._storage.options(),
    }
    start = time.perf_counter()
    write_image(data, target, axes="cyx", **options)
    return time.perf_counter() - start


def _widget(widget: object, target: Path, app: object) -> float:
    widget._dest.value = target
    widget._confirm_replace = lambda path: True
    start = time.perf_counter()
    widget.export()
    while widget._worker is not None:
        app.processEvents()
        time.sleep(0.002)
    return time.perf_counter() - start


def main() -> None:
    """Run the comparison and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    # Default options: a fresh settings folder, not the options last used on this machine.
    os.environ["NAPARI_OMEZARR_EXPORT_CONFIG_DIR"] = tempfile.mkdtemp(prefix="widget-config-")
    import napari
    from qtpy.QtWidgets import QApplication

    data = _data(args.size)
    viewer = napari.Viewer(show=False)
    viewer.add_image(data, channel_axis=0, name=["DAPI", "GFP", "mCherry"])
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    widget.refresh()
    app = QApplication.instance()
    folder = Path(tempfile.mkdtemp(prefix="widget-speed-"))
    times: dict[str, list[float]] = {"api": [], "widget": []}
    try:
        for round_ in range(args.repeats):
            order = ("api", "widget") if round_ % 2 == 0 else ("widget", "api")
            for how in order:
                target = folder / f"{how}.ome.zarr"
                shutil.rmtree(target, ignore_errors=True)
                took = _api(data, target, widget) if how == "api" else _widget(widget, target, app)
                times[how].append(took)
        api, gui = (statistics.median(times[k]) for k in ("api", "widget"))
        print(f"| path | median s of {args.repeats} | ratio to API |")
        print("|---|---|---|")
        print(f"| Python API `write_image` | {api:.3f} | 1.00 |")
        print(f"| dock widget Export (thread + progress bar) | {gui:.3f} | {gui / api:.2f} |")
        same = all(
            np.array_equal(np.asarray(z), np.asarray(w))
            for z, w in [(_level0(folder / "api.ome.zarr"), _level0(folder / "widget.ome.zarr"))]
        )
        print(f"\nBoth stores hold the same level 0: {same}")
    finally:
        viewer.close()
        shutil.rmtree(folder, ignore_errors=True)


def _level0(path: Path) -> np.ndarray:
    import zarr

    return zarr.open_group(path, mode="r")["0"][:]


if __name__ == "__main__":
    main()

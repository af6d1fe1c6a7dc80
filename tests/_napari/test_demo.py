"""`make demo` is the README's first command: it must run headless from start to finish."""

import subprocess
import sys

import pytest

from validation import assert_valid_store


@pytest.mark.slow
def test_the_demo_runs_headless_and_saves_its_screenshots(tmp_path):
    # pytest-xvfb exports DISPLAY, so the demo's viewer gets the same virtual screen.
    run = subprocess.run(
        [sys.executable, "-m", "napari_omezarr_export._napari._demo", "--headless",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "demo_screenshot.png").stat().st_size > 10_000
    assert (tmp_path / "demo_percell_screenshot.png").stat().st_size > 10_000
    assert (tmp_path / "demo_plate_screenshot.png").stat().st_size > 10_000
    stores = sorted(tmp_path.glob("*.zarr"))
    assert len(stores) >= 3  # Save Layers, NGFF 0.5 through the API, and a plate
    for store in stores:
        assert_valid_store(store)

"""A bare ``pip install napari-omezarr-export`` gives the Python API, without napari or Qt.

The package is installed, without extras, into a fresh venv (no system site-packages), as a
pipeline on a cluster node would install it. The store it writes there is validated and reopened
here, in the test environment, with zarr and both NGFF validators.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

from validation import assert_valid_store

ROOT = Path(__file__).parents[1]
# What the [napari] extra brings, and napari's own GUI stack: none of it in a bare install.
NAPARI_SIDE = {"napari", "magicgui", "qtpy", "npe2", "vispy", "superqt", "app-model", "scipy"}
QT_BINDINGS = {"pyqt5", "pyqt6", "pyside2", "pyside6"}

# Runs in the fresh venv (python -I: no PYTHONPATH, no user site, no cwd on sys.path).
SCRIPT = """
import importlib, json, pkgutil, sys
import numpy as np
import napari_omezarr_export as api
import napari_omezarr_export.core as core

image = np.random.default_rng(7).poisson(300, size=(2, 300, 260)).astype("uint16")
nuclei = np.zeros((300, 260), dtype="int32")
nuclei[40:120, 50:140] = 3
[store] = api.write_image(
    image, "bare.ome.zarr", channels=["DAPI", "GFP"],
    labels=[api.LabelsSpec(nuclei, "nuclei")], pyramid=api.PyramidOptions(levels=2),
)
specs = api.read(store)  # what the napari reader builds its layers from
reopened = {s.kwargs["name"]: np.asarray(s.data[0]) for s in specs}

for module in pkgutil.walk_packages(core.__path__, prefix="napari_omezarr_export.core."):
    importlib.import_module(module.name)
from napari_omezarr_export.core.samples import synthetic_cells
try:
    synthetic_cells(64)
    missing_scipy = None
except ModuleNotFoundError as error:
    missing_scipy = str(error)

print(json.dumps({
    "store": str(store),
    "layers": sorted(reopened),
    "image_equal": bool(np.array_equal(np.stack([reopened["DAPI"], reopened["GFP"]]), image)),
    "nuclei_equal": bool(np.array_equal(reopened["nuclei"], nuclei)),
    "modules": sorted({m.split(".")[0] for m in sys.modules}),
    "missing_scipy": missing_scipy,
}))
"""


def _copy_project(target: Path) -> Path:
    # pip builds a local project in place (setuptools writes build/ and *.egg-info next to
    # the sources), so it installs from a copy of the working tree, never from the repo itself.
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, target / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "src", target / "src", ignore=ignore)
    return target


def _run(args: list, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, (
        f"{args[1:4]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory) -> Path:
    """A fresh venv with ``pip install <this project>``, no extras."""
    work = tmp_path_factory.mktemp("bare_install")
    project = _copy_project(work / "project")
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=work)
    python = venv / "bin" / "python"
    _run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", project], work)
    return python


@pytest.mark.slow
def test_bare_install_has_no_napari_or_qt(bare_venv):
    listed = json.loads(
        _run([bare_venv, "-m", "pip", "list", "--format=json"], cwd=bare_venv.parent)
    )
    installed = {entry["name"].lower().replace("_", "-") for entry in listed}
    assert "napari-omezarr-export" in installed
    assert {"zarr", "dask", "numpy", "pandas", "numcodecs"} <= installed
    assert not installed & (NAPARI_SIDE | QT_BINDINGS)


@pytest.mark.slow
def test_bare_install_writes_and_reopens_a_valid_store(bare_venv, tmp_path):
    result = json.loads(_run([bare_venv, "-I", "-c", SCRIPT], cwd=tmp_path).splitlines()[-1])

    assert not set(result["modules"]) & {"napari", "magicgui", "qtpy", "vispy", *QT_BINDINGS}
    assert result["layers"] == ["DAPI", "GFP", "nuclei"]
    assert result["image_equal"] and result["nuclei_equal"]
    assert "pip install 'napari-omezarr-export[napari]'" in result["missing_scipy"]

    store = tmp_path / result["store"]  # the path write_image returned, relative to its cwd
    assert store.resolve() == (tmp_path / "bare.ome.zarr").resolve()
    assert assert_valid_store(store) == 3  # the image, its labels group, the label image
    group = zarr.open_group(store, mode="r")
    image = np.random.default_rng(7).poisson(300, size=(2, 300, 260)).astype("uint16")
    np.testing.assert_array_equal(group["0"][:], image)
    assert group["1"].shape == (2, 150, 130)
    assert group["labels/nuclei/0"][80, 100] == 3
    assert [c["label"] for c in group.attrs["omero"]["channels"]] == ["DAPI", "GFP"]

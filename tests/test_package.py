"""The plugin's shape: a valid manifest, importable commands, a napari-free core."""

import importlib
import json
import subprocess
import sys

import npe2
import pytest

PLUGIN = "napari-omezarr-export"


@pytest.fixture(scope="module")
def manifest():
    return npe2.PluginManifest.from_distribution(PLUGIN)


def test_manifest_validates_and_every_python_name_imports(manifest):
    manifest.validate_imports()  # raises when a python_name does not import
    ids = {c.id for c in manifest.contributions.commands}
    assert {r.command for r in manifest.contributions.readers} <= ids
    assert {w.command for w in manifest.contributions.writers} <= ids
    assert {".ome.zarr", ".zarr"} <= set(manifest.contributions.writers[0].filename_extensions)


@pytest.mark.parametrize("module", ["napari_omezarr_export", "napari_omezarr_export.core.api"])
def test_core_imports_no_napari_qt_or_magicgui(module):
    code = (
        f"import sys, json; import {module}; "
        "print(json.dumps(sorted(m for m in sys.modules "
        "if m.split('.')[0] in {'napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', "
        "'magicgui', 'vispy'})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_every_core_module_is_napari_free():
    import pkgutil

    import napari_omezarr_export.core as core

    names = [m.name for m in pkgutil.walk_packages(core.__path__, prefix=f"{core.__name__}.")]
    code = (
        "import sys, json, importlib\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'napari', 'qtpy', 'PyQt6', 'PyQt5', 'PySide6', 'magicgui', 'vispy'})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
    assert len(names) >= 40  # every module of every sub-package: ngff, read, write, layouts


def test_sample_data_opens_as_layers(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "synthetic_cells")
    kinds = {layer.name: layer._type_string for layer in viewer.layers}
    assert kinds == {"DAPI": "image", "GFP": "image", "mCherry": "image",
                     "nuclei": "labels", "cells": "labels", "GFP mask": "labels"}  # fmt: skip
    assert viewer.layers["DAPI"].data.shape == (2048, 2048)
    assert viewer.layers["GFP mask"].metadata["percell_type"] == "mask"


def test_public_api_is_documented():
    package = importlib.import_module("napari_omezarr_export")
    for name in package.__all__:
        obj = getattr(package, name)
        if callable(obj):
            assert obj.__doc__, f"{name} has no docstring"


def test_importing_the_api_loads_no_reader_machinery():
    # Writing scripts should not pay for dask.array, pandas or xarray at import (0.4 s here).
    code = (
        "import sys, json, napari_omezarr_export\n"
        "print(json.dumps(sorted(m for m in ('dask.array', 'pandas', 'xarray') "
        "if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
    from napari_omezarr_export import LayerSpec, read  # loaded on first use

    assert callable(read) and LayerSpec.__name__ == "LayerSpec"

"""Small sources for ``napari-omezarr-export convert``: an OME-TIFF, a plain TIFF, an old store.

Shared by tests/cli/test_convert.py and the README's "Batch and cluster" examples
(tests/test_readme.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tifffile

from napari_omezarr_export import LabelsSpec, StorageOptions, write_image
from store_factories import cells_image, cells_labels, percell_names

CHANNELS = ["DAPI", "GFP"]


def ome_tiff(path: Path, rng, *, y: int = 64, x: int = 48) -> np.ndarray:
    """A 2-channel OME-TIFF (``cyx``) with channel names and 0.5 x 0.25 micrometre pixels."""
    data = cells_image(rng, c=2, y=y, x=x)
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(
        path,
        data,
        ome=True,
        metadata={
            "axes": "CYX",
            "Channel": {"Name": CHANNELS},
            "PhysicalSizeX": 0.25,
            "PhysicalSizeY": 0.5,
        },
    )
    return data


def plain_tiff(path: Path, rng, *, z: int = 4, y: int = 40, x: int = 40) -> np.ndarray:
    """A multi-page TIFF without metadata: ``z`` pages of ``y`` x ``x``."""
    data = rng.integers(0, 4096, (z, y, x), dtype="uint16")
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, data, photometric="minisblack")
    return data


def old_store(path: Path, rng) -> tuple[np.ndarray, np.ndarray]:
    """An NGFF 0.4 image (``cyx``, DAPI and GFP) with ``nuclei`` labels; returns both arrays."""
    data = cells_image(rng, c=2, y=64, x=64)
    labels = cells_labels(64, 64)
    write_image(
        data,
        path,
        axes="cyx",
        channels=CHANNELS,
        scale=[1.0, 0.65, 0.65],
        units=[None, "micrometer", "micrometer"],
        labels=[LabelsSpec(labels, "nuclei")],
        storage=StorageOptions(ngff_version="0.4"),
    )
    return data, labels


def scans_folder(root: Path, rng) -> Path:
    """``root/scans``: ``cells.ome.tif``, ``day2/stack.tif`` and ``old.ome.zarr``."""
    scans = root / "scans"
    ome_tiff(scans / "cells.ome.tif", rng)
    plain_tiff(scans / "day2" / "stack.tif", rng)
    old_store(scans / "old.ome.zarr", rng)
    return scans


def percell_experiment(root: Path, rng, name: str = "experiment.percell") -> Path:
    """A two-region ``.percell`` experiment (design layout) at ``root/name``."""
    made = percell_names(root / f".{name}-making", rng)
    target = root / name
    made.rename(target)
    made.parent.rmdir()
    return target


def files_open_under(root: Path) -> list[str]:
    """The files below ``root`` this process has open (from ``/proc/self/fd``), sorted."""
    inside = os.path.realpath(root) + os.sep
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed since it was listed (the listing's own descriptor)
            continue
        if target.startswith(inside):
            found.append(target)
    return sorted(found)

"""Synthetic cells that look like a real 3-channel fluorescence field, made in a second.

DAPI-like nuclei, a GFP-like cytoplasm and mCherry-like puncta, with smooth shapes and
Poisson noise (never uniform random noise, which no microscope produces and no codec can
compress), plus nuclei and cell labels and a binary GFP mask. Used by the demo, by
File > Open Sample, by the tests and by the benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np

__all__ = ["CHANNEL_COLORS", "CHANNEL_NAMES", "SyntheticCells", "smooth_blobs", "synthetic_cells"]

CHANNEL_NAMES = ("DAPI", "GFP", "mCherry")
CHANNEL_COLORS = ("0000FF", "00FF00", "FF0000")
PIXEL_SIZE_UM = 0.325


@dataclass(frozen=True)
class SyntheticCells:
    """One synthetic field of view.

    Attributes
    ----------
    image : numpy.ndarray
        (3, y, x) uint16: DAPI, GFP, mCherry.
    nuclei, cells : numpy.ndarray
        (y, x) int32 labels; a nucleus has its cell's id.
    mask : numpy.ndarray
        (y, x) uint8, 255 where GFP is above threshold.
    pixel_size : float
        Micrometres per pixel.
    """

    image: np.ndarray
    nuclei: np.ndarray
    cells: np.ndarray
    mask: np.ndarray
    pixel_size: float = PIXEL_SIZE_UM


def _ndimage() -> ModuleType:
    # scipy comes with the [napari] extra: only the sample data, the demo and the benchmarks
    # make synthetic cells, and a bare install of the Python API should not carry 140 MB for it.
    try:
        from scipy import ndimage
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            "Synthetic cells need scipy, which a bare install of napari-omezarr-export leaves "
            "out. Install it with: pip install 'napari-omezarr-export[napari]' (or pip install "
            "scipy).",
            name="scipy",
        ) from error
    return ndimage


def _seeds(shape: tuple[int, int], count: int, rng: np.random.Generator) -> np.ndarray:
    return np.column_stack([rng.uniform(0, n, count) for n in shape])


def synthetic_cells(
    size: int = 2048, *, n_cells: int | None = None, seed: int = 0
) -> SyntheticCells:
    """Return a synthetic 3-channel field with labels and a mask.

    Parameters
    ----------
    size : int
        Height and width in pixels.
    n_cells : int, optional
        How many cells; by default about one per 110x110 pixels.
    seed : int
        Random seed; the same seed gives the same data.

    Returns
    -------
    SyntheticCells
        Image, nuclei, cells and mask.
    """
    ndimage = _ndimage()
    rng = np.random.default_rng(seed)
    shape = (size, size)
    count = n_cells or max(4, size * size // 12_000)
    centres = _seeds(shape, count, rng)
    markers = np.zeros(shape, dtype=np.int32)
    rows, cols = np.clip(centres.astype(int), 0, size - 1).T
    markers[rows, cols] = np.arange(1, count + 1, dtype=np.int32)
    distance, (near_r, near_c) = ndimage.distance_transform_edt(markers == 0, return_indices=True)
    nearest = markers[near_r, near_c]
    radius = 0.55 * np.sqrt(size * size / count)
    cells = np.where(distance < radius, nearest, 0).astype(np.int32)
    nuclei = np.where(distance < radius * 0.38, nearest, 0).astype(np.int32)
    brightness = rng.uniform(0.5, 1.5, count + 1)
    dapi = ndimage.gaussian_filter((nuclei > 0) * brightness[nuclei] * 2600.0, 2.0)
    cytoplasm = (cells > 0) & (nuclei == 0)
    gfp = ndimage.gaussian_filter(cytoplasm * brightness[::-1][cells] * 1400.0, 3.0)
    gfp += smooth_blobs(shape, rng, sigma=size / 16, amplitude=250.0)
    puncta = np.zeros(shape)
    spots = _seeds(shape, count * 6, rng).astype(int)
    spots = spots[cells[spots[:, 0], spots[:, 1]] > 0]  # puncta sit inside cells
    puncta[spots[:, 0], spots[:, 1]] = rng.uniform(2e4, 6e4, len(spots))
    mcherry = ndimage.gaussian_filter(puncta, 1.5)
    background = np.array([180.0, 220.0, 150.0])[:, None, None]
    clean = np.stack([dapi, gfp, mcherry]) + background
    image = np.minimum(rng.poisson(clean), 4095).astype(np.uint16)  # a 12-bit camera
    mask = np.where(ndimage.gaussian_filter(gfp, 2.0) > 700.0, 255, 0).astype(np.uint8)
    return SyntheticCells(image=image, nuclei=nuclei, cells=cells, mask=mask)


def smooth_blobs(
    shape: tuple[int, ...], rng: np.random.Generator, *, sigma: float, amplitude: float
) -> np.ndarray:
    """Return smooth, positive, blob-like background of ``shape`` (a low-pass random field).

    Parameters
    ----------
    shape : tuple of int
        The output shape.
    rng : numpy.random.Generator
        Random source.
    sigma : float
        Blob size in pixels.
    amplitude : float
        Peak-to-peak height, roughly.

    Returns
    -------
    numpy.ndarray
        float64 values in about ``[0, amplitude]``.
    """
    ndimage = _ndimage()
    step = max(1, int(sigma // 4))
    coarse_shape = tuple(max(2, n // step) for n in shape)
    coarse = ndimage.gaussian_filter(rng.standard_normal(coarse_shape), 2.0)
    field = ndimage.zoom(
        coarse, [n / c for n, c in zip(shape, coarse_shape, strict=True)], order=1
    )
    field = field[tuple(slice(0, n) for n in shape)]
    field -= field.min()
    return field * (amplitude / max(float(field.max()), 1e-9))

"""File > Open Sample > Synthetic cells: the demo's data as napari layers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from napari_omezarr_export.core.samples import CHANNEL_COLORS, CHANNEL_NAMES, synthetic_cells

if TYPE_CHECKING:
    from npe2.types import FullLayerData

__all__ = ["make_sample_cells", "sample_layer_data"]


def sample_layer_data(size: int = 2048, seed: int = 0) -> list[FullLayerData]:
    """Return synthetic cells as layer data tuples: 3 channels, nuclei, cells and a mask.

    Parameters
    ----------
    size : int
        Height and width in pixels.
    seed : int
        Random seed.

    Returns
    -------
    list of (data, kwargs, layer_type)
        Three image layers (one per channel), two Labels layers and a mask.
    """
    cells = synthetic_cells(size, seed=seed)
    scale = (cells.pixel_size, cells.pixel_size)
    units = ("micrometer", "micrometer")
    common = {"scale": scale, "units": units, "axis_labels": ("y", "x")}
    image = (
        cells.image,
        {
            **common,
            "channel_axis": 0,
            "name": list(CHANNEL_NAMES),
            "colormap": [f"#{c}" for c in CHANNEL_COLORS],
            "contrast_limits": [(150, 3000), (200, 1600), (120, 1500)],
            "blending": "additive",
        },
        "image",
    )
    return [
        image,
        (cells.nuclei, {**common, "name": "nuclei", "opacity": 0.5}, "labels"),
        (cells.cells, {**common, "name": "cells", "opacity": 0.4, "visible": False}, "labels"),
        (
            cells.mask,
            {**common, "name": "GFP mask", "opacity": 0.4, "visible": False,
             "metadata": {"percell_type": "mask"}},
            "labels",
        ),
    ]  # fmt: skip


def make_sample_cells() -> list[FullLayerData]:
    """Return the sample for File > Open Sample (2048 x 2048, so pyramids matter)."""
    return sample_layer_data()

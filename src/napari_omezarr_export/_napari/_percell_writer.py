"""The npe2 writer behind File > Save Layers > PerCell experiment (``.percell``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from napari_omezarr_export._napari._convert import labels_spec, layers_to_export
from napari_omezarr_export._napari._writer import errors_napari_shows
from napari_omezarr_export.core.errors import ExportError
from napari_omezarr_export.core.layouts.percell import (
    DEFAULT_CONDITION,
    PercellRegion,
    experiment_path,
    free_region,
    write_percell_region,
)

if TYPE_CHECKING:
    from npe2.types import FullLayerData

__all__ = ["percell_region_for", "region_from_metadata", "write_percell"]

log = logging.getLogger(__name__)


def region_from_metadata(layers: Sequence[FullLayerData]) -> PercellRegion | None:
    """Return the region named in the first layer that came from a ``.percell`` region."""
    found = (PercellRegion.from_metadata(meta.get("metadata")) for _, meta, _ in layers)
    return next((where for where in found if where is not None), None)


def percell_region_for(path: str, layers: Sequence[FullLayerData]) -> tuple[PercellRegion, str]:
    """Choose the region's names: from the layers' PerCell metadata, else sensible defaults.

    Parameters
    ----------
    path : str
        The experiment folder.
    layers : sequence of (data, meta, layer_type)
        The layers being saved.

    Returns
    -------
    tuple of (PercellRegion, str)
        The names, and a sentence saying where they came from.
    """
    where = region_from_metadata(layers)
    if where is not None:
        return where, "names taken from the layers' PerCell metadata"
    where = free_region(path, DEFAULT_CONDITION)  # regions being saved count as taken
    return where, "the layers came from no PerCell experiment, so default names were used"


def _mask_name(meta: dict) -> str:
    name = str(meta.get("name", "mask"))
    return name.removesuffix(" mask").strip() or "mask"


def write_percell(path: str, layer_data: Sequence[FullLayerData]) -> list[str]:
    """Save image layers (the channels), a segmentation and masks as a ``.percell`` region.

    A Labels layer whose ``metadata["percell_type"]`` is ``"mask"`` becomes a threshold mask
    (named after the layer, without a trailing " mask"); one other Labels layer becomes the
    segmentation.

    Parameters
    ----------
    path : str
        The experiment folder (created when missing; ``.percell`` is added when absent).
    layer_data : sequence of (data, meta, layer_type)
        The selected layers.

    Returns
    -------
    list of str
        The image, labels and mask groups written.
    """
    with errors_napari_shows(path):  # resolving the experiment folder may raise too
        return _write(path, layer_data)


def _write(path: str, layer_data: Sequence[FullLayerData]) -> list[str]:
    images = [t for t in layer_data if t[2] == "image"]
    if not images:
        raise ExportError("A PerCell region needs at least one image layer (its channels).")
    image, _ = layers_to_export(images)
    masks, segmentations = [], []
    for data, meta, kind in layer_data:
        if kind == "labels":
            is_mask = (meta.get("metadata") or {}).get("percell_type") == "mask"
            (masks if is_mask else segmentations).append((data, meta))
    if len(segmentations) > 1:
        names = ", ".join(repr(m.get("name")) for _, m in segmentations)
        raise ExportError(
            f"A PerCell region holds one segmentation, but {names} were selected. Select one, "
            "or mark the others as masks (metadata percell_type = 'mask')."
        )
    where, origin = percell_region_for(path, layer_data)
    written = write_percell_region(
        image.data, path, where, channels=image.channels, axes=image.axes, scale=image.scale,
        units=image.units,
        segmentation=labels_spec(*segmentations[0]) if segmentations else None,
        masks=[labels_spec(d, {**m, "name": _mask_name(m)}) for d, m in masks],
    )  # fmt: skip
    _tell(f"Saved region {'/'.join(where.parts)} into {experiment_path(path)} ({origin}).")
    return [str(p) for p in written]


def _tell(message: str) -> None:
    from napari.utils.notifications import show_info

    log.info(message)
    show_info(message)

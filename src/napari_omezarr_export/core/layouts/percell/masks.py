"""Open PerCell-style binary masks and particle labels as labels layer specs.

A mask is a ``threshold_<name>/0`` (design layout) or ``thresh_<id>/mask/0`` (PerCell 3)
array of 0/255; it is shown as PerCell shows it: a labels layer in one colour (magenta,
opacity 0.4), hidden until the user ticks it, with ``metadata["percell_type"] == "mask"``.
``thresh_<id>/particles/0`` holds int32 particle labels (an ordinary, visible labels layer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from napari_omezarr_export.core.layouts.percell.names import mask_folder_name, mask_parts
from napari_omezarr_export.core.read.labels import editable_levels, labels_data
from napari_omezarr_export.core.read.layer_spec import (
    MASK_RGBA,
    TRANSPARENT,
    LayerSpec,
    Reference,
    units_of,
)
from napari_omezarr_export.core.read.multiscales import Multiscale, open_multiscale
from napari_omezarr_export.core.read.zarr_nodes import child_path, open_level, read_node_meta

__all__ = ["mask_group_layers", "mask_layer", "particles_layer"]


def _mask_levels(path: Path) -> tuple[list[Any], tuple[str, ...], Multiscale | None]:
    meta = read_node_meta(path)
    if "multiscales" in meta.attrs:
        ms = open_multiscale(meta)
        levels, axes, _ = labels_data(ms)
        return levels, tuple(a.name for a in axes), ms
    level = open_level(child_path(path, "0", what="mask level"))
    level = level.astype(np.uint8) if level.dtype == bool else level
    names = ("t", "c", "z", "y", "x")[-level.ndim :] if level.ndim <= 5 else ()
    return [level], names, None


def mask_layer(
    path: Path,
    *,
    name: str,
    reference: Reference | None = None,
    extra_metadata: dict[str, Any] | None = None,
    image_path: Path | None = None,
) -> LayerSpec:
    """Open a binary mask (``<group>/0``, uint8 0/255 or bool) as a one-colour labels layer.

    Parameters
    ----------
    path : Path
        The mask group (the one holding the ``0`` array).
    name : str
        Layer name, e.g. ``"GFP mask"``.
    reference : Reference, optional
        The image it belongs to, for scale and translation.
    extra_metadata : dict, optional
        Merged into the layer metadata.
    image_path : Path, optional
        Recorded as the source image when no reference is given.

    Returns
    -------
    LayerSpec
        A magenta labels layer with opacity 0.4, hidden (PerCell's convention: a mask shown
        at once would cover the image).
    """
    levels, names, ms = _mask_levels(path)
    shape0 = tuple(int(n) for n in levels[0].shape)
    placed = reference.register(names, shape0) if reference else None
    if placed is None:
        keep = len(names)
        scale = ms.scale[-keep:] if ms else (1.0,) * keep
        translate = ms.translate[-keep:] if ms else (0.0,) * keep
        units: tuple[str | None, ...] = (None,) * keep
    else:
        scale, translate, units = placed
    image = reference.path if reference and reference.path else image_path
    metadata = {
        "ome_zarr": {
            "path": str(path),
            "image": str(image) if image else None,
            "name": name,
            "kind": "mask",
        },
        "percell_type": "mask",
    }
    metadata.update(extra_metadata or {})
    kwargs = {
        "name": name,
        "scale": scale,
        "translate": translate,
        "axis_labels": names,
        "units": units_of(units),
        "opacity": 0.4,
        "visible": False,
        "metadata": metadata,
    }
    colors = {0: TRANSPARENT, None: MASK_RGBA}
    # A mask is drawn and corrected like any labels: open it editable when it fits in memory.
    return LayerSpec("labels", editable_levels(levels), kwargs, label_colors=colors)


def mask_group_layers(
    path: Path,
    reference: Reference | None = None,
    name: str | None = None,
    extra_metadata: dict[str, Any] | None = None,
) -> list[LayerSpec]:
    """Open a mask group: ``threshold_<name>`` or ``thresh_<id>`` (mask + particles).

    Parameters
    ----------
    path : Path
        ``threshold_<name>``, ``thresh_<id>`` or ``thresh_<id>/mask``.
    reference : Reference, optional
        The image the mask belongs to.
    name : str, optional
        The threshold name (from the folder name by default).
    extra_metadata : dict, optional
        Merged into each layer's metadata.

    Returns
    -------
    list of LayerSpec
        The mask layer, then the particle labels when there are any.
    """
    group, mask_dir, particles = mask_parts(path)
    name = name or mask_folder_name(group) or group.name
    image = reference.path if reference else None
    layers = [
        mask_layer(
            mask_dir,
            name=f"{name} mask",
            reference=reference,
            extra_metadata=extra_metadata,
            image_path=image,
        )
    ]
    if particles is not None and path == group:  # a dropped thresh_<id>/mask is the mask alone
        layers.append(particles_layer(particles, reference, f"{name} particles", extra_metadata))
    return layers


def particles_layer(
    path: Path,
    reference: Reference | None,
    name: str | None = None,
    extra_metadata: dict[str, Any] | None = None,
) -> LayerSpec:
    """Open PerCell particle labels (``thresh_<id>/particles``) as an ordinary labels layer.

    Parameters
    ----------
    path : Path
        The ``particles`` group.
    reference : Reference or None
        The image it belongs to.
    name : str, optional
        Layer name.
    extra_metadata : dict, optional
        Merged into the layer metadata.

    Returns
    -------
    LayerSpec
        A labels layer with ``metadata["percell_type"] == "particles"``.
    """
    name = name or f"{path.parent.name} particles"
    spec = mask_layer(path, name=name, reference=reference, extra_metadata=extra_metadata)
    spec.label_colors = None
    spec.kwargs.update(opacity=0.7, visible=True)
    spec.kwargs["metadata"]["ome_zarr"]["kind"] = "labels"
    spec.kwargs["metadata"]["percell_type"] = "particles"
    return spec

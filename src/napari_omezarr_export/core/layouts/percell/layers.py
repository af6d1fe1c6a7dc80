"""Turn ``.percell`` regions into layer specs: one region as is, many regions stacked lazily.

A single region (or a dropped region group) opens as PerCell users know it: one image layer per
channel (additive), a ``segmentation`` labels layer (opacity 0.5) and one hidden magenta
``<threshold> mask`` layer per threshold, all in register at the image's pixel size. A whole
experiment with several regions opens as the same few layers with a leading ``region`` slider:
regions are stacked lazily with dask (padded with zeros to the largest size), and runs with
field-specific names are stacked by what they share (`percell_model.stack_slots`), so a
100-region experiment costs only metadata reads plus one small sample for contrast limits.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import dask.array as da

from napari_omezarr_export.core.errors import PercellFormatError, StoreFormatError
from napari_omezarr_export.core.layouts.percell.experiment import (
    Experiment,
    Region,
    load_experiment,
    name_region,
)
from napari_omezarr_export.core.layouts.percell.masks import mask_group_layers, particles_layer
from napari_omezarr_export.core.layouts.percell.model import (
    Link,
    Slot,
    stack_slots,
)
from napari_omezarr_export.core.layouts.percell.names import IMAGES, is_fov_group, mask_parts
from napari_omezarr_export.core.ngff.axes import Axis
from napari_omezarr_export.core.read.discovery import Node
from napari_omezarr_export.core.read.image import image_layers
from napari_omezarr_export.core.read.labels import label_layer
from napari_omezarr_export.core.read.layer_spec import MASK_RGBA, TRANSPARENT, LayerSpec, Reference
from napari_omezarr_export.core.read.multiscales import Multiscale, open_multiscale
from napari_omezarr_export.core.read.omero import ChannelDisplay, channel_displays, guess_color
from napari_omezarr_export.core.read.zarr_nodes import child_path, open_level, read_node_meta

__all__ = ["read_percell_node", "region_layers", "stacked_layers"]

logger = logging.getLogger(__name__)


def _meta(exp: Experiment, region: Region | None) -> dict[str, Any]:
    info: dict[str, Any] = {"experiment": str(exp.root), "layout": exp.layout}
    keys = ("condition", "bio_rep", "timepoint", "region")
    info.update({k: region.key.get(k) if region else None for k in keys})
    return {"percell": info}


def _open_region_image(exp: Experiment, region: Region) -> tuple[Multiscale, list[ChannelDisplay]]:
    if not region.image.is_dir():
        raise PercellFormatError(
            f"{exp.root}: region {region.label!r} has no image folder {region.image.name} in "
            "images.zarr. The experiment is incomplete; re-import that field of view in PerCell."
        )
    meta = read_node_meta(region.image)
    ms = open_multiscale(meta)
    c = ms.axis_index("c")
    n = ms.shapes[0][c] if c is not None else 1
    styles = channel_displays(
        meta.attrs.get("omero"), n, ms.levels[0].dtype, trust_colors=False, source=region.image
    )
    if exp.channels and len(exp.channels) == n:
        styles = [
            ChannelDisplay(name, color or guess_color(name), s.window, s.visible)
            for (name, color), s in zip(exp.channels, styles, strict=True)
        ]
    spatial = [i for i, a in enumerate(ms.axes) if a.name in ("y", "x")]
    if region.pixel_size and all(ms.scale[i] == 1.0 for i in spatial):
        scale = tuple(region.pixel_size if i in spatial else s for i, s in enumerate(ms.scale))
        axes = tuple(
            Axis(a.name, a.type, a.unit or "micrometer") if i in spatial else a
            for i, a in enumerate(ms.axes)
        )
        ms = Multiscale(ms.path, ms.version, ms.name, axes, ms.levels, scale, ms.translate)
    return ms, styles


def region_layers(exp: Experiment, region: Region) -> list[LayerSpec]:
    """Open one region: channels, segmentation labels, masks (hidden) and particle labels.

    Parameters
    ----------
    exp : Experiment
        The experiment.
    region : Region
        The region.

    Returns
    -------
    list of LayerSpec
        Images first.
    """
    ms, styles = _open_region_image(exp, region)
    extra = _meta(exp, region)
    layers = image_layers(ms, None, styles=styles, extra_metadata=extra)
    reference = Reference.from_multiscale(ms)
    for name, path, _ in region.segmentations:
        if not path.is_dir():
            logger.warning("segmentation %s of %s is missing", path, region.label)
            continue
        layer_name = "segmentation" if len(region.segmentations) == 1 else name
        spec = label_layer(
            read_node_meta(path), name=layer_name, reference=reference, extra_metadata=extra
        )
        spec.kwargs.update(opacity=0.5)
        spec.kwargs["metadata"]["percell_type"] = "segmentation"
        layers.append(spec)
    for name, path, _ in region.thresholds:
        if path.is_dir():
            for spec in mask_group_layers(path, reference, name, extra):
                spec.kwargs["visible"] = False
                layers.append(spec)
    return layers


def _pad(arr: Any, shape: tuple[int, ...]) -> Any:
    widths = [(0, t - s) for s, t in zip(arr.shape, shape, strict=True)]
    return da.pad(arr, widths) if any(w for _, w in widths) else arr


def _stack(arrays: list[Any]) -> Any:
    shape = tuple(max(a.shape[i] for a in arrays) for i in range(arrays[0].ndim))
    return da.stack([_pad(a, shape) for a in arrays])


def _one_level(path: Path | None, shape: tuple[int, ...], dtype: str) -> Any:
    """Level 0 of a label or mask group, or zeros when the region has none."""
    if path is None or not path.is_dir():
        return da.zeros(shape, dtype=dtype, chunks=shape)
    meta = read_node_meta(path)
    if "multiscales" in meta.attrs:
        level = open_multiscale(meta).levels[0]
    else:
        level = open_level(child_path(path, "0", what="mask level"))
    return level.astype("uint8") if level.dtype == bool else level


LabelsKind = Literal["segmentation", "mask", "particles"]

# How each kind of stacked labels layer looks: PerCell's conventions (masks magenta, 0.4,
# hidden; segmentation 0.5), particles as in a single region (ordinary labels, hidden).
_LOOK: dict[LabelsKind, dict[str, Any]] = {
    "segmentation": {"opacity": 0.5, "visible": True},
    "mask": {"opacity": 0.4, "visible": False},
    "particles": {"opacity": 0.7, "visible": False},
}


def _stacked_labels(
    name: str, paths: list[Path | None], slot: Slot, base: LayerSpec, kind: LabelsKind
) -> LayerSpec:
    """One labels layer: each region's level 0 of ``paths`` (zeros where None), stacked."""
    plane = tuple(base.data[0].shape[-2:])
    data = _stack([_one_level(p, plane, "uint8" if kind == "mask" else "int32") for p in paths])
    kwargs = {k: v for k, v in base.kwargs.items() if k not in ("contrast_limits", "blending")}
    meta = dict(kwargs["metadata"])
    meta["ome_zarr"] = {
        "path": None,
        "image": None,
        "name": name,
        "kind": "mask" if kind == "mask" else "labels",
        "paths": _strs(paths),
    }
    runs = "segmentations" if kind == "segmentation" else "thresholds"
    meta["percell"] = dict(meta["percell"], **{runs: slot.names})
    meta["percell_type"] = kind
    kwargs.update(name=name, metadata=meta, **_LOOK[kind])
    colors = {0: TRANSPARENT, None: MASK_RGBA} if kind == "mask" else None
    return LayerSpec("labels", [data], kwargs, label_colors=colors)


def _mask_paths(link: Link | None) -> tuple[Path | None, Path | None]:
    """A threshold's mask group and particle labels group (None when absent)."""
    if link is None:
        return None, None
    _, mask, particles = mask_parts(link.path)
    return mask, particles


def _run_layers(regions: list[Region], base: LayerSpec) -> list[LayerSpec]:
    """Segmentation, mask and particle layers of a whole experiment, one per group of runs."""
    layers = [
        _stacked_labels(slot.name, [link.path if link else None for link in slot.links],
                        slot, base, "segmentation")
        for slot in stack_slots([r.segmentations for r in regions], together="segmentation")
    ]  # fmt: skip
    for slot in stack_slots([r.thresholds for r in regions]):
        masks, particles = zip(*(_mask_paths(link) for link in slot.links), strict=True)
        layers.append(_stacked_labels(f"{slot.name} mask", list(masks), slot, base, "mask"))
        if any(particles):
            name = f"{slot.name} particles"
            layers.append(_stacked_labels(name, list(particles), slot, base, "particles"))
    return layers


def stacked_layers(exp: Experiment, regions: list[Region]) -> list[LayerSpec]:
    """Open many regions as a few layers with a leading ``region`` axis (lazy dask stacks).

    Runs are stacked by what they share across regions (`percell_model.stack_slots`): a
    PerCell 3 experiment of 100 fields with 2 threshold groups opens as its channels, one
    ``segmentation`` layer and 2 mask (and 2 particle) layers, not one layer per run name.

    Parameters
    ----------
    exp : Experiment
        The experiment.
    regions : list of Region
        The regions, in slider order.

    Returns
    -------
    list of LayerSpec
        One image layer per channel, the segmentation layer(s), and a mask layer (followed by
        a particles layer when there are particle labels) per group of thresholds. Region
        names are in ``metadata["percell"]["regions"]``; the run behind each slice in
        ``metadata["percell"]["segmentations"]`` or ``["thresholds"]`` (None: a blank slice).
    """
    opened, kept = [], []
    for region in regions:
        try:
            opened.append(_open_region_image(exp, region))
            kept.append(region)
        except StoreFormatError as exc:  # show the other regions
            logger.warning("%s The other regions are shown.", exc)
    if not opened:
        raise PercellFormatError(
            f"{exp.root}: none of its {len(regions)} regions could be opened."
        )
    regions = kept
    first, styles = opened[0]
    same = [i for i, (ms, _) in enumerate(opened) if ms.axis_names == first.axis_names]
    if len(same) < len(regions):
        logger.warning("%d regions with other axes were left out", len(regions) - len(same))
    regions, opened = [regions[i] for i in same], [opened[i] for i in same]
    n_levels = min(len(ms.levels) for ms, _ in opened)
    levels = [_stack([ms.levels[k] for ms, _ in opened]) for k in range(n_levels)]
    axes = (Axis("region"), *first.axes)
    stacked = Multiscale(
        exp.root / IMAGES, first.version, None, axes, levels,
        (1.0, *first.scale), (0.0, *first.translate),
    )  # fmt: skip
    extra = _meta(exp, None)
    extra["percell"]["regions"] = [dict(r.key, label=r.label) for r in regions]
    extra["percell"]["images"] = [str(r.image) for r in regions]
    layers = image_layers(stacked, None, styles=styles, extra_metadata=extra)
    layers += _run_layers(regions, layers[0])
    _fix_label_dims(layers, layers[0])
    return layers


def _strs(paths: list[Path | None]) -> list[str | None]:
    return [str(p) if p is not None else None for p in paths]


def _fix_label_dims(layers: list[LayerSpec], base: LayerSpec) -> None:
    """Broadcast (region, y, x) labels over a z axis when the images are (region, z, y, x)."""
    ndim = base.data[0].ndim
    for spec in layers:
        if spec.layer_type != "labels" or spec.data[0].ndim == ndim:
            continue
        data = spec.data[0]
        extra = ndim - data.ndim
        shape = (data.shape[0], *base.data[0].shape[1 : 1 + extra], *data.shape[1:])
        spec.data = [da.broadcast_to(data[(slice(None), *(None,) * extra)], shape)]


def _real(path: Path) -> Path | None:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return None


def _find_region(exp: Experiment, path: Path) -> Region | None:
    target = _real(path)
    if target is None:
        return None
    for region in exp.regions:
        owned = [region.image, *(link.path for link in region.thresholds)]
        owned += [link.path for link in region.segmentations]
        if any(_real(p) in (target, target.parent) for p in owned):
            return region
    return None


def read_percell_node(node: Node) -> list[LayerSpec] | None:
    """Open a ``.percell`` experiment, one of its regions, or one of its masks.

    Parameters
    ----------
    node : Node
        A discovered node with ``percell_root`` set.

    Returns
    -------
    list of LayerSpec or None
        The layers, or None when the node lies inside the experiment but belongs to no region
        (the generic reader then opens it).
    """
    root = node.percell_root
    if node.kind == "percell_region" and (root / IMAGES) in node.path.parents:
        if not is_fov_group(node.path):
            exp = Experiment(root, "names", [name_region(root, node.path)])
            return region_layers(exp, exp.regions[0])
    exp = load_experiment(root)
    if node.kind == "percell":
        if len(exp.regions) == 1:
            return region_layers(exp, exp.regions[0])
        return stacked_layers(exp, exp.regions)
    region = _find_region(exp, node.path)
    if region is None:
        return None  # not a region's group: the generic reader opens it
    if node.kind == "percell_region":
        return region_layers(exp, region)
    ms, _ = _open_region_image(exp, region)
    reference = Reference.from_multiscale(ms)
    name = next((n for n, p, _ in region.thresholds if p in (node.path, node.path.parent)), None)
    if node.kind == "particles":
        return [particles_layer(node.path, reference, f"{name} particles", _meta(exp, region))]
    return mask_group_layers(node.path, reference, name, _meta(exp, region))

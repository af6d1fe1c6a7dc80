"""Open an OME-Zarr image lazily as layer specs: one image layer per channel, then its labels.

Every pixel array is a dask view of a zarr array; the only pixels read at open time are those
of the lowest-resolution level (a sample when it is large), and only for channels whose
``omero`` window cannot be trusted. A small lowest level read that way stays in memory for napari.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import dask
import dask.threaded

from napari_omezarr_export.core import stores
from napari_omezarr_export.core.errors import StoreFormatError
from napari_omezarr_export.core.read.contrast import limits_from_plane, sample_plane
from napari_omezarr_export.core.read.labels import labels_group_layers
from napari_omezarr_export.core.read.layer_spec import (
    LayerSpec,
    Reference,
    affine_without,
    units_of,
)
from napari_omezarr_export.core.read.multiscales import Multiscale, open_multiscale
from napari_omezarr_export.core.read.omero import (
    ChannelDisplay,
    channel_displays,
    pixel_size_scale,
)
from napari_omezarr_export.core.read.zarr_nodes import is_node, read_node_meta

__all__ = ["fill_limits", "image_layers", "open_image"]

logger = logging.getLogger(__name__)


def _channel_axis(ms: Multiscale) -> int | None:
    for i, axis in enumerate(ms.axes):
        if axis.name.lower() == "c" or axis.type == "channel":
            return i
    return None


def _dtype_range(dtype: Any) -> Any:
    """Two values spanning a dtype's range (0-1 for floats), standing in for a sample."""
    import numpy as np

    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.array([max(info.min, 0), info.max])
    return np.array([0.0, 1.0])


# A pyramid's lowest level, when it is one plane up to this size per channel, is read whole for
# the contrast limits and kept in memory as the layer's last level, which napari draws first:
# its chunks are read once, not twice (benchmarks/open_speed.py counts the chunk files read).
SMALL_LEVEL_BYTES = 16 * 2**20
SMALL_LEVELS_TOTAL_BYTES = 128 * 2**20


def fill_limits(styles: list[ChannelDisplay], channels: list[list[Any]], spatial: tuple[int, ...]):
    """Compute contrast limits, in one dask pass, for the styles that have no trusted window.

    A pyramid whose lowest level is one small plane (`SMALL_LEVEL_BYTES`) is read whole, and
    that level is replaced in ``channels`` by the numpy array read; others are sampled.

    Parameters
    ----------
    styles : list of ChannelDisplay
        One per channel.
    channels : list of list of dask.array.Array
        Each channel's levels, largest first.
    spatial : tuple of int
        The y/x axis indices within a channel's levels.

    Returns
    -------
    list of tuple of float
        Contrast limits per channel.
    """
    todo = [i for i, s in enumerate(styles) if s.window is None]
    whole = {
        i
        for i in todo
        if len(channels[i]) > 1  # a pyramid, whose lowest level napari draws first
        and channels[i][-1].ndim == len(spatial)  # one plane: drawn whole
        and channels[i][-1].nbytes <= SMALL_LEVEL_BYTES
    }
    if sum(channels[i][-1].nbytes for i in whole) > SMALL_LEVELS_TOTAL_BYTES:
        whole = set()  # many channels: sample them all, keep nothing in memory
    try:
        # A scheduler given as a function skips dask's scheduler lookup, which imports
        # `distributed` on first use (about 0.2 s, measured by benchmarks/open_speed.py).
        samples = [
            channels[i][-1] if i in whole else sample_plane(channels[i], spatial) for i in todo
        ]
        planes = dask.compute(*samples, scheduler=dask.threaded.get)
    except StoreFormatError as exc:  # a corrupt chunk: open anyway, fail only where it is
        logger.warning("%s Contrast limits fall back to the data type's range.", exc)
        planes = tuple(_dtype_range(channels[i][0].dtype) for i in todo)
        whole = set()
    computed = {}
    for i, plane in zip(todo, planes, strict=True):
        if i in whole:
            channels[i][-1] = plane
            plane = sample_plane([plane], spatial)  # the same pixels as a sampled level
        computed[i] = limits_from_plane(plane)
    return [s.window if s.window is not None else computed[i] for i, s in enumerate(styles)]


def image_layers(
    ms: Multiscale,
    omero: object,
    *,
    scale: tuple[float, ...] | None = None,
    trust_colors: bool = True,
    styles: list[ChannelDisplay] | None = None,
    extra_metadata: dict[str, Any] | None = None,
) -> list[LayerSpec]:
    """Split an opened multiscale image into one image layer spec per channel.

    Parameters
    ----------
    ms : Multiscale
        The opened image.
    omero : object
        Its ``omero`` attribute (or None).
    scale : tuple of float, optional
        A corrected level-0 scale (e.g. from ``omero.pixel_size``).
    trust_colors : bool
        False to treat white channel colours as "none given" (PerCell writes ``FFFFFF``).
    styles : list of ChannelDisplay, optional
        Styles to use instead of those parsed from ``omero``.
    extra_metadata : dict, optional
        Merged into every layer's metadata.

    Returns
    -------
    list of LayerSpec
        Image layer specs, additive blending when there are several channels.
    """
    scale = scale or ms.scale
    c = _channel_axis(ms)
    n = ms.shapes[0][c] if c is not None else 1
    if styles is None:
        styles = channel_displays(
            omero, n, ms.levels[0].dtype, trust_colors=trust_colors, source=ms.path
        )
        if c is None and not (isinstance(omero, dict) and omero.get("channels")):
            styles = [ChannelDisplay(ms.name or stores.name_of(ms.path), styles[0].color, None)]
    keep = [i for i in range(len(ms.axes)) if i != c]
    if c is None:
        channels = [list(ms.levels)]  # a copy: fill_limits may swap in the lowest level read
    else:
        channels = [[lv[(slice(None),) * c + (i,)] for lv in ms.levels] for i in range(n)]
    names = tuple(ms.axes[i].name for i in keep)
    spatial = tuple(j for j, name in enumerate(names) if name.lower() in ("y", "x"))
    limits = fill_limits(styles, channels, spatial or tuple(range(len(names)))[-2:])
    layers = []
    for i, style in enumerate(styles):
        metadata = {"ome_zarr": {"path": stores.describe(ms.path), "kind": "image", "channel": i}}
        metadata["ome_zarr"]["version"] = ms.version
        metadata.update(extra_metadata or {})
        kwargs = {
            "name": style.name,
            "scale": tuple(scale[j] for j in keep),
            "translate": tuple(ms.translate[j] for j in keep),
            "axis_labels": names,
            "units": units_of(tuple(ms.axes[j].unit for j in keep)),
            "contrast_limits": limits[i],
            "visible": style.visible,
            "blending": "additive" if n > 1 else "translucent",
            "metadata": metadata,
        }
        if ms.affine is not None:
            kwargs["affine"] = affine_without(ms.affine, c)
        if ms.system is not None:
            metadata["ome_zarr"]["coordinate_system"] = ms.system
        layers.append(LayerSpec("image", channels[i], kwargs, color=style.color))
    return layers


def open_image(
    path: Path, *, with_labels: bool = True, placement: tuple[Any, Any] | None = None
) -> tuple[list[LayerSpec], Reference]:
    """Open an image group (and its ``labels/``) as layer specs.

    Parameters
    ----------
    path : Path
        The image group.
    with_labels : bool
        Also open the label images listed in ``labels/``.
    placement : (CoordinateSystem, Placement), optional
        NGFF 0.6: the system to show the image in and the matrix reaching it from the image's
        intrinsic system (a scene's placement); its labels follow.

    Returns
    -------
    tuple
        The layer specs (images first) and the image's :class:`Reference`.
    """
    meta = read_node_meta(path)
    ms = open_multiscale(meta, placement=placement)
    omero = meta.attrs.get("omero")
    scale, used = pixel_size_scale(omero, ms.axis_names, ms.scale)
    if used:
        ms = replace(
            ms,
            axes=tuple(
                type(a)(a.name, a.type, a.unit or ("micrometer" if s != o else None))
                for a, s, o in zip(ms.axes, scale, ms.scale, strict=True)
            ),
            scale=scale,
        )
    layers = image_layers(ms, omero)
    reference = Reference.from_multiscale(ms)
    if with_labels:
        layers.extend(_image_labels(path / "labels", reference, meta.zarr_format))
    return layers, reference


def _image_labels(
    labels_dir: Path, reference: Reference, zarr_format: int | None
) -> list[LayerSpec]:
    """The labels an image lists; a broken ``labels`` group is skipped with a warning.

    The image itself is fine, so it still opens: only its labels are left out, and the warning
    names the file and what is wrong with it.
    """
    if not is_node(labels_dir, zarr_format=zarr_format):
        return []
    try:
        group = read_node_meta(labels_dir, zarr_format=zarr_format, node_type="group")
        if "labels" not in group.attrs:
            return []
        return labels_group_layers(labels_dir, reference, zarr_format=zarr_format)
    except StoreFormatError as exc:
        logger.warning("%s The image opens without its labels.", exc)
        return []

"""Open a discovered node lazily as layer specs: images (one per channel), labels and masks.

:func:`read_node` is the single entry point the napari adapter calls. Every pixel array is a
dask view of a zarr array; the only pixels read at open time are those of the
lowest-resolution level (a sample when it is large), and only for channels whose ``omero``
window cannot be trusted. A small lowest level read that way stays in memory for napari.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import dask
import dask.threaded

import napari_omezarr_export.core.layouts.brieflow.quirks as brieflow
import napari_omezarr_export.core.layouts.brieflow.tables as brieflow_tables
from napari_omezarr_export.core.errors import NotOmeZarrError, StoreFormatError
from napari_omezarr_export.core.layouts.percell.masks import mask_group_layers, particles_layer
from napari_omezarr_export.core.read.discovery import Node
from napari_omezarr_export.core.read.labels import label_layer, labels_group_layers
from napari_omezarr_export.core.read.layer_spec import LayerSpec, Reference, units_of
from napari_omezarr_export.core.read.multiscales import Multiscale, open_multiscale
from napari_omezarr_export.core.read.omero import (
    ChannelStyle,
    channel_styles,
    limits_from_plane,
    sample_plane,
)
from napari_omezarr_export.core.read.zarr_nodes import has_zarr_metadata, read_node_meta

__all__ = ["image_layers", "open_image", "read_node"]

logger = logging.getLogger(__name__)

CELL_LABELS = ("cells", "nuclei")  # Brieflow label names whose ids are cell_0


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


def fill_limits(styles: list[ChannelStyle], channels: list[list[Any]], spatial: tuple[int, ...]):
    """Compute contrast limits, in one dask pass, for the styles that have no trusted window.

    A pyramid whose lowest level is one small plane (`SMALL_LEVEL_BYTES`) is read whole, and
    that level is replaced in ``channels`` by the numpy array read; others are sampled.

    Parameters
    ----------
    styles : list of ChannelStyle
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
    styles: list[ChannelStyle] | None = None,
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
    styles : list of ChannelStyle, optional
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
        styles = channel_styles(
            omero, n, ms.levels[0].dtype, trust_colors=trust_colors, source=ms.path
        )
        if c is None and not (isinstance(omero, dict) and omero.get("channels")):
            styles = [ChannelStyle(ms.name or ms.path.name, styles[0].color, None)]
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
        metadata = {"ome_zarr": {"path": str(ms.path), "kind": "image", "channel": i}}
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
        layers.append(LayerSpec("image", channels[i], kwargs, color=style.color))
    return layers


def open_image(path: Path, *, with_labels: bool = True) -> tuple[list[LayerSpec], Reference]:
    """Open an image group (and its ``labels/``) as layer specs.

    Parameters
    ----------
    path : Path
        The image group.
    with_labels : bool
        Also open the label images listed in ``labels/``.

    Returns
    -------
    tuple
        The layer specs (images first) and the image's :class:`Reference`.
    """
    meta = read_node_meta(path)
    ms = open_multiscale(meta)
    omero = meta.attrs.get("omero")
    scale, used = brieflow.pixel_size_scale(omero, ms.axis_names, ms.scale)
    if used:
        ms = Multiscale(
            ms.path,
            ms.version,
            ms.name,
            tuple(
                type(a)(a.name, a.type, a.unit or ("micrometer" if s != o else None))
                for a, s, o in zip(ms.axes, scale, ms.scale, strict=True)
            ),
            ms.levels,
            scale,
            ms.translate,
        )
    layers = image_layers(ms, omero)
    reference = Reference.from_multiscale(ms)
    if with_labels:
        layers.extend(_image_labels(path / "labels", reference))
        _attach_brieflow_table(path, layers)
    return layers, reference


def _image_labels(labels_dir: Path, reference: Reference) -> list[LayerSpec]:
    """The labels an image lists; a broken ``labels`` group is skipped with a warning.

    The image itself is fine, so it still opens: only its labels are left out, and the warning
    names the file and what is wrong with it.
    """
    if not labels_dir.is_dir():
        return []
    try:
        if "labels" not in read_node_meta(labels_dir).attrs:
            return []
        return labels_group_layers(labels_dir, reference)
    except StoreFormatError as exc:
        logger.warning("%s The image opens without its labels.", exc)
        return []


def _attach_brieflow_table(store: Path, layers: list[LayerSpec]) -> None:
    """Give ``cells`` and ``nuclei`` the rows of the run's merge table for this tile."""
    cell_layers = [
        s for s in layers if s.layer_type == "labels" and s.kwargs.get("name") in CELL_LABELS
    ]
    if not cell_layers:
        return
    features = brieflow_tables.read_tile_features(store)
    if features is None:
        return
    for spec in cell_layers:
        spec.kwargs["features"] = features.copy()


def _source_image(label_path: Path, attrs: dict[str, Any]) -> Path | None:
    """``image-label.source.image`` resolved, if it stays within the image holding the label.

    The conventional value ``../../`` names the image two levels up; a path leaving that image
    (more ``..``, an absolute path, a symlink loop) is ignored with a warning, so that a label
    never makes the reader open files outside the store it belongs to.
    """
    source = attrs.get("image-label", {})
    source = source.get("source") if isinstance(source, dict) else None
    image = source.get("image") if isinstance(source, dict) else None
    if not isinstance(image, str):
        return None
    home = label_path.parent.parent if label_path.parent.name == "labels" else label_path
    try:
        resolved = (label_path / image.replace("\\", "/")).resolve()
        inside = resolved == home.resolve() or home.resolve() in resolved.parents
    except (OSError, RuntimeError, ValueError):
        inside = False
    if not inside or resolved == label_path.resolve():
        logger.warning(
            "%s: image-label source.image %r points outside the image holding the label; it "
            "is ignored (the image two folders up is used when there is one).",
            label_path,
            image,
        )
        return None
    return resolved


def _parent_reference(label_path: Path, attrs: dict[str, Any]) -> Reference | None:
    """Find the image a label image belongs to: ``image-label.source.image`` or ``../..``."""
    candidates: list[Path] = []
    source = _source_image(label_path, attrs)
    if source is not None:
        candidates.append(source)
    if label_path.parent.name == "labels":
        candidates.append(label_path.parent.parent)
    for candidate in candidates:
        meta = read_node_meta(candidate) if candidate.is_dir() else None
        if meta is not None and "multiscales" in meta.attrs and "image-label" not in meta.attrs:
            ms = open_multiscale(meta)
            scale, _ = brieflow.pixel_size_scale(meta.attrs.get("omero"), ms.axis_names, ms.scale)
            return Reference.from_multiscale(ms, scale)
    return None


def _attrs_of(path: Path) -> dict[str, Any]:
    return read_node_meta(path).attrs


def series_paths(root: Path) -> list[Path]:
    """The images of a bioformats2raw store: as ``OME/`` lists them, else ``0/``, ``1/``, ...

    Parameters
    ----------
    root : Path
        The store, whose attributes hold ``bioformats2raw.layout``.

    Returns
    -------
    list of Path
        One group per series, in order.
    """
    listed = read_node_meta(root / "OME").attrs.get("series") if (root / "OME").is_dir() else None
    if isinstance(listed, list) and listed:
        for name in map(str, listed):
            if name in ("", ".", "..") or "/" in name or "\\" in name:
                raise StoreFormatError(
                    f"{root / 'OME'} lists the series {name!r}, which is not a folder inside "
                    f"{root.name}; open a series folder directly instead."
                )
        return [root / str(name) for name in listed]
    paths = []
    while has_zarr_metadata(root / str(len(paths))):  # the spec's consecutive numbering
        paths.append(root / str(len(paths)))
    return paths


def series_layers(root: Path, attrs: dict[str, Any]) -> list[LayerSpec]:
    """Open every series of a bioformats2raw store (the converter's output) as layers.

    Parameters
    ----------
    root : Path
        The store.
    attrs : dict
        Its attributes.

    Returns
    -------
    list of LayerSpec
        Each series' images and labels; names start with the series when there are several.

    Raises
    ------
    StoreFormatError
        When the layout is not version 3, or no series holds an image.
    """
    layout = attrs.get("bioformats2raw.layout")
    if layout != 3:
        raise StoreFormatError(
            f"{root} is a bioformats2raw store of layout {layout!r}; only layout 3 (the one in "
            "the NGFF specification) can be opened. Convert it again with bioformats2raw 0.3 or "
            "later."
        )
    paths = series_paths(root)
    images = [p for p in paths if has_zarr_metadata(p) and "multiscales" in _attrs_of(p)]
    if not images:
        raise StoreFormatError(
            f"{root} is a bioformats2raw store, but none of its series "
            f"({', '.join(p.name for p in paths) or 'none found'}) holds an OME-Zarr image. "
            "Open a series folder inside it directly, or check that the conversion finished."
        )
    layers = []
    for path in images:
        specs = open_image(path)[0]
        if len(images) > 1:
            series = f"series {path.name}" if path.name.isdigit() else path.name
            for spec in specs:
                named = spec.name not in ("", path.name)
                spec.kwargs["name"] = f"{series}: {spec.name}" if named else series
        layers += specs
    return layers


def read_node(node: Node) -> list[LayerSpec]:
    """Open a discovered node as layer specs (the reader's whole job, minus napari).

    Parameters
    ----------
    node : Node
        The result of :func:`discover`.

    Returns
    -------
    list of LayerSpec
        Layers to add, images first.

    Raises
    ------
    StoreFormatError
        For broken stores, with a message naming the file and the problem.
    """
    from napari_omezarr_export.core.layouts.percell.layers import read_percell_node

    kind = node.kind
    if kind == "broken":
        raise StoreFormatError(node.message)
    if kind == "brieflow_table":
        raise brieflow.table_error(node.path, node.attrs)
    if kind in ("percell", "percell_region", "mask", "particles") and node.percell_root:
        return read_percell_node(node)
    if kind == "image":
        return open_image(node.path)[0]
    if kind == "image_series":
        return series_layers(node.path, node.attrs)
    if kind == "label_image":
        reference = _parent_reference(node.path, node.attrs)
        return [label_layer(read_node_meta(node.path), reference=reference)]
    if kind == "labels_group":
        parent = node.path.parent
        reference = None
        if (parent / "labels") == node.path and "multiscales" in read_node_meta(parent).attrs:
            reference = open_image(parent, with_labels=False)[1]
        return labels_group_layers(node.path, reference)
    if kind == "mask":
        return mask_group_layers(node.path)
    if kind == "particles":
        return [particles_layer(node.path, None)]
    raise NotOmeZarrError(
        f"{node.path} is not an OME-Zarr image, labels group, mask or .percell experiment."
    )

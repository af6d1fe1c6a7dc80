"""Open label images, ``labels/`` groups and binary masks as labels layer specs.

Label colours (``image-label.colors``) become a ``{value: rgba}`` dict, ``properties`` a
features DataFrame whose ``index`` column is the label value, and every layer records where it
came from in ``metadata["ome_zarr"]`` so that edits can be saved back.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import dask
import dask.threaded
import numpy as np

from napari_omezarr_export.core import stores
from napari_omezarr_export.core.errors import StoreFormatError
from napari_omezarr_export.core.ngff.attributes import display_kwargs
from napari_omezarr_export.core.ngff.axes import Axis
from napari_omezarr_export.core.read.layer_spec import (
    TRANSPARENT,
    LayerSpec,
    Reference,
    affine_over,
    units_of,
)
from napari_omezarr_export.core.read.multiscales import Multiscale, level_folders, open_multiscale
from napari_omezarr_export.core.read.omero import pixel_size_scale
from napari_omezarr_export.core.read.zarr_nodes import (
    NodeMeta,
    child_path,
    is_node,
    prefetch_nodes,
    read_node_meta,
)

__all__ = [
    "EDITABLE_LABELS_BYTES",
    "editable_levels",
    "label_colors",
    "label_features",
    "label_layer",
    "labels_data",
    "labels_group_layers",
    "labels_read_lazily",
    "parent_reference",
]

logger = logging.getLogger(__name__)

# napari draws a multiscale Labels layer but lets nobody paint it, and painting a dask array
# stacks one task graph per stroke. So labels whose level 0 fits this budget open as one
# in-memory level 0, editable at once: 512 MiB holds an 8192x8192 int64 or an 11585x11585
# int32 segmentation. Larger labels open multiscale and read-only; the layer context menu's
# "Edit labels (load full resolution)" loads level 0 when the user asks for it.
EDITABLE_LABELS_BYTES = 512 * 2**20
_LAZY_LABELS: contextvars.ContextVar[bool] = contextvars.ContextVar("lazy_labels", default=False)


@contextlib.contextmanager
def labels_read_lazily() -> Iterator[None]:
    """Open every label image as a lazy pyramid in this block (no level 0 read into memory).

    For callers that only look (``napari-omezarr-export info``): editable labels would read
    up to `EDITABLE_LABELS_BYTES` of level 0 each.

    Yields
    ------
    None
        Open the stores inside the block.
    """
    token = _LAZY_LABELS.set(True)
    try:
        yield
    finally:
        _LAZY_LABELS.reset(token)


def label_colors(
    image_label: object, where: object = "label image"
) -> dict[Any, tuple[float, ...]] | None:
    """Turn ``image-label.colors`` into ``{value: rgba floats}`` with a transparent 0.

    Parameters
    ----------
    image_label : object
        The ``image-label`` attribute.
    where : object
        The label image's path, named in the warning about malformed entries.

    Returns
    -------
    dict or None
        None when no usable colours are given.
    """
    raw = image_label.get("colors") if isinstance(image_label, dict) else None
    if not isinstance(raw, list):
        return None
    colors: dict[Any, tuple[float, ...]] = {}
    bad: list[object] = []
    for entry in raw:
        try:
            value = int(entry["label-value"])
            rgba = [float(v) / 255.0 for v in entry["rgba"] if isinstance(entry["rgba"], list)]
        except (KeyError, TypeError, ValueError):
            rgba = []
        if len(rgba) not in (3, 4):
            bad.append(entry)
            continue
        colors[value] = tuple(min(max(v, 0.0), 1.0) for v in (*rgba, 1.0)[:4])
    if bad:
        logger.warning(
            "%s: %d label colour entries are not {label-value: int, rgba: [r, g, b, a]} and "
            "were skipped, e.g. %r; those labels get napari's default colours.",
            where,
            len(bad),
            bad[0],
        )
    if not colors:
        return None
    colors.setdefault(0, TRANSPARENT)
    colors[None] = (0.5, 0.5, 0.5, 1.0)
    return colors


def label_features(image_label: object) -> Any:
    """Turn ``image-label.properties`` into a DataFrame with an ``index`` column, or None.

    Parameters
    ----------
    image_label : object
        The ``image-label`` attribute.

    Returns
    -------
    pandas.DataFrame or None
        One row per label value.
    """
    import pandas as pd

    raw = image_label.get("properties") if isinstance(image_label, dict) else None
    if not isinstance(raw, list):
        return None
    rows = [dict(r) for r in raw if isinstance(r, dict) and "label-value" in r]
    if not rows:
        return None
    frame = pd.DataFrame(rows).rename(columns={"label-value": "index"})
    return frame[["index", *[c for c in frame.columns if c != "index"]]]


def labels_data(ms: Multiscale) -> tuple[list[Any], tuple[Axis, ...], list[int]]:
    """Drop a size-1 channel axis (legacy 5-D labels) and make boolean data integer."""
    levels, axes, keep = ms.levels, ms.axes, list(range(len(ms.axes)))
    c = ms.axis_index("c")
    if c is not None and all(lv.shape[c] == 1 for lv in levels):
        index = (slice(None),) * c + (0,)
        levels = [lv[index] for lv in levels]
        axes = tuple(a for i, a in enumerate(axes) if i != c)
        keep.remove(c)
    levels = [lv.astype(np.uint8) if lv.dtype == bool else lv for lv in levels]
    return levels, axes, keep


def editable_levels(levels: list[Any], budget: int | None = None) -> list[Any]:
    """Level 0 read into memory, so that napari can paint it, when it fits ``budget`` bytes.

    Parameters
    ----------
    levels : list of array-like
        A label image's levels, largest first (lazy dask arrays).
    budget : int, optional
        The most bytes level 0 may take in memory; `EDITABLE_LABELS_BYTES` by default.

    Returns
    -------
    list
        ``[level 0 as a numpy array]``, or ``levels`` unchanged when level 0 is larger than the
        budget or one of its chunks cannot be read (then logged: the layer opens read-only).
    """
    level0 = levels[0]
    if level0.nbytes > (EDITABLE_LABELS_BYTES if budget is None else budget):
        return levels
    try:
        # A scheduler given as a function skips dask's scheduler lookup (see read/image.py).
        (array,) = dask.compute(level0, scheduler=dask.threaded.get)
    except StoreFormatError as exc:
        logger.warning("%s The labels open read-only, as a pyramid.", exc)
        return levels
    return [np.ascontiguousarray(array)]


def _strip_zarr(name: str) -> str:
    """A store's folder name without ``.ome.zarr`` / ``.zarr``, as a layer name."""
    for suffix in (".ome.zarr", ".zarr"):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def label_layer(
    meta: NodeMeta,
    *,
    name: str | None = None,
    reference: Reference | None = None,
    kind: Literal["labels", "mask"] = "labels",
    extra_metadata: dict[str, Any] | None = None,
    editable_budget: int | None = None,
) -> LayerSpec:
    """Open one label image (a group with ``multiscales``) as a labels layer spec.

    Parameters
    ----------
    meta : NodeMeta
        The label group's metadata.
    name : str, optional
        Layer name; by default the multiscale's ``name``, else the folder name without
        ``.zarr`` (a standalone label store dropped on its own).
    reference : Reference, optional
        The image it belongs to; its scale and translation are used (matched by axis name).
    kind : str
        ``"labels"`` or ``"mask"``, recorded in ``metadata["ome_zarr"]["kind"]``.
    extra_metadata : dict, optional
        Merged into the layer metadata.
    editable_budget : int, optional
        Level 0 is read into memory (one editable level) when it takes at most this many
        bytes; larger labels open as a lazy, read-only pyramid. See `editable_levels`.

    Returns
    -------
    LayerSpec
        A labels layer spec.
    """
    ms = open_multiscale(meta)
    levels, axes, keep = labels_data(ms)
    names = tuple(a.name for a in axes)
    shape0 = tuple(int(n) for n in levels[0].shape)
    placed = reference.register(names, shape0) if reference else None
    if placed is None:
        scale = tuple(ms.scale[i] for i in keep)
        translate = tuple(ms.translate[i] for i in keep)
        units = tuple(a.unit for a in axes)
        affine = None if ms.affine is None else affine_over(ms.affine, keep)
    else:
        scale, translate, units = placed
        affine = reference.affine_for(names) if reference else None
    image_label = meta.attrs.get("image-label")
    label_name = name or ms.name or _strip_zarr(stores.name_of(meta.path))
    metadata = {
        "ome_zarr": {
            "path": stores.describe(meta.path),
            "image": stores.describe(reference.path) if reference and reference.path else None,
            "name": label_name,
            "kind": kind,
            "version": ms.version,
        }
    }
    metadata.update(extra_metadata or {})
    kwargs: dict[str, Any] = {
        "name": label_name,
        "scale": scale,
        "translate": translate,
        "axis_labels": names,
        "units": units_of(units),
        "metadata": metadata,
        **display_kwargs(meta.attrs),
    }
    if affine is not None:
        kwargs["affine"] = affine
    features = label_features(image_label)
    if features is not None:
        kwargs["features"] = features
    colors = label_colors(image_label, meta.path)
    if stores.is_remote(meta.path) or _LAZY_LABELS.get():
        editable_budget = 0  # opening a remote store reads no level-0 chunk (a lazy pyramid)
    levels = editable_levels(levels, editable_budget)
    return LayerSpec("labels", levels, kwargs, label_colors=colors)


def labels_group_layers(
    labels_dir: Path, reference: Reference | None, *, zarr_format: int | None = None
) -> list[LayerSpec]:
    """Open every label image listed in a ``labels`` group's attributes.

    Parameters
    ----------
    labels_dir : Path
        The ``labels`` group.
    reference : Reference or None
        The parent image, when it is one.
    zarr_format : int, optional
        The image's zarr format, when known (a remote store is asked for fewer files).

    Returns
    -------
    list of LayerSpec
        One labels layer per listed label; listed labels that are missing or broken are
        skipped with a warning naming them.

    Raises
    ------
    StoreFormatError
        When ``labels`` is not a list, or no listed label image can be opened.
    """
    meta = read_node_meta(labels_dir, zarr_format=zarr_format, node_type="group")
    names = meta.attrs.get("labels")
    if not isinstance(names, list):
        raise StoreFormatError(
            f"{_metadata_file(meta)}: 'labels' must be a list of label names, such as "
            f'["cells"], not the {type(names).__name__} {names!r}.'
        )
    layers, errors = [], []
    listed = []
    for label in names:
        with contextlib.suppress(StoreFormatError):  # reported when the label is opened
            listed.append(child_path(labels_dir, label, what="label name"))
    prefetch_nodes(listed, zarr_format=meta.zarr_format, node_type="group")  # one round trip
    if listed and not isinstance(labels_dir, Path):  # and every label image's levels in one more
        levels, fmt = [], meta.zarr_format
        for label_path in listed:
            with contextlib.suppress(StoreFormatError):  # reported when the label is opened
                label_meta = read_node_meta(label_path, zarr_format=fmt, node_type="group")
                levels += level_folders(label_meta) if "multiscales" in label_meta.attrs else []
        prefetch_nodes(levels, zarr_format=fmt, node_type="array")
    for label in names:
        try:
            layers.extend(_listed_label(labels_dir, label, reference, meta.zarr_format))
        except StoreFormatError as exc:
            errors.append(exc)
    if errors and not layers:
        raise errors[0]
    for exc in errors:
        logger.warning("%s The other labels are shown.", exc)
    return layers


def _metadata_file(meta: NodeMeta) -> Path:
    """The file holding a node's attributes, to name in messages."""
    return meta.path / ("zarr.json" if meta.zarr_format == 3 else ".zattrs")


def _listed_label(
    labels_dir: Path, label: object, reference: Reference | None, zarr_format: int | None
) -> list[LayerSpec]:
    """The label image ``label`` of a labels group, or nothing when it is missing."""
    path = child_path(labels_dir, label, what="label name")
    if not is_node(path, zarr_format=zarr_format):
        logger.warning("%s lists label %r but has no such group; skipped", labels_dir, label)
        return []
    label_meta = read_node_meta(path, zarr_format=zarr_format, node_type="group")
    if "multiscales" not in label_meta.attrs:
        raise StoreFormatError(f"{path}: a listed label image has no 'multiscales'.")
    return [label_layer(label_meta, name=str(label), reference=reference)]


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


def parent_reference(label_path: Path, attrs: dict[str, Any]) -> Reference | None:
    """Find the image a label image belongs to: ``image-label.source.image`` or ``../..``.

    Parameters
    ----------
    label_path : Path
        The label image.
    attrs : dict
        Its attributes.

    Returns
    -------
    Reference or None
        The image's per-axis transform, or None when the label image stands alone.
    """
    candidates: list[Path] = []
    source = _source_image(label_path, attrs)
    if source is not None:
        candidates.append(source)
    if label_path.parent.name == "labels":
        candidates.append(label_path.parent.parent)
    for candidate in candidates:
        meta = read_node_meta(candidate) if is_node(candidate) else None
        if meta is not None and "multiscales" in meta.attrs and "image-label" not in meta.attrs:
            ms = open_multiscale(meta)
            scale, _ = pixel_size_scale(meta.attrs.get("omero"), ms.axis_names, ms.scale)
            return Reference.from_multiscale(ms, scale)
    return None

"""Turn napari layer data tuples into the core's export specs (and nothing else).

Image layers of one shape become the channels of one image, in layer order, each styled from
its layer: name, colormap's top colour, contrast limits, visibility. RGB layers become red,
green and blue channels. A layer with its own channel axis (axis label ``c``) is saved alone,
with that axis: one channel per plane, named from ``layer.metadata["channel_names"]`` or
``c0, c1, ...``. Labels keep their colormap (for the values present) and features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from npe2.types import FullLayerData as LayerTuple

from napari_omezarr_export._napari._channel_styles import (
    CHANNEL_NAMES_KEY,
    channel_style,
    own_channel_styles,
)
from napari_omezarr_export.core.api import Concatenated, default_axis_names
from napari_omezarr_export.core.errors import ExportError
from napari_omezarr_export.core.options import ChannelStyle, LabelsSpec

__all__ = [
    "CHANNEL_NAMES_KEY",
    "ImageExport",
    "channel_axis",
    "channel_style",
    "labels_spec",
    "layers_to_export",
]

RGB_COLORS = ("FF0000", "00FF00", "0000FF", "FFFFFF")
RGB_NAMES = ("red", "green", "blue", "alpha")


@dataclass
class ImageExport:
    """Keyword arguments for `napari_omezarr_export.write_image`, built from layers."""

    data: Any
    axes: str
    scale: list[float]
    translation: list[float]
    units: list[object]
    channels: list[ChannelStyle]
    name: str
    labels: list[LabelsSpec] = field(default_factory=list)

    def as_kwargs(self) -> dict:
        """Return the keyword arguments for ``write_image`` (without ``data``)."""
        return {
            "axes": self.axes,
            "scale": self.scale,
            "translation": self.translation,
            "units": self.units,
            "channels": self.channels,
            "name": self.name,
            "labels": self.labels,
        }


def _level0(data: Any, meta: dict) -> Any:
    """Full resolution: napari hands multiscale data as a sequence-like of levels."""
    if meta.get("multiscale") or isinstance(data, list | tuple):
        return data[0]
    return data


def _channel_first(data: Any, meta: dict) -> tuple[Any, list[ChannelStyle]]:
    """One layer's level-0 data with a leading channel axis, and a style per channel."""
    data = _level0(data, meta)
    if not meta.get("rgb"):
        return _expand(data), [channel_style(meta)]
    import dask.array as da

    style = channel_style(meta)
    top = float(np.iinfo(data.dtype).max) if np.dtype(data.dtype).kind in "iu" else 1.0
    styles = [
        ChannelStyle(
            f"{style.label} {RGB_NAMES[i]}", RGB_COLORS[i], 0.0, top, active=style.active and i < 3
        )
        for i in range(data.shape[-1])
    ]
    return da.moveaxis(da.asarray(data), -1, 0), styles


def _expand(data: Any) -> Any:
    if isinstance(data, np.ndarray):
        return data[np.newaxis]
    import dask.array as da

    return da.asarray(data)[np.newaxis]


def _concatenate(arrays: list[Any]) -> Any:
    """The layers' channels as one array, without copying any layer (see core.write.stacking)."""
    return arrays[0] if len(arrays) == 1 else Concatenated(arrays)


def _per_axis(meta: dict, key: str, ndim: int) -> list:
    default = {"scale": 1.0, "translate": 0.0, "units": None}[key]
    values = list(meta.get(key) or [])[-ndim:]
    if len(values) != ndim:
        values = [default] * ndim
    return values if key == "units" else [float(v) for v in values]


def _stack_images(images: list[LayerTuple], labels: list[LabelsSpec]) -> ImageExport:
    """Image layers of one shape -> one image whose channels are the layers, in order.

    The channel axis goes first here; ``write_image`` moves it after ``t`` (NGFF order). A
    layer with its own channel axis is saved alone, with that axis.
    """
    own = [(i, c) for i, (d, m, _) in enumerate(images) if (c := channel_axis(d, m)) is not None]
    if own and len(images) > 1:
        _refuse_mixing(images, own[0][0])
    if own:
        return _own_channels(*images[0][:2], own[0][1], labels)
    shapes = {str(m.get("name")): tuple(_level0(d, m).shape) for d, m, _ in images}
    if len(set(shapes.values())) > 1:
        listing = ", ".join(f"{n!r} {s}" for n, s in shapes.items())
        raise ExportError(
            f"Image layers of different shapes cannot be saved as one OME-Zarr image: {listing}. "
            "Select layers of one shape (they become its channels), or save each on its own."
        )
    parts = [_channel_first(d, m) for d, m, _ in images]
    meta = images[0][1]
    ndim = len(parts[0][0].shape) - 1
    return ImageExport(
        data=_concatenate([p[0] for p in parts]),
        axes="c" + _layer_axes(meta, ndim),
        scale=[1.0, *_per_axis(meta, "scale", ndim)],
        translation=[0.0, *_per_axis(meta, "translate", ndim)],
        units=[None, *_per_axis(meta, "units", ndim)],
        channels=[style for p in parts for style in p[1]],
        name=str(meta.get("name", "image")) if len(images) == 1 else "image",
        labels=labels,
    )


def _refuse_mixing(images: list[LayerTuple], own: int) -> None:
    """Raise: a layer with its own channel axis cannot share an image with other layers."""
    names = [repr(str(m.get("name"))) for _, m, _ in images]
    others = ", ".join(n for i, n in enumerate(names) if i != own)
    raise ExportError(
        f"Image layer {names[own]} has its own channel axis (c), so it is saved as an image on "
        f"its own; it cannot be combined with {others}. Save it alone, or split its channels "
        "into layers (right-click > Split Stack) and save them together with the others."
    )


def _axis_names(meta: dict) -> list[str]:
    return [str(n).lower() for n in (meta.get("axis_labels") or ())]


def channel_axis(data: Any, meta: dict) -> int | None:
    """Return where a layer's own channel axis (axis label ``c``, any case) is, or None.

    Parameters
    ----------
    data : array-like or list of array-like
        The layer data (level 0 when multiscale).
    meta : dict
        Its metadata; ``axis_labels`` is read.

    Returns
    -------
    int or None
        The axis index, or None when no axis is labelled ``c``.
    """
    names = _axis_names(meta)
    ndim = len(_level0(data, meta).shape)
    return names.index("c") if len(names) == ndim and "c" in names else None


def _layer_axes(meta: dict, ndim: int, names: Sequence[str] | None = None) -> str:
    """The axis names (the layer's by default) when they name t/z/y/x, else the defaults."""
    names = _axis_names(meta) if names is None else list(names)
    valid = len(names) == ndim and len(set(names)) == ndim and set(names) <= set("tzyx")
    return "".join(names) if valid and {"y", "x"} <= set(names) else default_axis_names(ndim)


def _own_channels(data: Any, meta: dict, c: int, labels: list[LabelsSpec]) -> ImageExport:
    """One layer whose axis ``c`` is labelled ``c``: saved with that axis, one channel per plane.

    The other axes keep their labels when they name t/z/y/x; ``write_image`` puts the axes in
    NGFF order (t, c, z, y, x) lazily. The channel axis has scale 1 and no unit.
    """
    data = _level0(data, meta)
    ndim = len(data.shape)
    rest = _layer_axes(meta, ndim - 1, [n for i, n in enumerate(_axis_names(meta)) if i != c])
    scale, translation = _per_axis(meta, "scale", ndim), _per_axis(meta, "translate", ndim)
    units = _per_axis(meta, "units", ndim)
    scale[c], translation[c], units[c] = 1.0, 0.0, None
    return ImageExport(
        data=data,
        axes=rest[:c] + "c" + rest[c:],
        scale=scale,
        translation=translation,
        units=units,
        channels=own_channel_styles(meta, data.shape[c]),
        name=str(meta.get("name", "image")),
        labels=labels,
    )


def labels_spec(data: Any, meta: dict) -> LabelsSpec:
    """Return the core's labels spec for a Labels layer's data tuple.

    Parameters
    ----------
    data : array-like or list of array-like
        The layer data (level 0 is used when multiscale).
    meta : dict
        Its metadata: ``name``, ``colormap`` (a napari label colormap) and ``features``.

    Returns
    -------
    LabelsSpec
        Data, name, colours for the values present, and properties keyed by label value.
    """
    colormap = meta.get("colormap")
    colors = colormap.map if hasattr(colormap, "map") else None
    if channel_axis(data, meta) is not None:
        raise ExportError(
            f"Labels layer {meta.get('name')!r} has a channel axis (c), but an OME-Zarr label "
            "image has none. Split it (right-click > Split Stack) and save one Labels layer per "
            "channel."
        )
    data = _level0(data, meta)
    ndim = len(data.shape)
    return LabelsSpec(
        data=data,
        name=str(meta.get("name", "labels")),
        colors=colors,
        properties=_properties(meta.get("features")),
        axes=_layer_axes(meta, ndim) if meta.get("axis_labels") else None,
        scale=_per_axis(meta, "scale", ndim),
        translation=_per_axis(meta, "translate", ndim),
        units=_per_axis(meta, "units", ndim),
        visible=bool(meta.get("visible", True)),
        opacity=float(meta.get("opacity", 1.0)),
    )


def _properties(features: Any) -> list[dict] | None:
    """Label properties from a features table: ``index`` column, else row number, is the value."""
    if features is None or len(features) == 0:
        return None
    table = features.reset_index(drop=True)
    values = table.pop("index") if "index" in table.columns else range(len(table))
    rows = []
    for value, (_, row) in zip(values, table.iterrows(), strict=True):
        rows.append({"label-value": int(value), **{str(k): v for k, v in row.items()}})
    return rows


def layers_to_export(layers: Sequence[LayerTuple]) -> tuple[ImageExport | None, list[LabelsSpec]]:
    """Split writer input into one image export (or None) and the labels.

    Parameters
    ----------
    layers : sequence of (data, meta, layer_type)
        What napari passes to a writer.

    Returns
    -------
    tuple
        The image export (with labels attached when there is an image) and labels on their own.
    """
    images = [t for t in layers if t[2] == "image"]
    labels = [labels_spec(d, m) for d, m, kind in layers if kind == "labels"]
    if not images:
        return None, labels
    return _stack_images(images, labels), []

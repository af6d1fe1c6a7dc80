"""Layers a reader opened, back into one image to write: the data and `write_image`'s options.

The reader (`napari_omezarr_export.core.reader`) opens an OME-Zarr image, or a ``.percell``
region, as napari layers: one image layer per channel, then label layers. `image_from_layers`
puts them back together for `napari_omezarr_export.core.api.write_image`: the channels stacked
lazily on a ``c`` axis with their names, colours, windows and visibility; the physical scale,
translation and units; every label layer as a `LabelsSpec` with its colours and properties.
Only level 0 of each pyramid is used (the writer builds a new pyramid); everything stays dask.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_omezarr_export.core.errors import InvalidOptionError
from napari_omezarr_export.core.options import ChannelStyle, LabelsSpec
from napari_omezarr_export.core.read.layer_spec import LayerSpec

__all__ = ["ImageToWrite", "image_from_layers", "label_folder_name"]


@dataclass(frozen=True)
class ImageToWrite:
    """An image ready for `write_image`: ``write_image(data, path, **options)``.

    Attributes
    ----------
    data : dask.array.Array
        Level 0, lazy.
    options : dict
        ``axes``, ``scale``, ``translation``, ``units``, ``channels`` and ``labels`` (the
        `write_image` keywords; add ``name``, ``pyramid`` and ``storage``).
    """

    data: Any = field(repr=False)
    options: dict[str, Any]

    @property
    def axes(self) -> str:
        """The axis names of ``data``."""
        return str(self.options["axes"])


def image_from_layers(
    layers: Sequence[LayerSpec], *, where: object = "The source"
) -> ImageToWrite:
    """Rebuild one image, with its labels, from the layers a reader opened.

    Parameters
    ----------
    layers : sequence of LayerSpec
        One image layer per channel (all of one shape and axes), then any label layers. A
        channel layer is recognised by ``metadata["ome_zarr"]["channel"]``; a single image
        layer without it is an image without a channel axis.
    where : object
        The source, named in error messages.

    Returns
    -------
    ImageToWrite
        The lazy data (the channels stacked on ``c``, after ``t`` when there is one) and the
        keyword options: scale, translation and units per axis, one `ChannelStyle` per channel
        (name, colour, the layer's contrast limits as window, visibility), and one `LabelsSpec`
        per label layer (level 0, lazy; colours and properties kept).

    Raises
    ------
    InvalidOptionError
        When there is no image layer, the channel layers differ in shape or axes, or a layer
        has a rotation or affine transform (NGFF 0.6), which `write_image` cannot write yet.
    """
    images = [layer for layer in layers if layer.layer_type == "image"]
    if not images:
        raise InvalidOptionError(f"{where} has no image to convert, only label layers.")
    _refuse_affine(layers, where)
    first = images[0]
    names = tuple(str(n) for n in first.kwargs.get("axis_labels") or ())
    shape = tuple(first.data[0].shape)
    for layer in images[1:]:
        if tuple(layer.data[0].shape) != shape or tuple(layer.kwargs.get("axis_labels")) != names:
            raise InvalidOptionError(
                f"{where}: channel {layer.name!r} has shape {tuple(layer.data[0].shape)} but "
                f"{first.name!r} has {shape}; the channels of one image must match."
            )
    if len(names) != len(shape):
        names = tuple("tczyx"[-len(shape) :]) if len(shape) <= 5 else names
    scale = list(first.kwargs.get("scale") or [1.0] * len(shape))
    translation = list(first.kwargs.get("translate") or [0.0] * len(shape))
    units: list[object] = list(first.kwargs.get("units") or [None] * len(shape))
    data = first.data[0]
    channels = None
    if len(images) > 1 or _is_channel(first):
        import dask.array as da

        at = 1 if names[:1] == ("t",) else 0
        data = da.stack([da.asarray(layer.data[0]) for layer in images], axis=at)
        names = (*names[:at], "c", *names[at:])
        scale.insert(at, 1.0)
        translation.insert(at, 0.0)
        units.insert(at, None)
        channels = [_channel_style(layer) for layer in images]
    labels = [_labels_spec(layer) for layer in layers if layer.layer_type == "labels"]
    return ImageToWrite(
        data,
        {
            "axes": "".join(names),
            "scale": [float(s) for s in scale],
            "translation": [float(t) for t in translation],
            "units": units,
            "channels": channels,
            "labels": labels,
        },
    )


def _refuse_affine(layers: Sequence[LayerSpec], where: object) -> None:
    """Refuse layers placed by more than a scale and a translation: the write would drop it."""
    for layer in layers:
        affine = layer.kwargs.get("affine")
        if affine is None:
            continue
        matrix = np.asarray(affine, dtype=float)
        if matrix.ndim == 2 and matrix.shape[0] == matrix.shape[1]:
            if np.allclose(matrix, np.eye(len(matrix))):
                continue
        raise InvalidOptionError(
            f"{where}: {layer.name!r} has a rotation/affine transform (NGFF 0.6 "
            "coordinateTransformations) that the written store cannot hold yet: only scale and "
            "translation are written, so converting would lose its registration. Keep the "
            "source store as it is (napari and NGFF 0.6 readers place it correctly)."
        )


def label_folder_name(name: str) -> str:
    """A label layer's name as a folder name: spaces become ``_`` (``GFP mask``: ``GFP_mask``)."""
    return "_".join(str(name).split()) or "labels"


def _is_channel(layer: LayerSpec) -> bool:
    ome = (layer.kwargs.get("metadata") or {}).get("ome_zarr") or {}
    return isinstance(ome, dict) and ome.get("channel") is not None


def _channel_style(layer: LayerSpec) -> ChannelStyle:
    limits = layer.kwargs.get("contrast_limits")
    start, end = (float(limits[0]), float(limits[1])) if limits is not None else (None, None)
    return ChannelStyle(
        layer.name or "channel",
        layer.color or "FFFFFF",
        start,
        end,
        bool(layer.kwargs.get("visible", True)),
    )


def _labels_spec(layer: LayerSpec) -> LabelsSpec:
    import dask.array as da

    data = layer.data[0]
    return LabelsSpec(
        data if isinstance(data, da.Array) else da.from_array(data, chunks=data.shape),
        label_folder_name(layer.name),
        colors=_label_colors(layer.label_colors),
        properties=_properties(layer.kwargs.get("features")),
        axes="".join(str(n) for n in layer.kwargs.get("axis_labels") or ()) or None,
        visible=layer.kwargs.get("visible"),
        opacity=layer.kwargs.get("opacity"),
    )


def _label_colors(
    colors: dict[Any, tuple[float, ...]] | None,
) -> dict[int, tuple[int, ...]] | Callable[[np.ndarray], np.ndarray] | None:
    """The reader's ``{value or None: rgba 0-1}`` as `LabelsSpec` colours.

    The colours the store listed are kept as they were, but for a transparent 0 (the reader
    adds it; every reader assumes it). The reader's ``None`` entry is the colour of every other
    value: a filler (grey) when the store lists colours, but the only colour of a mask
    (magenta), which is then given to every non-zero value.
    """
    if not colors:
        return None
    listed = {int(v): _rgba255(c) for v, c in colors.items() if v is not None}
    if listed.get(0, (0, 0, 0, 0))[3] == 0:
        listed.pop(0, None)  # the reader's transparent background (every reader's default)
    if listed or colors.get(None) is None:
        return listed or None
    default = np.array(colors[None], dtype=float)
    background = np.array(colors.get(0, (0.0, 0.0, 0.0, 0.0)), dtype=float)

    def every_value(values: np.ndarray) -> np.ndarray:
        return np.where((np.asarray(values) == 0)[:, None], background, default)

    return every_value


def _rgba255(rgba: Sequence[float]) -> tuple[int, ...]:
    return tuple(round(min(max(float(c), 0.0), 1.0) * 255) for c in (*rgba, 1.0)[:4])


def _properties(features: Any) -> list[dict[str, Any]] | None:
    """A features table (``index`` column = label value) as NGFF ``properties`` rows."""
    if features is None or len(features) == 0 or "index" not in features:
        return None
    rows = features.rename(columns={"index": "label-value"}).to_dict("records")
    return [{str(k): _plain(v) for k, v in row.items() if not _missing(v)} for row in rows]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _missing(value: Any) -> bool:
    """A cell the label had no value for (NaN where other labels have the column)."""
    return isinstance(value, (float, np.floating)) and bool(np.isnan(value))

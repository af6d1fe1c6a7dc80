"""How the selected Image layers' channels become the widget's channel rows, and back.

Each row is keyed ``(id(layer), index)``: the channel's index along the layer's own channel
axis (its RGB(A) components, its ``c`` axis, or the single channel of a layer without one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from napari.layers import Image

from napari_omezarr_export._napari._convert import channel_axis, layers_to_export
from napari_omezarr_export.core.options import ChannelStyle

__all__ = ["channel_items", "channel_sample"]


def _channel_keys(layer: Any) -> list[tuple]:
    level = layer.data[0] if layer.multiscale else layer.data
    c = channel_axis(level, {"axis_labels": layer.axis_labels})  # a layer's own c axis
    count = level.shape[-1] if layer.rgb else 1 if c is None else level.shape[c]
    return [(id(layer), i) for i in range(count)]


def channel_items(selected: Sequence[Any]) -> list[tuple[tuple, ChannelStyle, Any]]:
    """One ``(key, style, layer)`` per channel of the Image layers among ``selected``.

    Parameters
    ----------
    selected : sequence of napari.layers.Layer
        The selected layers, in order.

    Returns
    -------
    list of tuple
        The rows' keys, their styles as the layers show them, and the layers.
    """
    items = []
    for layer in selected:
        if isinstance(layer, Image):
            export, _ = layers_to_export([layer.as_layer_data_tuple()])
            keys = _channel_keys(layer)
            items += [(k, style, layer) for k, style in zip(keys, export.channels, strict=True)]
    return items


def channel_sample(layer: Any, index: int) -> Any:
    """The layer's lowest level, for channel ``index`` only (what a window is sampled from).

    Parameters
    ----------
    layer : napari.layers.Image
        The layer.
    index : int
        The channel's index along the layer's own channel axis.

    Returns
    -------
    array-like
        That channel of the lowest level.
    """
    level = layer.data[-1] if layer.multiscale else layer.data
    if layer.rgb:
        return level[..., index]
    if (c := channel_axis(level, {"axis_labels": layer.axis_labels})) is not None:
        return level[(slice(None),) * c + (index,)]
    return level

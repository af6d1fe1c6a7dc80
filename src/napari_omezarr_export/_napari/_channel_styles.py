"""How a napari image layer's look becomes OME-Zarr channel styles (``omero.channels``).

Name, colour, window (contrast limits) and visibility come from the layer. A layer with its own
channel axis gives one style per plane: names from ``layer.metadata["channel_names"]`` (else
``c0, c1, ...``), the colormap's colour when it runs from black to one colour (else the default
palette), and the layer's contrast limits as every channel's window.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from napari_omezarr_export.core.errors import ExportError
from napari_omezarr_export.core.options import MULTI_CHANNEL_COLORS, ChannelStyle, rgb_to_hex

__all__ = [
    "CHANNEL_NAMES_KEY",
    "channel_style",
    "own_channel_styles",
    "single_color",
    "top_color",
]

CHANNEL_NAMES_KEY = "channel_names"  # layer.metadata[...]: names along a layer's own c axis


def _colors(colormap: Any) -> Any:
    if isinstance(colormap, dict):
        return colormap.get("colors")
    return getattr(colormap, "colors", None)


def top_color(colormap: Any) -> str:
    """Return the colour at the top of a napari image colormap as ``RRGGBB``.

    Parameters
    ----------
    colormap : dict or napari Colormap
        The layer's colormap as in its data tuple (a dict in napari 0.9) or the object.

    Returns
    -------
    str
        Six hex digits.
    """
    colors = _colors(colormap)
    if colors is None or len(colors) == 0:
        return "FFFFFF"
    return rgb_to_hex(np.asarray(colors)[-1])


def single_color(colormap: Any) -> str | None:
    """Return the colour of a colormap that runs from black to one colour, else None.

    Grey (napari's default, black to white) and multi-hue colormaps such as viridis give None:
    they name no colour for a channel.

    Parameters
    ----------
    colormap : dict or napari Colormap
        The layer's colormap as in its data tuple, or the object.

    Returns
    -------
    str or None
        Six hex digits, or None.
    """
    colors = _colors(colormap)
    if colors is None or len(colors) == 0:
        return None
    rgb = np.asarray(colors, dtype=float)[:, :3]
    top = rgb[-1]
    if not top.any() or np.allclose(top, top[0]):
        return None  # black or a grey: no hue
    shades = np.clip(rgb @ top / (top @ top), 0.0, 1.0)
    return rgb_to_hex(top) if np.allclose(rgb, np.outer(shades, top), atol=1 / 255) else None


def channel_style(
    meta: dict, *, label: str | None = None, color: str | None = None
) -> ChannelStyle:
    """Return the channel style of an image layer from its data-tuple metadata.

    Parameters
    ----------
    meta : dict
        The layer's metadata as given to writers.
    label, color : str, optional
        Overrides for the name and the colour.

    Returns
    -------
    ChannelStyle
        Name, colour, window (the contrast limits) and visibility.
    """
    limits = meta.get("contrast_limits") or (None, None)
    return ChannelStyle(
        label=label or str(meta.get("name", "image")),
        color=color or top_color(meta.get("colormap", {})),
        start=None if limits[0] is None else float(limits[0]),
        end=None if limits[1] is None else float(limits[1]),
        active=bool(meta.get("visible", True)),
    )


def own_channel_styles(meta: dict, count: int) -> list[ChannelStyle]:
    """Return one style per plane of a layer's own channel axis.

    Parameters
    ----------
    meta : dict
        The layer's metadata as given to writers.
    count : int
        The number of channels along its ``c`` axis.

    Returns
    -------
    list of ChannelStyle
        Names from ``metadata["channel_names"]`` or ``c0, c1, ...``; the colormap's colour when
        it has one hue, else the default palette; the contrast limits; the visibility.
    """
    style = channel_style(meta)
    names = _channel_names(meta, count)
    color = single_color(meta.get("colormap", {}))
    colors = (
        [color] * count
        if color
        else [MULTI_CHANNEL_COLORS[i % len(MULTI_CHANNEL_COLORS)] for i in range(count)]
    )
    return [
        replace(style, label=label, color=hue) for label, hue in zip(names, colors, strict=True)
    ]


def _channel_names(meta: dict, count: int) -> list[str]:
    """``metadata["channel_names"]`` when it holds one name per channel, else c0, c1, ..."""
    given = (meta.get("metadata") or {}).get(CHANNEL_NAMES_KEY)
    if given is None:
        return [f"c{i}" for i in range(count)]
    if not isinstance(given, list | tuple | np.ndarray) or len(given) != count:
        raise ExportError(
            f"Layer {meta.get('name')!r} has metadata[{CHANNEL_NAMES_KEY!r}] = {given!r}, but "
            f"its channel axis (c) holds {count} channels. Give a list of {count} names, or "
            "remove the entry to name them c0, c1, ..."
        )
    return [str(n) for n in given]

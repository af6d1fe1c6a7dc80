"""Turn the ``omero`` block (or its absence) into per-channel display styles, and its pixel size.

Names from ``label``, colours from ``color`` (all-white lists and missing colours fall back to
a guess from the channel name), visibility from ``active`` and contrast limits from ``window``.
Windows that are missing, empty, or span the dtype's full range are left out (None), so that the
image reader computes them from the data (`read.contrast`) and 12-bit data written with
0-65535 windows does not look black.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_omezarr_export.core.ngff.colors import css_hex

__all__ = [
    "ChannelDisplay",
    "channel_displays",
    "guess_color",
    "pixel_size_scale",
]

logger = logging.getLogger(__name__)

_GUESSES = (
    (re.compile(r"dapi|hoechst|\bblue\b|405", re.I), "#0000ff"),
    (re.compile(r"gfp|fitc|\bgreen\b|488", re.I), "#00ff00"),
    (re.compile(r"rfp|mcherry|tomato|\bred\b|561|594|cy3|tritc", re.I), "#ff0000"),
)


@dataclass(frozen=True)
class ChannelDisplay:
    """How to show one channel.

    Parameters
    ----------
    name : str
        Layer name.
    color : str
        ``#rrggbb``; black-to-this-colour colormap (``#ffffff`` is gray).
    window : tuple of float or None
        Contrast limits, or None when they must be computed from the data.
    visible : bool
        From ``active``.
    """

    name: str
    color: str
    window: tuple[float, float] | None
    visible: bool = True


def guess_color(name: str) -> str:
    """Guess a colour from a channel name: DAPI blue, GFP green, RFP/mCherry red, else gray.

    Parameters
    ----------
    name : str
        The channel name.

    Returns
    -------
    str
        ``#rrggbb``.
    """
    for pattern, color in _GUESSES:
        if pattern.search(name):
            return color
    return "#ffffff"


def _window(channel: dict[str, Any], dtype: np.dtype, where: str) -> tuple[float, float] | None:
    window = channel.get("window")
    if window is None:
        return None
    try:
        start, end = float(window["start"]), float(window["end"])
    except (KeyError, TypeError, ValueError):
        logger.warning(
            "%s: omero window %r is not {start, end} numbers; contrast limits are "
            "computed from the data instead.",
            where,
            window,
        )
        return None
    if not np.isfinite([start, end]).all() or end < start:
        logger.warning(
            "%s: omero window start %s is above end %s (or not finite); contrast "
            "limits are computed from the data instead.",
            where,
            start,
            end,
        )
        return None
    if end == start:
        return None
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if start <= info.min and end >= info.max and info.max > 255:
            return None  # the dtype's full range: compute from the data instead
    return (start, end)


def _raw_channels(omero: object, n_channels: int, where: str) -> list[dict[str, Any]]:
    """The ``omero.channels`` entries as dicts, warning about a malformed block."""
    if omero is None:
        return []
    raw = omero.get("channels") if isinstance(omero, dict) else None
    if not isinstance(omero, dict) or (raw is not None and not isinstance(raw, list)):
        logger.warning(
            "%s: the omero block or its 'channels' is not a JSON list/object as NGFF "
            "requires; channel names and colours are guessed.",
            where,
        )
        return []
    channels = [c if isinstance(c, dict) else {} for c in raw or []]
    if channels and len(channels) != n_channels:
        logger.warning(
            "%s: omero lists %d channels but the image has %d; the missing ones "
            "are named by number.",
            where,
            len(channels),
            n_channels,
        )
    return channels


def channel_displays(
    omero: object,
    n_channels: int,
    dtype: np.dtype,
    *,
    trust_colors: bool = True,
    source: object = None,
) -> list[ChannelDisplay]:
    """Build one style per channel from an ``omero`` block, tolerating every known quirk.

    Parameters
    ----------
    omero : object
        The ``omero`` attribute (may be missing, malformed, or list too few/many channels).
    n_channels : int
        The number of channels in the array.
    dtype : numpy.dtype
        The array dtype, to spot full-range windows.
    trust_colors : bool
        When False, white colours are treated as "no colour" and guessed from the name.
    source : object, optional
        The image path, named in the warnings logged for malformed entries.

    Returns
    -------
    list of ChannelDisplay
        Exactly ``n_channels`` styles.
    """
    where = str(source) if source is not None else "image"
    channels = _raw_channels(omero, n_channels, where)
    colors = [css_hex(c.get("color")) for c in channels[:n_channels]]
    all_white = n_channels > 1 and all(c in (None, "#ffffff") for c in colors)
    styles = []
    for i in range(n_channels):
        channel = channels[i] if i < len(channels) else {}
        label = channel.get("label")
        name = str(label) if isinstance(label, str | int) and str(label) else f"channel {i}"
        color = css_hex(channel.get("color"))
        if color is None and channel.get("color") is not None:
            logger.warning(
                "%s: channel %r has colour %r, which is not a 6-digit hex colour; "
                "a colour is guessed from its name.",
                where,
                name,
                channel["color"],
            )
        if color is None or ((all_white or not trust_colors) and color == "#ffffff"):
            color = guess_color(name)
        active = channel.get("active", True)
        window = _window(channel, dtype, where)
        styles.append(ChannelDisplay(name, color, window, active is not False))
    return styles


def pixel_size_scale(
    omero: object, axis_names: tuple[str, ...], scale: tuple[float, ...]
) -> tuple[tuple[float, ...], bool]:
    """Apply ``omero.pixel_size`` (micrometres) when the multiscale scale is all ones.

    Parameters
    ----------
    omero : object
        The ``omero`` attribute.
    axis_names : tuple of str
        Axis names of the array.
    scale : tuple of float
        The scale found in the multiscale transforms.

    Returns
    -------
    tuple
        The (possibly) corrected scale and whether ``pixel_size`` was used.
    """
    size = omero.get("pixel_size") if isinstance(omero, dict) else None
    if not isinstance(size, dict):
        return scale, False
    spatial = [i for i, n in enumerate(axis_names) if n.lower() in size]
    if not spatial or any(scale[i] != 1.0 for i in spatial):
        return scale, False
    new = list(scale)
    try:
        for i in spatial:
            value = float(size[axis_names[i].lower()])
            if value > 0:
                new[i] = value
    except (TypeError, ValueError):
        logger.info("ignoring non-numeric omero.pixel_size %r", size)
        return scale, False
    return tuple(new), True

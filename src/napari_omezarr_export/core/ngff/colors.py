"""The one hex-colour rule: ``omero`` channel colours, user colours and colormap colours.

NGFF writes a channel colour as six hex digits (``"RRGGBB"``). Stores and users also write
``#RRGGBB``, lower case, or eight digits with an alpha pair, which is ignored. Every colour
the plugin reads, validates or writes goes through `hex_digits`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from napari_omezarr_export.core.errors import InvalidOptionError

__all__ = ["css_hex", "hex_digits", "hex_to_rgb", "require_hex", "rgb_to_hex"]

_HEX = re.compile(r"^#?([0-9a-fA-F]{6})([0-9a-fA-F]{2})?$")


def hex_digits(value: object) -> str | None:
    """Return a hex colour as six upper-case digits (``"00FF00"``), or None if it is not one.

    Parameters
    ----------
    value : object
        ``"#RRGGBB"`` or ``"RRGGBB"`` in any case, optionally followed by an alpha pair.

    Returns
    -------
    str or None
        ``"RRGGBB"``, or None for anything else (including non-strings).
    """
    if not isinstance(value, str):
        return None
    match = _HEX.match(value.strip())
    return match.group(1).upper() if match else None


def css_hex(value: object) -> str | None:
    """Return a hex colour as ``"#rrggbb"`` (the form layer specs carry), or None.

    Parameters
    ----------
    value : object
        Any form `hex_digits` accepts.

    Returns
    -------
    str or None
        ``"#rrggbb"``, or None.
    """
    digits = hex_digits(value)
    return f"#{digits.lower()}" if digits else None


def rgb_to_hex(rgb: Sequence[float]) -> str:
    """Return an RGB(A) colour with channels from 0 to 1 as ``"RRGGBB"`` (alpha is dropped).

    Parameters
    ----------
    rgb : sequence of float
        Red, green, blue (and alpha), each from 0 to 1.

    Returns
    -------
    str
        Six upper-case hex digits.
    """
    return "".join(f"{round(float(c) * 255):02X}" for c in list(rgb)[:3])


def require_hex(value: object, what: str = "Colour") -> str:
    """Return a hex colour as ``"RRGGBB"``, refusing anything that is not one.

    Parameters
    ----------
    value : object
        Any form `hex_digits` accepts.
    what : str
        What the colour is, for the message (``"Channel colour"``).

    Returns
    -------
    str
        Six upper-case hex digits.

    Raises
    ------
    InvalidOptionError
        When ``value`` is not a hex colour.
    """
    digits = hex_digits(value)
    if digits is None:
        raise InvalidOptionError(
            f"{what} {value!r} is not a 6-digit hex colour; write it as 'RRGGBB', for example "
            "'00FF00' for green."
        )
    return digits


def hex_to_rgb(value: str) -> tuple[float, float, float]:
    """Return a hex colour as red, green and blue from 0 to 1.

    Parameters
    ----------
    value : str
        Any form `hex_digits` accepts.

    Returns
    -------
    tuple of float
        ``(red, green, blue)``.

    Raises
    ------
    InvalidOptionError
        When ``value`` is not a hex colour.
    """
    digits = require_hex(value)
    return tuple(int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4))

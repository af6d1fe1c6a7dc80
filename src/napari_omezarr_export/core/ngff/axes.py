"""NGFF axes: names, types and units, inferred from an array and the names a user gave, or read.

NGFF orders axes as time, channel, then space (``t, c, z, y, x``). Arrays whose names are in
another order are transposed lazily into NGFF order before writing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from napari_omezarr_export.core.errors import InvalidOptionError, StoreFormatError

__all__ = ["STORE_FIX", "Axis", "default_axis_names", "ngff_unit", "parse_axes", "resolve_axes"]

STORE_FIX = " The store's metadata does not follow OME-NGFF; fix it or re-export the image."

AXIS_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
NGFF_ORDER = "tczyx"

# napari (pint) unit spellings -> NGFF unit names; the NGFF names themselves pass through.
_UNIT_ALIASES = {
    "um": "micrometer",
    "µm": "micrometer",
    "μm": "micrometer",
    "micron": "micrometer",
    "microns": "micrometer",
    "nm": "nanometer",
    "mm": "millimeter",
    "cm": "centimeter",
    "m": "meter",
    "s": "second",
    "sec": "second",
    "ms": "millisecond",
    "us": "microsecond",
    "min": "minute",
    "h": "hour",
    "hr": "hour",
    "angstrom": "angstrom",
}
NGFF_SPACE_UNITS = {
    "angstrom",
    "attometer",
    "centimeter",
    "decimeter",
    "exameter",
    "femtometer",
    "foot",
    "gigameter",
    "hectometer",
    "inch",
    "kilometer",
    "megameter",
    "meter",
    "micrometer",
    "mile",
    "millimeter",
    "nanometer",
    "parsec",
    "petameter",
    "picometer",
    "terameter",
    "yard",
    "yoctometer",
    "yottameter",
    "zeptometer",
    "zettameter",
}
NGFF_TIME_UNITS = {
    "attosecond",
    "centisecond",
    "day",
    "decisecond",
    "exasecond",
    "femtosecond",
    "gigasecond",
    "hectosecond",
    "hour",
    "kilosecond",
    "megasecond",
    "microsecond",
    "millisecond",
    "minute",
    "nanosecond",
    "petasecond",
    "picosecond",
    "second",
    "terasecond",
    "yoctosecond",
    "yottasecond",
    "zeptosecond",
    "zettasecond",
}


@dataclass(frozen=True)
class Axis:
    """One NGFF axis, written or read.

    Parameters
    ----------
    name : str
        ``t, c, z, y, x`` when written; any name when read.
    type : str or None
        ``time``, ``channel``, ``space`` or another NGFF type; by default the type of the
        name (``t, c, z, y, x`` in any case), else None.
    unit : str or None
        An NGFF unit name such as ``"micrometer"`` or ``"second"``.
    """

    name: str
    type: str | None = None
    unit: str | None = None

    def __post_init__(self) -> None:
        if self.type is None:
            object.__setattr__(self, "type", AXIS_TYPES.get(self.name.lower()))

    def to_json(self) -> dict:
        """Return the axis as an NGFF ``axes`` entry."""
        entry = {"name": self.name}
        if self.type:
            entry["type"] = self.type
        if self.unit and self.type != "channel":
            entry["unit"] = self.unit
        return entry


def default_axis_names(ndim: int, *, has_channels: bool = False) -> str:
    """Return NGFF axis names for an array of ``ndim`` dimensions.

    Parameters
    ----------
    ndim : int
        2 to 5.
    has_channels : bool
        Whether the array has a channel axis (the first one after any time axis).

    Returns
    -------
    str
        For example ``"yx"``, ``"zyx"``, ``"czyx"`` or ``"tczyx"``.
    """
    if not 2 <= ndim <= 5:
        raise InvalidOptionError(
            f"OME-Zarr images have 2 to 5 dimensions; this array has {ndim}. Squeeze or split "
            "the extra dimensions before saving."
        )
    n_space = max(2, min(3, ndim - int(has_channels)))
    rest = ndim - n_space
    leading = {0: "", 1: "c" if has_channels else "t", 2: "tc"}[rest]
    spatial = "zyx"[-n_space:]
    return leading + spatial


def ngff_unit(unit: object, axis_name: str) -> str | None:
    """Return the NGFF name of ``unit`` for axis ``axis_name``, or None when it has none.

    Parameters
    ----------
    unit : object
        A unit string or pint unit (``"um"``, ``"micrometer"``, ``"second"``), or None.
    axis_name : str
        The axis it belongs to; ``pixel`` and unknown units give None.

    Returns
    -------
    str or None
        An NGFF unit name, or None.
    """
    if unit is None:
        return None
    text = str(unit).strip()
    text = _UNIT_ALIASES.get(text, _UNIT_ALIASES.get(text.lower(), text.lower()))
    allowed = NGFF_TIME_UNITS if AXIS_TYPES.get(axis_name) == "time" else NGFF_SPACE_UNITS
    return text if text in allowed else None


def resolve_axes(
    ndim: int,
    names: Sequence[str] | None = None,
    units: Sequence[object] | None = None,
    *,
    has_channels: bool = False,
) -> tuple[list[Axis], tuple[int, ...]]:
    """Choose NGFF axes for an array, and the transpose that puts it in NGFF order.

    Parameters
    ----------
    ndim : int
        The array's number of dimensions.
    names : sequence of str, optional
        Names the user gave each dimension (napari's ``axis_labels``). Used when they all
        name distinct ``t, c, z, y, x`` axes (in any case); otherwise defaults by ``ndim``.
    units : sequence, optional
        A unit per dimension, in the order of ``names``.
    has_channels : bool
        Whether the default names should include a channel axis.

    Returns
    -------
    axes : list of Axis
        The axes in NGFF order.
    order : tuple of int
        The permutation to apply to the array (identity when already in NGFF order).
    """
    chosen = [str(n).lower() for n in names] if names is not None else []
    valid = (
        len(chosen) == ndim
        and len(set(chosen)) == ndim
        and all(n in AXIS_TYPES for n in chosen)
        and {"y", "x"} <= set(chosen)
    )
    if not valid:
        chosen = list(default_axis_names(ndim, has_channels=has_channels))
    order = tuple(sorted(range(ndim), key=lambda i: NGFF_ORDER.index(chosen[i])))
    unit_list = list(units) if units is not None and len(units) == ndim else [None] * ndim
    axes = [Axis(chosen[i], unit=ngff_unit(unit_list[i], chosen[i])) for i in order]
    return axes, order


def parse_axes(where: object, raw: object, version: str, ndim: int) -> tuple[Axis, ...]:
    """Parse a multiscale's ``axes`` (any NGFF version) into one `Axis` per dimension.

    Parameters
    ----------
    where : object
        The image path, named in error messages.
    raw : object
        The ``axes`` value: None (0.1/0.2, always ``t, c, z, y, x``), a list of names (0.3) or
        a list of objects with ``name``, ``type`` and ``unit`` (0.4+).
    version : str
        The NGFF version.
    ndim : int
        The number of dimensions of the image's arrays.

    Returns
    -------
    tuple of Axis
        One per dimension.

    Raises
    ------
    StoreFormatError
        When the axes are not a list, lack names, repeat a name or do not match ``ndim``.
    """
    if raw is None or version in ("0.1", "0.2"):
        if ndim > 5:
            raise StoreFormatError(f"{where}: {ndim}-D levels need named axes.{STORE_FIX}")
        return tuple(Axis(n) for n in NGFF_ORDER[-ndim:])
    if not isinstance(raw, list):
        raise StoreFormatError(
            f"{where}: 'axes' must be a list, not {type(raw).__name__}.{STORE_FIX}"
        )
    axes = []
    for item in raw:
        if isinstance(item, str):
            axes.append(Axis(item))
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            axes.append(Axis(item["name"], item.get("type"), item.get("unit") or None))
        else:
            raise StoreFormatError(f"{where}: axis {item!r} has no name.{STORE_FIX}")
    if len(axes) != ndim:
        raise StoreFormatError(
            f"{where}: the multiscale names {len(axes)} axes but its arrays have {ndim} "
            f"dimensions.{STORE_FIX}"
        )
    names = [a.name for a in axes]
    if len(set(names)) != len(names):
        raise StoreFormatError(f"{where}: the axis names {names} repeat.{STORE_FIX}")
    return tuple(axes)

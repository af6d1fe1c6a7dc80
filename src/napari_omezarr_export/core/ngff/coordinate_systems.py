"""NGFF 0.6 (RFC-5) coordinate systems, and the references transforms make to them.

From NGFF 0.6 a multiscale names its ``coordinateSystems`` (each a ``name`` and ``axes``)
instead of listing ``axes``, and every transform names its ``input`` and ``output`` as
``{"name": ..., "path": ...}`` objects. The pre-release drafts (``0.6.dev2`` to ``0.6.dev4``,
written by ngff-zarr and others before rc0) gave ``input`` and ``output`` as plain strings;
they are read too, a string standing for a dataset path (a level's ``input``) or a coordinate
system name (everywhere else). This module is pure: it parses JSON, never touches a file.
"""

from __future__ import annotations

from dataclasses import dataclass

from napari_omezarr_export.core.errors import StoreFormatError
from napari_omezarr_export.core.ngff.axes import STORE_FIX, Axis, parse_axes

__all__ = [
    "V06_TAG",
    "CoordinateSystem",
    "SystemRef",
    "is_v06",
    "parse_coordinate_systems",
    "parse_ref",
]

# The ``ome.version`` written for NGFF 0.6: the tag of the specification text as released
# (ome/ngff-spec 0.6rc0, whose _version.schema lists only this value). ngff-zarr reads it
# as 0.6.
V06_TAG = "0.6rc0"


def is_v06(version: object) -> bool:
    """Whether ``version`` is an NGFF 0.6 tag: ``0.6``, ``0.6rc0`` or a ``0.6.devN`` draft."""
    return isinstance(version, str) and (version == "0.6" or version.startswith(("0.6rc", "0.6.")))


@dataclass(frozen=True)
class CoordinateSystem:
    """A named coordinate system: its ``name`` and one `Axis` per dimension.

    Parameters
    ----------
    name : str
        Unique among the systems of one ``coordinateSystems`` list.
    axes : tuple of Axis
        One per dimension, in order.
    """

    name: str
    axes: tuple[Axis, ...]

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return len(self.axes)


def parse_coordinate_systems(where: object, raw: object) -> tuple[CoordinateSystem, ...]:
    """Parse a ``coordinateSystems`` list.

    Parameters
    ----------
    where : object
        The group, named in error messages.
    raw : object
        The list as found in the metadata.

    Returns
    -------
    tuple of CoordinateSystem
        In the order listed.

    Raises
    ------
    StoreFormatError
        When the list is missing or empty, a system has no name or axes, or names repeat.
    """
    if not isinstance(raw, list) or not raw:
        raise StoreFormatError(
            f"{where}: an NGFF 0.6 multiscale needs a non-empty 'coordinateSystems' list."
            f"{STORE_FIX}"
        )
    systems = []
    for item in raw:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise StoreFormatError(f"{where}: coordinate system {item!r} has no name.{STORE_FIX}")
        axes_raw = item.get("axes")
        if not isinstance(axes_raw, list) or not axes_raw:
            raise StoreFormatError(
                f"{where}: coordinate system {name!r} lists no axes.{STORE_FIX}"
            )
        systems.append(CoordinateSystem(name, parse_axes(where, axes_raw, "0.6", len(axes_raw))))
    names = [s.name for s in systems]
    if len(set(names)) != len(names):
        raise StoreFormatError(f"{where}: coordinate system names {names} repeat.{STORE_FIX}")
    return tuple(systems)


@dataclass(frozen=True)
class SystemRef:
    """Where a transform's ``input`` or ``output`` is: a coordinate system or an array.

    Parameters
    ----------
    name : str or None
        The coordinate system's name.
    path : str or None
        The group (or, for a level, the array) holding it, relative to the metadata's group;
        None for the same group.
    draft : bool
        True when the metadata gave a plain string (a pre-rc0 draft).
    """

    name: str | None
    path: str | None
    draft: bool = False


def parse_ref(where: object, raw: object, *, string_is: str = "name") -> SystemRef:
    """Parse one ``input`` or ``output`` of a transform.

    Parameters
    ----------
    where : object
        The group, named in error messages.
    raw : object
        ``{"name": ..., "path": ...}`` (0.6), or a string (the 0.6 drafts).
    string_is : {"name", "path"}
        What a draft's plain string stands for: a dataset path for a level's ``input``, a
        coordinate system name elsewhere.

    Returns
    -------
    SystemRef
        The reference.

    Raises
    ------
    StoreFormatError
        When the value is neither, or names nothing.
    """
    if isinstance(raw, str) and raw:
        if string_is == "path":
            return SystemRef(None, raw, draft=True)
        return SystemRef(raw, None, draft=True)
    if isinstance(raw, dict):
        name, path = raw.get("name"), raw.get("path")
        name = name if isinstance(name, str) and name else None
        path = path if isinstance(path, str) and path else None
        if name is not None or path is not None:
            return SystemRef(name, path)
    raise StoreFormatError(
        f"{where}: a transform's input or output {raw!r} must be an object with a 'name' "
        f"and/or 'path' (NGFF 0.6).{STORE_FIX}"
    )

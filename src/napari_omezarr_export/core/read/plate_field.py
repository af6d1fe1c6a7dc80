"""Where an image folder sits in an HCS plate: its plate, well and field, when it is a field.

A field is ``<plate>/<row>/<column>/<field>``: its parent lists it in its ``well`` attribute's
``images``, and the plate (three folders up) lists ``<row>/<column>`` in its ``plate``
attribute's ``wells``. The reader puts `plate_field_of`'s answer on the layers of such an image
(``metadata["plate_field"]``), so that saving them can go back into that field. Only local
folders are asked: plates grow on local disks only, and a remote store would pay two more round
trips for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from napari_omezarr_export.core.errors import OmeZarrError
from napari_omezarr_export.core.ngff.coordinate_systems import is_v06
from napari_omezarr_export.core.read.zarr_nodes import NodeMeta, read_node_meta

__all__ = ["PLATE_FIELD_KEY", "existing_plate_version", "plate_field_of", "plate_ngff_version"]

PLATE_FIELD_KEY = "plate_field"


def _listed(entries: Any) -> list[str]:
    """The ``path`` of each entry of a well's ``images`` or a plate's ``wells`` list."""
    if not isinstance(entries, list):
        return []
    return [str(e["path"]) for e in entries if isinstance(e, dict) and "path" in e]


def _attribute(path: Path, key: str) -> dict[str, Any] | None:
    """A group's ``key`` attribute when it is a JSON object; None otherwise or when unreadable."""
    try:
        value = read_node_meta(path).attrs.get(key)
    except OmeZarrError:  # a broken well or plate: the image itself still opens
        return None
    return value if isinstance(value, dict) else None


def plate_field_of(image: Any) -> dict[str, Any] | None:
    """Return the plate, well and field an image folder is, or None when it is not a field.

    Parameters
    ----------
    image : Path or UPath
        An image group's folder. Anything but a local `Path` gives None.

    Returns
    -------
    dict or None
        ``{"plate": str, "well": "B3", "field": int, "path": "B/3/0"}``: the plate's folder,
        the well's name (row then column), the field's index in the well's ``images`` list,
        and the field's path inside the plate. None when the parent's ``well`` attribute does
        not list the folder, or the plate does not list the well.
    """
    if not isinstance(image, Path) or len(image.parts) < 4:
        return None
    column = image.parent
    well = _attribute(column, "well")
    if well is None:
        return None
    images = _listed(well.get("images"))
    if image.name not in images:
        return None
    plate = column.parent.parent
    attrs = _attribute(plate, "plate")
    if attrs is None:
        return None
    well_path = f"{column.parent.name}/{column.name}"
    if well_path not in _listed(attrs.get("wells")):
        return None
    return {
        "plate": str(plate),
        "well": column.parent.name + column.name,
        "field": images.index(image.name),
        "path": f"{well_path}/{image.name}",
    }


def existing_plate_version(meta: NodeMeta) -> str:
    """The NGFF version fields added to an existing plate take: the plate's own.

    "0.4" for zarr v2, "0.6" for a plate tagged with any 0.6 version, else "0.5".
    """
    if meta.zarr_format != 3:
        return "0.4"
    return "0.6" if is_v06(meta.ome_version) else "0.5"


def plate_ngff_version(plate: Any) -> str | None:
    """The NGFF version of an existing local plate (`existing_plate_version`); None if none.

    Parameters
    ----------
    plate : Path or UPath
        A folder that may hold a plate.

    Returns
    -------
    str or None
        The version fields written into it take, or None when it is not a local plate.
    """
    if not isinstance(plate, Path) or not plate.is_dir():
        return None
    try:
        meta = read_node_meta(plate)
    except OmeZarrError:
        return None
    if "plate" not in meta.attrs:
        return None
    return existing_plate_version(meta)

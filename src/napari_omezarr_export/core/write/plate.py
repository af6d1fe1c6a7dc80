"""Add or replace one field of an HCS plate: the plate and well lists, each changed in one move.

A field is written like any image (staged, then swapped in), into ``<plate>/<row>/<column>/<n>``.
Only then does the well list it, and only then does the plate list the well: each list is one
metadata file replaced atomically, so a write killed at any instant leaves a valid plate that
lists what is complete, and every other field stays byte-identical.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Any

from napari_omezarr_export.core.errors import InvalidOptionError, TargetExistsError
from napari_omezarr_export.core.read.plate_field import existing_plate_version
from napari_omezarr_export.core.read.zarr_nodes import has_zarr_metadata, read_node_meta
from napari_omezarr_export.core.write.staging import ensure_group, update_group_attributes

__all__ = ["add_field", "plate_version", "split_well"]

_WELL = re.compile(r"^([A-Za-z]+)(\d+)$")


def split_well(well: str) -> tuple[str, str]:
    """Split a well name such as ``"B3"`` into its row ``"B"`` and column ``"3"``.

    Parameters
    ----------
    well : str
        Letters for the row, then digits for the column.

    Returns
    -------
    tuple of str
        Row and column names.

    Raises
    ------
    InvalidOptionError
        For any other name.
    """
    match = _WELL.match(str(well))
    if match is None:
        raise InvalidOptionError(
            f"Well {well!r} is not a well name; use the row's letters then the column's number, "
            "such as 'B3' or 'AA12'."
        )
    return match.group(1).upper(), match.group(2)


def plate_version(plate: Path, wanted: str) -> str:
    """The NGFF version to write into ``plate``: an existing plate's own, else ``wanted``.

    Raises
    ------
    TargetExistsError
        When ``plate`` exists and is something other than a plate (or an empty folder).
    """
    if not plate.exists():
        return wanted
    if not has_zarr_metadata(plate):
        if plate.is_dir() and not any(plate.iterdir()):
            return wanted
        raise TargetExistsError(f"{plate} exists and is not a zarr store; choose another name.")
    meta = read_node_meta(plate)
    if "plate" not in meta.attrs:
        raise TargetExistsError(
            f"{plate} exists and is not an HCS plate; fields are only added to plates. Choose "
            "another name, or move it away first."
        )
    return existing_plate_version(meta)


def _natural(name: str) -> tuple[int, str]:
    """Order row letters and column or field numbers as people do: A..Z, AA..; 2 before 10."""
    return len(name), name


def add_field(plate: Path, row: str, column: str, field: str, version: str) -> None:
    """List a written field in its well, and the well in its plate (creating either).

    Parameters
    ----------
    plate : Path
        The plate group.
    row, column : str
        The well's row and column names.
    field : str
        The field's folder name inside the well.
    version : {"0.4", "0.5"}
        The plate's NGFF version.
    """
    ensure_group(plate / row, version)
    listed: list[dict[str, Any]] = []

    def with_field(old: Any) -> dict[str, Any]:
        listed.append(_with_field(old, field=field, version=version))
        return listed[0]

    update_group_attributes(plate / row / column, "well", with_field, version)
    fields = len(listed[0]["images"])
    with_well = partial(_with_well, well=f"{row}/{column}", fields=fields, version=version)
    update_group_attributes(plate, "plate", with_well, version)


def _with_field(well: Any, *, field: str, version: str) -> dict[str, Any]:
    """A well's ``well`` attribute listing ``field`` too, in natural order."""
    well = dict(well) if isinstance(well, dict) else {}
    images = [i for i in well.get("images", []) if isinstance(i, dict) and "path" in i]
    if field not in {str(i["path"]) for i in images}:
        images.append({"path": field})
    well["images"] = sorted(images, key=lambda i: _natural(str(i["path"])))
    return {**well, "version": "0.4"} if version == "0.4" else well


def _names(attrs: dict[str, Any], key: str) -> set[str]:
    return {e["name"] for e in attrs.get(key, []) if isinstance(e, dict) and "name" in e}


def _with_well(plate: Any, *, well: str, fields: int, version: str) -> dict[str, Any]:
    """A plate's ``plate`` attribute listing ``well`` too: rows, columns, indices, field count."""
    attrs = dict(plate) if isinstance(plate, dict) else {}
    row, column = well.split("/")
    rows = sorted(_names(attrs, "rows") | {row}, key=_natural)
    columns = sorted(_names(attrs, "columns") | {column}, key=_natural)
    paths = {w["path"] for w in attrs.get("wells", []) if isinstance(w, dict) and "path" in w}
    wells = []
    for path in sorted(paths | {well}, key=lambda p: [_natural(part) for part in p.split("/")]):
        r, c = path.split("/")
        wells.append({"path": path, "rowIndex": rows.index(r), "columnIndex": columns.index(c)})
    count = max(int(attrs.get("field_count", 0)), fields)
    attrs.update(rows=[{"name": r} for r in rows], columns=[{"name": c} for c in columns],
                 wells=wells, field_count=count)  # fmt: skip
    return {**attrs, "version": "0.4"} if version == "0.4" else attrs

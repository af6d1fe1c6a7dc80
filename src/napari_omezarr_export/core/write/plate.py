"""Add or replace one field of an HCS plate: the plate and well lists, each changed in one move.

A field is written like any image (staged, then swapped in), into ``<plate>/<row>/<column>/<n>``.
Only then does the well list it, and only then does the plate list the well: each list is one
metadata file replaced atomically, so a write killed at any instant leaves a valid plate that
lists what is complete, and every other field stays byte-identical.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from napari_omezarr_export.core.errors import InvalidOptionError, TargetExistsError
from napari_omezarr_export.core.read.zarr_nodes import has_zarr_metadata, load_json, read_node_meta
from napari_omezarr_export.core.write.staging import atomic_write_json

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
    return "0.5" if meta.zarr_format == 3 else "0.4"


def _write_group(path: Path, key: str | None, value: dict[str, Any], version: str) -> None:
    """Set one OME key of a group's attributes in one move, keeping every other attribute.

    ``.zattrs`` (0.4, with ``.zgroup``) or ``zarr.json`` (0.5, under ``ome``) is rewritten
    whole and renamed into place; ``key=None`` only makes the group.
    """
    path.mkdir(parents=True, exist_ok=True)
    if version == "0.4":
        if not (path / ".zgroup").is_file():
            atomic_write_json(path / ".zgroup", {"zarr_format": 2})
        if key is not None:
            attrs_file = path / ".zattrs"
            attrs = load_json(attrs_file) if attrs_file.is_file() else {}
            atomic_write_json(attrs_file, {**attrs, key: value})
        return
    doc_file = path / "zarr.json"
    doc = load_json(doc_file) if doc_file.is_file() else {}
    doc.update(zarr_format=3, node_type="group")
    attributes = doc.setdefault("attributes", {})
    if key is not None:
        attributes["ome"] = {**attributes.get("ome", {}), "version": "0.5", key: value}
    atomic_write_json(doc_file, doc)


def _own(path: Path, key: str) -> dict[str, Any]:
    found = read_node_meta(path).attrs.get(key) if has_zarr_metadata(path) else None
    return dict(found) if isinstance(found, dict) else {}


def _listed(attrs: dict[str, Any], key: str) -> set[str]:
    return {e["name"] for e in attrs.get(key, []) if isinstance(e, dict) and "name" in e}


def _row_order(name: str) -> tuple[int, str]:
    return len(name), name  # A..Z, then AA..


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
    if not has_zarr_metadata(plate / row):
        _write_group(plate / row, None, {}, version)
    well_path = plate / row / column
    well = _own(well_path, "well")
    images = [i for i in well.get("images", []) if isinstance(i, dict) and "path" in i]
    if field not in {str(i["path"]) for i in images}:
        images.append({"path": field})
        images.sort(key=lambda i: (len(str(i["path"])), str(i["path"])))
    well["images"] = images
    if version == "0.4":
        well["version"] = "0.4"
    _write_group(well_path, "well", well, version)

    attrs = _own(plate, "plate")
    rows = sorted(
        {r["name"] for r in attrs.get("rows", []) if isinstance(r, dict)} | {row}, key=_row_order
    )
    columns = sorted(
        {c["name"] for c in attrs.get("columns", []) if isinstance(c, dict)} | {column},
        key=lambda c: (len(c), c),
    )
    paths = {w["path"] for w in attrs.get("wells", []) if isinstance(w, dict) and "path" in w}
    paths.add(f"{row}/{column}")
    wells = []
    for path in sorted(paths, key=lambda p: (_row_order(p.split("/")[0]), int(p.split("/")[1]))):
        r, c = path.split("/")
        wells.append({"path": path, "rowIndex": rows.index(r), "columnIndex": columns.index(c)})
    attrs.update(
        rows=[{"name": r} for r in rows],
        columns=[{"name": c} for c in columns],
        wells=wells,
        field_count=max(int(attrs.get("field_count", 0)), len(images)),
    )
    if version == "0.4":
        attrs["version"] = "0.4"
    _write_group(plate, "plate", attrs, version)

"""Check written stores against the NGFF spec with both validators the field uses.

``ome-zarr-models`` checks every OME group (image, labels group, label image) against its
pydantic models, including array metadata. ``yaozarrs`` validates each group's metadata JSON
and, for NGFF 0.5, the structure of the whole hierarchy.
"""

from __future__ import annotations

import json
from pathlib import Path

import ome_zarr_models
import yaozarrs


def _ome_attrs(group_dir: Path) -> tuple[str, dict] | None:
    zattrs = group_dir / ".zattrs"
    zarr_json = group_dir / "zarr.json"
    if zattrs.is_file():
        return "0.4", json.loads(zattrs.read_text())
    if zarr_json.is_file():
        doc = json.loads(zarr_json.read_text())
        if doc.get("node_type") == "group" and "ome" in doc.get("attributes", {}):
            return "0.5", doc
    return None


def assert_valid_store(path: str | Path) -> int:
    """Validate every OME group at or below ``path``; return how many were checked."""
    path = Path(path)
    checked = 0
    for group_dir in [path, *sorted(p for p in path.rglob("*") if p.is_dir())]:
        found = _ome_attrs(group_dir)
        if found is None:
            continue
        version, doc = found
        attrs = doc if version == "0.4" else doc["attributes"]
        if not ({"multiscales", "labels", "plate", "well"} & set(attrs.get("ome", attrs))):
            continue
        yaozarrs.validate_ome_json(json.dumps(doc))
        ome_zarr_models.open_ome_zarr(group_dir, version=version)
        checked += 1
    if (path / "zarr.json").is_file():
        yaozarrs.validate_zarr_store(str(path))
    assert checked, f"no OME-Zarr group found under {path}"
    return checked

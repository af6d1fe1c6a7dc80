"""Check NGFF 0.6 stores against the specification's JSON schemas (0.6rc0, kept in the tests).

No released validator reads NGFF 0.6 yet (yaozarrs 0.3.4 and ome-zarr-models 1.7 stop at 0.5),
so every OME group of a 0.6 store is validated with ``jsonschema`` against the schemas of
ome/ngff-spec (tests/schemas/ngff-0.6, see its NOTE.md), and also against the 0.6 schemas
ngff-zarr bundles. The kind of group picks the schema: image, label image, plate, well, scene.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema
import ngff_zarr
from referencing import Registry, Resource

SCHEMAS = Path(__file__).parent / "schemas" / "ngff-0.6"
BASE = "https://ngff.openmicroscopy.org/0.6rc0/schemas/"


@cache
def _registry() -> Registry:
    resources = []
    for file in SCHEMAS.glob("*.schema"):
        schema = json.loads(file.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def schema_validator(name: str) -> jsonschema.Draft202012Validator:
    """A validator for one schema of the spec (``image``, ``label``, ``scene``...)."""
    schema = json.loads((SCHEMAS / f"{name}.schema").read_text())
    return jsonschema.Draft202012Validator(schema, registry=_registry())


def kind_of(attrs: dict) -> str | None:
    """Which schema an OME group's attributes follow, or None for a group with none."""
    ome = attrs.get("ome", {})
    if "multiscales" in ome:
        return "label" if "image-label" in ome else "image"
    for key in ("scene", "plate", "well"):
        if key in ome:
            return key
    return None


def assert_valid_06(path: str | Path, *, spec_tag: bool = True) -> int:
    """Validate every NGFF 0.6 group at or below ``path``; return how many were checked.

    ``spec_tag=False`` for stores ngff-zarr wrote: it tags them ``"0.6"``, which its own
    schemas accept and the 0.6rc0 schemas do not (they list ``"0.6rc0"`` only); such stores
    are checked against the spec's schemas with that one string substituted.
    """
    path = Path(path)
    checked = 0
    for doc_file in [path / "zarr.json", *sorted(path.rglob("*/zarr.json"))]:
        if not doc_file.is_file():
            continue
        doc = json.loads(doc_file.read_text())
        if doc.get("node_type") != "group":
            continue
        attrs = doc.get("attributes", {})
        kind = kind_of(attrs)
        if kind is None:
            continue
        spec_attrs = attrs
        if not spec_tag:
            assert attrs["ome"]["version"] == "0.6"
            spec_attrs = {**attrs, "ome": {**attrs["ome"], "version": "0.6rc0"}}
        schema_validator(kind).validate(spec_attrs)
        schema_validator("ome_zarr").validate(spec_attrs)
        if kind in ("image", "label", "plate", "well"):
            ngff_zarr.validate(attrs, version="0.6", model=kind)
        checked += 1
    assert checked, f"no NGFF 0.6 group found under {path}"
    return checked

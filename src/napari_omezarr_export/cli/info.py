"""``napari-omezarr-export info PATH_OR_URL... [--json]``: what stores are, and whether they open.

``info`` says what a store is (an image, a plate, labels, a ``.percell`` experiment...) and
summarises what a reader gets from it: the NGFF and zarr versions, the layers with their shapes,
data types, levels and channel names, and whether it opens, or why not. It reads metadata only,
local or remote, through the same reader as napari. The exit code is 0 when the store opens, 1
when it is broken or not a store this package reads.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tqdm import tqdm

from napari_omezarr_export.cli.remote import add_remote_arguments, storage_options_for

__all__ = ["add_parser", "run", "store_info"]


def store_info(location: str, *, storage_options: dict | None = None) -> dict[str, Any]:
    """Describe the store at ``location``: its kind, versions and layers, and whether it opens.

    Parameters
    ----------
    location : str
        A path, a ``.ozx`` file or a URL.
    storage_options : dict, optional
        fsspec options for a URL.

    Returns
    -------
    dict
        ``location``, ``kind``, ``opens`` (bool), ``error`` (a message or None), and when it
        opens ``zarr_format``, ``ngff_version`` and ``layers`` (name, type, shape, dtype, levels,
        axes, scale).
    """
    from napari_omezarr_export.core.errors import OmeZarrError
    from napari_omezarr_export.core.reader import discover, labels_read_lazily, read_node

    node = discover(location, storage_options=storage_options)
    info: dict[str, Any] = {"location": location, "kind": node.kind, "opens": False}
    if not node.is_ours:
        info["error"] = node.message or "No OME-Zarr, .percell or Brieflow metadata found there."
        return info
    meta = node.meta
    info["zarr_format"] = meta.zarr_format if meta is not None else None
    try:
        with labels_read_lazily():  # metadata only: no label image read into memory
            specs = read_node(node)
    except OmeZarrError as exc:
        info["error"] = str(exc)
        return info
    versions = {_version(spec) for spec in specs} - {None}
    info.update(
        opens=True,
        error=None,
        ngff_version=versions.pop() if len(versions) == 1 else sorted(versions) or None,
        layers=[_layer(spec) for spec in specs],
    )
    return info


def _version(spec: Any) -> str | None:
    for value in (spec.kwargs.get("metadata") or {}).values():
        if isinstance(value, dict) and value.get("version"):
            return str(value["version"])
    return None


def _layer(spec: Any) -> dict[str, Any]:
    level0 = spec.data[0]
    return {
        "name": spec.name,
        "type": spec.layer_type,
        "shape": [int(n) for n in level0.shape],
        "dtype": str(level0.dtype),
        "levels": len(spec.data),
        "axes": list(spec.kwargs.get("axis_labels") or ()),
        "scale": [float(s) for s in spec.kwargs.get("scale") or ()],
    }


def _text(info: dict[str, Any]) -> str:
    lines = [f"{info['location']}: {info['kind'].replace('_', ' ')}"]
    if info.get("zarr_format") is not None:
        lines.append(f"  zarr v{info['zarr_format']}, NGFF {info.get('ngff_version') or '?'}")
    for layer in info.get("layers", []):
        shape = " x ".join(str(n) for n in layer["shape"])
        axes = ", ".join(layer["axes"])
        lines.append(
            f"  {layer['type']:<6} {layer['name']}: {shape} {layer['dtype']}"
            + (f" ({axes})" if axes else "")
            + f", {layer['levels']} level{'s' if layer['levels'] != 1 else ''}"
        )
    lines.append("  opens: yes" if info["opens"] else f"  opens: no. {info['error']}")
    return "\n".join(lines)


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``info`` and its arguments on the command line's subcommands."""
    info = commands.add_parser(
        "info",
        help="what a store is, its layers, and whether it opens (metadata only)",
        description="Say what each store is, summarise its metadata, and whether it opens. "
        "Reads metadata only. Exit code 1 when any store does not open.",
    )
    info.add_argument("location", nargs="+", help="paths, .ozx files or URLs (https://, s3://)")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.add_argument(
        "--dry-run", action="store_true", help="read nothing; list the stores it would inspect"
    )
    add_remote_arguments(info)
    info.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Describe every store named on the command line; 0 when all of them open, else 1.

    A store that does not open is described with the reason and the others are still read;
    with several stores a progress bar runs on a terminal and the text ends with a count.
    """
    if args.dry_run:
        sys.stdout.write(
            "".join(f"would inspect {location} (metadata only)\n" for location in args.location)
        )
        return 0
    found = [
        store_info(location, storage_options=storage_options_for(location, args))
        for location in tqdm(
            args.location, unit="store", desc="stores", leave=False, file=sys.stderr, disable=None
        )
    ]
    opened = sum(info["opens"] for info in found)
    if args.json:
        sys.stdout.write(json.dumps(found if len(found) > 1 else found[0], indent=2) + "\n")
    else:
        lines = [_text(info) for info in found]
        if len(found) > 1:
            lines.append(f"{opened} of {len(found)} stores open")
        sys.stdout.write("\n".join(lines) + "\n")
    return 0 if opened == len(found) else 1

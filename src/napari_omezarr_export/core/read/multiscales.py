"""Parse one NGFF ``multiscales`` block (0.1 to 0.5) and open its levels lazily.

Handles the legacy forms (0.1/0.2: always 5-D ``t,c,z,y,x`` and no axes; 0.3: axes as a list
of strings; no coordinateTransformations before 0.4) and the real-world quirks (scale 1.0 on
every level, ``scale0`` paths, extra keys). Level-0 transforms composed with the multiscale's
own transforms give the layer's scale and translation; downsampling factors always come from
the array shapes, which is also what napari uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from napari_omezarr_export.core.errors import StoreFormatError
from napari_omezarr_export.core.ngff.axes import STORE_FIX, Axis, parse_axes
from napari_omezarr_export.core.ngff.transforms import parse_level_transforms
from napari_omezarr_export.core.read.zarr_nodes import (
    NodeMeta,
    child_path,
    open_level,
    prefetch_nodes,
)

__all__ = ["KNOWN_VERSIONS", "Multiscale", "level_folders", "ngff_version", "open_multiscale"]

KNOWN_VERSIONS = ("0.1", "0.2", "0.3", "0.4", "0.5")


@dataclass(frozen=True)
class Multiscale:
    """A parsed, opened multiscale image.

    Parameters
    ----------
    path : Path
        The group folder.
    version : str
        The NGFF version (``"0.4"`` assumed when the store gives none).
    name : str or None
        The multiscale's ``name``.
    axes : tuple of Axis
        One per array dimension.
    levels : list of dask.array.Array
        Lazy levels, largest first.
    scale, translate : tuple of float
        Level-0 world transform (multiscale transforms composed with level 0's).
    """

    path: Path
    version: str
    name: str | None
    axes: tuple[Axis, ...]
    levels: list[Any]
    scale: tuple[float, ...]
    translate: tuple[float, ...]

    @property
    def axis_names(self) -> tuple[str, ...]:
        """Axis names, one per dimension."""
        return tuple(a.name for a in self.axes)

    def axis_index(self, name: str) -> int | None:
        """Index of the axis called ``name``, or None."""
        names = self.axis_names
        return names.index(name) if name in names else None

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Level shapes, largest first."""
        return [tuple(int(n) for n in lv.shape) for lv in self.levels]


def ngff_version(meta: NodeMeta, block: dict[str, Any]) -> str:
    """The NGFF version of a multiscale: its own, the group's ``ome.version``, else by format."""
    version = block.get("version", meta.ome_version)
    if version is None:
        return "0.4" if meta.zarr_format == 2 else "0.5"
    version = str(version)
    if version not in KNOWN_VERSIONS:
        raise StoreFormatError(
            f"{meta.path}: NGFF version {version!r} is not supported; this plugin reads "
            f"versions {', '.join(KNOWN_VERSIONS)}."
        )
    return version


def _check_shapes(path: Path, shapes: list[tuple[int, ...]], paths: list[str]) -> None:
    for i in range(1, len(shapes)):
        prev, cur = shapes[i - 1], shapes[i]
        if len(cur) != len(prev):
            raise StoreFormatError(
                f"{path}: level {paths[i]!r} has {len(cur)} dimensions but level "
                f"{paths[i - 1]!r} has {len(prev)}."
            )
        if any(c > p for c, p in zip(cur, prev, strict=True)) or cur == prev:
            raise StoreFormatError(
                f"{path}: level {paths[i]!r} {cur} does not shrink from level "
                f"{paths[i - 1]!r} {prev}; pyramid levels must be listed largest first."
            )


def _first_block(meta: NodeMeta) -> dict[str, Any]:
    """The first multiscale, checked to list its datasets."""
    path = meta.path
    blocks = meta.attrs.get("multiscales")
    if not isinstance(blocks, list) or not blocks or not isinstance(blocks[0], dict):
        raise StoreFormatError(
            f"{path}: 'multiscales' must be a non-empty list of objects.{STORE_FIX}"
        )
    datasets = blocks[0].get("datasets")
    if not isinstance(datasets, list) or not datasets:
        raise StoreFormatError(f"{path}: the multiscale lists no datasets (levels).{STORE_FIX}")
    if not all(isinstance(d, dict) for d in datasets):
        raise StoreFormatError(f"{path}: every entry of 'datasets' must be an object.{STORE_FIX}")
    return blocks[0]


def level_folders(meta: NodeMeta) -> list[Any]:
    """The folders of a multiscale group's levels, largest first, checked to stay inside it.

    Parameters
    ----------
    meta : NodeMeta
        The group's metadata (must have ``multiscales``).

    Returns
    -------
    list of Path or UPath
        One folder per level.

    Raises
    ------
    StoreFormatError
        For malformed ``multiscales`` or a dataset path leading outside the group.
    """
    datasets = _first_block(meta)["datasets"]
    return [child_path(meta.path, d.get("path"), what="dataset path") for d in datasets]


def open_multiscale(meta: NodeMeta) -> Multiscale:
    """Parse the first multiscale of a group and open its levels lazily.

    Parameters
    ----------
    meta : NodeMeta
        The group's metadata (must have ``multiscales``).

    Returns
    -------
    Multiscale
        Axes, lazy levels and the level-0 world transform.

    Raises
    ------
    StoreFormatError
        For malformed metadata, unknown versions, missing or non-shrinking levels, or dataset
        paths leading outside the group.
    """
    path = meta.path
    block = _first_block(meta)
    version = ngff_version(meta, block)
    paths = [d.get("path") for d in block["datasets"]]
    level_paths = level_folders(meta)
    # Remote stores: every level's metadata in one round trip, with the labels group an image
    # may have (the reader opens it next; a label image has none).
    labels = () if "image-label" in meta.attrs else (path / "labels",)
    prefetch_nodes(level_paths, zarr_format=meta.zarr_format, node_type="array", groups=labels)
    levels = [open_level(p, zarr_format=meta.zarr_format) for p in level_paths]
    shapes = [tuple(int(n) for n in lv.shape) for lv in levels]
    _check_shapes(path, shapes, [str(p) for p in paths])
    ndim = len(shapes[0])
    axes = parse_axes(path, block.get("axes"), version, ndim)
    level0 = parse_level_transforms(path, block, ndim)[0]
    name = block.get("name") if isinstance(block.get("name"), str) else None
    return Multiscale(path, version, name, axes, levels, level0.scale, level0.translation)

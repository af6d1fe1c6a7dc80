"""Parse one NGFF ``multiscales`` block (0.1 to 0.6) and open its levels lazily.

Handles the legacy forms (0.1/0.2: always 5-D ``t,c,z,y,x`` and no axes; 0.3: axes as a list
of strings; no coordinateTransformations before 0.4) and the real-world quirks (scale 1.0 on
every level, ``scale0`` paths, extra keys). Level-0 transforms composed with the multiscale's
own transforms give the layer's scale and translation; downsampling factors always come from
the array shapes, which is also what napari uses. NGFF 0.6 names coordinate systems instead of
axes (`ngff.multiscales06`): a transform that is not a scale and shift becomes the layer's
``affine``, and one that is not a matrix at all (a displacement field) is left out with a
warning naming it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from napari_omezarr_export.core.errors import StoreFormatError
from napari_omezarr_export.core.ngff.affine import Placement, is_diagonal
from napari_omezarr_export.core.ngff.axes import STORE_FIX, Axis, parse_axes
from napari_omezarr_export.core.ngff.coordinate_systems import CoordinateSystem, is_v06
from napari_omezarr_export.core.ngff.multiscales06 import parse_multiscale06
from napari_omezarr_export.core.ngff.transforms import LevelTransform, parse_level_transforms
from napari_omezarr_export.core.read.zarr_nodes import (
    NodeMeta,
    child_path,
    open_array,
    open_level,
    prefetch_nodes,
)

__all__ = [
    "KNOWN_VERSIONS",
    "Multiscale",
    "draft_named",
    "level0_transform",
    "level_folders",
    "matrix_loader",
    "multiscale_axes",
    "ngff_version",
    "open_multiscale",
]

logger = logging.getLogger(__name__)

KNOWN_VERSIONS = ("0.1", "0.2", "0.3", "0.4", "0.5", "0.6")
# Larger "matrices" are not transform parameters; refuse to read them whole.
_MAX_MATRIX_VALUES = 10_000


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
    affine : tuple of tuple of float, optional
        NGFF 0.6: a homogeneous ``(ndim+1) x (ndim+1)`` matrix applied after ``scale`` and
        ``translate`` (napari's layer ``affine``), when the image's transform to the system it
        is shown in is not a positive scale and shift.
    system : str or None
        NGFF 0.6: the coordinate system the image is shown in.
    skipped : tuple of str
        NGFF 0.6: transforms not applied (displacement fields, coordinate maps).
    """

    path: Path
    version: str
    name: str | None
    axes: tuple[Axis, ...]
    levels: list[Any]
    scale: tuple[float, ...]
    translate: tuple[float, ...]
    affine: tuple[tuple[float, ...], ...] | None = field(default=None, compare=False)
    system: str | None = None
    skipped: tuple[str, ...] = ()

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
    """The NGFF version of a multiscale: its own, the group's ``ome.version``, else by format.

    Every NGFF 0.6 tag (``0.6``, ``0.6rc0``, the ``0.6.devN`` drafts) reads as ``"0.6"``.
    """
    version = block.get("version", meta.ome_version)
    if version is None:
        return "0.4" if meta.zarr_format == 2 else "0.5"
    version = str(version)
    if is_v06(version):
        return "0.6"
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


@contextmanager
def draft_named(meta: NodeMeta, block: dict[str, Any]) -> Iterator[None]:
    """Name the pre-release draft in a metadata error of a store tagged ``0.6.devN``.

    The drafts before 0.6rc0 differ from it in more than string ``input``/``output`` (which
    are read); where one does not parse, the error says which draft it is and what to do.
    """
    try:
        yield
    except StoreFormatError as exc:
        tag = str(block.get("version", meta.ome_version))
        if not tag.startswith("0.6.dev"):
            raise
        raise StoreFormatError(
            f"{exc} The store is tagged {tag!r}, a pre-release draft of NGFF 0.6; this plugin "
            "reads NGFF 0.6rc0, and drafts only where they match it. Convert the store with "
            "its writer's upgrade (ngff-zarr: upgrade_ome_zarr) or re-export it as 0.6."
        ) from exc


def matrix_loader(root: Any, zarr_format: int | None):
    """A function reading a transform's parameters stored as a small zarr array under ``root``.

    Parameters
    ----------
    root : Path or UPath
        The group the transform's ``path`` is relative to.
    zarr_format : int or None
        The store's zarr format.

    Returns
    -------
    callable
        ``load(path) -> numpy.ndarray``; raises `StoreFormatError` for a missing or huge array.
    """
    import numpy as np

    def load(relative: str) -> Any:
        where = child_path(root, relative, what="transform parameters path")
        array = open_array(where, zarr_format=zarr_format)
        if array.array.size > _MAX_MATRIX_VALUES:
            raise StoreFormatError(
                f"{where}: {array.array.size} values are too many for transform parameters; only "
                f"matrices are read from arrays (a field is not applied).{STORE_FIX}"
            )
        return np.asarray(array[...])

    return load


def multiscale_axes(meta: NodeMeta, block: dict[str, Any], ndim: int) -> tuple[Axis, ...]:
    """A multiscale's axes: ``axes`` up to 0.5, its intrinsic coordinate system's in 0.6.

    Parameters
    ----------
    meta : NodeMeta
        The image group's metadata.
    block : dict
        One entry of ``multiscales``.
    ndim : int
        The number of dimensions of its arrays.

    Returns
    -------
    tuple of Axis
        One per dimension.
    """
    version = ngff_version(meta, block)
    if version == "0.6":
        with draft_named(meta, block):
            return parse_multiscale06(meta.path, block, ndim, display=False).intrinsic.axes
    return parse_axes(meta.path, block.get("axes"), version, ndim)


def level0_transform(meta: NodeMeta, block: dict[str, Any], ndim: int) -> LevelTransform:
    """Level 0's scale and translation into the image's own space (any NGFF version).

    For NGFF 0.6 this is the intrinsic coordinate system, which the image's label images
    share; the multiscale's further transforms (to other systems) are not included.

    Parameters
    ----------
    meta : NodeMeta
        The image group's metadata.
    block : dict
        One entry of ``multiscales``.
    ndim : int
        The number of dimensions of its arrays.

    Returns
    -------
    LevelTransform
        Level 0's placement.
    """
    if ngff_version(meta, block) == "0.6":
        with draft_named(meta, block):
            return parse_multiscale06(meta.path, block, ndim, display=False).levels[0]
    return parse_level_transforms(meta.path, block, ndim)[0]


def _placed(
    path: Any, level0: LevelTransform, placement: Placement | None
) -> tuple[tuple[float, ...], tuple[float, ...], tuple[tuple[float, ...], ...] | None]:
    """Level 0's scale and translation, with a placement folded in when it is a scale + shift."""
    if placement is None:
        return level0.scale, level0.translation, None
    matrix = placement.matrix
    if matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != len(level0.scale) + 1:
        raise StoreFormatError(
            f"{path}: the transform to the coordinate system shown changes the number of "
            "dimensions, which napari cannot show."
        )
    if is_diagonal(matrix):
        diag, shift = matrix.diagonal()[:-1], matrix[:-1, -1]
        scale = tuple(float(d * s) for d, s in zip(diag, level0.scale, strict=True))
        translation = tuple(
            float(d * t + u) for d, t, u in zip(diag, level0.translation, shift, strict=True)
        )
        return scale, translation, None
    return level0.scale, level0.translation, tuple(tuple(map(float, row)) for row in matrix)


def _warn_skipped(path: Any, skipped: tuple[str, ...]) -> None:
    if skipped:
        logger.warning(
            "%s: the coordinate transformation(s) %s are not applied: napari shows only scale, "
            "translation and affine transforms. The image is shown as if they were the "
            "identity.",
            path,
            ", ".join(skipped),
        )


def open_multiscale(
    meta: NodeMeta, *, placement: tuple[CoordinateSystem, Placement] | None = None
) -> Multiscale:
    """Parse the first multiscale of a group and open its levels lazily.

    Parameters
    ----------
    meta : NodeMeta
        The group's metadata (must have ``multiscales``).
    placement : (CoordinateSystem, Placement), optional
        NGFF 0.6: show the image in this system, reached from its intrinsic system by this
        matrix (a scene's placement), instead of the system its own metadata chooses.

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
    name = block.get("name") if isinstance(block.get("name"), str) else None
    if version != "0.6":
        axes = parse_axes(path, block.get("axes"), version, ndim)
        level0 = parse_level_transforms(path, block, ndim)[0]
        return Multiscale(path, version, name, axes, levels, level0.scale, level0.translation)
    with draft_named(meta, block):
        parsed = parse_multiscale06(
            path,
            block,
            ndim,
            load=matrix_loader(path, meta.zarr_format),
            display=placement is None,
        )
    shown, to_shown = placement if placement is not None else (parsed.shown, parsed.to_shown)
    if parsed.draft:
        logger.info("%s: read as an NGFF 0.6 draft (input/output given as strings).", path)
    skipped = to_shown.skipped if to_shown is not None else ()
    _warn_skipped(path, skipped)
    scale, translate, affine = _placed(path, parsed.levels[0], to_shown)
    axes = shown.axes if shown.ndim == ndim else parsed.intrinsic.axes
    return Multiscale(
        path, version, name, axes, levels, scale, translate, affine, shown.name, skipped
    )

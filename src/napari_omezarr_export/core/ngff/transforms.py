"""NGFF coordinate transformations of a multiscale: per-level scale and translation.

Each dataset (level) lists its own ``coordinateTransformations``; a multiscale may list more
beside ``datasets``, which apply after every level's own (NGFF 0.4 and 0.5). This module folds
both into one scale and translation per level. It is pure: it takes the parsed JSON and never
touches a file, so the reader and the label save-back place an image identically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from napari_omezarr_export.core.errors import StoreFormatError
from napari_omezarr_export.core.ngff.axes import STORE_FIX

__all__ = ["LevelTransform", "fold_transforms", "parse_level_transforms"]


@dataclass(frozen=True)
class LevelTransform:
    """Where one level's pixels sit in the world: ``world = index * scale + translation``.

    Parameters
    ----------
    scale : tuple of float
        Finite positive numbers, one per dimension.
    translation : tuple of float
        Finite numbers, one per dimension.
    """

    scale: tuple[float, ...]
    translation: tuple[float, ...]


def _numbers(where: object, kind: str, values: object, ndim: int) -> list[float]:
    if not isinstance(values, list) or len(values) != ndim:
        raise StoreFormatError(
            f"{where}: the {kind} transform {values!r} must list {ndim} numbers.{STORE_FIX}"
        )
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise StoreFormatError(f"{where}: {kind} {values!r} is not numeric.{STORE_FIX}") from exc


def fold_transforms(where: object, transforms: object, ndim: int) -> LevelTransform:
    """Fold one ``coordinateTransformations`` list, applied in order, into a scale and shift.

    Parameters
    ----------
    where : object
        The image path, named in error messages.
    transforms : object
        The list as found in the metadata; None means identity.
    ndim : int
        The number of dimensions.

    Returns
    -------
    LevelTransform
        The folded scale and translation (not yet checked for finiteness).

    Raises
    ------
    StoreFormatError
        For a value that is not a list, a transform other than identity, scale and
        translation, or one whose numbers do not match ``ndim``.
    """
    scale, shift = [1.0] * ndim, [0.0] * ndim
    if transforms is None:
        return LevelTransform(tuple(scale), tuple(shift))
    if not isinstance(transforms, list):
        raise StoreFormatError(f"{where}: coordinateTransformations must be a list.{STORE_FIX}")
    for transform in transforms:
        kind = transform.get("type") if isinstance(transform, dict) else None
        if kind == "identity":
            continue
        if kind not in ("scale", "translation"):
            raise StoreFormatError(
                f"{where}: unsupported coordinate transformation {transform!r}; only scale and "
                "translation are read."
            )
        values = _numbers(where, kind, transform.get(kind), ndim)
        if kind == "scale":
            shift = [s * v for s, v in zip(shift, values, strict=True)]
            scale = [s * v for s, v in zip(scale, values, strict=True)]
        else:
            shift = [s + v for s, v in zip(shift, values, strict=True)]
    return LevelTransform(tuple(scale), tuple(shift))


def _checked(where: object, level: LevelTransform) -> LevelTransform:
    if not all(math.isfinite(s) and s > 0 for s in level.scale):
        raise StoreFormatError(
            f"{where}: the scale {list(level.scale)} must hold finite positive numbers; fix the "
            "coordinateTransformations in the store's metadata."
        )
    if not all(math.isfinite(t) for t in level.translation):
        raise StoreFormatError(
            f"{where}: the translation {list(level.translation)} must hold finite numbers; fix "
            "the coordinateTransformations in the store's metadata."
        )
    return level


def parse_level_transforms(where: object, multiscale: dict, ndim: int) -> list[LevelTransform]:
    """Return each level's world transform: its own, then the multiscale's.

    Parameters
    ----------
    where : object
        The image path, named in error messages.
    multiscale : dict
        One entry of ``multiscales``, with its ``datasets`` and optional
        ``coordinateTransformations``.
    ndim : int
        The number of dimensions of the image's arrays.

    Returns
    -------
    list of LevelTransform
        One per dataset, largest level first.

    Raises
    ------
    StoreFormatError
        For malformed transforms, or a scale that is not finite and positive or a translation
        that is not finite.
    """
    datasets = multiscale.get("datasets")
    if not isinstance(datasets, list) or not all(isinstance(d, dict) for d in datasets):
        raise StoreFormatError(f"{where}: 'datasets' must be a list of objects.{STORE_FIX}")
    outer = fold_transforms(where, multiscale.get("coordinateTransformations"), ndim)
    levels = []
    for dataset in datasets:
        own = fold_transforms(where, dataset.get("coordinateTransformations"), ndim)
        scale = tuple(m * s for m, s in zip(outer.scale, own.scale, strict=True))
        translation = tuple(
            m * t + u
            for m, t, u in zip(outer.scale, own.translation, outer.translation, strict=True)
        )
        levels.append(_checked(where, LevelTransform(scale, translation)))
    return levels

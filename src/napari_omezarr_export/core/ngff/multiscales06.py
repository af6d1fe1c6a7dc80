"""One NGFF 0.6 multiscale: its intrinsic coordinate system, level transforms and display system.

In NGFF 0.6 each level maps its array into the multiscale's *intrinsic* coordinate system (the
``output`` of every level's transform: a ``scale``, ``identity``, or ``sequence`` of a scale and
a translation). The multiscale's own ``coordinateTransformations`` link the intrinsic system to
others. Like napari-ome-zarr, an image is shown in the first system its multiscale links the
intrinsic one to (it is how a writer says "show me this way"), else in the intrinsic system;
a scene places its images itself (see `scene`). Pure: no file is read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_omezarr_export.core.errors import StoreFormatError
from napari_omezarr_export.core.ngff.affine import (
    LoadArray,
    Placement,
    describe,
    inverse_matrix,
    transform_matrix,
)
from napari_omezarr_export.core.ngff.axes import STORE_FIX
from napari_omezarr_export.core.ngff.coordinate_systems import (
    CoordinateSystem,
    parse_coordinate_systems,
    parse_ref,
)
from napari_omezarr_export.core.ngff.transforms import LevelTransform, parse_level_transforms

__all__ = ["Multiscale06", "parse_multiscale06"]


@dataclass(frozen=True)
class Multiscale06:
    """What an NGFF 0.6 multiscale block says about where its pixels are.

    Parameters
    ----------
    systems : tuple of CoordinateSystem
        Its ``coordinateSystems``.
    intrinsic : CoordinateSystem
        The system every level maps into.
    levels : list of LevelTransform
        Each level's scale and translation into the intrinsic system.
    shown : CoordinateSystem
        The system the image is shown in.
    to_shown : Placement or None
        The matrix from the intrinsic to the shown system (None when they are the same).
    draft : bool
        True when ``input``/``output`` were plain strings (a pre-rc0 draft).
    """

    systems: tuple[CoordinateSystem, ...]
    intrinsic: CoordinateSystem
    levels: list[LevelTransform]
    shown: CoordinateSystem
    to_shown: Placement | None
    draft: bool

    def system(self, name: str | None) -> CoordinateSystem | None:
        """The coordinate system called ``name``, or None."""
        return next((s for s in self.systems if s.name == name), None)


def _flat(transforms: object) -> object:
    """A level's transforms with a ``sequence`` unwrapped (0.6), as 0.4/0.5 list them."""
    if not isinstance(transforms, list):
        return transforms
    flat: list[Any] = []
    for t in transforms:
        if isinstance(t, dict) and t.get("type") == "sequence":
            flat += t.get("transformations") or []
        else:
            flat.append(t)
    return flat


def _intrinsic_name(where: object, datasets: list[dict]) -> tuple[str, bool]:
    names, draft = set(), False
    for dataset in datasets:
        transforms = dataset.get("coordinateTransformations")
        if not isinstance(transforms, list) or not transforms:
            raise StoreFormatError(
                f"{where}: level {dataset.get('path')!r} has no coordinateTransformations."
                f"{STORE_FIX}"
            )
        for t in transforms:
            out = t.get("output") if isinstance(t, dict) else None
            if out is None:
                continue
            ref = parse_ref(where, out)
            draft = draft or ref.draft
            if t.get("input") is not None:
                draft = draft or parse_ref(where, t["input"], string_is="path").draft
            names.add(ref.name)
    if len(names) != 1 or None in names:
        raise StoreFormatError(
            f"{where}: every level's transform must name the same output coordinate system "
            f"(the intrinsic one); found {sorted(map(str, names)) or 'none'}.{STORE_FIX}"
        )
    return names.pop(), draft


def _display(
    where: object, block: dict, intrinsic: CoordinateSystem, systems, load: LoadArray | None
) -> tuple[CoordinateSystem, Placement | None, bool]:
    """The first system of this group linked to the intrinsic one, and the matrix to it."""
    extra = block.get("coordinateTransformations")
    if extra is None:
        return intrinsic, None, False
    if not isinstance(extra, list):
        raise StoreFormatError(f"{where}: coordinateTransformations must be a list.{STORE_FIX}")
    draft = False
    for t in extra:
        if not isinstance(t, dict):
            raise StoreFormatError(f"{where}: transform {t!r} is not an object.{STORE_FIX}")
        src = parse_ref(where, t.get("input"))
        dst = parse_ref(where, t.get("output"))
        draft = draft or src.draft or dst.draft
        if src.path or dst.path:  # a link to a label image's system
            continue
        forward = src.name == intrinsic.name
        other_name = dst.name if forward else src.name
        if not forward and dst.name != intrinsic.name:
            continue
        other = next((s for s in systems if s.name == other_name), None)
        if other is None:
            raise StoreFormatError(
                f"{where}: {describe(t)} refers to the coordinate system {other_name!r}, which "
                f"'coordinateSystems' does not define.{STORE_FIX}"
            )
        if other.ndim != intrinsic.ndim:
            continue  # napari's affine keeps the number of dimensions
        if forward:
            return other, transform_matrix(where, t, other.ndim, load=load), draft
        try:
            return other, inverse_matrix(where, t, other.ndim, other.ndim, load=load), draft
        except StoreFormatError:
            continue  # not invertible: this link cannot show the image in that system
    return intrinsic, None, draft


def parse_multiscale06(
    where: object, block: dict, ndim: int, *, load: LoadArray | None = None, display: bool = True
) -> Multiscale06:
    """Parse an NGFF 0.6 multiscale block (or a pre-rc0 draft's).

    Parameters
    ----------
    where : object
        The image group, named in error messages.
    block : dict
        One entry of ``multiscales``.
    ndim : int
        The number of dimensions of its arrays.
    load : callable, optional
        Reads a zarr array by path relative to the group (matrices stored as arrays).
    display : bool
        False to show the image in its intrinsic system whatever its multiscale links it to
        (a scene places its images itself).

    Returns
    -------
    Multiscale06
        The systems, level transforms and display choice.

    Raises
    ------
    StoreFormatError
        For a missing or inconsistent coordinate system, or malformed transforms.
    """
    systems = parse_coordinate_systems(where, block.get("coordinateSystems"))
    datasets = block.get("datasets")
    if not isinstance(datasets, list) or not all(isinstance(d, dict) for d in datasets):
        raise StoreFormatError(f"{where}: 'datasets' must be a list of objects.{STORE_FIX}")
    name, draft = _intrinsic_name(where, datasets)
    intrinsic = next((s for s in systems if s.name == name), None)
    if intrinsic is None:
        raise StoreFormatError(
            f"{where}: the levels map into the coordinate system {name!r}, which "
            f"'coordinateSystems' does not define.{STORE_FIX}"
        )
    if intrinsic.ndim != ndim:
        raise StoreFormatError(
            f"{where}: the coordinate system {name!r} has {intrinsic.ndim} axes but the arrays "
            f"have {ndim} dimensions.{STORE_FIX}"
        )
    flat = {
        **block,
        "coordinateTransformations": None,
        "datasets": [
            {**d, "coordinateTransformations": _flat(d.get("coordinateTransformations"))}
            for d in datasets
        ],
    }
    levels = parse_level_transforms(where, flat, ndim)
    shown, to_shown, more_draft = (
        _display(where, block, intrinsic, systems, load) if display else (intrinsic, None, False)
    )
    if to_shown is not None and np.array_equal(to_shown.matrix, np.eye(ndim + 1)):
        to_shown = to_shown if to_shown.skipped else None
    return Multiscale06(systems, intrinsic, levels, shown, to_shown, draft or more_draft)

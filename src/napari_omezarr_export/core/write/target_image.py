"""Read what a save-back needs from an existing OME-Zarr image: format, axes, levels, transforms.

Adding labels to an image must match it exactly: the same zarr format and NGFF version, its
y/x size, its level count, chunks and coordinate transformations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import zarr

from napari_omezarr_export.core.errors import StoreFormatError
from napari_omezarr_export.core.ngff.axes import Axis, default_axis_names
from napari_omezarr_export.core.options import StorageOptions
from napari_omezarr_export.core.write.plan import GroupPlan

__all__ = ["ImageGeometry", "is_image_store", "read_image_geometry", "storage_like"]


def _ome_attributes(path: Path) -> tuple[str, dict] | None:
    """Return (NGFF version family, OME attributes) of a group, or None when it has none."""
    try:
        if (path / "zarr.json").is_file():
            document = json.loads((path / "zarr.json").read_text(encoding="utf-8"))
            ome = document.get("attributes", {}).get("ome")
            return ("0.5", ome) if isinstance(ome, dict) else None
        if (path / ".zattrs").is_file():
            attrs = json.loads((path / ".zattrs").read_text(encoding="utf-8"))
            return ("0.4", attrs) if isinstance(attrs, dict) else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreFormatError(f"Cannot read the metadata of {path}: {exc}.") from exc
    return None


def is_image_store(path: Path) -> bool:
    """Return True when ``path`` is an OME-Zarr image (a group with ``multiscales``)."""
    try:
        found = _ome_attributes(Path(path))
    except StoreFormatError:
        return False
    return bool(found and found[1].get("multiscales") and "image-label" not in found[1])


@dataclass(frozen=True)
class ImageGeometry:
    """The parts of an existing image that labels added to it must follow."""

    path: Path
    version: str
    axes: list[Axis]
    level_shapes: list[tuple[int, ...]]
    chunks: tuple[int, ...]
    scale: tuple[float, ...]
    translation: tuple[float, ...]
    name: str
    label_names: list[str]

    def as_plan(self) -> GroupPlan:
        """Return a stand-in image plan that label planning can follow."""
        return GroupPlan(
            path="",
            kind="image",
            data=None,
            axes=self.axes,
            level_shapes=self.level_shapes,
            chunks=self.chunks,
            shards=None,
            dtype=np.dtype("uint8"),
            method="mean",
            factors=(),
            scale=self.scale,
            translation=self.translation,
            name=self.name,
        )


def _transform(transforms: object, kind: str, ndim: int, default: float) -> tuple[float, ...]:
    for t in transforms if isinstance(transforms, list) else []:
        if isinstance(t, dict) and t.get("type") == kind and len(t.get(kind, [])) == ndim:
            return tuple(float(v) for v in t[kind])
    return (default,) * ndim


def read_image_geometry(path: Path) -> ImageGeometry | None:
    """Return the geometry of the OME-Zarr image at ``path``, or None if it is not an image.

    Parameters
    ----------
    path : Path
        A store that may be an image.

    Returns
    -------
    ImageGeometry or None
        Its format, axes, level shapes, chunks and level-0 transforms.
    """
    if not is_image_store(path):
        return None
    version, ome = _ome_attributes(path)
    try:
        multiscale = ome["multiscales"][0]
        datasets = multiscale["datasets"]
        arrays = [zarr.open_array(path / d["path"], mode="r") for d in datasets]
    except (KeyError, IndexError, TypeError, FileNotFoundError, ValueError) as exc:
        raise StoreFormatError(
            f"{path} looks like an OME-Zarr image but its multiscales metadata or level arrays "
            f"are broken ({exc!r}); labels cannot be added to it. Save them to a new path."
        ) from exc
    ndim = arrays[0].ndim
    raw_axes = multiscale.get("axes") or list(default_axis_names(ndim))
    names = [a["name"] if isinstance(a, dict) else str(a) for a in raw_axes]
    units = [a.get("unit") if isinstance(a, dict) else None for a in raw_axes]
    transforms = datasets[0].get("coordinateTransformations")
    labels_attrs = _ome_attributes(path / "labels")
    return ImageGeometry(
        path=path,
        version=version,
        axes=[Axis(n, u) for n, u in zip(names, units, strict=True)],
        level_shapes=[tuple(a.shape) for a in arrays],
        chunks=tuple(arrays[0].chunks),
        scale=_transform(transforms, "scale", ndim, 1.0),
        translation=_transform(transforms, "translation", ndim, 0.0),
        name=str(multiscale.get("name") or path.name),
        label_names=list(labels_attrs[1].get("labels", [])) if labels_attrs else [],
    )


def storage_like(image: ImageGeometry, storage: StorageOptions | None) -> StorageOptions:
    """Return storage options for labels added to ``image``: its format, the user's codec."""
    storage = storage or StorageOptions()
    version = "0.5" if image.version == "0.5" else "0.4"
    return replace(storage, ngff_version=version, chunks=None, shards=None)

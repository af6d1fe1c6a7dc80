"""Read what a save-back needs from an existing OME-Zarr image: format, axes, levels, transforms.

Adding labels to an image must match it exactly: the same zarr format and NGFF version, its
y/x size, its level count, chunks and coordinate transformations.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import zarr

from napari_omezarr_export.core.errors import StoreFormatError
from napari_omezarr_export.core.ngff.axes import Axis
from napari_omezarr_export.core.options import StorageOptions
from napari_omezarr_export.core.read.multiscales import (
    level0_transform,
    multiscale_axes,
    ngff_version,
)
from napari_omezarr_export.core.read.zarr_nodes import child_path, read_node_meta
from napari_omezarr_export.core.stores import StorePath, describe, read_session, zarr_store
from napari_omezarr_export.core.write.plan import GroupPlan

__all__ = ["ImageGeometry", "is_image_store", "read_image_geometry", "storage_like"]


def is_image_store(path: StorePath) -> bool:
    """Return True when ``path`` (local or remote) is an OME-Zarr image: ``multiscales``."""
    try:
        attrs = read_node_meta(path).attrs
    except StoreFormatError:
        return False
    return bool(attrs.get("multiscales")) and "image-label" not in attrs


@dataclass(frozen=True)
class ImageGeometry:
    """The parts of an existing image that labels added to it must follow."""

    path: StorePath
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


def read_image_geometry(path: StorePath) -> ImageGeometry | None:
    """Return the geometry of the OME-Zarr image at ``path``, or None if it is not an image.

    Parameters
    ----------
    path : Path or UPath
        A store that may be an image: a local folder or an object-store location.

    Returns
    -------
    ImageGeometry or None
        Its format, axes, level shapes, chunks and level-0 transforms.
    """
    with read_session():  # each metadata document is fetched once, concurrently when remote
        return _read_geometry(path)


def _read_geometry(path: StorePath) -> ImageGeometry | None:
    if not is_image_store(path):
        return None
    meta = read_node_meta(path)
    try:
        multiscale = meta.attrs["multiscales"][0]
        datasets = multiscale["datasets"]
        arrays = [_open(child_path(path, d["path"], what="dataset path")) for d in datasets]
        ndim = arrays[0].ndim  # an empty "datasets" list is broken too
    except (KeyError, IndexError, TypeError, FileNotFoundError, ValueError) as exc:
        raise StoreFormatError(
            f"{describe(path)} looks like an OME-Zarr image but its multiscales metadata or "
            f"level arrays are broken ({exc!r}); labels cannot be added to it. Save them to a "
            "new path."
        ) from exc
    version = "0.4" if meta.zarr_format == 2 else "0.5"
    if ngff_version(meta, multiscale) == "0.6":  # labels join a 0.6 image as 0.6
        version = "0.6"
    level0 = level0_transform(meta, multiscale, ndim)
    return ImageGeometry(
        path=path,
        version=version,
        axes=list(multiscale_axes(meta, multiscale, ndim)),
        level_shapes=[tuple(a.shape) for a in arrays],
        chunks=tuple(arrays[0].chunks),
        scale=level0.scale,
        translation=level0.translation,
        name=str(multiscale.get("name") or path.name),
        label_names=list(read_node_meta(path / "labels").attrs.get("labels", [])),
    )


def _open(path: StorePath) -> Any:
    store, key = zarr_store(path)
    return zarr.open_array(store=store, path=key, mode="r")


def storage_like(image: ImageGeometry, storage: StorageOptions | None) -> StorageOptions:
    """Return storage options for labels added to ``image``: its format, the user's codec."""
    storage = storage or StorageOptions()
    version = image.version if image.version in ("0.5", "0.6") else "0.4"
    return replace(storage, ngff_version=version, chunks=None, shards=None)

"""The one place that knows where things live in a ``.percell`` experiment folder.

Two layouts share the three stores ``images.zarr``, ``labels.zarr`` and ``masks.zarr``:

* the design document's name-based layout, which this plugin writes:
  ``images.zarr/<condition>/[<timepoint>/]<region>``, the segmentation at the same path under
  ``labels.zarr``, each threshold's mask at ``masks.zarr/<same path>/threshold_<name>``
  (readers also accept a ``<bio_rep>`` folder before the timepoint);
* PerCell 3's id-based layout, which it reads: ``images.zarr/fov_<id>``,
  ``labels.zarr/seg_<id>``, ``masks.zarr/thresh_<id>/{mask,particles}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from napari_omezarr_export.core.errors import InvalidOptionError
from napari_omezarr_export.core.stores import local_path

__all__ = [
    "DEFAULT_CONDITION",
    "EXPERIMENT_DB",
    "IMAGES",
    "LABELS",
    "MASKS",
    "STORES",
    "GroupKind",
    "PercellRegion",
    "experiment_path",
    "fov_group",
    "group_path",
    "is_fov_group",
    "mask_folder_name",
    "mask_parts",
    "masks_folder",
    "next_free_region",
    "safe_name",
    "segmentation_group",
    "threshold_group",
]

IMAGES, LABELS, MASKS = STORES = ("images.zarr", "labels.zarr", "masks.zarr")
EXPERIMENT_DB = "experiment.db"
DEFAULT_CONDITION = "condition_1"
GroupKind = Literal["image", "segmentation", "mask"]

_MASK_PREFIX = "threshold_"  # name-based: masks.zarr/<region>/threshold_<name>
_REGION_PREFIX = "region_"  # the default region names: region_1, region_2, ...
_FOV_PREFIX = "fov_"  # id-based: images.zarr/fov_<id>
_MASK_ARRAY_GROUP = "mask"  # id-based: masks.zarr/thresh_<id>/mask
_PARTICLES_GROUP = "particles"  # id-based: masks.zarr/thresh_<id>/particles
_UNSAFE = re.compile(r"[/\\\x00]")


def safe_name(name: object) -> bool:
    """True when ``name`` can be one folder name inside the experiment (no ``/``, ``..``).

    Parameters
    ----------
    name : object
        A condition, timepoint, region or mask name.

    Returns
    -------
    bool
        Whether it is a non-empty string naming a single folder.
    """
    return isinstance(name, str) and name not in ("", ".", "..") and not _UNSAFE.search(name)


def group_path(root: Path, kind: GroupKind, parts: Sequence[str], mask: str | None = None) -> Path:
    """Where a name-based region's image, segmentation or named mask group lives.

    Parameters
    ----------
    root : Path
        The experiment folder (``Path()`` for a path relative to it).
    kind : {"image", "segmentation", "mask"}
        Which group.
    parts : sequence of str
        The region's folders inside each store: condition, [bio_rep,] [timepoint,] region.
    mask : str, optional
        The threshold name, for ``kind="mask"``.

    Returns
    -------
    Path
        The group's folder.
    """
    if kind == "image":
        return root.joinpath(IMAGES, *parts)
    if kind == "segmentation":
        return root.joinpath(LABELS, *parts)
    return masks_folder(root, parts) / f"{_MASK_PREFIX}{mask}"


def masks_folder(root: Path, parts: Sequence[str]) -> Path:
    """The folder holding a name-based region's mask groups: its path under ``masks.zarr``."""
    return root.joinpath(MASKS, *parts)


def mask_folder_name(folder: Path) -> str | None:
    """The threshold name of a name-based mask group (``threshold_<name>``), else None."""
    if folder.name.startswith(_MASK_PREFIX):
        return folder.name.removeprefix(_MASK_PREFIX)
    return None


@dataclass(frozen=True)
class PercellRegion:
    """Where a region goes inside an experiment.

    Parameters
    ----------
    condition : str
        The condition folder, e.g. ``"control"``.
    region : str
        The region (field of view) name.
    timepoint : str, optional
        The timepoint folder; omitted from the path when None (the usual case).
    """

    condition: str
    region: str
    timepoint: str | None = None

    def __post_init__(self) -> None:
        for what in ("condition", "region", "timepoint"):
            name = getattr(self, what)
            if name is None and what == "timepoint":
                continue
            if not safe_name(name):
                raise InvalidOptionError(
                    f"PerCell {what} name {name!r} cannot be a folder name; use letters, digits, "
                    "'-' or '_'."
                )

    @classmethod
    def from_parts(cls, parts: Sequence[str]) -> PercellRegion:
        """The region at ``(condition, [timepoint,] region)``, as `parts` gives them."""
        if len(parts) not in (2, 3):
            raise InvalidOptionError(
                f"A PerCell region path has a condition, an optional timepoint and a region, "
                f"not {len(parts)} parts ({'/'.join(parts)})."
            )
        return cls(parts[0], parts[-1], parts[1] if len(parts) == 3 else None)

    @classmethod
    def from_metadata(cls, metadata: Mapping | None) -> PercellRegion | None:
        """The region a layer came from (its ``metadata["percell"]``), or None.

        Parameters
        ----------
        metadata : mapping or None
            A layer's metadata, as the PerCell reader fills it.

        Returns
        -------
        PercellRegion or None
            None when the layer names no condition and region.
        """
        key = (metadata or {}).get("percell") or {}
        if key.get("condition") and key.get("region"):
            return cls(key["condition"], key["region"], key.get("timepoint"))
        return None

    @property
    def parts(self) -> tuple[str, ...]:
        """The path inside each store: condition, [timepoint,] region."""
        return tuple(p for p in (self.condition, self.timepoint, self.region) if p is not None)

    def image_path(self, root: Path = Path()) -> Path:
        """The image group: ``<root>/images.zarr/<condition>/[<timepoint>/]<region>``."""
        return group_path(root, "image", self.parts)

    def labels_path(self, root: Path = Path()) -> Path:
        """The segmentation group: the image's path under ``labels.zarr``."""
        return group_path(root, "segmentation", self.parts)

    def masks_path(self, root: Path = Path()) -> Path:
        """The folder holding the region's mask groups: its path under ``masks.zarr``."""
        return masks_folder(root, self.parts)

    def mask_path(self, name: str, root: Path = Path()) -> Path:
        """A threshold's mask group: ``<masks_path>/threshold_<name>``."""
        return group_path(root, "mask", self.parts, name)

    def group_paths(
        self, root: Path, *, segmentation: bool, masks: Iterable[str] = ()
    ) -> list[Path]:
        """The groups a write of this region produces: image, [segmentation,] masks.

        Parameters
        ----------
        root : Path
            The experiment folder.
        segmentation : bool
            Whether a segmentation is written.
        masks : iterable of str
            The threshold names.

        Returns
        -------
        list of Path
            In the order they are planned.
        """
        paths = [self.image_path(root)]
        paths += [self.labels_path(root)] if segmentation else []
        return paths + [self.mask_path(name, root) for name in masks]

    @property
    def image_source(self) -> str:
        """The image's path as the segmentation group's ``image-label`` source names it."""
        return "../" * (len(self.parts) + 1) + self.image_path().as_posix()


def experiment_path(path: str | Path) -> Path:
    """Return the experiment folder: ``.percell`` is added when the name lacks it."""
    path = local_path(path, what="A .percell experiment")  # refuses URLs, paths inside a file
    return path if path.suffix == ".percell" else path.with_name(path.name + ".percell")


def next_free_region(
    root: Path, condition: str, pending: Iterable[Sequence[str]] = ()
) -> PercellRegion:
    """The first ``region_<n>`` of ``condition`` that is neither on disk nor pending.

    Parameters
    ----------
    root : Path
        The experiment folder.
    condition : str
        The condition.
    pending : iterable of sequence of str
        The parts of regions whose replacement was committed but not finished: the next
        write finishes them, so their names are taken.

    Returns
    -------
    PercellRegion
        The region, without a timepoint.
    """
    folder = root / IMAGES / condition
    taken = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    taken |= {parts[-1] for parts in pending if parts[0] == condition}
    number = 1
    while f"{_REGION_PREFIX}{number}" in taken:
        number += 1
    return PercellRegion(condition, f"{_REGION_PREFIX}{number}")


# PerCell 3's id-based layout (read only).


def fov_group(root: Path, fov_id: object) -> Path:
    """A field of view's image group: ``images.zarr/fov_<id>``."""
    return root / IMAGES / f"{_FOV_PREFIX}{fov_id}"


def is_fov_group(path: Path) -> bool:
    """True when ``path`` is named like an id-based field of view (``fov_<id>``)."""
    return path.name.startswith(_FOV_PREFIX)


def segmentation_group(root: Path, run_id: object) -> Path:
    """A segmentation run's label group: ``labels.zarr/seg_<id>``."""
    return root / LABELS / f"seg_{run_id}"


def threshold_group(root: Path, run_id: object) -> Path:
    """A threshold run's group: ``masks.zarr/thresh_<id>`` (``mask`` and ``particles``)."""
    return root / MASKS / f"thresh_{run_id}"


def mask_parts(path: Path) -> tuple[Path, Path, Path | None]:
    """A mask group's folder, the group holding its mask array, and its particle labels.

    Parameters
    ----------
    path : Path
        ``threshold_<name>`` (name-based), ``thresh_<id>`` or ``thresh_<id>/mask`` (id-based).

    Returns
    -------
    tuple of (Path, Path, Path or None)
        The threshold's group, the group whose ``0`` array is the mask (``<group>/mask`` when
        present, else the group), and ``<group>/particles`` when it holds labels (else None).
    """
    group = path.parent if path.name == _MASK_ARRAY_GROUP else path
    mask = group / _MASK_ARRAY_GROUP
    particles = group / _PARTICLES_GROUP
    return (
        group,
        mask if mask.is_dir() else group,
        particles if (particles / "0").is_dir() else None,
    )

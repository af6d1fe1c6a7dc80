"""Write a region into a ``.percell`` experiment, in the design document's name-based layout.

``images.zarr/<condition>/[<timepoint>/]<region>`` holds the channels (C, [Z,] Y, X);
``labels.zarr/<same path>`` the int32 segmentation; ``masks.zarr/<same path>/threshold_<name>``
each uint8 0/255 mask. Chunks and codecs follow the design's table; metadata is NGFF 0.4.
A folder that is neither absent, empty nor a PerCell experiment is refused before anything is
written (`target.py`). All of a region's groups are staged in
full, then the replacement is committed by a journal and carried out, so that a reader sees the
whole old region or the whole new one at every instant (`percell_journal`); other regions are
never touched, and ``experiment.db`` is updated after the groups, in one transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import zarr

from napari_omezarr_export.core.errors import InvalidOptionError
from napari_omezarr_export.core.layouts.percell.database_write import PERCELL_VERSION, RegionRecord
from napari_omezarr_export.core.layouts.percell.journal import (
    commit,
    finish_replacements,
    pending_regions,
    replay,
)
from napari_omezarr_export.core.layouts.percell.names import (
    DEFAULT_CONDITION,
    STORES,
    GroupKind,
    PercellRegion,
    experiment_path,
    mask_folder_name,
    next_free_region,
)
from napari_omezarr_export.core.layouts.percell.target import check_experiment_target
from napari_omezarr_export.core.options import (
    ChannelStyle,
    LabelsSpec,
    PyramidOptions,
    StorageOptions,
)
from napari_omezarr_export.core.progress import Progress
from napari_omezarr_export.core.write.plan import GroupPlan
from napari_omezarr_export.core.write.plan_export import (
    check_label_names,
    plan_image_export,
    plan_labels_like,
)
from napari_omezarr_export.core.write.staging import is_zarr_store, staged_directory
from napari_omezarr_export.core.write.store_writer import (
    attributes_for,
    iter_fill_stage,
)

__all__ = [
    "PercellRegion",
    "RegionJob",
    "RegionPlan",
    "free_region",
    "iter_write_percell_region",
    "plan_percell_region",
    "preview_percell_region",
    "write_percell_region",
]

# The design document's chunking table: (codec, level) per kind of data.
IMAGE_CODEC = ("blosc-lz4", 5)
LABEL_CODEC = ("blosc-lz4", 5)
MASK_CODEC = ("blosc-zstd", 3)
LABELS_PYRAMID = PyramidOptions(label_method="nearest")


def _storage(ndim: int, codec: tuple[str, int]) -> StorageOptions:
    chunks = (1, 10, 512, 512) if ndim == 4 else (1, 512, 512) if ndim == 3 else (512, 512)
    # blocksize=0: Blosc's own block size, as PerCell's own writer leaves it.
    return StorageOptions(
        ngff_version="0.4", chunks=chunks, codec=codec[0], level=codec[1], blocksize=0
    )


def _ensure_groups(root: Path, where: PercellRegion) -> None:
    """Create the three stores and the condition/timepoint groups a region needs."""
    root.mkdir(parents=True, exist_ok=True)
    parts = where.parts
    for store in STORES:
        top = zarr.open_group(root / store, mode="a", zarr_format=2)
        if "percell_version" not in top.attrs:
            top.attrs["percell_version"] = PERCELL_VERSION
        for depth in range(1, len(parts)):
            top.require_group("/".join(parts[:depth]))
    zarr.open_group(where.masks_path(root), mode="a", zarr_format=2)


def _mask_spec(spec: LabelsSpec) -> LabelsSpec:
    """A mask as PerCell stores it: uint8, 0 or 255, shown in magenta."""
    data = spec.data
    if isinstance(data, np.ndarray):
        binary = np.where(data > 0, 255, 0).astype(np.uint8)
    else:
        import dask.array as da

        binary = da.where(da.asarray(data) > 0, 255, 0).astype(np.uint8)
    return replace(spec, data=binary, colors={255: (255, 0, 255, 255)}, properties=None)


def _as_int32(spec: LabelsSpec) -> Any:
    """The segmentation as int32, PerCell's label type, refusing what would not fit exactly."""
    data = spec.data
    dtype = np.dtype(data.dtype)
    if dtype.kind == "b" or (dtype.kind in "iu" and np.can_cast(dtype, np.int32)):
        return data.astype(np.int32)
    if dtype.kind not in "iu":
        raise InvalidOptionError(
            f"Segmentation {spec.name!r} has dtype {dtype}; label images hold integers. Convert "
            "it with .astype('int32') first."
        )
    import dask.array as da

    low, high = (int(v) for v in da.compute(da.min(data), da.max(data)))
    info = np.iinfo(np.int32)
    if low < info.min or high > info.max:
        raise InvalidOptionError(
            f"Segmentation {spec.name!r} holds label ids up to {high}, beyond int32, which "
            "PerCell stores; relabel it (for example skimage.segmentation.relabel_sequential)."
        )
    return data.astype(np.int32)


def _follow_image(spec: LabelsSpec, image: GroupPlan, storage: StorageOptions) -> GroupPlan:
    """Plan labels or a mask at the root of its own group, following the region's image."""
    return plan_labels_like(spec, image, pyramid=LABELS_PYRAMID, storage=storage, path="")


class RegionJob(NamedTuple):
    """One group of a region: its plan, target folder and storage, and which group it is."""

    plan: GroupPlan
    target: Path
    storage: StorageOptions
    kind: GroupKind
    mask: str | None = None


@dataclass(frozen=True)
class RegionPlan:
    """A region's groups (the image first), and the labels' image path."""

    jobs: list[RegionJob]
    label_source: str

    @property
    def image(self) -> GroupPlan:
        """The region's image plan."""
        return self.jobs[0].plan


def plan_percell_region(
    data: Any,
    experiment: str | Path,
    where: PercellRegion,
    *,
    channels: Sequence[ChannelStyle],
    segmentation: LabelsSpec | None = None,
    masks: Sequence[LabelsSpec] = (),
    scale: Sequence[float] | None = None,
    units: Sequence[object] | None = None,
    axes: str | None = None,
) -> RegionPlan:
    """Plan a region's image, segmentation and masks (see `write_percell_region`); no writing."""
    root = experiment_path(experiment)
    check_experiment_target(root)
    check_label_names(masks)
    image_storage = _storage(len(data.shape), IMAGE_CODEC)
    [image] = plan_image_export(
        data, axes=axes, scale=scale, units=units, channels=channels, name=where.region,
        storage=image_storage,
    )  # fmt: skip
    jobs = [RegionJob(image, where.image_path(root), image_storage, "image")]
    if segmentation is not None:
        storage = _storage(2, LABEL_CODEC)
        seg = replace(segmentation, data=_as_int32(segmentation))
        target = where.labels_path(root)
        jobs.append(RegionJob(_follow_image(seg, image, storage), target, storage, "segmentation"))
    for spec in masks:
        storage = _storage(2, MASK_CODEC)
        plan = _follow_image(_mask_spec(spec), image, storage)
        jobs.append(RegionJob(plan, where.mask_path(spec.name, root), storage, "mask", spec.name))
    return RegionPlan(jobs, where.image_source)


def preview_percell_region(
    data: Any, experiment: str | Path, where: PercellRegion, **options: Any
) -> dict[str, dict]:
    """Return exactly the attributes `write_percell_region` would write, without writing.

    Parameters
    ----------
    data, experiment, where, **options
        As for `write_percell_region` (``experiment_name`` is ignored).

    Returns
    -------
    dict of str to dict
        Attributes per group, keyed by its path inside the experiment folder.
    """
    options.pop("experiment_name", None)
    region = plan_percell_region(data, experiment, where, **options)
    root = experiment_path(experiment)
    previews = {}
    source = region.label_source
    for job in region.jobs:
        attrs = attributes_for([job.plan], job.storage.ngff_version, label_source=source)
        previews[job.target.relative_to(root).as_posix()] = attrs[""]
    return previews


Group = tuple[GroupKind, str | None]


def _dropped_groups(root: Path, where: PercellRegion, written: set[Path]) -> list[Group]:
    """A replaced region's old segmentation and masks that the new one does not have."""
    old: list[tuple[Path, Group]] = [(where.labels_path(root), ("segmentation", None))]
    masks = where.masks_path(root)
    for folder in sorted(masks.iterdir()) if masks.is_dir() else ():
        if (name := mask_folder_name(folder)) is not None:
            old.append((folder, ("mask", name)))
    return [group for path, group in old if path not in written and is_zarr_store(path)]


def free_region(experiment: str | Path, condition: str = DEFAULT_CONDITION) -> PercellRegion:
    """The first ``region_<n>`` of ``condition`` not yet in the experiment (nor being saved).

    Parameters
    ----------
    experiment : str or Path
        The experiment folder (``.percell`` is added when missing).
    condition : str
        The condition.

    Returns
    -------
    PercellRegion
        A region no write has taken.
    """
    root = experiment_path(experiment)
    return next_free_region(root, condition, pending_regions(root))


def iter_write_percell_region(
    data: Any,
    experiment: str | Path,
    where: PercellRegion,
    *,
    experiment_name: str | None = None,
    **options: Any,
) -> Iterator[Progress]:
    """Write a region like `write_percell_region`, yielding ``(groups done, groups total)``."""
    root = experiment_path(experiment)
    region = plan_percell_region(data, experiment, where, **options)
    jobs, source = region.jobs, region.label_source
    finish_replacements(root, where.parts)  # what a killed write committed comes first
    _ensure_groups(root, where)
    record = RegionRecord.of(
        where, region.image, has_labels=options.get("segmentation") is not None,
        mask_names=[s.name for s in options.get("masks", ())],
        experiment_name=experiment_name or root.stem,
    )  # fmt: skip
    # Every group is staged in full first: a failure or a Cancel until then leaves the old
    # region whole. The journal then commits the replacement, and `replay` carries it out.
    with contextlib.ExitStack() as stages_left:
        stages = [stages_left.enter_context(staged_directory(j.target, swap=False)) for j in jobs]
        for done, (job, stage) in enumerate(zip(jobs, stages, strict=True)):
            for _ in iter_fill_stage([job.plan], stage, job.storage, label_source=source):
                yield done, len(jobs)
        staged = [(j.kind, j.mask, s) for j, s in zip(jobs, stages, strict=True)]
        dropped = _dropped_groups(root, where, {j.target for j in jobs})
        journal = commit(root, record, [*staged[1:], staged[0]], dropped)  # the image last
    replay(journal)
    yield len(jobs), len(jobs)


def write_percell_region(
    data: Any, experiment: str | Path, where: PercellRegion, **options: Any
) -> list[Path]:
    """Write an image, its segmentation and masks as a region of a ``.percell`` experiment.

    A new experiment folder is created when none exists (or an empty folder becomes one); an
    existing experiment gets the region appended, or the same-named region replaced all at
    once: a reader sees the whole old region or the whole new one, even after a kill, and the
    next write finishes a replacement cut short. No other region is touched. A folder that
    holds other things, or a file, at ``experiment`` is refused and left as it was.
    ``experiment.db`` records the experiment, channels, conditions, timepoints and the region,
    with paths relative to the folder.

    Parameters
    ----------
    data : array-like
        The channels, (C, Y, X) or (C, Z, Y, X).
    experiment : str or Path
        The ``.percell`` folder (the suffix is added when missing).
    where : PercellRegion
        Condition, optional timepoint, and region names.
    **options
        ``channels`` (one `ChannelStyle` per channel, required), ``segmentation`` (a
        `LabelsSpec`), ``masks`` (`LabelsSpec` per threshold, named after it), ``scale``,
        ``units``, ``axes`` and ``experiment_name``.

    Returns
    -------
    list of Path
        The image, labels and mask groups written.

    Raises
    ------
    TargetExistsError
        When ``experiment`` is a file or a folder that is not empty and not an experiment.
    """
    for _ in iter_write_percell_region(data, experiment, where, **options):
        pass
    return where.group_paths(
        experiment_path(experiment),
        segmentation=options.get("segmentation") is not None,
        masks=[m.name for m in options.get("masks", ())],
    )

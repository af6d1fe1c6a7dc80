"""Write a region into a ``.percell`` experiment, in the design document's name-based layout.

``images.zarr/<condition>/[<timepoint>/]<region>`` holds the channels (C, [Z,] Y, X);
``labels.zarr/<same path>`` the int32 segmentation; ``masks.zarr/<same path>/threshold_<name>``
each uint8 0/255 mask. Chunks and codecs follow the design's table; metadata is NGFF 0.4.
A folder that is neither absent, empty nor a PerCell experiment is refused before anything is
written (`target`). The plan (`region_plan`) writes every group of the region all at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Required, TypedDict, Unpack

import numpy as np

from napari_omezarr_export.core.errors import InvalidOptionError
from napari_omezarr_export.core.layouts.percell.journal import pending_regions
from napari_omezarr_export.core.layouts.percell.names import (
    DEFAULT_CONDITION,
    PercellRegion,
    experiment_path,
    next_free_region,
)
from napari_omezarr_export.core.layouts.percell.region_plan import RegionJob, RegionPlan
from napari_omezarr_export.core.layouts.percell.target import check_experiment_target
from napari_omezarr_export.core.options import (
    ChannelStyle,
    ImageOptions,
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

__all__ = [
    "PercellRegion",
    "RegionOptions",
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


class RegionOptions(TypedDict, total=False):
    """The keyword options of the region verbs (see `write_percell_region`)."""

    channels: Required[Sequence[ChannelStyle]]
    segmentation: LabelsSpec | None
    masks: Sequence[LabelsSpec]
    scale: Sequence[float] | None
    units: Sequence[object] | None
    axes: str | None
    experiment_name: str | None


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
    experiment_name: str | None = None,
) -> RegionPlan:
    """Plan a region's image, segmentation and masks; nothing is written.

    Parameters
    ----------
    data, experiment, where, channels, segmentation, masks, scale, units, axes, experiment_name
        As for `write_percell_region`.

    Returns
    -------
    RegionPlan
        The plan, to preview, list the paths of, or run.

    Raises
    ------
    TargetExistsError
        When ``experiment`` is a file or a folder that is not empty and not an experiment.
    """
    root = experiment_path(experiment)
    check_experiment_target(root)
    check_label_names(masks)
    image_storage = _storage(len(data.shape), IMAGE_CODEC)
    options = ImageOptions(
        axes=axes, scale=scale, units=units, channels=channels, name=where.region,
        storage=image_storage,
    )  # fmt: skip
    [image] = plan_image_export(data, options)
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
    return RegionPlan(root, where, jobs, experiment_name or root.stem)


def preview_percell_region(
    data: Any, experiment: str | Path, where: PercellRegion, **options: Unpack[RegionOptions]
) -> dict[str, dict]:
    """Return exactly the attributes `write_percell_region` would write, without writing.

    Parameters
    ----------
    data, experiment, where, **options
        As for `write_percell_region`.

    Returns
    -------
    dict of str to dict
        Attributes per group, keyed by its path inside the experiment folder.
    """
    return plan_percell_region(data, experiment, where, **options).preview()


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
    data: Any, experiment: str | Path, where: PercellRegion, **options: Unpack[RegionOptions]
) -> Iterator[Progress]:
    """Write a region like `write_percell_region`, yielding ``(groups done, groups total)``."""
    yield from plan_percell_region(data, experiment, where, **options).iter_run()


def write_percell_region(
    data: Any, experiment: str | Path, where: PercellRegion, **options: Unpack[RegionOptions]
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
    **options : RegionOptions
        Keyword-only, typed: ``channels`` (one `ChannelStyle` per channel, required);
        ``segmentation`` (a `LabelsSpec`, saved as int32 under ``labels.zarr``); ``masks``
        (one `LabelsSpec` per threshold, named after it, saved as uint8 0/255); ``scale`` and
        ``units`` per axis; ``axes`` (``"cyx"`` or ``"czyx"``); ``experiment_name`` (what
        ``experiment.db`` records for a new experiment; the folder's name by default).

    Returns
    -------
    list of Path
        The image, labels and mask groups written.

    Raises
    ------
    TargetExistsError
        When ``experiment`` is a file or a folder that is not empty and not an experiment.
    """
    return plan_percell_region(data, experiment, where, **options).run()

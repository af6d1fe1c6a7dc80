"""A PerCell region planned: preview it, list its groups, then write it all at once.

All of a region's groups are staged in full, then the replacement is committed by a journal
and carried out (`journal`), so that a reader sees the whole old region or the whole new one
at every instant; other regions are never touched, and ``experiment.db`` is updated after the
groups, in one transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import zarr

from napari_omezarr_export.core.layouts.percell.database_write import PERCELL_VERSION, RegionRecord
from napari_omezarr_export.core.layouts.percell.journal import commit, finish_replacements, replay
from napari_omezarr_export.core.layouts.percell.names import (
    STORES,
    GroupKind,
    PercellRegion,
    mask_folder_name,
)
from napari_omezarr_export.core.options import StorageOptions
from napari_omezarr_export.core.progress import Progress
from napari_omezarr_export.core.write.plan import GroupPlan
from napari_omezarr_export.core.write.staging import is_zarr_store, staged_directory
from napari_omezarr_export.core.write.store_attributes import attributes_for
from napari_omezarr_export.core.write.store_writer import iter_fill_stage

__all__ = ["RegionJob", "RegionPlan"]


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


class RegionJob(NamedTuple):
    """One group of a region: its plan, target folder and storage, and which group it is."""

    plan: GroupPlan
    target: Path
    storage: StorageOptions
    kind: GroupKind
    mask: str | None = None


Group = tuple[GroupKind, str | None]


def _dropped_groups(root: Path, where: PercellRegion, written: set[Path]) -> list[Group]:
    """A replaced region's old segmentation and masks that the new one does not have."""
    old: list[tuple[Path, Group]] = [(where.labels_path(root), ("segmentation", None))]
    masks = where.masks_path(root)
    for folder in sorted(masks.iterdir()) if masks.is_dir() else ():
        if (name := mask_folder_name(folder)) is not None:
            old.append((folder, ("mask", name)))
    return [group for path, group in old if path not in written and is_zarr_store(path)]


@dataclass(frozen=True)
class RegionPlan:
    """A region's groups, planned: preview them, list their paths, then write them.

    Parameters
    ----------
    root : Path
        The experiment folder.
    where : PercellRegion
        The region's names.
    jobs : list of RegionJob
        The image first, then the segmentation and the masks.
    experiment_name : str
        The name ``experiment.db`` records for a new experiment.
    """

    root: Path
    where: PercellRegion
    jobs: list[RegionJob]
    experiment_name: str

    @property
    def image(self) -> GroupPlan:
        """The region's image plan."""
        return self.jobs[0].plan

    @property
    def paths(self) -> list[Path]:
        """The groups a write produces: image, [segmentation,] masks."""
        return [job.target for job in self.jobs]

    def preview(self) -> dict[str, dict]:
        """Return exactly the attributes `run` writes, keyed by path inside the experiment."""
        source = self.where.image_source
        return {
            job.target.relative_to(self.root).as_posix(): attributes_for(
                [job.plan], job.storage.ngff_version, label_source=source
            )[""]
            for job in self.jobs
        }

    def iter_run(self) -> Iterator[Progress]:
        """Write the region all at once (see `write_percell_region`), yielding groups done."""
        root, where, jobs = self.root, self.where, self.jobs
        finish_replacements(root, where.parts)  # what a killed write committed comes first
        _ensure_groups(root, where)
        record = RegionRecord.of(
            where, self.image, has_labels=any(j.kind == "segmentation" for j in jobs),
            mask_names=[j.mask for j in jobs if j.mask is not None],
            experiment_name=self.experiment_name,
        )  # fmt: skip
        # Every group is staged in full first: a failure or a Cancel until then leaves the old
        # region whole. The journal then commits the replacement, and `replay` carries it out.
        with contextlib.ExitStack() as stages_left:
            stages = [
                stages_left.enter_context(staged_directory(j.target, swap=False)) for j in jobs
            ]
            for done, (job, stage) in enumerate(zip(jobs, stages, strict=True)):
                steps = iter_fill_stage(
                    [job.plan], stage, job.storage, label_source=where.image_source
                )
                for _ in steps:
                    yield done, len(jobs)
            staged = [(j.kind, j.mask, s) for j, s in zip(jobs, stages, strict=True)]
            dropped = _dropped_groups(root, where, set(self.paths))
            journal = commit(root, record, [*staged[1:], staged[0]], dropped)  # the image last
        replay(journal)
        yield len(jobs), len(jobs)

    def run(self) -> list[Path]:
        """Write the region; return the groups written."""
        for _ in self.iter_run():
            pass
        return self.paths

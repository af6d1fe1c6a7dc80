"""`ExportPlan`: one planned write you can preview, list the paths of, then run.

A plan is made once (by `napari_omezarr_export.core.api.plan_image` or ``plan_labels``), with
every option checked, and never changes after. `ExportPlan.preview` returns exactly the
attributes `ExportPlan.run` writes, from the same code; what the metadata needs from the data
(value ranges, label values) is read by `ExportPlan.summarize`, whose result a caller may keep
and hand back to skip the reading next time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from napari_omezarr_export.core.errors import InvalidOptionError
from napari_omezarr_export.core.ngff.attributes import group_attributes, labels_group
from napari_omezarr_export.core.options import StorageOptions
from napari_omezarr_export.core.progress import Progress
from napari_omezarr_export.core.stores import StorePath
from napari_omezarr_export.core.write.object_store import remote_group_attributes
from napari_omezarr_export.core.write.plan import DataSummary, GroupPlan, new_summary
from napari_omezarr_export.core.write.store_attributes import (
    attributes_for,
    group_attributes_for,
    labels_after,
    labels_list_attributes,
    scan_group,
)
from napari_omezarr_export.core.write.store_writer import iter_add_labels, iter_write_store

__all__ = ["ExportPlan"]


def _same_tracking(known: DataSummary, fresh: DataSummary) -> bool:
    """True when a kept summary gathered what a fresh one would (same axis, same tracking)."""
    return (known.channel_axis, known.track_range, known.track_values) == (
        fresh.channel_axis,
        fresh.track_range,
        fresh.track_values,
    )


@dataclass(frozen=True)
class ExportPlan:
    """A planned write: the groups, where they go and how they are stored.

    Parameters
    ----------
    target : Path or UPath or None
        The store written to (a local folder or ``.ozx`` file, or an object-store location);
        None for a plan made only to be previewed.
    groups : tuple of GroupPlan
        The image (path ``""``) then its labels; or label images alone.
    storage : StorageOptions
        Format and codec (an existing image's format when adding labels to it).
    existing_labels : tuple of str, optional
        When the labels are added to the existing image at ``target``: the label names it
        lists already. None for a new store.
    label_source : str or None
        ``image-label.source.image`` of the label groups (None for labels without an image).
    """

    target: StorePath | None
    groups: tuple[GroupPlan, ...]
    storage: StorageOptions
    existing_labels: tuple[str, ...] | None = None
    label_source: str | None = "../../"

    @property
    def adds_to_image(self) -> bool:
        """True when the labels go into the existing image at `target`, which is not touched."""
        return self.existing_labels is not None

    @property
    def paths(self) -> list[StorePath]:
        """The stores or groups the plan writes: the image store, or each label group.

        Returns
        -------
        list of Path or UPath
            Empty for a plan without a target.
        """
        if self.target is None:
            return []
        if any(not group.path for group in self.groups):
            return [self.target]
        return [self.target / group.path for group in self.groups]

    def summarize(self, known: Sequence[DataSummary | None] | None = None) -> list[DataSummary]:
        """Return what the metadata needs from each group's data, reading only what is unknown.

        Parameters
        ----------
        known : sequence of DataSummary or None, optional
            Summaries kept from an earlier plan of the same data, one per group (None where
            unknown); one that tracked something else is read again.

        Returns
        -------
        list of DataSummary
            One per group, to pass to `preview`.
        """
        known = list(known) if known is not None else [None] * len(self.groups)
        summaries = []
        for group, kept in zip(self.groups, known, strict=True):
            usable = kept is not None and _same_tracking(kept, new_summary(group))
            summaries.append(kept if usable else scan_group(group))
        return summaries

    def preview(self, summaries: Sequence[DataSummary] | None = None) -> dict[str, dict]:
        """Return exactly the attributes `run` writes, keyed by group path inside the store.

        Parameters
        ----------
        summaries : sequence of DataSummary, optional
            From `summarize`; by default the data is read now.

        Returns
        -------
        dict of str to dict
            For a new store: ``""`` (the image or a single label image), ``labels`` and
            ``labels/<name>``, or each label image. For labels added to an image: ``labels``
            and ``labels/<name>``.
        """
        summaries = self.summarize() if summaries is None else summaries
        version = self.storage.ngff_version
        if not self.adds_to_image:
            return attributes_for(
                self.groups, version, label_source=self.label_source, summaries=summaries
            )
        attrs = {
            group.path: group_attributes_for(group, summary, version)
            for group, summary in zip(self.groups, summaries, strict=True)
        }
        names = labels_after(self.existing_labels, self.groups)
        labels_dir = self.target / "labels"
        if isinstance(labels_dir, Path):
            attrs["labels"] = labels_list_attributes(labels_dir, names, self.storage)
        else:
            listing = group_attributes(labels_group(names), version)
            attrs["labels"] = {**remote_group_attributes(labels_dir), **listing}
        return attrs

    def iter_run(self, *, client: Any = None) -> Iterator[Progress]:
        """Write the plan, yielding ``(chunks done, chunks total)``; close it to cancel.

        Closing the generator removes the staging folder: the target keeps its old content. (An
        object store's upload, once begun, cannot keep it: see
        `napari_omezarr_export.core.write.object_store`.)

        Parameters
        ----------
        client : distributed.Client, bool or None
            The dask.distributed cluster that writes dask arrays of a new store (see
            `napari_omezarr_export.core.write.distributed`): None uses the active client, if
            any; False writes in this process. Labels added to an existing image are always
            written in this process.

        Yields
        ------
        tuple of int
            Progress in chunks.

        Raises
        ------
        InvalidOptionError
            For a plan made without a target.
        """
        if self.target is None:
            raise InvalidOptionError(
                "This export was planned without a destination, so it can only be previewed; "
                "plan it again with the path to write to."
            )
        if self.adds_to_image:
            yield from iter_add_labels(
                self.groups, self.target, self.storage, self.existing_labels
            )
            return
        yield from iter_write_store(
            self.groups, self.target, self.storage, label_source=self.label_source, client=client
        )

    def run(self, *, client: Any = None) -> list[StorePath]:
        """Write the plan.

        Parameters
        ----------
        client : distributed.Client, bool or None
            As for `iter_run`.

        Returns
        -------
        list of Path or UPath
            `paths`: the stores or groups written.
        """
        for _ in self.iter_run(client=client):
            pass
        return self.paths

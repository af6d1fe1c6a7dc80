"""Carry out export plans: create the zarr arrays, stream the levels, then write the metadata.

Writes are generators that yield ``(chunks done, chunks total)`` after every batch of chunks,
so a caller can show progress and cancel by closing the generator: the staging folder is then
removed and the target keeps its old content (see `napari_omezarr_export.core.write.staging`).
What the metadata says is decided in `napari_omezarr_export.core.write.store_attributes`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import zarr

from napari_omezarr_export.core.options import StorageOptions
from napari_omezarr_export.core.progress import Progress
from napari_omezarr_export.core.write.band_writer import count_chunks, iter_write_levels
from napari_omezarr_export.core.write.codecs import compressors_for
from napari_omezarr_export.core.write.plan import DataSummary, GroupPlan, new_summary, source_data
from napari_omezarr_export.core.write.staging import staged_directory, update_group_attributes
from napari_omezarr_export.core.write.store_attributes import (
    attributes_for,
    group_attributes_for,
    labels_after,
)

__all__ = [
    "iter_add_labels",
    "iter_fill_stage",
    "iter_write_store",
    "total_chunks",
]


def _create_levels(group: zarr.Group, plan: GroupPlan, storage: StorageOptions) -> list:
    fmt = storage.zarr_format
    extra: dict[str, Any] = (
        {"chunk_key_encoding": {"name": "v2", "separator": "/"}}
        if fmt == 2
        else {"dimension_names": list(plan.axis_names)}
    )
    arrays = []
    for level, shape in enumerate(plan.level_shapes):
        chunks = tuple(min(c, n) for c, n in zip(plan.chunks, shape, strict=True))
        if fmt == 3 and plan.shards is not None:
            extra["shards"] = tuple(
                math.ceil(min(s, n) / c) * c
                for s, n, c in zip(plan.shards, shape, chunks, strict=True)
            )
        arrays.append(
            group.create_array(
                name=str(level),
                shape=shape,
                chunks=chunks,
                dtype=plan.dtype,
                compressors=compressors_for(storage, plan.dtype.itemsize),
                fill_value=0,
                **extra,
            )
        )
    return arrays


def total_chunks(plans: Sequence[GroupPlan]) -> int:
    """Return how many chunks the plans write across all levels."""
    return sum(
        count_chunks(shape, [min(c, n) for c, n in zip(p.chunks, shape, strict=True)])
        for p in plans
        for shape in p.level_shapes
    )


def _iter_fill_group(
    group: zarr.Group,
    plan: GroupPlan,
    storage: StorageOptions,
    summary: DataSummary,
    done: int,
    total: int,
) -> Iterator[Progress]:
    """Write one plan's levels into ``group``, folding its data into ``summary``."""
    arrays = _create_levels(group, plan, storage)
    observe = summary.observe if (summary.track_range or summary.track_values) else None
    for n in iter_write_levels(
        source_data(plan), arrays, plan.factors, plan.method, observe=observe
    ):
        done += n
        yield done, total


def _iter_fill(
    root: zarr.Group,
    plans: Sequence[GroupPlan],
    storage: StorageOptions,
    summaries: list[DataSummary],
    total: int,
) -> Iterator[Progress]:
    """Write every plan at its path under ``root``; ``summaries`` gets one per plan."""
    done = 0
    for plan in plans:
        summaries.append(new_summary(plan))
        group = root if not plan.path else root.require_group(plan.path)
        progress = (done, total)
        for progress in _iter_fill_group(group, plan, storage, summaries[-1], done, total):
            yield progress
        done = progress[0]


def iter_write_store(
    plans: Sequence[GroupPlan],
    target: Path,
    storage: StorageOptions,
    *,
    label_source: str | None = "../../",
) -> Iterator[Progress]:
    """Write a whole new store at ``target`` (replacing a zarr store there) from ``plans``.

    Parameters
    ----------
    plans : sequence of GroupPlan
        The image (path ``""``) and its labels, or label images alone.
    target : Path
        Destination store.
    storage : StorageOptions
        Format and codec.
    label_source : str or None
        ``image-label.source.image`` of label images (None for labels without an image).

    Yields
    ------
    tuple of int
        Chunks written so far and in all.
    """
    total = total_chunks(plans)
    with staged_directory(target) as stage:
        yield from iter_fill_stage(plans, stage, storage, label_source=label_source)
    yield total, total


def iter_fill_stage(
    plans: Sequence[GroupPlan],
    stage: Path,
    storage: StorageOptions,
    *,
    label_source: str | None = "../../",
) -> Iterator[Progress]:
    """Write a whole store into an empty staging folder: arrays first, attributes last.

    Parameters
    ----------
    plans, storage, label_source
        As for `iter_write_store`.
    stage : Path
        A folder from `napari_omezarr_export.core.write.staging.staged_directory`.

    Yields
    ------
    tuple of int
        Chunks written so far and in all.
    """
    total = total_chunks(plans)
    root = zarr.open_group(stage, mode="w", zarr_format=storage.zarr_format)
    summaries: list[DataSummary] = []
    yield from _iter_fill(root, plans, storage, summaries, total)
    attrs = attributes_for(
        plans, storage.ngff_version, label_source=label_source, summaries=summaries
    )
    for path, group_attrs in attrs.items():
        (root if not path else root[path]).attrs.update(group_attrs)


def iter_add_labels(
    plans: Sequence[GroupPlan],
    image: Path,
    storage: StorageOptions,
    existing: Sequence[str],
) -> Iterator[Progress]:
    """Add or replace label images inside an existing image store; the image is not touched.

    Each label image is staged inside ``labels/`` and swapped in whole; the ``labels`` list is
    updated last, in one atomic file replacement.

    Parameters
    ----------
    plans : sequence of GroupPlan
        Label plans with paths ``labels/<name>``.
    image : Path
        The existing image store.
    storage : StorageOptions
        Format (must match the image's) and codec.
    existing : sequence of str
        The label names the image lists already.

    Yields
    ------
    tuple of int
        Chunks written so far and in all.
    """
    total, done = total_chunks(plans), 0
    labels_dir = image / "labels"
    fmt = storage.zarr_format
    zarr.open_group(labels_dir, mode="a", zarr_format=fmt)
    for plan in plans:
        with staged_directory(image / plan.path) as stage:
            root = zarr.open_group(stage, mode="w", zarr_format=fmt)
            summary = new_summary(plan)
            progress = (done, total)
            for progress in _iter_fill_group(root, plan, storage, summary, done, total):
                yield progress
            done = progress[0]
            root.attrs.update(group_attributes_for(plan, summary, storage.ngff_version))
    _write_labels_list(labels_dir, labels_after(existing, plans), storage)
    yield total, total


def _write_labels_list(labels_dir: Path, names: Sequence[str], storage: StorageOptions) -> None:
    update_group_attributes(labels_dir, "labels", lambda _old: list(names), storage.ngff_version)

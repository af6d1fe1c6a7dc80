"""Carry out export plans: create the zarr arrays, stream the levels, then write the metadata.

Writes are generators that yield ``(chunks done, chunks total)`` after every batch of chunks,
so a caller can show progress and cancel by closing the generator: the staging folder is then
removed and the target keeps its old content (see `napari_omezarr_export.core.write.staging`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from napari_omezarr_export.core.ngff.attributes import (
    display_attributes,
    group_attributes,
    image_label,
    labels_group,
    level_transforms,
    multiscales,
    omero,
)
from napari_omezarr_export.core.options import ChannelStyle, StorageOptions
from napari_omezarr_export.core.progress import Progress
from napari_omezarr_export.core.read.zarr_nodes import has_zarr_metadata
from napari_omezarr_export.core.write.band_writer import (
    count_chunks,
    iter_bands,
    iter_write_levels,
)
from napari_omezarr_export.core.write.codecs import compressors_for
from napari_omezarr_export.core.write.plan import DataSummary, GroupPlan, new_summary
from napari_omezarr_export.core.write.staging import atomic_write_json, staged_directory

__all__ = [
    "attributes_for",
    "group_attributes_for",
    "iter_add_labels",
    "iter_fill_stage",
    "iter_write_store",
    "scan_data",
    "scan_group",
]

NEUTRAL_RGBA = (128, 128, 128, 255)
log = logging.getLogger(__name__)


class _Converted:
    """A read-only view of an array that converts each read block to ``dtype``."""

    def __init__(self, data: Any, dtype: np.dtype) -> None:
        self._data, self.dtype, self.shape = data, dtype, tuple(data.shape)

    def __getitem__(self, index: Any) -> np.ndarray:
        return np.asarray(self._data[index]).astype(self.dtype, copy=False)


def _source(plan: GroupPlan) -> Any:
    if np.dtype(plan.data.dtype) == plan.dtype:
        return plan.data
    return _Converted(plan.data, plan.dtype)


def _label_colors(
    plan: GroupPlan, summary: DataSummary, extra: set[int]
) -> dict[int, list[int]] | None:
    """Colours for the label values present in the data, plus ``extra`` ones."""
    spec = plan.labels_spec
    if spec is None or spec.colors is None or summary.too_many_values:
        return None
    found = sorted(summary.values | extra)
    if not found:
        return None
    wide = found[-1] > np.iinfo(np.int64).max  # uint64 labels beyond int64
    values = np.array(found, dtype=np.uint64 if wide else np.int64)
    if callable(spec.colors):
        raw = np.asarray(spec.colors(values))
        rgba = raw * 255.0 if raw.dtype.kind == "f" else raw.astype(np.float64)
        rgba = np.clip(np.rint(rgba), 0, 255).astype(int)
        colors = {int(v): [int(c) for c in row] for v, row in zip(values, rgba, strict=True)}
        if colors.get(0, [0, 0, 0, 1])[3] == 0:
            del colors[0]  # a transparent background is every reader's default: leave it out
        return colors
    return {int(v): list(spec.colors[v]) for v in values if int(v) in spec.colors}


def _label_tables(plan: GroupPlan, summary: DataSummary) -> tuple[dict | None, list[dict] | None]:
    """Colours and properties listing the same label values, as validators require."""
    spec = plan.labels_spec
    properties = [dict(row) for row in (spec.properties or [])] if spec else []
    described = {int(row["label-value"]) for row in properties}
    colors = _label_colors(plan, summary, described)
    if colors:
        properties += [{"label-value": v} for v in sorted(set(colors) - described)]
        properties.sort(key=lambda row: row["label-value"])
        uncolored = sorted(described - set(colors))
        if uncolored:  # never drop a user's properties: give their labels a neutral colour
            log.warning(
                "Labels %r: values %s have properties but no colour; they are listed in gray.",
                plan.name, uncolored[:10],
            )  # fmt: skip
            colors.update({v: list(NEUTRAL_RGBA) for v in uncolored})
    return colors, properties or None


def _group_ome(
    plan: GroupPlan, summary: DataSummary, version: str, source_image: str | None
) -> dict:
    transforms = level_transforms(
        plan.scale, plan.translation, plan.factors, len(plan.level_shapes)
    )
    ome: dict[str, Any] = {}
    if plan.kind == "labels":
        colors, properties = _label_tables(plan, summary)
        ome["image-label"] = image_label(
            version, colors=colors, properties=properties, source_image=source_image
        )
    ome["multiscales"] = multiscales(
        plan.axes, transforms, name=plan.name, version=version, method=plan.method
    )
    if plan.kind == "image":
        ranges = [summary.value_range(i, plan.dtype) for i in range(len(plan.channels))]
        data_ranges = [summary.data_range(i, plan.dtype) for i in range(len(plan.channels))]
        styles = [
            _fill_window(style, data_range)
            for style, data_range in zip(plan.channels, data_ranges, strict=True)
        ]
        z_size = plan.level_shapes[0][plan.axis_names.index("z")] if "z" in plan.axis_names else 1
        ome["omero"] = omero(
            styles, ranges, name=plan.name, version=version, default_z=z_size // 2
        )
    return ome


def _fill_window(style: ChannelStyle, data_range: tuple[float, float]) -> ChannelStyle:
    start = data_range[0] if style.start is None else style.start
    end = data_range[1] if style.end is None else style.end
    return replace(style, start=start, end=end)


def group_attributes_for(
    plan: GroupPlan, summary: DataSummary, version: str, label_source: str | None = "../../"
) -> dict[str, Any]:
    """Return one group's attributes, wherever the group is written.

    Parameters
    ----------
    plan : GroupPlan
        The planned group.
    summary : DataSummary
        What its data held (from `scan_data`, or gathered while writing).
    version : {"0.4", "0.5"}
        NGFF version.
    label_source : str or None
        ``image-label.source.image`` of a label image, as for `attributes_for`.

    Returns
    -------
    dict
        The group's attributes.
    """
    attrs = group_attributes(_group_ome(plan, summary, version, label_source), version)
    if plan.labels_spec is not None:
        spec = plan.labels_spec
        attrs.update(display_attributes(spec.visible, spec.opacity))
    return attrs


def attributes_for(
    plans: Sequence[GroupPlan],
    version: str,
    *,
    label_source: str | None = "../../",
    summaries: Sequence[DataSummary] | None = None,
) -> dict[str, dict]:
    """Return every group's attributes, keyed by path inside the store (``""`` is the root).

    Parameters
    ----------
    plans : sequence of GroupPlan
        The planned groups.
    version : {"0.4", "0.5"}
        NGFF version.
    label_source : str or None
        ``image-label.source.image``: the image relative to each label image (``"../../"``
        under an image's ``labels/``), or None for labels without an image.
    summaries : sequence of DataSummary, optional
        One per plan: what its data held (gathered while writing, or by `scan_data`); by
        default the data is read now.

    Returns
    -------
    dict of str to dict
        Attributes per group path.
    """
    summaries = scan_data(plans) if summaries is None else summaries
    attrs = {
        plan.path: group_attributes_for(plan, summary, version, label_source)
        for plan, summary in zip(plans, summaries, strict=True)
    }
    label_plans = [p for p in plans if p.kind == "labels" and p.path]
    if label_plans:
        label_names = [p.path.rsplit("/", 1)[-1] for p in label_plans]
        last = label_plans[-1].path
        parent = last.rsplit("/", 1)[0] if "/" in last else ""
        attrs[parent] = {
            **attrs.get(parent, {}),
            **group_attributes(labels_group(label_names), version),
        }
    return attrs


def scan_group(plan: GroupPlan) -> DataSummary:
    """Return what ``plan``'s metadata needs from its data, reading it once without writing.

    Parameters
    ----------
    plan : GroupPlan
        The planned group.

    Returns
    -------
    DataSummary
        Its summary (nothing is read when the metadata needs nothing from the data).
    """
    summary = new_summary(plan)
    if summary.track_range or summary.track_values:
        source = _source(plan)
        for _, index in iter_bands(source.shape, plan.chunks, plan.factors):
            summary.observe(index, np.asarray(source[index]))
    return summary


def scan_data(plans: Sequence[GroupPlan]) -> list[DataSummary]:
    """Return each plan's summary by reading its data once, without writing (for previews).

    Parameters
    ----------
    plans : sequence of GroupPlan
        The planned groups.

    Returns
    -------
    list of DataSummary
        One per plan.
    """
    return [scan_group(plan) for plan in plans]


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
    for n in iter_write_levels(_source(plan), arrays, plan.factors, plan.method, observe=observe):
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


def labels_after(existing: Sequence[str], plans: Sequence[GroupPlan]) -> list[str]:
    """The label names an image lists once ``plans`` are added: old ones first, no repeats."""
    return list(dict.fromkeys([*existing, *(p.path.rsplit("/", 1)[-1] for p in plans)]))


def labels_list_attributes(
    labels_dir: Path, names: Sequence[str], storage: StorageOptions
) -> dict[str, Any]:
    """Return the ``labels`` group's attributes once it lists ``names``: its own, updated.

    Parameters
    ----------
    labels_dir : Path
        The image's ``labels`` folder (it may not exist yet).
    names : sequence of str
        Every label image it lists.
    storage : StorageOptions
        The image's format.

    Returns
    -------
    dict
        The attributes to write.
    """
    listing = group_attributes(labels_group(names), storage.ngff_version)
    if not has_zarr_metadata(labels_dir):
        return listing
    group = zarr.open_group(labels_dir, mode="r", zarr_format=storage.zarr_format)
    return {**group.attrs.asdict(), **listing}


def _write_labels_list(labels_dir: Path, names: Sequence[str], storage: StorageOptions) -> None:
    attrs = labels_list_attributes(labels_dir, names, storage)
    if storage.zarr_format == 2:
        atomic_write_json(labels_dir / ".zattrs", attrs)
        return
    document = zarr.open_group(labels_dir, mode="r", zarr_format=3).metadata.to_dict()
    document["attributes"] = attrs
    atomic_write_json(labels_dir / "zarr.json", document)

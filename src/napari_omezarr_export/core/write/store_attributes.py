"""The attributes a write produces: every group's OME metadata, from its plan and its data.

A group's attributes come from its `GroupPlan` and a `DataSummary` of its data (value ranges,
label values), gathered while writing or by `scan_data` for a preview, so a preview and a write
produce the same JSON from the same code. The builders of the spec's blocks themselves are in
`napari_omezarr_export.core.ngff.attributes`; this module decides what goes into them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
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
from napari_omezarr_export.core.read.zarr_nodes import has_zarr_metadata
from napari_omezarr_export.core.write.band_writer import iter_bands
from napari_omezarr_export.core.write.plan import (
    DataSummary,
    GroupPlan,
    new_summary,
    source_data,
)

__all__ = [
    "attributes_for",
    "group_attributes_for",
    "labels_after",
    "labels_list_attributes",
    "scan_data",
    "scan_group",
]

NEUTRAL_RGBA = (128, 128, 128, 255)
log = logging.getLogger(__name__)


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
        ome["omero"] = _image_omero(plan, summary, version)
    return ome


def _image_omero(plan: GroupPlan, summary: DataSummary, version: str) -> dict:
    """The image's ``omero`` block: its channel styles, unset windows filled from the data."""
    ranges = [summary.value_range(i, plan.dtype) for i in range(len(plan.channels))]
    data_ranges = [summary.data_range(i, plan.dtype) for i in range(len(plan.channels))]
    styles = [
        _fill_window(style, data_range)
        for style, data_range in zip(plan.channels, data_ranges, strict=True)
    ]
    z_size = plan.level_shapes[0][plan.axis_names.index("z")] if "z" in plan.axis_names else 1
    return omero(styles, ranges, name=plan.name, version=version, default_z=z_size // 2)


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
    version : {"0.4", "0.5", "0.6"}
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
    version : {"0.4", "0.5", "0.6"}
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
        source = source_data(plan)
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

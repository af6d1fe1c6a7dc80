"""Export plans: what will be written where, decided and validated before any byte is written.

A plan holds, per zarr group, the source array in NGFF order, its axes, level shapes, chunks,
dtype and transforms. The metadata that depends on the data (float value ranges, missing
windows, the label values that get colours) is gathered by a `DataSummary` while the data is
read, so a preview and a write produce the same JSON from the same code. Plans are frozen:
the summaries live beside them (see `new_summary`), never inside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from napari_omezarr_export.core.errors import InvalidOptionError
from napari_omezarr_export.core.ngff.axes import Axis
from napari_omezarr_export.core.options import (
    ChannelStyle,
    LabelsSpec,
    PyramidOptions,
    StorageOptions,
)
from napari_omezarr_export.core.write.chunk_shapes import default_chunks, fit_chunks, fit_shards
from napari_omezarr_export.core.write.pyramid import level_factors, plan_level_shapes

PlanKind = Literal["image", "labels"]

__all__ = [
    "MAX_LABEL_COLORS",
    "DataSummary",
    "GroupPlan",
    "default_chunks",
    "new_summary",
    "source_data",
]

# Label colours are listed for at most this many label values: beyond it the list would
# dwarf the metadata (and readers' parsing) while readers fall back to their own colormap.
MAX_LABEL_COLORS = 10_000


@dataclass
class DataSummary:
    """What the metadata needs to know about the data, gathered band by band."""

    channel_axis: int | None = None
    track_range: bool = False
    track_values: bool = False
    low: dict[int, float] = field(default_factory=dict)
    high: dict[int, float] = field(default_factory=dict)
    values: set[int] = field(default_factory=set)
    too_many_values: bool = False

    def observe(self, index: tuple[slice, ...], band: np.ndarray) -> None:
        """Fold one band of level-0 data into the summary."""
        if self.track_range:
            self._observe_range(index, band)
        if self.track_values and not self.too_many_values:
            self.values.update(int(v) for v in np.unique(band))
            if len(self.values) > MAX_LABEL_COLORS:
                self.too_many_values = True
                self.values.clear()

    def merge(self, other: DataSummary) -> None:
        """Fold in a summary of other bands of the same data (a distributed write's region)."""
        for channel, low in other.low.items():
            self.low[channel] = min(low, self.low.get(channel, low))
        for channel, high in other.high.items():
            self.high[channel] = max(high, self.high.get(channel, high))
        if self.track_values and not self.too_many_values:
            self.too_many_values = other.too_many_values
            self.values.update(other.values)
            if self.too_many_values or len(self.values) > MAX_LABEL_COLORS:
                self.too_many_values = True
                self.values.clear()

    def _observe_range(self, index: tuple[slice, ...], band: np.ndarray) -> None:
        if band.size == 0:
            return
        if self.channel_axis is None:
            groups = {0: band}
        else:
            first = index[self.channel_axis].start
            before = (slice(None),) * self.channel_axis
            groups = {
                first + i: band[(*before, i)]  # a view: np.take would copy the band
                for i in range(band.shape[self.channel_axis])
            }
        for channel, values in groups.items():
            finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
            if finite.size:
                low, high = float(finite.min()), float(finite.max())
                self.low[channel] = min(low, self.low.get(channel, low))
                self.high[channel] = max(high, self.high.get(channel, high))

    def value_range(self, channel: int, dtype: np.dtype) -> tuple[float, float]:
        """Return ``window.min``/``max`` for a channel: dtype range for ints, else data range."""
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            return float(info.min), float(info.max)
        return self.low.get(channel, 0.0), self.high.get(channel, 1.0)

    def data_range(self, channel: int, dtype: np.dtype) -> tuple[float, float]:
        """Return the channel's observed data range (for windows left unset)."""
        fallback = self.value_range(channel, dtype)
        return self.low.get(channel, fallback[0]), self.high.get(channel, fallback[1])


@dataclass(frozen=True)
class GroupPlan:
    """One zarr group of the export: an image or a label image with all its levels.

    ``kind`` is ``"image"`` or ``"labels"``; ``channels`` are the image's styles and
    ``labels_spec`` the labels' own spec (colours, properties, display).
    """

    path: str
    kind: PlanKind
    data: Any
    axes: list[Axis]
    level_shapes: list[tuple[int, ...]]
    chunks: tuple[int, ...]
    shards: tuple[int, ...] | None
    dtype: np.dtype
    method: str
    factors: tuple[int, ...]
    scale: tuple[float, ...]
    translation: tuple[float, ...]
    name: str
    channels: list[ChannelStyle] = field(default_factory=list)
    labels_spec: LabelsSpec | None = None

    @property
    def axis_names(self) -> str:
        """The axes as a string such as ``"cyx"``."""
        return "".join(a.name for a in self.axes)


def new_summary(plan: GroupPlan) -> DataSummary:
    """Return an empty summary that tracks what ``plan``'s metadata needs from its data.

    Parameters
    ----------
    plan : GroupPlan
        The group.

    Returns
    -------
    DataSummary
        Value ranges are tracked for float images and channels without a window; label
        values for labels that list colours.
    """
    names = plan.axis_names
    summary = DataSummary(channel_axis=names.index("c") if "c" in names else None)
    if plan.kind == "image":
        unset = any(c.start is None or c.end is None for c in plan.channels)
        summary.track_range = plan.dtype.kind == "f" or unset
    else:
        summary.track_values = bool(plan.labels_spec and plan.labels_spec.colors is not None)
    return summary


class _Converted:
    """A read-only view of an array that converts each read block to ``dtype``."""

    def __init__(self, data: Any, dtype: np.dtype) -> None:
        self._data, self.dtype, self.shape = data, dtype, tuple(data.shape)

    def __getitem__(self, index: Any) -> np.ndarray:
        return np.asarray(self._data[index]).astype(self.dtype, copy=False)


def source_data(plan: GroupPlan) -> Any:
    """Return ``plan``'s level-0 data as it is read: converted block by block to its dtype.

    Parameters
    ----------
    plan : GroupPlan
        The group.

    Returns
    -------
    array-like
        ``plan.data`` itself when its dtype is the plan's, else a view converting each read.
    """
    if np.dtype(plan.data.dtype) == plan.dtype:
        return plan.data
    return _Converted(plan.data, plan.dtype)


def _stored_dtype(data: Any, kind: PlanKind, name: str) -> np.dtype:
    """The dtype the group is stored as (booleans as uint8); refuse what cannot be stored."""
    dtype = np.dtype(data.dtype)
    if dtype.kind == "b":
        dtype = np.dtype(np.uint8)
    if kind == "labels" and dtype.kind not in "iu":
        raise InvalidOptionError(
            f"Labels {name!r} have dtype {dtype}; label images must hold integers. Convert "
            "them with .astype('int32') first."
        )
    if dtype.kind not in "iuf":
        raise InvalidOptionError(f"Image {name!r} has dtype {dtype}, which OME-Zarr cannot store.")
    return dtype


def _nonempty_shape(data: Any, name: str) -> tuple[int, ...]:
    """The data's shape; refuse an empty dimension."""
    shape = tuple(int(n) for n in data.shape)
    if 0 in shape:
        raise InvalidOptionError(
            f"{name!r} has shape {shape}, with an empty dimension; there is nothing to save."
        )
    return shape


def plan_group(
    *,
    path: str,
    kind: PlanKind,
    data: Any,
    axes: list[Axis],
    scale: Sequence[float],
    translation: Sequence[float],
    name: str,
    pyramid: PyramidOptions,
    storage: StorageOptions,
    n_levels: int | None = None,
    channels: Sequence[ChannelStyle] = (),
    labels_spec: LabelsSpec | None = None,
) -> GroupPlan:
    """Plan one group: level shapes, chunks, shards, method and dtype.

    Parameters
    ----------
    path : str
        The group's path inside the store (``""`` for the root).
    kind : {"image", "labels"}
        What the group holds; decides the downsampling method and dtype rules.
    data : array-like
        Level-0 data in NGFF order.
    axes : list of Axis
        Its axes.
    scale, translation : sequence of float
        Level-0 transforms per axis.
    name : str
        The group's name in the metadata.
    pyramid, storage : PyramidOptions, StorageOptions
        The options.
    n_levels : int, optional
        Force this many levels (labels follow their image).
    channels : sequence of ChannelStyle
        An image's channel styles.
    labels_spec : LabelsSpec, optional
        Labels' own spec (colours, properties, display).

    Returns
    -------
    GroupPlan
        The plan.
    """
    dtype = _stored_dtype(data, kind, name)
    shape = _nonempty_shape(data, name)
    fitted = fit_chunks(shape, storage.chunks)
    factors = level_factors(axes, pyramid.downsample_z)
    level_options = pyramid if n_levels is None else PyramidOptions(levels=n_levels)
    method = pyramid.image_method if kind == "image" else pyramid.label_method
    return GroupPlan(
        path=path,
        kind=kind,
        data=data,
        axes=axes,
        level_shapes=plan_level_shapes(shape, factors, fitted, level_options),
        chunks=fitted,
        shards=fit_shards(shape, fitted, storage.shards),
        dtype=dtype,
        method=method,
        factors=factors,
        scale=tuple(float(s) for s in scale),
        translation=tuple(float(t) for t in translation),
        name=name,
        channels=list(channels),
        labels_spec=labels_spec,
    )

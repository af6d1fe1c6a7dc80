"""Turn what a user gives (arrays, axis names, transforms, styles) into validated plans.

Nothing here writes: `plan_image_export` and friends return `GroupPlan` objects whose shapes,
chunks, axes and transforms are all checked, so a bad option fails before any byte is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from napari_omezarr_export.core.errors import ExportError, InvalidOptionError
from napari_omezarr_export.core.ngff.axes import Axis, resolve_axes
from napari_omezarr_export.core.options import (
    DEFAULT_COLORS,
    MULTI_CHANNEL_COLORS,
    ChannelStyle,
    ImageOptions,
    LabelsSpec,
    PyramidOptions,
    StorageOptions,
)
from napari_omezarr_export.core.write.plan import GroupPlan, plan_group

__all__ = [
    "ResolvedImage",
    "as_label_specs",
    "check_label_names",
    "plan_image_export",
    "plan_labels_like",
    "plan_standalone_labels",
    "resolve_image",
]


def _per_axis(values: Sequence[float] | None, ndim: int, default: float, what: str) -> list:
    if values is None:
        return [default] * ndim
    values = [float(v) for v in values]
    if len(values) != ndim:
        raise InvalidOptionError(
            f"{what} {tuple(values)} has {len(values)} entries but the data has {ndim} "
            "dimensions; give one value per dimension."
        )
    return values


def _in_ngff_order(
    scale: Sequence[float] | None,
    translation: Sequence[float] | None,
    ndim: int,
    order: Sequence[int],
) -> tuple[list[float], list[float]]:
    """Scale and translation per axis (defaults 1 and 0), permuted like the data."""
    scale = _per_axis(scale, ndim, 1.0, "Scale")
    translation = _per_axis(translation, ndim, 0.0, "Translation")
    return [scale[i] for i in order], [translation[i] for i in order]


def channel_styles(channels: Sequence[ChannelStyle | str] | None, count: int) -> list:
    """Return one `ChannelStyle` per channel: as given, made from a bare name, or the default.

    Parameters
    ----------
    channels : sequence of ChannelStyle or str, or None
        The user's channels; None gives ``count`` default styles.
    count : int
        The number of channels when ``channels`` is None.

    Returns
    -------
    list of ChannelStyle
        The styles, in order.
    """
    names = [f"Channel {i}" for i in range(count)] if channels is None else channels
    if isinstance(names, str):
        raise InvalidOptionError(
            f"channels is the single string {names!r}; give a list with one name or "
            "ChannelStyle per channel, such as ['DAPI', 'GFP']."
        )
    colors = DEFAULT_COLORS if len(names) == 1 else MULTI_CHANNEL_COLORS
    styles = []
    for i, channel in enumerate(names):
        if isinstance(channel, str):
            channel = ChannelStyle(channel, colors[i % len(colors)])
        elif not isinstance(channel, ChannelStyle):
            raise InvalidOptionError(
                f"Channel {i} is {channel!r}; give its name as text or a ChannelStyle."
            )
        styles.append(channel)
    return styles


def transpose_lazily(data: Any, order: Sequence[int]) -> Any:
    """Return ``data`` with its axes in ``order``: a numpy view, or a lazy dask array.

    Parameters
    ----------
    data : array-like
        numpy, dask, zarr or joined layers (`Concatenated`).
    order : sequence of int
        The new axis order.

    Returns
    -------
    array-like
        ``data`` itself when the order is unchanged.
    """
    order = tuple(order)
    if order == tuple(range(len(order))):
        return data
    if isinstance(data, np.ndarray):
        return data.transpose(order)
    import dask.array as da

    return da.asarray(data).transpose(order)


@dataclass(frozen=True)
class ResolvedImage:
    """An image's data, axes and transforms in NGFF order (t, c, z, y, x), not yet planned.

    Parameters
    ----------
    data : array-like
        The data, lazily transposed to NGFF order.
    axes : list of Axis
        Its axes, with units.
    scale, translation : list of float
        Level-0 transforms per axis.
    """

    data: Any
    axes: list[Axis]
    scale: list[float]
    translation: list[float]

    @property
    def axis_names(self) -> str:
        """The axes as a string such as ``"cyx"``."""
        return "".join(a.name for a in self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        """Level-0 shape in NGFF order."""
        return tuple(int(n) for n in self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        """The dtype written (booleans are written as uint8)."""
        dtype = np.dtype(self.data.dtype)
        return np.dtype(np.uint8) if dtype.kind == "b" else dtype


def resolve_image(data: Any, options: ImageOptions) -> ResolvedImage:
    """Put an image in NGFF axis order; nothing is read (options as for `plan_image`).

    Parameters
    ----------
    data : array-like
        The image.
    options : ImageOptions
        Its ``axes``, ``scale``, ``translation``, ``units`` and ``channels`` are used.

    Returns
    -------
    ResolvedImage
        Data, axes and transforms in NGFF order.
    """
    axes, units, channels = options.get("axes"), options.get("units"), options.get("channels")
    scale, translation = options.get("scale"), options.get("translation")
    ndim = len(data.shape)
    has_channels = channels is not None and ndim >= 3 and len(channels) == data.shape[0] > 1
    ngff_axes, order = resolve_axes(ndim, axes, units, has_channels=has_channels)
    ordered_scale, ordered_translation = _in_ngff_order(scale, translation, ndim, order)
    return ResolvedImage(
        transpose_lazily(data, order), ngff_axes, ordered_scale, ordered_translation
    )


def _plan_image(
    data: Any, options: ImageOptions, pyramid: PyramidOptions, storage: StorageOptions
) -> GroupPlan:
    image = resolve_image(data, options)
    channels = options.get("channels")
    names = image.axis_names
    n_channels = image.data.shape[names.index("c")] if "c" in names else 1
    styles = channel_styles(channels, n_channels)
    if len(styles) != n_channels:
        raise InvalidOptionError(
            f"{len(styles)} channel styles were given for {n_channels} channels (axes "
            f"{names!r}, shape {tuple(image.data.shape)}); give one style per channel."
        )
    return plan_group(
        path="",
        kind="image",
        data=image.data,
        axes=image.axes,
        scale=image.scale,
        translation=image.translation,
        name=options.get("name", "image"),
        pyramid=pyramid,
        storage=storage,
        channels=styles,
    )


def plan_labels_like(
    spec: LabelsSpec,
    image: GroupPlan,
    *,
    pyramid: PyramidOptions,
    storage: StorageOptions,
    path: str | None = None,
) -> GroupPlan:
    """Plan labels that follow ``image``: its y/x size, transforms, chunks and level count.

    Parameters
    ----------
    spec : LabelsSpec
        The labels.
    image : GroupPlan
        The image they belong to.
    pyramid, storage : PyramidOptions, StorageOptions
        The label method, and the codec (chunks follow the image's by axis name).
    path : str, optional
        The group's path; ``labels/<name>`` under the image by default.

    Returns
    -------
    GroupPlan
        The labels' plan.
    """
    spatial = [a for a in image.axes if a.name != "c"]
    ndim = len(spec.data.shape)
    names = spec.axes or "".join(a.name for a in spatial[-ndim:])
    by_name = {a.name: i for i, a in enumerate(image.axes)}
    if len(names) != ndim or any(n not in by_name for n in names) or ndim < 2:
        raise ExportError(
            f"Labels {spec.name!r} have shape {tuple(spec.data.shape)}, which does not fit image "
            f"{image.name!r} with axes {image.axis_names!r} and shape {image.level_shapes[0]}."
        )
    expected = tuple(image.level_shapes[0][by_name[n]] for n in names)
    if tuple(spec.data.shape) != expected:
        raise ExportError(
            f"Labels {spec.name!r} have shape {tuple(spec.data.shape)} but image "
            f"{image.name!r} has {expected} on axes {names!r}. Labels saved with an image must "
            "match its size; save them on their own instead, or resize them."
        )
    return plan_group(
        path=f"labels/{spec.name}" if path is None else path,
        kind="labels",
        data=spec.data,
        axes=[Axis(n, unit=image.axes[by_name[n]].unit) for n in names],
        scale=[image.scale[by_name[n]] for n in names],
        translation=[image.translation[by_name[n]] for n in names],
        name=spec.name,
        pyramid=pyramid,
        storage=replace(
            storage,
            chunks=tuple(image.chunks[by_name[n]] for n in names),
            shards=tuple(image.shards[by_name[n]] for n in names) if image.shards else None,
        ),
        n_levels=len(image.level_shapes),
        labels_spec=spec,
    )


def as_label_specs(labels: LabelsSpec | Sequence[LabelsSpec]) -> list[LabelsSpec]:
    """One `LabelsSpec` or several, as a list (a single spec needs no list around it)."""
    return [labels] if isinstance(labels, LabelsSpec) else list(labels)


def check_label_names(labels: Sequence[LabelsSpec]) -> None:
    """Raise `InvalidOptionError` for label names that cannot be folders, or that repeat."""
    names = [spec.name for spec in labels]
    for name in names:
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            raise InvalidOptionError(
                f"Label name {name!r} cannot be a folder name; use letters, digits, '-' or '_'."
            )
    if len(set(names)) != len(names):
        raise InvalidOptionError(
            f"Label names {names} repeat; give each labels layer its own name."
        )


def plan_image_export(data: Any, options: ImageOptions) -> list[GroupPlan]:
    """Plan an image export and its labels (options as for `plan_image`); nothing is written.

    Parameters
    ----------
    data : array-like
        The image.
    options : ImageOptions
        The image verbs' keyword options.

    Returns
    -------
    list of GroupPlan
        The image's group first, then one per label image.
    """
    pyramid = options.get("pyramid") or PyramidOptions()
    storage = options.get("storage") or StorageOptions()
    labels = options.get("labels", ())
    labels = as_label_specs(labels)
    check_label_names(labels)
    image = _plan_image(data, options, pyramid, storage)
    return [image, *(plan_labels_like(s, image, pyramid=pyramid, storage=storage) for s in labels)]


def plan_standalone_labels(
    spec: LabelsSpec,
    specs: Sequence[LabelsSpec],
    pyramid: PyramidOptions,
    storage: StorageOptions,
    scale: Sequence[float] | None,
    translation: Sequence[float] | None,
    units: Sequence[object] | None,
) -> GroupPlan:
    """Plan label images written without an image: one at the root, or several side by side."""
    ndim = len(spec.data.shape)
    scale = spec.scale if spec.scale is not None else scale
    translation = spec.translation if spec.translation is not None else translation
    units = spec.units if spec.units is not None else units
    ngff_axes, order = resolve_axes(ndim, spec.axes, units)
    ordered_scale, ordered_translation = _in_ngff_order(scale, translation, ndim, order)
    return plan_group(
        path="" if len(specs) == 1 else spec.name,
        kind="labels",
        data=transpose_lazily(spec.data, order),
        axes=ngff_axes,
        scale=ordered_scale,
        translation=ordered_translation,
        name=spec.name,
        pyramid=pyramid,
        storage=storage,
        labels_spec=spec,
    )

"""Write Brieflow per-image OME-Zarr exports, as the pipeline's export design lays them out.

``<root>/<step>/omezarr/{well}_{tile}__{type}.zarr`` for the steps ``preprocess``, ``sbs`` and
``phenotype``; phenotype images carry ``labels/nuclei`` and ``labels/cells``. NGFF 0.4 on zarr
v2, mean pyramids for images and nearest for labels, chunks (1, 1024, 1024), Blosc zstd, an
omero ``window`` on every channel and lowercase axes (other viewers refuse stores without).
SBS cycles are the ``t`` axis, or flattened into channels named ``C<cycle>-<channel>``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, Required, TypedDict, Unpack, get_args

import numpy as np

from napari_omezarr_export.core.api import iter_write_image, preview_metadata, write_image
from napari_omezarr_export.core.errors import InvalidOptionError
from napari_omezarr_export.core.layouts.brieflow.names import Step, brieflow_store_path
from napari_omezarr_export.core.options import (
    ChannelStyle,
    LabelsSpec,
    PyramidOptions,
    StorageOptions,
    check_choice,
)
from napari_omezarr_export.core.progress import Progress
from napari_omezarr_export.core.write.plan_export import channel_styles

__all__ = [
    "BrieflowOptions",
    "brieflow_image_arguments",
    "flatten_cycles",
    "iter_write_brieflow_image",
    "preview_brieflow_image",
    "write_brieflow_image",
]

Cycles = Literal["none", "axis", "flatten"]  # SBS cycles: none, the t axis, or flattened
STORAGE = StorageOptions(ngff_version="0.4")  # Blosc zstd, as the design asks
PYRAMID = PyramidOptions(image_method="mean", label_method="nearest")


def flatten_cycles(
    data: Any, channels: Sequence[ChannelStyle | str]
) -> tuple[Any, list[ChannelStyle]]:
    """Turn (cycle, channel, y, x) into (cycle * channel, y, x) with ``C<k>-<name>`` names.

    Parameters
    ----------
    data : array-like
        SBS images with the cycle first.
    channels : sequence of ChannelStyle or str
        One style or name per channel of a cycle (e.g. DAPI, G, T, A, C).

    Returns
    -------
    tuple
        The flattened array and one style per flattened channel.
    """
    cycles, per_cycle = data.shape[0], data.shape[1]
    channels = channel_styles(channels, per_cycle)
    if len(channels) != per_cycle:
        raise InvalidOptionError(
            f"{len(channels)} channel styles were given for {per_cycle} channels per cycle."
        )
    if not isinstance(data, np.ndarray):
        import dask.array as da

        data = da.asarray(data)  # a lazy reshape (layers joined by the widget included)
    flat = data.reshape((cycles * per_cycle, *data.shape[2:]))
    styles = [
        replace(style, label=f"C{cycle + 1}-{style.label}")
        for cycle in range(cycles)
        for style in channels
    ]
    return flat, styles


def brieflow_image_arguments(
    data: Any,
    root: str | Path,
    *,
    step: Step,
    well: str,
    tile: str | int,
    channels: Sequence[ChannelStyle],
    image_type: str | None = None,
    cycles: Cycles = "none",
    nuclei: Any = None,
    cells: Any = None,
    scale: Sequence[float] | None = None,
    units: Sequence[object] | None = None,
) -> tuple[Any, Path, dict[str, Any]]:
    """Return the data, store path and `write_image` options of a Brieflow per-image store.

    Parameters
    ----------
    data, root, step, well, tile, channels, image_type, cycles, nuclei, cells, scale, units
        As for `write_brieflow_image` (its ``**options``).

    Returns
    -------
    tuple
        The (possibly cycle-flattened) data, the store path and the keyword options.
    """
    check_choice("Cycle handling", cycles, get_args(Cycles))
    target = brieflow_store_path(root, step=step, well=well, tile=tile, image_type=image_type)
    axes = "cyx" if len(data.shape) == 3 else None
    if cycles == "flatten":
        data, channels = flatten_cycles(data, channels)
        axes = "cyx"
        scale = None if scale is None else scale[1:]
        units = None if units is None else units[1:]
    elif cycles == "axis":
        axes = "tcyx"
    labels = [LabelsSpec(d, n) for n, d in (("nuclei", nuclei), ("cells", cells)) if d is not None]
    options = {
        "axes": axes, "channels": channel_styles(channels, 0), "scale": scale, "units": units,
        "name": target.stem, "labels": labels, "pyramid": PYRAMID, "storage": STORAGE,
    }  # fmt: skip
    return data, target, options


class BrieflowOptions(TypedDict, total=False):
    """The keyword options of the Brieflow verbs (see `write_brieflow_image`)."""

    step: Required[Step]
    well: Required[str]
    tile: Required[str | int]
    channels: Required[Sequence[ChannelStyle]]
    image_type: str | None
    cycles: Cycles
    nuclei: Any
    cells: Any
    scale: Sequence[float] | None
    units: Sequence[object] | None


def iter_write_brieflow_image(
    data: Any, root: str | Path, **options: Unpack[BrieflowOptions]
) -> Iterator[Progress]:
    """Write like `write_brieflow_image`, yielding ``(chunks done, chunks total)``."""
    data, target, write_options = brieflow_image_arguments(data, root, **options)
    yield from iter_write_image(data, target, **write_options)


def preview_brieflow_image(
    data: Any, root: str | Path, **options: Unpack[BrieflowOptions]
) -> dict[str, dict]:
    """Return exactly the attributes `write_brieflow_image` would write, without writing."""
    data, _, write_options = brieflow_image_arguments(data, root, **options)
    return preview_metadata(data, **write_options)


def write_brieflow_image(
    data: Any, root: str | Path, **options: Unpack[BrieflowOptions]
) -> list[Path]:
    """Write one Brieflow per-image store, with its nuclei and cells labels when given.

    Parameters
    ----------
    data : array-like
        (c, y, x), or for SBS (cycle, c, y, x).
    root : str or Path
        The Brieflow run folder; the store goes to ``<step>/omezarr/``.
    **options : BrieflowOptions
        Keyword-only, typed: ``step`` (``"preprocess"``, ``"sbs"`` or ``"phenotype"``),
        ``well`` (e.g. ``"A1"``), ``tile`` (e.g. ``0``) and ``channels`` (one `ChannelStyle`
        per channel of a cycle) are required; ``image_type`` (by default ``image``,
        ``sbs_aligned`` or ``phenotype`` by step); ``cycles`` (``"none"``, ``"axis"`` to keep
        SBS cycles as the t axis, or ``"flatten"`` for ``C<k>-<name>`` channels); ``nuclei``
        and ``cells`` label arrays (``labels/nuclei``, ``labels/cells``); ``scale`` and
        ``units`` per axis.

    Returns
    -------
    list of Path
        The store written.
    """
    data, target, write_options = brieflow_image_arguments(data, root, **options)
    write_image(data, target, **write_options)
    return [target]

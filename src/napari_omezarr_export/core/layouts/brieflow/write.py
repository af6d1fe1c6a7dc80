"""Write Brieflow per-image OME-Zarr exports, as the pipeline's export design lays them out.

``<root>/<step>/omezarr/{well}_{tile}__{type}.zarr`` for the steps ``preprocess``, ``sbs`` and
``phenotype``; phenotype images carry ``labels/nuclei`` and ``labels/cells``. NGFF 0.4 on zarr
v2, mean pyramids for images and nearest for labels, chunks (1, 1024, 1024), Blosc zstd, an
omero ``window`` on every channel and lowercase axes (other viewers refuse stores without).
SBS cycles are the ``t`` axis, or flattened into channels named ``C<cycle>-<channel>``.

``layout="plate"`` writes what Brieflow's newer branch writes instead: the tile as field
``<tile>`` of well ``<row>/<column>`` in the NGFF 0.5 plate ``<root>/<step>/{type}_{plate}.zarr``
(one plate per image type), 5-D ``tczyx`` images with ``tzyx`` labels (``zyx`` when SBS cycles
are the t axis), one level (no pyramid); ``names`` holds the path rules.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, NamedTuple, Required, TypedDict, Unpack, get_args

import numpy as np

from napari_omezarr_export.core.api import (
    iter_write_image,
    iter_write_plate_field,
    preview_metadata,
    write_image,
    write_plate_field,
)
from napari_omezarr_export.core.errors import InvalidOptionError
from napari_omezarr_export.core.layouts.brieflow.names import (
    LABELLED_PLATE_TYPE,
    PLATE_STEPS,
    Step,
    brieflow_plate_path,
    brieflow_store_path,
)
from napari_omezarr_export.core.options import (
    ChannelStyle,
    LabelsSpec,
    PyramidOptions,
    StorageOptions,
    check_choice,
)
from napari_omezarr_export.core.progress import Progress
from napari_omezarr_export.core.write.plan_export import channel_styles
from napari_omezarr_export.core.write.plate import split_well

__all__ = [
    "BrieflowOptions",
    "PlateField",
    "brieflow_image_arguments",
    "brieflow_plate_arguments",
    "flatten_cycles",
    "iter_write_brieflow_image",
    "preview_brieflow_image",
    "write_brieflow_image",
]

Cycles = Literal["none", "axis", "flatten"]  # SBS cycles: none, the t axis, or flattened
Layout = Literal["per_image", "plate"]
STORAGE = StorageOptions(ngff_version="0.4")  # Blosc zstd, as the design asks
PYRAMID = PyramidOptions(image_method="mean", label_method="nearest")
# Brieflow's newer branch: NGFF 0.5 (zarr v3) plates of one-level images.
PLATE_STORAGE = StorageOptions(ngff_version="0.5")
PLATE_PYRAMID = PyramidOptions(levels=1, image_method="mean", label_method="nearest")
_NGFF = "tczyx"


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


def _cycles_flattened(
    data: Any, channels: Sequence[ChannelStyle], scale: Any, units: Any
) -> tuple[Any, list[ChannelStyle], Any, Any]:
    """`flatten_cycles`, with the cycle axis's scale and unit dropped too."""
    data, styles = flatten_cycles(data, channels)
    return data, styles, None if scale is None else scale[1:], None if units is None else units[1:]


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
        data, channels, scale, units = _cycles_flattened(data, channels, scale, units)
        axes = "cyx"
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
    layout: Layout
    plate: str | int | None


class PlateField(NamedTuple):
    """Where `brieflow_plate_arguments` puts a tile: the plate, the well and the field."""

    plate: Path
    well: str
    field: int


def _expand(data: Any, axes: str, wanted: str = _NGFF) -> Any:
    """``data`` on ``axes`` given size-1 axes up to ``wanted`` (both in tczyx order)."""
    shape = tuple(data.shape[axes.index(a)] if a in axes else 1 for a in wanted)
    if isinstance(data, np.ndarray):
        return data.reshape(shape)
    import dask.array as da

    return da.asarray(data).reshape(shape)  # lazy; zarr arrays and joined layers included


def _per_axis(values: Sequence[Any] | None, axes: str, fill: Any) -> list[Any] | None:
    """Per-axis values given for ``axes``, spread over tczyx with ``fill`` on the added axes."""
    if values is None:
        return None
    if len(values) != len(axes):
        raise InvalidOptionError(
            f"{len(values)} scale or unit values were given for the {len(axes)} axes "
            f"{axes!r} of the data; give one per axis."
        )
    given = dict(zip(axes, values, strict=True))
    return [given.get(a, fill) for a in _NGFF]


def brieflow_plate_arguments(
    data: Any,
    root: str | Path,
    *,
    step: Step,
    well: str,
    tile: str | int,
    channels: Sequence[ChannelStyle],
    plate: str | int | None = None,
    image_type: str | None = None,
    cycles: Cycles = "none",
    nuclei: Any = None,
    cells: Any = None,
    scale: Sequence[float] | None = None,
    units: Sequence[object] | None = None,
) -> tuple[Any, PlateField, dict[str, Any]]:
    """Return the 5-D data, the plate field and `write_plate_field` options of a Brieflow tile.

    Parameters
    ----------
    data, root, step, well, tile, channels, plate, image_type, cycles, nuclei, cells, scale, units
        As for `write_brieflow_image` with ``layout="plate"``.

    Returns
    -------
    tuple
        The data as (t, c, z, y, x), where it goes, and the keyword options.
    """
    check_choice("Cycle handling", cycles, get_args(Cycles))
    if step not in PLATE_STEPS:
        raise InvalidOptionError(
            f"Brieflow step {step!r} has no plate layout: Brieflow's plates hold the sbs and "
            "phenotype tiles (its preprocess stores nest each cycle under a tile, which is not "
            "an HCS field). Use step='sbs' or 'phenotype', or layout='per_image'."
        )
    if plate is None:
        raise InvalidOptionError(
            "A Brieflow plate layout needs the plate, such as plate=1: it is part of the "
            "plate's name ({type}_{plate}.zarr). Nothing was written."
        )
    image_type = image_type or LABELLED_PLATE_TYPE
    if (nuclei is not None or cells is not None) and image_type != LABELLED_PLATE_TYPE:
        raise InvalidOptionError(
            f"Brieflow keeps a tile's nuclei and cells labels in the {LABELLED_PLATE_TYPE!r} "
            f"plate, not the {image_type!r} one; write them with image_type="
            f"{LABELLED_PLATE_TYPE!r}, or leave them out. Nothing was written."
        )
    if not str(tile).isdigit():
        raise InvalidOptionError(
            f"Brieflow tile {tile!r} cannot be a plate field: fields are tile numbers such as "
            "0 or 12."
        )
    split_well(well)  # a well name that is not letters then digits is refused here
    where = PlateField(
        brieflow_plate_path(root, step=step, plate=plate, image_type=image_type), well, int(tile)
    )
    axes = {2: "yx", 3: "cyx", 4: "czyx"}.get(len(data.shape))
    if cycles == "flatten":
        data, channels, scale, units = _cycles_flattened(data, channels, scale, units)
        axes = "cyx"
    elif cycles == "axis":
        axes = "tcyx" if len(data.shape) == 4 else None
    if axes is None:
        raise InvalidOptionError(
            f"Brieflow tiles are (y, x), (c, y, x) or (c, z, y, x), or (cycle, c, y, x) with "
            f"cycles='axis' or 'flatten'; this one has shape {tuple(data.shape)}."
        )
    # Brieflow's labels are (1, 1, 1, y, x) tczyx; labels saved here have no c axis, and keep
    # t only when the image has one time point (SBS cycles on t share one segmentation).
    label_axes = "zyx" if cycles == "axis" else "tzyx"
    labels = [
        LabelsSpec(_expand(d, "yx", label_axes), n, axes=label_axes)
        for n, d in (("nuclei", nuclei), ("cells", cells))
        if d is not None
    ]
    options = {
        "axes": _NGFF, "channels": channel_styles(channels, 0),
        "scale": _per_axis(scale, axes, 1.0), "units": _per_axis(units, axes, None),
        "name": f"P-{plate}_W-{well}_T-{tile}", "labels": labels, "pyramid": PLATE_PYRAMID,
        "storage": PLATE_STORAGE,
    }  # fmt: skip
    return _expand(data, axes), where, options


def _layout(options: dict[str, Any]) -> Layout:
    """Pop and check the ``layout`` and ``plate`` options: per-image stores take no plate."""
    layout = options.pop("layout", "per_image")
    check_choice("Brieflow layout", layout, get_args(Layout))
    if layout == "per_image" and options.pop("plate", None) is not None:
        raise InvalidOptionError(
            "plate= is only used with layout='plate': the per-image stores' names carry no "
            "plate ({well}_{tile}__{type}.zarr). Add layout='plate', or leave plate out."
        )
    return layout


def iter_write_brieflow_image(
    data: Any, root: str | Path, **options: Unpack[BrieflowOptions]
) -> Iterator[Progress]:
    """Write like `write_brieflow_image`, yielding ``(chunks done, chunks total)``."""
    if _layout(options) == "plate":
        data, where, plate_options = brieflow_plate_arguments(data, root, **options)
        yield from iter_write_plate_field(
            data, where.plate, well=where.well, field=where.field, **plate_options
        )
        return
    data, target, write_options = brieflow_image_arguments(data, root, **options)
    yield from iter_write_image(data, target, **write_options)


def preview_brieflow_image(
    data: Any, root: str | Path, **options: Unpack[BrieflowOptions]
) -> dict[str, dict]:
    """Return exactly the attributes `write_brieflow_image` would write, without writing.

    With ``layout="plate"``, these are the field's (the plate and well lists are not shown).
    """
    if _layout(options) == "plate":
        data, _, write_options = brieflow_plate_arguments(data, root, **options)
    else:
        data, _, write_options = brieflow_image_arguments(data, root, **options)
    return preview_metadata(data, **write_options)


def write_brieflow_image(
    data: Any, root: str | Path, **options: Unpack[BrieflowOptions]
) -> list[Path]:
    """Write one Brieflow tile, with its nuclei and cells labels when given.

    By default (``layout="per_image"``) the tile is its own store,
    ``<root>/<step>/omezarr/{well}_{tile}__{type}.zarr`` (NGFF 0.4, as the export design asks).
    With ``layout="plate"`` it is what Brieflow's newer branch writes: field ``<tile>`` of well
    ``<row>/<column>`` (``A1`` -> ``A/1``) in the NGFF 0.5 plate
    ``<root>/<step>/{type}_{plate}.zarr``, one plate per image type, created when needed; the
    image is 5-D ``tczyx`` and its labels ``tzyx`` (``zyx`` with ``cycles="axis"``), with one
    level. The field is added or replaced in one atomic step (see `write_plate_field`); other
    fields stay as they were.

    Parameters
    ----------
    data : array-like
        (c, y, x), or for SBS (cycle, c, y, x); with ``layout="plate"`` also (y, x) or
        (c, z, y, x).
    root : str or Path
        The Brieflow run folder; the store goes to ``<step>/omezarr/`` (or the plate to
        ``<step>/``).
    **options : BrieflowOptions
        Keyword-only, typed: ``step`` (``"preprocess"``, ``"sbs"`` or ``"phenotype"``),
        ``well`` (e.g. ``"A1"``), ``tile`` (e.g. ``0``) and ``channels`` (one `ChannelStyle`
        per channel of a cycle) are required; ``image_type`` (by default ``image``,
        ``sbs_aligned`` or ``phenotype`` by step); ``cycles`` (``"none"``, ``"axis"`` to keep
        SBS cycles as the t axis, or ``"flatten"`` for ``C<k>-<name>`` channels); ``nuclei``
        and ``cells`` label arrays (``labels/nuclei``, ``labels/cells``); ``scale`` and
        ``units`` per axis of ``data``; ``layout`` (``"per_image"`` or ``"plate"``) and, for
        a plate, ``plate`` (e.g. ``1``). In a plate, ``image_type`` is by default ``aligned``,
        the only plate Brieflow keeps labels in, and ``tile`` is a number.

    Returns
    -------
    list of Path
        The store written (for a plate, the field's folder).

    Raises
    ------
    InvalidOptionError
        For options that cannot be written, before anything is written: a plate layout for
        ``preprocess`` or without ``plate``, labels outside the ``aligned`` plate, a well
        name that is not letters then digits.
    """
    if _layout(options) == "plate":
        data, where, plate_options = brieflow_plate_arguments(data, root, **options)
        return write_plate_field(
            data, where.plate, well=where.well, field=where.field, **plate_options
        )
    data, target, write_options = brieflow_image_arguments(data, root, **options)
    write_image(data, target, **write_options)
    return [target]

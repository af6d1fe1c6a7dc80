"""What a plate holds: its grid of wells, and its fields' metadata, read concurrently."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from napari_omezarr_export.core.errors import StoreFormatError
from napari_omezarr_export.core.read.multiscales import multiscale_axes
from napari_omezarr_export.core.read.zarr_nodes import (
    CheckedArray,
    child_path,
    has_zarr_metadata,
    map_in_session,
    open_array,
    prefetch_nodes,
    read_node_meta,
)

__all__ = [
    "MAX_FIELDS",
    "MAX_WELLS",
    "FieldImage",
    "Grid",
    "Well",
    "compatible",
    "field_labels",
    "open_fields",
    "read_field",
    "read_grid",
    "well_fields",
]

logger = logging.getLogger(__name__)

MAX_WELLS = 10_000  # a 1536-well plate is the largest made; more is a broken declaration
MAX_FIELDS = 10_000  # fields a well may list (each is a slider position of the whole plate)
_METADATA_THREADS = 16  # metadata files are small: many at once hide each file's latency
_FIX = " Fix the plate's metadata or open a well or field folder directly."


@dataclass(frozen=True)
class Well:
    """One well of a plate: its name, grid position and field image folders."""

    name: str
    row: int
    column: int
    fields: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class Grid:
    """The wells laid out on a plate: row and column names, and the wells found.

    ``zarr_format`` is the plate's (2 or 3): every well and field has the same, so a remote
    store is asked only for the metadata files of that format.
    """

    path: Path
    rows: list[str]
    columns: list[str]
    wells: list[Well]
    zarr_format: int | None = None


def _names(attrs: dict[str, Any], key: str, path: Path) -> list[str]:
    entries = attrs.get(key)
    if not isinstance(entries, list) or not entries:
        raise StoreFormatError(f"{path}: plate '{key}' must be a non-empty list.{_FIX}")
    if len(entries) > MAX_WELLS:
        raise StoreFormatError(
            f"{path} declares {len(entries):,} plate {key}; a plate has at most {MAX_WELLS:,} "
            f"wells.{_FIX}"
        )
    names = [e.get("name") if isinstance(e, dict) else None for e in entries]
    if not all(isinstance(n, str) and n for n in names):
        raise StoreFormatError(f"{path}: every plate '{key}' entry needs a 'name'.{_FIX}")
    return names


def _index(entry: dict, key: str, odd: list[str]) -> int | None:
    """A well entry's ``rowIndex`` or ``columnIndex``; one of another type is noted in ``odd``."""
    value = entry.get(key)
    if value is None:
        return None
    if type(value) is not int:  # a bool is an int to Python, not to the spec
        odd.append(f"{key} {value!r} is not an integer")
        return None
    return value


def _well_position(
    entry: dict, rows: list[str], columns: list[str], odd: list[str]
) -> tuple[int, int] | None:
    """Row and column index of a well entry: its indices (0.4+), else its path ``A/1``.

    An index of the wrong type is noted in ``odd`` (and the path used instead).
    """
    parts = str(entry.get("path", "")).split("/")
    row, column = _index(entry, "rowIndex", odd), _index(entry, "columnIndex", odd)
    if row is None and len(parts) == 2 and parts[0] in rows:
        row = rows.index(parts[0])
    if column is None and len(parts) == 2 and parts[1] in columns:
        column = columns.index(parts[1])
    if row is not None and column is not None:
        if 0 <= row < len(rows) and 0 <= column < len(columns):
            return row, column
    return None


def well_fields(well_path: Path, *, zarr_format: int | None = None) -> list[Path | str]:
    """The field image folders a well lists (``well.images``), in order.

    Parameters
    ----------
    well_path : Path
        The well group.
    zarr_format : int, optional
        The plate's zarr format, when known.

    Returns
    -------
    list of Path or str
        One folder per field; empty when the well lists none. A field whose path is not a
        relative path inside the well is not followed: its entry is the reason instead.
    """
    well = read_node_meta(well_path, zarr_format=zarr_format, node_type="group").attrs.get("well")
    images = well.get("images") if isinstance(well, dict) else None
    if not isinstance(images, list):
        return []
    if len(images) > MAX_FIELDS:
        raise StoreFormatError(
            f"{well_path} lists {len(images):,} fields; a well has at most {MAX_FIELDS:,}.{_FIX}"
        )
    fields: list[Path | str] = []
    for image in images:
        try:
            path = image.get("path") if isinstance(image, dict) else image
            fields.append(child_path(well_path, path, what="field path"))
        except StoreFormatError as exc:
            fields.append(str(exc))
    return fields


def read_grid(path: Path, attrs: dict[str, Any], *, zarr_format: int | None = None) -> Grid:
    """Parse a plate's ``plate`` attribute into its grid of wells; nothing else is read.

    Parameters
    ----------
    path : Path
        The plate group.
    attrs : dict
        Its attributes.
    zarr_format : int, optional
        Its zarr format, when known.

    Returns
    -------
    Grid
        Rows, columns and the wells listed (well groups are not opened yet).

    Raises
    ------
    StoreFormatError
        For a malformed ``plate`` block, naming the plate and what is wrong.
    """
    plate = attrs.get("plate")
    if not isinstance(plate, dict):
        raise StoreFormatError(f"{path}: 'plate' must be an object.{_FIX}")
    rows, columns = _names(plate, "rows", path), _names(plate, "columns", path)
    if len(rows) * len(columns) > MAX_WELLS:
        raise StoreFormatError(
            f"{path} declares {len(rows):,} rows x {len(columns):,} columns = "
            f"{len(rows) * len(columns):,} wells; a plate has at most {MAX_WELLS:,} "
            f"(1536-well plates are the largest made).{_FIX}"
        )
    entries = plate.get("wells")
    if not isinstance(entries, list) or not entries:
        raise StoreFormatError(f"{path}: plate 'wells' must be a non-empty list.{_FIX}")
    if len(entries) > MAX_WELLS:
        raise StoreFormatError(
            f"{path} declares {len(entries):,} wells; a plate has at most {MAX_WELLS:,} "
            f"(1536-well plates are the largest made).{_FIX}"
        )
    wells, unplaced, odd = [], [], []
    for entry in entries:
        place = _well_position(entry, rows, columns, odd) if isinstance(entry, dict) else None
        if place is None:
            unplaced.append(entry)
            continue
        well_path = child_path(path, entry.get("path"), what="well path")
        wells.append(Well(f"{rows[place[0]]}{columns[place[1]]}", *place, [well_path]))
    if odd:
        logger.warning(
            "%s: %d well indices are not integers (%s); the wells' paths place them instead.",
            path,
            len(odd),
            odd[0],
        )
    if unplaced:
        logger.warning(
            "%s: %d wells have no row and column in the plate's lists and are not shown, e.g. %r.",
            path,
            len(unplaced),
            unplaced[0],
        )
    return Grid(path, rows, columns, wells, zarr_format)


class _LazyLevels:
    """A field's levels, each opened (checked zarr array, no dask) when first drawn."""

    def __init__(self, paths: tuple[Path, ...], zarr_format: int | None) -> None:
        self._paths: tuple[Path, ...] = paths
        self._zarr_format = zarr_format  # a remote store is then asked for that format's files
        self._opened: dict[int, CheckedArray] = {}
        self._lock = threading.Lock()  # dask draws blocks on several threads

    def __len__(self) -> int:
        return len(self._paths)

    def __getitem__(self, level: int) -> CheckedArray:
        with self._lock:
            if level not in self._opened:
                path = self._paths[level]
                self._opened[level] = open_array(path, zarr_format=self._zarr_format)
            return self._opened[level]


@dataclass(frozen=True)
class FieldImage:
    """One field of a well, known from two small metadata files; its arrays open when drawn.

    Opening every level of every field with zarr costs about 1 ms an array: 2.3 s for a
    384-well plate of 2 fields and 3 levels (benchmarks/plate_open.py). The mosaic needs only
    each field's level-0 shape and dtype up front.
    """

    path: Path
    axis_names: tuple[str, ...]
    level_paths: tuple[Path, ...]
    shape: tuple[int, ...]
    dtype: np.dtype
    image_label: Any = None  # a label image's ``image-label`` attribute (colours, properties)
    zarr_format: int | None = None

    @cached_property
    def levels(self) -> _LazyLevels:
        """The levels, largest first, opened on first use."""
        return _LazyLevels(self.level_paths, self.zarr_format)

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Level 0's shape (the only one read up front)."""
        return [self.shape]


def read_field(path: Path, *, zarr_format: int | None = None) -> FieldImage:
    """Read what the mosaic needs of one field image: axes, level paths, level-0 shape, dtype.

    Parameters
    ----------
    path : Path
        The field's image group.
    zarr_format : int, optional
        The plate's zarr format, when known.

    Returns
    -------
    FieldImage
        Its metadata; no array is opened.

    Raises
    ------
    StoreFormatError
        When it is not an image or its metadata is broken.
    """
    meta = read_node_meta(path, zarr_format=zarr_format, node_type="group")
    block = meta.attrs.get("multiscales")
    first = block[0] if isinstance(block, list) and block else None
    datasets = first.get("datasets") if isinstance(first, dict) else None
    if not isinstance(datasets, list) or not datasets:
        raise StoreFormatError(f"{path} is not an OME-Zarr image (no multiscales datasets).{_FIX}")
    paths = tuple(
        child_path(path, d.get("path") if isinstance(d, dict) else None, what="dataset path")
        for d in datasets
    )
    array = read_node_meta(paths[0], zarr_format=meta.zarr_format, node_type="array").array
    try:
        shape = tuple(int(n) for n in array["shape"])
        dtype = np.dtype(array.get("dtype") or array["data_type"])
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreFormatError(
            f"{paths[0]} holds no readable zarr array ({exc!r}); re-export that field."
        ) from exc
    axes = multiscale_axes(meta, first, len(shape))
    names = tuple(a.name for a in axes)
    return FieldImage(
        path, names, paths, shape, dtype, meta.attrs.get("image-label"), meta.zarr_format
    )


def open_fields(grid: Grid) -> tuple[list[Well], dict[tuple[int, int, int], FieldImage]]:
    """Open every well's fields concurrently (metadata only); broken ones are left blank."""

    def open_field(path: Path | str) -> FieldImage | str:
        if isinstance(path, str):
            return path  # why the field is not followed
        try:
            return read_field(path, zarr_format=grid.zarr_format)
        except StoreFormatError as exc:
            return str(exc)

    def open_well(well: Well) -> tuple[Well, list[FieldImage | str] | None]:
        well_path = well.fields[0]
        if not has_zarr_metadata(well_path, zarr_format=grid.zarr_format):
            return well, None
        try:
            paths = well_fields(well_path, zarr_format=grid.zarr_format)
        except StoreFormatError as exc:
            return well, [str(exc)]
        found = [p for p in paths if not isinstance(p, str)]
        prefetch_nodes(found, zarr_format=grid.zarr_format, node_type="group")
        return well, [open_field(p) for p in paths]

    opened = map_in_session(open_well, grid.wells, _METADATA_THREADS)
    cells: dict[tuple[int, int, int], FieldImage] = {}
    placed, missing, broken = [], [], []
    for well, fields in opened:
        if fields is None:
            missing.append(well.name)
            fields = []
        for i, field_image in enumerate(fields):
            if isinstance(field_image, FieldImage):
                cells[(well.row, well.column, i)] = field_image
            else:
                broken.append(f"{well.name} field {i} ({field_image})")
        found = [f.path for f in fields if isinstance(f, FieldImage)]
        placed.append(Well(well.name, well.row, well.column, found))
    if missing:
        logger.warning("%s: wells %s are listed but missing; they are blank.", grid.path, missing)
    for reason in broken:
        logger.warning("%s: well %s cannot be opened; it is blank.", grid.path, reason)
    if not cells:
        why = f" The first: {broken[0]}" if broken else ""
        raise StoreFormatError(
            f"{grid.path}: no well of this plate holds a readable image.{why}{_FIX}"
        )
    return placed, cells


def compatible(cells: dict, first: FieldImage, grid: Grid) -> dict:
    """Fields whose axes and non-spatial sizes match the first field's; others warned of."""
    names, mid = first.axis_names, first.shapes[0][:-2]
    kept = {
        k: ms for k, ms in cells.items() if ms.axis_names == names and ms.shapes[0][:-2] == mid
    }
    if len(kept) < len(cells):
        odd = sorted(
            f"{grid.rows[r]}{grid.columns[c]} field {f}" for r, c, f in set(cells) - set(kept)
        )
        logger.warning(
            "%s: %s have other axes or channel/time/z sizes than the first field %s; blank.",
            grid.path,
            odd[:5],
            first.path,
        )
    return kept


def field_labels(cells: dict, *, zarr_format: int | None = None) -> dict[str, dict]:
    """Each label name in the fields' ``labels/`` -> ``{(row, column, field): FieldImage}``."""
    found: dict[str, dict] = {}

    def open_labels(item: tuple) -> list[tuple[str, tuple, FieldImage]]:
        key, ms = item
        labels_dir = ms.path / "labels"
        group = read_node_meta(labels_dir, zarr_format=zarr_format, node_type="group")
        names = group.attrs.get("labels")
        opened = []
        for name in names if isinstance(names, list) else []:
            try:
                label_path = child_path(labels_dir, name, what="label name")
                label = read_field(label_path, zarr_format=zarr_format)
                opened.append((str(name), key, label))
            except StoreFormatError as exc:
                logger.warning("%s The other labels are shown.", exc)
        return opened

    for opened in map_in_session(open_labels, cells.items(), _METADATA_THREADS):
        for name, key, ms in opened:
            found.setdefault(name, {})[key] = ms
    return found

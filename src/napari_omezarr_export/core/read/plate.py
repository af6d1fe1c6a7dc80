"""HCS plates (NGFF ``plate`` and ``well`` groups): one lazy mosaic per channel, every field.

A plate opens as one multiscale mosaic per channel, and one per label name found in the fields,
with a leading ``field`` axis (a slider): wells sit by row and column in cells of one size (the
largest field, padded) with a gap between them, and each well's field ``i`` is on slice ``i``.
Missing wells and fields are blank; wells that cannot be read are blank with a warning naming
them. A ``wells`` Labels layer numbers the cells, and its features (``well``, ``row``,
``column``) show the well under the cursor. Every layer's ``metadata["plate"]`` maps each well
to its level-0 pixel box.

Only metadata is read at open (the fields' attributes, concurrently); a mosaic block reads one
plane of one field when napari draws it.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_omezarr_export.core.errors import StoreFormatError
from napari_omezarr_export.core.ngff.axes import Axis
from napari_omezarr_export.core.read.image import image_layers
from napari_omezarr_export.core.read.labels import label_colors
from napari_omezarr_export.core.read.layer_spec import LayerSpec
from napari_omezarr_export.core.read.multiscales import Multiscale, open_multiscale
from napari_omezarr_export.core.read.zarr_nodes import (
    child_path,
    has_zarr_metadata,
    read_node_meta,
)

__all__ = ["MAX_WELLS", "plate_layers", "well_layers"]

logger = logging.getLogger(__name__)

MAX_WELLS = 10_000  # a 1536-well plate is the largest made; more is a broken declaration
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
    """The wells laid out on a plate: row and column names, and the wells found."""

    path: Path
    rows: list[str]
    columns: list[str]
    wells: list[Well]


def _names(attrs: dict[str, Any], key: str, path: Path) -> list[str]:
    entries = attrs.get(key)
    if not isinstance(entries, list) or not entries:
        raise StoreFormatError(f"{path}: plate '{key}' must be a non-empty list.{_FIX}")
    names = [e.get("name") if isinstance(e, dict) else None for e in entries]
    if not all(isinstance(n, str) and n for n in names):
        raise StoreFormatError(f"{path}: every plate '{key}' entry needs a 'name'.{_FIX}")
    return names


def _well_position(entry: dict, rows: list[str], columns: list[str]) -> tuple[int, int] | None:
    """Row and column index of a well entry: its indices (0.4+), else its path ``A/1``."""
    parts = str(entry.get("path", "")).split("/")
    row, column = entry.get("rowIndex"), entry.get("columnIndex")
    if not isinstance(row, int) and len(parts) == 2 and parts[0] in rows:
        row = rows.index(parts[0])
    if not isinstance(column, int) and len(parts) == 2 and parts[1] in columns:
        column = columns.index(parts[1])
    if isinstance(row, int) and isinstance(column, int):
        if 0 <= row < len(rows) and 0 <= column < len(columns):
            return row, column
    return None


def well_fields(well_path: Path) -> list[Path]:
    """The field image folders a well lists (``well.images``), in order.

    Parameters
    ----------
    well_path : Path
        The well group.

    Returns
    -------
    list of Path
        One folder per field; empty when the well lists none.

    Raises
    ------
    StoreFormatError
        When a field path leads outside the well.
    """
    well = read_node_meta(well_path).attrs.get("well")
    images = well.get("images") if isinstance(well, dict) else None
    if not isinstance(images, list):
        return []
    paths = [i.get("path") for i in images if isinstance(i, dict)]
    return [child_path(well_path, p, what="field path") for p in paths]


def read_grid(path: Path, attrs: dict[str, Any]) -> Grid:
    """Parse a plate's ``plate`` attribute into its grid of wells; nothing else is read.

    Parameters
    ----------
    path : Path
        The plate group.
    attrs : dict
        Its attributes.

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
    entries = plate.get("wells")
    if not isinstance(entries, list) or not entries:
        raise StoreFormatError(f"{path}: plate 'wells' must be a non-empty list.{_FIX}")
    if len(entries) > MAX_WELLS:
        raise StoreFormatError(
            f"{path} declares {len(entries):,} wells; a plate has at most {MAX_WELLS:,} "
            f"(1536-well plates are the largest made).{_FIX}"
        )
    wells, unplaced = [], []
    for entry in entries:
        place = _well_position(entry, rows, columns) if isinstance(entry, dict) else None
        if place is None:
            unplaced.append(entry)
            continue
        well_path = child_path(path, entry.get("path"), what="well path")
        wells.append(Well(f"{rows[place[0]]}{columns[place[1]]}", *place, [well_path]))
    if unplaced:
        logger.warning(
            "%s: %d wells have no row and column in the plate's lists and are not shown, e.g. %r.",
            path,
            len(unplaced),
            unplaced[0],
        )
    return Grid(path, rows, columns, wells)


def _open_fields(grid: Grid) -> tuple[list[Well], dict[tuple[int, int, int], Multiscale]]:
    """Open every well's fields concurrently (metadata only); broken ones are left blank."""

    def open_well(well: Well) -> tuple[Well, list[Multiscale | str]]:
        well_path = well.fields[0]
        if not has_zarr_metadata(well_path):
            return well, ["missing"]
        try:
            paths = well_fields(well_path)
            return well, [open_multiscale(read_node_meta(p)) for p in paths]
        except StoreFormatError as exc:
            return well, [str(exc)]

    with ThreadPoolExecutor(_METADATA_THREADS) as pool:
        opened = list(pool.map(open_well, grid.wells))
    cells: dict[tuple[int, int, int], Multiscale] = {}
    placed, missing, broken = [], [], []
    for well, fields in opened:
        if fields == ["missing"]:
            missing.append(well.name)
        elif fields and isinstance(fields[0], str):
            broken.append(f"{well.name} ({fields[0]})")
        for i, ms in enumerate(f for f in fields if isinstance(f, Multiscale)):
            cells[(well.row, well.column, i)] = ms
        found = [f.path for f in fields if isinstance(f, Multiscale)]
        placed.append(Well(well.name, well.row, well.column, found))
    if missing:
        logger.warning("%s: wells %s are listed but missing; they are blank.", grid.path, missing)
    for reason in broken:
        logger.warning("%s: well %s cannot be opened; it is blank.", grid.path, reason)
    if not cells:
        raise StoreFormatError(f"{grid.path}: no well of this plate holds a readable image.{_FIX}")
    return placed, cells


def _compatible(cells: dict, first: Multiscale, grid: Grid) -> dict:
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


def _mosaic(cells: dict, level: int, layout: _Layout, dtype: np.dtype, what: str) -> Any:
    """One level of the mosaic: (field, *mid, y, x), one block per plane of one cell."""
    import dask.array as da

    n_fields, mid = layout.n_fields, layout.mid
    h, w = layout.cell(level)
    chunks = (
        (1,) * n_fields,
        *[(1,) * m for m in mid],
        (h,) * layout.n_rows,
        (w,) * layout.n_columns,
    )

    def block(block_id: tuple[int, ...]) -> np.ndarray:
        f, *plane, r, c = block_id
        out = np.zeros((1, *(1,) * len(mid), h, w), dtype)
        source = cells.get((r, c, f))
        if source is not None:
            data = source.levels[min(level, len(source.levels) - 1)]
            region = data[
                (*plane, slice(0, h - layout.gap(level)), slice(0, w - layout.gap(level)))
            ]
            values = np.asarray(region.compute(scheduler="synchronous"))
            out[(0, *(0,) * len(mid), slice(0, values.shape[0]), slice(0, values.shape[1]))] = (
                values
            )
        return out

    name = f"plate-{what}-{level}-{id(cells)}"
    return da.map_blocks(
        block, dtype=dtype, chunks=chunks, name=name, meta=np.empty((0,) * (len(mid) + 3), dtype)
    )


@dataclass(frozen=True)
class _Layout:
    """Cell sizes per level: the largest field plus a gap, a multiple of the level factor."""

    n_rows: int
    n_columns: int
    n_fields: int
    n_levels: int
    mid: tuple[int, ...]
    cell0: tuple[int, int]
    gap0: int

    def cell(self, level: int) -> tuple[int, int]:
        return self.cell0[0] >> level, self.cell0[1] >> level

    def gap(self, level: int) -> int:
        return max(1, self.gap0 >> level)


def _layout(grid: Grid, cells: dict, first: Multiscale) -> _Layout:
    n_levels = min(len(ms.levels) for ms in cells.values())
    height = max(ms.shapes[0][-2] for ms in cells.values())
    width = max(ms.shapes[0][-1] for ms in cells.values())
    step = 2 ** (n_levels - 1)
    gap0 = step * max(1, math.ceil(0.04 * max(height, width) / step))
    cell0 = (step * math.ceil((height + gap0) / step), step * math.ceil((width + gap0) / step))
    n_fields = 1 + max(f for _, _, f in cells)
    return _Layout(
        len(grid.rows), len(grid.columns), n_fields, n_levels, first.shapes[0][:-2], cell0, gap0
    )


def _well_boxes(wells: list[Well], layout: _Layout) -> dict[str, dict[str, Any]]:
    h, w = layout.cell0
    return {
        well.name: {
            "row": well.row,
            "column": well.column,
            "box": [
                well.row * h,
                well.column * w,
                (well.row + 1) * h - layout.gap0,
                (well.column + 1) * w - layout.gap0,
            ],
            "fields": [str(p) for p in well.fields],
        }
        for well in wells
    }


def _wells_layer(
    grid: Grid, wells: list[Well], layout: _Layout, mosaic: Multiscale, meta: dict
) -> LayerSpec:
    """A Labels layer numbering the wells' cells, whose features name the well under the cursor."""
    import dask.array as da
    import pandas as pd

    ids = {(w.row, w.column): i + 1 for i, w in enumerate(wells)}
    levels = []
    for level in range(layout.n_levels):
        h, w = layout.cell(level)
        gap = layout.gap(level)

        def block(block_id: tuple[int, int], h: int = h, w: int = w, gap: int = gap) -> np.ndarray:
            out = np.zeros((h, w), np.uint32)
            out[: h - gap, : w - gap] = ids.get(tuple(block_id), 0)
            return out

        chunks = ((h,) * layout.n_rows, (w,) * layout.n_columns)
        levels.append(
            da.map_blocks(
                block,
                dtype=np.uint32,
                chunks=chunks,
                name=f"plate-wells-{level}-{id(ids)}",
                meta=np.empty((0, 0), np.uint32),
            )
        )
    features = pd.DataFrame(
        {
            "index": list(ids.values()),
            "well": [w.name for w in wells],
            "row": [grid.rows[w.row] for w in wells],
            "column": [grid.columns[w.column] for w in wells],
        }
    )
    yx = slice(-2, None)
    kwargs = {
        "name": "wells",
        "scale": mosaic.scale[yx],
        "translate": mosaic.translate[yx],
        "axis_labels": mosaic.axis_names[yx],
        "features": features,
        "opacity": 0.15,
        "metadata": meta,
    }
    return LayerSpec("labels", levels, kwargs)


def _mosaic_layers(grid: Grid, kind: str) -> list[LayerSpec]:
    wells, cells = _open_fields(grid)
    first = cells[min(cells)]
    cells = _compatible(cells, first, grid)
    layout = _layout(grid, cells, first)
    dtype = first.levels[0].dtype
    levels = [_mosaic(cells, k, layout, dtype, "image") for k in range(layout.n_levels)]
    mosaic = Multiscale(
        grid.path,
        first.version,
        grid.path.name,
        (Axis("field"), *first.axes),
        levels,
        (1.0, *first.scale),
        (0.0, *first.translate),
    )
    meta = {
        "plate": {
            "path": str(grid.path),
            "kind": kind,
            "rows": grid.rows,
            "columns": grid.columns,
            "fields": layout.n_fields,
            "wells": _well_boxes(wells, layout),
        }
    }
    omero = read_node_meta(first.path).attrs.get("omero")
    layers = image_layers(mosaic, omero, extra_metadata=meta)
    layers += _labels_layers(grid, cells, layout, mosaic, meta)
    if kind == "plate":
        layers.append(_wells_layer(grid, wells, layout, mosaic, meta))
    return layers


def _field_labels(cells: dict) -> dict[str, dict]:
    """Each label name in the fields' ``labels/`` -> ``{(row, column, field): Multiscale}``."""
    found: dict[str, dict] = {}

    def open_labels(item: tuple) -> list[tuple[str, tuple, Multiscale]]:
        key, ms = item
        labels_dir = ms.path / "labels"
        names = read_node_meta(labels_dir).attrs.get("labels") if labels_dir.is_dir() else None
        opened = []
        for name in names if isinstance(names, list) else []:
            try:
                meta = read_node_meta(child_path(labels_dir, name, what="label name"))
                opened.append((str(name), key, open_multiscale(meta)))
            except StoreFormatError as exc:
                logger.warning("%s The other labels are shown.", exc)
        return opened

    with ThreadPoolExecutor(_METADATA_THREADS) as pool:
        for opened in pool.map(open_labels, cells.items()):
            for name, key, ms in opened:
                found.setdefault(name, {})[key] = ms
    return found


def _labels_layers(grid: Grid, cells: dict, layout: _Layout, image: Multiscale, meta: dict):
    """One mosaic Labels layer per label name found in the fields, in register with the image."""
    from dataclasses import replace

    layers = []
    for name, label_cells in _field_labels(cells).items():
        first = label_cells[min(label_cells)]
        kept = _compatible(label_cells, first, grid)
        levels = min(layout.n_levels, *(len(ms.levels) for ms in kept.values()))
        shape = replace(layout, mid=first.shapes[0][:-2], n_levels=levels)
        data = [_mosaic(kept, k, shape, first.levels[0].dtype, name) for k in range(levels)]
        axes = ("field", *first.axis_names)
        spatial = {
            a: (s, t)
            for a, s, t in zip(image.axis_names, image.scale, image.translate, strict=True)
        }
        kwargs = {
            "name": name,
            "scale": tuple(spatial.get(a, (1.0, 0.0))[0] for a in axes),
            "translate": tuple(spatial.get(a, (1.0, 0.0))[1] for a in axes),
            "axis_labels": axes,
            "metadata": meta,
        }
        image_label = read_node_meta(first.path).attrs.get("image-label")
        colors = label_colors(image_label, first.path)
        layers.append(LayerSpec("labels", data, kwargs, label_colors=colors))
    return layers


def plate_layers(path: Path, attrs: dict[str, Any]) -> list[LayerSpec]:
    """Open an HCS plate as one lazy mosaic per channel, with every field on a slider.

    Parameters
    ----------
    path : Path
        The plate group (attributes hold ``plate``).
    attrs : dict
        Its attributes.

    Returns
    -------
    list of LayerSpec
        One image layer per channel, then the ``wells`` Labels layer.

    Raises
    ------
    StoreFormatError
        For a malformed plate, or one whose wells hold no readable image.
    """
    return _mosaic_layers(read_grid(path, attrs), "plate")


def well_layers(path: Path) -> list[LayerSpec]:
    """Open one well of a plate: its fields on a slider, one image layer per channel.

    Parameters
    ----------
    path : Path
        The well group (attributes hold ``well``).

    Returns
    -------
    list of LayerSpec
        One image layer per channel.
    """
    grid = Grid(
        path, [path.parent.name], [path.name], [Well(path.parent.name + path.name, 0, 0, [path])]
    )
    return _mosaic_layers(grid, "well")

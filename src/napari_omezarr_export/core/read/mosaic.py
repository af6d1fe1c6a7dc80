"""Lay a plate's fields out as one lazy array per level: cells by row and column, a field axis.

Each block of the mosaic is one plane of one cell and reads that plane of that well's field
when napari draws it; cells without a field are blank. ``Layout`` keeps every level's cell a
power-of-two fraction of level 0's, so the levels of the mosaic stay in register.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from dask.base import tokenize

from napari_omezarr_export.core.read.layer_spec import LayerSpec
from napari_omezarr_export.core.read.multiscales import Multiscale
from napari_omezarr_export.core.read.plate_grid import Grid, Well

__all__ = ["Layout", "make_layout", "mosaic_level", "well_boxes", "wells_layer"]


def mosaic_level(cells: dict, level: int, layout: Layout, dtype: np.dtype, what: str) -> Any:
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
            data = source.levels[min(level, len(source.levels) - 1)]  # a checked zarr array
            gap = layout.gap(level)
            values = np.asarray(data[(*plane, slice(0, h - gap), slice(0, w - gap))])
            out[(0, *(0,) * len(mid), slice(0, values.shape[0]), slice(0, values.shape[1]))] = (
                values
            )
        return out

    sources = [(key, str(field.path)) for key, field in sorted(cells.items())]
    name = f"plate-{what}-{level}-{tokenize(sources, layout, str(dtype))}"
    return da.map_blocks(
        block, dtype=dtype, chunks=chunks, name=name, meta=np.empty((0,) * (len(mid) + 3), dtype)
    )


@dataclass(frozen=True)
class Layout:
    """Cell sizes per level: the largest field plus a gap, a multiple of the level factor."""

    n_rows: int
    n_columns: int
    n_fields: int
    n_levels: int
    mid: tuple[int, ...]
    cell0: tuple[int, int]
    gap0: int

    def cell(self, level: int) -> tuple[int, int]:
        """Height and width of a cell, gap included, at ``level``."""
        return self.cell0[0] >> level, self.cell0[1] >> level

    def gap(self, level: int) -> int:
        """Blank pixels below and right of each field at ``level``."""
        return max(1, self.gap0 >> level)


def make_layout(grid: Grid, cells: dict, first: Multiscale) -> Layout:
    """Cells as large as the largest field plus a 4 % gap, in multiples of the level factor.

    Parameters
    ----------
    grid : Grid
        The plate's rows and columns.
    cells : dict
        ``{(row, column, field): FieldImage}`` of the fields shown.
    first : Multiscale
        The first field, opened: its non-spatial sizes are every shown field's.

    Returns
    -------
    Layout
        The cell sizes and counts of the mosaic.
    """
    n_levels = min(len(ms.levels) for ms in cells.values())
    height = max(ms.shapes[0][-2] for ms in cells.values())
    width = max(ms.shapes[0][-1] for ms in cells.values())
    step = 2 ** (n_levels - 1)
    gap0 = step * max(1, math.ceil(0.04 * max(height, width) / step))
    cell0 = (step * math.ceil((height + gap0) / step), step * math.ceil((width + gap0) / step))
    n_fields = 1 + max(f for _, _, f in cells)
    return Layout(
        len(grid.rows), len(grid.columns), n_fields, n_levels, first.shapes[0][:-2], cell0, gap0
    )


def well_boxes(wells: list[Well], layout: Layout) -> dict[str, dict[str, Any]]:
    """Each well's row, column, level-0 pixel box ``[y0, x0, y1, x1]`` and field folders."""
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


def wells_layer(
    grid: Grid, wells: list[Well], layout: Layout, mosaic: Multiscale, meta: dict
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
                name=f"plate-wells-{level}-{tokenize(sorted(ids.items()), layout)}",
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

"""Brieflow tables: a phenotype store's cells get their merge-table rows; a dropped table says why.

A run folder holds ``phenotype/omezarr/<tile name>__phenotype.zarr`` and
``merge/zarr/<well name>__merge_table.zarr``; a table is a zarr group with ``columns`` in its
attributes and one 1-D array per column. The rows of the tile (matched on plate, well and
tile) are joined on ``cell_0``, which is the label id of both ``cells`` and ``nuclei``.
Missing values written as the text "None", "nan" or "<NA>", and integers equal to their
array's ``missing_value`` attribute (the ``brieflow`` command's tables), become real missing
values.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr

from napari_omezarr_export.core.errors import BrieflowTableError
from napari_omezarr_export.core.layouts.brieflow.names import (
    TileName,
    merge_table_path,
    parse_tile_name,
)
from napari_omezarr_export.core.read.layer_spec import LayerSpec

if TYPE_CHECKING:  # pandas loads only when a table is read: 0.16 s off every other open
    import pandas as pd

__all__ = [
    "TileName",
    "attach_tile_features",
    "merge_table_for",
    "parse_tile_name",
    "read_tile_features",
    "table_error",
]

log = logging.getLogger(__name__)

MISSING_TEXT = ("None", "nan", "<NA>")
LABEL_COLUMN = "cell_0"


def merge_table_for(store: Path) -> tuple[TileName, Path] | None:
    """Find the merge table of a phenotype store's run folder, or None.

    Parameters
    ----------
    store : Path
        ``<run>/phenotype/omezarr/<tile>__phenotype.zarr``.

    Returns
    -------
    tuple of (TileName, Path) or None
        The tile's name parts and the table's path, when both exist.
    """
    name = parse_tile_name(store)
    if name is None or "phenotype" not in name.image_type:
        return None
    table = merge_table_path(store, name)
    return (
        (name, table) if (table / ".zattrs").is_file() or (table / "zarr.json").is_file() else None
    )


def _column(group: zarr.Group, name: str) -> pd.Series:
    import pandas as pd

    array = group[name]
    values = array[:]
    if values.dtype.kind in "OUT":
        series = pd.Series(values, dtype="object").astype("string")
        return series.mask(series.isin(MISSING_TEXT))
    missing = array.attrs.get("missing_value")
    if values.dtype.kind in "iu" and isinstance(missing, int):
        # Integers and booleans with missing values, as the brieflow command writes them
        # (table_write): the CF missing_value, and xarray's dtype "bool" for booleans.
        series = pd.Series(values).astype("Int64").mask(values == missing)
        return series.astype("boolean") if array.attrs.get("dtype") == "bool" else series
    return pd.Series(values)


def _matches(table: pd.DataFrame, column: str, value: str | None) -> pd.Series:
    import pandas as pd

    if value is None or column not in table:
        return pd.Series(True, index=table.index)
    return table[column].astype("string") == str(value)


def read_tile_features(store: Path) -> pd.DataFrame | None:
    """Return the merge-table rows of a phenotype store's tile, indexed by label id.

    Parameters
    ----------
    store : Path
        A Brieflow phenotype store.

    Returns
    -------
    pandas.DataFrame or None
        One row per cell of the tile, with an ``index`` column holding the label id (the
        table's ``cell_0``), or None when the run has no matching table.
    """
    found = merge_table_for(store)
    if found is None:
        return None
    import pandas as pd

    name, path = found
    try:
        group = zarr.open_group(path, mode="r")
        columns = list(group.attrs.get("columns") or sorted(group.array_keys()))
        table = pd.DataFrame({c: _column(group, c) for c in columns if c in group})
    except (OSError, KeyError, ValueError, TypeError) as exc:
        log.warning(
            "The merge table %s could not be read (%s); no features were attached.", path, exc
        )
        return None
    if LABEL_COLUMN not in table:
        log.warning(
            "The merge table %s has no %s column; no features were attached.", path, LABEL_COLUMN
        )
        return None
    rows = table[
        _matches(table, "plate", name.plate)
        & _matches(table, "well", name.well)
        & _matches(table, "tile", name.tile)
    ]
    rows = rows[rows[LABEL_COLUMN].notna()].drop_duplicates(LABEL_COLUMN)
    features = rows.reset_index(drop=True)
    features.insert(0, "index", features[LABEL_COLUMN].astype(np.int64))
    return features


CELL_LABELS = ("cells", "nuclei")  # Brieflow label names whose ids are cell_0


def attach_tile_features(store: Path, layers: list[LayerSpec]) -> None:
    """Give ``cells`` and ``nuclei`` the rows of the run's merge table for this tile.

    Parameters
    ----------
    store : Path
        A Brieflow phenotype store (``<run>/phenotype/omezarr/...__phenotype.zarr``).
    layers : list of LayerSpec
        Its layers; the ``cells`` and ``nuclei`` labels get ``features`` when a table is found.
    """
    cell_layers = [
        s for s in layers if s.layer_type == "labels" and s.kwargs.get("name") in CELL_LABELS
    ]
    if not cell_layers:
        return
    features = read_tile_features(store)
    if features is None:
        return
    for spec in cell_layers:
        spec.kwargs["features"] = features.copy()


def table_error(path: Path, attrs: dict[str, Any]) -> BrieflowTableError:
    """Build the error shown when a Brieflow table store is dropped on napari.

    Parameters
    ----------
    path : Path
        The table store.
    attrs : dict
        Its root attributes (``columns``, ``num_rows``, ``index_name``).

    Returns
    -------
    BrieflowTableError
        An error whose message says what the store is and how to use it instead.
    """
    columns = attrs.get("columns")
    n_cols = len(columns) if isinstance(columns, list) else "several"
    rows = attrs.get("num_rows", "some")
    return BrieflowTableError(
        f"{path.name} is a Brieflow feature table ({rows} rows, {n_cols} columns stored as "
        "one zarr array per column), not an image, so there is nothing to show as a layer. "
        "Open the matching phenotype store instead (phenotype/omezarr/...__phenotype.zarr in "
        "the same run folder): its cells and nuclei then show this table's rows when you "
        "hover over a cell."
    )

"""Link a Brieflow phenotype store to the rows of its run's merge table, as label features.

A run folder holds ``phenotype/omezarr/<tile name>__phenotype.zarr`` and
``merge/zarr/<well name>__merge_table.zarr``; a table is a zarr group with ``columns`` in its
attributes and one 1-D array per column. The rows of the tile (matched on plate, well and
tile) are joined on ``cell_0``, which is the label id of both ``cells`` and ``nuclei``.
Missing values written as the text "None", "nan" or "<NA>" become real missing values.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import zarr

if TYPE_CHECKING:  # pandas loads only when a table is read: 0.16 s off every other open
    import pandas as pd

__all__ = ["TileName", "merge_table_for", "parse_tile_name", "read_tile_features"]

log = logging.getLogger(__name__)

MISSING_TEXT = ("None", "nan", "<NA>")
LABEL_COLUMN = "cell_0"
# As written: P-1_W-A1_T-0__phenotype.zarr; by design: A1_0__phenotype.zarr.
_WRITTEN = re.compile(
    r"^P-(?P<plate>[^_]+)_W-(?P<well>[^_]+)_T-(?P<tile>[^_]+)__(?P<type>.+)\.zarr$"
)
_DESIGN = re.compile(r"^(?P<well>[^_]+)_(?P<tile>[^_]+)__(?P<type>.+)\.zarr$")


@dataclass(frozen=True)
class TileName:
    """Plate (or None), well and tile of a per-image store, from its file name."""

    plate: str | None
    well: str
    tile: str
    image_type: str

    @property
    def table_name(self) -> str:
        """The merge table's file name for this tile's well."""
        prefix = f"P-{self.plate}_W-{self.well}" if self.plate is not None else self.well
        return f"{prefix}__merge_table.zarr"


def parse_tile_name(store: Path) -> TileName | None:
    """Return plate, well and tile from a store's name, or None when it is not a tile store."""
    for pattern in (_WRITTEN, _DESIGN):
        match = pattern.match(store.name)
        if match:
            parts = match.groupdict()
            return TileName(parts.get("plate"), parts["well"], parts["tile"], parts["type"])
    return None


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
    run = store.parent.parent.parent
    table = run / "merge" / "zarr" / name.table_name
    return (
        (name, table) if (table / ".zattrs").is_file() or (table / "zarr.json").is_file() else None
    )


def _column(group: zarr.Group, name: str) -> pd.Series:
    import pandas as pd

    values = group[name][:]
    if values.dtype.kind in "OUT":
        series = pd.Series(values, dtype="object").astype("string")
        return series.mask(series.isin(MISSING_TEXT))
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

"""Write a Brieflow table (parquet or TSV) as a zarr column group, the way Brieflow does.

The group holds one 1-D array per column and the root attributes ``columns`` (in order),
``index_name`` and ``num_rows``, as Brieflow's ``write_table_zarr`` writes them (zarr v2).
Missing values stay missing, in a form `tables` reads back as missing:

- floats: NaN;
- integers with missing values: int64 with the missing ones set to a value the column does not
  hold (-1, Brieflow's own choice, when it is free), named by the array's ``missing_value``
  attribute (the CF convention, which xarray reads too);
- booleans with missing values: int8 0/1, -1 for missing, with ``missing_value`` and
  ``dtype: "bool"`` (xarray's encoding of booleans);
- text: variable-length UTF-8, missing as ``"<NA>"``; other types (dates...) as text.

A table is read one column at a time (parquet) so memory holds one column, not the table;
TSV tables (aggregate, cluster) are small summaries and are read whole. The group is written
into a staging folder and swapped in when complete: an interrupted write leaves the old table
(or nothing), never a half-written group that would look complete.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr

from napari_omezarr_export.core.errors import InvalidOptionError, TargetExistsError
from napari_omezarr_export.core.options import StorageOptions
from napari_omezarr_export.core.progress import Progress
from napari_omezarr_export.core.write.codecs import compressors_for
from napari_omezarr_export.core.write.staging import staging_folder, swap_in

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "MISSING_TEXT",
    "is_table_group",
    "iter_write_table",
    "require_table_packages",
    "source_rows",
    "table_complete",
    "write_table",
]

MISSING_TEXT = "<NA>"  # one of the texts tables.py reads as missing
CHUNK_ROWS = 65536  # rows per chunk: 512 KiB of float64, a few chunks for most wells
_PANDAS_INDEX = "__index_level_0__"  # pandas' name for an unnamed index saved in parquet
INSTALL_HINT = 'pip install "napari-omezarr-export[brieflow]"'


def require_table_packages() -> None:
    """Raise `InvalidOptionError` naming the extra to install when pyarrow or pyyaml is missing."""
    missing = []
    for module in ("pyarrow", "yaml"):
        try:
            __import__(module)
        except ImportError:
            missing.append("pyyaml" if module == "yaml" else module)
    if missing:
        raise InvalidOptionError(
            f"Exporting a Brieflow run needs {' and '.join(missing)}, which is not installed; "
            f"install it with: {INSTALL_HINT}"
        )


def _read_source(source: Path) -> tuple[Any, list[str], str | None]:
    """Open a table: a reader of one column by name, the data columns, and the index name."""
    require_table_packages()
    import pyarrow as pa

    if source.suffix == ".parquet":
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(source)
        names = list(parquet.schema_arrow.names)
        pandas_meta = parquet.schema_arrow.pandas_metadata or {}
        index, ranges = [], {}
        for entry in pandas_meta.get("index_columns", [])[:1]:  # a MultiIndex keeps its first
            if isinstance(entry, str):
                index.append(entry)
            elif entry.get("kind") == "range" and entry.get("name"):  # kept in metadata only
                index.append(entry["name"])
                ranges[entry["name"]] = (entry["start"], entry["stop"], entry["step"])

        def column(name: str) -> pa.ChunkedArray:
            if name in ranges:
                return pa.chunked_array([pa.array(np.arange(*ranges[name]))])
            return parquet.read(columns=[name], use_pandas_metadata=False).column(0)

    else:
        import pandas as pd

        frame = pd.read_csv(source, sep="\t" if source.suffix == ".tsv" else ",")
        table = pa.Table.from_pandas(frame, preserve_index=False)
        names, index = list(table.column_names), []

        def column(name: str) -> pa.ChunkedArray:
            return table.column(name)

    index_name = index[0] if index and index[0] != _PANDAS_INDEX else None
    columns = [n for n in names if n not in index]
    return column, columns, index_name


def _check_column_name(name: str, source: Path) -> None:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise InvalidOptionError(
            f"{source.name} has a column named {name!r}, which cannot be a zarr array's name "
            "(it is empty, holds a slash, or starts with '.'); rename the column, then export "
            "again."
        )


def _free_value(values: np.ndarray) -> int:
    """-1 when the column does not hold it (Brieflow's choice), else a value it does not hold."""
    if not (values == -1).any():
        return -1
    low = int(values.min())
    if low > np.iinfo(np.int64).min:
        return low - 1
    # The column reaches the int64 minimum: of len + 1 negatives, one is surely free.
    return int(np.setdiff1d(np.arange(-2, -len(values) - 3, -1), values)[0])


def _encode(column: pa.ChunkedArray) -> tuple[np.ndarray, dict[str, Any]]:
    """One column as a numpy array and its array attributes (see the module's notes)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.cast(kind.value_type), kind.value_type
    nulls = column.null_count > 0
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        if not nulls:
            return column.to_numpy(), {}
        as_int = column.cast(pa.int8() if pa.types.is_boolean(kind) else pa.int64())
        present = as_int.drop_null().to_numpy()
        missing = -1 if pa.types.is_boolean(kind) else _free_value(present)
        values = as_int.fill_null(missing).to_numpy()
        attrs = {"missing_value": missing}
        return values, ({**attrs, "dtype": "bool"} if pa.types.is_boolean(kind) else attrs)
    if pa.types.is_floating(kind):
        return column.cast(pa.float64()).fill_null(np.nan).to_numpy(), {}
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        try:
            column = pc.cast(column, pa.string())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            column = pa.chunked_array(
                [pa.array([None if v is None else str(v) for v in column.to_pylist()])],
                pa.string(),
            )
    text = column.cast(pa.string()).fill_null(MISSING_TEXT)
    return np.asarray(text.to_numpy(zero_copy_only=False), dtype=object), {}


def _write_column(
    group: zarr.Group, name: str, values: np.ndarray, attrs: dict, storage: StorageOptions
) -> None:
    text = values.dtype == object
    array = group.create_array(
        name,
        shape=values.shape,
        chunks=(max(1, min(CHUNK_ROWS, len(values))),),
        dtype=str if text else values.dtype,
        compressors=compressors_for(storage, 1 if text else values.dtype.itemsize),
        attributes=attrs,
    )
    if len(values):
        array[:] = values


def is_table_group(path: Path) -> bool:
    """True when ``path`` is a zarr v2 group whose attributes list ``columns`` (a table)."""
    if not (path / ".zgroup").is_file():
        return False
    try:
        group = zarr.open_group(path, mode="r", zarr_format=2)
    except (OSError, ValueError, TypeError, KeyError):  # broken metadata: not a table
        return False
    return isinstance(group.attrs.get("columns"), list)


def _check_replaceable(target: Path) -> None:
    """Only an earlier table export may be replaced; anything else at ``target`` is kept."""
    if (target.exists() or target.is_symlink()) and not is_table_group(target):
        raise TargetExistsError(
            f"{target} already exists and is not a table exported before; it was left "
            "untouched. Move it away, then export again."
        )


def iter_write_table(
    source: str | os.PathLike[str], target: str | os.PathLike[str], *, storage: StorageOptions
) -> Iterator[Progress]:
    """Write like `write_table`, yielding ``(columns done, columns total)``.

    Closing the generator cancels the write; the target keeps its old content.
    """
    source, target = Path(source), Path(target)
    _check_replaceable(target)
    column, columns, index_name = _read_source(source)
    for name in (*columns, *([index_name] if index_name else [])):
        _check_column_name(str(name), source)
    written = [*columns, *([index_name] if index_name else [])]
    yield (0, len(written))
    with staging_folder(target) as stage:
        group = zarr.open_group(stage, mode="w", zarr_format=2)
        rows = None
        for done, name in enumerate(written, start=1):
            values, attrs = _encode(column(name))
            rows = len(values)
            _write_column(group, name, values, attrs, storage)
            yield (done, len(written))
        rows = rows if rows is not None else source_rows(source) or 0
        group.attrs.update({"columns": columns, "index_name": index_name, "num_rows": rows})
        swap_in(stage, target)


def write_table(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    storage: StorageOptions | None = None,
) -> Path:
    """Write a parquet or TSV table as a zarr v2 group of one array per column.

    Parameters
    ----------
    source : path
        A ``.parquet`` file, or a ``.tsv`` (tab-separated) or ``.csv`` text table.
    target : path
        The group to write, such as ``merge/zarr/P-1_W-A1__merge_table.zarr``; an earlier
        table export there is replaced in one step, anything else is refused.
    storage : StorageOptions, optional
        The codec (``codec``, ``level``, ``shuffle``); NGFF 0.4 (zarr v2) by default.

    Returns
    -------
    Path
        The group written.

    Raises
    ------
    InvalidOptionError
        pyarrow is missing, or a column's name cannot be an array's name.
    TargetExistsError
        Something other than a table export is at ``target``.
    """
    for _ in iter_write_table(source, target, storage=storage or StorageOptions()):
        pass
    return Path(target)


def source_rows(source: str | os.PathLike[str]) -> int | None:
    """The number of rows of a parquet table (from its footer), or None for other tables."""
    source = Path(source)
    if source.suffix != ".parquet":
        return None
    require_table_packages()
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(source).metadata.num_rows)


def table_complete(target: str | os.PathLike[str], rows: int | None = None) -> bool:
    """True when ``target`` is a whole table export: its attributes and every column's array.

    Parameters
    ----------
    target : path
        The table group.
    rows : int, optional
        The number of rows the source has; a table of another length is not complete.

    Returns
    -------
    bool
        Whether the table may be kept as it is.
    """
    target = Path(target)
    if not is_table_group(target):
        return False
    group = zarr.open_group(target, mode="r", zarr_format=2)
    num_rows, columns = group.attrs.get("num_rows"), group.attrs["columns"]
    if not isinstance(num_rows, int) or (rows is not None and num_rows != rows):
        return False
    arrays = dict(group.arrays())
    return all(c in arrays and arrays[c].shape == (num_rows,) for c in columns)

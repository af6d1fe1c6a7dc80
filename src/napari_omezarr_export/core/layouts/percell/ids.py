"""Read PerCell 3's id-based layout from ``experiment.db``: fields of view and their runs.

Group names on disk are row ids (``images.zarr/fov_<id>``, ``labels.zarr/seg_<id>``,
``masks.zarr/thresh_<id>``); names and links live only in SQLite. Which segmentations and
thresholds belong to a field is what the newest ``analysis_config``'s ``fov_config`` rows say,
as in PerCell's own viewer. Whole-field segmentations (all ones) are left out, as PerCell does.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from pathlib import Path
from typing import Literal

from napari_omezarr_export.core.layouts.percell.model import Experiment, Link, Region, name_stem
from napari_omezarr_export.core.layouts.percell.names import (
    fov_group,
    segmentation_group,
    threshold_group,
)
from napari_omezarr_export.core.ngff.colors import css_hex

__all__ = ["id_experiment"]

logger = logging.getLogger(__name__)

RunKind = Literal["segmentation", "threshold"]


def _names(conn: sqlite3.Connection, table: str, tables: set[str]) -> dict[int, str]:
    if table not in tables:
        return {}
    return {r["id"]: r["name"] for r in conn.execute(f"SELECT id, name FROM {table}")}


def _rows(conn: sqlite3.Connection, table: str, tables: set[str]) -> dict[int, sqlite3.Row]:
    if table not in tables:
        return {}
    return {r["id"]: r for r in conn.execute(f"SELECT * FROM {table}")}


def _text(row: sqlite3.Row, column: str) -> str:
    """A text column's value; "" when the column is absent (older schemas) or NULL."""
    value = row[column] if column in row.keys() else None
    return "" if value is None else str(value)


def _run_group(row: sqlite3.Row, kind: RunKind) -> str:
    """What a run shares with other fields' runs: PerCell 3's automatic name, minus ``_<n>``.

    PerCell names a threshold ``thresh_{grouping}_{channel}_{n}`` (``:`` made ``_``) and a
    segmentation ``{model}_{channel}_{n}``, ``n`` counting runs of the same kind. The columns
    are used where set, so that user-given names still stack with their group.
    """
    if kind == "threshold" and _text(row, "grouping_channel"):
        parts = ("thresh", _text(row, "grouping_channel"), _text(row, "source_channel"))
        return "_".join(p.replace(":", "_") for p in parts if p)
    if kind == "segmentation" and _text(row, "model_name"):
        return "_".join(p for p in (_text(row, "model_name"), _text(row, "source_channel")) if p)
    return name_stem(_text(row, "name") or f"{kind}_{row['id']}")


def _pixel_size(value: object, fov_id: object) -> float | None:
    """A finite positive pixel size in micrometres, else None (warned when present)."""
    try:
        size = float(value) if value is not None else None
    except (TypeError, ValueError):
        size = -1.0
    if size is not None and not (math.isfinite(size) and size > 0):
        logger.warning(
            "fov %s has pixel size %r in experiment.db; it is shown in pixels.", fov_id, value
        )
        return None
    return size


def _fov_links(conn: sqlite3.Connection, tables: set[str]) -> list[sqlite3.Row]:
    if "fov_config" not in tables:
        return []
    config = None
    if "analysis_config" in tables:
        config = conn.execute("SELECT max(id) FROM analysis_config").fetchone()[0]
    if config is None:
        return conn.execute("SELECT * FROM fov_config").fetchall()
    return conn.execute("SELECT * FROM fov_config WHERE config_id = ?", (config,)).fetchall()


def _fov_runs(
    conn: sqlite3.Connection, tables: set[str], segs: dict[int, sqlite3.Row]
) -> dict[int, tuple[list[int], list[int]]]:
    """Each field's segmentation ids (whole-field ones left out) and threshold ids."""
    links: dict[int, tuple[list[int], list[int]]] = {}
    for row in _fov_links(conn, tables):
        seg_ids, thr_ids = links.setdefault(row["fov_id"], ([], []))
        seg = segs.get(row["segmentation_id"])
        if seg is not None and seg["seg_type"] != "whole_field" and seg["id"] not in seg_ids:
            seg_ids.append(seg["id"])
        if row["threshold_id"] is not None and row["threshold_id"] not in thr_ids:
            thr_ids.append(row["threshold_id"])
    return links


def _link(root: Path, rows: dict[int, sqlite3.Row], run_id: int, kind: RunKind) -> Link:
    """A segmentation (``labels.zarr/seg_<id>``) or threshold (``masks.zarr/thresh_<id>``)."""
    group = threshold_group if kind == "threshold" else segmentation_group
    folder = group(root, run_id)
    row = rows.get(run_id)
    if row is None:  # no row for it: its own layer, named after its folder
        return Link(folder.name, folder, folder.name)
    return Link(_text(row, "name") or folder.name, folder, _run_group(row, kind))


def id_experiment(root: Path, conn: sqlite3.Connection, tables: set[str]) -> Experiment:
    """Read an id-based experiment's fields of view, runs and channels from its database.

    Parameters
    ----------
    root : Path
        The ``.percell`` folder.
    conn : sqlite3.Connection
        A read-only connection to its ``experiment.db`` (``row_factory = sqlite3.Row``).
    tables : set of str
        The database's table names; ``fovs`` among them.

    Returns
    -------
    Experiment
        Regions in ``fovs.id`` order (none when the table is empty).

    Raises
    ------
    sqlite3.Error, KeyError, IndexError
        When the tables are not shaped as PerCell 3 writes them.
    """
    conditions = _names(conn, "conditions", tables)
    bio_reps = _names(conn, "bio_reps", tables)
    timepoints = _names(conn, "timepoints", tables)
    segs = _rows(conn, "segmentations", tables)
    thresholds = _rows(conn, "thresholds", tables)
    links = _fov_runs(conn, tables, segs)
    regions = []
    for fov in conn.execute("SELECT * FROM fovs ORDER BY id").fetchall():
        seg_ids, thr_ids = links.get(fov["id"], ([], []))
        image = fov_group(root, fov["id"])
        key = {
            "condition": conditions.get(fov["condition_id"]),
            "bio_rep": bio_reps.get(fov["bio_rep_id"]),
            "timepoint": timepoints.get(fov["timepoint_id"]),
            "region": fov["display_name"] or image.name,
        }
        regions.append(
            Region(
                key,
                image,
                [_link(root, segs, i, "segmentation") for i in sorted(seg_ids)],
                [_link(root, thresholds, i, "threshold") for i in thr_ids],
                _pixel_size(fov["pixel_size_um"], fov["id"]),
            )
        )
    channels = []
    if "channels" in tables:
        for row in conn.execute("SELECT name, color FROM channels ORDER BY display_order, id"):
            name = row["name"] if row["name"] not in (None, "") else f"channel {len(channels)}"
            channels.append((str(name), css_hex(row["color"])))
    return Experiment(root, "ids", regions, channels)

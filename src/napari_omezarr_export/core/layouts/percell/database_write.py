"""Record a written region in a design-layout ``experiment.db`` (one transaction, last step).

The design layout's database lists the experiment, its channels, conditions, timepoints and
regions, with ``zarr_path`` relative to the ``.percell`` folder. It has no ``fovs`` table: that
table marks PerCell 3's id-based layout, which readers tell apart by it. What a region adds is
a `RegionRecord`, plain values that the replacement journal keeps, so that a replacement cut
short is recorded by the next write; recording the same region twice gives the same rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from napari_omezarr_export.core.errors import WriteFailedError
from napari_omezarr_export.core.layouts.percell.names import EXPERIMENT_DB, PercellRegion
from napari_omezarr_export.core.write.plan import GroupPlan

__all__ = ["PERCELL_VERSION", "SCHEMA", "RegionRecord", "record_region"]

PERCELL_VERSION = "3.0.0"

SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, percell_version TEXT NOT NULL,
    layout TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS channels (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, color TEXT, display_order INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS conditions (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS timepoints (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, display_order INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS regions (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL,
    condition_id INTEGER NOT NULL REFERENCES conditions(id),
    timepoint_id INTEGER REFERENCES timepoints(id),
    zarr_path TEXT NOT NULL UNIQUE, labels_path TEXT,
    width INTEGER NOT NULL, height INTEGER NOT NULL, pixel_size_um REAL);
CREATE TABLE IF NOT EXISTS masks (
    id INTEGER PRIMARY KEY, region_id INTEGER NOT NULL REFERENCES regions(id),
    name TEXT NOT NULL, zarr_path TEXT NOT NULL UNIQUE);
"""


def _id(conn: sqlite3.Connection, table: str, name: str, **extra: object) -> int:
    row = conn.execute(f"SELECT id FROM {table} WHERE name = ?", (name,)).fetchone()
    if row:
        return int(row[0])
    columns = ", ".join(["name", *extra])
    marks = ", ".join("?" * (1 + len(extra)))
    cursor = conn.execute(
        f"INSERT INTO {table} ({columns}) VALUES ({marks})", (name, *extra.values())
    )
    return int(cursor.lastrowid)


def _pixel_size(image: GroupPlan) -> float | None:
    x = image.axes[-1]
    return image.scale[-1] if x.unit == "micrometer" else None


@dataclass(frozen=True)
class RegionRecord:
    """What ``experiment.db`` records of a written region (plain values, JSON-ready).

    Parameters
    ----------
    parts : tuple of str
        Condition, optional timepoint and region names, as in the folders.
    channels : list of (str, str or None)
        Channel names and hex colours, in order.
    width, height : int
        The image's size in pixels.
    pixel_size_um : float or None
        The pixel size in micrometres, when the image's unit says so.
    has_labels : bool
        Whether a segmentation was written to ``labels.zarr``.
    mask_names : list of str
        The thresholds written to ``masks.zarr``.
    experiment_name : str
        The experiment's name, used when the database is new.
    """

    parts: tuple[str, ...]
    channels: list[tuple[str, str | None]]
    width: int
    height: int
    pixel_size_um: float | None
    has_labels: bool
    mask_names: list[str]
    experiment_name: str

    @classmethod
    def of(
        cls, where: PercellRegion, image: GroupPlan, *, has_labels: bool,
        mask_names: Sequence[str], experiment_name: str,
    ) -> RegionRecord:  # fmt: skip
        """Build the record of a region about to be written from its image plan."""
        height, width = image.level_shapes[0][-2:]
        return cls(
            tuple(where.parts), [(s.label, s.color) for s in image.channels],
            int(width), int(height), _pixel_size(image), has_labels, list(mask_names),
            experiment_name,
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> RegionRecord:
        """Rebuild a record from `to_json`'s dict (raises TypeError or ValueError if malformed)."""
        record = cls(**document)
        channels = [(str(n), None if c is None else str(c)) for n, c in record.channels]
        return cls(**{**asdict(record), "parts": tuple(record.parts), "channels": channels})

    @property
    def where(self) -> PercellRegion:
        """The region's names (condition, optional timepoint, region)."""
        return PercellRegion.from_parts(self.parts)


def record_region(root: Path, record: RegionRecord) -> None:
    """Add or replace a region's rows in ``root/experiment.db``, creating it when missing.

    Parameters
    ----------
    root : Path
        The ``.percell`` folder.
    record : RegionRecord
        The region's names, channels, size and groups.
    """
    where = record.where
    try:
        with closing(sqlite3.connect(root / EXPERIMENT_DB, timeout=10)) as conn, conn:
            conn.executescript(SCHEMA)
            if not conn.execute("SELECT 1 FROM experiments").fetchone():
                conn.execute(
                    "INSERT INTO experiments (name, percell_version, layout, created_at) "
                    "VALUES (?, ?, 'names', ?)",
                    (record.experiment_name, PERCELL_VERSION, datetime.now(UTC).isoformat()),
                )
            for order, (label, color) in enumerate(record.channels):
                _id(conn, "channels", label, color=color, display_order=order)
            condition = _id(conn, "conditions", where.condition)
            timepoint = None
            if where.timepoint is not None:
                count = conn.execute("SELECT count(*) FROM timepoints").fetchone()[0]
                timepoint = _id(conn, "timepoints", where.timepoint, display_order=count)
            zarr_path = where.image_path().as_posix()
            old = conn.execute(
                "SELECT id FROM regions WHERE zarr_path = ?", (zarr_path,)
            ).fetchone()
            if old:
                conn.execute("DELETE FROM masks WHERE region_id = ?", (old[0],))
                conn.execute("DELETE FROM regions WHERE id = ?", (old[0],))
            region = conn.execute(
                "INSERT INTO regions (name, condition_id, timepoint_id, zarr_path, labels_path, "
                "width, height, pixel_size_um) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (where.region, condition, timepoint, zarr_path,
                 where.labels_path().as_posix() if record.has_labels else None, record.width,
                 record.height, record.pixel_size_um),
            ).lastrowid  # fmt: skip
            conn.executemany(
                "INSERT INTO masks (region_id, name, zarr_path) VALUES (?, ?, ?)",
                [(region, n, where.mask_path(n).as_posix()) for n in record.mask_names],
            )
    except sqlite3.Error as exc:
        raise WriteFailedError(
            f"The region's images were written, but {root / 'experiment.db'} could not be "
            f"updated ({exc}). Close PerCell if it holds the database open, then save again: "
            "the next save into this experiment records the region first."
        ) from exc

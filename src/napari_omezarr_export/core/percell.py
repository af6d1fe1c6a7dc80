"""List the regions of a ``.percell`` experiment, in either of its two on-disk shapes.

* Design layout (name-based): ``images.zarr/<condition>/[<bio_rep>/][<timepoint>/]<region>``
  with labels at the same path under ``labels.zarr`` and masks at
  ``masks.zarr/<same path>/threshold_<name>``. Found by walking the folders.
* PerCell 3 layout (id-based): ``images.zarr/fov_<id>``, ``labels.zarr/seg_<id>``,
  ``masks.zarr/thresh_<id>/{mask,particles}``; names and links only in ``experiment.db``.

The result is a list of :class:`Region` records; :mod:`percell_layers` turns them into layers.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from .errors import PercellFormatError
from .omero import norm_hex
from .percell_db import read_only_db, table_names
from .zarrmeta import read_node_meta

__all__ = ["Experiment", "Region", "load_experiment"]

logger = logging.getLogger(__name__)

_TIME_NAME = re.compile(r"^(t|tp|time|timepoint)[_-]?\d+|^\d+(\.\d+)?(s|sec|min|h|hr)$", re.I)
_MAX_DEPTH = 4


@dataclass(frozen=True)
class Region:
    """One field of view / region and the files that belong to it.

    Parameters
    ----------
    key : dict
        ``condition``, ``bio_rep``, ``timepoint``, ``region`` names (None when absent).
    image : Path
        The image group.
    segmentations : list of (str, Path)
        Segmentation label groups (whole-field segmentations excluded).
    thresholds : list of (str, Path)
        Threshold names and mask groups.
    pixel_size : float or None
        Pixel size in micrometres from the database, when known.
    """

    key: dict[str, str | None]
    image: Path
    segmentations: list[tuple[str, Path]] = field(default_factory=list)
    thresholds: list[tuple[str, Path]] = field(default_factory=list)
    pixel_size: float | None = None

    @property
    def label(self) -> str:
        """A display name: the non-empty key parts joined by ``/``."""
        parts = ("condition", "bio_rep", "timepoint", "region")
        return "/".join(str(self.key[k]) for k in parts if self.key.get(k))


@dataclass(frozen=True)
class Experiment:
    """A ``.percell`` experiment's regions and channel names/colours.

    Parameters
    ----------
    root : Path
        The ``.percell`` folder.
    layout : str
        ``"names"`` (design layout) or ``"ids"`` (PerCell 3).
    regions : list of Region
        In a stable order (database ids, or sorted folder names).
    channels : list of (str, str or None)
        Channel names and ``#rrggbb`` colours from the database (empty for the design layout).
    """

    root: Path
    layout: str
    regions: list[Region]
    channels: list[tuple[str, str | None]] = field(default_factory=list)


def _subdirs(path: Path) -> list[Path]:
    """Sub-folders (not hidden), sorted; entries that cannot be followed are skipped."""
    found = []
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                try:
                    if entry.name[0] != "." and entry.is_dir():
                        found.append(Path(entry.path))
                except OSError as exc:  # e.g. a symlink loop
                    logger.warning("%s cannot be opened (%s); it was skipped.", entry.path, exc)
    except OSError as exc:
        logger.debug("could not list %s: %s", path, exc)
    return sorted(found)


def _name_key(parts: tuple[str, ...]) -> dict[str, str | None]:
    middle = parts[1:-1]
    key: dict[str, str | None] = {"condition": parts[0], "bio_rep": None, "timepoint": None}
    if len(middle) == 1:
        key["timepoint" if _TIME_NAME.match(middle[0]) else "bio_rep"] = middle[0]
    elif len(middle) >= 2:
        key["bio_rep"], key["timepoint"] = middle[0], middle[-1]
    key["region"] = parts[-1]
    return key


def name_region(root: Path, image: Path) -> Region:
    """Build a design-layout region from its image group, finding its labels and masks.

    Parameters
    ----------
    root : Path
        The experiment folder.
    image : Path
        ``images.zarr/<condition>/.../<region>``.

    Returns
    -------
    Region
        The region record.
    """
    rel = image.relative_to(root / "images.zarr").parts
    segs = []
    label_dir = root.joinpath("labels.zarr", *rel)
    if label_dir.is_dir() and "multiscales" in read_node_meta(label_dir).attrs:
        segs.append(("segmentation", label_dir))
    masks = [
        (d.name.removeprefix("threshold_"), d)
        for d in _subdirs(root.joinpath("masks.zarr", *rel))
        if d.name.startswith("threshold_")
    ]
    return Region(_name_key(rel), image, segs, masks)


def _walk_images(root: Path) -> list[Region]:
    """Find image groups under ``images.zarr``, following each folder (or link) only once."""
    regions: list[Region] = []
    inside = root.resolve()
    seen = {(root / "images.zarr").resolve()}
    frontier = [root / "images.zarr"]
    for _ in range(_MAX_DEPTH):
        nxt = []
        for folder in frontier:
            for sub in _subdirs(folder):
                try:
                    real = sub.resolve(strict=True)
                except (OSError, RuntimeError):
                    real = None
                if real is None or real in seen or inside not in real.parents:
                    logger.warning(
                        "%s is a link to a folder already listed, or outside the experiment; "
                        "it was skipped.",
                        sub,
                    )
                    continue
                seen.add(real)
                if "multiscales" in read_node_meta(sub).attrs:
                    regions.append(name_region(root, sub))
                else:
                    nxt.append(sub)
        frontier = nxt
    return regions


def _names(conn: sqlite3.Connection, table: str, tables: set[str]) -> dict[int, str]:
    if table not in tables:
        return {}
    return {r["id"]: r["name"] for r in conn.execute(f"SELECT id, name FROM {table}")}


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


def _id_experiment(root: Path, conn: sqlite3.Connection, tables: set[str]) -> Experiment:
    conditions = _names(conn, "conditions", tables)
    bio_reps = _names(conn, "bio_reps", tables)
    timepoints = _names(conn, "timepoints", tables)
    seg_rows = (
        conn.execute("SELECT * FROM segmentations").fetchall()
        if ("segmentations" in tables)
        else []
    )
    segs = {r["id"]: r for r in seg_rows}
    thresholds = _names(conn, "thresholds", tables)
    links: dict[int, tuple[list[int], list[int]]] = {}
    for row in _fov_links(conn, tables):
        seg_ids, thr_ids = links.setdefault(row["fov_id"], ([], []))
        seg = segs.get(row["segmentation_id"])
        if seg is not None and seg["seg_type"] != "whole_field" and seg["id"] not in seg_ids:
            seg_ids.append(seg["id"])
        if row["threshold_id"] is not None and row["threshold_id"] not in thr_ids:
            thr_ids.append(row["threshold_id"])
    regions = []
    for fov in conn.execute("SELECT * FROM fovs ORDER BY id").fetchall():
        seg_ids, thr_ids = links.get(fov["id"], ([], []))
        key = {
            "condition": conditions.get(fov["condition_id"]),
            "bio_rep": bio_reps.get(fov["bio_rep_id"]),
            "timepoint": timepoints.get(fov["timepoint_id"]),
            "region": fov["display_name"] or f"fov_{fov['id']}",
        }
        regions.append(
            Region(
                key,
                root / "images.zarr" / f"fov_{fov['id']}",
                [(segs[i]["name"], root / "labels.zarr" / f"seg_{i}") for i in sorted(seg_ids)],
                [
                    (thresholds.get(i, f"thresh_{i}"), root / "masks.zarr" / f"thresh_{i}")
                    for i in thr_ids
                ],
                _pixel_size(fov["pixel_size_um"], fov["id"]),
            )
        )
    channels = []
    if "channels" in tables:
        for row in conn.execute("SELECT name, color FROM channels ORDER BY display_order, id"):
            name = row["name"] if row["name"] not in (None, "") else f"channel {len(channels)}"
            channels.append((str(name), norm_hex(row["color"])))
    return Experiment(root, "ids", regions, channels)


def load_experiment(root: Path) -> Experiment:
    """List an experiment's regions, from its database (PerCell 3) or its folders (design).

    Parameters
    ----------
    root : Path
        The ``.percell`` folder.

    Returns
    -------
    Experiment
        Regions, layout and channel info.

    Raises
    ------
    PercellFormatError
        When neither layout is found, or the database cannot be read.
    """
    db = root / "experiment.db"
    if not db.is_file():
        logger.warning(
            "%s has no experiment.db: regions are found from the folders of images.zarr, and "
            "channel names and colours come from the image metadata.",
            root,
        )
    else:
        with read_only_db(db) as conn:
            tables = table_names(conn)
            if "fovs" in tables:
                try:
                    experiment = _id_experiment(root, conn, tables)
                except (sqlite3.Error, KeyError, IndexError) as exc:
                    raise PercellFormatError(
                        f"{db}: the PerCell 3 tables are not as expected ({exc}). Open the "
                        "experiment in PerCell to upgrade it, or report its PerCell version."
                    ) from exc
                if experiment.regions:
                    return experiment
    regions = _walk_images(root) if (root / "images.zarr").is_dir() else []
    if not regions:
        raise PercellFormatError(
            f"{root} holds no images: neither images.zarr/<condition>/<region> groups nor "
            "fovs in experiment.db were found."
        )
    return Experiment(root, "names", regions)

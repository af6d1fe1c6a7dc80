"""List the regions of a ``.percell`` experiment, in either of its two on-disk shapes.

* Design layout (name-based): ``images.zarr/<condition>/[<bio_rep>/][<timepoint>/]<region>``
  with labels at the same path under ``labels.zarr`` and masks at
  ``masks.zarr/<same path>/threshold_<name>``. Found by walking the folders.
* PerCell 3 layout (id-based): ``images.zarr/fov_<id>``, ``labels.zarr/seg_<id>``,
  ``masks.zarr/thresh_<id>/{mask,particles}``; names and links only in ``experiment.db``.

The result is an :class:`Experiment` of :class:`Region` records (:mod:`model`); the
id-based layout is read by :mod:`ids`, and :mod:`layers` makes the layers.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from pathlib import Path

from napari_omezarr_export.core.errors import PercellFormatError
from napari_omezarr_export.core.layouts.percell.database import read_only_db, table_names
from napari_omezarr_export.core.layouts.percell.ids import id_experiment
from napari_omezarr_export.core.layouts.percell.journal import committed_groups
from napari_omezarr_export.core.layouts.percell.model import Experiment, Link, Region, name_stem
from napari_omezarr_export.core.layouts.percell.names import (
    EXPERIMENT_DB,
    IMAGES,
    group_path,
    mask_folder_name,
    masks_folder,
)
from napari_omezarr_export.core.read.zarr_nodes import read_node_meta

__all__ = ["Experiment", "Link", "Region", "load_experiment", "name_region", "name_stem"]

logger = logging.getLogger(__name__)

_TIME_NAME = re.compile(r"^(t|tp|time|timepoint)[_-]?\d+|^\d+(\.\d+)?(s|sec|min|h|hr)$", re.I)
_MAX_DEPTH = 4


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
    rel = image.relative_to(root / IMAGES).parts
    if (pending := committed_groups(root, rel)) is not None:  # a replacement cut short
        image, new_segs, new_masks = pending
        masks = [Link(n, p, name_stem(n)) for n, p in new_masks]
        return Region(_name_key(rel), image, [Link(n, p, n) for n, p in new_segs], masks)
    segs = []
    label_dir = group_path(root, "segmentation", rel)
    if label_dir.is_dir() and "multiscales" in read_node_meta(label_dir).attrs:
        segs.append(Link("segmentation", label_dir, "segmentation"))
    masks = []
    for folder in _subdirs(masks_folder(root, rel)):
        if (name := mask_folder_name(folder)) is not None:
            masks.append(Link(name, folder, name_stem(name)))
    return Region(_name_key(rel), image, segs, masks)


def _walk_images(root: Path) -> list[Region]:
    """Find image groups under ``images.zarr``, following each folder (or link) only once."""
    regions: list[Region] = []
    inside = root.resolve()
    seen = {(root / IMAGES).resolve()}
    frontier = [root / IMAGES]
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
    db = root / EXPERIMENT_DB
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
                    experiment = id_experiment(root, conn, tables)
                except (sqlite3.Error, KeyError, IndexError) as exc:
                    raise PercellFormatError(
                        f"{db}: the PerCell 3 tables are not as expected ({exc}). Open the "
                        "experiment in PerCell to upgrade it, or report its PerCell version."
                    ) from exc
                if experiment.regions:
                    return experiment
    regions = _walk_images(root) if (root / IMAGES).is_dir() else []
    if not regions:
        raise PercellFormatError(
            f"{root} holds no images: neither images.zarr/<condition>/<region> groups nor "
            "fovs in experiment.db were found."
        )
    return Experiment(root, "names", regions)

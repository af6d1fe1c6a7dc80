"""Whether a ``.percell`` folder may be written into: it is ours, empty, or not there yet.

A save into a folder that already holds something else (no ``experiment.db``, no
``images.zarr``) would scatter an experiment's stores among someone's files; a file at the
target, a database that is not SQLite, or PerCell 3's id-based experiment cannot take a region
either. Each is refused before anything is created, so the folder is left exactly as it was.
"""

from __future__ import annotations

from pathlib import Path

from napari_omezarr_export.core.errors import (
    InvalidOptionError,
    TargetExistsError,
    WriteFailedError,
)
from napari_omezarr_export.core.layouts.percell.database import read_only_db, table_names
from napari_omezarr_export.core.layouts.percell.names import EXPERIMENT_DB, IMAGES

__all__ = ["check_experiment_target", "is_percell_experiment"]

# Files an operating system's file browser drops into any folder it shows.
_CLUTTER = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
_SQLITE_HEADER = b"SQLite format 3\x00"


def is_percell_experiment(root: Path) -> bool:
    """True when ``root`` has an ``experiment.db`` file or an ``images.zarr`` folder.

    Parameters
    ----------
    root : Path
        A folder.

    Returns
    -------
    bool
        The same test the reader uses to recognise an experiment.
    """
    return (root / EXPERIMENT_DB).is_file() or (root / IMAGES).is_dir()


def check_experiment_target(root: Path) -> None:
    """Raise unless a region may be written into the experiment folder ``root``.

    Parameters
    ----------
    root : Path
        The ``.percell`` folder: absent, empty, or a name-based PerCell experiment.

    Raises
    ------
    TargetExistsError
        When ``root`` is a file, a folder holding other things, or has a broken database.
    InvalidOptionError
        When it is a PerCell 3 (id-based) experiment, whose regions live in tables we do not
        write.
    """
    if not (root.exists() or root.is_symlink()):
        return
    if not root.is_dir():
        what = "a file" if root.is_file() else "a link to nothing"
        raise TargetExistsError(
            f"{root} is {what}, not a PerCell experiment folder; it was left untouched. Choose "
            "another name for the experiment, or move that file away first."
        )
    if is_percell_experiment(root):
        _check_database(root / EXPERIMENT_DB)
        return
    try:
        found = sorted(p.name for p in root.iterdir() if p.name not in _CLUTTER)
    except OSError as exc:
        raise WriteFailedError(
            f"{root} cannot be listed ({exc.strerror or exc}), so it cannot be checked before "
            "writing into it. Choose a folder you own."
        ) from exc
    if found:
        shown = ", ".join(found[:3]) + (", ..." if len(found) > 3 else "")
        raise TargetExistsError(
            f"{root} already exists and is not a PerCell experiment: it has no experiment.db "
            f"and no images.zarr, but holds {len(found)} other item(s) ({shown}). Nothing was "
            "written into it. Choose a new experiment name or an empty folder, or move those "
            "items away first."
        )


def _check_database(db: Path) -> None:
    """Refuse a database we could not add the region to, before any store is written."""
    if not db.is_file():
        return
    with open(db, "rb") as handle:
        header = handle.read(len(_SQLITE_HEADER))
    if header and header != _SQLITE_HEADER:
        raise TargetExistsError(
            f"{db} is not an SQLite database, so the region could not be recorded; nothing was "
            "written. Restore the experiment's database from a backup, or save to a new "
            "experiment."
        )
    with read_only_db(db) as conn:
        id_based = "fovs" in table_names(conn)
    if id_based:
        raise InvalidOptionError(
            f"{db.parent} is a PerCell 3 experiment (fields of view in experiment.db); this "
            "plugin writes only the name-based layout. Add the images in PerCell, or save them "
            "to a new experiment."
        )

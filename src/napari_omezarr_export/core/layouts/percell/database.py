"""Read a PerCell ``experiment.db`` without changing a single file of the experiment.

SQLite in WAL mode creates ``-wal``/``-shm`` files even for ``mode=ro`` connections, and the
experiment may be open in PerCell at the same time. So: when no WAL file exists the database is
opened ``immutable=1`` (no locks, no side files); when one does, the database and its WAL are
copied into a temporary folder and the copy is read, which also sees the latest commits.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from napari_omezarr_export.core.errors import PercellFormatError

__all__ = ["read_only_db", "table_names"]

logger = logging.getLogger(__name__)

_PROBE_TIMEOUT_S = 0.05


def _uri(path: Path, immutable: bool) -> str:
    flags = "mode=ro&immutable=1" if immutable else "mode=ro"
    return f"file:{quote(str(path.resolve()))}?{flags}"


def _rollback_journal(db_path: Path) -> bool:
    """True when the header says rollback-journal mode (bytes 18-19 == 1), not WAL (2)."""
    with open(db_path, "rb") as handle:
        header = handle.read(20)
    return len(header) == 20 and header[:16] == b"SQLite format 3\x00" and header[18] == 1


def _warn_if_locked(db_path: Path) -> None:
    """Warn when another program holds a write lock (PerCell is saving).

    Only for rollback-journal databases: probing one with a plain ``mode=ro`` connection takes
    a shared lock and creates no file (a WAL database would get ``-wal``/``-shm`` files). The
    probe gives up at once instead of waiting, and the data are then read ``immutable=1``.
    """
    if not _rollback_journal(db_path):
        return
    probe = sqlite3.connect(_uri(db_path, immutable=False), uri=True, timeout=_PROBE_TIMEOUT_S)
    try:
        probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        logger.warning(
            "%s is locked by another program (%s), probably PerCell saving; the last saved "
            "state is shown. Reopen the experiment once it has finished saving.",
            db_path,
            exc,
        )
    finally:
        probe.close()


@contextlib.contextmanager
def read_only_db(db_path: Path) -> Iterator[sqlite3.Connection]:
    """Open ``experiment.db`` read-only, leaving the experiment folder untouched.

    Parameters
    ----------
    db_path : Path
        The database file.

    Yields
    ------
    sqlite3.Connection
        A connection with ``row_factory = sqlite3.Row``.

    Raises
    ------
    PercellFormatError
        When the file is not a readable SQLite database.
    """
    wal = db_path.with_name(db_path.name + "-wal")
    with contextlib.ExitStack() as stack:
        try:
            if wal.is_file() and wal.stat().st_size > 0:
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="percell-")))
                copy = tmp / db_path.name
                shutil.copy2(db_path, copy)
                shutil.copy2(wal, tmp / wal.name)
                conn = sqlite3.connect(_uri(copy, immutable=False), uri=True, timeout=1.0)
            else:
                _warn_if_locked(db_path)
                conn = sqlite3.connect(_uri(db_path, immutable=True), uri=True, timeout=1.0)
            stack.callback(conn.close)
            conn.row_factory = sqlite3.Row
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except (OSError, sqlite3.Error) as exc:
            raise PercellFormatError(
                f"Could not read the PerCell database {db_path}: {exc}. Check that it is a "
                "PerCell experiment.db and that you may read it."
            ) from exc
        yield conn


def table_names(conn: sqlite3.Connection) -> set[str]:
    """Return the names of the tables in the database.

    Parameters
    ----------
    conn : sqlite3.Connection
        An open connection.

    Returns
    -------
    set of str
        Table names.
    """
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows}

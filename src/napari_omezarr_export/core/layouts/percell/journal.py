"""All-or-nothing replacement of a ``.percell`` region, and how readers see one cut short.

A region lives in three zarr stores (``images.zarr``, ``labels.zarr``, ``masks.zarr``), so no
single rename replaces it. The writer therefore:

1. stages every new group in full beside its target; nothing a reader sees changes;
2. commits: writes the region's journal, ``<experiment>/.omezarr-export-journal-<key>.json``,
   in one atomic file replacement. It names each staging folder with its inode (a rename
   keeps it, so the new group is recognised wherever it is), the old groups the new region
   no longer has, and the region's row for ``experiment.db``;
3. `replay`: removes the dropped groups, swaps each staged group in (the image last), records
   the region in ``experiment.db``, cleans up, and deletes the journal.

Before the journal exists a reader sees the old region everywhere. While it exists,
`committed_groups` resolves each of the region's groups to its new version, at the staging
folder or at the target, and hides the dropped ones; once it is gone the folders themselves
hold the new region. So after a kill at any instant a reader sees the whole old region or the
whole new one. The next write into the experiment finishes what a killed write committed
(`finish_replacements`) before it does anything else. Reading never changes a file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from napari_omezarr_export.core.errors import PercellFormatError, WriteFailedError
from napari_omezarr_export.core.layouts.percell.database_write import RegionRecord, record_region
from napari_omezarr_export.core.layouts.percell.names import GroupKind, group_path, safe_name
from napari_omezarr_export.core.write.staging import (
    STAGING_MARK,
    _inode,
    _pid_alive,
    atomic_write_json,
    complete_swap,
    remove_leftovers,
    retire,
)

__all__ = [
    "Journal",
    "Swap",
    "commit",
    "committed_groups",
    "finish_replacements",
    "pending_regions",
    "replay",
]

logger = logging.getLogger(__name__)

JOURNAL_PREFIX = f"{STAGING_MARK}journal-"
_VERSION = 1
_KINDS = get_args(GroupKind)
_LIVE_JOURNALS: set[Path] = set()  # this process's replacements in progress

Groups = tuple[Path, list[tuple[str, Path]], list[tuple[str, Path]]]


def journal_path(root: Path, parts: Sequence[str]) -> Path:
    """The journal file of the region at ``parts`` (condition, [timepoint,] region)."""
    key = hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:16]
    return root / f"{JOURNAL_PREFIX}{key}.json"


@dataclass(frozen=True)
class Swap:
    """One staged group: what it is, its staging folder's name beside the target, its inode."""

    kind: GroupKind
    name: str | None
    stage: str
    inode: int


@dataclass(frozen=True)
class Journal:
    """A committed region replacement (see the module's description)."""

    root: Path
    record: RegionRecord
    swaps: list[Swap]
    removals: list[tuple[GroupKind, str | None]] = field(default_factory=list)
    pid: int = field(default_factory=os.getpid)

    @property
    def path(self) -> Path:
        """The journal file."""
        return journal_path(self.root, self.record.parts)

    def target(self, kind: GroupKind, name: str | None) -> Path:
        """Where a group of this region lives: its image, segmentation or a named mask."""
        return group_path(self.root, kind, self.record.parts, name)

    def stage(self, swap: Swap) -> Path:
        """The staging folder a swap moves from."""
        return self.target(swap.kind, swap.name).with_name(swap.stage)

    def new_location(self, swap: Swap) -> Path | None:
        """Where the new group is now: the path holding the staged inode.

        Should the inodes have changed (the experiment was copied), the staging folder while
        it exists, else the target; None when neither exists.
        """
        candidates = [self.target(swap.kind, swap.name), self.stage(swap)]
        for path in candidates:
            if _inode(path) == swap.inode:
                return path
        existing = [p for p in reversed(candidates) if p.is_dir()]
        return existing[0] if existing else None

    def to_json(self) -> dict[str, Any]:
        """The journal's content."""
        return {
            "omezarr_export_journal": _VERSION,
            "pid": self.pid,
            "record": self.record.to_json(),
            "swaps": [vars(s) for s in self.swaps],
            "removals": [list(r) for r in self.removals],
        }


def load(path: Path, root: Path) -> Journal:
    """Read and check a journal file; raise `PercellFormatError` when it is not one of ours.

    Parameters
    ----------
    path : Path
        The journal file.
    root : Path
        The experiment folder it lies in.

    Returns
    -------
    Journal
        The replacement it describes.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("omezarr_export_journal") != _VERSION:
            raise PercellFormatError("its version is not one this plugin writes")
        journal = Journal(
            root,
            RegionRecord.from_json(document["record"]),
            [Swap(**s) for s in document["swaps"]],
            [(str(k), n) for k, n in document["removals"]],
            int(document["pid"]),
        )
        _check(journal, path)
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise PercellFormatError(
            f"{path} is not a replacement journal this plugin can read ({exc}). It records an "
            "unfinished save into this experiment; if you did not copy it there, move it away "
            "and check the region it names."
        ) from exc
    return journal


def _check(journal: Journal, path: Path) -> None:
    """Refuse a journal whose names would reach outside its region's groups.

    Raises `PercellFormatError` saying why; `load` puts the reason into its own message.
    """
    parts = journal.record.parts
    if not 2 <= len(parts) <= 3 or not all(safe_name(p) for p in parts) or path != journal.path:
        raise PercellFormatError(f"region {parts!r} does not match the journal")
    for kind, name in [*((s.kind, s.name) for s in journal.swaps), *journal.removals]:
        if kind not in _KINDS or (kind == "mask") != safe_name(name):
            raise PercellFormatError(f"group {kind!r} {name!r} is not one of a region's groups")
    if any(kind == "image" for kind, _ in journal.removals):
        raise PercellFormatError("a replacement never removes the region's image")
    for swap in journal.swaps:
        target = journal.target(swap.kind, swap.name)
        if not (safe_name(swap.stage) and swap.stage.startswith(f".{target.name}{STAGING_MARK}")):
            raise PercellFormatError(f"{swap.stage!r} is not a staging folder of {target.name}")
    if [s.kind for s in journal.swaps].count("image") != 1:
        raise PercellFormatError("a replacement has exactly one image")


def commit(
    root: Path,
    record: RegionRecord,
    staged: Sequence[tuple[str, str | None, Path]],
    removals: Sequence[tuple[str, str | None]],
) -> Journal:
    """Commit a region's replacement: write its journal in one atomic file replacement.

    Parameters
    ----------
    root : Path
        The experiment folder.
    record : RegionRecord
        The region's row for ``experiment.db``.
    staged : sequence of (kind, name, stage)
        Each complete staging folder: ``"image"``, ``"segmentation"`` or ``"mask"`` (with the
        threshold name), in the order they are to be swapped in.
    removals : sequence of (kind, name)
        The old region's groups that the new one does not have.

    Returns
    -------
    Journal
        The committed replacement, for `replay`.
    """
    swaps = [Swap(kind, name, stage.name, stage.stat().st_ino) for kind, name, stage in staged]
    journal = Journal(root, record, swaps, list(removals))
    _LIVE_JOURNALS.add(journal.path)
    try:
        atomic_write_json(journal.path, journal.to_json())
    except BaseException:
        _LIVE_JOURNALS.discard(journal.path)
        raise
    return journal


def replay(journal: Journal) -> None:
    """Carry out a committed replacement to the end; safe to run again after a kill.

    Parameters
    ----------
    journal : Journal
        The replacement.
    """
    try:
        for kind, name in journal.removals:
            retire(journal.target(kind, name))
        for swap in journal.swaps:
            complete_swap(journal.stage(swap), journal.target(swap.kind, swap.name), swap.inode)
        record_region(journal.root, journal.record)
        for kind, name in [*journal.removals, *((s.kind, s.name) for s in journal.swaps)]:
            remove_leftovers(journal.target(kind, name))
        journal.path.unlink(missing_ok=True)
    except OSError as exc:
        if isinstance(exc, WriteFailedError):
            raise
        raise WriteFailedError(
            f"The new region {'/'.join(journal.record.parts)} of {journal.root} was saved but "
            f"could not be put in place ({exc}). Readers already see the new region; the next "
            "save into this experiment finishes the job."
        ) from exc
    finally:
        _LIVE_JOURNALS.discard(journal.path)


def _journals(root: Path) -> list[Path]:
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    return [root / n for n in names if n.startswith(JOURNAL_PREFIX) and n.endswith(".json")]


def finish_replacements(root: Path, current: Sequence[str] | None = None) -> None:
    """Finish every region replacement a killed or failed write committed in ``root``.

    Parameters
    ----------
    root : Path
        The experiment folder.
    current : sequence of str, optional
        The region about to be written: a replacement of it that another process is doing
        right now is an error (two saves into one region at once).
    """
    for path in _journals(root):
        if path in _LIVE_JOURNALS:
            continue
        journal = load(path, root)
        if journal.pid != os.getpid() and _pid_alive(journal.pid):
            if current is not None and tuple(current) == journal.record.parts:
                raise WriteFailedError(
                    f"Region {'/'.join(current)} of {root} is being saved by another program "
                    f"(process {journal.pid}) right now. Wait until it has finished, then save "
                    "again."
                )
            continue
        if _located(journal) is None:
            logger.warning(
                "%s names groups that are gone or outside the experiment; it was removed.", path
            )
            path.unlink(missing_ok=True)
            continue
        logger.warning(
            "Finishing the interrupted save of region %s", "/".join(journal.record.parts)
        )
        replay(journal)
    _remove_journal_drafts(root)


def _remove_journal_drafts(root: Path) -> None:
    """Delete journal files that a killed write left half-written (``....tmp``)."""
    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        if not (name.startswith(f".{JOURNAL_PREFIX}") and name.endswith(".tmp")):
            continue
        pid = name.rsplit(STAGING_MARK, 1)[-1].removesuffix(".tmp")
        if pid.isdigit() and (int(pid) == os.getpid() or not _pid_alive(int(pid))):
            (root / name).unlink(missing_ok=True)


def committed_groups(root: Path, parts: Sequence[str]) -> Groups | None:
    """The groups to open for a region whose replacement is under way or was cut short.

    Parameters
    ----------
    root : Path
        The experiment folder.
    parts : sequence of str
        The region's path inside ``images.zarr`` (condition, [timepoint,] region).

    Returns
    -------
    tuple of (Path, list of (str, Path), list of (str, Path)) or None
        The new image, its segmentation (``[("segmentation", path)]`` or empty) and its masks
        (threshold name and group, sorted by name); None when no replacement is pending, so
        that the region's folders are what it is. Nothing is changed on disk.
    """
    path = journal_path(root, parts)
    if not path.is_file():
        return None
    try:
        journal = load(path, root)
    except PercellFormatError as exc:
        logger.warning("%s The region's folders are shown as they are.", exc)
        return None
    if journal.record.parts != tuple(parts):
        return None
    found = _located(journal)
    if found is None:
        logger.warning(
            "%s names groups that are gone or outside the experiment; the folders are shown "
            "as they are.",
            path,
        )
        return None
    image = next(p for (k, _), p in found.items() if k == "image")
    segmentations = [("segmentation", p) for (k, _), p in found.items() if k == "segmentation"]
    masks = sorted((str(n), p) for (k, n), p in found.items() if k == "mask")
    return image, segmentations, masks


def _located(journal: Journal) -> dict[tuple[str, str | None], Path] | None:
    """Where each new group is now, or None when one is gone or lies outside the experiment."""
    inside = journal.root.resolve()
    found = {}
    for swap in journal.swaps:
        where = journal.new_location(swap)
        if where is None or inside not in where.resolve().parents:
            return None
        found[swap.kind, swap.name] = where
    return found


def pending_regions(root: Path) -> list[tuple[str, ...]]:
    """The regions whose replacement is committed but not finished (read-only).

    Parameters
    ----------
    root : Path
        The experiment folder.

    Returns
    -------
    list of tuple of str
        Each region's path parts.
    """
    found = []
    for path in _journals(root):
        try:
            found.append(load(path, root).record.parts)
        except PercellFormatError as exc:
            logger.debug("skipped %s: %s", path, exc)
    return found

"""What ``convert`` reads: the sources found under each argument, and their output names.

Sources are OME-Zarr images (any NGFF version this package reads, also zipped ``.ozx`` and
URLs) and bioformats2raw stores, TIFF and OME-TIFF files, and ``.percell`` experiments; a
folder that is none of these is searched (hidden entries skipped, other files ignored) for any
of them.

Output names, one rule for every NGFF version:

- a source named on the command line: ``<out>/<stem>.ome.zarr``, where the stem is its name
  without ``.ome.zarr``, ``.zarr``, ``.ozx``, ``.ome.tif(f)``, ``.tif(f)`` or ``.percell``;
- a source found inside a folder argument: the same, under its sub-folder of that folder
  (``in/day1/a.tif`` -> ``<out>/day1/a.ome.zarr``);
- each region of a ``.percell`` experiment: ``<out>/<stem>/<region>.ome.zarr``, the region
  being PerCell's ``condition/[bio_rep/][timepoint/]region`` (sub-folders);
- each series of a bioformats2raw store: ``<out>/<stem>/<series>.ome.zarr`` (``0``, ``1``...).

Two sources with one output both fail, and neither is written; an output that is its own
source fails too. When the output folder is a source folder (or inside one), what a folder
holds that is another source's output is not a source: the output folder itself when it is a
sub-folder, ``<out>/<stem>.ome.zarr`` of another source, and everything below
``<out>/<stem>/`` of a ``.percell`` experiment or bioformats2raw store. So a rerun skips what
the first run wrote instead of converting it again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from napari_omezarr_export.core import stores
from napari_omezarr_export.core.batch import Job
from napari_omezarr_export.core.sources.tiff import TIFF_SUFFIXES, is_tiff_name

__all__ = ["Source", "SourceKind", "find_sources", "output_stem"]

logger = logging.getLogger(__name__)

SourceKind = Literal["tiff", "ome-zarr", "percell"]

# Longest first where one ends another: ".ome.tif" before ".tif".
_STEM_SUFFIXES = (
    ".ome.zarr", ".zarr", stores.ZIP_SUFFIX, ".percell",
    *(".ome" + suffix for suffix in TIFF_SUFFIXES), *TIFF_SUFFIXES,
)  # fmt: skip


@dataclass(frozen=True)
class Source:
    """One thing to convert.

    Attributes
    ----------
    location : str
        As the user named it, or the path found inside a folder they named.
    kind : {"tiff", "ome-zarr", "percell"}
        How it is read.
    stem : PurePosixPath
        Its output name relative to the output folder, without ``.ome.zarr``.
    outputs_folder : bool
        Its outputs go below ``<out>/<stem>/`` (a ``.percell`` experiment, a bioformats2raw
        store) rather than to ``<out>/<stem>.ome.zarr``.
    """

    location: str
    kind: SourceKind
    stem: PurePosixPath
    outputs_folder: bool = False


def output_stem(name: str) -> str:
    """A source's name without its format suffix: ``cells.ome.tif`` -> ``cells``."""
    lower = name.lower()
    for suffix in _STEM_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def find_sources(
    locations: list[str],
    storage_options: Callable[[str], dict[str, Any] | None],
    *,
    out: Path | None = None,
) -> tuple[list[Source], list[Job]]:
    """The sources named on the command line, folders searched; and a failed job per bad name.

    Parameters
    ----------
    locations : list of str
        Paths, ``.ozx`` files and URLs, as typed.
    storage_options : callable
        The fsspec options for a URL.
    out : Path, optional
        The local output folder: not searched when it lies inside a source folder, and what a
        searched folder holds that is another source's output is not a source (see the
        module docstring).

    Returns
    -------
    sources : list of Source
        In the order given (a folder's contents sorted by name).
    failed : list of Job
        One `Job.failed` per location that is nothing ``convert`` reads.
    """
    sources: list[Source] = []
    failed: list[Job] = []
    for location in locations:
        found = list(_sources_at(location, storage_options(location), out))
        if found and isinstance(found[0], str):
            failed.append(Job.failed(location, found[0]))
        elif not found:
            failed.append(
                Job.failed(
                    location,
                    f"{location} holds no TIFF file, OME-Zarr image or .percell experiment "
                    "(hidden entries are skipped). Check the folder, or name the files.",
                )
            )
        else:
            sources.extend(found)  # type: ignore[arg-type]
    if out is not None:
        sources = _without_outputs(sources, set(locations), out)
    return sources, failed


def _without_outputs(sources: list[Source], named: set[str], out: Path) -> list[Source]:
    """``sources`` without those found in a folder that are another source's output."""
    root = Path(os.path.realpath(out))
    stores_of: dict[Path, list[Source]] = {}
    for source in sources:
        stores_of.setdefault(root / f"{source.stem}.ome.zarr", []).append(source)
    folders = [(root / source.stem, source) for source in sources if source.outputs_folder]
    kept = []
    for source in sources:
        here = Path(os.path.realpath(source.location))
        writers = [s for s in stores_of.get(here, []) if s is not source]
        writers += [s for folder, s in folders if s is not source and here.is_relative_to(folder)]
        if source.location in named or not writers:
            kept.append(source)
        else:
            logger.info("%s is the output of %s: not a source.", here, writers[0].location)
    return kept


def _sources_at(location: str, options: dict | None, out: Path | None) -> Iterator[Source | str]:
    """The sources at a location as typed; a lone str is why there are none."""
    name = location.rstrip("/").rsplit("/", 1)[-1]
    stem = PurePosixPath(output_stem(name))
    if "://" in location and is_tiff_name(name):
        yield (
            f"{location}: TIFF files are read from local paths only (tifffile reads them); copy "
            "it to a local or mounted disk first."
        )
        return
    if "://" in location:
        found = _store_kind(location, options)
        yield _source(location, found, stem) if found is not None else _not_a_store(location)
        return
    path = Path(location).expanduser()
    if not path.exists():
        yield f"{location} does not exist. Check the path."
    elif path.is_file() and is_tiff_name(path.name):
        yield Source(location, "tiff", stem)
    elif path.is_file() and path.suffix.lower() != stores.ZIP_SUFFIX:
        yield (
            f"{location} is not a TIFF (.tif, .tiff), an OME-Zarr store (.zarr, .ozx) or a "
            ".percell experiment; convert reads only those."
        )
    else:
        found = _store_kind(path, options)
        if found is not None:
            yield _source(location, found, stem)
        elif path.is_dir():
            yield from _walk(path, path, {os.path.realpath(out)} if out else set())
        else:
            yield _not_a_store(location)


def _not_a_store(location: str) -> str:
    return (
        f"{location} is not an OME-Zarr store or .percell experiment that convert reads (no "
        "zarr metadata was found there). Check the path or URL."
    )


def _store_kind(location: str | Path, options: dict | None) -> tuple[SourceKind, bool] | None:
    """How ``location`` is read when it is a store convert reads (or a broken one), else None.

    With the kind, whether its outputs go in a folder of their own (``Source.outputs_folder``).
    """
    from napari_omezarr_export.core.reader import discover

    node = discover(location, storage_options=options)
    if node.kind == "percell":
        return "percell", True
    return ("ome-zarr", node.kind == "image_series") if node.is_ours else None


def _source(location: str, found: tuple[SourceKind, bool], stem: PurePosixPath) -> Source:
    kind, outputs_folder = found
    return Source(location, kind, stem, outputs_folder)


def _walk(folder: Path, base: Path, seen: set[str]) -> Iterator[Source]:
    """The sources below ``folder``; ``seen`` holds the folders already searched (or skipped)."""
    seen.add(os.path.realpath(folder))
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        logger.warning("%s cannot be listed (%s); it was skipped.", folder, exc)
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        relative = PurePosixPath(*entry.relative_to(base).parent.parts)
        stem = relative / output_stem(entry.name)
        if entry.is_file():
            if is_tiff_name(entry.name):
                yield Source(str(entry), "tiff", stem)
            elif entry.suffix.lower() == stores.ZIP_SUFFIX and _store_kind(entry, None):
                yield Source(str(entry), "ome-zarr", stem)
        elif entry.is_dir() and os.path.realpath(entry) not in seen:  # links may loop
            found = _store_kind(entry, None)
            if found is not None:
                yield _source(str(entry), found, stem)
            else:
                yield from _walk(entry, base, seen)

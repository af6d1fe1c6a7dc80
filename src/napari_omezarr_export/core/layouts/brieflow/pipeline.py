"""A Brieflow run's export as a list of batch jobs: one per tile store (or plate field) and table.

`plan_export` lists the run's TIFF tiles and tables of the steps the config names
(`intermediates`) and gives each a `napari_omezarr_export.core.batch.Job` that writes it
(`write`, `table_write`), says when it is already complete (so a rerun skips it) and what it
would do (``--dry-run``); the command line runs them with the batch runner. (The batch
imports no layout: whether a store opens comes from the reader, passed in as ``opens``.)
Planning reads no pixels and no rows: a bad TIFF or table fails its own export when it runs,
and the batch goes on.

An export is complete when it opens (an image; a plate field also listed by its well and
plate) or has every column at the source's length (a table), and its root metadata file
(``.zattrs`` or ``zarr.json``; a plate field's own group's) is not older than any of its
source files: the TIFF, its ``nuclei`` and ``cells`` masks and the well's acquisition
metadata (pixel sizes), or the parquet or TSV table. So when Brieflow re-runs a step, the
next export writes that step's outputs again; modification times are the only signal, as
for make or Snakemake.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path

from napari_omezarr_export.core.api import iter_write_image, iter_write_plate_field
from napari_omezarr_export.core.batch import Job
from napari_omezarr_export.core.errors import InvalidOptionError, OmeZarrError
from napari_omezarr_export.core.layouts.brieflow.config import ExportConfig
from napari_omezarr_export.core.layouts.brieflow.intermediates import (
    TileData,
    TileSource,
    find_tables,
    find_tiles,
    pixel_size,
    read_labels,
    read_tile,
)
from napari_omezarr_export.core.layouts.brieflow.names import (
    BRIEFLOW_STEPS,
    LABELLED_PLATE_TYPE,
    TABLE_STEPS,
    brieflow_plate_path,
    image_export_path,
    metadata_path,
    table_export_path,
)
from napari_omezarr_export.core.layouts.brieflow.table_write import (
    iter_write_table,
    source_rows,
    table_complete,
)
from napari_omezarr_export.core.layouts.brieflow.write import (
    brieflow_image_arguments,
    brieflow_plate_arguments,
)
from napari_omezarr_export.core.progress import Progress
from napari_omezarr_export.core.read.zarr_nodes import read_node_meta
from napari_omezarr_export.core.write.plate import split_well

__all__ = ["StoreOpens", "plan_export", "plate_field_complete", "written_after"]

StoreOpens = Callable[[Path], bool]  # True when an image store opens (`core.reader.store_opens`)


def plan_export(run: str | Path, config: ExportConfig, *, opens: StoreOpens) -> list[Job]:
    """Plan the export of a Brieflow run as the config's ``output.omezarr`` block asks.

    Parameters
    ----------
    run : str or Path
        The run folder (Brieflow's ``root_fp``), holding ``preprocess/``, ``sbs/``...
    config : ExportConfig
        The checked ``output.omezarr`` block (see `load_export_config`).
    opens : callable
        Path -> True when an image store there opens (`core.reader.store_opens`): an image
        export that opens is complete (stores are written whole, then swapped in) unless a
        source file is newer than it (`written_after`).

    Returns
    -------
    list of Job
        One per export, in pipeline order; empty when the export is disabled or the run holds
        nothing of the steps asked for.
    """
    run = Path(run)
    if not config.enabled:
        return []
    exports: list[Job] = []
    for step in config.steps:
        if step in BRIEFLOW_STEPS:
            exports += [_tile_export(run, tile, config, opens) for tile in find_tiles(run, step)]
        elif step in TABLE_STEPS:
            exports += [_table_export(run, source, config) for source in find_tables(run, step)]
    return exports


def _shown(run: Path, path: Path) -> str:
    return str(path.relative_to(run)) if path.is_relative_to(run) else str(path)


def _missing_labels(tile: TileSource) -> list[Path]:
    return [p for p in tile.labels.values() if not p.is_file()]


def written_after(export: Path, sources: Iterable[Path]) -> bool:
    """True when an export's root metadata file is not older than any of its source files.

    Parameters
    ----------
    export : Path
        The export's root group (an image store, a plate field, a table group).
    sources : iterable of Path
        The files it is made from; one that does not exist is passed over.

    Returns
    -------
    bool
        False when the export has no ``zarr.json`` or ``.zattrs``, or a source was modified
        after it was written (Brieflow re-ran the step): then it is written again.
    """
    written = None
    for name in ("zarr.json", ".zattrs"):
        try:
            written = (export / name).stat().st_mtime_ns
            break
        except OSError:
            continue
    if written is None:
        return False
    for source in sources:
        try:
            if source.stat().st_mtime_ns > written:
                return False
        except OSError:  # no such file (optional metadata): nothing newer to export
            continue
    return True


def _complete(output: Path, sources: tuple[Path, ...], whole: Callable[[], bool]) -> bool:
    """Complete: not older than its sources (a cheap stat, asked first) and whole."""
    return written_after(output, sources) and whole()


def _tile_export(run: Path, tile: TileSource, config: ExportConfig, opens: StoreOpens) -> Job:
    source = _shown(run, tile.path)
    output = image_export_path(run, tile.step, tile.path, tile.name)
    whole = partial(opens, output)
    what = "OME-Zarr 0.4 image"
    if config.layout == "plate":
        try:
            root = brieflow_plate_path(run, step=tile.step, plate=tile.name.plate)
            row, column = split_well(tile.name.well)
            if not tile.name.tile.isdigit():
                raise InvalidOptionError(
                    f"Tile {tile.name.tile!r} cannot be a plate field: fields are tile numbers."
                )
        except InvalidOptionError as exc:
            return Job.failed(source, str(exc), output)
        output = root / row / column / str(int(tile.name.tile))
        whole = partial(plate_field_complete, output, opens)
        what = f"field of the NGFF 0.5 plate {root.name}"
    missing = _missing_labels(tile)
    if missing:
        names = ", ".join(p.name for p in missing)
        problem = (
            f"{names} is missing beside it: Brieflow's segment_phenotype writes the nuclei "
            "and cells masks the phenotype export needs. Run that step, then export again."
        )
        return Job.failed(source, problem, output)
    labels = " with labels nuclei, cells" if tile.labels else ""
    sources = (tile.path, *tile.labels.values(), metadata_path(run, tile.modality, tile.name))
    return Job(
        source,
        output,
        f"{tile.step} TIFF -> {what}{labels}",
        partial(_write_tile, run, tile, config),
        partial(_complete, output, sources, whole),
    )


def _write_tile(run: Path, tile: TileSource, config: ExportConfig) -> Iterator[Progress]:
    source = read_tile(tile, config.channels.get(tile.channels_key), pixel_size(run, tile))
    labels = read_labels(tile)
    common = {
        "step": tile.step, "well": tile.name.well, "tile": tile.name.tile,
        "channels": source.channel_names or [f"Channel {i}" for i in range(_count(source))],
        "cycles": "axis" if source.cycles else "none", "scale": source.scale,
        "units": source.units, "nuclei": labels.get("nuclei"), "cells": labels.get("cells"),
    }  # fmt: skip
    if config.layout == "plate":
        data, where, options = brieflow_plate_arguments(
            source.data, run, plate=tile.name.plate, image_type=LABELLED_PLATE_TYPE, **common
        )
        storage = replace(config.storage, ngff_version="0.5")  # Brieflow's plates are zarr v3
        yield from iter_write_plate_field(
            data,
            where.plate,
            well=where.well,
            field=where.field,
            **{**options, "storage": storage},
        )
        return
    data, _, options = brieflow_image_arguments(source.data, run, **common)
    target = image_export_path(run, tile.step, tile.path, tile.name)
    options = {**options, "name": target.stem, "storage": config.storage}
    yield from iter_write_image(data, target, **options)


def _count(source: TileData) -> int:
    return source.data.shape[1] if source.cycles else source.data.shape[0]


def plate_field_complete(field: Path, opens: StoreOpens) -> bool:
    """True when a plate field opens and its well and plate list it (the last writing steps).

    Parameters
    ----------
    field : Path
        ``<plate>/<row>/<column>/<field>``.
    opens : callable
        Path -> True when an image store there opens (`core.reader.store_opens`).

    Returns
    -------
    bool
        Whether the field is whole and part of the plate.
    """
    if not opens(field):
        return False
    well, plate = _ome_attrs(field.parent).get("well"), _ome_attrs(field.parents[2]).get("plate")
    row, column = field.parent.parent.name, field.parent.name
    images = well.get("images") if isinstance(well, dict) else None
    wells = plate.get("wells") if isinstance(plate, dict) else None
    return (
        isinstance(images, list)
        and isinstance(wells, list)
        and any(isinstance(i, dict) and i.get("path") == field.name for i in images)
        and any(isinstance(w, dict) and w.get("path") == f"{row}/{column}" for w in wells)
    )


def _ome_attrs(group: Path) -> dict:
    """A group's OME attributes (0.4, or 0.5 with ``ome`` merged in), or {} when unreadable."""
    try:
        return read_node_meta(group).attrs
    except OmeZarrError:  # broken metadata: the field is not complete, and is written again
        return {}


def _table_export(run: Path, source: Path, config: ExportConfig) -> Job:
    target = table_export_path(source)
    kind = "parquet" if source.suffix == ".parquet" else source.suffix.lstrip(".").upper()
    storage = replace(config.storage, ngff_version="0.4")
    return Job(
        _shown(run, source),
        target,
        f"{kind} table -> zarr column group",
        partial(iter_write_table, source, target, storage=storage),
        partial(_complete, target, (source,), lambda: table_complete(target, source_rows(source))),
    )

"""Find a Brieflow run's TIFF tiles and tables by their real names, and read a tile lazily.

The names and folders are `names`' (`IMAGE_SOURCES`, `TABLE_SOURCES`); this module lists the
run folder and opens TIFFs through `napari_omezarr_export.core.sources.tiff.open_tiff`.
Brieflow writes its TIFFs with plain ``tifffile.imwrite`` (no axis names, no pixel size), so
their axes come from Brieflow's own layout: ``(y, x)`` or ``(c, y, x)`` per tile,
``(cycle, c, y, x)`` for aligned SBS tiles, ``(y, x)`` for nuclei and cells; and their pixel
size from the well's acquisition metadata (``pixel_size_x/y`` in µm, `names.metadata_path`).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from napari_omezarr_export.core.errors import InvalidOptionError
from napari_omezarr_export.core.layouts.brieflow.names import (
    IMAGE_SOURCES,
    TABLE_SOURCES,
    Intermediate,
    Step,
    TableStep,
    metadata_path,
    parse_intermediate,
    tile_label_sources,
)

__all__ = [
    "TileData",
    "TileSource",
    "find_tables",
    "find_tiles",
    "pixel_size",
    "read_labels",
    "read_tile",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TileSource:
    """One TIFF tile of a step, with the label TIFFs that go with it (phenotype).

    Attributes
    ----------
    step : {"preprocess", "sbs", "phenotype"}
        The step.
    path : Path
        The TIFF.
    name : Intermediate
        Its plate, well, tile, cycle and type.
    modality : {"sbs", "phenotype"}
        Which acquisition it comes from.
    channels_key : str
        Which channel list of the config names its channels (``sbs``, ``phenotype``,
        ``preprocess/sbs`` or ``preprocess/phenotype``).
    labels : dict of str to Path
        ``nuclei`` and ``cells`` TIFFs (phenotype tiles only; they may not exist).
    """

    step: Step
    path: Path
    name: Intermediate
    modality: str
    channels_key: str
    labels: dict[str, Path] = field(default_factory=dict)


def find_tiles(run: Path, step: Step) -> list[TileSource]:
    """The TIFF tiles ``step`` exports, sorted by path; files not named as Brieflow does are left.

    Parameters
    ----------
    run : Path
        The run folder.
    step : {"preprocess", "sbs", "phenotype"}
        The step.

    Returns
    -------
    list of TileSource
        One per tile (per cycle, for preprocess SBS).
    """
    tiles = []
    for pattern in IMAGE_SOURCES[step]:
        for path in sorted(run.glob(pattern)):
            name = parse_intermediate(path)
            if name is None or not path.is_file():
                continue
            modality = path.parent.name if step == "preprocess" else step
            key = f"preprocess/{modality}" if step == "preprocess" else step
            labels = tile_label_sources(path, name) if step == "phenotype" else {}
            tiles.append(TileSource(step, path, name, modality, key, labels))
    return tiles


def find_tables(run: Path, step: TableStep) -> list[Path]:
    """The tables ``step`` exports (``merge_final`` parquets, ``aggregated`` TSVs...), sorted."""
    return sorted(p for p in run.glob(TABLE_SOURCES[step]) if p.is_file())


@dataclass(frozen=True)
class TileData:
    """A tile's lazy data and what `write_brieflow_image` needs to know of it."""

    data: Any
    cycles: bool  # (cycle, c, y, x)
    channel_names: list[str] | None
    scale: list[float] | None
    units: list[str | None] | None


def read_tile(
    source: TileSource,
    names: list[str] | None = None,
    pixel: tuple[float, float] | None = None,
) -> TileData:
    """Open a tile's TIFF lazily, with its axes as Brieflow writes them.

    Parameters
    ----------
    source : TileSource
        The tile.
    names : list of str, optional
        Channel names from the config; used when they are as many as the tile's channels.
    pixel : tuple of float, optional
        The pixel's (y, x) size in micrometres (see `pixel_size`), for a TIFF that gives none.

    Returns
    -------
    TileData
        The data as ``(c, y, x)``, or ``(cycle, c, y, x)`` for aligned SBS tiles.

    Raises
    ------
    InvalidOptionError
        For a tile of another number of dimensions.
    """
    from napari_omezarr_export.core.sources.tiff import open_tiff

    image = open_tiff(source.path)
    data = image.data
    if image.axes.endswith("c") and data.ndim >= 3:  # interleaved samples (RGB-like pixels)
        import dask.array as da

        data = da.moveaxis(data, -1, -3)  # lazily, channels before y and x
    cycles = source.step == "sbs" and data.ndim == 4
    if data.ndim == 2:
        data = data[None]
    if data.ndim != (4 if cycles else 3):
        expected = "(cycle, c, y, x) or (c, y, x)" if source.step == "sbs" else "(c, y, x)"
        raise InvalidOptionError(
            f"{source.path.name} has shape {tuple(image.data.shape)}; Brieflow's {source.step} "
            f"tiles are (y, x) or {expected}. It was not exported."
        )
    count = data.shape[1] if cycles else data.shape[0]
    if names is None or len(names) != count:
        names = image.channel_names if not cycles else None
    if names is not None and len(names) != count:
        names = None
    scale = units = None
    if {"y", "x"} <= set(image.scale):
        spatial = [image.scale["y"], image.scale["x"]]
        spatial_units = [image.units.get("y"), image.units.get("x")]
    elif pixel is not None:
        spatial, spatial_units = list(pixel), ["micrometer", "micrometer"]
    else:
        return TileData(data, cycles, names, None, None)
    scale = [1.0] * (data.ndim - 2) + spatial
    units = [None] * (data.ndim - 2) + spatial_units
    return TileData(data, cycles, names, scale, units)


def pixel_size(run: Path, source: TileSource) -> tuple[float, float] | None:
    """A tile's pixel size (y, x) in micrometres from its well's metadata, or None.

    Brieflow's aligned tiles keep the acquisition's pixel grid (``upsample_factor`` is the
    registration's subpixel precision, not a resampling), so every step takes the
    acquisition's size. A missing file, column or value gives None: the export goes on
    without a physical scale.
    """
    path = metadata_path(run, source.modality, source.name)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    tile, cycle = source.name.tile, source.name.cycle
    if not tile.isdigit() or not (cycle is None or cycle.isdigit()):
        return None  # Brieflow numbers tiles and cycles; its metadata knows no other names
    sizes = _pixel_sizes(path, stamp)
    found = sizes.get((int(tile), int(cycle))) if cycle is not None else None
    return found or sizes.get((int(tile), None))


@functools.lru_cache(maxsize=8)  # one well's file serves all its tiles
def _pixel_sizes(path: Path, stamp: int) -> dict[tuple[int, int | None], tuple[float, float]]:
    """(tile, cycle or None) -> (y, x) size, read once per file and modification time."""
    import pandas as pd

    try:
        table = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        log.warning("The metadata %s could not be read (%s); no pixel size taken.", path, exc)
        return {}
    if not {"tile", "pixel_size_x"} <= set(table.columns):
        return {}
    sizes: dict[tuple[int, int | None], tuple[float, float]] = {}
    unreadable = 0
    for row in table.itertuples(index=False):
        x = getattr(row, "pixel_size_x", None)
        y = getattr(row, "pixel_size_y", x)
        cycle = getattr(row, "cycle", None)
        if pd.isna(x) or pd.isna(y) or pd.isna(row.tile):
            continue
        try:  # Brieflow writes numbers; another tool's text ("tile-3", "1.3um") is skipped
            size, tile = (float(y), float(x)), int(row.tile)
            cycle = None if cycle is None or pd.isna(cycle) else int(cycle)
        except (TypeError, ValueError):
            unreadable += 1
            continue
        if size[0] <= 0 or size[1] <= 0:
            continue
        sizes.setdefault((tile, None), size)
        if cycle is not None:
            sizes.setdefault((tile, cycle), size)
    if unreadable:
        log.warning(
            "The metadata %s has %d rows whose tile, cycle or pixel size is not a number; "
            "those tiles are exported without a pixel size. Brieflow's combine_metadata "
            "writes numbers: check that the file is Brieflow's.",
            path,
            unreadable,
        )
    return sizes


def read_labels(source: TileSource) -> dict[str, Any]:
    """The tile's ``nuclei`` and ``cells`` label images, lazily, as ``(y, x)``."""
    from napari_omezarr_export.core.sources.tiff import open_tiff

    labels = {}
    for name, path in source.labels.items():
        data = open_tiff(path).data
        if data.ndim != 2:
            raise InvalidOptionError(
                f"{path.name} has shape {tuple(data.shape)}; Brieflow's {name} masks are "
                "(y, x). The tile was not exported."
            )
        labels[name] = data
    return labels

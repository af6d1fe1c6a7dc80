"""Find a Brieflow run's TIFF tiles and tables by their real names, and read a tile lazily.

The names and folders are `names`' (`IMAGE_SOURCES`, `TABLE_SOURCES`); this module lists the
run folder and opens TIFFs through `napari_omezarr_export.core.sources.tiff.open_tiff`.
Brieflow writes its TIFFs with plain ``tifffile.imwrite`` (no axis names), so their axes come
from Brieflow's own layout: ``(y, x)`` or ``(c, y, x)`` per tile, ``(cycle, c, y, x)`` for
aligned SBS tiles, ``(y, x)`` for nuclei and cells.
"""

from __future__ import annotations

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
    parse_intermediate,
    tile_label_sources,
)

__all__ = ["TileData", "TileSource", "find_tables", "find_tiles", "read_labels", "read_tile"]


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
    channels_key : str
        Which channel list of the config names its channels (``sbs``, ``phenotype``,
        ``preprocess/sbs`` or ``preprocess/phenotype``).
    labels : dict of str to Path
        ``nuclei`` and ``cells`` TIFFs (phenotype tiles only; they may not exist).
    """

    step: Step
    path: Path
    name: Intermediate
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
            key = f"preprocess/{path.parent.name}" if step == "preprocess" else step
            labels = tile_label_sources(path, name) if step == "phenotype" else {}
            tiles.append(TileSource(step, path, name, key, labels))
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


def read_tile(source: TileSource, names: list[str] | None = None) -> TileData:
    """Open a tile's TIFF lazily, with its axes as Brieflow writes them.

    Parameters
    ----------
    source : TileSource
        The tile.
    names : list of str, optional
        Channel names from the config; used when they are as many as the tile's channels.

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
        scale = [1.0] * (data.ndim - 2) + spatial
        units = [None] * (data.ndim - 2) + [image.units.get("y"), image.units.get("x")]
    return TileData(data, cycles, names, scale, units)


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

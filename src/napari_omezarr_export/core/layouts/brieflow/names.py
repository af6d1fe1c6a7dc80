"""The one place that knows Brieflow's file names, in both directions (build and parse).

A run folder holds ``<step>/omezarr/<tile name>__<type>.zarr`` per image and
``merge/zarr/<well name>__merge_table.zarr`` per well. Brieflow as written names a tile
``P-{plate}_W-{well}_T-{tile}`` and a well ``P-{plate}_W-{well}``; the export design (which
this plugin writes) names them ``{well}_{tile}`` and ``{well}``.

Brieflow's newer branch (``zarr3``, ``workflow/lib/shared/file_utils.py``
``get_hcs_nested_path``) writes instead one NGFF 0.5 HCS plate per image type and plate:
``<run>/<step>/{type}_{plate}.zarr/{row}/{column}/{tile}``, the row and column split from the
well name (``A1`` -> ``A/1``) and the tile number as the field; labels go under the
``aligned`` plate's fields only (``aligned_{plate}.zarr/A/1/0/labels/nuclei``).

The ``brieflow`` command exports a run's own intermediates, named as Brieflow names them
(``workflow/targets/*.smk``, ``get_filename``): TIFF tiles
``<step>/images[/<modality>]/P-{plate}_W-{well}_T-{tile}[_C-{cycle}]__{type}.tiff`` and tables
``merge/parquets/P-{plate}_W-{well}__merge_final.parquet``,
``aggregate/tsvs/CeCl-{class}_ChCo-{combo}__aggregated.tsv`` and
``cluster/{combo}/{class}/{resolution}/phate_leiden_clustering.tsv``; the exports keep those
names (Brieflow's ``omezarr`` branch, pull request 179): ``<step>/omezarr/...__{type}.zarr``,
``preprocess/omezarr/<modality>/...__image.zarr`` and ``<step>/zarr/...__<table>.zarr``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from napari_omezarr_export.core.errors import InvalidOptionError
from napari_omezarr_export.core.options import check_choice
from napari_omezarr_export.core.stores import local_path

__all__ = [
    "BRIEFLOW_STEPS",
    "DEFAULT_TYPES",
    "EXPORT_STEPS",
    "IMAGE_SOURCES",
    "LABELLED_PLATE_TYPE",
    "PLATE_STEPS",
    "TABLE_SOURCES",
    "TABLE_STEPS",
    "Intermediate",
    "Step",
    "TableStep",
    "TileName",
    "brieflow_plate_path",
    "brieflow_store_path",
    "image_export_path",
    "merge_table_path",
    "metadata_path",
    "parse_intermediate",
    "parse_tile_name",
    "table_export_path",
    "tile_label_sources",
]

Step = Literal["preprocess", "sbs", "phenotype"]
BRIEFLOW_STEPS: tuple[Step, ...] = get_args(Step)
DEFAULT_TYPES = {"preprocess": "image", "sbs": "sbs_aligned", "phenotype": "phenotype"}
# Plates: sbs and phenotype only (Brieflow's preprocess plates nest a cycle folder under each
# tile, which is not an HCS field); labels live in the aligned plate, whatever the step.
PLATE_STEPS: tuple[Step, ...] = ("sbs", "phenotype")
LABELLED_PLATE_TYPE = "aligned"
_NAME_PART = re.compile(r"^[A-Za-z0-9._-]+$")
# Brieflow's tile location, P-{plate}_W-{well}_T-{tile}: the start of its stores' and TIFFs' names.
_LOCATION = r"^P-(?P<plate>[^_]+)_W-(?P<well>[^_]+)_T-(?P<tile>[^_]+)"
# As written: P-1_W-A1_T-0__phenotype.zarr; by design: A1_0__phenotype.zarr.
_WRITTEN = re.compile(_LOCATION + r"__(?P<type>.+)\.zarr$")
_DESIGN = re.compile(r"^(?P<well>[^_]+)_(?P<tile>[^_]+)__(?P<type>.+)\.zarr$")

# The export command's steps, in pipeline order: three of TIFF tiles, three of tables.
TableStep = Literal["merge", "aggregate", "cluster"]
TABLE_STEPS: tuple[TableStep, ...] = get_args(TableStep)
EXPORT_STEPS: tuple[str, ...] = (*BRIEFLOW_STEPS, *TABLE_STEPS)
# What each step exports, as globs under the run folder (Brieflow's targets/*.smk).
IMAGE_SOURCES: dict[Step, tuple[str, ...]] = {
    "preprocess": (
        "preprocess/images/sbs/*__image.tif*",
        "preprocess/images/phenotype/*__image.tif*",
    ),
    "sbs": ("sbs/images/*__aligned.tif*",),
    "phenotype": ("phenotype/images/*__aligned.tif*",),
}
TABLE_SOURCES: dict[TableStep, str] = {
    "merge": "merge/parquets/*__merge_final.parquet",
    "aggregate": "aggregate/tsvs/*__aggregated.tsv",
    "cluster": "cluster/*/*/*/phate_leiden_clustering.tsv",
}
# A source table's type -> its export's (merge_final -> merge_table, aggregated -> aggregate).
_TABLE_TYPES = {"merge_final": "merge_table", "aggregated": "aggregate"}
_TILE_LABELS = ("nuclei", "cells")  # segment_phenotype's label TIFFs, beside __aligned
# A TIFF tile: P-1_W-A1_T-0_C-3__image.tiff (the cycle only for preprocessed SBS tiles).
_INTERMEDIATE = re.compile(_LOCATION + r"(?:_C-(?P<cycle>[^_]+))?__(?P<type>[^.]+)\.tiff?$")


@dataclass(frozen=True)
class Intermediate:
    """A Brieflow TIFF tile: ``P-{plate}_W-{well}_T-{tile}[_C-{cycle}]__{type}.tiff``."""

    plate: str
    well: str
    tile: str
    cycle: str | None
    image_type: str

    @property
    def location(self) -> str:
        """``P-{plate}_W-{well}_T-{tile}[_C-{cycle}]``: the name without its type."""
        cycle = f"_C-{self.cycle}" if self.cycle is not None else ""
        return f"P-{self.plate}_W-{self.well}_T-{self.tile}{cycle}"


def parse_intermediate(path: Path) -> Intermediate | None:
    """Return the plate, well, tile, cycle and type of a Brieflow TIFF tile, or None."""
    match = _INTERMEDIATE.match(Path(path).name)
    if match is None:
        return None
    parts = match.groupdict()
    return Intermediate(
        parts["plate"], parts["well"], parts["tile"], parts["cycle"], parts["type"]
    )


def image_export_path(run: Path, step: Step, source: Path, name: Intermediate) -> Path:
    """Where the ``brieflow`` command exports a TIFF tile of ``step``.

    Parameters
    ----------
    run : Path
        The run folder (Brieflow's ``root_fp``).
    step : {"preprocess", "sbs", "phenotype"}
        The step the tile belongs to.
    source : Path
        The TIFF, ``<run>/<step>/images[/<modality>]/<name>.tiff``.
    name : Intermediate
        Its parsed name.

    Returns
    -------
    Path
        ``preprocess/omezarr/<modality>/<location>__image.zarr``, or
        ``<step>/omezarr/<location>__{sbs_aligned,phenotype}.zarr``.
    """
    if step == "preprocess":
        return run / step / "omezarr" / source.parent.name / f"{name.location}__image.zarr"
    return run / step / "omezarr" / f"{name.location}__{DEFAULT_TYPES[step]}.zarr"


def tile_label_sources(source: Path, name: Intermediate) -> dict[str, Path]:
    """The ``nuclei`` and ``cells`` TIFFs that segment a phenotype tile (they may not exist)."""
    return {
        label: source.with_name(f"{name.location}__{label}{source.suffix}")
        for label in _TILE_LABELS
    }


def metadata_path(run: Path, modality: str, name: Intermediate) -> Path:
    """The well's acquisition metadata, with each tile's pixel size (``pixel_size_x/y``, µm).

    ``preprocess/metadata/{sbs,phenotype}/P-{plate}_W-{well}__combined_metadata.parquet``, as
    Brieflow's ``combine_metadata_*`` rules write it (it may not exist).
    """
    well = f"P-{name.plate}_W-{name.well}__combined_metadata.parquet"
    return run / "preprocess" / "metadata" / modality / well


def table_export_path(source: Path) -> Path:
    """Where the ``brieflow`` command exports a source table (see `TABLE_SOURCES`).

    ``merge/parquets/<location>__merge_final.parquet`` ->
    ``merge/zarr/<location>__merge_table.zarr``, ``aggregate/tsvs/<location>__aggregated.tsv`` ->
    ``aggregate/zarr/<location>__aggregate.zarr``; a table without a location
    (``phate_leiden_clustering.tsv``) -> the same name with ``.zarr``, in its own folder.
    """
    location, sep, table_type = source.stem.rpartition("__")
    if not sep:
        return source.with_suffix(".zarr")
    name = f"{location}__{_TABLE_TYPES.get(table_type, table_type)}.zarr"
    return source.parent.parent / "zarr" / name


@dataclass(frozen=True)
class TileName:
    """Plate (None in the design's names), well, tile and image type of a per-image store."""

    plate: str | None
    well: str
    tile: str
    image_type: str

    @property
    def _well_name(self) -> str:
        return f"P-{self.plate}_W-{self.well}" if self.plate is not None else self.well

    @property
    def store_name(self) -> str:
        """The store's file name: ``{well}_{tile}__{type}.zarr`` (or with ``P-``/``W-``/``T-``)."""
        tile = f"_T-{self.tile}" if self.plate is not None else f"_{self.tile}"
        return f"{self._well_name}{tile}__{self.image_type}.zarr"

    @property
    def table_name(self) -> str:
        """The merge table's file name for this tile's well."""
        return f"{self._well_name}__merge_table.zarr"


def parse_tile_name(store: Path) -> TileName | None:
    """Return plate, well and tile from a store's name, or None when it is not a tile store."""
    for pattern in (_WRITTEN, _DESIGN):
        match = pattern.match(store.name)
        if match:
            parts = match.groupdict()
            return TileName(parts.get("plate"), parts["well"], parts["tile"], parts["type"])
    return None


def merge_table_path(store: Path, name: TileName) -> Path:
    """The merge table of a per-image store's well: ``<run>/merge/zarr/<well>__merge_table.zarr``.

    Parameters
    ----------
    store : Path
        ``<run>/<step>/omezarr/<tile name>__<type>.zarr``.
    name : TileName
        The store's parsed name.

    Returns
    -------
    Path
        Where the table is (it may not exist).
    """
    run = store.parent.parent.parent
    return run / "merge" / "zarr" / name.table_name


def brieflow_store_path(
    root: str | Path, *, step: Step, well: str, tile: str | int, image_type: str | None = None
) -> Path:
    """Return ``<root>/<step>/omezarr/{well}_{tile}__{type}.zarr``.

    Parameters
    ----------
    root : str or Path
        The Brieflow run folder.
    step : {"preprocess", "sbs", "phenotype"}
        The pipeline step.
    well, tile : str
        Well (e.g. ``"A1"``) and tile (e.g. ``0``).
    image_type : str, optional
        The image type; by default ``image``, ``sbs_aligned`` or ``phenotype`` by step.

    Returns
    -------
    Path
        The store path.
    """
    check_choice("Brieflow step", step, BRIEFLOW_STEPS)
    image_type = image_type or DEFAULT_TYPES[step]
    _check_name_parts(well=well, tile=tile, type=image_type)
    name = TileName(None, well, str(tile), image_type)
    return local_path(root, what="A Brieflow store") / step / "omezarr" / name.store_name


def brieflow_plate_path(
    root: str | Path, *, step: Step, plate: str | int, image_type: str = LABELLED_PLATE_TYPE
) -> Path:
    """Return ``<root>/<step>/{type}_{plate}.zarr``, the HCS plate of Brieflow's newer branch.

    Parameters
    ----------
    root : str or Path
        The Brieflow run folder.
    step : {"sbs", "phenotype"}
        The pipeline step.
    plate : str or int
        The plate (e.g. ``1``).
    image_type : str
        The image type, such as ``aligned`` (the default; the plate that holds the labels),
        ``illumination_corrected``, ``log_filtered`` or ``peaks``.

    Returns
    -------
    Path
        The plate path; a well's field is ``<plate>/<row>/<column>/<tile>``.
    """
    check_choice("Brieflow plate step", step, PLATE_STEPS)
    _check_name_parts(plate=plate, type=image_type)
    return local_path(root, what="A Brieflow plate") / step / f"{image_type}_{plate}.zarr"


def _check_name_parts(**parts: object) -> None:
    """Refuse names that cannot be part of a file name."""
    for what, value in parts.items():
        if not _NAME_PART.match(str(value)):
            raise InvalidOptionError(
                f"Brieflow {what} {value!r} cannot be part of a file name; use letters, digits, "
                "'.', '-' or '_'."
            )

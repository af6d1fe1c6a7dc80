"""Brieflow export quirks: the non-standard ``omero.pixel_size`` and dropped feature tables.

Brieflow images mostly open through the generic NGFF path; this module holds the two things
that need Brieflow knowledge: recovering a pixel size the export hid in ``omero.pixel_size``
(when every level's scale is 1.0) and turning a dropped table store into a friendly error.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from napari_omezarr_export.core.errors import BrieflowTableError

__all__ = ["pixel_size_scale", "table_error"]

logger = logging.getLogger(__name__)


def pixel_size_scale(
    omero: object, axis_names: tuple[str, ...], scale: tuple[float, ...]
) -> tuple[tuple[float, ...], bool]:
    """Apply ``omero.pixel_size`` (micrometres) when the multiscale scale is all ones.

    Parameters
    ----------
    omero : object
        The ``omero`` attribute.
    axis_names : tuple of str
        Axis names of the array.
    scale : tuple of float
        The scale found in the multiscale transforms.

    Returns
    -------
    tuple
        The (possibly) corrected scale and whether ``pixel_size`` was used.
    """
    size = omero.get("pixel_size") if isinstance(omero, dict) else None
    if not isinstance(size, dict):
        return scale, False
    spatial = [i for i, n in enumerate(axis_names) if n.lower() in size]
    if not spatial or any(scale[i] != 1.0 for i in spatial):
        return scale, False
    new = list(scale)
    try:
        for i in spatial:
            value = float(size[axis_names[i].lower()])
            if value > 0:
                new[i] = value
    except (TypeError, ValueError):
        logger.info("ignoring non-numeric omero.pixel_size %r", size)
        return scale, False
    return tuple(new), True


def table_error(path: Path, attrs: dict[str, Any]) -> BrieflowTableError:
    """Build the error shown when a Brieflow table store is dropped on napari.

    Parameters
    ----------
    path : Path
        The table store.
    attrs : dict
        Its root attributes (``columns``, ``num_rows``, ``index_name``).

    Returns
    -------
    BrieflowTableError
        An error whose message says what the store is and how to use it instead.
    """
    columns = attrs.get("columns")
    n_cols = len(columns) if isinstance(columns, list) else "several"
    rows = attrs.get("num_rows", "some")
    return BrieflowTableError(
        f"{path.name} is a Brieflow feature table ({rows} rows, {n_cols} columns stored as "
        "one zarr array per column), not an image, so there is nothing to show as a layer. "
        "Open the matching phenotype store instead (phenotype/omezarr/...__phenotype.zarr in "
        "the same run folder): its cells and nuclei then show this table's rows when you "
        "hover over a cell."
    )

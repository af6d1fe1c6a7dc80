"""HCS plates (NGFF ``plate`` and ``well`` groups): one lazy mosaic per channel, every field.

A plate opens as one multiscale mosaic per channel, and one per label name found in the fields,
with a leading ``field`` axis (a slider): wells sit by row and column in cells of one size (the
largest field, padded) with a gap between them, and each well's field ``i`` is on slice ``i``.
Missing wells and fields are blank; fields that cannot be read (not an image, a path leaving
the well) are blank on their own slider position, with a warning naming them. A ``wells``
Labels layer numbers the cells, and its features (``well``, ``row``, ``column``) show the well
under the cursor. Every layer's ``metadata["plate"]`` maps each well to its level-0 pixel box.
The fields' label properties (``image-label.properties``) are kept per (well, field, label
value) in the label layer's ``metadata["plate"]["features"]``, and in its ``features`` as far
as napari's one row per label value allows (`layer_features`).

Only metadata is read at open (the fields' attributes, concurrently); a mosaic block reads one
plane of one field when napari draws it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from napari_omezarr_export.core import stores
from napari_omezarr_export.core.ngff.axes import Axis
from napari_omezarr_export.core.read.image import image_layers
from napari_omezarr_export.core.read.labels import label_colors, label_features
from napari_omezarr_export.core.read.layer_spec import LayerSpec
from napari_omezarr_export.core.read.mosaic import (
    Layout,
    make_layout,
    mosaic_level,
    well_boxes,
    wells_layer,
)
from napari_omezarr_export.core.read.multiscales import Multiscale, open_multiscale
from napari_omezarr_export.core.read.omero import ChannelDisplay
from napari_omezarr_export.core.read.plate_grid import (
    Grid,
    Well,
    compatible,
    field_labels,
    open_fields,
    read_grid,
)
from napari_omezarr_export.core.read.zarr_nodes import read_node_meta

__all__ = ["field_features", "layer_features", "plate_layers", "well_layers"]


def _first_field_styles(first: Multiscale, omero: object) -> list[ChannelDisplay]:
    """Names, colours and windows of the first field's channels, for the whole mosaic.

    Windows missing from ``omero`` come from the first field's own lowest level: sampling the
    mosaic's would open a field on every one of its blocks (2.3 s of a 384-well plate's 2.8 s,
    benchmarks/plate_open.py).
    """
    return [
        ChannelDisplay(s.name, s.color, tuple(s.kwargs["contrast_limits"]), s.kwargs["visible"])
        for s in image_layers(first, omero)
    ]


def _mosaic_layers(grid: Grid, kind: str) -> list[LayerSpec]:
    wells, cells = open_fields(grid)
    first_field = cells[min(cells)]
    cells = compatible(cells, first_field, grid)
    # the first field, opened in full: its axes, units, transforms and omero are the mosaic's
    first_meta = read_node_meta(first_field.path, zarr_format=grid.zarr_format, node_type="group")
    first = open_multiscale(first_meta)
    layout = make_layout(grid, cells, first)
    dtype = first_field.dtype
    levels = [mosaic_level(cells, k, layout, dtype, "image") for k in range(layout.n_levels)]
    mosaic = Multiscale(
        grid.path,
        first.version,
        stores.name_of(grid.path),
        (Axis("field"), *first.axes),
        levels,
        (1.0, *first.scale),
        (0.0, *first.translate),
    )
    meta = {
        "plate": {
            "path": stores.describe(grid.path),
            "kind": kind,
            "rows": grid.rows,
            "columns": grid.columns,
            "fields": layout.n_fields,
            "wells": well_boxes(wells, layout),
        }
    }
    layers = image_layers(
        mosaic,
        None,
        styles=_first_field_styles(first, first_meta.attrs.get("omero")),
        extra_metadata=meta,
    )
    layers += _labels_layers(grid, cells, layout, mosaic, meta)
    if kind == "plate":
        layers.append(wells_layer(grid, wells, layout, mosaic, meta))
    return layers


def _labels_layers(grid: Grid, cells: dict, layout: Layout, image: Multiscale, meta: dict):
    """One mosaic Labels layer per label name found in the fields, in register with the image."""
    layers = []
    for name, label_cells in field_labels(cells, zarr_format=grid.zarr_format).items():
        first = label_cells[min(label_cells)]
        kept = compatible(label_cells, first, grid)
        levels = min(layout.n_levels, *(len(ms.levels) for ms in kept.values()))
        shape = replace(layout, mid=first.shapes[0][:-2], n_levels=levels)
        data = [mosaic_level(kept, k, shape, first.dtype, name) for k in range(levels)]
        axes = ("field", *first.axis_names)
        spatial = {
            a: (s, t)
            for a, s, t in zip(image.axis_names, image.scale, image.translate, strict=True)
        }
        kwargs = {
            "name": name,
            "scale": tuple(spatial.get(a, (1.0, 0.0))[0] for a in axes),
            "translate": tuple(spatial.get(a, (1.0, 0.0))[1] for a in axes),
            "axis_labels": axes,
            "metadata": meta,
        }
        per_field = field_features(grid, kept)
        if per_field is not None:
            kwargs["metadata"] = {**meta, "plate": {**meta["plate"], "features": per_field}}
            features = layer_features(per_field)
            if features is not None:
                kwargs["features"] = features
        colors = label_colors(first.image_label, first.path)
        layers.append(LayerSpec("labels", data, kwargs, label_colors=colors))
    return layers


_KEYS = ("well", "field", "label")


def field_features(grid: Grid, label_cells: dict) -> Any:
    """Every field's label properties in one table: a row per (well, field, label value).

    Parameters
    ----------
    grid : Grid
        The plate's rows and columns.
    label_cells : dict
        ``{(row, column, field): FieldImage}`` of one label name, as shown in the mosaic.

    Returns
    -------
    pandas.DataFrame or None
        Columns ``well`` (``"B3"``), ``field`` (the slider position), ``label`` (the label
        value), then the properties' own columns (one that is named like a key column gets a
        ``" (property)"`` suffix); None when no field's label image has properties.
    """
    import pandas as pd

    frames = []
    for (row, column, f), label in sorted(label_cells.items()):
        table = label_features(label.image_label)
        if table is None:
            continue
        table = table.rename(
            columns={c: f"{c} (property)" for c in table.columns if c in _KEYS}
        ).rename(columns={"index": "label"})
        table.insert(0, "well", f"{grid.rows[row]}{grid.columns[column]}")
        table.insert(1, "field", f)
        frames.append(table)
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True)


def layer_features(per_field: Any) -> Any:
    """The mosaic Labels layer's ``features``: what napari can show for a label value.

    napari maps each label value to one row of ``features`` (its ``index`` column), but in a
    plate one value can label a different object in every field. So:

    * when every label value occurs in one field only, each row of ``per_field`` is its
      value's row, with its ``well`` and ``field`` (the cursor shows all of them);
    * otherwise one row per label value holds the property columns whose values agree in every
      field that has that value (a class name given to value 1 everywhere, say); columns that
      differ between fields (an area, a centroid) are left out, as are ``well`` and ``field``.
      The whole table stays in ``metadata["plate"]["features"]``.

    Parameters
    ----------
    per_field : pandas.DataFrame
        `field_features`' table.

    Returns
    -------
    pandas.DataFrame or None
        An ``index`` column (the label value) and the columns above; None when no property
        column agrees across fields.
    """
    if per_field["label"].map(repr).is_unique:
        return per_field.rename(columns={"label": "index"})[
            ["index", *[c for c in per_field.columns if c != "label"]]
        ]
    values = per_field["label"].map(repr)
    agreed = [
        column
        for column in per_field.columns
        if column not in _KEYS
        and (per_field[column].map(repr).groupby(values).nunique() == 1).all()
    ]
    if not agreed:
        return None
    first = per_field.drop_duplicates("label", keep="first")
    return first[["label", *agreed]].rename(columns={"label": "index"}).reset_index(drop=True)


def plate_layers(path: Path, attrs: dict[str, Any]) -> list[LayerSpec]:
    """Open an HCS plate as one lazy mosaic per channel, with every field on a slider.

    Parameters
    ----------
    path : Path
        The plate group (attributes hold ``plate``).
    attrs : dict
        Its attributes.

    Returns
    -------
    list of LayerSpec
        One image layer per channel, then the ``wells`` Labels layer.

    Raises
    ------
    StoreFormatError
        For a malformed plate, or one whose wells hold no readable image.
    """
    zarr_format = read_node_meta(path).zarr_format
    return _mosaic_layers(read_grid(path, attrs, zarr_format=zarr_format), "plate")


def well_layers(path: Path) -> list[LayerSpec]:
    """Open one well of a plate: its fields on a slider, one image layer per channel.

    Parameters
    ----------
    path : Path
        The well group (attributes hold ``well``).

    Returns
    -------
    list of LayerSpec
        One image layer per channel.
    """
    well = Well(path.parent.name + path.name, 0, 0, [path])
    grid = Grid(path, [path.parent.name], [path.name], [well], read_node_meta(path).zarr_format)
    return _mosaic_layers(grid, "well")

"""bioformats2raw stores (``"bioformats2raw.layout": 3``): every series with its labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from napari_omezarr_export.core.errors import StoreFormatError
from napari_omezarr_export.core.read.image import open_image
from napari_omezarr_export.core.read.layer_spec import LayerSpec
from napari_omezarr_export.core.read.zarr_nodes import (
    has_zarr_metadata,
    is_node,
    read_node_meta,
)

__all__ = ["series_layers", "series_paths"]


def _attrs_of(path: Path) -> dict[str, Any]:
    return read_node_meta(path).attrs


def series_paths(root: Path) -> list[Path]:
    """The images of a bioformats2raw store: as ``OME/`` lists them, else ``0/``, ``1/``, ...

    Parameters
    ----------
    root : Path
        The store, whose attributes hold ``bioformats2raw.layout``.

    Returns
    -------
    list of Path
        One group per series, in order.
    """
    ome = root / "OME"
    listed = read_node_meta(ome).attrs.get("series") if is_node(ome) else None
    if isinstance(listed, list) and listed:
        for name in map(str, listed):
            if name in ("", ".", "..") or set(name) & set("/\\:%?#"):
                raise StoreFormatError(
                    f"{root / 'OME'} lists the series {name!r}, which is not a folder inside "
                    f"{root.name}; open a series folder directly instead."
                )
        return [root / str(name) for name in listed]
    paths = []
    while has_zarr_metadata(root / str(len(paths))):  # the spec's consecutive numbering
        paths.append(root / str(len(paths)))
    return paths


def series_layers(root: Path, attrs: dict[str, Any]) -> list[LayerSpec]:
    """Open every series of a bioformats2raw store (the converter's output) as layers.

    Parameters
    ----------
    root : Path
        The store.
    attrs : dict
        Its attributes.

    Returns
    -------
    list of LayerSpec
        Each series' images and labels; names start with the series when there are several.

    Raises
    ------
    StoreFormatError
        When the layout is not version 3, or no series holds an image.
    """
    layout = attrs.get("bioformats2raw.layout")
    if layout != 3:
        raise StoreFormatError(
            f"{root} is a bioformats2raw store of layout {layout!r}; only layout 3 (the one in "
            "the NGFF specification) can be opened. Convert it again with bioformats2raw 0.3 or "
            "later."
        )
    paths = series_paths(root)
    images = [p for p in paths if has_zarr_metadata(p) and "multiscales" in _attrs_of(p)]
    if not images:
        raise StoreFormatError(
            f"{root} is a bioformats2raw store, but none of its series "
            f"({', '.join(p.name for p in paths) or 'none found'}) holds an OME-Zarr image. "
            "Open a series folder inside it directly, or check that the conversion finished."
        )
    layers = []
    for path in images:
        specs = open_image(path)[0]
        if len(images) > 1:
            series = f"series {path.name}" if path.name.isdigit() else path.name
            for spec in specs:
                named = spec.name not in ("", path.name)
                spec.kwargs["name"] = f"{series}: {spec.name}" if named else series
        layers += specs
    return layers

"""READ entry: a path -> the layers to show. Dispatch only: a layout's reader, or the generic one.

:func:`read` is the public verb (``napari_omezarr_export.read``); :func:`read_node` is what the
napari adapter calls once its cheap getter has discovered the path. Producers' layouts
(PerCell experiments and masks, Brieflow tables) are tried first; everything else goes to the
generic NGFF reader in ``read/``, which knows no layout.
"""

from __future__ import annotations

from pathlib import Path

from napari_omezarr_export.core import stores
from napari_omezarr_export.core.errors import NotOmeZarrError, OmeZarrError, StoreFormatError
from napari_omezarr_export.core.layouts.brieflow.tables import attach_tile_features, table_error
from napari_omezarr_export.core.layouts.percell.masks import mask_group_layers, particles_layer
from napari_omezarr_export.core.ngff.axes import NGFF_SPACE_UNITS, NGFF_TIME_UNITS
from napari_omezarr_export.core.read.contrast import window_from_sample
from napari_omezarr_export.core.read.discovery import Node, discover
from napari_omezarr_export.core.read.image import open_image
from napari_omezarr_export.core.read.labels import (
    label_layer,
    labels_group_layers,
    labels_read_lazily,
    parent_reference,
)
from napari_omezarr_export.core.read.layer_spec import LayerSpec
from napari_omezarr_export.core.read.plate import plate_layers, well_layers
from napari_omezarr_export.core.read.plate_field import (
    PLATE_FIELD_KEY,
    plate_field_of,
    plate_ngff_version,
)
from napari_omezarr_export.core.read.scene import scene_layers
from napari_omezarr_export.core.read.series import series_layers
from napari_omezarr_export.core.read.zarr_nodes import read_node_meta

__all__ = [
    "NGFF_UNITS",
    "PLATE_FIELD_KEY",
    "LayerSpec",
    "Node",
    "discover",
    "labels_read_lazily",
    "plate_field_of",
    "plate_ngff_version",
    "read",
    "read_node",
    "store_opens",
    "window_from_sample",  # the reader's contrast sampler, for the widget's "Windows from data"
]

NGFF_UNITS = frozenset(NGFF_SPACE_UNITS) | frozenset(NGFF_TIME_UNITS)  # what readers show as is
PERCELL_KINDS = ("percell", "percell_region", "mask", "particles")


def read(path: str | Path, *, storage_options: dict | None = None) -> list[LayerSpec]:
    """Open an OME-Zarr store, label group, mask or ``.percell`` experiment as layer specs.

    The napari-free equivalent of dropping ``path`` on napari: every array is lazy (dask), and
    each :class:`LayerSpec` holds the data and napari's keyword arguments.

    Parameters
    ----------
    path : str or Path
        What to open: a local path, a ``.ozx`` file, or a URL (``https://``, ``s3://``, and
        other fsspec protocols whose package is installed).
    storage_options : dict, optional
        For URLs: fsspec options such as ``{"anon": True}``, ``{"profile": "lab"}`` or
        ``{"endpoint_url": ...}``. By default ``s3://`` follows the environment
        (``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, the region) and reads anonymously when no
        credentials are configured.

    Returns
    -------
    list of LayerSpec
        The layers, images first.

    Raises
    ------
    NotOmeZarrError
        When ``path`` is nothing this package opens.
    StoreFormatError
        When it is ours but broken; the message names the file and the problem.
    StoreAccessError
        When a URL cannot be reached (refused, timed out, access denied, server error).
    """
    node = discover(path, storage_options=storage_options)
    if not node.is_ours:
        raise NotOmeZarrError(
            node.message
            or f"{path} is not an OME-Zarr image, labels group, mask, bioformats2raw store or "
            ".percell experiment (no zarr metadata this package reads was found there)."
        )
    return read_node(node)


def read_node(node: Node) -> list[LayerSpec]:
    """Open a discovered node as layer specs (the reader's whole job, minus napari).

    Parameters
    ----------
    node : Node
        The result of :func:`discover`.

    Returns
    -------
    list of LayerSpec
        Layers to add, images first.

    Raises
    ------
    StoreFormatError
        For broken stores, with a message naming the file and the problem.
    BrieflowTableError
        For a Brieflow feature table, which has nothing to show; its message says what to open.
    """
    with stores.read_session(node.documents):
        return _read_node(node)


def _read_node(node: Node) -> list[LayerSpec]:
    kind = node.kind
    if kind == "broken":
        raise node.error or StoreFormatError(node.message)
    if kind == "brieflow_table":
        raise table_error(node.path, node.attrs)
    if kind in PERCELL_KINDS and node.percell_root:
        # Imported here: it loads dask.array (and with it pandas), 0.4 s off `import
        # napari_omezarr_export` (benchmarks/README, import time).
        from napari_omezarr_export.core.layouts.percell.layers import read_percell_node

        layers = read_percell_node(node)
        if layers is not None:
            return layers
    if kind == "image":
        layers = open_image(node.path)[0]
        attach_tile_features(node.path, layers)
        _remember_plate_field(node.path, layers)
        return layers
    if kind == "image_series":
        return series_layers(node.path, node.attrs)
    if kind == "scene":
        return scene_layers(node.path, node.attrs)
    if kind == "plate":
        return plate_layers(node.path, node.attrs)
    if kind == "well":
        return well_layers(node.path)
    if kind == "label_image":
        reference = parent_reference(node.path, node.attrs)
        return [label_layer(read_node_meta(node.path), reference=reference)]
    if kind == "labels_group":
        return labels_group_layers(node.path, _image_above(node.path))
    if kind == "mask":
        return mask_group_layers(node.path)
    if kind == "particles":
        return [particles_layer(node.path, None)]
    raise NotOmeZarrError(
        f"{node.path} is not an OME-Zarr image, labels group, mask or .percell experiment."
    )


def _remember_plate_field(path: Path, layers: list[LayerSpec]) -> None:
    """Mark the layers of a plate's field with its plate, well and field, for saving back."""
    where = plate_field_of(path)
    if where is None:
        return
    for layer in layers:
        metadata = layer.kwargs.setdefault("metadata", {})
        metadata[PLATE_FIELD_KEY] = dict(where)


def _image_above(labels_dir: Path):
    """The reference of the image holding a ``labels`` group, or None."""
    parent = labels_dir.parent
    if labels_dir.name == "labels" and "multiscales" in read_node_meta(parent).attrs:
        return open_image(parent, with_labels=False)[1]
    return None


def store_opens(path: stores.StorePath) -> bool:
    """True when ``path`` is a store this package reads and it opens without an error.

    Only metadata is read (label images stay lazy), so a batch can ask it of every output
    before deciding to skip it: stores are written whole and swapped in, so one that opens is
    complete.

    Parameters
    ----------
    path : Path or UPath
        A store, local or remote.

    Returns
    -------
    bool
        Whether it opens.
    """
    if isinstance(path, Path) and not path.exists():
        return False
    node = discover(path)
    if not node.is_ours:
        return False
    try:
        with labels_read_lazily():
            read_node(node)
    except OmeZarrError:
        return False
    return True

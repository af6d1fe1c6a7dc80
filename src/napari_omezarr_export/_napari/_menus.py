"""Layers > Annotate > "Edit labels (load full resolution)": make a large Labels layer paintable.

napari does not let anyone paint a multiscale Labels layer, and labels larger than the
reader's budget (`core.read.labels.EDITABLE_LABELS_BYTES`) open as one. This action swaps such
a layer for an in-memory level 0 that keeps its name, place in the layer list, scale,
translation, colours, features and ``metadata["ome_zarr"]`` (so that saving writes the edits
back into its store).
"""

# No ``from __future__ import annotations``: napari's app-model reads the annotation below at
# run time to inject the viewer's layer list.
import logging

import numpy as np
from napari.components import LayerList
from napari.layers import Labels
from napari.utils.notifications import show_info, show_warning

__all__ = ["edit_labels_full_resolution", "make_labels_editable"]

logger = logging.getLogger(__name__)

# Loading may use at most this share of the memory available now.
MEMORY_SHARE = 0.5


def edit_labels_full_resolution(layers: LayerList) -> list[Labels]:
    """Make every selected multiscale Labels layer editable by loading its level 0.

    Parameters
    ----------
    layers : LayerList
        The viewer's layers (napari injects them); the selected Labels layers are converted.

    Returns
    -------
    list of Labels
        The new, editable layers (empty when nothing was selected that needed it).
    """
    chosen = [layer for layer in layers.selection if isinstance(layer, Labels)]
    if not any(layer.multiscale for layer in chosen):
        show_info(
            "Select a Labels layer that opened as a pyramid (read-only) to load its full "
            "resolution for editing; the selected labels can already be painted."
            if chosen
            else "Select a Labels layer first, then choose Edit labels (load full resolution)."
        )
        return []
    editable = []
    for layer in chosen:
        if layer.multiscale:
            try:
                editable.append(make_labels_editable(layers, layer))
            except MemoryError as exc:
                show_warning(str(exc))
    return editable


def _load_level0(layer: Labels) -> np.ndarray:
    import psutil

    level0 = layer.data[0]
    need = int(np.prod(level0.shape)) * np.dtype(level0.dtype).itemsize
    available = psutil.virtual_memory().available
    if need > MEMORY_SHARE * available:
        raise MemoryError(
            f"{layer.name!r} needs {need / 2**30:.1f} GiB at full resolution, more than half "
            f"of the {available / 2**30:.1f} GiB of memory available, so it stays read-only. "
            "Free memory, or crop the labels to a region and edit that."
        )
    return np.ascontiguousarray(np.asarray(level0))


def make_labels_editable(layers: LayerList, layer: Labels) -> Labels:
    """Replace a multiscale Labels layer by an editable copy of its level 0.

    Parameters
    ----------
    layers : LayerList
        The list holding ``layer``.
    layer : Labels
        A multiscale Labels layer.

    Returns
    -------
    Labels
        The new layer, at the same index and selected, in paint mode.

    Raises
    ------
    MemoryError
        When level 0 would take more than half of the memory available; nothing changes.
    """
    level0 = _load_level0(layer)
    _, state, _ = layer.as_layer_data_tuple()
    state["multiscale"] = False
    state.pop("properties", None)  # the same table as "features", which is kept
    index = layers.index(layer)
    editable = Labels(level0, **state)
    layers.remove(layer)  # first, so that the new layer keeps the name without a " [1]"
    layers.insert(index, editable)
    layers.selection.active = editable
    editable.mode = "paint"
    logger.info("%s: level 0 %s loaded for editing", editable.name, level0.shape)
    return editable

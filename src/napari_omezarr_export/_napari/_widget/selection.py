"""Which layers the export widget starts with, and whether a set of layers can be exported.

The widget opens on a selection that can be written: the layers selected in the viewer when
the user chose several and they form a valid export, otherwise the largest group of image
layers of one shape with the Labels layers of the same y/x size. A single selected layer is
not taken as a choice, because napari selects every layer as it is added.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from napari.layers import Image, Labels

from napari_omezarr_export._napari._convert import layers_to_export
from napari_omezarr_export.core.api import check_label_names, plan_image
from napari_omezarr_export.core.errors import OmeZarrError

__all__ = ["default_selection", "export_problem"]


def export_problem(layers: Sequence[Any]) -> str:
    """Return why ``layers`` cannot be written as one export, or ``""`` when they can.

    Nothing is read or written: the layers are converted and planned with default options.

    Parameters
    ----------
    layers : sequence of napari Image and Labels layers
        The candidate selection, in viewer order.

    Returns
    -------
    str
        The planning error, or an empty string.
    """
    if not layers:
        return "Select at least one Image or Labels layer to export."
    try:
        image, labels = layers_to_export([layer.as_layer_data_tuple() for layer in layers])
        if image is None:
            check_label_names(labels)
        else:
            plan_image(image.data, None, **image.as_kwargs())
    except (OmeZarrError, ValueError) as exc:
        return str(exc)
    return ""


def level0_shape(layer: Any) -> tuple[int, ...]:
    """Return the shape of a layer's full-resolution data (level 0 when multiscale).

    Parameters
    ----------
    layer : napari Image or Labels layer
        The layer.

    Returns
    -------
    tuple of int
        Its shape, with the colour axis last for an RGB layer.
    """
    data = layer.data[0] if layer.multiscale else layer.data
    return tuple(int(n) for n in data.shape)


def _yx(layer: Any) -> tuple[int, ...]:
    shape = level0_shape(layer)
    return shape[-3:-1] if getattr(layer, "rgb", False) else shape[-2:]


def default_selection(layers: Sequence[Any], selected: Sequence[Any] = ()) -> list[Any]:
    """Return the layers the widget preselects.

    Parameters
    ----------
    layers : sequence of napari layers
        The viewer's layers, in order (layers that are neither Image nor Labels are ignored).
    selected : sequence of napari layers
        The layers selected in the viewer.

    Returns
    -------
    list of napari layers
        The viewer's selection when it holds several exportable layers that form a valid
        export; otherwise the largest group of image layers of one shape (ties: the group with
        a selected layer, then the first in the list) plus the Labels layers of the same y/x
        size that keep it valid; with no valid image group, the Labels layers that can be
        saved together. When nothing can be exported, every layer (the preview says why).
    """
    exportable = [layer for layer in layers if isinstance(layer, Image | Labels)]
    chosen = [layer for layer in exportable if any(layer is s for s in selected)]
    if len(chosen) > 1 and not export_problem(chosen):
        return chosen
    images = [layer for layer in exportable if isinstance(layer, Image)]
    labels = [layer for layer in exportable if isinstance(layer, Labels)]
    for group in _image_groups(images, chosen):
        if not export_problem(group):
            fitting = [layer for layer in labels if _yx(layer) == _yx(group[0])]
            return _in_order(exportable, _add_while_valid(group, fitting))
    return _add_while_valid([], labels) or exportable  # nothing valid: the preview says why


def _image_groups(images: Sequence[Any], chosen: Sequence[Any]) -> list[list[Any]]:
    """Image layers grouped by shape: largest group first, then one with a chosen layer."""
    groups: dict[tuple[int, ...], list[Any]] = {}
    for layer in images:
        groups.setdefault(level0_shape(layer), []).append(layer)
    ordered = list(groups.values())  # first-seen order breaks the remaining ties

    def rank(group: list[Any]) -> tuple[int, int]:
        has_chosen = any(layer is c for layer in group for c in chosen)
        return (-len(group), 0 if has_chosen else 1)

    return sorted(ordered, key=rank)


def _add_while_valid(start: list[Any], candidates: Sequence[Any]) -> list[Any]:
    """Add each candidate, in order, when the selection stays a valid export."""
    selection = list(start)
    for layer in candidates:
        if not export_problem([*selection, layer]):
            selection.append(layer)
    return selection


def _in_order(layers: Sequence[Any], chosen: Sequence[Any]) -> list[Any]:
    return [layer for layer in layers if any(layer is c for c in chosen)]

"""The layer events the export widget follows: names, data, and the state an export writes.

A renamed layer changes the layer list; new data or paint invalidates what the preview read;
a change of what an export writes besides the data (transforms, units, axes, labels' display
state and colours) re-plans, so Export never writes a stale plan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from napari.layers import Labels

__all__ = ["LayerSlots", "follow", "unfollow"]

# Layer properties an export writes besides the data.
_WRITTEN_STATE = ("scale", "translate", "units", "axis_labels", "visible", "opacity", "colormap")


@dataclass(frozen=True)
class LayerSlots:
    """What the widget does when a layer is renamed, its data changes, or its written state."""

    renamed: Callable[[], None]
    data_changed: Callable[[], None]
    written_state_changed: Callable[[], None]


def _connections(layer: Any, slots: LayerSlots) -> list[tuple[Any, Callable[[], None]]]:
    """Each followed event of ``layer`` with its slot (an RGB image, for one, has no colormap)."""
    pairs = [(layer.events.name, slots.renamed), (layer.events.data, slots.data_changed)]
    if isinstance(layer, Labels):
        pairs.append((layer.events.paint, slots.data_changed))
    written = [getattr(layer.events, n) for n in _WRITTEN_STATE if hasattr(layer.events, n)]
    return pairs + [(emitter, slots.written_state_changed) for emitter in written]


def follow(layer: Any, slots: LayerSlots) -> None:
    """Connect ``layer``'s followed events to ``slots``.

    Parameters
    ----------
    layer : napari.layers.Layer
        An Image or Labels layer.
    slots : LayerSlots
        The widget's handlers.
    """
    for emitter, slot in _connections(layer, slots):
        emitter.connect(slot)


def unfollow(layer: Any, slots: LayerSlots) -> None:
    """Disconnect what `follow` connected (for a layer leaving the viewer).

    Parameters
    ----------
    layer : napari.layers.Layer
        An Image or Labels layer.
    slots : LayerSlots
        The handlers given to `follow`.
    """
    for emitter, slot in _connections(layer, slots):
        emitter.disconnect(slot)

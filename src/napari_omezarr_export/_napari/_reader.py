"""The npe2 reader: a cheap getter that never raises, and a reader returning layer data tuples.

``get_reader`` asks :func:`core.read.discovery.discover` what the path is (a metadata file or two)
and returns None for anything that is not ours. The reader it returns opens the node with
:func:`core.reader.read_node` and turns each napari-free :class:`LayerSpec` into a layer data
tuple, building the napari colormaps here (the only reading code that knows napari).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_omezarr_export.core.errors import BrieflowTableError
from napari_omezarr_export.core.options import hex_to_rgb
from napari_omezarr_export.core.reader import NGFF_UNITS, LayerSpec, Node, discover, read_node
from napari_omezarr_export.core.stores import is_remote

if TYPE_CHECKING:  # npe2 costs 0.2 s to import; the getter must stay cheap
    from npe2.types import FullLayerData

__all__ = ["get_reader", "layer_data_tuple", "read_paths"]

logger = logging.getLogger(__name__)

_NAMED = {
    "#0000ff": "blue",
    "#00ff00": "green",
    "#ff0000": "red",
    "#ff00ff": "magenta",
    "#00ffff": "cyan",
    "#ffff00": "yellow",
    "#ffffff": "gray",
}


def get_reader(path: str | Sequence[str]) -> Callable[..., list[FullLayerData]] | None:
    """Return a reader for OME-Zarr, labels, masks and ``.percell`` paths, else None.

    Parameters
    ----------
    path : str or list of str
        What napari was asked to open.

    Returns
    -------
    callable or None
        A reader function, or None when any path is not one this plugin opens.
    """
    paths = [path] if isinstance(path, str | Path) else path
    if not isinstance(paths, list | tuple) or not paths:
        return None
    nodes: list[Node] = []
    for item in paths:
        if not isinstance(item, str | Path):
            return None
        node = discover(item)
        if not node.is_ours:
            return None
        nodes.append(node)
    return partial(read_paths, nodes=nodes)


def read_paths(path: Any = None, *, nodes: list[Node]) -> list[FullLayerData]:
    """Open discovered nodes as napari layer data tuples.

    Parameters
    ----------
    path : str or list of str, optional
        Ignored (npe2 passes the path again); ``nodes`` already describes it.
    nodes : list of Node
        What :func:`get_reader` found.

    Returns
    -------
    list of tuple
        ``(data, kwargs, layer_type)`` per layer.

    Raises
    ------
    StoreFormatError
        When a store is broken; the message names the file and the problem.
    """
    tuples = []
    for node in nodes:
        try:
            with _warnings_shown():
                specs = read_node(node)
        except BrieflowTableError as exc:  # a table is not broken: say what it is, calmly
            _tell(str(exc))
            continue
        logger.debug("%s: %d layers", node.path, len(specs))
        tuples.extend(layer_data_tuple(spec) for spec in specs)
        read_only = [
            s.name
            for s in specs
            if s.layer_type == "labels" and s.multiscale and "plate" not in s.kwargs["metadata"]
        ]  # a plate's well map is a guide, not something to paint
        if read_only:
            why = "in a remote store" if is_remote(node.path) else "too large to edit at once"
            _tell(
                f"{', '.join(read_only)}: {why}, opened as a read-only pyramid. To paint, select "
                "the layer and choose Layers > Annotate > Edit labels (load full resolution)."
            )
    return tuples or [(None,)]  # napari's "nothing to show" sentinel: no error, no layer


# The core reports what it skipped or guessed with `logging`; a user sees napari notifications.
MAX_WARNINGS_SHOWN = 5


class _Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message not in self.messages:
            self.messages.append(message)


@contextlib.contextmanager
def _warnings_shown() -> Iterator[None]:
    """Show the core's warnings while opening as napari notifications (the first few)."""
    from napari.utils.notifications import show_warning

    collected = _Collected()
    core = logging.getLogger("napari_omezarr_export.core")
    core.addHandler(collected)
    try:
        yield
    finally:
        core.removeHandler(collected)
        for message in collected.messages[:MAX_WARNINGS_SHOWN]:
            show_warning(message)
        if len(collected.messages) > MAX_WARNINGS_SHOWN:
            show_warning(f"... and {len(collected.messages) - MAX_WARNINGS_SHOWN} more warnings.")


def _tell(message: str) -> None:
    from napari.utils.notifications import show_info

    logger.info(message)
    show_info(message)


def _image_colormap(color: str | None) -> Any:
    from napari.utils.colormaps import Colormap

    if color is None or color in _NAMED:
        return _NAMED.get(color or "#ffffff")
    return Colormap([[0.0, 0.0, 0.0, 1.0], [*hex_to_rgb(color), 1.0]], name=f"omero {color}")


def _valid_units(units: Sequence[str]) -> tuple[str, ...]:
    # NGFF's own unit names are all pint units; only other spellings need pint's registry,
    # whose first use costs about 0.3 s (measured by benchmarks/open_speed.py).
    if all(u == "pixel" or u in NGFF_UNITS for u in units):
        return tuple(units)
    import pint

    registry = pint.get_application_registry()
    out = []
    for unit in units:
        try:
            registry.Unit(unit)
            out.append(unit)
        except (pint.UndefinedUnitError, ValueError, TypeError, AttributeError):
            logger.info("unknown unit %r shown as pixel", unit)
            out.append("pixel")
    return tuple(out)


def layer_data_tuple(spec: LayerSpec) -> FullLayerData:
    """Turn a core :class:`LayerSpec` into a napari layer data tuple.

    Parameters
    ----------
    spec : LayerSpec
        The napari-free layer description.

    Returns
    -------
    tuple
        ``(data, kwargs, layer_type)``; data is a list of levels when multiscale.
    """
    kwargs = dict(spec.kwargs)
    if "units" in kwargs:
        kwargs["units"] = _valid_units(kwargs["units"])
    if spec.layer_type == "image":
        kwargs["colormap"] = _image_colormap(spec.color)
    elif spec.label_colors is not None:
        from napari.utils.colormaps import DirectLabelColormap

        kwargs["colormap"] = DirectLabelColormap(color_dict=spec.label_colors)
    if "affine" in kwargs:  # NGFF 0.6: napari takes a matrix only as an ndarray (or Affine)
        import numpy as np

        kwargs["affine"] = np.asarray(kwargs["affine"], dtype=float)
    kwargs["multiscale"] = spec.multiscale
    data = list(spec.data) if spec.multiscale else spec.data[0]
    return (data, kwargs, spec.layer_type)

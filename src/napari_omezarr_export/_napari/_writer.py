"""The npe2 writer behind File > Save Layers > OME-Zarr."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from npe2.types import FullLayerData

from napari_omezarr_export._napari._convert import layers_to_export
from napari_omezarr_export.core.api import plan_image, plan_labels
from napari_omezarr_export.core.errors import OmeZarrError, WriteFailedError
from napari_omezarr_export.core.progress import Progress

__all__ = ["write_layers"]

log = logging.getLogger(__name__)


def _with_progress(steps: Iterator[Progress], description: str) -> None:
    """Run a write, showing napari's progress bar while it goes."""
    from napari.utils import progress

    with progress(total=0, desc=description) as bar:
        for done, total in steps:
            bar.total = total
            bar.n = done
            bar.refresh()


def write_layers(path: str, layer_data: Sequence[FullLayerData]) -> list[str]:
    """Save Image and Labels layers as OME-Zarr.

    Image layers of one shape become the channels of one image; Labels layers go under its
    ``labels/``. Labels alone are added to the OME-Zarr image at ``path`` when there is one
    (this saves edited labels back), and are written as a new labels store otherwise.

    Parameters
    ----------
    path : str
        The name the user typed; ``.ome.zarr`` is added when it has no ``.zarr`` suffix.
    layer_data : sequence of (data, meta, layer_type)
        The selected layers.

    Returns
    -------
    list of str
        The paths written.
    """
    with errors_napari_shows(path):  # resolving the target may raise too
        return _write(path, layer_data)


@contextlib.contextmanager
def errors_napari_shows(target: str | Path) -> Iterator[None]:
    """Re-raise our ``ValueError`` errors as `WriteFailedError`, an ``OSError``.

    napari's writer lookup catches ``ValueError`` and then reports only "not a valid writer",
    which would hide what is wrong; an ``OSError`` reaches the user with its message.

    Parameters
    ----------
    target : str or Path
        What was being saved, for the message.

    Yields
    ------
    None
        Run the save inside the block.
    """
    try:
        yield
    except OmeZarrError as exc:
        if isinstance(exc, OSError):
            raise
        raise WriteFailedError(f"Could not save {target}: {exc}") from exc


def _write(path: str, layer_data: Sequence[FullLayerData]) -> list[str]:
    image, labels = layers_to_export(layer_data)
    if image is not None:
        plan = plan_image(image.data, path, **image.as_kwargs())
        _with_progress(plan.iter_run(), f"Saving {plan.target.name}")
    else:
        plan = plan_labels(labels, path)
        _with_progress(plan.iter_run(), f"Saving labels to {plan.target.name}")
    written = plan.paths
    log.info("Saved %s", ", ".join(str(p) for p in written))
    return [str(p) for p in written]

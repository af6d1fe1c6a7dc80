"""The npe2 writer behind File > Save Layers > OME-Zarr.

Layers opened from a field of an HCS plate remember it (``metadata["plate_field"]``, set by the
reader); saved to that field's folder or to its plate, they go back into that field with
``write_plate_field``, as layers from a ``.percell`` region go back into their region.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from npe2.types import FullLayerData

from napari_omezarr_export._napari._convert import ImageExport, layers_to_export
from napari_omezarr_export.core.api import (
    iter_write_plate_field,
    plan_image,
    plan_labels,
    target_path,
)
from napari_omezarr_export.core.errors import ExportError, OmeZarrError, WriteFailedError
from napari_omezarr_export.core.progress import Progress
from napari_omezarr_export.core.reader import PLATE_FIELD_KEY
from napari_omezarr_export.core.stores import is_remote, write_target

__all__ = ["plate_field_for", "write_layers"]

log = logging.getLogger(__name__)

STORE_SUFFIX = ".ome.zarr"


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
    (this saves edited labels back), and are written as a new labels store otherwise. Image
    layers that all came from one field of an HCS plate, saved to that field's folder or to
    the plate, replace that field (see `plate_field_for`); the other fields are not touched.

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
    where = plate_field_for(path, layer_data)
    if where is not None:
        return _write_plate_field(image, labels, where)
    if image is not None:
        plan = plan_image(image.data, path, **image.as_kwargs())
        _with_progress(plan.iter_run(), f"Saving {plan.target.name}")
    else:
        plan = plan_labels(labels, path)
        _with_progress(plan.iter_run(), f"Saving labels to {plan.target.name}")
    written = plan.paths
    log.info("Saved %s", ", ".join(str(p) for p in written))
    return [str(p) for p in written]


def _plate_field(meta: dict) -> dict | None:
    where = (meta.get("metadata") or {}).get(PLATE_FIELD_KEY)
    return where if isinstance(where, dict) and {"plate", "well", "path"} <= set(where) else None


def _local(path: str | Path) -> Path | None:
    """``path`` as an absolute local path, or None when it names a remote store."""
    store = write_target(str(path))
    return None if is_remote(store) else Path(store).expanduser().resolve()


def _field_named(chosen: Path) -> Path:
    """The folder a save to ``chosen`` means: napari adds ``.ome.zarr`` when saving one layer."""
    if chosen.name.endswith(STORE_SUFFIX) and not chosen.exists():
        return chosen.with_name(chosen.name.removesuffix(STORE_SUFFIX))
    return chosen


def plate_field_for(path: str, layer_data: Sequence[FullLayerData]) -> dict | None:
    """The plate field the layers are saved back into, or None for an ordinary save.

    The layers' own plate field (``metadata["plate_field"]``, which the reader puts on the
    layers of a plate's field) is used when every image layer carries the same one (or, with
    no image layer, every Labels layer) and ``path`` is that field's folder or its plate
    (napari adds ``.ome.zarr`` to the field's folder when one layer is saved: while no such
    store exists, that is the field too).

    Parameters
    ----------
    path : str
        Where the user saves.
    layer_data : sequence of (data, meta, layer_type)
        The layers being saved.

    Returns
    -------
    dict or None
        ``{"plate", "well", "field", "path"}`` as the reader wrote it.

    Raises
    ------
    ExportError
        When layers from different fields are saved into one of their plates or fields.
    """
    images = [meta for _, meta, kind in layer_data if kind == "image"]
    carriers = images or [meta for _, meta, _ in layer_data]
    found = [_plate_field(meta) for meta in carriers]
    known = [w for w in found if w is not None]
    if not known:
        return None
    chosen = _local(path)
    if chosen is None:
        return None
    plates = {_local(w["plate"]) for w in known}
    fields = {_local(w["plate"]) / w["path"] for w in known}
    if _field_named(chosen) not in fields and _local(target_path(chosen)) not in plates:
        return None  # saved somewhere else: an ordinary save
    if len(fields) > 1 or len(known) < len(found):
        raise ExportError(
            f"Cannot save into {chosen}: the layers come from different plate fields (or "
            "some from none), and a field holds one image. Select the layers of one field, "
            "or save them to a new store."
        )
    return known[0]


def _field_number(where: dict) -> int:
    """The field number `write_plate_field` writes to the field's folder."""
    row, _column, name = str(where["path"]).split("/")
    if not (name.isdigit() and str(int(name)) == name and row.isupper()):
        raise ExportError(
            f"Cannot save back into field {where['path']} of {where['plate']}: this plugin "
            "writes fields in folders named by their number under upper-case rows (B/3/0). "
            "Save the layers to a new store instead."
        )
    return int(name)


def _write_plate_field(image: ImageExport | None, labels: Any, where: dict) -> list[str]:
    """Replace the plate field the layers came from; the plate and the other fields stay.

    Labels alone go into the field's ``labels/``, as into any image; the field's image, its
    well and its plate are not touched.
    """
    plate, field_dir = Path(where["plate"]), Path(where["plate"]) / where["path"]
    if image is None:
        plan = plan_labels(labels, field_dir)
        _with_progress(plan.iter_run(), f"Saving labels into field {where['path']}")
        return [str(p) for p in plan.paths]
    field = _field_number(where)
    steps = iter_write_plate_field(
        image.data, plate, well=where["well"], field=field, **image.as_kwargs()
    )
    _with_progress(steps, f"Saving field {where['path']} of {plate.name}")
    _tell(f"Saved well {where['well']}, field {field} into plate {plate}.")
    return [str(field_dir)]


def _tell(message: str) -> None:
    from napari.utils.notifications import show_info

    log.info(message)
    show_info(message)

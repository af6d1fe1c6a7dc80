"""The export widget's planner: one `ExportPlan` per refresh, and what it shows of that plan.

A change in the widget schedules a refresh (`PREVIEW_DELAY_MS` later, so typing does not
re-plan at every key). A refresh converts the selection, gives the storage panel the image's
shape (for its chunk lines), plans once, and fills the level shapes and the metadata preview,
or says why nothing can be written. Export runs the refresh's plan when nothing changed since
(`ExportPlanner.current_plan`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from magicgui.widgets import Label, TextEdit
from napari.layers import Image, Labels

from napari_omezarr_export._napari._convert import ImageExport, labels_spec, layers_to_export
from napari_omezarr_export._napari._widget.channels import ChannelsPanel
from napari_omezarr_export._napari._widget.export import PreviewCache
from napari_omezarr_export._napari._widget.layouts import PLATE_NEEDS_IMAGES, LayoutPanel
from napari_omezarr_export._napari._widget.storage import PyramidPanel, StoragePanel
from napari_omezarr_export.core.api import (
    ExportPlan,
    plan_image,
    plan_labels,
    resolve_image,
    target_path,
)
from napari_omezarr_export.core.errors import ExportError, OmeZarrError
from napari_omezarr_export.core.options import ImageOptions
from napari_omezarr_export.core.reader import plate_ngff_version

__all__ = ["ExportPlanner", "PlannerPanels", "labels_layers"]

PREVIEW_DELAY_MS = 300
LAYOUT_NOTE = (
    "This layout follows its design document: its chunks, codec and pyramid replace the "
    "Pyramid and Storage options (the preview shows what it writes)."
)
LABELS_NOTE = (
    "Labels alone are added to the image at the destination, or saved as a labels store: "
    "choose the destination to preview them."
)
PROBLEM_PREFIX = "Cannot export: "


def _first_sentence(text: str) -> str:
    """The first sentence of an error message (what is wrong; the rest says what to do)."""
    return re.split(r"(?<=[.!?])\s+(?=[A-Z])", text.strip(), maxsplit=1)[0]


def labels_layers(selected: Sequence[Any]) -> list[Any]:
    """The Labels layers among ``selected``, in order."""
    return [layer for layer in selected if isinstance(layer, Labels)]


def _image_ids(selected: Sequence[Any]) -> tuple:
    return tuple(id(layer) for layer in selected if isinstance(layer, Image))


@dataclass(frozen=True)
class PlannerPanels:
    """The widget's parts a plan is made from (options, layout) and shown in."""

    channels: ChannelsPanel
    pyramid: PyramidPanel
    storage: StoragePanel
    layout: LayoutPanel
    preview: TextEdit
    status: Label


class ExportPlanner:
    """Plan the widget's export once per refresh and show the plan, or why there is none.

    Parameters
    ----------
    panels : PlannerPanels
        Where the options are read and the plan is shown.
    selected : callable
        Returns the selected layers.
    destination : callable
        Returns the chosen destination, or None.
    parent : QWidget
        The owner of the refresh timer.
    """

    def __init__(
        self,
        panels: PlannerPanels,
        selected: Callable[[], list[Any]],
        destination: Callable[[], Path | None],
        parent: Any,
    ) -> None:
        from qtpy.QtCore import QTimer

        self._panels = panels
        self._selected = selected
        self._destination = destination
        self.plan: ExportPlan | None = None  # the last refresh's plan, when it has one
        self.problem = ""  # why the last refresh could not plan, when it could not
        self.preview_attrs: dict[str, dict] = {}
        self._cache = PreviewCache()
        self._timer = QTimer(parent)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self.refresh)

    @property
    def pending(self) -> bool:
        """True while a change waits for its (delayed) refresh."""
        return self._timer.isActive()

    def schedule(self) -> None:
        """Refresh `PREVIEW_DELAY_MS` after the last change."""
        self._timer.start()

    def data_changed(self) -> None:
        """Forget what the previews read from the data, and schedule a refresh."""
        self._cache.invalidate()
        self.schedule()

    def convert(self) -> tuple[ImageExport | None, list]:
        """Return the image export (or None) and labels from the selection and channel rows."""
        selected = self._selected()
        if not selected:
            raise OmeZarrError("Select at least one Image or Labels layer to export.")
        image, labels = layers_to_export([layer.as_layer_data_tuple() for layer in selected])
        if image is not None:
            image = replace(image, channels=self._panels.channels.styles())
        return image, labels

    def refresh(self) -> None:
        """Re-plan the export once: chunk geometry, level shapes, preview and status message.

        When the selection or the options cannot be written, the preview area and the level
        shapes say why (``Cannot export: <reason>``).
        """
        self._timer.stop()
        self.plan, self.problem = None, ""
        try:
            image, _ = self.convert()
            self._update_geometry(image)
            options = self.options()
            if image is None:
                self._show_labels_preview(options)
            else:
                self._show_image_preview(image, options)
        except (OmeZarrError, ValueError) as exc:
            self._show_problem(str(exc))

    def options(self) -> dict[str, Any]:
        """The pyramid and storage options, as the core's write verbs take them."""
        return {
            "pyramid": self._panels.pyramid.options(),
            "storage": self._panels.storage.options(),
        }

    def current_plan(self, target: Path) -> ExportPlan:
        """The last refresh's plan when it still holds for ``target``, else a fresh one."""
        plan = self.plan
        if self.pending or plan is None or plan.target != target_path(target):
            self.refresh()
            plan = self.plan
        if plan is None:
            raise OmeZarrError(self.problem or LABELS_NOTE)
        return plan

    def _update_geometry(self, image: ImageExport | None) -> None:
        """Give the storage panel the image's NGFF shape, so chunks fit it (nothing is planned)."""
        if image is None:
            self._panels.storage.set_geometry(None)
            return
        ngff = resolve_image(image.data, ImageOptions(axes=image.axes, units=image.units))
        self._panels.storage.set_geometry(ngff.shape, ngff.dtype, ngff.axis_names)

    def _show_image_preview(self, image: ImageExport, options: dict) -> None:
        """Plan the image, show its level shapes, and preview what its layout writes."""
        dest = self._destination()
        if self._panels.layout.kind == "plate":
            self._show_plate_preview(image, options, dest or Path("plate.ome.zarr"))
            return
        plan = plan_image(image.data, dest, **image.as_kwargs(), **options)
        self._panels.pyramid.show_shapes(plan.groups[0].level_shapes)
        selected, layout = self._selected(), self._panels.layout
        if layout.kind != "image":
            preview = layout.preview(image, labels_layers(selected), dest or Path("export"))
            self._show_preview(preview, LAYOUT_NOTE)
            return
        sources = [_image_ids(selected), *(id(layer) for layer in labels_layers(selected))]
        self._show_preview(self._cache.attributes(plan, sources), "")
        self.plan = plan

    def _show_plate_preview(self, image: ImageExport, options: dict, dest: Path) -> None:
        """Plan the field as the plate will get it (in the plate's version) and preview it.

        The preview's keys are paths inside the plate (``B/3/0``, ``B/3/0/labels``...).
        """
        layout = self._panels.layout
        plate = target_path(dest)
        prefix = layout.field_path(dest).relative_to(plate).as_posix()
        storage = options["storage"]
        version = plate_ngff_version(plate)
        if version is not None:  # an existing plate keeps its version, as the core writes it
            storage = replace(storage, ngff_version=version)
        plan = plan_image(image.data, None, **image.as_kwargs(), **{**options, "storage": storage})
        self._panels.pyramid.show_shapes(plan.groups[0].level_shapes)
        selected = self._selected()
        sources = [_image_ids(selected), *(id(layer) for layer in labels_layers(selected))]
        attrs = self._cache.attributes(plan, sources)
        keyed = {f"{prefix}/{key}" if key else prefix: value for key, value in attrs.items()}
        self._show_preview(keyed, layout.plate_note)

    def _show_labels_preview(self, options: dict) -> None:
        """Preview labels saved alone: into the image at the destination, or as a new store."""
        if self._panels.layout.kind == "plate":
            raise ExportError(PLATE_NEEDS_IMAGES)
        dest = self._destination()
        self._panels.pyramid.show_shapes(None)
        if self._panels.layout.kind != "image" or dest is None:
            self._show_preview({}, LABELS_NOTE)
            self._panels.preview.value = LABELS_NOTE
            return
        layers = labels_layers(self._selected())
        specs = [labels_spec(*layer.as_layer_data_tuple()[:2]) for layer in layers]
        plan = plan_labels(specs, dest, **options)
        if len(plan.groups) == 1:
            self._panels.pyramid.show_shapes(plan.groups[0].level_shapes)
        self._show_preview(self._cache.attributes(plan, [id(layer) for layer in layers]), "")
        self.plan = plan

    def _show_problem(self, reason: str) -> None:
        """Say why nothing can be written where the preview and the level shapes would be."""
        self._panels.pyramid.show_shapes(None, reason=_first_sentence(reason))
        self.problem = reason
        self.preview_attrs = {}
        self._panels.preview.value = PROBLEM_PREFIX + reason
        self._panels.status.value = ""  # the preview says it; the status line is for the export

    def _show_preview(self, attrs: dict[str, dict], message: str) -> None:
        self.preview_attrs = attrs
        self._panels.preview.value = json.dumps(attrs, indent=2) if attrs else ""
        self._panels.status.value = message

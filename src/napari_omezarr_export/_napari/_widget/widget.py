"""The "OME-Zarr export" dock widget: a thin magicgui Container over the core's options.

It lists the viewer's Image and Labels layers (starting from a selection that can be written,
see `default_selection`), shows one editable row per channel, the pyramid and storage options,
a live preview of the metadata (or, in its place, why the selection cannot be written), and
writes in a napari ``thread_worker`` with a progress bar and Cancel. Building options and
writing belong to ``core``.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from magicgui.widgets import (
    Container,
    FileEdit,
    Label,
    ProgressBar,
    PushButton,
    Select,
    TextEdit,
)
from napari.layers import Image, Labels
from napari.utils.notifications import show_error

from napari_omezarr_export._napari._convert import channel_axis, labels_spec, layers_to_export
from napari_omezarr_export._napari._widget.channels import ChannelsPanel
from napari_omezarr_export._napari._widget.export import ExportRunner, PreviewCache
from napari_omezarr_export._napari._widget.layouts import LayoutPanel
from napari_omezarr_export._napari._widget.selection import (
    default_selection,
    export_problem,
)
from napari_omezarr_export._napari._widget.settings import load_settings, save_settings
from napari_omezarr_export._napari._widget.storage import (
    PyramidPanel,
    StoragePanel,
    wrap_text,
)
from napari_omezarr_export.core.api import plan_labels_export, target_path
from napari_omezarr_export.core.errors import OmeZarrError
from napari_omezarr_export.core.options import StorageOptions
from napari_omezarr_export.core.write.chunk_shapes import window_from_sample
from napari_omezarr_export.core.write.plan_export import plan_image_export
from napari_omezarr_export.core.write.staging import is_zarr_store

__all__ = ["ExportWidget"]

log = logging.getLogger(__name__)

PREVIEW_DELAY_MS = 300
LAYOUT_NOTE = (
    "This layout follows its design document: its chunks, codec and pyramid replace the "
    "Pyramid and Storage options (the preview shows what it writes)."
)
LABELS_NOTE = (
    "Labels alone are added to the image at the destination, or saved as a labels store: "
    "choose the destination to preview them."
)
WIDTH = 400  # the dock's width at a 1600x1100 window; everything fits it
PROBLEM_PREFIX = "Cannot export: "


def _scroll_area(body: Any, width: int) -> Any:
    """A vertical scroll area around ``body`` that asks for ``width`` pixels (napari's dock).

    It is never narrower than the narrowest layout of ``body``, and gives ``body`` the height
    its wrapped labels need at the current width, so nothing is clipped or squeezed.
    """
    from qtpy.QtCore import QEvent, QSize, Qt
    from qtpy.QtWidgets import QScrollArea

    class ScrollArea(QScrollArea):
        def sizeHint(self) -> QSize:
            return QSize(max(width, self.minimumWidth()), super().sizeHint().height())

        def eventFilter(self, watched: Any, event: Any) -> bool:
            if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
                self.fit()
            return super().eventFilter(watched, event)

        def resizeEvent(self, event: Any) -> None:
            super().resizeEvent(event)
            self.fit()

        def fit(self) -> None:
            inner = self.widget()
            bar = self.verticalScrollBar().sizeHint().width() + 2 * self.frameWidth()
            self.setMinimumWidth(inner.minimumSizeHint().width() + bar)
            height = inner.heightForWidth(self.viewport().width())  # -1: no wrapped labels
            if height > 0 and height != inner.minimumHeight():
                inner.setMinimumHeight(height)

    scroll = ScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(body)
    scroll.fit()
    return scroll


def _first_sentence(text: str) -> str:
    """The first sentence of an error message (what is wrong; the rest says what to do)."""
    return re.split(r"(?<=[.!?])\s+(?=[A-Z])", text.strip(), maxsplit=1)[0]


def _header(text: str) -> Label:
    return Label(value=f"<b>{text}</b>")


def _channel_keys(layer: Any) -> list[tuple]:
    level = layer.data[0] if layer.multiscale else layer.data
    c = channel_axis(level, {"axis_labels": layer.axis_labels})  # a layer's own c axis
    count = level.shape[-1] if layer.rgb else 1 if c is None else level.shape[c]
    return [(id(layer), i) for i in range(count)]


class ExportWidget(ExportRunner, Container):
    """Export the chosen Image and Labels layers as one OME-Zarr image.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose layers are offered.
    """

    def __init__(self, napari_viewer: Any) -> None:
        self._viewer = napari_viewer
        self._layers = Select(choices=(), allow_multiple=True)
        self._layers.native.setMaximumHeight(90)
        self._channels = ChannelsPanel()
        self._from_data = PushButton(text="Windows from data")
        self._apply = PushButton(text="Apply to layers")
        self._pyramid = PyramidPanel()
        self._storage = StoragePanel()
        self._destination_layout = LayoutPanel()
        self._dest = FileEdit(label="Save as", mode="w", filter="OME-Zarr (*.zarr)")
        self._preview = TextEdit(value="")
        self._preview.native.setReadOnly(True)
        self._preview.native.setMinimumHeight(160)
        self._status = Label(value="")
        wrap_text(self._status)
        self._progress = ProgressBar(value=0, min=0, max=1, visible=False)
        self._export = PushButton(text="Export")
        self._cancel = PushButton(text="Cancel", enabled=False)
        super().__init__(labels=False)
        self._body = Container(labels=False, widgets=self._sections())
        self._wrap_in_scroll_area()
        self._worker: Any = None
        self._preview_attrs: dict[str, dict] = {}
        self._cache = PreviewCache()
        self._selected: list[Any] = []
        self._auto_name = ""
        self._setup_timer()
        self._restore(load_settings())
        self._selected = default_selection(self._viewer.layers, self._viewer.layers.selection)
        self._connect()
        self._sync_layers()

    def _sections(self) -> list:
        channel_buttons = Container(layout="horizontal", widgets=[self._from_data, self._apply])
        destination = Container(widgets=[self._destination_layout, self._dest])
        actions = Container(layout="horizontal", widgets=[self._export, self._cancel])
        for box in (channel_buttons, destination, actions):
            box.margins = (0, 0, 0, 0)
        return [
            *(_header("Layers"), self._layers),
            *(_header("Channels"), self._channels, channel_buttons),
            *(_header("Pyramid"), self._pyramid),
            *(_header("Storage"), self._storage),
            *(_header("Destination"), destination),
            *(_header("Metadata preview"), self._preview),
            *(self._status, self._progress, actions),
        ]

    def _wrap_in_scroll_area(self) -> None:
        """Put the sections in a vertical scroll area, so the dock fits small screens."""
        self._scroll = _scroll_area(self._body.native, WIDTH)
        self.native.layout().addWidget(self._scroll)
        self.margins = (0, 0, 0, 0)

    def _setup_timer(self) -> None:
        from qtpy.QtCore import QTimer

        self._timer = QTimer(self.native)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self.refresh)

    def _connect(self) -> None:
        events = self._viewer.layers.events
        events.inserted.connect(self._on_inserted)
        events.removed.connect(self._on_removed)
        events.moved.connect(self._sync_layers)
        for layer in self._viewer.layers:
            self._watch(layer)
        self._layers.changed.connect(self._on_selection)
        for panel in (
            self._channels,
            self._pyramid,
            self._storage,
            self._destination_layout,  # any layout field: names change the preview
        ):
            panel.changed.connect(self._schedule)
        self._from_data.changed.connect(self.windows_from_data)
        self._apply.changed.connect(self._channels.apply_to_layers)
        self._export.changed.connect(self.export)
        self._cancel.changed.connect(self.cancel)

    # -- layers ---------------------------------------------------------------------------

    def _layer_choices(self, _widget: Any = None) -> list[tuple[str, Any]]:
        return [(layer.name, layer) for layer in self._exportable()]

    def _exportable(self) -> list[Any]:
        return [layer for layer in self._viewer.layers if isinstance(layer, Image | Labels)]

    def _watch(self, layer: Any) -> None:
        layer.events.name.connect(self._sync_layers)
        layer.events.data.connect(self._on_data)
        if isinstance(layer, Labels):
            layer.events.paint.connect(self._on_data)

    def _on_inserted(self, event: Any) -> None:
        """Watch a new layer; it joins the selection when the selection stays exportable."""
        layer = event.value
        if isinstance(layer, Image | Labels):
            self._watch(layer)
            if not export_problem([*self._selected, layer]):
                self._selected.append(layer)
        self._sync_layers()

    def _on_removed(self, event: Any) -> None:
        layer = event.value
        layer.events.name.disconnect(self._sync_layers)
        layer.events.data.disconnect(self._on_data)
        if isinstance(layer, Labels):
            layer.events.paint.disconnect(self._on_data)
        self._selected = [s for s in self._selected if s is not layer]
        self._sync_layers()

    def _on_data(self) -> None:
        self._cache.invalidate()
        self._schedule()

    def _sync_layers(self) -> None:
        """Refresh the layer list (names, order), keeping the user's selection."""
        present = self._exportable()
        keep = [layer for layer in present if any(layer is s for s in self._selected)]
        with self._layers.changed.blocked():
            self._layers.choices = ()  # rebuild, so the list follows the viewer's order
            self._layers.choices = self._layer_choices()
            self._layers.value = keep
        self._on_selection()

    def _on_selection(self) -> None:
        chosen = list(self._layers.value)
        self._selected = [layer for layer in self._exportable() if layer in chosen]
        items = []
        for layer in self._selected:
            if isinstance(layer, Image):
                export, _ = layers_to_export([layer.as_layer_data_tuple()])
                keys = _channel_keys(layer)
                styles = export.channels
                items += [(k, style, layer) for k, style in zip(keys, styles, strict=True)]
        self._channels.set_channels(items)
        self._destination_layout.set_labels(self._labels_layers())
        self._destination_layout.suggest_region(self._selected)
        self._suggest_name()
        self._schedule()

    def _suggest_name(self) -> None:
        """Name the destination after the first layer until the user types their own name."""
        current = self._destination()
        if not self._selected or (current is not None and current.name != self._auto_name):
            return
        folder = current.parent if current is not None else Path(self._folder or Path.home())
        self._auto_name = target_path(self._selected[0].name).name
        self._dest.value = folder / self._auto_name

    def _destination(self) -> Path | None:
        text = str(self._dest.value or "")
        return None if text in ("", ".") else Path(text).expanduser()

    # -- options and preview --------------------------------------------------------------

    def _build(self) -> tuple[Any, list, dict]:
        """Return (image export or None, labels, options) from the selection and controls."""
        if not self._selected:
            raise OmeZarrError("Select at least one Image or Labels layer to export.")
        image, labels = layers_to_export([layer.as_layer_data_tuple() for layer in self._selected])
        if image is not None:
            image.channels = self._channels.styles()
        options = {"pyramid": self._pyramid.options(), "storage": self._storage.options()}
        return image, labels, options

    def _schedule(self) -> None:
        self._timer.start()

    @property
    def refresh_pending(self) -> bool:
        """True while a change waits for its (delayed) refresh of the preview."""
        return self._timer.isActive()

    def refresh(self) -> None:
        """Re-plan the export: chunk geometry, level shapes, preview and status message.

        When the selection or the options cannot be written, the preview area and the level
        shapes say why (``Cannot export: <reason>``).
        """
        self._timer.stop()
        try:
            self._update_geometry()
            image, _, options = self._build()
            if image is None:
                self._show_labels_preview(options)
                return
            plans = plan_image_export(image.data, **image.as_kwargs(), **options)
            self._pyramid.show_shapes(plans[0].level_shapes)
            layout = self._destination_layout
            if layout.kind != "image":
                dest = self._destination() or Path("export")
                self._show_preview(layout.preview(image, self._labels_layers(), dest), LAYOUT_NOTE)
                return
            sources = [self._image_ids(), *(id(layer) for layer in self._labels_layers())]
            attrs = self._cache.attributes(plans, sources, options["storage"])
            self._show_preview(attrs, "")
        except (OmeZarrError, ValueError) as exc:
            self._show_problem(str(exc))

    def _show_problem(self, reason: str) -> None:
        """Say why nothing can be written where the preview and the level shapes would be."""
        self._pyramid.show_shapes(None, reason=_first_sentence(reason))
        self._preview_attrs = {}
        self._preview.value = PROBLEM_PREFIX + reason
        self._status.value = ""  # the preview says it; the status line is for the export

    def _show_labels_preview(self, options: dict) -> None:
        """Preview labels saved alone: into the image at the destination, or as a new store."""
        dest = self._destination()
        self._pyramid.show_shapes(None)
        if self._destination_layout.kind != "image" or dest is None:
            self._show_preview({}, LABELS_NOTE)
            self._preview.value = LABELS_NOTE
            return
        layers = self._labels_layers()
        specs = [labels_spec(*layer.as_layer_data_tuple()[:2]) for layer in layers]
        export = plan_labels_export(specs, dest, **options)
        if len(export.plans) == 1:
            self._pyramid.show_shapes(export.plans[0].level_shapes)
        self._cache.summarize(export.plans, [id(layer) for layer in layers])
        self._show_preview(export.attributes(), "")

    def _show_preview(self, attrs: dict[str, dict], message: str) -> None:
        self._preview_attrs = attrs
        self._preview.value = json.dumps(attrs, indent=2) if attrs else ""
        self._status.value = message

    def _image_ids(self) -> tuple:
        return tuple(id(layer) for layer in self._selected if isinstance(layer, Image))

    def _labels_layers(self) -> list[Any]:
        return [layer for layer in self._selected if isinstance(layer, Labels)]

    def _update_geometry(self) -> None:
        """Give the storage panel the image's NGFF shape, so chunks fit it."""
        images = [layer for layer in self._selected if isinstance(layer, Image)]
        if not images:
            self._storage.set_geometry(None)
            return
        image, _ = layers_to_export([layer.as_layer_data_tuple() for layer in images])
        kwargs = {**image.as_kwargs(), "channels": None, "labels": ()}
        plan = plan_image_export(image.data, **kwargs, storage=StorageOptions())[0]
        self._storage.set_geometry(plan.level_shapes[0], plan.dtype, plan.axis_names)

    def windows_from_data(self) -> None:
        """Set every channel's window from percentiles of its layer's lowest level."""
        for row in self._channels.rows:
            layer = row.layer
            level = layer.data[-1] if layer.multiscale else layer.data
            if layer.rgb:
                level = level[..., row.key[1]]
            elif (c := channel_axis(level, {"axis_labels": layer.axis_labels})) is not None:
                level = level[(slice(None),) * c + (row.key[1],)]
            row.set_window(*window_from_sample(level))

    # -- export ---------------------------------------------------------------------------

    def export(self) -> None:
        """Check the options, confirm replacing an existing store, and start writing."""
        if self._worker is not None:
            return
        try:
            target = self._destination()
            if target is None:
                raise OmeZarrError("Choose where to save the store (Save as).")
            image, _, options = self._build()
            replaced = self._destination_layout.target(target)
            if is_zarr_store(replaced) and not self._confirm_replace(replaced):
                return
            if image is not None and self._destination_layout.kind == "image":
                plan_image_export(image.data, **image.as_kwargs(), **options)  # fail early
            steps, written = self._destination_layout.steps(
                image, self._labels_layers(), options, target
            )
        except (OmeZarrError, ValueError) as exc:
            self._status.value = str(exc)
            show_error(str(exc))
            return
        self._remember(target)
        self._start(steps, written)

    def _confirm_replace(self, path: Path) -> bool:
        """Ask before replacing (or adding labels to) the store at ``path``."""
        from qtpy.QtWidgets import QMessageBox

        answer = QMessageBox.question(
            self.native,
            "Replace OME-Zarr store?",
            f"{path} already exists.\n\nReplace it? The old store stays intact until the new "
            "one is complete.",
        )
        return answer == QMessageBox.StandardButton.Yes

    # -- remembered options ---------------------------------------------------------------

    def _restore(self, values: dict[str, Any]) -> None:
        self._pyramid.restore(values)
        self._storage.restore(values)
        self._folder = values.get("folder") or ""

    def _remember(self, target: Path) -> None:
        self._folder = str(target.parent)
        save_settings(
            {**self._pyramid.settings(), **self._storage.settings(), "folder": self._folder}
        )

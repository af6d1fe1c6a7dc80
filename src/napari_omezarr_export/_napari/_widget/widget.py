"""The "OME-Zarr export" dock widget: a thin magicgui Container over the core's options.

It lists the viewer's Image and Labels layers (starting from a selection that can be written,
see `default_selection`), shows one editable row per channel, the pyramid and storage options,
a live preview of the metadata (or, in its place, why the selection cannot be written), and
writes in a napari ``thread_worker`` with a progress bar and Cancel. Each refresh makes one
`ExportPlan`, which gives the level shapes and the preview, and which Export runs when nothing
changed since. Building options and writing belong to ``core``.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
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

from napari_omezarr_export._napari._convert import (
    ImageExport,
    channel_axis,
    labels_spec,
    layers_to_export,
)
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
from napari_omezarr_export.core.api import (
    ExportPlan,
    is_zarr_store,
    plan_image,
    plan_labels,
    resolve_image,
    target_path,
)
from napari_omezarr_export.core.errors import OmeZarrError
from napari_omezarr_export.core.options import ImageOptions
from napari_omezarr_export.core.reader import window_from_sample

__all__ = ["ExportWidget"]


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


# Layer properties an export writes besides the data (transforms, units, axes, labels' display
# state and colours): a change re-plans, so Export never writes a stale plan.
_WRITTEN_STATE = ("scale", "translate", "units", "axis_labels", "visible", "opacity", "colormap")


def _written_state_events(layer: Any) -> list[Any]:
    """The layer's events for `_WRITTEN_STATE` (an RGB image, for one, has no colormap)."""
    return [getattr(layer.events, n) for n in _WRITTEN_STATE if hasattr(layer.events, n)]


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
        self._plan: ExportPlan | None = None  # the last refresh's plan, when it has one
        self._problem = ""  # why the last refresh could not plan, when it could not
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
        for emitter in _written_state_events(layer):  # re-plan when what is written changes
            emitter.connect(self._schedule)

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
        for emitter in _written_state_events(layer):
            emitter.disconnect(self._schedule)
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

    def _convert(self) -> tuple[ImageExport | None, list]:
        """Return the image export (or None) and labels from the selection and channel rows."""
        if not self._selected:
            raise OmeZarrError("Select at least one Image or Labels layer to export.")
        image, labels = layers_to_export([layer.as_layer_data_tuple() for layer in self._selected])
        if image is not None:
            image = replace(image, channels=self._channels.styles())
        return image, labels

    def _options(self) -> dict:
        return {"pyramid": self._pyramid.options(), "storage": self._storage.options()}

    def _schedule(self) -> None:
        self._timer.start()

    @property
    def refresh_pending(self) -> bool:
        """True while a change waits for its (delayed) refresh of the preview."""
        return self._timer.isActive()

    def refresh(self) -> None:
        """Re-plan the export once: chunk geometry, level shapes, preview and status message.

        When the selection or the options cannot be written, the preview area and the level
        shapes say why (``Cannot export: <reason>``).
        """
        self._timer.stop()
        self._plan, self._problem = None, ""
        try:
            image, _ = self._convert()
            self._update_geometry(image)
            options = self._options()
            if image is None:
                self._show_labels_preview(options)
                return
            dest = self._destination()
            plan = plan_image(image.data, dest, **image.as_kwargs(), **options)
            self._pyramid.show_shapes(plan.groups[0].level_shapes)
            layout = self._destination_layout
            if layout.kind != "image":
                placeholder = dest or Path("export")
                self._show_preview(
                    layout.preview(image, self._labels_layers(), placeholder), LAYOUT_NOTE
                )
                return
            sources = [self._image_ids(), *(id(layer) for layer in self._labels_layers())]
            self._show_preview(self._cache.attributes(plan, sources), "")
            self._plan = plan
        except (OmeZarrError, ValueError) as exc:
            self._show_problem(str(exc))

    def _show_problem(self, reason: str) -> None:
        """Say why nothing can be written where the preview and the level shapes would be."""
        self._pyramid.show_shapes(None, reason=_first_sentence(reason))
        self._problem = reason
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
        plan = plan_labels(specs, dest, **options)
        if len(plan.groups) == 1:
            self._pyramid.show_shapes(plan.groups[0].level_shapes)
        self._show_preview(self._cache.attributes(plan, [id(layer) for layer in layers]), "")
        self._plan = plan

    def _show_preview(self, attrs: dict[str, dict], message: str) -> None:
        self._preview_attrs = attrs
        self._preview.value = json.dumps(attrs, indent=2) if attrs else ""
        self._status.value = message

    def _image_ids(self) -> tuple:
        return tuple(id(layer) for layer in self._selected if isinstance(layer, Image))

    def _labels_layers(self) -> list[Any]:
        return [layer for layer in self._selected if isinstance(layer, Labels)]

    def _update_geometry(self, image: ImageExport | None) -> None:
        """Give the storage panel the image's NGFF shape, so chunks fit it (nothing is planned)."""
        if image is None:
            self._storage.set_geometry(None)
            return
        ngff = resolve_image(image.data, ImageOptions(axes=image.axes, units=image.units))
        self._storage.set_geometry(ngff.shape, ngff.dtype, ngff.axis_names)

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
        """Check the options, confirm replacing an existing store, and start writing.

        The plain image layout runs the plan of the last refresh when nothing changed since
        (same options, same destination); otherwise it refreshes first, which plans once.
        """
        if self._worker is not None:
            return
        try:
            target = self._destination()
            if target is None:
                raise OmeZarrError("Choose where to save the store (Save as).")
            if self._destination_layout.kind == "image":
                plan = self._current_plan(target)
                if is_zarr_store(plan.target) and not self._confirm_replace(plan.target):
                    return
                steps, written = plan.iter_run(), plan.paths
            else:
                steps, written = self._layout_steps(target)
                if steps is None:
                    return
        except (OmeZarrError, ValueError) as exc:
            self._status.value = str(exc)
            show_error(str(exc))
            return
        self._remember(target)
        self._start(steps, written)

    def _current_plan(self, target: Path) -> ExportPlan:
        """The last refresh's plan when it still holds for ``target``, else a fresh one."""
        plan = self._plan
        if self.refresh_pending or plan is None or plan.target != target_path(target):
            self.refresh()
            plan = self._plan
        if plan is None:
            raise OmeZarrError(self._problem or LABELS_NOTE)
        return plan

    def _layout_steps(self, target: Path) -> tuple[Any, list[Path]]:
        """The PerCell or Brieflow write and its paths; (None, []) when the user declines."""
        image, _ = self._convert()
        replaced = self._destination_layout.target(target)
        if is_zarr_store(replaced) and not self._confirm_replace(replaced):
            return None, []
        return self._destination_layout.steps(image, self._labels_layers(), target)

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

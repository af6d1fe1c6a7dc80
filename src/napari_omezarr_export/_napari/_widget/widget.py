"""The "OME-Zarr export" dock widget: a thin magicgui Container over the core's options.

It lists the viewer's Image and Labels layers (starting from a selection that can be written,
see `default_selection`), shows one editable row per channel, the pyramid and storage options,
a live preview of the metadata (or, in its place, why the selection cannot be written), and
writes in a napari ``thread_worker`` with a progress bar and Cancel. The widget wires panels
and events; each refresh makes one `ExportPlan` in its `ExportPlanner`, which gives the level
shapes and the preview, and which Export runs when nothing changed since. Building options and
writing belong to ``core``.
"""

from __future__ import annotations

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

from napari_omezarr_export._napari._widget.channels import ChannelsPanel
from napari_omezarr_export._napari._widget.export import ExportRunner
from napari_omezarr_export._napari._widget.layer_channels import channel_items, channel_sample
from napari_omezarr_export._napari._widget.layer_events import LayerSlots, follow, unfollow
from napari_omezarr_export._napari._widget.layouts import LayoutPanel
from napari_omezarr_export._napari._widget.planner import (
    ExportPlanner,
    PlannerPanels,
    labels_layers,
)
from napari_omezarr_export._napari._widget.scroll_area import scroll_area
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
from napari_omezarr_export.core.api import is_zarr_store, target_path
from napari_omezarr_export.core.errors import OmeZarrError
from napari_omezarr_export.core.reader import window_from_sample

__all__ = ["ExportWidget"]


WIDTH = 400  # the dock's width at a 1600x1100 window; everything fits it


def _header(text: str) -> Label:
    return Label(value=f"<b>{text}</b>")


class ExportWidget(ExportRunner, Container):
    """Export the chosen Image and Labels layers as one OME-Zarr image.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose layers are offered.
    """

    def __init__(self, napari_viewer: Any) -> None:
        self._viewer = napari_viewer
        self._make_parts()
        super().__init__(labels=False)
        self._body = Container(labels=False, widgets=self._sections())
        self._wrap_in_scroll_area()
        self._worker: Any = None
        self._selected: list[Any] = []
        self._auto_name = ""
        self._planner = ExportPlanner(
            PlannerPanels(
                self._channels,
                self._pyramid,
                self._storage,
                self._destination_layout,
                self._preview,
                self._status,
            ),
            selected=lambda: self._selected,
            destination=self._destination,
            parent=self.native,
        )
        self._restore(load_settings())
        self._selected = default_selection(self._viewer.layers, self._viewer.layers.selection)
        self._connect()
        self._sync_layers()

    def _make_parts(self) -> None:
        """Create the widget's parts (before the Container, which lays them out)."""
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
        self._scroll = scroll_area(self._body.native, WIDTH)
        self.native.layout().addWidget(self._scroll)
        self.margins = (0, 0, 0, 0)

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

    def _layer_slots(self) -> LayerSlots:
        return LayerSlots(self._sync_layers, self._on_data, self._schedule)

    def _watch(self, layer: Any) -> None:
        follow(layer, self._layer_slots())

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
        unfollow(layer, self._layer_slots())
        self._selected = [s for s in self._selected if s is not layer]
        self._sync_layers()

    def _on_data(self) -> None:
        self._planner.data_changed()

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
        self._channels.set_channels(channel_items(self._selected))
        self._destination_layout.set_labels(labels_layers(self._selected))
        self._destination_layout.suggest_region(self._selected)
        self._destination_layout.suggest_plate_field(self._selected)
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

    # -- plan and preview -----------------------------------------------------------------

    def _schedule(self) -> None:
        self._planner.schedule()

    @property
    def refresh_pending(self) -> bool:
        """True while a change waits for its (delayed) refresh of the preview."""
        return self._planner.pending

    def refresh(self) -> None:
        """Re-plan the export once: chunk geometry, level shapes, preview and status message.

        When the selection or the options cannot be written, the preview area and the level
        shapes say why (``Cannot export: <reason>``).
        """
        self._planner.refresh()

    @property
    def _preview_attrs(self) -> dict[str, dict]:
        """The attributes the preview shows (empty when there is no plan to preview)."""
        return self._planner.preview_attrs

    def windows_from_data(self) -> None:
        """Set every channel's window from percentiles of its layer's lowest level."""
        for row in self._channels.rows:
            row.set_window(*window_from_sample(channel_sample(row.layer, row.key[1])))

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
                plan = self._planner.current_plan(target)
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

    def _layout_steps(self, target: Path) -> tuple[Any, list[Path]]:
        """The PerCell, Brieflow or plate field write and its paths; (None, []) if declined."""
        image, _ = self._planner.convert()
        replaced = self._destination_layout.target(target)
        if is_zarr_store(replaced) and not self._confirm_replace(replaced):
            return None, []
        labels = labels_layers(self._selected)
        return self._destination_layout.steps(image, labels, target, self._planner.options())

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

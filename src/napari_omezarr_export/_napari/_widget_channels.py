"""The export widget's channel table: one editable row (name, colour, window, active) per channel.

Rows start from the layers' styles and keep the user's edits while the same layers stay
selected; they never change the layers unless `ChannelsPanel.apply_to_layers` is called.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    LineEdit,
    PushButton,
)

from ..core.options import ChannelStyle

__all__ = ["PALETTE", "ChannelRow", "ChannelsPanel"]

log = logging.getLogger(__name__)

PALETTE: tuple[tuple[str, str], ...] = (
    ("red", "FF0000"),
    ("green", "00FF00"),
    ("blue", "0000FF"),
    ("cyan", "00FFFF"),
    ("magenta", "FF00FF"),
    ("yellow", "FFFF00"),
    ("white", "FFFFFF"),
    ("gray", "808080"),
)
LIMIT = 1e15
COLOR_WIDTH = 108


def _column(text: str, width: int) -> Label:
    label = Label(value=text)
    if width:
        label.native.setFixedWidth(width)
    return label


def _spin(value: float | None, tooltip: str) -> FloatSpinBox:
    from qtpy.QtWidgets import QAbstractSpinBox

    spin = FloatSpinBox(value=0.0, min=-LIMIT, max=LIMIT, step=1.0, tooltip=tooltip)
    spin.native.setDecimals(2)
    spin.native.setButtonSymbols(QAbstractSpinBox.ButtonSymbols.NoButtons)
    spin.native.setFixedWidth(72)
    if value is not None:
        spin.value = float(value)
    return spin


class ChannelRow(Container):
    """One channel: name, colour (palette or dialog), window start and end, active.

    Parameters
    ----------
    style : ChannelStyle
        The initial values.
    key : tuple
        Identifies the source (layer id and channel index inside the layer).
    layer : napari layer, optional
        The source layer, for "Apply to layers".
    """

    def __init__(self, style: ChannelStyle, key: tuple, layer: Any = None) -> None:
        self.key, self.layer = key, layer
        self._name = LineEdit(value=style.label, tooltip="Channel name")
        self._name.native.setMinimumWidth(60)
        self._color = ComboBox(choices=self._palette(style.color), tooltip="Channel colour")
        self._color.native.setFixedWidth(COLOR_WIDTH)
        self._pick = PushButton(text="…", tooltip="Pick any colour")
        self._pick.native.setMaximumWidth(26)
        self._start = _spin(style.start, "Window start")
        self._end = _spin(style.end, "Window end")
        self._active = CheckBox(value=style.active, tooltip="Shown when the image opens")
        super().__init__(
            layout="horizontal",
            labels=False,
            widgets=[
                self._name,
                self._color,
                self._pick,
                self._start,
                self._end,
                self._active,
            ],
        )
        self.margins = (0, 0, 0, 0)
        self._color.value = style.color
        self._pick.changed.connect(self._pick_color)
        self._paint_swatches()

    @staticmethod
    def _palette(color: str) -> list[tuple[str, str]]:
        choices = list(PALETTE)
        if color not in dict(PALETTE).values():
            choices.insert(0, (f"#{color}", color))
        return choices

    def _paint_swatches(self) -> None:
        from qtpy.QtGui import QColor, QIcon, QPixmap

        combo = self._color.native
        for i in range(combo.count()):
            pixmap = QPixmap(12, 12)
            pixmap.fill(QColor(f"#{combo.itemData(i) or self._color.choices[i]}"))
            combo.setItemIcon(i, QIcon(pixmap))

    def set_color(self, color: str) -> None:
        """Select ``color`` (``RRGGBB``), adding it to the choices if it is not in the palette.

        Parameters
        ----------
        color : str
            Six hex digits, with or without ``#``.
        """
        color = color.lstrip("#").upper()
        if color not in self._color.choices:
            self._color.choices = self._palette(color)
            self._paint_swatches()
        self._color.value = color

    def _pick_color(self) -> None:
        from qtpy.QtGui import QColor
        from qtpy.QtWidgets import QColorDialog

        chosen = QColorDialog.getColor(QColor(f"#{self._color.value}"), self.native)
        if chosen.isValid():
            self.set_color(chosen.name()[1:])

    def set_window(self, start: float, end: float) -> None:
        """Set the window start and end.

        Parameters
        ----------
        start, end : float
            The new window.
        """
        self._start.value, self._end.value = float(start), float(end)

    def style(self) -> ChannelStyle:
        """Return the row as a channel style (raises `InvalidOptionError` if start > end).

        Returns
        -------
        ChannelStyle
            Name, colour, window and active flag.
        """
        return ChannelStyle(
            label=self._name.value,
            color=self._color.value,
            start=float(self._start.value),
            end=float(self._end.value),
            active=bool(self._active.value),
        )


class ChannelsPanel(Container):
    """The channel rows under a small header; rebuilt when the selected layers change."""

    def __init__(self) -> None:
        columns = [("name", 0), ("colour", COLOR_WIDTH + 32), ("start", 72), ("end", 72)]
        header = Container(
            layout="horizontal",
            labels=False,
            widgets=[*(_column(text, width) for text, width in columns), _column("on", 22)],
        )
        header.margins = (0, 0, 0, 0)
        self._header = header
        self._empty = Label(value="Select image layers to export their channels.")
        super().__init__(labels=False, widgets=[header, self._empty])
        self.margins = (0, 0, 0, 0)
        self.rows: list[ChannelRow] = []

    def set_channels(self, items: Sequence[tuple[tuple, ChannelStyle, Any]]) -> None:
        """Show one row per ``(key, style, layer)``, keeping rows whose key is unchanged.

        Parameters
        ----------
        items : sequence of (key, ChannelStyle, layer)
            The channels in order.
        """
        if [row.key for row in self.rows] == [key for key, _, _ in items]:
            return
        kept = {row.key: row for row in self.rows}
        for row in self.rows:
            if row.key not in {key for key, _, _ in items}:
                self.remove(row)
        self.rows = [kept.get(key) or ChannelRow(style, key, layer) for key, style, layer in items]
        for row in self.rows:
            if row in self:
                self.remove(row)
        for row in self.rows:
            self.append(row)
        self._empty.visible = not self.rows
        self._header.visible = bool(self.rows)

    def styles(self) -> list[ChannelStyle]:
        """Return the rows' channel styles, in order.

        Returns
        -------
        list of ChannelStyle
            One per row.
        """
        return [row.style() for row in self.rows]

    def apply_to_layers(self) -> None:
        """Copy each row's name, colour, window and active flag onto its source layer."""
        for row in self.rows:
            layer, style = row.layer, row.style()
            if layer is None or getattr(layer, "rgb", False):
                continue
            layer.name = style.label
            layer.colormap = f"#{style.color}"
            layer.contrast_limits = (style.start, max(style.end, style.start + 1e-9))
            layer.visible = style.active

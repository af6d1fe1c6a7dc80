"""The export widget's channel table: one editable row (name, colour, window, active) per channel.

Rows start from the layers' styles and keep the user's edits while the same layers stay
selected; they never change the layers unless `ChannelsPanel.apply_to_layers` is called.
Each row has two lines (name, colour, shown; then the window), so the table fits a dock of
about 400 pixels; no column is narrower than its content.
"""

from __future__ import annotations

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

from napari_omezarr_export.core.options import ChannelStyle, require_hex

__all__ = ["PALETTE", "ChannelRow", "ChannelsPanel"]


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
SPIN_MIN_WIDTH = 60


def _spin(value: float | None, tooltip: str) -> FloatSpinBox:
    from qtpy.QtWidgets import QAbstractSpinBox

    spin = FloatSpinBox(value=0.0, min=-LIMIT, max=LIMIT, step=1.0, tooltip=tooltip)
    spin.native.setDecimals(2)
    spin.native.setButtonSymbols(QAbstractSpinBox.ButtonSymbols.NoButtons)
    spin.native.setMinimumWidth(SPIN_MIN_WIDTH)
    if value is not None:
        spin.value = float(value)
    return spin


def _paint_swatches(combo: ComboBox) -> None:
    """Give each colour choice a small square of its colour."""
    from qtpy.QtGui import QColor, QIcon, QPixmap

    native = combo.native
    for i in range(native.count()):
        pixmap = QPixmap(12, 12)
        pixmap.fill(QColor(f"#{native.itemData(i) or combo.choices[i]}"))
        native.setItemIcon(i, QIcon(pixmap))


def _line(widgets: list, stretch: Sequence[Any] = ()) -> Container:
    """A horizontal line of widgets; those in ``stretch`` share its free width equally.

    Every row has the same width, so equal shares keep the rows' columns lined up.
    """
    from qtpy.QtWidgets import QSizePolicy

    line = Container(layout="horizontal", labels=False, widgets=widgets)
    line.margins = (0, 0, 0, 0)
    for widget in stretch:
        policy = widget.native.sizePolicy()
        policy.setHorizontalPolicy(QSizePolicy.Policy.Expanding)
        widget.native.setSizePolicy(policy)
        line.native.layout().setStretchFactor(widget.native, 1)
    return line


class ChannelRow(Container):
    """One channel on two lines: name, colour (palette or dialog), shown; window start and end.

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
        self._pick = PushButton(text="…", tooltip="Pick any colour")
        self._start = _spin(style.start, "Window start")
        self._end = _spin(style.end, "Window end")
        self._active = CheckBox(
            value=style.active, text="shown", tooltip="Shown when the image opens"
        )
        channel = _line(
            [self._name, self._color, self._pick, self._active], [self._name, self._color]
        )
        window = _line(
            [Label(value="window"), self._start, Label(value="to"), self._end],
            [self._start, self._end],
        )
        window.margins = (12, 0, 0, 0)  # indented under the name
        super().__init__(labels=False, widgets=[channel, window])
        self.margins = (0, 0, 0, 6)
        self._color.value = style.color
        self._pick.changed.connect(self._pick_color)
        _paint_swatches(self._color)

    @staticmethod
    def _palette(color: str) -> list[tuple[str, str]]:
        choices = list(PALETTE)
        if color not in dict(PALETTE).values():
            choices.insert(0, (f"#{color}", color))
        return choices

    def set_color(self, color: str) -> None:
        """Select ``color`` (``RRGGBB``), adding it to the choices if it is not in the palette.

        Parameters
        ----------
        color : str
            Six hex digits, with or without ``#``.
        """
        color = require_hex(color, "Channel colour")
        if color not in self._color.choices:
            self._color.choices = self._palette(color)
            _paint_swatches(self._color)
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
    """The channel rows; rebuilt when the selected layers change."""

    def __init__(self) -> None:
        self._empty = Label(value="Select image layers to export their channels.")
        super().__init__(labels=False, widgets=[self._empty])
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

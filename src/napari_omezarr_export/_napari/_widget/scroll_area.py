"""A vertical scroll area for the export dock, so it fits small screens without clipping."""

from __future__ import annotations

from typing import Any

__all__ = ["scroll_area"]


def scroll_area(body: Any, width: int) -> Any:
    """A vertical scroll area around ``body`` that asks for ``width`` pixels (napari's dock).

    It is never narrower than the narrowest layout of ``body``, and gives ``body`` the height
    its wrapped labels need at the current width, so nothing is clipped or squeezed.

    Parameters
    ----------
    body : QWidget
        What scrolls.
    width : int
        The width the area asks for.

    Returns
    -------
    QScrollArea
        The scroll area, holding ``body``.
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

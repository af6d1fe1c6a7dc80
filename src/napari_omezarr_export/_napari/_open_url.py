"""The "Open OME-Zarr URL" dock widget: open an http(s):// or s3:// store without the console.

The user types or picks a recent URL, ticks "Anonymous" for a public bucket and may give an
S3-compatible endpoint. The store is read in a napari ``thread_worker`` (a network can be
slow; the viewer stays responsive), through the same reader as a dropped folder, and its layers
are added when it is done. Failures are shown as napari notifications and in the widget.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, NamedTuple

from magicgui.widgets import CheckBox, ComboBox, Container, Label, LineEdit, PushButton

from napari_omezarr_export._napari._reader import read_paths
from napari_omezarr_export._napari._widget.settings import load_settings, save_settings
from napari_omezarr_export.core.errors import NotOmeZarrError, OmeZarrError
from napari_omezarr_export.core.reader import discover

if TYPE_CHECKING:
    import napari

__all__ = ["MAX_RECENT", "OpenUrlWidget", "storage_options_for"]

log = logging.getLogger(__name__)

MAX_RECENT = 10
_PICK = "(recent URLs)"


def storage_options_for(url: str, *, anonymous: bool, endpoint: str) -> dict[str, Any]:
    """The fsspec options the widget's fields ask for (empty: the environment's defaults).

    Parameters
    ----------
    url : str
        The store's URL.
    anonymous : bool
        Read without credentials (a public bucket).
    endpoint : str
        An S3-compatible endpoint URL, or empty.

    Returns
    -------
    dict
        ``anon`` and ``endpoint_url`` for ``s3://`` URLs; nothing for others.
    """
    if not url.lower().startswith(("s3://", "s3a://")):
        return {}
    options: dict[str, Any] = {}
    if anonymous:
        options["anon"] = True
    if endpoint.strip():
        options["endpoint_url"] = endpoint.strip()
    return options


def recent_urls() -> list[str]:
    """The URLs opened last, newest first (from the widget settings file)."""
    saved = load_settings().get("recent_urls", [])
    return [u for u in saved if isinstance(u, str) and u][:MAX_RECENT]


def remember_url(url: str) -> list[str]:
    """Put ``url`` first in the recent list and save it; return the new list."""
    urls = [url, *(u for u in recent_urls() if u != url)][:MAX_RECENT]
    settings = load_settings()
    settings["recent_urls"] = urls
    save_settings(settings)
    return urls


class OpenUrlWidget(Container):
    """A URL field, recent URLs, S3 options and an Open button.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer to add the layers to.
    """

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        self._viewer = napari_viewer
        self.url = LineEdit(label="URL", tooltip="https://... or s3://bucket/path/image.ome.zarr")
        self.recent = ComboBox(label="Recent", choices=[_PICK, *recent_urls()], value=_PICK)
        self.anonymous = CheckBox(
            text="Anonymous (public bucket)", tooltip="s3:// only: read without credentials"
        )
        self.endpoint = LineEdit(
            label="Endpoint", tooltip="s3:// only: an S3-compatible endpoint URL (optional)"
        )
        self.open_button = PushButton(text="Open")
        self.status = Label(value="")
        super().__init__(
            widgets=[
                self.url,
                self.recent,
                self.anonymous,
                self.endpoint,
                self.open_button,
                self.status,
            ]
        )
        self.recent.changed.connect(self._pick_recent)
        self.open_button.changed.connect(self.open)
        self.url.native.returnPressed.connect(self.open)
        self.worker: Any = None

    def _pick_recent(self, value: str) -> None:
        if value and value != _PICK:
            self.url.value = value

    def open(self) -> None:
        """Read the URL in a worker thread and add its layers to the viewer."""
        from napari.qt.threading import thread_worker

        if self.worker is not None and self.worker.is_running:
            return  # Enter pressed again while a store is opening
        url = self.url.value.strip()
        if not url:
            self.status.value = "Type a URL first."
            return
        options = storage_options_for(
            url, anonymous=self.anonymous.value, endpoint=self.endpoint.value
        )
        self.open_button.enabled = False
        self.status.value = f"Opening {url} ..."
        worker = thread_worker(_read_url)(url, options)
        worker.returned.connect(lambda result: self._done(url, result))
        worker.errored.connect(lambda exc: self._failed(url, exc))
        worker.finished.connect(lambda: setattr(self.open_button, "enabled", True))
        self.worker = worker
        worker.start()

    def _done(self, url: str, result: list[tuple] | _Failed) -> None:
        if isinstance(result, _Failed):
            self._failed(url, result.error)
            return
        self._add(url, result)

    def _add(self, url: str, tuples: list[tuple]) -> None:
        from napari.layers import Layer

        added = 0
        for data in tuples:
            if data[0] is None:
                continue
            self._viewer.add_layer(Layer.create(*data))
            added += 1
        self.status.value = f"Opened {added} layers from {url}."
        urls = remember_url(url)
        with self.recent.changed.blocked():
            self.recent.choices = [_PICK, *urls]
            self.recent.value = _PICK

    def _failed(self, url: str, exc: BaseException) -> None:
        from napari.utils.notifications import show_error

        message = str(exc) if isinstance(exc, OmeZarrError) else f"Could not open {url}: {exc}"
        log.warning("%s", message)
        self.status.value = message
        show_error(message)


class _Failed(NamedTuple):
    """What the worker returns for our own errors (a returned exception would be re-raised)."""

    error: OmeZarrError


def _read_url(url: str, options: dict[str, Any]) -> list[tuple] | _Failed:
    """Discover and read ``url`` (in a worker thread).

    Our own errors are returned, not raised: they are messages for the user, shown by the
    widget, while anything unexpected still reaches napari's error reporting.
    """
    node = discover(url, storage_options=options)
    if not node.is_ours:
        return _Failed(
            NotOmeZarrError(
                node.message
                or f"Nothing this plugin opens was found at {url}: no OME-Zarr metadata there. "
                "Check the URL (it should end at the image, plate or labels folder)."
            )
        )
    try:
        return read_paths(nodes=[node])
    except OmeZarrError as exc:
        return _Failed(exc)

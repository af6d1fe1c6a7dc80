"""The plugin's exception types: every error a user can meet is one of these.

Each message is a whole sentence naming the file or value, the problem, and what to do next.
They subclass ``ValueError`` (bad input) or ``OSError`` (the file system said no), so callers
that already catch those keep working.
"""

from __future__ import annotations

__all__ = [
    "BrieflowTableError",
    "ExportError",
    "InvalidOptionError",
    "NotOmeZarrError",
    "OmeZarrError",
    "PercellFormatError",
    "StoreAccessError",
    "StoreFormatError",
    "TargetExistsError",
    "WriteCancelledError",
    "WriteFailedError",
]


class OmeZarrError(Exception):
    """Base class of every error this plugin raises on purpose."""


class InvalidOptionError(OmeZarrError, ValueError):
    """An export option or input array is not acceptable (wrong value, shape or dtype)."""


class ExportError(OmeZarrError, ValueError):
    """Layers that cannot be exported together as asked (for example, mismatched shapes)."""


class StoreFormatError(OmeZarrError, ValueError):
    """A store that looks like OME-Zarr but is broken: corrupt JSON, missing levels, and so on."""


class StoreAccessError(OmeZarrError, OSError):
    """A store that could not be reached: a URL that times out, is refused, or denies access."""


class NotOmeZarrError(StoreFormatError):
    """A path that is not an OME-Zarr image, label group, mask group or ``.percell`` folder."""


class TargetExistsError(OmeZarrError, OSError):
    """The target path exists and is not a zarr store we may replace."""


class WriteFailedError(OmeZarrError, OSError):
    """A save that could not be done (permission denied, disk full, layers that do not fit).

    Nothing was left behind. napari's writer lookup swallows ``ValueError``, so the napari
    writer re-raises our ``ValueError`` subclasses as this, and the user sees the message.
    """


class WriteCancelledError(OmeZarrError):
    """The user cancelled a write; the target was left as it was before."""


class BrieflowTableError(StoreFormatError):
    """A Brieflow feature-table store (one zarr array per column) was opened as an image."""


class PercellFormatError(StoreFormatError):
    """A ``.percell`` experiment whose folders or database do not match either known layout."""

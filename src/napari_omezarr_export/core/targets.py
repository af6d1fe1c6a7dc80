"""Where a write goes: the one place a user's target becomes a local path, or is refused.

Every write verb (images, labels, ``.percell`` regions, Brieflow stores, the napari writers
and the widget) resolves its target with `local_path` before anything is created, so a target
that cannot be written fails at once, with nothing left behind:

- ``~`` is expanded;
- a ``file://`` URL (``file:///data/x.ome.zarr``) becomes its local path;
- any other ``<scheme>://`` target (``s3://``, ``gs://``, ``https://``...) is refused, because
  remote stores are not supported yet: writing it as a path would create a local folder ``s3:``;
- a target inside a file (``notes.txt/x.ome.zarr``) is refused, naming the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from napari_omezarr_export.core.errors import InvalidOptionError, WriteFailedError

__all__ = ["local_path"]

# "<scheme>:/" at the start: pathlib turns "s3://b" into "s3:/b", so one slash is enough. Two
# characters at least, so that a Windows drive ("C:/") stays a path.
_URL_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+):/")


def local_path(path: str | os.PathLike[str]) -> Path:
    """Return the local path a write target names; refuse targets that cannot be written.

    Parameters
    ----------
    path : str or os.PathLike
        The target as the user gave it: a path, or a ``file://`` URL.

    Returns
    -------
    Path
        The local path, with ``~`` expanded.

    Raises
    ------
    InvalidOptionError
        For a ``<scheme>://`` target other than a local ``file://`` URL (remote stores are not
        supported yet).
    WriteFailedError
        When a folder above the target is a file (``notes.txt/x.ome.zarr``).
    """
    text = os.fspath(path)
    found = _URL_SCHEME.match(text)
    if found is None:
        local = Path(text).expanduser()
    elif found["scheme"].lower() == "file":
        local = _file_url_path(text)
    else:
        scheme = found["scheme"]
        shown = text if text.startswith(f"{scheme}://") else f"{scheme}:/{text[len(scheme) + 1 :]}"
        raise InvalidOptionError(
            f"Cannot write to {shown!r}: {scheme}:// targets are remote stores, which are not "
            "supported yet, and nothing was written. Save to a local folder (or a file:// URL), "
            "then copy the store there."
        )
    _refuse_file_above(local)
    return local


def _file_url_path(url: str) -> Path:
    """The local path of a ``file://`` URL; a URL naming another host raises."""
    from urllib.request import url2pathname  # imported here only: it loads http and ssl

    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise InvalidOptionError(
            f"Cannot write to {url!r}: it names the host {parts.netloc!r}, and remote stores "
            "are not supported yet. A local file URL has three slashes: file:///path/to/x."
        )
    return Path(url2pathname(parts.path))


def _refuse_file_above(target: Path) -> None:
    """Raise `WriteFailedError` when a folder that ``target`` lies in is a file."""
    for folder in reversed(target.parents):  # from the top down, until one does not exist
        if not folder.exists():
            return
        if not folder.is_dir():
            raise WriteFailedError(
                f"Cannot write {target}: {folder} is a file, not a folder, so nothing can be "
                "saved inside it. Nothing was written; choose another folder to save into."
            )

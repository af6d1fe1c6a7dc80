"""The store layer: the one place a path or URL becomes a store location, and says what it can do.

Readers and writers never parse URLs themselves. They call :func:`locate` (to read) or
:func:`write_target` (to write) and get back a *store path*:

- a :class:`pathlib.Path` for a local folder (``~`` expanded, ``file://`` URLs resolved);
- a :class:`upath.UPath` for everything else: ``http(s)://``, ``s3://`` and any protocol fsspec
  knows and has its package installed (``gs://`` with gcsfs, ``az://`` with adlfs, ...), and
  zipped ``.ozx`` stores (NGFF RFC-9), read through fsspec's zip file system.

Both kinds answer ``/``, ``name``, ``parent`` and ``read_bytes``, so the reader's code is the
same for all of them. What differs is here: :func:`capabilities` says whether a store can
rename atomically, list and delete; :func:`fetch_many` reads several metadata documents
concurrently (one round trip, not one per file), caching them for the duration of a
:func:`read_session`; :func:`zarr_store` gives zarr a store for an array, serving its metadata
from that cache so that opening an array costs no further request.

Unknown schemes raise :class:`InvalidOptionError` naming the scheme and what is supported, and
nothing is created.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import re
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import urlsplit

from napari_omezarr_export.core.errors import (
    InvalidOptionError,
    StoreAccessError,
    WriteFailedError,
)

if TYPE_CHECKING:
    from upath import UPath

__all__ = [
    "StoreCapabilities",
    "StorePath",
    "capabilities",
    "change_stamp",
    "describe",
    "error_cause",
    "fetch_many",
    "is_literal",
    "is_remote",
    "is_zip",
    "local_path",
    "locate",
    "name_of",
    "network_errors",
    "read_session",
    "write_target",
    "zarr_store",
    "zip_stamp",
]

StorePath: TypeAlias = "Path | UPath"

# "<scheme>:/" at the start: pathlib turns "s3://b" into "s3:/b", so one slash is enough. Two
# characters at least, so that a Windows drive ("C:/") stays a path.
_URL_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+):/")
_LOCAL_PROTOCOLS = ("", "file", "local")
ZIP_SUFFIX = ".ozx"
# Schemes whose stores can be written (others, http above all, are read-only).
_READ_ONLY_PROTOCOLS = ("http", "https", "github", "zip", "data")
_SUPPORTED = (
    "a local folder, a file:// URL, http(s)://, s3://, gs:// or az:// (with gcsfs or adlfs "
    "installed), or a zipped .ozx store"
)
_HTTP_TIMEOUT_SECONDS = 30.0
_GLOB_CHARACTERS = frozenset("*?[")
# How fsspec says a file is not there; its zip file system raised KeyError before 2026.9.
_MISSING = (FileNotFoundError, IsADirectoryError, KeyError)


@dataclass(frozen=True)
class StoreCapabilities:
    """What a store can do, which decides how it is written safely.

    Parameters
    ----------
    remote : bool
        Reached over the network (every request costs a round trip).
    atomic_rename : bool
        A folder can be renamed in one step (local disks): writes are staged and swapped in.
        Object stores cannot, so their writes put metadata last.
    can_list : bool
        Keys under a prefix can be listed (not over plain HTTP).
    can_delete : bool
        Keys can be deleted.
    writable : bool
        The store can be written at all.
    """

    remote: bool
    atomic_rename: bool
    can_list: bool
    can_delete: bool
    writable: bool


def _upath(url: str, storage_options: dict[str, Any]) -> UPath:
    from upath import UPath

    return UPath(url, **storage_options)


def _protocol(path: StorePath) -> str:
    return "" if isinstance(path, Path) else str(getattr(path, "protocol", "") or "")


def is_remote(path: StorePath) -> bool:
    """True when ``path`` is reached over the network (not a local folder or local zip)."""
    if isinstance(path, Path):
        return False
    if _protocol(path) == "zip":
        return _URL_SCHEME.match(str(_zip_file(path))) is not None
    return _protocol(path) not in _LOCAL_PROTOCOLS


def is_zip(path: StorePath) -> bool:
    """True when ``path`` lies inside a zipped ``.ozx`` store."""
    return _protocol(path) == "zip"


def _zip_file(path: StorePath) -> Any:
    return path.storage_options.get("fo")


def describe(path: StorePath) -> str:
    """The path or URL as the user knows it, for messages and layer names."""
    if isinstance(path, Path):
        return str(path)
    if is_zip(path):
        inner = str(path.path).strip("/")
        return f"{_zip_file(path)}{'/' + inner if inner else ''}"
    return str(path)


def name_of(path: StorePath) -> str:
    """The last part of the path or URL (the file name of a zipped store's root)."""
    return describe(path).rstrip("/").rsplit("/", 1)[-1]


def capabilities(path: StorePath) -> StoreCapabilities:
    """Say what the store holding ``path`` can do.

    Parameters
    ----------
    path : Path or UPath
        From `locate` or `write_target`.

    Returns
    -------
    StoreCapabilities
        Local folders rename, list and delete; HTTP only reads; object stores list, delete and
        write but cannot rename; a zip is read as a whole and written once.
    """
    protocol = _protocol(path)
    if protocol in _LOCAL_PROTOCOLS:
        return StoreCapabilities(False, True, True, True, True)
    if protocol == "zip":
        return StoreCapabilities(is_remote(path), False, True, False, False)
    if protocol in _READ_ONLY_PROTOCOLS:
        return StoreCapabilities(True, False, False, False, False)
    return StoreCapabilities(True, False, True, True, True)


# -- from what the user typed to a store path -----------------------------------------------


def locate(location: str | os.PathLike[str], *, storage_options: dict | None = None) -> StorePath:
    """Turn a path or URL to read into a store path.

    Parameters
    ----------
    location : str or os.PathLike
        A local path, a ``file://`` URL, a remote URL (``https://``, ``s3://``...) or a
        ``.ozx`` file (local or remote). A `UPath` is returned as it is.
    storage_options : dict, optional
        Passed to fsspec for remote URLs (credentials, ``endpoint_url``, ``anon``...). For
        ``s3://`` the defaults come from the environment: ``AWS_ENDPOINT_URL``, the profile and
        region, and anonymous access when no credentials are configured.

    Returns
    -------
    Path or UPath
        A `Path` for local folders, a `UPath` for everything else.

    Raises
    ------
    InvalidOptionError
        For a scheme this package cannot reach (unknown, or its fsspec package is missing).
    """
    if _is_upath(location):
        return location
    if not isinstance(location, (str, os.PathLike)):
        raise InvalidOptionError(f"{location!r} is not a path or URL.")
    text = _with_two_slashes(os.fspath(location))
    found = _URL_SCHEME.match(text)
    if found is None:
        path = Path(text).expanduser()
        return _zip_root(str(path), {}) if _looks_zipped(text) and path.is_file() else path
    scheme = found["scheme"].lower()
    if scheme == "file":
        path = _file_url_path(text)
        return _zip_root(str(path), {}) if _looks_zipped(text) and path.is_file() else path
    _check_protocol(scheme, text, "open")
    options = _default_options(scheme, dict(storage_options or {}))
    if _looks_zipped(text):
        return _zip_root(text, options)
    return _upath(text, options)


def _is_upath(location: object) -> bool:
    """True for a `UPath` (which, in universal_pathlib 0.3, is not `os.PathLike`)."""
    return not isinstance(location, (str, Path)) and hasattr(location, "storage_options")


def _with_two_slashes(text: str) -> str:
    """Mend a URL that went through pathlib (a file dialog, ``Path(...)``): ``s3:/b`` -> ``s3://b``."""
    found = _URL_SCHEME.match(text)
    if found is None or found["scheme"].lower() == "file" or text[found.end() :].startswith("/"):
        return text
    return f"{found['scheme']}://{text[found.end() :]}"


def _looks_zipped(text: str) -> bool:
    return text.rstrip("/").lower().endswith(ZIP_SUFFIX)


def _zip_root(file: str, options: dict[str, Any]) -> UPath:
    """The root folder inside a zipped store (local file path or remote URL)."""
    zip_options: dict[str, Any] = {"fo": file.rstrip("/")}
    scheme = _URL_SCHEME.match(file)
    if scheme is not None:
        zip_options["target_protocol"] = scheme["scheme"].lower()
        zip_options["target_options"] = options
    return _upath("zip://", zip_options)


def _check_protocol(scheme: str, text: str, verb: str) -> None:
    """Refuse schemes fsspec does not know, whose package is not installed, or URLs with a query.

    A query or fragment (``?token=...``) would end up inside every child's path.
    """
    from fsspec.registry import get_filesystem_class, known_implementations

    parts = urlsplit(text)
    if parts.query or parts.fragment:
        raise InvalidOptionError(
            f"Cannot {verb} {text!r}: a URL with a query or fragment (after '?' or '#') cannot "
            "name a store whose files lie below it. Give the store's own URL, and credentials "
            "in storage_options. Nothing was read or written."
        )

    if scheme not in known_implementations:
        raise InvalidOptionError(
            f"Cannot {verb} {text!r}: the scheme {scheme}:// is not one this package can reach. "
            f"Use {_SUPPORTED}. Nothing was read or written."
        )
    try:
        get_filesystem_class(scheme)
    except ImportError as exc:
        hint = known_implementations[scheme].get("err") or str(exc)
        raise InvalidOptionError(
            f"Cannot {verb} {text!r}: {scheme}:// needs a package that is not installed ({hint}). "
            "Install it (pip install 'napari-omezarr-export[remote]' brings http and s3) and "
            "try again. Nothing was read or written."
        ) from exc


def _default_options(
    scheme: str, options: dict[str, Any], *, writing: bool = False
) -> dict[str, Any]:
    """Fill in what the environment says for S3, and a timeout for HTTP, unless given.

    Reads from S3 with no credentials configured are anonymous (public buckets); writes never
    are, so that a missing credential is reported as such rather than as "access denied".
    """
    if scheme in ("s3", "s3a"):
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint and "endpoint_url" not in options:
            options["endpoint_url"] = endpoint
        region = os.environ.get("AWS_REGION")
        client_kwargs = options.get("client_kwargs") or {}
        if region and "region_name" not in client_kwargs:
            options["client_kwargs"] = {**client_kwargs, "region_name": region}
        if not writing and "anon" not in options and not _has_s3_credentials(options):
            options["anon"] = True  # public buckets need no account
    elif scheme in ("http", "https") and "client_kwargs" not in options:
        import aiohttp

        timeout = _HTTP_TIMEOUT_SECONDS
        options["client_kwargs"] = {
            "timeout": aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout)
        }
    return options


def _has_s3_credentials(options: dict[str, Any]) -> bool:
    """True when credentials were given or botocore finds some (env, profile, config files)."""
    if any(options.get(key) for key in ("key", "secret", "token", "profile")):
        return True
    return _botocore_finds_credentials(tuple(os.environ.get(name) for name in _CREDENTIAL_ENV))


# What decides whether botocore finds credentials; its search (files, and on a cloud machine a
# metadata service) takes 0.2 s or more, so its answer is kept for as long as these are equal.
_CREDENTIAL_ENV = (
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
)


@functools.lru_cache(maxsize=8)
def _botocore_finds_credentials(environment: tuple[str | None, ...]) -> bool:
    try:
        import botocore.session
    except ImportError:
        return False
    try:
        session = botocore.session.Session(profile=environment[0] or None)
        return session.get_credentials() is not None
    except Exception:  # noqa: BLE001 - any botocore configuration problem means "none found"
        return False


def _file_url_path(url: str) -> Path:
    """The local path of a ``file://`` URL; a URL naming another host raises."""
    from urllib.request import url2pathname  # imported here only: it loads http and ssl

    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise InvalidOptionError(
            f"Cannot use {url!r}: it names the host {parts.netloc!r}. A local file URL has "
            "three slashes: file:///path/to/x."
        )
    return Path(url2pathname(parts.path))


def write_target(
    target: str | os.PathLike[str], *, storage_options: dict | None = None
) -> StorePath:
    """Turn a path or URL to write into a store path; refuse targets that cannot be written.

    Parameters
    ----------
    target : str or os.PathLike
        A local path, a ``file://`` URL, a ``.ozx`` file, or an object-store URL (``s3://``...).
    storage_options : dict, optional
        As for `locate`.

    Returns
    -------
    Path or UPath
        A `Path` for local folders and ``.ozx`` files (a zip is written locally, then renamed
        into place); a `UPath` for object stores.

    Raises
    ------
    InvalidOptionError
        For an unknown scheme, or one that cannot be written (``http://``).
    WriteFailedError
        When a folder above a local target is a file (``notes.txt/x.ome.zarr``).
    """
    if _is_upath(target):
        storage_options = {**target.storage_options, **(storage_options or {})}
        target = str(target)
    text = _with_two_slashes(os.fspath(target))
    found = _URL_SCHEME.match(text)
    if found is None or found["scheme"].lower() == "file":
        local = Path(text).expanduser() if found is None else _file_url_path(text)
        _refuse_file_above(local)
        return local
    scheme = found["scheme"].lower()
    if scheme in _READ_ONLY_PROTOCOLS:
        raise InvalidOptionError(
            f"Cannot write to {text!r}: {scheme}:// URLs can only be read. Write to a local "
            "folder or an object store (s3://...). Nothing was written."
        )
    if _looks_zipped(text):
        raise InvalidOptionError(
            f"Cannot write to {text!r}: a zipped .ozx store is written to a local disk. Write "
            "it locally, then upload the file. Nothing was written."
        )
    _check_protocol(scheme, text, "write to")
    options = _default_options(scheme, dict(storage_options or {}), writing=True)
    return _upath(text, options)


def local_path(target: str | os.PathLike[str], *, what: str = "This store") -> Path:
    """Like `write_target`, for layouts that are written to local folders only.

    Parameters
    ----------
    target : str or os.PathLike
        The target as the user gave it.
    what : str
        What is being written, for the message (``"A .percell experiment"``).

    Returns
    -------
    Path
        The local path.

    Raises
    ------
    InvalidOptionError
        For a remote target.
    """
    path = write_target(target)
    if not isinstance(path, Path):
        raise InvalidOptionError(
            f"Cannot write to {describe(path)!r}: {what} is written to a local folder only. "
            "Save it locally, then copy it there. Nothing was written."
        )
    return path


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


# -- reading: concurrent, cached metadata ------------------------------------------------------

_SESSION_CACHE: contextvars.ContextVar[dict[str, bytes | None] | None] = contextvars.ContextVar(
    "omezarr_read_session", default=None
)


@contextlib.contextmanager
def read_session(
    documents: dict[str, bytes | None] | None = None,
) -> Iterator[dict[str, bytes | None]]:
    """Cache every metadata document read in this block (nested sessions share one cache).

    A reader opens a store inside one session: a document is fetched once however many
    modules look at it, and a document found missing is not asked for again.

    Parameters
    ----------
    documents : dict, optional
        A cache to go on with (what an earlier session read: napari's reader getter looks at
        a store, then its reader opens it).

    Yields
    ------
    dict
        The cache, keyed by URL (None for a document that does not exist).
    """
    cache = _SESSION_CACHE.get()
    if cache is not None:
        if documents is not None:
            cache.update(documents)
        yield cache
        return
    cache = documents if documents is not None else {}
    token = _SESSION_CACHE.set(cache)
    try:
        yield cache
    finally:
        _SESSION_CACHE.reset(token)


def _key(path: StorePath) -> str:
    return describe(path) if is_zip(path) else str(path)


def fetch_many(paths: Iterable[StorePath]) -> dict[str, bytes | None]:
    """Read several small files at once: concurrently for remote stores, cached per session.

    Parameters
    ----------
    paths : iterable of Path or UPath
        Files to read (metadata documents). Remote ones sharing a file system are fetched in
        one concurrent batch.

    Returns
    -------
    dict of str to bytes or None
        Keyed by ``str(path)``; None for a file that does not exist.

    Raises
    ------
    StoreAccessError
        When the store cannot be reached or refuses access (timeout, connection refused, 403,
        server error), naming the URL and the cause.
    """
    cache = _SESSION_CACHE.get()
    wanted = list(dict.fromkeys(paths))
    found: dict[str, bytes | None] = {}
    remote: dict[int, list[StorePath]] = {}
    for path in wanted:
        key = _key(path)
        if cache is not None and key in cache:
            found[key] = cache[key]
        elif isinstance(path, Path):
            found[key] = _read_local(path)
        else:
            remote.setdefault(id(path.fs), []).append(path)
    for batch in remote.values():
        found.update(_fetch_batch(batch))
    if cache is not None:
        cache.update(found)
    return {_key(path): found[_key(path)] for path in wanted}


def _read_local(path: Path) -> bytes | None:
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError:
        return None


def _fetch_batch(paths: list[Any]) -> dict[str, bytes | None]:
    fs = paths[0].fs
    by_fs_path = {p.path: p for p in paths}
    # fsspec expands glob characters in a list of paths; a name such as "cells[1]" is read alone
    plain = [p for p in by_fs_path if is_literal(p)]
    results = dict(fs.cat(plain, on_error="return")) if plain else {}
    for fs_path in (p for p in by_fs_path if not is_literal(p)):
        try:
            results[fs_path] = fs.cat_file(fs_path)
        except (OSError, KeyError, *network_errors()) as exc:
            results[fs_path] = exc
    found: dict[str, bytes | None] = {}
    denied: list[tuple[Any, BaseException]] = []
    for fs_path, path in by_fs_path.items():
        result = results.get(fs_path, results.get(fs_path.rstrip("/")))
        if isinstance(result, bytes):
            found[_key(path)] = result
        elif result is None or isinstance(result, _MISSING):
            found[_key(path)] = None
        elif isinstance(result, BaseException) and _is_missing(result):
            found[_key(path)] = None
        elif isinstance(result, BaseException) and _is_denied(result):
            denied.append((path, result))
        elif isinstance(result, BaseException):
            raise access_error(describe(path), result) from result
        else:
            found[_key(path)] = bytes(result)
    # S3 answers 403, not 404, for a missing key to a reader who may not list the bucket. The
    # reader asks for a node's possible metadata files at once; when some were found, the
    # denied ones are the files that are not there.
    if denied and not any(content is not None for content in found.values()):
        path, exc = denied[0]
        raise access_error(describe(path), exc) from exc
    found.update({_key(path): None for path, _ in denied})
    return found


def is_literal(fs_path: str) -> bool:
    """True when fsspec takes ``fs_path`` as it is (no glob characters it would expand)."""
    return not _GLOB_CHARACTERS & set(fs_path)


def error_cause(exc: BaseException) -> str:
    """An exception as a message's cause: ``"PermissionError: Access Denied"``."""
    return f"{type(exc).__name__}: {exc}".strip().rstrip(":")


def network_errors() -> tuple[type[BaseException], ...]:
    """What fsspec's HTTP file system raises beside ``OSError`` when a request fails."""
    try:
        import aiohttp
    except ImportError:
        return (TimeoutError,)
    return (TimeoutError, aiohttp.ClientError)


def _is_denied(exc: BaseException) -> bool:
    return isinstance(exc, PermissionError) or getattr(exc, "status", None) in (401, 403)


def _is_missing(exc: BaseException) -> bool:
    status = getattr(exc, "status", None) or getattr(exc, "code", None)
    return status in (404, 410)


def access_error(url: str, exc: BaseException) -> StoreAccessError:
    """A `StoreAccessError` naming the URL and what went wrong, with what to do about it."""
    text = error_cause(exc)
    status = getattr(exc, "status", None)
    if isinstance(exc, PermissionError) or status in (401, 403):
        advice = (
            "Access was denied: check the URL, your credentials (for S3: AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID), or pass storage_options={'anon': True} for a public bucket."
        )
    elif isinstance(exc, TimeoutError) or "timeout" in text.lower():
        advice = "The server did not answer in time: check your network and try again."
    elif status is not None and int(status) >= 500:
        advice = "The server failed to answer: try again later."
    else:
        advice = "Check the URL and your network connection, then try again."
    return StoreAccessError(f"Could not read {url} ({text}). {advice}")


# -- zarr arrays ------------------------------------------------------------------------------


def zarr_store(path: StorePath) -> tuple[Any, str]:
    """What `zarr.open_array(store=..., path=...)` takes to read the array at ``path``.

    Local arrays are given as their folder, as zarr expects. Remote ones get zarr's
    `FsspecStore`, and arrays in a ``.ozx`` zarr's `ZipStore` (opened once per file). Both are
    wrapped so that the metadata documents already fetched in the current `read_session` are
    served from its cache: opening an array then costs no further request.

    Parameters
    ----------
    path : Path or UPath
        The array's folder.

    Returns
    -------
    tuple
        The store (a folder path, or a zarr store that zarr opens) and the array's key in it.
    """
    if isinstance(path, Path):
        return str(path), ""
    from zarr.storage import FsspecStore

    from napari_omezarr_export.core.store_cache import MetadataCachedStore

    if is_zip(path):
        file = _zip_file(path)
        store = _open_zip(file) if _URL_SCHEME.match(str(file)) is None else _remote_zip(path)
        inner = str(path.path).strip("/")
        return MetadataCachedStore(store, str(file), _documents_under(_key(path))), inner
    store = FsspecStore.from_url(str(path), storage_options=path.storage_options, read_only=True)
    return MetadataCachedStore(store, str(path), _documents_under(str(path))), ""


def _documents_under(prefix: str) -> dict[str, bytes | None]:
    """The session's documents of the node at ``prefix`` (its own, not its children's)."""
    cache = _SESSION_CACHE.get() or {}
    wanted = prefix.rstrip("/") + "/"
    return {k: v for k, v in cache.items() if k.startswith(wanted) and "/" not in k[len(wanted) :]}


_OPEN_ZIPS: dict[str, tuple[tuple[int, ...], Any]] = {}
_OPEN_ZIPS_LOCK = threading.Lock()


def change_stamp(path: StorePath) -> object:
    """What changes when a store read through ``path`` is rewritten (for dask's chunk names).

    A local zip: its file's device, inode, time and size. A remote store: nothing cheap tells,
    so every call is new (a reopened store is read afresh).

    Parameters
    ----------
    path : UPath
        A node in a zip or a remote store.

    Returns
    -------
    object
        A value that differs after a rewrite.
    """
    if is_zip(path) and not is_remote(path):
        return zip_stamp(_zip_file(path))
    return uuid.uuid4().hex


def zip_stamp(file: str | os.PathLike[str]) -> tuple[int, ...]:
    """What changes when a zip file is rewritten: its device, inode, time and size."""
    stat = os.stat(file)
    return (stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _open_zip(file: str) -> Any:
    """Open zarr's `ZipStore` for a local ``.ozx``, kept open: its directory is read once.

    One store per file, replaced (and the old one closed) when the file was rewritten.
    """
    from zarr.storage import ZipStore

    name, stamp = os.path.abspath(file), zip_stamp(file)
    with _OPEN_ZIPS_LOCK:
        known = _OPEN_ZIPS.get(name)
        if known is not None and known[0] == stamp:
            return known[1]
        if known is not None:
            known[1].close()
        store = ZipStore(file, mode="r", read_only=True)
        _OPEN_ZIPS[name] = (stamp, store)
        return store


def _remote_zip(path: Any) -> Any:
    """A remote ``.ozx`` read through fsspec's zip file system over its URL."""
    from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper
    from zarr.storage import FsspecStore

    # zarr's FsspecStore wants an asynchronous file system; fsspec's zip one is not
    fs = AsyncFileSystemWrapper(path.fs, asynchronous=True)
    return FsspecStore(fs, path="", read_only=True)

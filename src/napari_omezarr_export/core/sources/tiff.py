"""TIFF and OME-TIFF files as lazy images: data, axis names, channel names and pixel sizes.

`open_tiff` reads a TIFF's metadata only. Its pixels are a dask array whose chunks are the
file's own pages or tiles, read through tifffile's zarr view of the file (``aszarr``) when a
chunk is computed; the whole image is never loaded.

Axis names follow NGFF (``t, c, z, y, x``), mapped from tifffile's series axes:

- ``T`` -> ``t``, ``C`` -> ``c``, ``Z`` -> ``z``, ``Y`` -> ``y``, ``X`` -> ``x``;
- ``S`` (samples of a pixel: RGB's three values) -> ``c``; a file with both ``C`` and ``S``
  (channels of RGB pixels) is refused: OME-Zarr has one channel axis;
- any other axis (``Q`` or ``I``, "a stack of unknown kind", which is how tifffile names the
  pages of a plain multi-page TIFF; or ``E``, ``V``, ``M``...) takes the first free name of
  ``z``, ``t``, ``c``, filled from the axis nearest ``y, x`` outwards. A plain stack of pages is
  most often a z-stack, so ``(pages, y, x)`` becomes ``zyx`` and ``(Q, Q, y, x)`` becomes
  ``tzyx``. A file with more axes than ``t, c, z, y, x`` can hold is refused.

Pixel sizes come from the OME-XML (``PhysicalSizeX/Y/Z`` and ``TimeIncrement`` with their
units) or, for other TIFFs, from ImageJ's metadata (``unit``, ``spacing``, ``finterval``) or
resolution tags in centimetres. Resolution in inches is ignored: it is almost always a screen
or printer default (72 dpi), not a microscope's pixel size.

The dask array pickles as the file's absolute path, series and level, and each process (a dask
worker) opens the file itself on its first read, so a TIFF converts on a cluster that sees the
same file system, whatever folder its workers were started in. `TiffImage.close` closes this
process's file and drops its decoded chunks (a batch of many files must not keep them all
open); a later read opens the file again.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
import xml.etree.ElementTree as ET
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_omezarr_export.core.errors import (
    InvalidOptionError,
    StoreAccessError,
    StoreFormatError,
)
from napari_omezarr_export.core.ngff.axes import ngff_unit

__all__ = ["TIFF_SUFFIXES", "TiffImage", "is_tiff_name", "map_axes", "open_tiff"]

logger = logging.getLogger(__name__)

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2")

# tifffile's letters with an NGFF name of their own; every other letter is a stack of some kind.
_NAMED = {"T": "t", "C": "c", "Z": "z", "Y": "y", "X": "x"}
# Where an unnamed stack goes, first choice first.
_STACK_NAMES = ("z", "t", "c")

# OME-XML unit symbols that core.ngff.axes.ngff_unit does not already know.
_OME_UNITS = {
    "Å": "angstrom",
    "pm": "picometer",
    "fm": "femtometer",
    "km": "kilometer",
    "µs": "microsecond",
    "μs": "microsecond",
    "ns": "nanosecond",
    "ps": "picosecond",
    "d": "day",
}


@dataclass(frozen=True)
class TiffImage:
    """A TIFF's first image, lazily.

    Attributes
    ----------
    path : Path
        The file, as an absolute path.
    data : dask.array.Array
        Level 0 of the file's first series; chunks are the file's pages or tiles.
    axes : str
        One NGFF name per dimension of ``data`` (``"zcyx"``, ``"yxc"``...), in the file's order.
    channel_names : list of str or None
        The OME-XML channel names, one per ``c`` position; None when the file names none (or
        names a different number of channels than ``data`` has).
    scale : dict of str to float
        Physical size of a pixel per axis name, for the axes the file gives one; else empty.
    units : dict of str to str
        NGFF unit name (``"micrometer"``, ``"second"``) per axis in ``scale``.
    """

    path: Path
    data: Any = field(repr=False)
    axes: str
    channel_names: list[str] | None = None
    scale: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    _level: Any = field(default=None, repr=False, compare=False)

    def close(self) -> None:
        """Close the file ``data`` reads from in this process and drop its decoded chunks.

        Reading ``data`` afterwards opens the file again. Copies of ``data`` on dask workers
        hold their own file, closed when the worker drops them.
        """
        if self._level is not None:
            self._level.close()


def is_tiff_name(name: str | os.PathLike[str]) -> bool:
    """True when a file name ends like a TIFF (``.tif``, ``.tiff``, ``.ome.tif``, ``.btf``...)."""
    return os.fspath(name).lower().endswith(TIFF_SUFFIXES)


def open_tiff(path: str | os.PathLike[str], *, series: int = 0) -> TiffImage:
    """Open a TIFF or OME-TIFF file as a lazy image with its axis and channel names and scale.

    Parameters
    ----------
    path : str or PathLike
        A local TIFF file.
    series : int
        Which of the file's series (OME-XML images) to open; the first by default.

    Returns
    -------
    TiffImage
        The lazy data (level 0) and its metadata.

    Raises
    ------
    StoreAccessError
        When the file does not exist or cannot be read.
    StoreFormatError
        When the file is not a TIFF, is damaged, or has no such series.
    InvalidOptionError
        When its axes do not fit OME-Zarr's ``t, c, z, y, x``, or ``tifffile`` is missing.
    """
    tifffile = _tifffile()
    file = Path(path).expanduser()
    try:
        with tifffile.TiffFile(file) as tif:
            if not tif.series:
                raise StoreFormatError(
                    f"{file} starts like a TIFF but holds no readable image: it is probably "
                    "truncated or damaged. Export or copy it again."
                )
            if not 0 <= series < len(tif.series):
                raise StoreFormatError(
                    f"{file} has {len(tif.series)} image series; there is no series {series}. "
                    "Choose a series from 0 to the number of series minus one."
                )
            found = tif.series[series]
            tiff_axes, shape, dtype = found.axes, tuple(found.shape), np.dtype(found.dtype)
            chunks = _chunks(found)
            names = _channel_names(tif, series)
            scale, units = _scale(tif, series, found)
    except OSError as exc:
        raise StoreAccessError(
            f"Cannot read {file}: {exc.strerror or exc}. Check the path and its permissions."
        ) from exc
    except tifffile.TiffFileError as exc:
        raise StoreFormatError(
            f"{file} is not a TIFF file that can be read ({exc}). Check that it is a TIFF and "
            "that it is complete (not still being written or truncated)."
        ) from exc
    axes = map_axes(tiff_axes, where=file)
    # Absolute: the array is pickled to dask workers, whose working folder may be another.
    level = _TiffLevel(file.absolute(), series, shape, dtype, chunks)
    data = _lazy(level)
    channel_count = shape[axes.index("c")] if "c" in axes else 1
    if names is not None and len(names) != channel_count:
        names = None
    scale = {axes[tiff_axes.index(letter)]: size for letter, size in scale.items()}
    units = {axes[tiff_axes.index(letter)]: unit for letter, unit in units.items()}
    return TiffImage(level.path, data, axes, names, scale, units, level)


def map_axes(tiff_axes: str, *, where: object = "This TIFF") -> str:
    """Map tifffile's series axes (``"QYX"``, ``"TZCYX"``, ``"YXS"``) to NGFF names.

    Parameters
    ----------
    tiff_axes : str
        tifffile's axis letters, one per dimension.
    where : object
        The file, named in the error message.

    Returns
    -------
    str
        One of ``t, c, z, y, x`` per dimension, in the same order (see the module docstring).

    Raises
    ------
    InvalidOptionError
        When the axes do not fit ``t, c, z, y, x`` (more than five, or no ``Y`` and ``X``).
    """
    letters = tiff_axes.upper()
    mapped: list[str | None] = [_NAMED.get(letter) for letter in letters]
    if "S" in letters:
        mapped[letters.index("S")] = "c"
    free = [name for name in _STACK_NAMES if name not in mapped]
    for i in reversed(range(len(letters))):
        if mapped[i] is None and free:
            mapped[i] = free.pop(0)
    if None in mapped or len(set(mapped)) != len(mapped) or not {"y", "x"} <= set(mapped):
        raise InvalidOptionError(
            f"{where} has axes {tiff_axes!r}, which do not fit OME-Zarr's t, c, z, y, x (at "
            "most one of each, with y and x; one channel axis, so not both C and S). Split "
            "the file into images of at most five dimensions (for example one per position) "
            "and convert those."
        )
    return "".join(name for name in mapped if name is not None)


def _tifffile() -> Any:
    try:
        import tifffile
    except ImportError as exc:  # pragma: no cover - tifffile comes with the test extra
        raise InvalidOptionError(
            "Reading TIFF files needs the tifffile package: pip install tifffile"
        ) from exc
    return tifffile


def _chunks(series: Any) -> tuple[int, ...]:
    """The file's own chunk shape (a page, a strip or a tile) for level 0 of ``series``."""
    import zarr

    store = series.aszarr(level=0)
    try:
        return tuple(zarr.open_array(store, mode="r").chunks)
    finally:
        store.close()


def _ome_pixels(tif: Any, series: int) -> Any:
    """The ``Pixels`` element of image ``series`` in the OME-XML, or None."""
    if not tif.is_ome:
        return None
    try:
        root = ET.fromstring(tif.ome_metadata)
    except ET.ParseError as exc:
        logger.warning("Ignoring the OME-XML of %s, which does not parse: %s", tif.filename, exc)
        return None
    images = [child for child in root if child.tag.endswith("}Image") or child.tag == "Image"]
    if series >= len(images):
        return None
    return next((c for c in images[series] if c.tag.rsplit("}", 1)[-1] == "Pixels"), None)


def _channel_names(tif: Any, series: int) -> list[str] | None:
    pixels = _ome_pixels(tif, series)
    if pixels is None:
        return None
    channels = [c for c in pixels if c.tag.rsplit("}", 1)[-1] == "Channel"]
    names = [c.get("Name") for c in channels]
    if not names or any(not name for name in names):
        return None
    return [str(name) for name in names]


def _scale(tif: Any, series: int, found: Any) -> tuple[dict[str, float], dict[str, str]]:
    """Pixel sizes and units keyed by tifffile's axis letters (only those in the series)."""
    sizes: dict[str, tuple[float, str | None]] = {}
    pixels = _ome_pixels(tif, series)
    if pixels is not None:
        for letter, size, unit, default in (
            ("X", "PhysicalSizeX", "PhysicalSizeXUnit", "µm"),
            ("Y", "PhysicalSizeY", "PhysicalSizeYUnit", "µm"),
            ("Z", "PhysicalSizeZ", "PhysicalSizeZUnit", "µm"),
            ("T", "TimeIncrement", "TimeIncrementUnit", "s"),
        ):
            if pixels.get(size) is not None:
                sizes[letter] = (_number(pixels.get(size)), pixels.get(unit, default))
    elif tif.is_imagej and tif.imagej_metadata:
        sizes = _imagej_scale(tif.imagej_metadata, found.keyframe)
    else:
        sizes = _resolution_scale(found.keyframe)
    scale: dict[str, float] = {}
    units: dict[str, str] = {}
    for letter, (size, unit) in sizes.items():
        if letter not in found.axes or not np.isfinite(size) or size <= 0:
            continue
        scale[letter] = size
        name = _unit(unit, "t" if letter == "T" else letter.lower())
        if name is not None:
            units[letter] = name
    return scale, units


def _imagej_scale(meta: dict, page: Any) -> dict[str, tuple[float, str | None]]:
    unit = meta.get("unit")
    sizes = {}
    if page is not None and unit:
        sizes = {k: (size, unit) for k, (size, _) in _resolution_sizes(page).items()}
    if meta.get("spacing") and unit:
        sizes["Z"] = (_number(meta["spacing"]), unit)
    if meta.get("finterval"):
        sizes["T"] = (_number(meta["finterval"]), "s")
    return sizes


def _resolution_scale(page: Any) -> dict[str, tuple[float, str | None]]:
    if page is None:
        return {}
    unit = page.tags.get("ResolutionUnit")
    if unit is None or int(unit.value) != 3:  # 3: centimetre; 1 none, 2 inch (a dpi default)
        return {}
    return {k: (size * 1e4, "micrometer") for k, (size, _) in _resolution_sizes(page).items()}


def _resolution_sizes(page: Any) -> dict[str, tuple[float, None]]:
    """Pixel size per X and Y from the resolution tags (pixels per unit), in that unit."""
    sizes = {}
    for letter, tag in (("X", "XResolution"), ("Y", "YResolution")):
        found = page.tags.get(tag)
        if found is None:
            continue
        numerator, denominator = found.value
        if numerator > 0 and denominator > 0:
            sizes[letter] = (denominator / numerator, None)
    return sizes


def _number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def _unit(unit: str | None, axis: str) -> str | None:
    if unit is None:
        return None
    text = str(unit).strip()
    return ngff_unit(_OME_UNITS.get(text, text), axis)


# --- lazy data -------------------------------------------------------------------------------


# Decoded chunks kept per file level, oldest dropped first. Writers read a page in bands of
# rows, and tifffile decodes a whole chunk (a tile, a strip, or for most uncompressed files the
# whole page) for any part of it. Converting a 16-page 4096 x 4096 uint16 stack (512 MiB, one
# strip per page) read 2075 MiB from the file without this and 539 MiB with it (rchar); reading
# its pages in 1024-row bands took 2.2-2.8 s, and 0.5-1.1 s with it. The whole conversion took
# 5.9-6.6 s with it and 7.3-9.2 s without (2 busy cores, so noisy), for about 100 MB more peak
# memory. On a network file system every byte read is a transfer. Two such pages fit.
CHUNK_CACHE_BYTES = 64 * 2**20


class _TiffLevel:
    """One level of one series of a TIFF, read on demand; pickles as its path (for dask workers).

    A tifffile zarr store holds an open file, which cannot be pickled or shared between
    processes, so each process opens the file on its first read and keeps it open until
    `close` or until the array is garbage-collected. tifffile serialises seeks and reads on its
    file handle. A read of part of one chunk decodes the whole chunk once and keeps it
    (`CHUNK_CACHE_BYTES`), so that the next band of the same page costs no second decode.
    """

    def __init__(
        self,
        path: Path,
        series: int,
        shape: tuple[int, ...],
        dtype: np.dtype,
        chunks: tuple[int, ...],
    ):
        self.path, self.series, self.shape, self.dtype = path, series, shape, dtype
        self.chunks = chunks
        self.ndim = len(shape)
        self._array: Any = None
        self._closer: Any = None  # closes the file opened by _opened
        self._lock = threading.Lock()
        self._decoded: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()

    def __getstate__(self) -> dict:
        names = ("path", "series", "shape", "dtype", "chunks")
        return {name: getattr(self, name) for name in names}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def __getitem__(self, key: Any) -> np.ndarray:
        index = self._chunk_holding(key)
        if index is None:
            return self._opened()[key]
        block = self._chunk(index)
        return block[
            tuple(
                int(k) - i * c
                if isinstance(k, (int, np.integer))
                else slice(k.start - i * c, k.stop - i * c)
                for k, i, c in zip(key, index, self.chunks, strict=True)
            )
        ]

    def _chunk_holding(self, key: Any) -> tuple[int, ...] | None:
        """The chunk that holds all of ``key`` when ``key`` is a part of one chunk, else None.

        Only plain keys qualify: one non-negative int or one slice without a step per axis,
        inside the array (dask's own keys); anything else is read as asked.
        """
        if not isinstance(key, tuple) or len(key) != self.ndim:
            return None
        index, partial = [], False
        for k, c, n in zip(key, self.chunks, self.shape, strict=True):
            if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
                start, stop = int(k), int(k) + 1
            elif isinstance(k, slice) and k.step in (None, 1) and None not in (k.start, k.stop):
                start, stop = k.start, k.stop
            else:
                return None
            if not 0 <= start < stop <= n or start // c != (stop - 1) // c:
                return None
            index.append(start // c)
            partial = partial or stop - start < min(c, n - start // c * c)
        return tuple(index) if partial else None

    def _chunk(self, index: tuple[int, ...]) -> np.ndarray:
        with self._lock:
            block = self._decoded.get(index)
            if block is not None:
                self._decoded.move_to_end(index)
                return block
        region = tuple(
            slice(i * c, min((i + 1) * c, n))
            for i, c, n in zip(index, self.chunks, self.shape, strict=True)
        )
        block = np.asarray(self._opened()[region])
        with self._lock:
            self._decoded[index] = block
            while len(self._decoded) > 1 and (
                sum(b.nbytes for b in self._decoded.values()) > CHUNK_CACHE_BYTES
            ):
                self._decoded.popitem(last=False)
        return block

    def _opened(self) -> Any:
        with self._lock:
            if self._array is None:
                import zarr

                tif = _tifffile().TiffFile(self.path)
                store = tif.series[self.series].aszarr(level=0)
                self._closer = weakref.finalize(self, tif.close)
                self._array = zarr.open_array(store, mode="r")
            return self._array

    def close(self) -> None:
        """Close the file and drop the decoded chunks; the next read opens the file again."""
        with self._lock:
            closer = self._closer
            self._array, self._closer = None, None
            self._decoded.clear()
        if closer is not None:
            closer()


def _lazy(level: _TiffLevel) -> Any:
    import dask.array as da
    from dask.base import tokenize

    stat = level.path.stat()
    name = "tiff-" + tokenize(
        str(level.path.resolve()), stat.st_mtime_ns, stat.st_size, level.series
    )
    # meta: dask would otherwise read a 0-sized slice here, opening the file at planning time.
    return da.from_array(
        level,
        chunks=level.chunks,
        name=name,
        meta=np.empty((0,) * level.ndim, dtype=level.dtype),
    )

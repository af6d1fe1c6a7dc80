"""Frozen, validated export options: channel styles, pyramid, storage.

Every option is checked when it is built, so a bad value fails early with a message that names
the value and the allowed choices, long before anything touches the disk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict, get_args

import numpy as np

from napari_omezarr_export.core.errors import InvalidOptionError
from napari_omezarr_export.core.ngff.colors import hex_to_rgb, require_hex, rgb_to_hex

__all__ = [
    "CODECS",
    "DEFAULT_COLORS",
    "IMAGE_METHODS",
    "LABEL_METHODS",
    "MULTI_CHANNEL_COLORS",
    "NGFF_VERSIONS",
    "ChannelStyle",
    "Codec",
    "ImageMethod",
    "ImageOptions",
    "LabelMethod",
    "LabelsOptions",
    "LabelsSpec",
    "NgffVersion",
    "PyramidOptions",
    "StorageOptions",
    "hex_to_rgb",
    "positive_shape_problem",
    "require_hex",
    "rgb_to_hex",
]

NgffVersion = Literal["0.4", "0.5", "0.6"]
Codec = Literal["blosc-zstd", "blosc-lz4", "zstd", "none"]
Shuffle = Literal["bit", "byte", "none"]
ImageMethod = Literal["mean", "nearest", "max", "min"]
LabelMethod = Literal["nearest", "mode"]

NGFF_VERSIONS: tuple[str, ...] = get_args(NgffVersion)
CODECS: tuple[str, ...] = get_args(Codec)
SHUFFLES: tuple[str, ...] = get_args(Shuffle)
IMAGE_METHODS: tuple[str, ...] = get_args(ImageMethod)
LABEL_METHODS: tuple[str, ...] = get_args(LabelMethod)

DEFAULT_BLOSC_BLOCKSIZE = 1 << 20
MIN_BLOSC_BLOCKSIZE = 1 << 10
MAX_BLOSC_BLOCKSIZE = 1 << 26


def check_choice(what: str, value: object, allowed: tuple[str, ...]) -> None:
    """Raise `InvalidOptionError` unless ``value`` is one of ``allowed``.

    Parameters
    ----------
    what : str
        The option's name, as the user knows it.
    value : object
        The value given.
    allowed : tuple of str
        The valid choices.
    """
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise InvalidOptionError(f"{what} {value!r} is not supported; choose one of {choices}.")


def positive_shape_problem(what: str, shape: Sequence[int] | None) -> str:
    """Return why a chunk or shard shape is not all positive whole numbers, or ``""``.

    The one shape rule that needs no array shape; `write.chunk_shapes` holds the others.

    Parameters
    ----------
    what : str
        ``"Chunk"`` or ``"Shard"``.
    shape : sequence of int or None
        The shape given; None (the default) is fine.

    Returns
    -------
    str
        An empty string, or a sentence saying what to change.
    """
    if shape is None or all(int(n) >= 1 for n in shape):
        return ""
    return (
        f"{what} shape {tuple(shape)} has an entry below 1; every entry must be a positive "
        "whole number."
    )


# Default channel colours: one channel is white (gray); several take blue, green, red, ...
DEFAULT_COLORS = ("FFFFFF",)
MULTI_CHANNEL_COLORS = ("0000FF", "00FF00", "FF0000", "FF00FF", "00FFFF", "FFFF00", "FFFFFF")


@dataclass(frozen=True)
class ChannelStyle:
    """How one channel is named and displayed (NGFF ``omero.channels[i]``).

    Parameters
    ----------
    label : str
        The channel name.
    color : str
        Display colour as 6-digit hex (``"00FF00"``); a leading ``#`` is accepted.
    start, end : float or None
        The display window (contrast limits). ``None`` takes the data range of the lowest
        pyramid level.
    active : bool
        Whether the channel is shown.
    """

    label: str
    color: str = "FFFFFF"
    start: float | None = None
    end: float | None = None
    active: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "color", require_hex(self.color, "Channel colour"))
        object.__setattr__(self, "label", str(self.label))
        if self.start is not None and self.end is not None and self.start > self.end:
            raise InvalidOptionError(
                f"Channel {self.label!r} has window start {self.start} above end {self.end}; "
                "swap them so that start <= end."
            )


@dataclass(frozen=True)
class PyramidOptions:
    """How the resolution levels are made.

    Parameters
    ----------
    levels : int or None
        The number of levels including full resolution. ``None`` halves y and x until the
        smallest level fits in one chunk or would fall below ``min_size``.
    image_method : {"mean", "nearest", "max", "min"}
        How images are downsampled. ``mean`` is rounded, in the source dtype.
    label_method : {"nearest", "mode"}
        How labels are downsampled; neither invents a label value.
    downsample_z : bool
        Also halve z at each level.
    min_size : int
        The automatic level count stops before y or x would fall below this size.
    """

    levels: int | None = None
    image_method: ImageMethod = "mean"
    label_method: LabelMethod = "nearest"
    downsample_z: bool = False
    min_size: int = 64

    def __post_init__(self) -> None:
        check_choice("Image downsampling method", self.image_method, IMAGE_METHODS)
        check_choice("Label downsampling method", self.label_method, LABEL_METHODS)
        if self.levels is not None and not (1 <= int(self.levels) <= 32):
            raise InvalidOptionError(
                f"Pyramid levels {self.levels!r} is out of range; use 1 to 32, or None for "
                "automatic."
            )
        if int(self.min_size) < 1:
            raise InvalidOptionError(f"Pyramid min_size {self.min_size!r} must be at least 1.")


@dataclass(frozen=True)
class StorageOptions:
    """How the arrays are laid out and compressed on disk.

    Parameters
    ----------
    ngff_version : {"0.4", "0.5", "0.6"}
        NGFF 0.4 on zarr v2 (read by every tool), NGFF 0.5 on zarr v3, or NGFF 0.6 (zarr v3,
        the 0.6rc0 specification: named coordinate systems; fewer tools read it yet).
    chunks : tuple of int or None
        Chunk shape in NGFF axis order. ``None`` is 1 on every axis but y and x, and up to
        1024 on y and x, capped to the array.
    shards : tuple of int or None
        Shard shape (NGFF 0.5 and 0.6: zarr v3); each entry a multiple of the chunk entry.
    codec : {"blosc-zstd", "blosc-lz4", "zstd", "none"}
        Compression codec.
    level : int
        Compression level (1-9 for Blosc, 1-22 for zstd).
    shuffle : {"bit", "byte", "none"}
        Blosc's shuffle filter; bit-shuffle compresses 16-bit microscopy data best.
    blocksize : int
        Bytes per Blosc block, each compressed on its own; 0 lets Blosc choose (about 64 to
        256 KiB). The default 1 MiB blocks, with bit-shuffle and zstd level 1, compressed
        microscopy images about 3 % smaller and more than twice as fast as Blosc's choice at
        zstd level 3 (``python -m benchmarks.run``, codec study).
    """

    ngff_version: NgffVersion = "0.4"
    chunks: tuple[int, ...] | None = None
    shards: tuple[int, ...] | None = None
    codec: Codec = "blosc-zstd"
    level: int = 1
    shuffle: Shuffle = "bit"
    blocksize: int = DEFAULT_BLOSC_BLOCKSIZE

    def __post_init__(self) -> None:
        check_choice("NGFF version", self.ngff_version, NGFF_VERSIONS)
        check_choice("Codec", self.codec, CODECS)
        check_choice("Shuffle", self.shuffle, SHUFFLES)
        max_level = 22 if self.codec == "zstd" else 9
        if self.codec != "none" and not (0 <= int(self.level) <= max_level):
            raise InvalidOptionError(
                f"Compression level {self.level!r} is out of range for {self.codec}; "
                f"use 0 to {max_level}."
            )
        if int(self.blocksize) != 0 and not (
            MIN_BLOSC_BLOCKSIZE <= int(self.blocksize) <= MAX_BLOSC_BLOCKSIZE
        ):
            raise InvalidOptionError(
                f"Blosc block size {self.blocksize!r} is out of range; use 0 for Blosc's own "
                f"choice, or {MIN_BLOSC_BLOCKSIZE} to {MAX_BLOSC_BLOCKSIZE} bytes."
            )
        for what, shape in (("Chunk", self.chunks), ("Shard", self.shards)):
            if problem := positive_shape_problem(what, shape):
                raise InvalidOptionError(problem)
        if self.shards is not None and self.ngff_version == "0.4":
            raise InvalidOptionError(
                "Shards need zarr v3; choose NGFF version '0.5' (or '0.6') or leave shards unset."
            )

    @property
    def zarr_format(self) -> int:
        """The zarr format that goes with the NGFF version (2 for 0.4, 3 for 0.5 and 0.6)."""
        return 2 if self.ngff_version == "0.4" else 3


ColorSource = Mapping[int, Sequence[int]] | Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class LabelsSpec:
    """A label image to write: integer data plus optional colours and per-label properties.

    Parameters
    ----------
    data : array-like
        Integer (or bool) label data; y and x must match the image's.
    name : str
        The label image's name (its folder under ``labels/``).
    colors : mapping or callable, optional
        RGBA 0-255 per label value, or a function mapping an array of values to RGBA rows
        (floats 0-1 or ints 0-255); only values present in the data are listed.
    properties : sequence of mapping, optional
        One dict per label, each with a ``label-value`` key.
    axes : str, optional
        Axis names of ``data`` (for example ``"zyx"``); by default the last axes of the image.
    scale, translation, units : sequence, optional
        Per dimension of ``data``; used when the labels are written on their own (labels saved
        with or into an image take the image's).
    visible : bool, optional
        Whether the layer is shown; kept beside the OME keys (NGFF has no place for it).
    opacity : float, optional
        The layer's opacity, 0-1; kept the same way.
    """

    data: Any
    name: str
    colors: ColorSource | None = None
    properties: Sequence[Mapping[str, Any]] | None = None
    axes: str | None = None
    scale: Sequence[float] | None = None
    translation: Sequence[float] | None = None
    units: Sequence[object] | None = None
    visible: bool | None = None
    opacity: float | None = None


class ImageOptions(TypedDict, total=False):
    """The keyword options of the image verbs, documented once on `plan_image`.

    `write_image`, `iter_write_image` and `preview_metadata` take them as ``**options`` typed
    by this dict and pass them to `plan_image`, whose explicit keyword-only signature rejects
    a misspelt one with Python's own ``TypeError``.
    """

    axes: str | None
    scale: Sequence[float] | None
    translation: Sequence[float] | None
    units: Sequence[object] | None
    channels: Sequence[ChannelStyle | str] | None
    name: str
    labels: Sequence[LabelsSpec]
    pyramid: PyramidOptions | None
    storage: StorageOptions | None


class LabelsOptions(TypedDict, total=False):
    """The keyword options of the labels verbs, documented once on `plan_labels`."""

    pyramid: PyramidOptions | None
    storage: StorageOptions | None
    scale: Sequence[float] | None
    translation: Sequence[float] | None
    units: Sequence[object] | None

"""Turn `StorageOptions` into the codec objects zarr v2 (numcodecs) and v3 (zarr.codecs) take."""

from __future__ import annotations

from typing import Any

import numcodecs
from zarr.codecs import BloscCodec, ZstdCodec

from napari_omezarr_export.core.options import StorageOptions

__all__ = ["compressors_for"]

_BLOSC_SHUFFLE_V2 = {
    "bit": numcodecs.Blosc.BITSHUFFLE,
    "byte": numcodecs.Blosc.SHUFFLE,
    "none": numcodecs.Blosc.NOSHUFFLE,
}
_BLOSC_SHUFFLE_V3 = {"bit": "bitshuffle", "byte": "shuffle", "none": "noshuffle"}


def compressors_for(storage: StorageOptions, itemsize: int) -> tuple[Any, ...] | None:
    """Return the ``compressors`` argument of `zarr.create_array` for these options.

    Parameters
    ----------
    storage : StorageOptions
        Codec, level, shuffle, Blosc block size and NGFF version.
    itemsize : int
        Bytes per pixel; Blosc's shuffle works on this type size.

    Returns
    -------
    tuple or None
        One compressor, or None for no compression.
    """
    if storage.codec == "none":
        return None
    level = int(storage.level)
    if storage.codec == "zstd":
        codec = numcodecs.Zstd(level=level) if storage.zarr_format == 2 else ZstdCodec(level=level)
        return (codec,)
    cname = storage.codec.removeprefix("blosc-")
    blocksize = int(storage.blocksize)
    if storage.zarr_format == 2:
        shuffle = _BLOSC_SHUFFLE_V2[storage.shuffle]
        return (numcodecs.Blosc(cname=cname, clevel=level, shuffle=shuffle, blocksize=blocksize),)
    return (
        BloscCodec(
            cname=cname,
            clevel=level,
            shuffle=_BLOSC_SHUFFLE_V3[storage.shuffle],
            typesize=itemsize,
            blocksize=blocksize,
        ),
    )

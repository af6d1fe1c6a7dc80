"""One function per writer: ours, ome-zarr-py, bioio-ome-zarr, ngff-zarr, and the "limit".

Every function has the signature ``write(data, path, wl, settings) -> Path`` and returns the
multiscales group it wrote (where ``multiscales[0].datasets[0]`` is level 0). ``settings`` is
``"equal"`` (the workload's chunks, Blosc zstd 5 with byte shuffle, its level count with
factor-2 y/x, zarr v2 / NGFF 0.4, a mean pyramid for images and nearest for labels) or
``"defaults"`` (each library's out-of-the-box call).

Which downsampling path each peer uses under ``equal`` is in `METHODS`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .workloads import Workload

EQUAL_CODEC = {"cname": "zstd", "clevel": 5, "shuffle": "byte"}

# The downsampling each writer uses under "equal" settings (images, labels).
METHODS = {
    "ours": ("mean (2x2 block mean, rounded)", "nearest"),
    "ome-zarr-py": ("Methods.LOCAL_MEAN (skimage downscale_local_mean)", "write_labels, NEAREST"),
    "bioio-ome-zarr": ("nearest (skimage resize order=0; its only method)", "same"),
    "ngff-zarr": (
        "Methods.DASK_BIN_SHRINK (block mean)",
        "Methods.DASK_IMAGE_MODE (its nearest needs dask-image, not installed)",
    ),
    "limit": ("levels made beforehand, untimed", "same"),
}


def blosc_zstd5():
    """The codec every peer is given: Blosc zstd level 5, byte shuffle (numcodecs)."""
    import numcodecs

    return numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)


def _scale_factors(wl: Workload) -> list[dict[str, int]]:
    return [
        {a: (2**i if a in "yx" else 1) for a in wl.axes if a != "c"} for i in range(1, wl.levels)
    ]


# --- ours ------------------------------------------------------------------------------------


def write_ours(data: np.ndarray, path: Path, wl: Workload, settings: str) -> Path:
    from napari_omezarr_export import (
        ChannelStyle,
        LabelsSpec,
        PyramidOptions,
        StorageOptions,
        write_image,
        write_labels,
    )

    if settings in ("defaults", "defaults, 1 level"):
        # "defaults, 1 level": our defaults without a pyramid, to compare bytes on disk with
        # a writer whose default writes one level.
        one = {"pyramid": PyramidOptions(levels=1)} if settings != "defaults" else {}
        if wl.kind == "labels":
            return write_labels(LabelsSpec(data, "labels"), path, **one)[0]
        channels = [ChannelStyle(f"C{i}") for i in range(wl.n_channels)]
        return write_image(data, path, axes=wl.axes, channels=channels, **one)[0]
    pyramid = PyramidOptions(levels=wl.levels, image_method="mean", label_method="nearest")
    # blocksize=0: Blosc's own block size, as every peer gets.
    storage = StorageOptions(
        ngff_version="0.4",
        chunks=wl.chunk_shape,
        codec="blosc-zstd",
        level=5,
        shuffle="byte",
        blocksize=0,
    )
    if wl.kind == "labels":
        return write_labels(LabelsSpec(data, "labels"), path, pyramid=pyramid, storage=storage)[0]
    channels = [ChannelStyle(f"C{i}") for i in range(wl.n_channels)]
    return write_image(
        data, path, axes=wl.axes, channels=channels, pyramid=pyramid, storage=storage
    )[0]


# --- ome-zarr-py -----------------------------------------------------------------------------


def write_ome_zarr(data: np.ndarray, path: Path, wl: Workload, settings: str) -> Path:
    import dask.array as da
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.scale import Methods
    from ome_zarr.writer import write_image, write_labels

    axes = list(wl.axes)
    if settings == "defaults":
        # The README's call: a dask array (default chunks), a path, the axes.
        image = da.from_array(data)
        if wl.kind == "labels":
            root = zarr.open_group(str(path), mode="w")
            write_labels(image, root, name="labels", axes=axes, scaler=None)
            return path / "labels" / "labels"
        write_image(image, str(path), axes=axes)
        return path
    image = da.from_array(data, chunks=wl.chunk_shape)
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    options = {"chunks": wl.chunk_shape, "compressor": blosc_zstd5()}
    scale_factors = _scale_factors(wl)
    if wl.kind == "labels":
        write_labels(
            image,
            root,
            name="labels",
            scaler=None,
            scale_factors=scale_factors,
            method=Methods.NEAREST,
            fmt=FormatV04(),
            axes=axes,
            storage_options=options,
        )
        return path / "labels" / "labels"
    write_image(
        image,
        root,
        scale_factors=scale_factors,
        method=Methods.LOCAL_MEAN,
        fmt=FormatV04(),
        axes=axes,
        storage_options=options,
    )
    return path


# --- bioio-ome-zarr --------------------------------------------------------------------------


def write_bioio(data: np.ndarray, path: Path, wl: Workload, settings: str) -> Path:
    from bioio_ome_zarr.writers import OMEZarrWriter

    if settings == "defaults":
        # Its minimal call: level_shapes is required; one level is the out-of-the-box result.
        writer = OMEZarrWriter(str(path), level_shapes=data.shape, dtype=data.dtype)
        writer.write_full_volume(data)
        return path
    writer = OMEZarrWriter(
        str(path),
        level_shapes=wl.level_shapes(),
        dtype=data.dtype,
        chunk_shape=[
            tuple(min(c, n) for c, n in zip(wl.chunk_shape, s, strict=True))
            for s in wl.level_shapes()
        ],
        compressor=blosc_zstd5(),
        zarr_format=2,
        axes_names=list(wl.axes),
        axes_types=["channel" if a == "c" else "space" for a in wl.axes],
    )
    writer.write_full_volume(data)
    return path


# --- ngff-zarr -------------------------------------------------------------------------------


def write_ngff_zarr(data: np.ndarray, path: Path, wl: Workload, settings: str) -> Path:
    import ngff_zarr as nz

    image = nz.to_ngff_image(data, dims=list(wl.axes))
    if settings == "defaults":
        nz.to_ngff_zarr(str(path), nz.to_multiscales(image))
        return path
    # Its label paths: DASK_IMAGE_NEAREST needs dask-image (not installed here) and
    # ITKWASM_LABEL_IMAGE takes ~15 s even on 256x256, so the pure-dask mode it is.
    method = nz.Methods.DASK_IMAGE_MODE if wl.kind == "labels" else nz.Methods.DASK_BIN_SHRINK
    chunks = dict(zip(wl.axes, wl.chunk_shape, strict=True))
    multiscales = nz.to_multiscales(
        image, scale_factors=_scale_factors(wl), method=method, chunks=chunks
    )
    nz.to_ngff_zarr(str(path), multiscales, version="0.4", compressor=blosc_zstd5())
    return path


# --- the limit -------------------------------------------------------------------------------


def limit_levels(data: np.ndarray, wl: Workload) -> list[np.ndarray]:
    """Every level's data, made with our kernels (untimed: the limit is compress + write)."""
    from napari_omezarr_export.core.write.pyramid import downsample

    factors = [2 if a in "yx" else 1 for a in wl.axes]
    levels = [data]
    for _ in range(1, wl.levels):
        levels.append(downsample(levels[-1], factors, wl.method))
    return levels


def _chunk_slices(shape: tuple[int, ...], chunks: tuple[int, ...]):
    ranges = [range(0, n, c) for n, c in zip(shape, chunks, strict=True)]
    for starts in np.ndindex(*(len(r) for r in ranges)):
        yield tuple(
            slice(r[i], min(r[i] + c, n))
            for r, i, c, n in zip(ranges, starts, chunks, shape, strict=True)
        )


def compress_and_write(levels: list[np.ndarray], path: Path, chunks: tuple[int, ...]) -> int:
    """Compress every chunk of every level once (Blosc zstd 5, byte shuffle, blosc's own
    threads off) on ``os.cpu_count()`` threads, each writing its bytes to one file per chunk.
    Returns the bytes written."""
    import numcodecs
    from numcodecs import blosc

    blosc.set_nthreads(1)
    blosc.use_threads = False
    codec = numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)
    jobs = []
    for i, level in enumerate(levels):
        folder = path / str(i)
        folder.mkdir(parents=True)
        for index in _chunk_slices(level.shape, chunks):
            name = ".".join(str(s.start // c) for s, c in zip(index, chunks, strict=True))
            jobs.append((level, index, folder / name))

    def work(job) -> int:
        level, index, file = job
        encoded = codec.encode(np.ascontiguousarray(level[index]))
        with open(file, "wb") as f:
            f.write(encoded)
        return len(encoded)

    with ThreadPoolExecutor(os.cpu_count()) as pool:
        return sum(pool.map(work, jobs, chunksize=max(1, len(jobs) // (64 * os.cpu_count()))))


def write_limit(data: np.ndarray, path: Path, wl: Workload, settings: str) -> Path:
    """Not a writer: the timed part is `compress_and_write` (see measure.py)."""
    compress_and_write(limit_levels(data, wl), path, wl.chunk_shape)
    return path


def write_ours_one_level(data: np.ndarray, path: Path, wl: Workload, settings: str) -> Path:
    """Our defaults with one level (defaults table only)."""
    if settings != "defaults":
        raise ValueError("'ours, 1 level' is only for the defaults table")
    return write_ours(data, path, wl, "defaults, 1 level")


WRITERS: dict[str, Callable[[np.ndarray, Path, Workload, str], Path]] = {
    "ours": write_ours,
    "ours, 1 level": write_ours_one_level,
    "ome-zarr-py": write_ome_zarr,
    "bioio-ome-zarr": write_bioio,
    "ngff-zarr": write_ngff_zarr,
    "limit": write_limit,
}
PEERS = ("ome-zarr-py", "bioio-ome-zarr", "ngff-zarr")
EQUAL_WRITERS = ("ours", *PEERS, "limit")


def chunk_count(wl: Workload) -> int:
    return sum(
        math.prod(math.ceil(n / c) for n, c in zip(s, wl.chunk_shape, strict=True))
        for s in wl.level_shapes()
    )

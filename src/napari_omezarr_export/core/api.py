"""The public, napari-free Python API: plan, preview and write images and labels.

`plan_image` and `plan_labels` return an `ExportPlan`, checked and frozen: ``preview()`` gives
exactly the attributes it writes, ``paths`` the stores or groups it writes, ``run()`` writes
and ``iter_run()`` yields ``(chunks done, chunks total)`` so that a GUI can show progress and
cancel by closing the generator. The verbs below are those plans run at once:
``write_image(...) == plan_image(...).run()``. Every option is keyword-only.

A dask array is written on a dask.distributed cluster when a ``Client`` is active, or when
one is passed as ``client=``: the workers compute, encode and write the chunks, the metadata
is written last by this process (see `napari_omezarr_export.core.write.distributed`).

The sizing helpers the export widget offers (chunk shapes near a memory target and their
check) are re-exported here, so adapters use this module only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

import napari_omezarr_export.core.write.target_image as target_image
from napari_omezarr_export.core import stores
from napari_omezarr_export.core.errors import InvalidOptionError
from napari_omezarr_export.core.ngff.axes import default_axis_names
from napari_omezarr_export.core.options import (
    ChannelStyle,
    ImageOptions,
    LabelsOptions,
    LabelsSpec,
    PyramidOptions,
    StorageOptions,
)
from napari_omezarr_export.core.progress import Progress
from napari_omezarr_export.core.stores import StorePath
from napari_omezarr_export.core.write.chunk_shapes import (
    check_chunks,
    chunks_for_memory_target,
    format_shape,
    parse_shape,
)
from napari_omezarr_export.core.write.export_plan import ExportPlan
from napari_omezarr_export.core.write.plan_export import (
    ResolvedImage,
    as_label_specs,
    check_label_names,
    plan_image_export,
    plan_labels_like,
    plan_standalone_labels,
    resolve_image,
    transpose_lazily,
)
from napari_omezarr_export.core.write.plate import add_field, plate_version, split_well
from napari_omezarr_export.core.write.stacking import Concatenated
from napari_omezarr_export.core.write.staging import is_zarr_store

if TYPE_CHECKING:
    from upath import UPath

__all__ = [
    "Concatenated",
    "ExportPlan",
    "ResolvedImage",
    "check_chunks",
    "check_label_names",
    "chunks_for_memory_target",
    "default_axis_names",
    "format_shape",
    "is_zarr_store",
    "iter_write_image",
    "iter_write_labels",
    "iter_write_plate_field",
    "parse_shape",
    "plan_image",
    "plan_labels",
    "preview_labels",
    "preview_metadata",
    "resolve_image",
    "split_well",
    "target_path",
    "transpose_lazily",
    "write_image",
    "write_labels",
    "write_plate_field",
]


_KEPT_SUFFIXES = (".zarr", stores.ZIP_SUFFIX)
_P = TypeVar("_P")


def _with_store_suffix(path: _P) -> _P:
    if path.suffix.lower() in _KEPT_SUFFIXES:
        return path
    return path.with_name(path.name + ".ome.zarr")


def target_path(
    path: str | os.PathLike[str] | UPath, *, storage_options: dict | None = None
) -> StorePath:
    """Return where a store named ``path`` is written: ``.ome.zarr`` is added when no ``.zarr``.

    Image and labels writes resolve their target here, with `core.stores.write_target`. A
    ``.ozx`` name stays as it is: the store is written as one zip file (NGFF 0.5).

    Parameters
    ----------
    path : str, Path or UPath
        The name as the user typed it: a local path (``~`` and ``file://`` URLs are resolved)
        or an object-store URL such as ``s3://bucket/run/x.ome.zarr``.
    storage_options : dict, optional
        For an object store: passed to fsspec (``endpoint_url``, ``key``, ``secret``,
        ``profile``...); by default from the environment (``AWS_PROFILE``,
        ``AWS_ENDPOINT_URL``...).

    Returns
    -------
    Path or UPath
        The store path: a `Path` for local targets, a `UPath` for object stores.

    Raises
    ------
    InvalidOptionError
        For a URL that cannot be written: ``http(s)://`` (read-only), an unknown scheme, a
        scheme whose package is missing, or a bucket without a store name.
    WriteFailedError
        When a folder above a local target is a file.
    """
    if not isinstance(path, (str, os.PathLike)) and hasattr(path, "protocol"):  # a UPath
        storage_options = {**path.storage_options, **(storage_options or {})}
        path = str(path)
    text = os.fspath(path)
    store = stores.write_target(text, storage_options=storage_options)
    if not isinstance(store, Path) and not store.name:
        raise InvalidOptionError(
            f"Cannot write to {text!r}: it names a bucket, not a store inside it. Give the "
            f"store a name, such as {text.rstrip('/')}/image.ome.zarr. Nothing was written."
        )
    return _with_store_suffix(store)


def _labels_target(
    path: str | os.PathLike[str] | UPath, storage_options: dict | None
) -> StorePath:
    """Where labels go: an existing image as named, else `target_path`.

    A plate's field folder (``B/3/0``) is an image without a ``.zarr`` suffix.
    """
    given = stores.write_target(path, storage_options=storage_options)
    if target_image.is_image_store(given):
        return given
    return target_path(path, storage_options=storage_options)


def _local_target(path: str | os.PathLike[str], what: str) -> Path:
    """Like `target_path`, for stores written to local folders only (HCS plates)."""
    return _with_store_suffix(stores.local_path(path, what=what))


def plan_image(
    data: Any,
    path: str | Path | UPath | None,
    *,
    axes: str | None = None,
    scale: Sequence[float] | None = None,
    translation: Sequence[float] | None = None,
    units: Sequence[object] | None = None,
    channels: Sequence[ChannelStyle | str] | None = None,
    name: str = "image",
    labels: Sequence[LabelsSpec] = (),
    pyramid: PyramidOptions | None = None,
    storage: StorageOptions | None = None,
    storage_options: dict | None = None,
) -> ExportPlan:
    """Plan writing an array as an OME-Zarr image, with its pyramid and labels; nothing is read.

    Parameters
    ----------
    data : array-like
        2-D to 5-D numpy, dask or zarr array; read lazily, one band at a time.
    path : str, Path, UPath or None
        Destination; ``.ome.zarr`` is added when the name has no ``.zarr`` (or ``.ozx``)
        suffix. A local folder, a ``file://`` URL, a ``.ozx`` file (one zip, NGFF 0.5), or an
        object-store URL such as ``s3://bucket/x.ome.zarr`` (see `target_path`). An existing
        OME-Zarr image there is replaced (atomically on a local disk; on an object store it is
        withdrawn, then the new one is uploaded metadata-last); anything else there is an
        error. ``http(s)://`` and unknown schemes raise `InvalidOptionError`. None plans a
        preview only.
    axes : str, optional
        Axis names of ``data`` such as ``"cyx"`` or ``"tczyx"``; by default inferred from the
        number of dimensions (and ``channels``).
    scale, translation : sequence of float, optional
        Physical pixel size and the position of pixel 0's centre, per dimension of ``data``.
    units : sequence of str, optional
        Unit per dimension, such as ``"micrometer"`` or ``"second"``.
    channels : sequence of ChannelStyle or str, optional
        Name, colour, window and visibility of each channel; a plain name takes the default
        colour and a window from the data.
    name : str
        The image's name in the metadata.
    labels : sequence of LabelsSpec
        Label images saved under ``labels/``.
    pyramid : PyramidOptions, optional
        Level count and downsampling methods.
    storage : StorageOptions, optional
        NGFF version, chunks, shards and compression.
    storage_options : dict, optional
        For an object-store ``path``: fsspec options such as ``endpoint_url``, ``key`` and
        ``secret``, or ``profile`` (by default from the environment, as boto3 finds them).

    Returns
    -------
    ExportPlan
        The checked plan: ``preview()``, ``paths``, ``run()``, ``iter_run()``.

    Raises
    ------
    InvalidOptionError, ExportError
        For options that cannot be written, before anything is read or written.
    """
    storage = storage or StorageOptions()
    options = ImageOptions(
        axes=axes, scale=scale, translation=translation, units=units, channels=channels,
        name=name, labels=labels, pyramid=pyramid, storage=storage,
    )  # fmt: skip
    groups = plan_image_export(data, options)
    target = None if path is None else target_path(path, storage_options=storage_options)
    return ExportPlan(target, tuple(groups), storage)


def iter_write_image(
    data: Any,
    path: str | Path | UPath,
    *,
    storage_options: dict | None = None,
    client: Any = None,
    **options: Unpack[ImageOptions],
) -> Iterator[Progress]:
    """Write an image like `write_image`, yielding ``(chunks done, chunks total)`` as it goes.

    Parameters
    ----------
    data, path, storage_options, client
        As for `write_image`; with a cluster, progress advances as regions complete.
    axes, scale, translation, units, channels, name, labels, pyramid, storage
        As for `plan_image`.

    Yields
    ------
    tuple of int
        Progress in chunks (to an object store every chunk counts twice: encoded, then
        uploaded); closing the generator cancels the write.
    """
    plan = plan_image(data, path, storage_options=storage_options, **options)
    yield from plan.iter_run(client=client)


def write_image(
    data: Any,
    path: str | Path | UPath,
    *,
    storage_options: dict | None = None,
    client: Any = None,
    **options: Unpack[ImageOptions],
) -> list[StorePath]:
    """Write an array as an OME-Zarr image, with its pyramid and optional labels.

    Parameters
    ----------
    data, path, storage_options
        As for `plan_image` (``path`` is required): a local path or an object-store URL.
    client : distributed.Client, bool or None
        Where a dask array is written. None (default): on the active dask.distributed client
        when `distributed` is imported and has one, else in this process; a
        ``Client``: on its cluster; False: in this process. On a cluster, each worker
        computes regions of the array from its graph and writes their chunks (or shards) and
        pyramid blocks; a local target must be on a filesystem the workers share. numpy data
        and ``.ozx`` targets are always written in this process.
    axes, scale, translation, units, channels, name, labels, pyramid, storage
        As for `plan_image`.

    Returns
    -------
    list of Path or UPath
        The store written.
    """
    return plan_image(data, path, storage_options=storage_options, **options).run(client=client)


def preview_metadata(
    data: Any,
    **options: Unpack[ImageOptions],
) -> dict[str, dict]:
    """Return exactly the attributes `write_image` would write, without writing.

    The data is read when the metadata depends on it: float value ranges, unset windows and
    the label values that get colours.

    Parameters
    ----------
    data, axes, scale, translation, units, channels, name, labels, pyramid, storage
        As for `plan_image`.

    Returns
    -------
    dict of str to dict
        Attributes per group path inside the store (``""`` is the image, then ``labels`` and
        ``labels/<name>``).
    """
    return plan_image(data, None, **options).preview()


def _plate_field(
    data: Any, plate: str | Path, well: str, field: int, options: ImageOptions
) -> tuple[ExportPlan, Callable[[], None]]:
    """The field's plan, and the step that then lists it in its well and plate."""
    root = _local_target(plate, "An HCS plate")
    if root.suffix.lower() == stores.ZIP_SUFFIX:
        raise InvalidOptionError(
            f"Cannot write a plate field into {root}: a plate grows one field at a time in a "
            "folder, and a zipped .ozx store is written once, whole. Write the plate to a "
            "folder (x.ome.zarr), then zip it. Nothing was written."
        )
    row, column = split_well(well)
    if not isinstance(field, int) or isinstance(field, bool) or field < 0:
        raise InvalidOptionError(f"Field {field!r} must be a whole number 0 or more.")
    storage = options.get("storage") or StorageOptions()
    version = plate_version(root, storage.ngff_version)
    storage = replace(storage, ngff_version=version)
    groups = plan_image(data, None, **{**options, "storage": storage}).groups
    plan = ExportPlan(root / row / column / str(field), groups, storage)
    return plan, partial(add_field, root, row, column, str(field), version)


def iter_write_plate_field(
    data: Any,
    plate: str | Path,
    *,
    well: str,
    field: int = 0,
    **options: Unpack[ImageOptions],
) -> Iterator[Progress]:
    """Write one field of an HCS plate like `write_plate_field`, yielding progress.

    Parameters
    ----------
    data, plate, well, field
        As for `write_plate_field`.
    **options
        As for `plan_image`.

    Yields
    ------
    tuple of int
        Progress in chunks; closing the generator cancels the write and the plate is unchanged.
    """
    plan, list_it = _plate_field(data, plate, well, field, options)
    yield from plan.iter_run()
    list_it()


def write_plate_field(
    data: Any,
    plate: str | Path,
    *,
    well: str,
    field: int = 0,
    **options: Unpack[ImageOptions],
) -> list[Path]:
    """Write one field of an HCS plate, creating the plate and the well when needed.

    The field is written as an image at ``<plate>/<row>/<column>/<field>`` (replacing that field
    when it exists), then the well's ``images`` list and the plate's ``rows``, ``columns`` and
    ``wells`` lists are updated, each in one atomic move. A write stopped at any instant leaves
    a valid plate; every other field stays byte-identical. An existing plate keeps its NGFF
    version (0.4 or 0.5); a new one takes ``storage.ngff_version``.

    Parameters
    ----------
    data : array-like
        The field's image, as for `plan_image`.
    plate : str or Path
        The plate (``.ome.zarr`` is added when the name has no ``.zarr`` suffix).
    well : str
        The well, such as ``"B3"``.
    field : int
        The field's index in the well.
    **options
        As for `plan_image`: channels, scale, units, labels, pyramid, storage...

    Returns
    -------
    list of Path
        The field written.

    Raises
    ------
    InvalidOptionError
        For a well name that is not letters then digits, or a negative field.
    TargetExistsError
        When ``plate`` exists and is not a plate.
    """
    plan, list_it = _plate_field(data, plate, well, field, options)
    written = plan.run()
    list_it()
    return written


def plan_labels(
    labels: LabelsSpec | Sequence[LabelsSpec],
    path: str | Path | UPath,
    *,
    pyramid: PyramidOptions | None = None,
    storage: StorageOptions | None = None,
    scale: Sequence[float] | None = None,
    translation: Sequence[float] | None = None,
    units: Sequence[object] | None = None,
    storage_options: dict | None = None,
) -> ExportPlan:
    """Plan a labels write: into an existing OME-Zarr image, or as a new labels store.

    When ``path`` is an OME-Zarr image, the labels go under its ``labels/`` (replacing
    same-named ones) and the image itself is not touched; labels whose size does not match the
    image raise `ExportError`. Otherwise one label image is planned as a standalone store, and
    several as one folder of label images. Nothing is read or written.

    Parameters
    ----------
    labels : LabelsSpec or sequence of LabelsSpec
        The label images.
    path : str, Path or UPath
        An existing OME-Zarr image to add them to, or a new store: a local path or an
        object-store URL (see `plan_image`). Labels cannot be added to a zipped ``.ozx``
        image.
    pyramid : PyramidOptions, optional
        Level count (an image's is followed) and the labels' downsampling method.
    storage : StorageOptions, optional
        As for `plan_image`; an image's format is kept when adding to it.
    scale, translation, units : sequence, optional
        Transforms and units for standalone labels (an image's are used when adding to it).
    storage_options : dict, optional
        As for `plan_image`.

    Returns
    -------
    ExportPlan
        The checked plan: ``preview()``, ``paths``, ``run()``, ``iter_run()``.
    """
    specs = as_label_specs(labels)
    if not specs:
        raise InvalidOptionError("No labels were given to write.")
    check_label_names(specs)
    pyramid = pyramid or PyramidOptions()
    target = _labels_target(path, storage_options)
    image = _existing_image(target)
    if image is not None:
        storage = target_image.storage_like(image, storage)
        groups = [
            plan_labels_like(s, image.as_plan(), pyramid=pyramid, storage=storage) for s in specs
        ]
        return ExportPlan(target, tuple(groups), storage, existing_labels=tuple(image.label_names))
    storage = storage or StorageOptions()
    groups = [
        plan_standalone_labels(s, specs, pyramid, storage, scale, translation, units)
        for s in specs
    ]
    return ExportPlan(target, tuple(groups), storage, label_source=None)


def _existing_image(target: StorePath) -> target_image.ImageGeometry | None:
    """The image at ``target`` that labels are added to, or None for a new labels store."""
    if isinstance(target, Path) and target.suffix.lower() == stores.ZIP_SUFFIX:
        if target.is_file() and target_image.is_image_store(stores.locate(target)):
            raise InvalidOptionError(
                f"Cannot add labels to {target}: it is a zipped .ozx image, which is written "
                "once, whole. Save the image and its labels together as a new .ozx, or save "
                "the labels to a new store. Nothing was written."
            )
        return None
    if isinstance(target, Path) and not is_zarr_store(target):
        return None
    return target_image.read_image_geometry(target)


def iter_write_labels(
    labels: LabelsSpec | Sequence[LabelsSpec],
    path: str | Path | UPath,
    *,
    storage_options: dict | None = None,
    **options: Unpack[LabelsOptions],
) -> Iterator[Progress]:
    """Write labels like `write_labels`, yielding ``(chunks done, chunks total)``.

    Parameters
    ----------
    labels, path, storage_options, pyramid, storage, scale, translation, units
        As for `plan_labels`.

    Yields
    ------
    tuple of int
        Progress in chunks (to an object store every chunk counts twice: encoded, then
        uploaded); closing the generator cancels the write.
    """
    yield from plan_labels(labels, path, storage_options=storage_options, **options).iter_run()


def write_labels(
    labels: LabelsSpec | Sequence[LabelsSpec],
    path: str | Path | UPath,
    *,
    storage_options: dict | None = None,
    **options: Unpack[LabelsOptions],
) -> list[StorePath]:
    """Write label images: into an existing OME-Zarr image, or as a new labels store.

    Parameters
    ----------
    labels, path, storage_options, pyramid, storage, scale, translation, units
        As for `plan_labels`.

    Returns
    -------
    list of Path or UPath
        The label groups written.
    """
    return plan_labels(labels, path, storage_options=storage_options, **options).run()


def preview_labels(
    labels: LabelsSpec | Sequence[LabelsSpec],
    path: str | Path | UPath,
    *,
    storage_options: dict | None = None,
    **options: Unpack[LabelsOptions],
) -> dict[str, dict]:
    """Return exactly the attributes `write_labels` would write to ``path``, without writing.

    Parameters
    ----------
    labels, path, storage_options, pyramid, storage, scale, translation, units
        As for `plan_labels`.

    Returns
    -------
    dict of str to dict
        Attributes per group path inside the store: ``labels`` and ``labels/<name>`` for an
        image, the label groups of a new store otherwise.
    """
    return plan_labels(labels, path, storage_options=storage_options, **options).preview()

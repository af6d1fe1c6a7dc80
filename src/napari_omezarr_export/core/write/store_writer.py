"""Carry out export plans: create the zarr arrays, stream the levels, then write the metadata.

Writes are generators that yield ``(chunks done, chunks total)`` after every batch of chunks,
so a caller can show progress and cancel by closing the generator: the staging folder is then
removed and the target keeps its old content (see `napari_omezarr_export.core.write.staging`).
What the metadata says is decided in `napari_omezarr_export.core.write.store_attributes`.

Where a store is staged depends on its target: a local folder beside it (swapped in whole), a
local zip (``.ozx``, `napari_omezarr_export.core.write.ozx`), or, for an object store (a
`UPath`), a local temporary folder uploaded metadata-last
(`napari_omezarr_export.core.write.object_store`). An upload counts every chunk twice, once
encoded and once uploaded, so its progress runs on through the upload.

With a `distributed.Client` (given, or active), groups whose data is a dask array are written
by the cluster's workers (`napari_omezarr_export.core.write.distributed`): the client creates
the arrays, the workers write the chunks, and the client writes the metadata last.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zarr

from napari_omezarr_export.core.errors import WriteFailedError
from napari_omezarr_export.core.options import StorageOptions
from napari_omezarr_export.core.progress import Progress
from napari_omezarr_export.core.stores import (
    ZIP_SUFFIX,
    StorePath,
    capabilities,
    describe,
    error_cause,
    network_errors,
)
from napari_omezarr_export.core.write.band_writer import count_chunks, iter_write_levels
from napari_omezarr_export.core.write.codecs import compressors_for
from napari_omezarr_export.core.write.distributed import (
    DistributedRun,
    client_for,
    runs_distributed,
)
from napari_omezarr_export.core.write.object_store import (
    staged_upload,
    update_remote_group_attributes,
)
from napari_omezarr_export.core.write.plan import DataSummary, GroupPlan, new_summary, source_data
from napari_omezarr_export.core.write.staging import staged_directory, update_group_attributes
from napari_omezarr_export.core.write.store_attributes import (
    attributes_for,
    group_attributes_for,
    labels_after,
)
from napari_omezarr_export.core.write.upload_stream import ChunkStream

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

__all__ = [
    "iter_add_labels",
    "iter_fill_stage",
    "iter_write_store",
    "total_chunks",
]


def _create_levels(group: zarr.Group, plan: GroupPlan, storage: StorageOptions) -> list:
    fmt = storage.zarr_format
    extra: dict[str, Any] = (
        {"chunk_key_encoding": {"name": "v2", "separator": "/"}}
        if fmt == 2
        else {"dimension_names": list(plan.axis_names)}
    )
    arrays = []
    for level, shape in enumerate(plan.level_shapes):
        chunks = tuple(min(c, n) for c, n in zip(plan.chunks, shape, strict=True))
        if fmt == 3 and plan.shards is not None:
            extra["shards"] = tuple(
                math.ceil(min(s, n) / c) * c
                for s, n, c in zip(plan.shards, shape, chunks, strict=True)
            )
        arrays.append(
            group.create_array(
                name=str(level),
                shape=shape,
                chunks=chunks,
                dtype=plan.dtype,
                compressors=compressors_for(storage, plan.dtype.itemsize),
                fill_value=0,
                **extra,
            )
        )
    return arrays


def total_chunks(plans: Sequence[GroupPlan]) -> int:
    """Return how many chunks the plans write across all levels."""
    return sum(
        count_chunks(shape, [min(c, n) for c, n in zip(p.chunks, shape, strict=True)])
        for p in plans
        for shape in p.level_shapes
    )


def _iter_fill_group(
    group: zarr.Group,
    plan: GroupPlan,
    storage: StorageOptions,
    summary: DataSummary,
    done: int,
    total: int,
    run: DistributedRun | None = None,
) -> Iterator[Progress]:
    """Write one plan's levels into ``group``, folding its data into ``summary``.

    With ``run``, a dask array's levels are written by the cluster's workers.
    """
    arrays = _create_levels(group, plan, storage)
    observe = summary.observe if (summary.track_range or summary.track_values) else None
    if run is not None and runs_distributed(plan):
        counts = run.iter_levels(arrays, plan, summary, group.path)
    else:
        counts = iter_write_levels(
            source_data(plan), arrays, plan.factors, plan.method, observe=observe
        )
    with contextlib.closing(counts):  # a cancel stops (and waits for) the writes before
        for n in counts:  # the staging folder is removed
            done += n
            yield done, total


def _iter_fill(
    root: zarr.Group,
    plans: Sequence[GroupPlan],
    storage: StorageOptions,
    summaries: list[DataSummary],
    total: int,
    run: DistributedRun | None = None,
) -> Iterator[Progress]:
    """Write every plan at its path under ``root``; ``summaries`` gets one per plan."""
    done = 0
    for plan in plans:
        summaries.append(new_summary(plan))
        group = root if not plan.path else root.require_group(plan.path)
        progress = (done, total)
        steps = _iter_fill_group(group, plan, storage, summaries[-1], done, total, run)
        with contextlib.closing(steps):
            for progress in steps:
                yield progress
        done = progress[0]


def _local_stage(target: Path, storage: StorageOptions) -> AbstractContextManager[Path]:
    """The staging of a local target: a zipped ``.ozx`` file, or a folder swapped in whole."""
    if target.suffix.lower() == ZIP_SUFFIX:
        from napari_omezarr_export.core.write.ozx import staged_zip

        return staged_zip(target, ngff_version=storage.ngff_version)
    return staged_directory(target)


def _iter_upload(
    target: StorePath,
    fill: Callable[..., Iterator[Progress]],
    chunks: int,
    offset: int,
    total: int,
    *,
    zarr_format: int,
    client: Any = None,
) -> Iterator[Progress]:
    """Stage one store with ``fill`` and upload it to ``target``, counting its chunks twice.

    Progress runs from ``offset`` to ``offset + 2 * chunks`` (of ``total``): the chunks encoded,
    then the files uploaded, scaled to chunks. With a ``client``, the workers upload their
    chunks as they write them (``fill(stage, run)``); the old store is withdrawn when the first
    of them is ready to upload, so a failure before that (the source) leaves it intact. Without
    one, a new store's chunks are uploaded in batches while it is written (`ChunkStream`).
    """
    with staged_upload(target) as upload:
        run = None
        if client is not None:

            def withdraw() -> None:
                upload.begin(zarr_format)
                upload.sending = True  # the workers upload from now on: a failure is theirs

            run = DistributedRun(client, upload.stage, zarr_format, target, withdraw)
        # One process writing a new store uploads its chunks while it encodes (upload_stream).
        with (
            ChunkStream(upload, zarr_format, enabled=run is None) as stream,
            contextlib.closing(fill(upload.stage, run)) as steps,
        ):
            for done, _ in steps:
                stream.poll()
                yield offset + done, total
            stream.finish()
        if run is not None:
            upload.add_uploaded(run.uploaded)
        with contextlib.closing(upload.iter_upload()) as sent:
            for files_done, files in sent:
                yield offset + chunks + chunks * files_done // max(files, 1), total


def iter_write_store(
    plans: Sequence[GroupPlan],
    target: StorePath,
    storage: StorageOptions,
    *,
    label_source: str | None = "../../",
    client: Any = None,
) -> Iterator[Progress]:
    """Write a whole new store at ``target`` (replacing a zarr store there) from ``plans``.

    Parameters
    ----------
    plans : sequence of GroupPlan
        The image (path ``""``) and its labels, or label images alone.
    target : Path or UPath
        Destination store: a local folder, a local ``.ozx`` file, or an object-store location.
    storage : StorageOptions
        Format and codec.
    label_source : str or None
        ``image-label.source.image`` of label images (None for labels without an image).
    client : distributed.Client, bool or None
        The cluster that writes dask arrays: None for the active client (if any), False for
        none (see `napari_omezarr_export.core.write.distributed.client_for`).

    Yields
    ------
    tuple of int
        Chunks written so far and in all (for an object store, every chunk counts twice:
        encoded, then uploaded).
    """
    total = total_chunks(plans)
    client = client_for(client, plans, target)
    fmt = storage.zarr_format

    def fill(stage: Path, run: DistributedRun | None = None) -> Iterator[Progress]:
        return iter_fill_stage(plans, stage, storage, label_source=label_source, run=run)

    if not capabilities(target).atomic_rename:  # object stores: metadata last
        yield from _iter_upload(target, fill, total, 0, 2 * total, zarr_format=fmt, client=client)
        yield 2 * total, 2 * total
        return
    with _local_stage(target, storage) as stage:
        run = None if client is None else DistributedRun(client, stage, fmt)
        yield from fill(stage, run)
    yield total, total


def iter_fill_stage(
    plans: Sequence[GroupPlan],
    stage: Path,
    storage: StorageOptions,
    *,
    label_source: str | None = "../../",
    run: DistributedRun | None = None,
) -> Iterator[Progress]:
    """Write a whole store into an empty staging folder: arrays first, attributes last.

    Parameters
    ----------
    plans, storage, label_source
        As for `iter_write_store`.
    stage : Path
        A folder from `napari_omezarr_export.core.write.staging.staged_directory`.
    run : DistributedRun, optional
        Write dask arrays on a cluster's workers.

    Yields
    ------
    tuple of int
        Chunks written so far and in all.
    """
    total = total_chunks(plans)
    root = zarr.open_group(stage, mode="w", zarr_format=storage.zarr_format)
    summaries: list[DataSummary] = []
    yield from _iter_fill(root, plans, storage, summaries, total, run)
    attrs = attributes_for(
        plans, storage.ngff_version, label_source=label_source, summaries=summaries
    )
    for path, group_attrs in attrs.items():
        (root if not path else root[path]).attrs.update(group_attrs)


def _iter_fill_label(plan: GroupPlan, storage: StorageOptions, stage: Path) -> Iterator[Progress]:
    """Write one label image into an empty staging folder: its levels, then its attributes."""
    root = zarr.open_group(stage, mode="w", zarr_format=storage.zarr_format)
    summary = new_summary(plan)
    yield from _iter_fill_group(root, plan, storage, summary, 0, total_chunks([plan]))
    root.attrs.update(group_attributes_for(plan, summary, storage.ngff_version))


def iter_add_labels(
    plans: Sequence[GroupPlan],
    image: StorePath,
    storage: StorageOptions,
    existing: Sequence[str],
) -> Iterator[Progress]:
    """Add or replace label images inside an existing image store; the image is not touched.

    Each label image is staged inside ``labels/`` and swapped in whole (in an object store:
    staged locally and uploaded under ``labels/<name>`` metadata-last, after that label
    image's old attributes are withdrawn); the ``labels`` list is updated last, in one atomic
    file replacement (one request to an object store).

    Parameters
    ----------
    plans : sequence of GroupPlan
        Label plans with paths ``labels/<name>``.
    image : Path or UPath
        The existing image store.
    storage : StorageOptions
        Format (must match the image's) and codec.
    existing : sequence of str
        The label names the image lists already.

    Yields
    ------
    tuple of int
        Chunks written so far and in all.
    """
    remote = not capabilities(image).atomic_rename
    weight = 2 if remote else 1  # an upload counts every chunk twice
    total, done = weight * total_chunks(plans), 0
    labels_dir = image / "labels"
    if not remote:
        zarr.open_group(labels_dir, mode="a", zarr_format=storage.zarr_format)
    for plan in plans:
        chunks = total_chunks([plan])

        def fill(stage: Path, _run: None = None, plan: GroupPlan = plan) -> Iterator[Progress]:
            return _iter_fill_label(plan, storage, stage)

        if remote:
            yield from _iter_upload(
                image / plan.path, fill, chunks, done, total, zarr_format=storage.zarr_format
            )
        else:
            with (
                staged_directory(image / plan.path) as stage,
                contextlib.closing(fill(stage)) as steps,
            ):
                for step, _ in steps:
                    yield done + step, total
        done += weight * chunks
    names = labels_after(existing, plans)
    version = storage.ngff_version
    if not remote:
        update_group_attributes(labels_dir, "labels", lambda _old: list(names), version)
        yield total, total
        return
    try:
        update_remote_group_attributes(labels_dir, "labels", lambda _old: list(names), version)
    except (OSError, *network_errors()) as exc:
        raise WriteFailedError(
            f"The label images were uploaded into {describe(image)}, but its labels list could "
            f"not be updated ({error_cause(exc)}), so readers do not show them yet. "
            "The image itself is untouched; save the labels again."
        ) from exc
    yield total, total

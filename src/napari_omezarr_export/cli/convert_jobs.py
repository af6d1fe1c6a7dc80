"""What ``convert`` writes: one `Job` per output store, from the sources `convert_sources` finds.

Sources and outputs are read and written by absolute path (dask workers may run in another
folder); the summary shows them as typed.

An output is complete, and skipped, when it opens and, for a local source, its root metadata
file (``zarr.json`` or ``.zattrs``) is not older than the source: the TIFF or ``.ozx`` file, the
store's root metadata file, a ``.percell`` experiment's ``experiment.db``. A source changed
after its output was written is converted again.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from napari_omezarr_export.cli.convert_sources import Source, find_sources
from napari_omezarr_export.core import stores
from napari_omezarr_export.core.api import plan_image, target_path
from napari_omezarr_export.core.batch import Job, describe_failure
from napari_omezarr_export.core.errors import InvalidOptionError
from napari_omezarr_export.core.options import PyramidOptions, StorageOptions
from napari_omezarr_export.core.progress import Progress
from napari_omezarr_export.core.reader import store_opens
from napari_omezarr_export.core.sources.layers import ImageToWrite, image_from_layers
from napari_omezarr_export.core.sources.tiff import (
    TiffImage,
    open_tiff,
)
from napari_omezarr_export.core.stores import StorePath

__all__ = ["ConvertSettings", "convert_jobs"]


# A store's root metadata file (NGFF 0.5+, then 0.4 and older), dating it for staleness.
_ROOT_METADATA = ("zarr.json", ".zattrs", ".zgroup")
_CONVERTED_KINDS = {"image", "percell_region"}


@dataclass(frozen=True)
class ConvertSettings:
    """How every output is written, as the command line's options asked.

    Attributes
    ----------
    out : str
        The output folder or URL.
    storage : StorageOptions
        Codec, NGFF version; ``chunks`` and ``shards`` give the *last* axes (see
        `storage_for`).
    pyramid : PyramidOptions
        The new pyramid.
    overwrite : bool
        Rewrite outputs that are already complete.
    storage_options : callable
        The fsspec options for a location (``cli.remote.storage_options_for``).
    """

    out: str
    storage: StorageOptions
    pyramid: PyramidOptions
    overwrite: bool = False
    storage_options: Callable[[str], dict[str, Any] | None] = lambda _: None

    def storage_for(self, ndim: int) -> StorageOptions:
        """The storage options for an image of ``ndim`` axes: chunks and shards padded with 1s.

        ``--chunks 256,256`` means y and x; an image with more axes gets chunks of 1 on the
        others (``1, 1, 256, 256`` for ``czyx``), as the writer's default does.
        """
        chunks, shards = self.storage.chunks, self.storage.shards
        for what, shape in (("--chunks", chunks), ("--shards", shards)):
            if shape is not None and len(shape) > ndim:
                raise InvalidOptionError(
                    f"{what} {','.join(map(str, shape))} has {len(shape)} entries but this "
                    f"image has {ndim} axes; give at most {ndim} (the last axes: ..., y, x)."
                )
        return replace(
            self.storage,
            chunks=None if chunks is None else (1,) * (ndim - len(chunks)) + tuple(chunks),
            shards=None if shards is None else (1,) * (ndim - len(shards)) + tuple(shards),
        )


# --- one job per output ------------------------------------------------------------------------


def convert_jobs(locations: list[str], settings: ConvertSettings) -> list[Job]:
    """Plan the conversion of everything at ``locations``: one job per output store.

    Every source's metadata is read now (pixels are not), so a source that cannot be read, or
    options that do not fit it, give a failed job at once; the others go on.

    Parameters
    ----------
    locations : list of str
        Paths, ``.ozx`` files, URLs and folders, as typed.
    settings : ConvertSettings
        Output folder and write options.

    Returns
    -------
    list of Job
        Bad locations first, then one job per output in source order.
    """
    out = None if "://" in settings.out else Path(settings.out).expanduser()
    sources, failed = find_sources(locations, settings.storage_options, out=out)
    jobs = list(failed)
    for source in sources:
        jobs.extend(_source_jobs(source, settings))
    return _refuse_shared_outputs(jobs)


def _source_jobs(source: Source, settings: ConvertSettings) -> list[Job]:
    # Read by absolute path: the dask arrays go to workers that may run in another folder.
    where = _absolute(source.location)
    try:
        if source.kind == "percell":
            return _percell_jobs(source, where, settings)
        output = _output(source.stem, settings)
        if source.kind == "tiff":
            # Planned from the metadata, then closed: a batch of a thousand TIFFs must not hold
            # a thousand open files. The job opens the file again when it runs.
            reopen = functools.partial(_opened_tiff, where)
            with reopen() as image:
                return [
                    _image_job(
                        source.location, output, image, source.stem.name, f"TIFF {image.axes}",
                        settings, reopen=reopen, stamp=_stamp(where),
                    )
                ]  # fmt: skip
        node = _discover(where, settings)
        if node.kind == "image_series":
            return _series_jobs(source, node, settings)
        if _same_store(source.location, output):
            return [_written_over_itself(source.location, output)]
        image, what = _ome_zarr_image(node, source.location)
        return [
            _image_job(
                source.location, output, image, source.stem.name, what, settings,
                stamp=_stamp(where),
            )
        ]  # fmt: skip
    # A bad source fails its own job and the batch goes on, whatever it raised (a tifffile or
    # zarr parse error, a codec's RuntimeError): the message goes into the summary table.
    except Exception as exc:  # noqa: BLE001
        return [Job.failed(source.location, _reading_failed(exc, source.location))]


def _reading_failed(exc: Exception, location: str) -> str:
    return describe_failure(exc, location, doing="reading")


def _absolute(location: str) -> str:
    """A local path made absolute (``~`` expanded); a URL as it is."""
    if "://" in location:
        return location
    return str(Path(location).expanduser().absolute())


def _stamp(location: str | StorePath, names: tuple[str, ...] = _ROOT_METADATA) -> Path | None:
    """The file whose modification time dates a local source (None for a URL).

    A file source (TIFF, ``.ozx``) is its own; a store's is its first root metadata file of
    ``names``.
    """
    if not isinstance(location, (str, Path)) or "://" in str(location):
        return None
    path = Path(location)
    if path.is_file():
        return path
    return next((path / name for name in names if (path / name).is_file()), None)


def _older_than_source(output: StorePath, stamp: Path | None) -> bool:
    """True when a local output's root metadata file is older than the source's ``stamp``."""
    if stamp is None or not isinstance(output, Path):
        return False
    written = _stamp(output, ("zarr.json", ".zattrs"))
    try:
        return written is not None and written.stat().st_mtime_ns < stamp.stat().st_mtime_ns
    except OSError:  # the source is gone (or was replaced as we looked): nothing newer to write
        return False


@contextlib.contextmanager
def _opened_tiff(path: str) -> Iterator[ImageToWrite]:
    """The TIFF at ``path`` for the block; then its file is closed and its chunk cache dropped."""
    tiff = open_tiff(path)
    try:
        yield _tiff_image(tiff)
    finally:
        tiff.close()


def _output(stem: PurePosixPath, settings: ConvertSettings) -> StorePath:
    text = f"{settings.out.rstrip('/')}/{stem}.ome.zarr"
    return target_path(text, storage_options=settings.storage_options(settings.out))


def _tiff_image(tiff: TiffImage) -> ImageToWrite:
    axes = tiff.axes
    return ImageToWrite(
        tiff.data,
        {
            "axes": axes,
            "scale": [tiff.scale.get(a, 1.0) for a in axes],
            "units": [tiff.units.get(a) for a in axes],
            "channels": tiff.channel_names,
        },
    )


def _discover(location: str | StorePath, settings: ConvertSettings) -> Any:
    from napari_omezarr_export.core.reader import discover

    options = settings.storage_options(location) if isinstance(location, str) else None
    return discover(location, storage_options=options)


def _ome_zarr_image(node: Any, where: str) -> tuple[ImageToWrite, str]:
    """The image at a discovered node (an image, or a ``.percell`` region group)."""
    from napari_omezarr_export.core.reader import labels_read_lazily, read_node

    if node.kind not in _CONVERTED_KINDS and node.kind != "broken":
        raise InvalidOptionError(
            f"{where} is {_a(node.kind)}; convert rewrites images, bioformats2raw series and "
            ".percell experiments. Convert its images one by one."
        )
    with labels_read_lazily():
        layers = read_node(node)
    versions = {
        (layer.kwargs.get("metadata") or {}).get("ome_zarr", {}).get("version") for layer in layers
    } - {None}
    image = image_from_layers(layers, where=where)
    return image, f"OME-Zarr {'/'.join(sorted(versions)) or '?'} {image.axes}"


def _series_jobs(source: Source, node: Any, settings: ConvertSettings) -> list[Job]:
    """One job per image of a bioformats2raw store: ``<out>/<stem>/<series>.ome.zarr``."""
    from napari_omezarr_export.core.read.series import series_paths

    jobs = []
    for path in series_paths(node.path):
        label = f"{source.location}: series {path.name}"
        try:
            stem = source.stem / path.name
            image, what = _ome_zarr_image(_discover(path, settings), label)
            output = _output(stem, settings)
            jobs.append(
                _image_job(label, output, image, stem.name, what, settings, stamp=_stamp(path))
            )
        except Exception as exc:  # noqa: BLE001 - as in _source_jobs: one series, one failure
            jobs.append(Job.failed(label, _reading_failed(exc, label)))
    return jobs or [Job.failed(source.location, f"{source.location} lists no series.")]


def _a(kind: str) -> str:
    words = kind.replace("_", " ")
    return ("an " if words[0] in "aeiou" else "a ") + words


def _percell_jobs(source: Source, where: str, settings: ConvertSettings) -> list[Job]:
    # The layout's own modules: regions are listed by the experiment, and each region opens as
    # PerCell users see it (channels, segmentation, masks).
    from napari_omezarr_export.core.layouts.percell.experiment import load_experiment
    from napari_omezarr_export.core.layouts.percell.layers import region_layers
    from napari_omezarr_export.core.reader import labels_read_lazily

    root = stores.local_path(where, what="A .percell experiment")
    experiment = load_experiment(root)
    stamp = _stamp(root, ("experiment.db", *_ROOT_METADATA))
    if not experiment.regions:
        return [Job.failed(source.location, f"{source.location} has no regions to convert.")]
    jobs = []
    for region in experiment.regions:
        label = f"{source.location}: {region.label}"

        # PerCell masks open in memory (editable, as napari users want them), so a region is
        # opened to plan its job and again to write it: planning every region of a large
        # experiment must not hold all their masks at once.
        @contextlib.contextmanager
        def open_region(region: Any = region, label: str = label) -> Iterator[ImageToWrite]:
            with labels_read_lazily():
                image = image_from_layers(region_layers(experiment, region), where=label)
            yield image

        try:
            stem = source.stem / PurePosixPath(region.label)
            output = _output(stem, settings)
            with open_region() as image:
                job = _image_job(
                    label, output, image, stem.name, "PerCell region", settings,
                    reopen=open_region, stamp=stamp,
                )  # fmt: skip
            jobs.append(job)
        except Exception as exc:  # noqa: BLE001 - as in _source_jobs: one region, one failure
            jobs.append(Job.failed(label, _reading_failed(exc, label)))
    return jobs


def _image_job(
    source: str,
    output: StorePath,
    image: ImageToWrite,
    name: str,
    what: str,
    settings: ConvertSettings,
    *,
    reopen: Callable[[], contextlib.AbstractContextManager[ImageToWrite]] | None = None,
    stamp: Path | None = None,
) -> Job:
    """The job writing ``image`` to ``output``, planned now.

    Options that do not fit the image fail here, before anything is written. With ``reopen``,
    the job keeps no reference to ``image``: it opens the source again when it runs, and closes
    it when the write ends. ``output`` is shown as typed but written by absolute path. The
    output is complete when it opens and is not older than ``stamp`` (see `_stamp`).
    """
    storage = settings.storage_for(len(image.axes))
    written = output.absolute() if isinstance(output, Path) else output

    def plan(image: ImageToWrite) -> Any:
        return plan_image(
            image.data,
            written,
            name=name,
            pyramid=settings.pyramid,
            storage=storage,
            storage_options=settings.storage_options(settings.out),
            **image.options,
        )

    planned = plan(image)
    shape = "x".join(str(n) for n in image.data.shape)
    labels = len(image.options.get("labels") or ())
    action = (
        f"{what} {shape} {image.data.dtype}"
        + (f" + {labels} label image{'s' if labels != 1 else ''}" if labels else "")
        + f" -> NGFF {storage.ngff_version}"
    )
    overwrite = settings.overwrite
    if reopen is not None:
        del planned, image

        def run() -> Iterator[Progress]:
            with reopen() as image:
                yield from plan(image).iter_run()

    else:

        def run() -> Iterator[Progress]:
            return planned.iter_run()

    def complete() -> bool:
        return not overwrite and store_opens(written) and not _older_than_source(written, stamp)

    return Job(source, output, action, run, complete)


def _same_store(location: str, output: StorePath) -> bool:
    if isinstance(output, Path):
        return "://" not in location and os.path.realpath(location) == os.path.realpath(output)
    return location.rstrip("/") == stores.describe(output).rstrip("/")


def _written_over_itself(location: str, output: StorePath) -> Job:
    return Job.failed(
        location,
        f"{location} would be written over itself; choose another --out folder.",
        output,
    )


def _refuse_shared_outputs(jobs: list[Job]) -> list[Job]:
    """Fail every job whose output another job also writes: neither may overwrite the other."""
    by_output: dict[str, list[Job]] = {}
    for job in jobs:
        if job.output is not None and job.problem is None:
            by_output.setdefault(stores.describe(job.output), []).append(job)
    refused = {}
    for output, sharing in by_output.items():
        if len(sharing) > 1:
            names = " and ".join(job.source for job in sharing)
            for job in sharing:
                refused[id(job)] = Job.failed(
                    job.source,
                    f"{names} would all be written to {output}; none of them was. Rename one, "
                    "or convert them into different --out folders.",
                    job.output,
                )
    return [refused.get(id(job), job) for job in jobs]

"""What ``convert`` reads and writes: the sources found under each argument, one `Job` per store.

Sources are OME-Zarr images (any NGFF version this package reads, also zipped ``.ozx`` and
URLs) and bioformats2raw stores, TIFF and OME-TIFF files, and ``.percell`` experiments; a
folder that is none of these is searched (hidden entries skipped, other files ignored) for any
of them.

Output names, one rule for every NGFF version:

- a source named on the command line: ``<out>/<stem>.ome.zarr``, where the stem is its name
  without ``.ome.zarr``, ``.zarr``, ``.ozx``, ``.ome.tif(f)``, ``.tif(f)`` or ``.percell``;
- a source found inside a folder argument: the same, under its sub-folder of that folder
  (``in/day1/a.tif`` -> ``<out>/day1/a.ome.zarr``);
- each region of a ``.percell`` experiment: ``<out>/<stem>/<region>.ome.zarr``, the region
  being PerCell's ``condition/[bio_rep/][timepoint/]region`` (sub-folders);
- each series of a bioformats2raw store: ``<out>/<stem>/<series>.ome.zarr`` (``0``, ``1``...).

Two sources with one output both fail, and neither is written; an output that is its own
source fails too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from napari_omezarr_export.core import stores
from napari_omezarr_export.core.api import plan_image, target_path
from napari_omezarr_export.core.batch import Job
from napari_omezarr_export.core.errors import InvalidOptionError, OmeZarrError
from napari_omezarr_export.core.options import PyramidOptions, StorageOptions
from napari_omezarr_export.core.progress import Progress
from napari_omezarr_export.core.reader import store_opens
from napari_omezarr_export.core.sources.layers import ImageToWrite, image_from_layers
from napari_omezarr_export.core.sources.tiff import TiffImage, is_tiff_name, open_tiff
from napari_omezarr_export.core.stores import StorePath

__all__ = ["ConvertSettings", "Source", "convert_jobs", "find_sources", "output_stem"]

logger = logging.getLogger(__name__)

SourceKind = Literal["tiff", "ome-zarr", "percell"]

_STEM_SUFFIXES = (
    ".ome.zarr", ".zarr", ".ozx", ".ome.tiff", ".ome.tif", ".percell",
    ".tiff", ".tif", ".btf", ".tf8", ".tf2",
)  # fmt: skip
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


@dataclass(frozen=True)
class Source:
    """One thing to convert.

    Attributes
    ----------
    location : str
        As the user named it, or the path found inside a folder they named.
    kind : {"tiff", "ome-zarr", "percell"}
        How it is read.
    stem : PurePosixPath
        Its output name relative to the output folder, without ``.ome.zarr``.
    """

    location: str
    kind: SourceKind
    stem: PurePosixPath


def output_stem(name: str) -> str:
    """A source's name without its format suffix: ``cells.ome.tif`` -> ``cells``."""
    lower = name.lower()
    for suffix in _STEM_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def find_sources(
    locations: list[str],
    storage_options: Callable[[str], dict[str, Any] | None],
    *,
    skip: Path | None = None,
) -> tuple[list[Source], list[Job]]:
    """The sources named on the command line, folders searched; and a failed job per bad name.

    Parameters
    ----------
    locations : list of str
        Paths, ``.ozx`` files and URLs, as typed.
    storage_options : callable
        The fsspec options for a URL.
    skip : Path, optional
        A folder not to search (the output folder, when it lies inside a source folder).

    Returns
    -------
    sources : list of Source
        In the order given (a folder's contents sorted by name).
    failed : list of Job
        One `Job.failed` per location that is nothing ``convert`` reads.
    """
    sources: list[Source] = []
    failed: list[Job] = []
    for location in locations:
        found = list(_sources_at(location, storage_options(location), skip))
        if found and isinstance(found[0], str):
            failed.append(Job.failed(location, found[0]))
        elif not found:
            failed.append(
                Job.failed(
                    location,
                    f"{location} holds no TIFF file, OME-Zarr image or .percell experiment "
                    "(hidden entries are skipped). Check the folder, or name the files.",
                )
            )
        else:
            sources.extend(found)  # type: ignore[arg-type]
    return sources, failed


def _sources_at(location: str, options: dict | None, skip: Path | None) -> Iterator[Source | str]:
    """The sources at a location as typed; a lone str is why there are none."""
    name = location.rstrip("/").rsplit("/", 1)[-1]
    stem = PurePosixPath(output_stem(name))
    if "://" in location and is_tiff_name(name):
        yield (
            f"{location}: TIFF files are read from local paths only (tifffile reads them); copy "
            "it to a local or mounted disk first."
        )
        return
    if "://" in location:
        kind = _store_kind(location, options)
        yield Source(location, kind, stem) if kind is not None else _not_a_store(location)
        return
    path = Path(location).expanduser()
    if not path.exists():
        yield f"{location} does not exist. Check the path."
    elif path.is_file() and is_tiff_name(path.name):
        yield Source(location, "tiff", stem)
    elif path.is_file() and path.suffix.lower() != stores.ZIP_SUFFIX:
        yield (
            f"{location} is not a TIFF (.tif, .tiff), an OME-Zarr store (.zarr, .ozx) or a "
            ".percell experiment; convert reads only those."
        )
    else:
        kind = _store_kind(path, options)
        if kind is not None:
            yield Source(location, kind, stem)
        elif path.is_dir():
            yield from _walk(path, path, {os.path.realpath(skip)} if skip else set())
        else:
            yield _not_a_store(location)


def _not_a_store(location: str) -> str:
    return (
        f"{location} is not an OME-Zarr store or .percell experiment that convert reads (no "
        "zarr metadata was found there). Check the path or URL."
    )


def _store_kind(location: str | Path, options: dict | None) -> SourceKind | None:
    """``ome-zarr`` or ``percell`` when ``location`` is a store convert reads (or a broken one)."""
    from napari_omezarr_export.core.reader import discover

    node = discover(location, storage_options=options)
    if node.kind == "percell":
        return "percell"
    return "ome-zarr" if node.is_ours else None


def _walk(folder: Path, base: Path, seen: set[str]) -> Iterator[Source]:
    """The sources below ``folder``; ``seen`` holds the folders already searched (or skipped)."""
    seen.add(os.path.realpath(folder))
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        logger.warning("%s cannot be listed (%s); it was skipped.", folder, exc)
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        relative = PurePosixPath(*entry.relative_to(base).parent.parts)
        stem = relative / output_stem(entry.name)
        if entry.is_file():
            if is_tiff_name(entry.name):
                yield Source(str(entry), "tiff", stem)
            elif entry.suffix.lower() == stores.ZIP_SUFFIX and _store_kind(entry, None):
                yield Source(str(entry), "ome-zarr", stem)
        elif entry.is_dir() and os.path.realpath(entry) not in seen:  # links may loop
            kind = _store_kind(entry, None)
            if kind is not None:
                yield Source(str(entry), kind, stem)
            else:
                yield from _walk(entry, base, seen)


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
    sources, failed = find_sources(locations, settings.storage_options, skip=out)
    jobs = list(failed)
    for source in sources:
        jobs.extend(_source_jobs(source, settings))
    return _refuse_shared_outputs(jobs)


def _source_jobs(source: Source, settings: ConvertSettings) -> list[Job]:
    try:
        if source.kind == "percell":
            return _percell_jobs(source, settings)
        if source.kind == "tiff":
            tiff = open_tiff(source.location)
            image, what = _tiff_image(tiff), f"TIFF {tiff.axes}"
            output = _output(source.stem, settings)
        else:
            node = _discover(source.location, settings)
            if node.kind == "image_series":
                return _series_jobs(source, node, settings)
            output = _output(source.stem, settings)
            if _same_store(source.location, output):
                return [_written_over_itself(source.location, output)]
            image, what = _ome_zarr_image(node, source.location)
        return [_image_job(source.location, output, image, source.stem.name, what, settings)]
    # A bad source fails its own job and the batch goes on, whatever it raised (a tifffile or
    # zarr parse error, a codec's RuntimeError): the message goes into the summary table.
    except Exception as exc:  # noqa: BLE001
        return [Job.failed(source.location, _message(exc, source.location))]


def _message(exc: Exception, location: str) -> str:
    if isinstance(exc, OmeZarrError):
        return str(exc)
    return f"{type(exc).__name__} while reading {location}: {exc}"


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
            jobs.append(_image_job(label, output, image, stem.name, what, settings))
        except Exception as exc:  # noqa: BLE001 - as in _source_jobs: one series, one failure
            jobs.append(Job.failed(label, _message(exc, label)))
    return jobs or [Job.failed(source.location, f"{source.location} lists no series.")]


def _a(kind: str) -> str:
    words = kind.replace("_", " ")
    return ("an " if words[0] in "aeiou" else "a ") + words


def _percell_jobs(source: Source, settings: ConvertSettings) -> list[Job]:
    # The layout's own modules: regions are listed by the experiment, and each region opens as
    # PerCell users see it (channels, segmentation, masks).
    from napari_omezarr_export.core.layouts.percell.experiment import load_experiment
    from napari_omezarr_export.core.layouts.percell.layers import region_layers
    from napari_omezarr_export.core.reader import labels_read_lazily

    root = stores.local_path(source.location, what="A .percell experiment")
    experiment = load_experiment(root)
    if not experiment.regions:
        return [Job.failed(source.location, f"{source.location} has no regions to convert.")]
    jobs = []
    for region in experiment.regions:
        label = f"{source.location}: {region.label}"

        # PerCell masks open in memory (editable, as napari users want them), so a region is
        # opened to plan its job and again to write it: planning every region of a large
        # experiment must not hold all their masks at once.
        def open_region(region: Any = region, label: str = label) -> ImageToWrite:
            with labels_read_lazily():
                return image_from_layers(region_layers(experiment, region), where=label)

        try:
            stem = source.stem / PurePosixPath(region.label)
            output = _output(stem, settings)
            jobs.append(
                _image_job(
                    label, output, open_region(), stem.name, "PerCell region", settings,
                    reopen=open_region,
                )
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - as in _source_jobs: one region, one failure
            jobs.append(Job.failed(label, _message(exc, label)))
    return jobs


def _image_job(
    source: str,
    output: StorePath,
    image: ImageToWrite,
    name: str,
    what: str,
    settings: ConvertSettings,
    *,
    reopen: Callable[[], ImageToWrite] | None = None,
) -> Job:
    """The job writing ``image`` to ``output``, planned now.

    Options that do not fit the image fail here, before anything is written. With ``reopen``,
    the job keeps no reference to ``image`` and opens it again when it runs.
    """
    storage = settings.storage_for(len(image.axes))

    def plan(image: ImageToWrite) -> Any:
        return plan_image(
            image.data,
            output,
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
            return plan(reopen()).iter_run()

    else:

        def run() -> Iterator[Progress]:
            return planned.iter_run()

    def complete() -> bool:
        return not overwrite and store_opens(output)

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

"""The public, napari-free Python API: write images and labels, preview their metadata.

Every function takes the data and the destination, then keyword-only options, and returns the
paths written. ``iter_*`` variants yield ``(chunks done, chunks total)`` so that a GUI can show
progress and cancel by closing the generator.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import napari_omezarr_export.core.write.target_image as existing
from napari_omezarr_export.core.errors import InvalidOptionError
from napari_omezarr_export.core.options import (
    ChannelStyle,
    LabelsSpec,
    PyramidOptions,
    StorageOptions,
)
from napari_omezarr_export.core.progress import Progress
from napari_omezarr_export.core.targets import local_path
from napari_omezarr_export.core.write.plan import GroupPlan
from napari_omezarr_export.core.write.plan_export import (
    check_label_names,
    plan_image_export,
    plan_labels_like,
    plan_standalone_labels,
)
from napari_omezarr_export.core.write.staging import is_zarr_store
from napari_omezarr_export.core.write.store_writer import (
    attributes_for,
    iter_add_labels,
    iter_write_store,
    labels_after,
    labels_list_attributes,
    scan_data,
)

__all__ = [
    "LabelsExport",
    "iter_write_image",
    "iter_write_labels",
    "labels_paths",
    "plan_labels_export",
    "preview_labels",
    "preview_metadata",
    "target_path",
    "write_image",
    "write_labels",
]



def target_path(path: str | Path) -> Path:
    """Return where a store named ``path`` is written: ``.ome.zarr`` is added when no ``.zarr``.

    Image and labels writes resolve their target here, with `core.targets.local_path`.

    Parameters
    ----------
    path : str or Path
        The name as the user typed it; ``~`` and ``file://`` URLs are resolved.

    Returns
    -------
    Path
        The store path.

    Raises
    ------
    InvalidOptionError
        For a remote target such as ``s3://bucket/x.ome.zarr`` (not supported yet).
    WriteFailedError
        When a folder above the target is a file.
    """
    path = local_path(path)
    if path.suffix.lower() == ".zarr":
        return path
    return path.with_name(path.name + ".ome.zarr")


def iter_write_image(data: Any, path: str | Path, **options: Any) -> Iterator[Progress]:
    """Write an image like `write_image`, yielding ``(chunks done, chunks total)`` as it goes.

    Parameters
    ----------
    data : array-like
        The image.
    path : str or Path
        The destination store.
    **options
        The keyword options of `write_image`.

    Yields
    ------
    tuple of int
        Progress in chunks.
    """
    storage = options.get("storage") or StorageOptions()
    plans = plan_image_export(data, **options)
    yield from iter_write_store(plans, target_path(path), storage)


def write_image(
    data: Any,
    path: str | Path,
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
) -> list[Path]:
    """Write an array as an OME-Zarr image, with its pyramid and optional labels.

    Parameters
    ----------
    data : array-like
        2-D to 5-D numpy, dask or zarr array; read lazily, one band at a time.
    path : str or Path
        Destination; ``.ome.zarr`` is added when the name has no ``.zarr`` suffix. An existing
        zarr store there is replaced atomically; anything else there is an error. A local
        ``file://`` URL is accepted; other ``<scheme>://`` targets (remote stores) raise
        `InvalidOptionError` before anything is created (see `target_path`).
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

    Returns
    -------
    list of Path
        The store written.
    """
    options = {
        "axes": axes,
        "scale": scale,
        "translation": translation,
        "units": units,
        "channels": channels,
        "name": name,
        "labels": labels,
        "pyramid": pyramid,
        "storage": storage,
    }
    for _ in iter_write_image(data, path, **options):
        pass
    return [target_path(path)]


def _labels_target(path: Path, labels: Sequence[LabelsSpec]) -> existing.ImageGeometry | None:
    """The existing image to add labels into, or None for a new labels store."""
    if not is_zarr_store(path):
        return None
    return existing.read_image_geometry(path)


def iter_write_labels(
    labels: LabelsSpec | Sequence[LabelsSpec], path: str | Path, **options: Any
) -> Iterator[Progress]:
    """Write labels like `write_labels`, yielding ``(chunks done, chunks total)``.

    Parameters
    ----------
    labels : LabelsSpec or sequence of LabelsSpec
        The label images.
    path : str or Path
        An existing OME-Zarr image to add them to, or a new store.
    **options
        The keyword options of `plan_labels_export`.

    Yields
    ------
    tuple of int
        Progress in chunks.
    """
    export = plan_labels_export(labels, path, **options)
    if export.image is not None:
        names = export.image.label_names
        yield from iter_add_labels(export.plans, export.target, export.storage, names)
        return
    yield from iter_write_store(export.plans, export.target, export.storage, label_source=None)


@dataclass
class LabelsExport:
    """Where and how labels are written: into an existing image, or as a new store.

    Parameters
    ----------
    target : Path
        The store written to.
    plans : list of GroupPlan
        One per label image.
    storage : StorageOptions
        The storage used (the image's format when adding to an image).
    image : ImageGeometry or None
        The existing image the labels go into, or None for a new labels store.
    """

    target: Path
    plans: list[GroupPlan]
    storage: StorageOptions
    image: existing.ImageGeometry | None

    def attributes(self) -> dict[str, dict]:
        """Return the attributes the write produces (the plans' summaries must be filled).

        Returns
        -------
        dict of str to dict
            Attributes per group path inside the store.
        """
        version = self.storage.ngff_version
        if self.image is None:
            return attributes_for(self.plans, version, label_source=None)
        attrs = {p.path: attributes_for([replace(p, path="")], version)[""] for p in self.plans}
        names = labels_after(self.image.label_names, self.plans)
        attrs["labels"] = labels_list_attributes(self.target / "labels", names, self.storage)
        return attrs


def plan_labels_export(
    labels: LabelsSpec | Sequence[LabelsSpec],
    path: str | Path,
    *,
    pyramid: PyramidOptions | None = None,
    storage: StorageOptions | None = None,
    scale: Sequence[float] | None = None,
    translation: Sequence[float] | None = None,
    units: Sequence[object] | None = None,
) -> LabelsExport:
    """Plan a labels write; nothing is written.

    Parameters
    ----------
    labels : LabelsSpec or sequence of LabelsSpec
        The label images.
    path : str or Path
        An existing OME-Zarr image to add them to, or a new store.
    pyramid, storage : optional
        Options, as for `write_image` (an image's format is kept when adding to it).
    scale, translation, units : sequence, optional
        Transforms and units for standalone labels (an image's are used when adding to it).

    Returns
    -------
    LabelsExport
        The target, plans and storage.
    """
    specs = [labels] if isinstance(labels, LabelsSpec) else list(labels)
    if not specs:
        raise InvalidOptionError("No labels were given to write.")
    check_label_names(specs)
    pyramid = pyramid or PyramidOptions()
    target = target_path(path)
    image = _labels_target(target, specs)
    if image is not None:
        storage = existing.storage_like(image, storage)
        plans = [
            plan_labels_like(s, image.as_plan(), pyramid=pyramid, storage=storage) for s in specs
        ]
        return LabelsExport(target, plans, storage, image)
    storage = storage or StorageOptions()
    plans = [
        plan_standalone_labels(s, specs, pyramid, storage, scale, translation, units)
        for s in specs
    ]
    return LabelsExport(target, plans, storage, None)


def preview_labels(
    labels: LabelsSpec | Sequence[LabelsSpec], path: str | Path, **options: Any
) -> dict[str, dict]:
    """Return exactly the attributes `write_labels` would write to ``path``, without writing.

    Parameters
    ----------
    labels : LabelsSpec or sequence of LabelsSpec
        The label images.
    path : str or Path
        An existing OME-Zarr image (the labels go into its ``labels/``), or a new store.
    **options
        The keyword options of `write_labels`.

    Returns
    -------
    dict of str to dict
        Attributes per group path inside the store: ``labels`` and ``labels/<name>`` for an
        image, the label groups of a new store otherwise.
    """
    export = plan_labels_export(labels, path, **options)
    scan_data(export.plans)
    return export.attributes()


def write_labels(
    labels: LabelsSpec | Sequence[LabelsSpec],
    path: str | Path,
    **options: Any,
) -> list[Path]:
    """Write label images: into an existing OME-Zarr image, or as a new labels store.

    When ``path`` is an OME-Zarr image, the labels are added under its ``labels/`` (replacing
    same-named ones) and the image itself is not touched; labels whose size does not match the
    image raise `ExportError`. Otherwise one label image is written as a standalone store, and
    several as one folder of label images.

    Parameters
    ----------
    labels : LabelsSpec or sequence of LabelsSpec
        The label images.
    path : str or Path
        The destination.
    **options
        ``pyramid``, ``storage``, and for standalone labels ``scale``, ``translation``, ``units``.

    Returns
    -------
    list of Path
        The label groups written.
    """
    for _ in iter_write_labels(labels, path, **options):
        pass
    return labels_paths(labels, path)


def labels_paths(labels: LabelsSpec | Sequence[LabelsSpec], path: str | Path) -> list[Path]:
    """Return the label groups that writing ``labels`` to ``path`` creates (or created).

    Parameters
    ----------
    labels : LabelsSpec or sequence of LabelsSpec
        The label images.
    path : str or Path
        The destination as given to `write_labels`.

    Returns
    -------
    list of Path
        Under the image's ``labels/`` when ``path`` is an image, else the new store(s).
    """
    target = target_path(path)
    specs = [labels] if isinstance(labels, LabelsSpec) else list(labels)
    if existing.is_image_store(target):
        return [target / "labels" / s.name for s in specs]
    return [target] if len(specs) == 1 else [target / s.name for s in specs]


def preview_metadata(
    data: Any = None,
    *,
    labels: Sequence[LabelsSpec] = (),
    **options: Any,
) -> dict[str, dict]:
    """Return exactly the attributes `write_image` would write, without writing.

    The data is read when the metadata depends on it: float value ranges, unset windows and
    the label values that get colours.

    Parameters
    ----------
    data : array-like
        The image, as for `write_image`.
    labels : sequence of LabelsSpec
        Its labels.
    **options
        The other keyword options of `write_image`.

    Returns
    -------
    dict of str to dict
        Attributes per group path inside the store (``""`` is the image, then ``labels`` and
        ``labels/<name>``).
    """
    storage = options.get("storage") or StorageOptions()
    plans = plan_image_export(data, labels=labels, **options)
    scan_data(plans)
    return attributes_for(plans, storage.ngff_version)

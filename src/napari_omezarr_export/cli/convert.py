"""``napari-omezarr-export convert SRC... --out DIR``: each source becomes an OME-Zarr store.

Sources are OME-Zarr images of any NGFF version (rewritten with a new pyramid, codec, chunks or
NGFF version), TIFF and OME-TIFF files (read lazily, with their OME-XML channel names and pixel
sizes), ``.percell`` experiments (each region one image with its segmentation and masks as
labels), and folders of any of these. Where each output goes is `cli.convert_jobs`'s rule.

The batch is resumable: an output that already opens is skipped (``--overwrite`` rewrites it),
and an interrupted write leaves no half-written store. A bad source is reported in the summary
table and the others are converted; the exit code is 1 when anything failed. ``--dry-run``
says what would be written. ``--workers N`` converts on a local dask cluster of N processes,
``--scheduler ADDRESS`` on a running one.
"""

from __future__ import annotations

import argparse
import sys

from napari_omezarr_export.cli.cluster import add_cluster_arguments, dask_client
from napari_omezarr_export.cli.remote import add_remote_arguments, storage_options_for
from napari_omezarr_export.cli.runner import run_batch
from napari_omezarr_export.core.errors import InvalidOptionError
from napari_omezarr_export.core.options import (
    CODECS,
    IMAGE_METHODS,
    NGFF_VERSIONS,
    PyramidOptions,
    StorageOptions,
)

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``convert`` and its arguments on the command line's subcommands."""
    convert = commands.add_parser(
        "convert",
        help="OME-Zarr, TIFF and .percell sources to OME-Zarr stores (resumable, on a cluster)",
        description="Convert each source to an OME-Zarr store in --out: OME-Zarr images (any "
        "NGFF version), TIFF and OME-TIFF files, .percell experiments (one store per region) "
        "and folders of them. Outputs that already open are skipped; a bad source is reported "
        "and the others converted; exit code 1 when anything failed.",
    )
    convert.add_argument("source", nargs="+", help="files, folders, .ozx files or URLs")
    convert.add_argument("--out", required=True, help="the output folder (or s3:// URL)")
    convert.add_argument(
        "--ngff-version", choices=NGFF_VERSIONS, default=StorageOptions().ngff_version,
        help="the NGFF version written, as in the Python API (default: %(default)s; 0.4 is "
        "zarr v2, read by every tool, 0.5 zarr v3)",
    )  # fmt: skip
    convert.add_argument("--codec", choices=CODECS, default=StorageOptions().codec,
                         help="compression codec (default: %(default)s)")  # fmt: skip
    convert.add_argument("--level", type=int, default=StorageOptions().level,
                         help="compression level (default: %(default)s)")  # fmt: skip
    convert.add_argument(
        "--chunks", type=_shape, metavar="SHAPE",
        help="chunk shape of the last axes, such as 256,256 (y, x) or 16,256,256 (z, y, x); "
        "1 on the axes before",
    )  # fmt: skip
    convert.add_argument(
        "--shards", type=_shape, metavar="SHAPE",
        help="shard shape of the last axes (NGFF 0.5), each a multiple of the chunk",
    )  # fmt: skip
    convert.add_argument(
        "--levels", type=int,
        help="pyramid levels including full resolution (default: until it fits one chunk)",
    )  # fmt: skip
    convert.add_argument("--downsample", choices=IMAGE_METHODS, default="mean",
                         help="how image levels are downsampled")  # fmt: skip
    convert.add_argument(
        "--overwrite", action="store_true", help="rewrite outputs that are already complete"
    )
    convert.add_argument(
        "--dry-run", action="store_true", help="write nothing; say what would be written"
    )
    add_cluster_arguments(convert)
    add_remote_arguments(convert)
    convert.set_defaults(run=run)


def _shape(text: str) -> tuple[int, ...]:
    from napari_omezarr_export.core.api import parse_shape

    try:
        shape = parse_shape(text)
    except InvalidOptionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not shape or any(n < 1 for n in shape):
        raise argparse.ArgumentTypeError(f"{text!r} must be whole numbers of 1 or more.")
    return shape


def run(args: argparse.Namespace) -> int:
    """Plan and run the conversion; 0 when every output was written or skipped, else 1.

    2 for options that cannot be used; 130 after Ctrl-C and 143 after SIGTERM, the write in
    progress discarded.
    """
    from napari_omezarr_export.cli.convert_jobs import ConvertSettings, convert_jobs

    try:
        settings = ConvertSettings(
            out=args.out,
            storage=StorageOptions(
                ngff_version=args.ngff_version,
                codec=args.codec,
                level=args.level,
                chunks=args.chunks,
                shards=args.shards,
            ),
            pyramid=PyramidOptions(levels=args.levels, image_method=args.downsample),
            overwrite=args.overwrite,
            storage_options=lambda location: storage_options_for(location, args),
        )
        jobs = convert_jobs(args.source, settings)
        if args.dry_run:
            return run_batch(jobs, dry_run=True)
        with dask_client(args.workers, args.scheduler):
            return run_batch(jobs, command="convert")
    except InvalidOptionError as exc:
        sys.stderr.write(f"napari-omezarr-export convert: {exc}\n")
        return 2

"""The command line, ``napari-omezarr-export``: batch work without napari.

Each subcommand is a module with ``add_parser(commands)`` and ``run(args) -> int``:

- ``info`` (`napari_omezarr_export.cli.info`): what stores are, and whether they open;
- ``convert`` (`napari_omezarr_export.cli.convert`): OME-Zarr, TIFF and ``.percell`` sources
  to OME-Zarr stores, on one machine or a dask cluster;
- ``brieflow`` (`napari_omezarr_export.cli.brieflow`): a Brieflow run's exports, as its
  ``output.omezarr`` config block asks.

Batch subcommands plan a `napari_omezarr_export.core.batch.Job` list and run it through
`napari_omezarr_export.cli.runner`, which draws the progress bar and prints the summary.
Exit codes: 0 when everything succeeded, 1 when anything failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from napari_omezarr_export.cli import brieflow, convert, info

__all__ = ["main", "main_exit"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napari-omezarr-export",
        description="OME-Zarr stores from the command line (napari-omezarr-export).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for subcommand in (info, convert, brieflow):
        subcommand.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (``sys.argv[1:]`` by default).

    Returns
    -------
    int
        0 when everything succeeded, 1 when anything failed.
    """
    args = _parser().parse_args(argv)
    return args.run(args)


def main_exit() -> None:
    """The console script: run `main` and exit with its code."""
    sys.exit(main())


if __name__ == "__main__":
    main_exit()

"""``napari-omezarr-export brieflow RUN_DIR --config config.yml``: a Brieflow run's exports.

Follows the config's ``output.omezarr`` block (Brieflow's export design): the TIFF tiles of
``preprocess``, ``sbs`` (cycles kept) and ``phenotype`` (with ``labels/nuclei`` and
``labels/cells``) become OME-Zarr stores next to them, under Brieflow's own names, and the
``merge``, ``aggregate`` and ``cluster`` tables become zarr column groups. Exports that are
already complete (and not older than their sources) are skipped, so an interrupted run resumes
and a step Brieflow re-ran is exported again; a bad tile is reported at the end and the others
are written. ``--dry-run`` lists what would be written. ``--workers N`` writes on a local dask
cluster of N processes, ``--scheduler ADDRESS`` on a running one, as ``convert`` does.

Exit codes: 0 when everything succeeded (or the block says ``enabled: false``), 1 when any
export failed or the run holds nothing to export, 2 for a config that cannot be followed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from napari_omezarr_export.cli.cluster import add_cluster_arguments, dask_client

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``brieflow`` on the command line's subcommands."""
    parser = commands.add_parser(
        "brieflow",
        help="export a Brieflow run's images and tables as its config's output.omezarr asks",
        description=(
            "Export a Brieflow run's TIFF tiles (preprocess, sbs, phenotype) as OME-Zarr and "
            "its merge, aggregate and cluster tables as zarr column groups, as the "
            "output.omezarr block of its config.yml asks. Complete exports are skipped, "
            "unless a source file is newer than the export (Brieflow re-ran the step)."
        ),
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the run folder (Brieflow's root_fp)")
    parser.add_argument(
        "--config", required=True, help="the run's config.yml, with an output.omezarr block"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="write nothing; list what would be written"
    )
    add_cluster_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Plan the run's exports from its config and carry them out; return the exit code.

    2 for a config or cluster option that cannot be used; 130 after Ctrl-C and 143 after
    SIGTERM, the write in progress discarded.
    """
    from napari_omezarr_export.cli.runner import run_batch
    from napari_omezarr_export.core.errors import InvalidOptionError
    from napari_omezarr_export.core.layouts.brieflow.config import load_export_config
    from napari_omezarr_export.core.layouts.brieflow.pipeline import plan_export
    from napari_omezarr_export.core.reader import store_opens

    run_dir = Path(args.run_dir)
    try:
        config = load_export_config(args.config)
    except InvalidOptionError as exc:
        sys.stderr.write(f"napari-omezarr-export brieflow: {exc}\n")
        return 2
    if not config.enabled:
        sys.stdout.write(
            f"output.omezarr.enabled is false in {args.config}: nothing to export. Set it to "
            "true to export this run.\n"
        )
        return 0
    if not run_dir.is_dir():
        sys.stderr.write(
            f"napari-omezarr-export brieflow: {run_dir} is not a folder; give the run folder "
            "(Brieflow's root_fp, holding preprocess/, sbs/, phenotype/...).\n"
        )
        return 2
    jobs = plan_export(run_dir, config, opens=store_opens)
    found = {job.source.split("/", 1)[0] for job in jobs}
    for step in (s for s in config.steps if s not in found):
        sys.stderr.write(f"napari-omezarr-export brieflow: nothing found for step {step}.\n")
    if not jobs:
        steps = ", ".join(config.steps) or "none"
        sys.stderr.write(
            f"napari-omezarr-export brieflow: found nothing to export in {run_dir} for the "
            f"steps {steps}. Check that RUN_DIR is the run folder and that those steps have "
            "run.\n"
        )
        return 1
    if args.dry_run:
        return run_batch(jobs, dry_run=True, command="brieflow")
    try:
        with dask_client(args.workers, args.scheduler):
            return run_batch(jobs, command="brieflow")
    except InvalidOptionError as exc:  # no dask.distributed, --workers 0, no scheduler there
        sys.stderr.write(f"napari-omezarr-export brieflow: {exc}\n")
        return 2

"""``--workers N`` and ``--scheduler ADDRESS``: run a batch with a dask.distributed client.

While the client is open it is dask's default scheduler, so the dask arrays the batch reads are
computed by the cluster's workers. ``--workers`` starts a `distributed.LocalCluster` on this
machine for the batch (one thread per worker process, so N workers use N cores), and stops it
at the end; ``--scheduler`` connects to a running cluster (``dask scheduler``, dask-jobqueue's
``SLURMCluster``, dask-gateway...), which must see the same files and URLs as this machine.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any

from napari_omezarr_export.core.errors import InvalidOptionError

__all__ = ["add_cluster_arguments", "dask_client"]

_INSTALL = "pip install 'napari-omezarr-export[cluster]'"


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--workers`` and ``--scheduler`` (one or the other) to a subcommand."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="start a local dask cluster of N worker processes for the batch",
    )
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="use a running dask cluster (tcp://host:8786); its workers must see the files",
    )


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A dask.distributed client for the block, or None when neither option is given.

    Parameters
    ----------
    workers : int, optional
        Start a `LocalCluster` of this many single-threaded worker processes.
    scheduler : str, optional
        The address of a running scheduler.

    Yields
    ------
    distributed.Client or None
        The client, the default dask scheduler inside the block.

    Raises
    ------
    InvalidOptionError
        When dask.distributed is not installed, ``workers`` is below 1, or the scheduler
        cannot be reached.
    """
    if workers is None and scheduler is None:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise InvalidOptionError(
            f"--workers and --scheduler need dask.distributed, which is not installed: {_INSTALL}"
        ) from exc
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise InvalidOptionError(
                f"Cannot reach the dask scheduler at {scheduler} ({exc}). Check the address "
                "(tcp://host:8786) and that the cluster is running."
            ) from exc
        with client:
            yield client
        return
    if workers < 1:
        raise InvalidOptionError(f"--workers {workers} must be 1 or more.")
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        yield client

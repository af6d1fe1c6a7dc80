"""The options every subcommand shares for ``s3://`` locations: ``--anonymous``, ``--endpoint``."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_remote_arguments", "storage_options_for"]


def add_remote_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--anonymous`` and ``--endpoint`` to a subcommand."""
    parser.add_argument("--anonymous", action="store_true", help="read s3:// without credentials")
    parser.add_argument("--endpoint", help="an S3-compatible endpoint URL (MinIO, Ceph...)")


def storage_options_for(location: str, args: argparse.Namespace) -> dict[str, Any] | None:
    """The fsspec options for ``location``: the S3 flags for ``s3://``, None for anything else."""
    if not str(location).lower().startswith(("s3://", "s3a://")):
        return None
    options: dict[str, Any] = {}
    if getattr(args, "anonymous", False):
        options["anon"] = True
    if getattr(args, "endpoint", None):
        options["endpoint_url"] = args.endpoint
    return options

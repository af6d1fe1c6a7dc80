"""``napari-omezarr-export convert``: being built (issue 17); registered so the parser lists it."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``convert`` on the command line's subcommands."""
    commands.add_parser("convert", help="(not available yet)").set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Say that the subcommand is not available yet."""
    sys.stderr.write("napari-omezarr-export convert is not available in this version yet.\n")
    return 2

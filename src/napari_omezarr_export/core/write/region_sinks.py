"""Where a region task's chunk files go: the client's staging folder, or an object store.

`LocalSink` writes into the staging folder the client created (a filesystem the workers share
with the client, at the same path). `RemoteSink` writes into a private local folder on the
worker and uploads its chunk files straight to the object store's keys, once the client has
withdrawn the old store (see `RemoteSink.gate`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zarr

from napari_omezarr_export.core.errors import WriteFailedError
from napari_omezarr_export.core.write.object_store import META_DOCS

if TYPE_CHECKING:
    from upath import UPath

__all__ = ["LocalSink", "RemoteSink"]

STOP_CHECK_SECONDS = 0.2  # how often a task asks the scheduler whether to stop


@dataclass(frozen=True)
class LocalSink:
    """Write into the client's staging folder (an absolute path the workers can reach)."""

    stage: str
    zarr_format: int

    @contextlib.contextmanager
    def arrays(
        self, group: str, levels: Sequence[int], stop: Any = None
    ) -> Iterator[tuple[list[zarr.Array], list[str]]]:
        """Open the levels of ``group`` that the client created; nothing to upload after.

        Raises `WriteFailedError` when this worker cannot see the staging folder.
        """
        if not Path(self.stage).is_dir():
            raise WriteFailedError(
                f"A worker of the cluster (process {os.getpid()} on {socket.gethostname()}) "
                f"cannot see the staging folder {self.stage}, which the client created beside "
                "the target. The workers write the chunk files there themselves, so they must "
                "see the target's folder at the same path as the client: the same machine, or "
                "a shared filesystem (NFS, Lustre...) mounted at the same path. Save to such a "
                "folder or to an object store (s3://...), or without the cluster (client=False)."
            )
        yield [_open_level(self.stage, group, level, self.zarr_format) for level in levels], []


@dataclass(frozen=True)
class RemoteSink:
    """Write into a private local folder on the worker, then upload the chunk files.

    ``docs`` holds the array metadata documents the client created (relative key -> bytes),
    so the worker can open the arrays before any metadata is at the target. ``gate`` names
    two distributed Events, ``(ready, begun)``, or is None once the old store was withdrawn:
    a task with files to upload sets ``ready`` and waits for ``begun``, which the client sets
    once it has withdrawn the old store's OME attributes. So a write that fails before any
    region is ready to upload (an unreadable source) leaves the old store as it was.
    """

    target: UPath
    zarr_format: int
    docs: dict[str, bytes] = field(default_factory=dict)
    gate: tuple[str, str] | None = None

    @contextlib.contextmanager
    def arrays(
        self, group: str, levels: Sequence[int], stop: Any = None
    ) -> Iterator[tuple[list[zarr.Array], list[str]]]:
        """Open the levels in a new local folder; when the block ends well, upload its chunks.

        Yields the arrays and a list that receives the keys uploaded.
        """
        folder = Path(tempfile.mkdtemp(prefix="omezarr-export-region-"))
        try:
            for key, content in self.docs.items():
                (folder / key).parent.mkdir(parents=True, exist_ok=True)
                (folder / key).write_bytes(content)
            keys: list[str] = []
            yield [_open_level(str(folder), group, lvl, self.zarr_format) for lvl in levels], keys
            keys.extend(self._upload(folder, stop))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _upload(self, folder: Path, stop: Any) -> list[str]:
        keys = sorted(
            p.relative_to(folder).as_posix()
            for p in folder.rglob("*")
            if p.is_file() and p.name not in META_DOCS
        )
        if keys:
            self._wait_for_the_gate(stop)
            fs, root = self.target.fs, str(self.target.path).rstrip("/")
            fs.put([str(folder / k) for k in keys], [f"{root}/{k}" for k in keys])
        return keys

    def _wait_for_the_gate(self, stop: Any) -> None:
        """Say this region is ready to upload; wait until the client withdrew the old store."""
        if self.gate is None:
            return
        from distributed import Event

        ready, begun = (Event(name) for name in self.gate)
        if begun.is_set():
            return
        ready.set()
        while not begun.wait(timeout=STOP_CHECK_SECONDS):
            if stop is not None:
                stop()


def _open_level(root: str, group: str, level: int, zarr_format: int) -> zarr.Array:
    path = f"{group}/{level}" if group else str(level)
    return zarr.open_array(store=root, path=path, mode="r+", zarr_format=zarr_format)

"""Upload a new object-store image's chunks while it is still being encoded.

`core.write.object_store` stages a store in a local folder and uploads it when it is complete,
which costs as much local disk as the compressed store and adds the whole upload's time after
the encoding. For a **new** target (nothing there, or only an S3 console folder) there is no
old store a failure could cost, so `ChunkStream` uploads the chunk files already staged, in
the background, a batch of `STREAM_BYTES` at a time, and deletes them locally. A batch waits
for the one before, so the encoding slows to the upload's pace instead of filling the disk:
the stage holds at most about 2.5 x `STREAM_BYTES` (a batch in flight, one waiting, and what
was written between two looks), whatever the store's size. The metadata still goes up last
(`StagedUpload.iter_upload`), so a reader sees an image at the target only once all of it is
there, and a failure or cancel removes every key written (`StagedUpload.abort`, after the
batch in flight has ended). A target that holds a store to replace is staged whole as before:
a failure while encoding then leaves the old store as it was.

A staged file is complete once it has its name: zarr writes every file under a temporary
``.partial`` name and renames it, and so does `core.write.chunk_files`. The stage is looked at
each time half a batch of uncompressed chunk bytes has been written (a count, not a clock: an
image encoded in a fraction of a second streams as surely as a slow one).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor

from napari_omezarr_export.core.write.chunk_files import PARTIAL_SUFFIX
from napari_omezarr_export.core.write.object_store import META_DOCS, StagedUpload

__all__ = ["STREAM_BYTES", "ChunkStream"]

log = logging.getLogger(__name__)

# Staged chunk bytes a batch uploads: big enough that a batch is many concurrent puts.
STREAM_BYTES = 128 * 1024 * 1024


class ChunkStream:
    """Upload a new store's staged chunk files in background batches while it is written.

    Use it as a context manager around the writing; call `poll` as the writing goes on and
    `finish` when it is done. Leaving the block waits for the batch in flight, so nothing is
    uploaded after a failed write's clean-up.

    Parameters
    ----------
    upload : StagedUpload
        The store's staged upload; streaming is off unless its target is empty.
    zarr_format : {2, 3}
        The store's format (for `StagedUpload.begin`).
    chunk_bytes : int
        The largest chunk's uncompressed size: ``poll``'s chunk counts become bytes.
    enabled : bool
        False never to stream (a cluster's workers upload their own chunks).
    """

    def __init__(
        self, upload: StagedUpload, zarr_format: int, chunk_bytes: int, *, enabled: bool = True
    ) -> None:
        self._upload = upload
        self._zarr_format = zarr_format
        self._chunk_bytes = max(1, chunk_bytes)
        self.enabled = enabled and upload.target_is_empty
        self._pool: ThreadPoolExecutor | None = None
        self._batch: Future | None = None
        self._sending: set[str] = set()  # the batch in flight's keys
        self._looked_at = 0  # chunks written when the stage was last looked at

    def __enter__(self) -> ChunkStream:
        return self

    def __exit__(self, *_: object) -> None:
        if self._batch is not None:
            self._batch.exception()  # wait; its error, if any, was or will be reported
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def poll(self, written: int) -> None:
        """Upload what is staged in batches, each once the one before is done; raise errors.

        Parameters
        ----------
        written : int
            Chunks written so far (the writer's progress).
        """
        if not self.enabled or (written - self._looked_at) * self._chunk_bytes < STREAM_BYTES // 2:
            return
        self._looked_at = written
        waiting = self._waiting()
        while sum(nbytes for _, nbytes in waiting) >= STREAM_BYTES:
            size, count = 0, 0
            for _, nbytes in waiting:
                if size >= STREAM_BYTES:
                    break
                size, count = size + nbytes, count + 1
            self._collect()  # the batch before (the encoding waits for a slow upload here)
            self._start([key for key, _ in waiting[:count]])
            waiting = waiting[count:]
        if self._batch is not None and self._batch.done():
            self._collect()

    def finish(self) -> None:
        """Wait for the batch in flight; the rest of the store is uploaded with its metadata."""
        if self._batch is not None:
            self._collect()

    def _waiting(self) -> list[tuple[str, int]]:
        """The complete chunk files staged and not yet sent: (relative key, bytes)."""
        stage = self._upload.stage
        found = []
        for path in stage.rglob("*"):
            if path.name in META_DOCS or path.name.endswith(PARTIAL_SUFFIX):
                continue
            key = path.relative_to(stage).as_posix()
            if key in self._sending:
                continue
            try:
                if path.is_file():
                    found.append((key, path.stat().st_size))
            except FileNotFoundError:  # uploaded and deleted meanwhile
                continue
        return found

    def _start(self, keys: list[str]) -> None:
        self._upload.begin(self._zarr_format)  # the first time: the target is marked incomplete
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="omezarr-upload")
        self._sending.update(keys)
        self._batch = self._pool.submit(_send, self._upload, keys)
        log.debug("uploading %d chunk files while encoding", len(keys))

    def _collect(self) -> None:
        batch, self._batch = self._batch, None
        if batch is None:
            return
        if batch.exception() is not None:
            self._upload.sending = True  # the upload failed, not the encoding
        self._upload.add_uploaded(batch.result())
        self._sending.clear()  # sent and deleted: no scan finds them again


def _send(upload: StagedUpload, keys: list[str]) -> list[str]:
    """Upload staged files, then delete them locally; return their keys."""
    upload.put_staged(keys)
    for key in keys:
        (upload.stage / key).unlink(missing_ok=True)
    return keys

"""Upload a new object-store image's chunks while it is still being encoded.

`core.write.object_store` stages a store in a local folder and uploads it when it is complete,
which costs as much local disk as the compressed store and adds the whole upload's time after
the encoding. For a **new** target (nothing there, an S3 console folder, or what an interrupted
write of ours left, removed first) there is no old store a failure could cost, so `ChunkStream`
uploads the chunk files already staged, in the background, a batch of `STREAM_BYTES` at a time,
and deletes them locally. A batch waits for the one before, so the encoding slows to the
upload's pace instead of filling the disk: the stage holds about 2 x `STREAM_BYTES` (a batch in
flight and one waiting) plus the writer's queued chunks, whatever the store's size. The
metadata still goes up last (`StagedUpload.iter_upload`), so a reader sees an image at the
target only once all of it is there, and a failure or cancel removes every key written
(`StagedUpload.abort`, after the batch in flight has ended). A target that holds a store to
replace is staged whole as before: a failure while encoding then leaves the old store as it
was.

The chunk files come from `core.write.chunk_files.watch_written`, as the writing threads
finish them (written under a ``.partial`` name and renamed): nothing is scanned, and a file is
sent only once it is complete. Each chunk file is written once and never read back (the band
writer writes whole chunks), so a file sent and deleted is never needed again. Files zarr
writes itself (codecs this package does not encode) are not reported: they go up at the end
with the metadata.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from napari_omezarr_export.core.write.chunk_files import watch_written
from napari_omezarr_export.core.write.object_store import StagedUpload

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
        The store's staged upload; streaming is off unless no store is at its target.
    zarr_format : {2, 3}
        The store's format (for `StagedUpload.begin`).
    enabled : bool
        False never to stream (a cluster's workers upload their own chunks).
    """

    def __init__(self, upload: StagedUpload, zarr_format: int, *, enabled: bool = True) -> None:
        self._upload = upload
        self._zarr_format = zarr_format
        self.enabled = enabled and upload.nothing_to_lose
        self._arrived: deque[tuple[Path, int]] = deque()  # appended by the writing threads
        self._waiting: list[tuple[Path, int]] = []
        self._waiting_bytes = 0
        self._pool: ThreadPoolExecutor | None = None
        self._batch: Future | None = None
        self._exit = contextlib.ExitStack()

    def __enter__(self) -> ChunkStream:
        if self.enabled:
            self._exit.enter_context(watch_written(self._upload.stage, self._on_written))
        return self

    def __exit__(self, *_: object) -> None:
        self._exit.close()
        interrupted = False
        while self._batch is not None and not self._batch.done():
            # The clean-up after a failure or cancel lists and removes what was uploaded: a
            # batch still uploading then would leave keys behind. A second Ctrl-C waits too.
            try:
                self._batch.exception()  # its error, if any, was or will be reported
            except KeyboardInterrupt:
                interrupted = True
                log.warning("Waiting for the upload in flight to end before cleaning up.")
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if interrupted:
            raise KeyboardInterrupt

    def _on_written(self, path: Path, size: int) -> None:
        self._arrived.append((path, size))

    def poll(self) -> None:
        """Upload what is staged in batches, each once the one before is done; raise errors."""
        if not self.enabled:
            return
        while self._arrived:
            path, size = self._arrived.popleft()
            self._waiting.append((path, size))
            self._waiting_bytes += size
        while self._waiting_bytes >= STREAM_BYTES:
            size, count = 0, 0
            for _, nbytes in self._waiting:
                if size >= STREAM_BYTES:
                    break
                size, count = size + nbytes, count + 1
            self._collect()  # the batch before (the encoding waits for a slow upload here)
            self._start([path for path, _ in self._waiting[:count]])
            self._waiting = self._waiting[count:]
            self._waiting_bytes -= size
        if self._batch is not None and self._batch.done():
            self._collect()

    def finish(self) -> None:
        """Wait for the batch in flight; the rest of the store is uploaded with its metadata."""
        self._collect()

    def _start(self, paths: list[Path]) -> None:
        try:  # the first time: the target is marked incomplete
            self._upload.begin(self._zarr_format)
        except BaseException:
            self._upload.sending = True  # the upload failed, not the encoding
            raise
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="omezarr-upload")
        keys = [path.relative_to(self._upload.stage).as_posix() for path in paths]
        self._batch = self._pool.submit(_send, self._upload, keys)
        log.debug("uploading %d chunk files while encoding", len(keys))

    def _collect(self) -> None:
        """Wait for the batch in flight, if any; raise its error."""
        batch, self._batch = self._batch, None
        if batch is None:
            return
        if batch.exception() is not None:
            self._upload.sending = True  # the upload failed, not the encoding
        batch.result()  # nothing of the target was there before: no key to keep track of


def _send(upload: StagedUpload, keys: list[str]) -> None:
    """Upload staged files, then delete them locally."""
    upload.put_staged(keys)
    for key in keys:
        (upload.stage / key).unlink(missing_ok=True)

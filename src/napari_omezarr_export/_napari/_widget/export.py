"""The export widget's background work: the cancellable write, in a thread, and the preview cache.

`run_steps` is the generator a napari ``thread_worker`` runs; it closes the core's write
generator when cancelled, so the staging folder is removed and the target keeps its old
content. `PreviewCache` remembers what a plan's preview learned by reading data (value ranges,
label values) so that changing an option, which makes a new plan, does not rescan a large
label layer.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

from napari.utils.notifications import show_error, show_info

from napari_omezarr_export.core.api import ExportPlan
from napari_omezarr_export.core.errors import OmeZarrError
from napari_omezarr_export.core.progress import Progress

__all__ = ["ExportRunner", "PreviewCache", "run_steps"]

log = logging.getLogger(__name__)


PROGRESS_INTERVAL_S = 0.1  # the least time between two progress updates of the bar


def run_steps(
    steps: Iterator[Progress], cancel: threading.Event
) -> Generator[Progress, None, bool]:
    """Drive a core write generator, yielding its progress, until done or cancelled.

    Parameters
    ----------
    steps : iterator of (int, int)
        A core ``iter_write_*`` generator.
    cancel : threading.Event
        Set it to stop after the current batch of chunks.

    Yields
    ------
    tuple of int
        ``(chunks done, chunks total)``, at most every `PROGRESS_INTERVAL_S`, and the last.

    Returns
    -------
    bool
        True when the write completed, False when it was cancelled (nothing was written).
    """
    shown = -PROGRESS_INTERVAL_S
    with contextlib.closing(steps):  # closing() on cancel removes the staging folder
        for progress in steps:
            now = time.monotonic()
            if now - shown >= PROGRESS_INTERVAL_S or progress[0] >= progress[1]:
                shown = now
                yield progress  # each yield is a signal to the GUI thread: a few per second
            if cancel.is_set():
                return False
    return True


class PreviewCache:
    """Data summaries of planned groups, keyed by their source layers and a data revision."""

    def __init__(self) -> None:
        self._summaries: dict[tuple, Any] = {}
        self.revision = 0

    def invalidate(self) -> None:
        """Forget every summary (call when a layer's data changes)."""
        self.revision += 1
        self._summaries.clear()

    def attributes(self, plan: ExportPlan, sources: Sequence[object]) -> dict[str, dict]:
        """Return the attributes the plan writes, reading data only on a cache miss.

        Parameters
        ----------
        plan : ExportPlan
            The planned export.
        sources : sequence
            One hashable identity per planned group (for example the ids of its layers).

        Returns
        -------
        dict of str to dict
            Attributes per group path, as ``plan.preview()`` returns them.
        """
        keys = [
            (group.kind, group.path, group.dtype.str, source, self.revision)
            for group, source in zip(plan.groups, sources, strict=True)
        ]
        summaries = plan.summarize([self._summaries.get(key) for key in keys])
        self._summaries.update(zip(keys, summaries, strict=True))
        return plan.preview(summaries)


class ExportRunner:
    """Mixin for the export widget: run a write in a napari thread, with progress and Cancel.

    The widget provides ``_progress`` (ProgressBar), ``_export`` and ``_cancel`` (buttons)
    and ``_status`` (Label).
    """

    _worker: Any = None
    _written: list[Path]
    _cancel_event: threading.Event

    def _start(self, steps: Any, written: list[Path]) -> None:
        from napari.qt.threading import create_worker

        self._cancel_event = threading.Event()
        self._written = written
        self._progress.value, self._progress.max = 0, 1
        self._progress.visible = True
        self._export.enabled, self._cancel.enabled = False, True
        self._status.value = f"Writing {written[0]}…"
        worker = create_worker(run_steps, steps, self._cancel_event, _ignore_errors=True)
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_finished)
        self._worker = worker
        worker.start()

    def cancel(self) -> None:
        """Stop the running export after its current chunks; nothing is left behind."""
        if self._worker is not None:
            self._cancel_event.set()
            self._cancel.enabled = False
            self._status.value = "Cancelling…"

    def _on_progress(self, progress: tuple[int, int]) -> None:
        done, total = progress
        self._progress.max = max(1, total)
        self._progress.value = min(done, max(1, total))

    def _on_returned(self, completed: bool) -> None:
        if completed:
            paths = ", ".join(str(p) for p in self._written)
            self._status.value = f"Saved {paths}"
            show_info(f"Saved {paths}")
        else:
            self._status.value = "Export cancelled; nothing was written."
            show_info("Export cancelled; nothing was written.")

    def _on_errored(self, exc: Exception) -> None:
        if isinstance(exc, OmeZarrError | ValueError | OSError):
            message = str(exc)
        else:
            log.error("Export failed", exc_info=exc)
            message = f"Export failed: {exc}"
        self._status.value = message
        show_error(message)

    def _on_finished(self) -> None:
        self._worker = None
        self._progress.visible = False
        self._export.enabled, self._cancel.enabled = True, False

"""Batch work as a list of jobs: what each reads, what it writes, when it is done, how to run it.

The command line's ``convert`` and ``brieflow`` plan their work as `Job` lists; `run_jobs`
carries them out one after another. A job whose output is already complete and valid is
skipped (so an interrupted batch resumes where it stopped), a job that fails is reported and
the batch goes on, and under ``dry_run`` nothing is written: each job only says what it would
do. Outputs are written through the staged writers, so an interrupted job leaves its old
output (or nothing) behind, never a half-written store that would later look complete.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from napari_omezarr_export.core.errors import OmeZarrError
from napari_omezarr_export.core.progress import Progress
from napari_omezarr_export.core.stores import StorePath, describe

__all__ = ["Job", "JobResult", "Status", "describe_failure", "run_jobs"]

Status = Literal["written", "skipped", "failed", "planned"]


@dataclass(frozen=True)
class Job:
    """One output of a batch: a store (or table group) written from one source.

    Attributes
    ----------
    source : str
        What is read, as the user named it (a path or URL).
    output : Path or UPath
        The store this job writes.
    action : str
        What the job does, in a few words (``"OME-Zarr 0.4 image -> NGFF 0.5"``); shown by
        ``--dry-run`` and in the summary.
    run : callable
        Writes the output, yielding ``(done, total)`` progress; closing it cancels the write.
    complete : callable
        True when the output exists and is complete and valid: the job is then skipped
        (for a store, `napari_omezarr_export.core.reader.store_opens`).
    problem : str or None
        Set when the job could not even be planned (an unreadable source): it fails with this
        message without running.
    """

    source: str
    output: StorePath | None
    action: str
    run: Callable[[], Iterator[Progress]] = field(repr=False)
    complete: Callable[[], bool] = field(repr=False)
    problem: str | None = None

    @classmethod
    def failed(cls, source: str, problem: str, output: StorePath | None = None) -> Job:
        """A job that reports ``problem`` for ``source`` and writes nothing."""
        return cls(source, output, "nothing", _nothing, _never, problem)


def _nothing() -> Iterator[Progress]:
    yield from ()


def _never() -> bool:
    return False


@dataclass(frozen=True)
class JobResult:
    """What became of one job: its status, a message when it failed, and how long it took."""

    job: Job
    status: Status
    message: str = ""
    seconds: float = 0.0


def run_jobs(
    jobs: Iterable[Job],
    *,
    dry_run: bool = False,
    on_start: Callable[[Job], None] | None = None,
    on_progress: Callable[[Job, Progress], None] | None = None,
    on_result: Callable[[JobResult], None] | None = None,
) -> list[JobResult]:
    """Run ``jobs`` in order: skip complete outputs, keep going past failures.

    Parameters
    ----------
    jobs : iterable of Job
        The batch.
    dry_run : bool
        Write nothing: every job that would run is reported as ``"planned"``.
    on_start, on_progress, on_result : callable, optional
        Called as each job starts, as it reports progress, and when it ends (a progress bar).

    Returns
    -------
    list of JobResult
        One per job, in order.

    Notes
    -----
    Ctrl-C (``KeyboardInterrupt``) is not caught: the running write is cancelled, its staging
    is removed, and the next run resumes with the outputs that were completed.
    """
    results = []
    for job in jobs:
        if on_start is not None:
            on_start(job)
        result = _run_one(job, dry_run, on_progress)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def _run_one(
    job: Job, dry_run: bool, on_progress: Callable[[Job, Progress], None] | None
) -> JobResult:
    if job.problem is not None:
        return JobResult(job, "failed", job.problem)
    start = time.perf_counter()
    try:
        if job.complete():
            return JobResult(job, "skipped", "already complete")
        if dry_run:
            return JobResult(job, "planned")
        with contextlib.closing(job.run()) as steps:
            for step in steps:
                if on_progress is not None:
                    on_progress(job, step)
    # A batch keeps going past a bad input whatever it raised (a codec's RuntimeError, a
    # tifffile parse error...): the message goes into the summary, and the exit code says so.
    except Exception as exc:  # noqa: BLE001
        where = describe(job.output) if job.output is not None else job.source
        message = describe_failure(exc, where)
        return JobResult(job, "failed", message, time.perf_counter() - start)
    return JobResult(job, "written", "", time.perf_counter() - start)


def describe_failure(exc: Exception, where: str, doing: str = "writing") -> str:
    """The summary's message for a job that raised ``exc``.

    Our own errors already say what, why and what next; anything else is named by its type,
    with what the job was doing and where (``"RuntimeError while writing out.ome.zarr: ..."``).
    """
    if isinstance(exc, OmeZarrError):
        return str(exc)
    return f"{type(exc).__name__} while {doing} {where}: {exc}"

"""Run a batch on a terminal: progress bars while it runs, a summary table when it ends.

The bars are tqdm's, on standard error, and only on a terminal (``disable=None``), so logs and
pipes get the summary alone. The summary goes to standard output: one row per job with its
status, source, output and, for a failure, why.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import TextIO

from tqdm import tqdm

from napari_omezarr_export.core.batch import Job, JobResult, run_jobs
from napari_omezarr_export.core.progress import Progress
from napari_omezarr_export.core.stores import describe

__all__ = ["run_batch", "summary_table"]

_HEADINGS = ("status", "source", "output", "note")


def run_batch(
    jobs: Sequence[Job],
    *,
    dry_run: bool = False,
    command: str = "batch",
    out: TextIO | None = None,
    bars: TextIO | None = None,
) -> int:
    """Run ``jobs`` with progress bars, print the summary table, and return the exit code.

    Ctrl-C, or SIGTERM (a batch system's time limit), stops the batch: the store being written
    is discarded (its staging removed), those already written are kept, and the message says
    to run the same command again to resume.

    Parameters
    ----------
    jobs : sequence of Job
        The batch, in order.
    dry_run : bool
        Write nothing; the table says what each job would do.
    command : str
        The subcommand's name, for the message after an interruption.
    out, bars : text stream, optional
        Where the summary (standard output) and the bars (standard error) go.

    Returns
    -------
    int
        0 when no job failed, 1 otherwise; 130 after Ctrl-C and 143 after SIGTERM.
    """
    out = out or sys.stdout
    bars = bars or sys.stderr
    overall = tqdm(total=len(jobs), unit="store", desc="stores", file=bars, disable=None)
    current: dict[str, tqdm] = {}

    def start(job: Job) -> None:
        overall.set_postfix_str(_short(job), refresh=True)

    def progress(job: Job, step: Progress) -> None:
        done, total = step
        bar = current.get("chunks")
        if bar is None:
            bar = current["chunks"] = tqdm(
                total=total, unit="chunk", desc="chunks", file=bars, leave=False, disable=None
            )
        bar.total = total
        bar.update(done - bar.n)

    def result(_: JobResult) -> None:
        bar = current.pop("chunks", None)
        if bar is not None:
            bar.close()
        overall.update(1)

    with _sigterm_as_interrupt() as terminated:
        try:
            results = run_jobs(
                jobs, dry_run=dry_run, on_start=start, on_progress=progress, on_result=result
            )
        except KeyboardInterrupt:
            sys.stderr.write(
                f"napari-omezarr-export {command}: stopped. The store being written was "
                "discarded; the stores already written are kept. Run the same command again "
                "to resume.\n"
            )
            return 128 + (signal.SIGTERM if terminated else signal.SIGINT)
        finally:
            for bar in (*current.values(), overall):
                bar.close()
    out.write(summary_table(results) + "\n")
    return 1 if any(r.status == "failed" for r in results) else 0


def _short(job: Job) -> str:
    return job.source if len(job.source) <= 40 else "..." + job.source[-37:]


def summary_table(results: Sequence[JobResult]) -> str:
    """The results as a text table, with a count of each status on the last line."""
    rows = [
        (
            "would write" if r.status == "planned" else r.status,
            r.job.source,
            describe(r.job.output) if r.job.output is not None else "-",
            r.job.action if r.status == "planned" else r.message,
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in (_HEADINGS, *rows)) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in (_HEADINGS, *rows)
    ]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row[0]] = counts.get(row[0], 0) + 1
    lines.append(", ".join(f"{n} {status}" for status, n in counts.items()) or "nothing to do")
    return "\n".join(line.rstrip() for line in lines)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[list[int]]:
    """Stop on SIGTERM as on Ctrl-C, so that the write in progress removes its staging.

    A batch scheduler ends a job at its time limit with SIGTERM (SLURM, then SIGKILL after a
    grace period); Python's default would exit at once and leave the staging folder behind
    (the next run would remove it, but only when it writes that store again). Yields a list
    that holds the signal once one was received. Only the main thread can set a handler;
    elsewhere (convert run from a thread) SIGTERM keeps its default.
    """
    received: list[int] = []

    def interrupt(signum: int, _frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)

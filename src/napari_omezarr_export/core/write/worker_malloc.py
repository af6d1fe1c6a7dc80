"""glibc's malloc settings while a region task runs on a dask worker (Linux only).

See `roomy_malloc`: dask's nanny tunes glibc to give memory back at once, which makes every
large buffer of a region task a fresh, zeroed mmap. The settings here are the task's, for
as long as region tasks run in the process, and are put back after.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["roomy_malloc"]

# glibc mallopt parameters, and the values a region task uses (see `roomy_malloc`)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_TASK_TRIM, _TASK_MMAP = 256 * 2**20, 64 * 2**20
_GLIBC_MMAP_DEFAULT = 128 * 2**10
# The roomy settings outlast our last task by this long: the next region's source blocks,
# when dask computes them between our tasks (a source the tasks cannot compute themselves),
# then reuse the heap too (measured: 640k page faults in the two workers on 1x16384x16384
# uint16 without it, when every source went through the scheduler).
_LINGER_SECONDS = 2.0
_malloc_lock = threading.Lock()
_malloc_users = [0]
_malloc_restore: list[threading.Timer | None] = [None]


def _glibc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


@contextlib.contextmanager
def roomy_malloc() -> Iterator[None]:
    """Let glibc reuse freed memory while our tasks run; give it back to the system after.

    dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also fixes
    glibc's mmap threshold at 128 KiB: every buffer of a chunk or more (encoded chunks,
    contiguous copies, downsampling sums) is then a fresh mmap, zeroed page by page, and
    unmapped when freed. On 1x16384x16384 uint16 that cost 2.9 million page faults and 9 s of
    system time in the two workers, against 1.5 s in one process. While a region task runs,
    buffers up to 64 MiB come from the heap and up to 256 MiB of free heap is kept; when the
    last of our tasks in the process has ended (and no other began for `_LINGER_SECONDS`,
    so that dask's tasks computing the next region's source blocks use the heap as well), the
    worker's settings are restored and the free memory is returned (``malloc_trim``), as dask
    wants. Measured in benchmarks/README.md.
    """
    trim_env = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    libc = _glibc() if trim_env is not None else None
    if libc is None:
        yield
        return
    with _malloc_lock:
        _malloc_users[0] += 1
        if _malloc_restore[0] is not None:  # still roomy: the last task ended moments ago
            _malloc_restore[0].cancel()
            _malloc_restore[0] = None
        elif _malloc_users[0] == 1:
            libc.mallopt(_M_MMAP_THRESHOLD, _TASK_MMAP)
            libc.mallopt(_M_TRIM_THRESHOLD, _TASK_TRIM)
    try:
        yield
    finally:
        with _malloc_lock:
            _malloc_users[0] -= 1
            if _malloc_users[0] == 0:
                timer = threading.Timer(_LINGER_SECONDS, _restore_malloc, (libc, trim_env))
                timer.daemon = True
                _malloc_restore[0] = timer
                timer.start()


def _restore_malloc(libc: Any, trim_env: str) -> None:
    """Put back the worker's malloc settings and return the free memory, unless in use again."""
    with _malloc_lock:
        if _malloc_users[0] or _malloc_restore[0] is not threading.current_thread():
            return  # a task began meanwhile (and cancelled this restore)
        _malloc_restore[0] = None
        with contextlib.suppress(ValueError):
            libc.mallopt(_M_TRIM_THRESHOLD, int(trim_env))
        libc.mallopt(_M_MMAP_THRESHOLD, _GLIBC_MMAP_DEFAULT)
        libc.malloc_trim(0)

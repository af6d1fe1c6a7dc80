"""Malformed inputs end in None, one of our clear errors, or layers plus a warning; never a crash.

Each case of :mod:`bad_inputs` is dropped as napari would: ``get_reader(path)`` (which must
never raise), then ``reader(path)``, then a small slice of every returned array is computed so
that chunk reads are exercised. The whole read runs in a worker thread joined with a timeout,
so a hang fails the case instead of blocking the suite. Throughout, an audit hook records every
file opened or listed: nothing under the sentinel store outside the dropped folder may be, and
no file of the dropped folder may change (names, sizes, mtimes).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bad_inputs import CASES, LOCKS, SENTINEL_VALUE, Case, write_sentinel
from napari_omezarr_export import OmeZarrError
from napari_omezarr_export._napari._reader import get_reader

TIMEOUT_S = 10.0
_AUDIT: dict[str, Any] = {"on": False, "paths": []}
_EVENTS = {"open", "os.scandir", "os.listdir", "sqlite3.connect", "shutil.copyfile"}


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _AUDIT["on"] and event in _EVENTS and args:
        target = args[0]
        if isinstance(target, str | bytes | os.PathLike):
            _AUDIT["paths"].append(os.fsdecode(target))


sys.addaudithook(_audit)  # audit hooks cannot be removed; this one is idle outside a read


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Names, sizes and mtimes of every file under ``root`` (symlinks not followed)."""
    if not root.is_dir():
        return {}
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            out[os.path.relpath(os.path.join(dirpath, name), root)] = (st.st_size, st.st_mtime_ns)
    return out


def _small_slices(data: Any) -> list[np.ndarray]:
    """Compute a corner of level 0 and of the last level, as napari would when it draws."""
    levels = data if isinstance(data, list) else [data]
    out = []
    for level in (levels[0], levels[-1]):
        index = (0,) * (level.ndim - 2) + (slice(0, 4), slice(0, 4))
        out.append(np.asarray(level[index]))
    return out


def _read(path: Any, result: dict[str, Any]) -> None:
    """What napari does with a dropped path: getter, reader, then a few chunk reads."""
    result.update(stage="getter", reader=None, layers=None, pixels=[])
    reader = get_reader(path)
    result["reader"] = reader
    if reader is None:
        return
    result["stage"] = "open"
    # napari's "nothing to show" sentinel is [(None,)]
    layers = [layer for layer in reader(path) if len(layer) > 1 or layer[0] is not None]
    result["layers"] = layers
    result["stage"] = "chunks"
    for data, _, _ in layers:
        result["pixels"].extend(_small_slices(data))


def run_guarded(path: Any) -> tuple[dict[str, Any], BaseException | None]:
    """Run :func:`_read` in a thread; fail the test if it does not finish in time."""
    box: dict[str, Any] = {"result": {}, "error": None}

    def target() -> None:
        try:
            _read(path, box["result"])
        except BaseException as exc:  # noqa: BLE001 - re-examined by the test below
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(TIMEOUT_S)
    if thread.is_alive():
        pytest.fail(f"reading {path!r} did not finish within {TIMEOUT_S} s (a hang)")
    return box["result"], box["error"]


@pytest.fixture(scope="module", autouse=True)
def _warm_imports(tmp_path_factory):
    """Read one good store first, so that timings do not include napari's first imports."""
    sentinel = write_sentinel(tmp_path_factory.mktemp("warm"))
    _small_slices(get_reader(str(sentinel))(str(sentinel))[0][0])


@pytest.fixture
def dropped(request, tmp_path):
    """Build the case's input next to the sentinel; release any held database lock after."""
    case: Case = request.param
    write_sentinel(tmp_path)
    path = case.build(tmp_path / "case")
    yield case, path, tmp_path
    while LOCKS:
        LOCKS.pop().close()


def _reraise(error: BaseException | None) -> None:
    if error is not None:
        raise error


def _check_error(case: Case, path: Any, error: BaseException | None, stage: str) -> None:
    assert error is not None, f"{case.id}: expected {case.error.__name__}, the read succeeded"
    if not isinstance(error, OmeZarrError):
        raise AssertionError(f"{case.id}: a foreign {type(error).__name__} escaped") from error
    assert stage != "getter", "get_reader must never raise"
    with pytest.raises(case.error, match=case.match) as info:
        _reraise(error)
    assert isinstance(info.value, ValueError | OSError)
    message = str(info.value)
    assert Path(path).name in message, f"the message does not name the file: {message}"
    assert message.rstrip().endswith((".", ")")), f"not a whole sentence: {message}"


def _warning_messages(caplog, recorded) -> list[str]:
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    return logged + [str(w.message) for w in recorded]


@pytest.mark.parametrize("dropped", CASES, ids=[c.id for c in CASES], indirect=True)
def test_bad_input(dropped, caplog):
    case, path, tmp_path = dropped
    root = Path(path) if "\x00" not in str(path) else tmp_path / "case"
    before = snapshot(root)
    caplog.set_level(logging.INFO if case.expect == "message" else logging.WARNING)
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        _AUDIT.update(on=True, paths=[])
        try:
            start = time.perf_counter()
            result, error = run_guarded(str(path))
            elapsed = time.perf_counter() - start
        finally:
            _AUDIT["on"] = False
    assert elapsed < case.max_seconds, f"{case.id} took {elapsed:.1f} s"
    opened = list(_AUDIT["paths"])
    sentinel = os.path.realpath(tmp_path / "outside.zarr")
    assert not [p for p in opened if os.path.realpath(os.path.abspath(p)).startswith(sentinel)]
    assert snapshot(root) == before, "opening changed a file of the dropped folder"
    messages = _warning_messages(caplog, recorded)

    if case.expect == "none":
        assert error is None and result["reader"] is None, error or result
        return
    if case.expect == "error":
        _check_error(case, path, error, result.get("stage", "getter"))
        return
    if case.expect == "message":  # not broken, not an image: no layer, a message saying so
        assert error is None and result["layers"] == [], error or result
        assert any(re.search(case.match, r.getMessage()) for r in caplog.records)
        return
    if error is not None:
        raise AssertionError(f"{case.id}: expected layers, got {error!r}") from error
    assert result["layers"], "an empty layer list is not an outcome"
    for pixels in result["pixels"]:
        assert not (pixels == SENTINEL_VALUE).any(), "the sentinel outside the folder was read"
    if case.expect == "warning":
        assert any(re.search(case.match, m) for m in messages), messages
    else:
        assert not messages, f"{case.id} opened with unexpected warnings: {messages}"


def test_corpus_is_large_and_covers_every_outcome():
    outcomes = [c.expect for c in CASES]
    assert len(CASES) >= 35
    assert {"none", "error", "warning", "opens"} <= set(outcomes)
    assert len({c.id for c in CASES}) == len(CASES), "ids must be unique"


def test_audit_hook_sees_what_the_reader_opens(tmp_path):
    """Control for the sentinel check: reading the sentinel itself is recorded."""
    sentinel = write_sentinel(tmp_path)
    _AUDIT.update(on=True, paths=[])
    try:
        result, error = run_guarded(str(sentinel))
    finally:
        _AUDIT["on"] = False
    assert error is None and result["pixels"][0].max() == SENTINEL_VALUE
    assert any(str(sentinel) in p for p in _AUDIT["paths"])

"""A write loses nothing: kills, full disks, refused permissions and leftovers."""

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import zarr

from napari_omezarr_export import (
    LabelsSpec,
    StorageOptions,
    TargetExistsError,
    WriteFailedError,
    iter_write_image,
    write_image,
    write_labels,
)
from napari_omezarr_export.core import chunk_files
from napari_omezarr_export.core import store as store_module
from napari_omezarr_export.core.store import STAGING_MARK
from validation import assert_valid_store

SHAPE = (6, 4096, 4096)  # 192 MiB of uint16 that compresses poorly: a few hundred MB to replace

WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from napari_omezarr_export import StorageOptions, iter_write_image

    def data(seed):
        rng = np.random.default_rng(seed)
        return rng.integers(0, 60000, size={shape}, dtype=np.uint16)

    path, seed = sys.argv[1], int(sys.argv[2])
    steps = iter_write_image(data(seed), path, storage=StorageOptions(codec="blosc-lz4", level=1))
    for done, total in steps:
        print(done, total, flush=True)
    print("finished", flush=True)
    """
).format(shape=SHAPE)


def _expected(seed):
    return np.random.default_rng(seed).integers(0, 60000, size=SHAPE, dtype=np.uint16)


def _run(path, seed, kill_at=None):
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(seed)], stdout=subprocess.PIPE, text=True
    )
    for line in process.stdout:
        if line.startswith("finished"):
            break
        done, total = map(int, line.split())
        if kill_at is not None and done >= kill_at * total:
            os.kill(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=120)
    process.stdout.close()
    return process.returncode


@pytest.mark.slow
def test_killed_writes_leave_the_old_or_the_new_store(tmp_path):
    target = tmp_path / "plate.ome.zarr"
    assert _run(target, seed=1) == 0
    old, new = _expected(1), _expected(2)
    for kill_at in (0.05, 0.5, 0.95, 1.0):
        code = _run(target, seed=2, kill_at=kill_at)
        assert code == -signal.SIGKILL
        level0 = zarr.open_group(target, mode="r")["0"][:]
        if kill_at < 1.0:
            assert np.array_equal(level0, old), "a kill before the swap keeps the old store"
        else:  # the last chunks are written: the kill may land just before or after the swap
            assert np.array_equal(level0, old) or np.array_equal(level0, new)
        assert_valid_store(target)
    assert list(tmp_path.glob(f"*{STAGING_MARK}*")), "the kills left staging folders behind"
    assert _run(target, seed=2) == 0  # the next write cleans up and completes
    assert np.array_equal(zarr.open_group(target, mode="r")["0"][:], new)
    assert not list(tmp_path.glob(f"*{STAGING_MARK}*"))


def test_leftovers_of_dead_writers_are_removed_and_a_half_swap_is_undone(tmp_path, rng):
    image = rng.integers(0, 100, size=(1, 64, 64), dtype=np.uint16)
    target = tmp_path / "img.zarr"
    [path] = write_image(image, target)
    dead = 2**22 + 12345  # no such process
    partial = tmp_path / f".img.zarr{STAGING_MARK}{dead}-abcd.partial"
    partial.mkdir()
    (partial / "0").write_text("half written")
    os.rename(path, tmp_path / f".img.zarr{STAGING_MARK}{dead}-abcd.replaced")  # died mid-swap
    store_module.remove_leftovers(target)
    assert not partial.exists()
    np.testing.assert_array_equal(zarr.open_group(target, mode="r")["0"][:], image)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.zarr"]


def test_a_live_writers_staging_folder_is_left_alone(tmp_path):
    live = tmp_path / f".img.zarr{STAGING_MARK}{os.getppid()}-abcd.partial"
    live.mkdir()
    store_module.remove_leftovers(tmp_path / "img.zarr")
    assert live.exists()


@pytest.mark.parametrize("ngff", ["0.4", "0.5 sharded"])
def test_a_full_disk_gives_a_clear_error_and_keeps_the_old_store(tmp_path, rng, monkeypatch, ngff):
    storage = StorageOptions() if ngff == "0.4" else StorageOptions("0.5", shards=(1, 256, 256))
    image = rng.integers(0, 100, size=(1, 256, 256), dtype=np.uint16)
    [store] = write_image(image, tmp_path / "img.zarr", storage=storage)
    old = {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}

    def full_disk(*args, **kwargs):  # the chunk (or shard) files' open
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(chunk_files, "open", full_disk, raising=False)
    with pytest.raises(WriteFailedError, match=r"previous store there is intact.*disk is full"):
        write_image(image + 1, store, storage=storage)
    assert {p: p.read_bytes() for p in store.rglob("*") if p.is_file()} == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.zarr"]


def test_a_refused_folder_gives_a_clear_error_and_leaves_nothing(tmp_path, rng, monkeypatch):
    # Tests run as root, where chmod does not refuse anything, so the refusal is simulated
    # where the operating system would raise it: creating the staging folder.
    def refuse(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(store_module.Path, "mkdir", refuse)
    with pytest.raises(WriteFailedError, match=r"Permission denied.*choose a folder you own"):
        write_image(np.zeros((8, 8), np.uint8), tmp_path / "locked" / "img.zarr")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_the_labels_list_is_updated_last(tmp_path, rng, monkeypatch):
    image = rng.integers(0, 100, size=(1, 64, 64), dtype=np.uint16)
    [path] = write_image(image, tmp_path / "img.zarr")
    seen = {}
    real = store_module.atomic_write_json

    def record(json_path, document):
        label = path / "labels" / "cells"
        seen["complete"] = (label / ".zattrs").is_file() and (label / "0" / ".zarray").is_file()
        seen["staging"] = list((path / "labels").glob(f"*{STAGING_MARK}*"))
        real(json_path, document)

    monkeypatch.setattr("napari_omezarr_export.core.writing.atomic_write_json", record)
    write_labels(LabelsSpec(np.ones((64, 64), np.int32), "cells"), path)
    assert seen == {"complete": True, "staging": []}
    assert json.loads((path / "labels" / ".zattrs").read_text()) == {"labels": ["cells"]}


def test_the_parent_of_a_store_is_never_deleted(tmp_path, rng):
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("keep")
    [path] = write_image(np.zeros((16, 16), np.uint8), project / "img.zarr")
    write_image(np.ones((16, 16), np.uint8), path)
    assert (project / "notes.txt").read_text() == "keep"
    assert sorted(p.name for p in project.iterdir()) == ["img.zarr", "notes.txt"]


def test_names_with_glob_characters_never_touch_other_stores_leftovers(tmp_path):
    other = tmp_path / f".img1.zarr{STAGING_MARK}{2**22 + 7}-abcd.replaced"
    other.mkdir()
    (other / ".zgroup").write_text('{"zarr_format": 2}')
    write_image(np.zeros((8, 8), np.uint8), tmp_path / "img[1].zarr")
    assert other.is_dir() and not (tmp_path / "img1.zarr").exists()


@pytest.mark.parametrize(
    ("attrs", "kind"),
    [({"plate": {}}, "collection"), ({"bioformats2raw.layout": 3}, "collection"), ({}, "holding")],
)
def test_plates_collections_and_groups_of_stores_are_never_replaced(tmp_path, attrs, kind):
    target = tmp_path / "plate.zarr"
    zarr.open_group(target, mode="w", zarr_format=2).attrs.update(attrs)
    write_image(np.ones((4, 4), np.uint8), target / "A" / "1" / "0")
    before = sorted(p.relative_to(target) for p in target.rglob("*"))
    with pytest.raises(TargetExistsError, match=kind):
        write_image(np.zeros((8, 8), np.uint8), target)
    assert sorted(p.relative_to(target) for p in target.rglob("*")) == before


def test_a_second_write_in_this_process_keeps_the_first_ones_staging(tmp_path, rng):
    data = rng.integers(0, 9, (2, 1024, 1024), dtype=np.uint16)
    storage = StorageOptions(chunks=(1, 256, 256))
    first = iter_write_image(data, tmp_path / "img.zarr", storage=storage)
    next(first)
    stages = list(tmp_path.glob(f"*{STAGING_MARK}*"))
    store_module.remove_leftovers(tmp_path / "img.zarr")
    assert stages and all(stage.is_dir() for stage in stages)
    first.close()

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
    ChannelStyle,
    LabelsSpec,
    PercellFormatError,
    PercellRegion,
    StorageOptions,
    TargetExistsError,
    WriteFailedError,
    iter_write_image,
    write_image,
    write_labels,
    write_percell_region,
)
from napari_omezarr_export._napari._reader import get_reader
from napari_omezarr_export.core.layouts.percell import journal as percell_journal
from napari_omezarr_export.core.write import chunk_files
from napari_omezarr_export.core.write import staging as store_module
from napari_omezarr_export.core.write.staging import STAGING_MARK
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

    monkeypatch.setattr("napari_omezarr_export.core.write.staging.atomic_write_json", record)
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


# A .percell region is replaced all at once: its image, segmentation and masks live in three
# stores, and a reader must see the whole old region or the whole new one after a kill at any
# instant. Old: masks A and GFP; new: masks GFP and B (A is dropped, B is added).

PERCELL_STYLES = [ChannelStyle("DAPI", "0000FF", 0, 900), ChannelStyle("GFP", "00FF00", 0, 700)]
REGION = PercellRegion("c", "r1")


class Killed(BaseException):
    """Stands for SIGKILL: no ``except Exception`` or ``except OSError`` of the writer sees it."""


def _version(seed, mask_names):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 4000, (2, 96, 80), dtype=np.uint16)
    cells = np.zeros((96, 80), np.int32)
    cells[5 + seed : 40 + seed, 10:50] = 7 + seed
    cells[50:90, 30 + seed : 75] = 20 + seed
    masks = {name: image[1] > 2000 + 500 * i + seed for i, name in enumerate(mask_names)}
    return image, cells, masks


OLD, NEW = _version(1, ["A", "GFP"]), _version(2, ["GFP", "B"])


def _write(root, version, where=REGION):
    image, cells, masks = version
    return write_percell_region(
        image, root, where, channels=PERCELL_STYLES,
        segmentation=LabelsSpec(cells, "segmentation"),
        masks=[LabelsSpec(mask, name) for name, mask in masks.items()],
    )  # fmt: skip


def _level0(data):
    return np.asarray(data[0] if isinstance(data, list | tuple) else data)


def _seen(path):
    """What our reader shows of one region: (image, segmentation, {mask name: mask > 0})."""
    layers = {kw["name"]: (data, kw) for data, kw, _ in get_reader(str(path))(str(path))}
    image = np.stack([_level0(layers[style.label][0]) for style in PERCELL_STYLES])
    cells = _level0(layers["segmentation"][0]) if "segmentation" in layers else None
    masks = {
        name.removesuffix(" mask"): _level0(data) > 0
        for name, (data, kw) in layers.items()
        if kw["metadata"].get("percell_type") == "mask"
    }
    return image, cells, masks


def _which(seen):
    """'old' or 'new' when every group of the region is that version, else 'a mix'."""
    image, cells, masks = seen
    for label, (v_image, v_cells, v_masks) in (("old", OLD), ("new", NEW)):
        if (
            np.array_equal(image, v_image)
            and np.array_equal(cells, v_cells)
            and masks.keys() == v_masks.keys()
            and all(np.array_equal(masks[n], v_masks[n]) for n in masks)
        ):
            return label
    return "a mix"


def _files(root):
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def _db_masks(root):
    import sqlite3

    with sqlite3.connect(root / "experiment.db") as conn:
        return sorted(r[0] for r in conn.execute("SELECT name FROM masks"))


def _kill_on_call(monkeypatch, owner, name, calls, *, after=False):
    """Die at call number ``calls`` (0-based) of ``owner.name``, before it runs (or after)."""
    real = getattr(owner, name)
    count = {"n": 0}

    def dying(*args, **kwargs):
        if count["n"] == calls and not after:
            raise Killed(name)
        result = real(*args, **kwargs)
        if count["n"] == calls and after:
            raise Killed(name)
        count["n"] += 1
        return result

    monkeypatch.setattr(owner, name, dying)


# (where the kill lands, the function to die in, at which call, after it ran, new by then)
# Swaps: segmentation, mask GFP, mask B, then the image; each swap is one `complete_swap`.
KILLS = {
    "journal-written": (percell_journal, "retire", 0, False),
    "old-mask-removed": (percell_journal, "complete_swap", 0, False),
    "1-swap-done": (percell_journal, "complete_swap", 1, False),
    "2-swaps-done": (percell_journal, "complete_swap", 2, False),
    "3-swaps-done-image-not": (percell_journal, "complete_swap", 3, False),
    "all-swaps-done": (percell_journal, "record_region", 0, False),
    "database-updated": (percell_journal, "remove_leftovers", 0, False),
    "cleaned-up": (percell_journal, "remove_leftovers", 4, True),
    "mid-exchange": (store_module, "_exchange", 0, True),
}


@pytest.mark.parametrize("point", list(KILLS))
def test_a_killed_region_replacement_shows_the_whole_old_or_new_region(
    tmp_path, monkeypatch, point
):
    root = tmp_path / "exp.percell"
    _write(root, OLD)
    assert _which(_seen(root)) == "old"
    owner, name, calls, after = KILLS[point]
    _kill_on_call(monkeypatch, owner, name, calls, after=after)
    with pytest.raises(Killed):
        _write(root, NEW)
    monkeypatch.undo()
    assert list(root.glob(f"{percell_journal.JOURNAL_PREFIX}*.json")), "committed: a journal"
    before = _files(root)
    assert _which(_seen(root)) == "new"  # the whole experiment (one region)
    assert _which(_seen(root / "images.zarr" / "c" / "r1")) == "new"  # the region dropped
    assert _files(root) == before, "reading changed the experiment"
    database_done = point in ("database-updated", "cleaned-up")
    assert _db_masks(root) == (["B", "GFP"] if database_done else ["A", "GFP"])
    _finish_and_check(root)


def _finish_and_check(root):
    """The next write rolls the replacement forward first and leaves nothing behind."""
    other = _version(3, ["GFP"])
    _write(root, other, PercellRegion("c", "r2"))
    assert _which(_seen(root / "images.zarr" / "c" / "r1")) == "new"
    assert not [p for p in root.rglob("*") if STAGING_MARK in p.name]
    assert not list(root.glob(".*"))
    assert _db_masks(root) == ["B", "GFP", "GFP"]
    masks = root / "masks.zarr" / "c" / "r1"
    assert sorted(p.name for p in masks.iterdir() if p.is_dir()) == [
        "threshold_B",
        "threshold_GFP",
    ]
    for store in ("images.zarr", "labels.zarr", "masks.zarr/c/r1/threshold_B"):
        assert_valid_store(root / store)


def test_a_kill_before_the_journal_keeps_the_old_region(tmp_path, monkeypatch):
    root = tmp_path / "exp.percell"
    _write(root, OLD)
    _kill_on_call(monkeypatch, percell_journal, "atomic_write_json", 0)
    with pytest.raises(Killed):
        _write(root, NEW)
    monkeypatch.undo()
    assert _which(_seen(root)) == "old"
    assert not list(root.glob(f"{percell_journal.JOURNAL_PREFIX}*"))
    assert _db_masks(root) == ["A", "GFP"]
    _write(root, NEW)
    assert _which(_seen(root)) == "new"
    assert not [p for p in root.rglob("*") if STAGING_MARK in p.name]


def test_a_kill_between_two_renames_where_no_exchange_exists(tmp_path, monkeypatch):
    # Without renameat2 the old group is renamed away first: the kill lands in between,
    # when the segmentation's own folder is missing.
    root = tmp_path / "exp.percell"
    _write(root, OLD)
    monkeypatch.setattr(store_module, "_exchange", lambda a, b: False)
    real_rename = os.rename

    def rename(src, dst, *args, **kwargs):
        real_rename(src, dst, *args, **kwargs)
        if str(dst).endswith(".replaced"):
            raise Killed("between the renames")

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(Killed):
        _write(root, NEW)
    monkeypatch.undo()
    assert not (root / "labels.zarr" / "c" / "r1").exists()
    assert _which(_seen(root)) == "new"
    _finish_and_check(root)


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    from napari_omezarr_export import ChannelStyle, LabelsSpec, PercellRegion
    from napari_omezarr_export import write_percell_region
    from napari_omezarr_export.core.layouts.percell import journal as percell_journal
    from napari_omezarr_export.core.write import staging as store

    root, saved, owner, name, calls, when = sys.argv[1:]
    owner = {"journal": percell_journal, "store": store}[owner]
    real, count = getattr(owner, name), [0]

    def dying(*args, **kwargs):
        if count[0] == int(calls) and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = real(*args, **kwargs)
        if count[0] == int(calls):
            os.kill(os.getpid(), signal.SIGKILL)
        count[0] += 1
        return result

    setattr(owner, name, dying)
    data = np.load(saved)
    masks = [LabelsSpec(data[k], k.removeprefix("mask_")) for k in data if k.startswith("mask_")]
    styles = [ChannelStyle("DAPI", "0000FF", 0, 900), ChannelStyle("GFP", "00FF00", 0, 700)]
    write_percell_region(
        data["image"], root, PercellRegion("c", "r1"), channels=styles,
        segmentation=LabelsSpec(data["cells"], "segmentation"), masks=masks,
    )
    """
)


@pytest.mark.parametrize(
    ("owner", "name", "calls", "when", "expected"),
    [
        ("journal", "atomic_write_json", 0, "before", "old"),
        ("journal", "complete_swap", 2, "before", "new"),
        ("store", "_exchange", 1, "after", "new"),
    ],
    ids=["before-journal", "after-2-swaps", "right-after-2nd-exchange"],
)
def test_a_real_sigkill_of_a_region_replacement(tmp_path, owner, name, calls, when, expected):
    root = tmp_path / "exp.percell"
    _write(root, OLD)
    image, cells, masks = NEW
    saved = tmp_path / "new.npz"
    np.savez(saved, image=image, cells=cells, **{f"mask_{k}": v for k, v in masks.items()})
    process = subprocess.run(
        [sys.executable, "-c", KILLER, str(root), str(saved), owner, name, str(calls), when],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert process.returncode == -signal.SIGKILL, process.stderr
    assert _which(_seen(root)) == expected
    if expected == "old":  # killed while staging: the stages are left for the next write
        assert [p for p in root.rglob("*") if STAGING_MARK in p.name]
        _write(root, NEW)
        assert not [p for p in root.rglob("*") if STAGING_MARK in p.name]
    else:
        _finish_and_check(root)


def _replacement_cut_short(tmp_path, monkeypatch):
    """An experiment whose replacement of region 1 was committed, then killed at once."""
    root = tmp_path / "exp.percell"
    _write(root, OLD)
    _kill_on_call(monkeypatch, percell_journal, "retire", 0)
    with pytest.raises(Killed):
        _write(root, NEW)
    monkeypatch.undo()
    return root


def test_a_journal_that_leaves_its_region_is_never_followed(tmp_path, monkeypatch):
    root = _replacement_cut_short(tmp_path, monkeypatch)
    [journal] = root.glob(f"{percell_journal.JOURNAL_PREFIX}*.json")
    document = json.loads(journal.read_text())
    document["swaps"][0]["stage"] = "../../../../elsewhere"
    journal.write_text(json.dumps(document))
    before = _files(root)
    assert _which(_seen(root)) == "old"  # the folders as they are, with a warning
    with pytest.raises(PercellFormatError, match="not a replacement journal"):
        _write(root, NEW)
    assert _files(root) == before


def test_a_staging_folder_swapped_for_a_link_outside_is_never_read(tmp_path, monkeypatch):
    root = _replacement_cut_short(tmp_path, monkeypatch)
    [stage] = (root / "labels.zarr" / "c").glob(f".r1{STAGING_MARK}*.partial")
    outside = tmp_path / "outside"
    os.rename(stage, outside)
    stage.symlink_to(outside, target_is_directory=True)
    assert _which(_seen(root)) == "old"  # the journal is not followed; the folders are shown
    _write(root, NEW)  # the unusable journal is dropped, and the region written anew
    assert _which(_seen(root)) == "new"
    assert outside.is_dir() and not list(root.glob(f"{percell_journal.JOURNAL_PREFIX}*"))


def test_a_replacement_by_a_live_process_is_not_taken_over(tmp_path, monkeypatch):
    root = _replacement_cut_short(tmp_path, monkeypatch)
    [journal] = root.glob(f"{percell_journal.JOURNAL_PREFIX}*.json")
    document = json.loads(journal.read_text())
    document["pid"] = os.getppid()  # alive: pytest's parent
    journal.write_text(json.dumps(document))
    with pytest.raises(WriteFailedError, match=r"being saved by another program.*Wait"):
        _write(root, OLD)
    _write(root, _version(3, ["GFP"]), PercellRegion("c", "r2"))  # other regions go on
    assert journal.is_file() and _which(_seen(root / "images.zarr" / "c" / "r1")) == "new"

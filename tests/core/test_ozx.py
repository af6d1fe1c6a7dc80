"""Zipped OME-Zarr (.ozx, NGFF RFC-9): the zips we pack, their staged replacement, and peers.

`ngff_zarr_ozx` writes a reference .ozx with ngff-zarr, for the reader tests.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaozarrs
import zarr
from yaozarrs._storage import StorageValidationError
from zarr.storage import ZipStore

from napari_omezarr_export import (
    InvalidOptionError,
    LabelsSpec,
    PyramidOptions,
    StorageOptions,
    StoreFormatError,
    TargetExistsError,
    WriteFailedError,
    write_image,
)
from napari_omezarr_export.core.write import ozx
from napari_omezarr_export.core.write.ozx import (
    check_zip_version,
    is_zipped_store,
    staged_zip,
    zip_store,
)
from napari_omezarr_export.core.write.staging import STAGING_MARK
from validation import assert_valid_store

V05 = StorageOptions(ngff_version="0.5", chunks=(1, 32, 32))
COMMENT = {"ome": {"version": "0.5", "zipFile": {"centralDirectory": {"jsonFirst": True}}}}
DEAD_PID = 2**22 + 12345  # no such process


def ozx_sample_data() -> np.ndarray:
    """The (c, y, x) uint16 image `ngff_zarr_ozx` writes by default."""
    return (np.arange(2 * 96 * 128, dtype=np.uint32) % 4099).astype(np.uint16).reshape(2, 96, 128)


def ngff_zarr_ozx(path: Path, data: np.ndarray | None = None) -> Path:
    """Write ``data`` (c, y, x; `ozx_sample_data` by default) as an NGFF 0.5 .ozx with ngff-zarr.

    Two levels (the second halves y and x). Returns ``path``.
    """
    import ngff_zarr

    data = ozx_sample_data() if data is None else data
    image = ngff_zarr.to_ngff_image(data, dims=("c", "y", "x"), name="sample")
    multiscales = ngff_zarr.to_multiscales(image, scale_factors=[2])
    ngff_zarr.to_ngff_zarr(str(path), multiscales, version="0.5")
    return Path(path)


# -- helpers --------------------------------------------------------------------------------------


def _image(rng, shape=(2, 96, 128)):
    return rng.integers(0, 4000, size=shape, dtype=np.uint16)


def _folder_store(tmp_path, rng, name="src.ome.zarr", image=None, storage=V05):
    """A store our writer wrote into a folder: an image, a pyramid, and two label images."""
    image = _image(rng) if image is None else image
    labels = np.zeros(image.shape[1:], np.int32)
    labels[10:50, 20:90] = 3
    [path] = write_image(
        image, tmp_path / name, axes="cyx", storage=storage,
        pyramid=PyramidOptions(levels=3),
        labels=[LabelsSpec(labels, "cells"), LabelsSpec(labels * 2, "nuclei")],
    )  # fmt: skip
    return path


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def _arrays(group) -> dict[str, np.ndarray]:
    """Every array below a zarr group, by path."""
    found = {}
    for name, array in group.arrays():
        found[name] = array[...]
    for name, child in group.groups():
        found.update({f"{name}/{key}": value for key, value in _arrays(child).items()})
    return found


def _local_extra_ids(path: Path, info: zipfile.ZipInfo) -> set[int]:
    """The ids of the extra fields in an entry's local header (0x0001 is ZIP64)."""
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        header = handle.read(30)
        assert header[:4] == b"PK\x03\x04"
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        handle.seek(name_length, os.SEEK_CUR)
        extra = handle.read(extra_length)
    ids, at = set(), 0
    while at + 4 <= len(extra):
        field, size = struct.unpack("<HH", extra[at : at + 4])
        ids.add(field)
        at += 4 + size
    return ids


def _zip64_end_records(path: Path) -> tuple[int, int]:
    """(entries, central directory offset) from the ZIP64 end record that the locator points to."""
    data = path.read_bytes()
    end = data.rindex(b"PK\x05\x06")
    locator = data[end - 20 : end]
    assert locator[:4] == b"PK\x06\x07", "no ZIP64 end-of-central-directory locator"
    (record_at,) = struct.unpack("<Q", locator[8:16])
    record = data[record_at : record_at + 56]
    assert record[:4] == b"PK\x06\x06"
    entries, _, offset = struct.unpack("<QQQ", record[32:56])
    return entries, offset


def _parent_json(name: str) -> str:
    parent = name.rsplit("/", 2)
    return "zarr.json" if len(parent) < 3 else f"{parent[0]}/zarr.json"


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- zip_store: what RFC-9 asks of the zip --------------------------------------------------------


@pytest.fixture
def packed(tmp_path, rng):
    folder = _folder_store(tmp_path, rng)
    path = tmp_path / "packed.ozx"
    zip_store(folder, path, version="0.5")
    return folder, path


def test_entries_are_stored_uncompressed_with_zip64(packed):
    _, path = packed
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        assert zf.testzip() is None  # every CRC checks out
    assert all(info.compress_type == zipfile.ZIP_STORED for info in infos)
    assert all(info.compress_size == info.file_size for info in infos)
    assert all(info.extract_version >= 45 for info in infos)  # 4.5: ZIP64
    assert all(0x0001 in _local_extra_ids(path, info) for info in infos)
    entries, directory_offset = _zip64_end_records(path)
    assert entries == len(infos)
    assert directory_offset > max(info.header_offset for info in infos)


def test_root_metadata_first_then_every_zarr_json_breadth_first(packed):
    folder, path = packed
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    names = [info.filename for info in infos]
    # the central directory lists the entries in the order they lie in the file
    assert [info.header_offset for info in infos] == sorted(info.header_offset for info in infos)
    assert names[0] == "zarr.json"
    metadata = [n for n in names if n.endswith("zarr.json")]
    assert names[: len(metadata)] == metadata  # all zarr.json before any chunk
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("zarr.json")}
    assert set(metadata) == on_disk and len(metadata) == len(on_disk)
    assert {"labels/cells/2/zarr.json", "labels/nuclei/zarr.json"} <= set(metadata)
    # breadth-first: depth never decreases, and within a depth parents keep their order
    depths = [n.count("/") for n in metadata]
    assert depths == sorted(depths)
    parents = [metadata.index(_parent_json(n)) for n in metadata[1:]]
    assert parents == sorted(parents)
    assert metadata[1:4] == ["0/zarr.json", "1/zarr.json", "2/zarr.json"]


def test_the_comment_names_the_version_and_json_first(packed):
    _, path = packed
    with zipfile.ZipFile(path) as zf:
        assert json.loads(zf.comment.decode("utf-8")) == COMMENT


def test_the_zip_holds_the_folder_byte_for_byte_and_zarr_reads_the_same_arrays(packed):
    folder, path = packed
    with zipfile.ZipFile(path) as zf:
        assert {name: zf.read(name) for name in zf.namelist()} == _files(folder)
    store = ZipStore(path, mode="r", read_only=True)
    try:
        zipped = _arrays(zarr.open_group(store, mode="r"))
    finally:
        store.close()
    on_disk = _arrays(zarr.open_group(folder, mode="r"))
    assert sorted(zipped) == sorted(on_disk)
    assert len(zipped) == 9  # 3 levels of the image and of each label image
    for name, values in on_disk.items():
        assert zipped[name].dtype == values.dtype
        np.testing.assert_array_equal(zipped[name], values)


def test_yaozarrs_validates_the_zip_and_catches_a_broken_one(tmp_path, rng):
    [folder] = write_image(
        _image(rng), tmp_path / "plain.ome.zarr", storage=V05, pyramid=PyramidOptions(levels=2)
    )
    zip_store(folder, tmp_path / "plain.ozx", version="0.5")
    yaozarrs.validate_zarr_store(f"zip::{tmp_path / 'plain.ozx'}")
    shutil.rmtree(folder / "1")  # a level the multiscales lists
    zip_store(folder, tmp_path / "broken.ozx", version="0.5")
    with pytest.raises(StorageValidationError, match="Dataset path '1' not found"):
        yaozarrs.validate_zarr_store(f"zip::{tmp_path / 'broken.ozx'}")


def test_the_unzipped_content_of_a_labelled_image_is_valid(packed, tmp_path):
    _, path = packed
    unpacked = tmp_path / "unpacked.ome.zarr"
    with zipfile.ZipFile(path) as zf:
        zf.extractall(unpacked)
    assert assert_valid_store(unpacked) == 4  # the image, the labels group, two label images


@pytest.mark.xfail(
    strict=True,
    reason="yaozarrs resolves image-label.source '../../' to './', which fsspec's zip file "
    "system does not find (the unzipped store is valid, see above)",
)
def test_yaozarrs_validates_a_zipped_labelled_image(packed):
    _, path = packed
    yaozarrs.validate_zarr_store(f"zip::{path}")


def test_ngff_zarr_reads_our_zip_with_equal_values(packed):
    import ngff_zarr

    folder, path = packed
    multiscales = ngff_zarr.from_ngff_zarr(str(path))
    assert len(multiscales.images) == 3
    for level, image in enumerate(multiscales.images):
        expected = zarr.open_array(folder / str(level), mode="r")[...]
        np.testing.assert_array_equal(np.asarray(image.data), expected)
    assert ngff_zarr.read_ozx_version(path) == "0.5"
    assert ngff_zarr.read_ozx_json_first(path) is True


def test_sharded_arrays_zip_and_read_back(tmp_path, rng):
    storage = StorageOptions(ngff_version="0.5", chunks=(1, 16, 16), shards=(1, 64, 64))
    image = _image(rng)
    [folder] = write_image(image, tmp_path / "sharded.ome.zarr", storage=storage)
    path = tmp_path / "sharded.ozx"
    zip_store(folder, path, version="0.5")
    store = ZipStore(path, mode="r", read_only=True)
    try:
        np.testing.assert_array_equal(zarr.open_array(store, path="0", mode="r")[...], image)
    finally:
        store.close()


def test_ngff_0_4_cannot_be_zipped(tmp_path, rng):
    check_zip_version("0.5")
    check_zip_version("0.6")
    for version in ("0.4", "0.3", "latest"):
        with pytest.raises(InvalidOptionError, match=r"zarr v3.*Choose NGFF version 0.5"):
            check_zip_version(version)
    folder = _folder_store(tmp_path, rng, storage=StorageOptions(ngff_version="0.4"))
    with pytest.raises(InvalidOptionError, match=r"NGFF 0\.4"):
        zip_store(folder, tmp_path / "v2.ozx", version="0.4")
    with pytest.raises(StoreFormatError, match=r"no zarr\.json at its root"):
        zip_store(folder, tmp_path / "v2.ozx", version="0.5")
    assert not (tmp_path / "v2.ozx").exists()


def test_a_zip_inside_the_store_is_refused(tmp_path, rng):
    folder = _folder_store(tmp_path, rng)
    (folder / "labels" / "extra.ozx").write_bytes(b"PK")
    with pytest.raises(InvalidOptionError, match=r"labels/extra.ozx.*RFC-9 forbids"):
        zip_store(folder, tmp_path / "nested.ozx", version="0.5")
    assert not (tmp_path / "nested.ozx").exists()


# -- staged_zip: written once, renamed into place -------------------------------------------------


def _stage_copy(stage: Path, source: Path) -> None:
    shutil.copytree(source, stage, dirs_exist_ok=True)


def _level0(path: Path, level: str = "0") -> np.ndarray:
    store = ZipStore(path, mode="r", read_only=True)
    try:
        return zarr.open_array(store, path=level, mode="r")[...]
    finally:
        store.close()


@pytest.fixture
def sources(tmp_path, rng):
    """Two folder stores with different images, in their own folder; and an empty folder."""
    made = tmp_path / "sources"
    made.mkdir()
    images = [_image(rng), _image(rng)]
    folders = [
        _folder_store(made, rng, name=f"s{i}.ome.zarr", image=im) for i, im in enumerate(images)
    ]
    out = tmp_path / "out"
    out.mkdir()
    return folders, images, out


def test_staged_zip_writes_then_replaces(sources):
    (first, second), (image1, image2), out = sources
    target = out / "x.ozx"
    with staged_zip(target, ngff_version="0.5") as stage:
        assert stage.is_dir() and not any(stage.iterdir())
        assert not target.exists()
        _stage_copy(stage, first)
    assert _listing(out) == ["x.ozx"]
    np.testing.assert_array_equal(_level0(target), image1)
    with staged_zip(target) as stage:
        _stage_copy(stage, second)
        with zipfile.ZipFile(target) as zf:  # the old zip stays whole until the rename
            assert zf.testzip() is None
    assert _listing(out) == ["x.ozx"]
    np.testing.assert_array_equal(_level0(target), image2)
    with zipfile.ZipFile(target) as zf:
        assert zf.namelist()[0] == "zarr.json"
        assert json.loads(zf.comment) == COMMENT


def test_a_failure_in_the_block_keeps_the_old_zip_and_leaves_nothing(sources):
    (first, second), _, out = sources
    target = out / "x.ozx"
    with staged_zip(target) as stage:
        _stage_copy(stage, first)
    old = target.read_bytes()
    with pytest.raises(RuntimeError, match="boom"), staged_zip(target) as stage:
        _stage_copy(stage, second)
        raise RuntimeError("boom")
    assert target.read_bytes() == old
    assert _listing(out) == ["x.ozx"]


def test_a_full_disk_while_zipping_keeps_the_old_zip(sources, monkeypatch):
    (first, second), _, out = sources
    target = out / "x.ozx"
    with staged_zip(target) as stage:
        _stage_copy(stage, first)
    old = target.read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ozx.shutil, "copyfileobj", full_disk)
    with pytest.raises(WriteFailedError, match=r"previous store there is intact.*disk is full"):
        with staged_zip(target) as stage:
            _stage_copy(stage, second)
    assert target.read_bytes() == old
    assert _listing(out) == ["x.ozx"]


def test_a_staged_0_4_store_is_refused_and_0_4_is_refused_before_anything(sources, tmp_path, rng):
    (first, _), _, out = sources
    target = out / "x.ozx"
    with staged_zip(target) as stage:
        _stage_copy(stage, first)
    old = target.read_bytes()
    v2 = _folder_store(tmp_path, rng, name="v2.ome.zarr", storage=StorageOptions("0.4"))
    with pytest.raises(InvalidOptionError, match=r"NGFF 0\.4"), staged_zip(target) as stage:
        _stage_copy(stage, v2)
    assert target.read_bytes() == old
    assert _listing(out) == ["x.ozx"]
    fresh = out / "fresh" / "y.ozx"
    with pytest.raises(InvalidOptionError, match=r"NGFF 0\.4"):
        with staged_zip(fresh, ngff_version="0.4"):
            pytest.fail("the block must not run")
    assert _listing(out) == ["x.ozx"]  # not even the parent folder was made


def test_cancelling_a_generator_inside_the_block_keeps_the_old_zip(sources):
    (first, second), _, out = sources
    target = out / "x.ozx"
    with staged_zip(target) as stage:
        _stage_copy(stage, first)
    old = target.read_bytes()

    def writer():
        with staged_zip(target) as stage:
            _stage_copy(stage, second)
            yield stage
            yield stage

    steps = writer()
    stage = next(steps)
    staging = [n for n in _listing(out) if n != "x.ozx"]
    assert len(staging) == 1 and staging[0].startswith(f".x.ozx{STAGING_MARK}{os.getpid()}-")
    assert stage.parent == out / staging[0]
    steps.close()
    assert target.read_bytes() == old
    assert _listing(out) == ["x.ozx"]


def test_targets_that_are_not_zipped_stores_are_refused_untouched(tmp_path, sources):
    (first, _), _, out = sources
    text = out / "notes.ozx"
    text.write_text("not a zip")
    folder = out / "folder.ozx"
    folder.mkdir()
    (folder / "keep.txt").write_text("keep")
    other_zip = out / "other.ozx"
    with zipfile.ZipFile(other_zip, "w") as zf:
        zf.writestr("readme.txt", "a zip, but not a zarr store")
        zf.writestr("inner/zarr.json", "{}")
    zarr_zip = out / "store.zip"  # a zipped store, but not named .ozx
    zip_store(first, zarr_zip, version="0.5")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    for target, kind in [
        (text, "a file that is not a zipped zarr store (.ozx)"),
        (folder, "a folder"),
        (other_zip, "a file that is not a zipped zarr store (.ozx)"),
        (zarr_zip, "a file that is not a zipped zarr store (.ozx)"),
    ]:
        with pytest.raises(TargetExistsError, match=re.escape(f"is {kind}; it was left")):
            with staged_zip(target):
                pytest.fail("the block must not run")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert _listing(out) == ["folder.ozx", "notes.ozx", "other.ozx", "store.zip"]
    assert is_zipped_store(zarr_zip) and not is_zipped_store(other_zip)
    assert not is_zipped_store(text) and not is_zipped_store(folder)


def test_leftovers_of_a_dead_writer_are_removed(sources):
    (first, _), _, out = sources
    target = out / "x.ozx"
    leftover = out / f".x.ozx{STAGING_MARK}{DEAD_PID}-abcd1234.partial"
    (leftover / "store").mkdir(parents=True)
    (leftover / "packed.ozx").write_bytes(b"PK half written")
    with staged_zip(target) as stage:
        _stage_copy(stage, first)
    assert _listing(out) == ["x.ozx"]


# -- the reference .ozx that ngff-zarr writes -----------------------------------------------------


def test_ngff_zarr_ozx_writes_a_zipped_store_with_the_sample(tmp_path):
    path = ngff_zarr_ozx(tmp_path / "ngff_zarr.ozx")
    assert _listing(tmp_path) == ["ngff_zarr.ozx"] and is_zipped_store(path)
    with zipfile.ZipFile(path) as zf:
        root = json.loads(zf.read("zarr.json"))
        assert json.loads(zf.comment)["ome"]["version"] == "0.5"
    datasets = root["attributes"]["ome"]["multiscales"][0]["datasets"]
    assert len(datasets) == 2
    store = ZipStore(path, mode="r", read_only=True)
    try:
        level0 = zarr.open_array(store, path=datasets[0]["path"], mode="r")[...]
    finally:
        store.close()
    np.testing.assert_array_equal(level0, ozx_sample_data())


# -- the public API ----------------------------------------------------------------------------


def test_write_image_to_an_ozx_makes_one_file_that_ngff_zarr_reads(tmp_path, rng):
    import ngff_zarr

    image = _image(rng)
    [path] = write_image(image, tmp_path / "x.ozx", storage=V05, pyramid=PyramidOptions(levels=2))
    assert path == tmp_path / "x.ozx" and path.is_file()
    assert _listing(tmp_path) == ["x.ozx"]
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist()[0] == "zarr.json"
        assert json.loads(zf.comment) == COMMENT
    multiscales = ngff_zarr.from_ngff_zarr(str(path))
    assert len(multiscales.images) == 2
    np.testing.assert_array_equal(np.asarray(multiscales.images[0].data), image)
    np.testing.assert_array_equal(np.asarray(multiscales.images[1].data), _level0(path, "1"))


def test_write_image_refuses_ngff_0_4_as_ozx_before_writing(tmp_path, rng):
    with pytest.raises(InvalidOptionError, match=r"NGFF 0\.4"):
        write_image(_image(rng), tmp_path / "new" / "y.ozx")
    assert _listing(tmp_path) == []

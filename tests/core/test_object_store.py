"""Writing to an object store (moto's S3 on 127.0.0.1): staged locally, uploaded metadata last.

Every test gets its own bucket. What reaches the server is recorded by wrapping s3fs's
per-object calls (put, pipe, delete), so the tests can check the order in which keys land.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import s3fs
from ome_zarr.io import parse_url
from ome_zarr.reader import Label, Multiscales, Reader

from napari_omezarr_export import (
    ChannelStyle,
    LabelsSpec,
    PyramidOptions,
    StorageOptions,
    TargetExistsError,
    WriteFailedError,
    iter_write_image,
    preview_labels,
    read,
    write_image,
    write_labels,
)
from napari_omezarr_export.core.write import object_store, upload_stream
from validation import assert_valid_store

META = {".zarray", ".zgroup", ".zattrs", "zarr.json"}
CHANNELS = [ChannelStyle("DAPI", "0000FF"), ChannelStyle("GFP", "00FF00")]


@pytest.fixture
def bucket(s3_env):
    """A new, empty bucket: ``s3://<name>``."""
    return s3_env.make_bucket(f"t{uuid.uuid4().hex[:16]}")


@pytest.fixture(autouse=True)
def local_tmp(tmp_path, monkeypatch):
    """The system's temporary folder, for the staging folders: checked empty at the end."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    assert list(folder.iterdir()) == [], "a staging folder was left behind"


class Recorder:
    """What reached the server, in order: ("put", key) and ("delete", key)."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []
        self.fail_put_after: int | None = None
        self.fail_deletes = False
        self.on_put = None

    def keys(self, op: str, prefix: str) -> list[str]:
        stem = prefix.rstrip("/") + "/"
        return [k[len(stem) :] for o, k in self.log if o == op and k.startswith(stem)]

    def clear(self) -> None:
        self.log.clear()


@pytest.fixture
def recorder(monkeypatch):
    rec = Recorder()
    put_file, pipe_file = s3fs.S3FileSystem._put_file, s3fs.S3FileSystem._pipe_file
    bulk_delete, rm_file = s3fs.S3FileSystem._bulk_delete, s3fs.S3FileSystem._rm_file

    def _put(path):
        puts = sum(op == "put" for op, _ in rec.log)
        if rec.fail_put_after is not None and puts >= rec.fail_put_after:
            raise OSError(f"injected: the server stopped answering at {path}")
        rec.log.append(("put", path))
        if rec.on_put is not None:
            rec.on_put(puts + 1)

    async def put(self, lpath, rpath, *args, **kwargs):
        _put(self._strip_protocol(rpath))
        return await put_file(self, lpath, rpath, *args, **kwargs)

    async def pipe(self, path, data, *args, **kwargs):
        _put(self._strip_protocol(path))
        return await pipe_file(self, path, data, *args, **kwargs)

    async def delete(self, pathlist, *args, **kwargs):
        if rec.fail_deletes:
            raise OSError("injected: deletes refused")
        rec.log.extend(("delete", self._strip_protocol(p)) for p in pathlist)
        return await bulk_delete(self, pathlist, *args, **kwargs)

    async def delete_one(self, path, *args, **kwargs):
        if rec.fail_deletes:
            raise OSError("injected: deletes refused")
        rec.log.append(("delete", self._strip_protocol(path)))
        return await rm_file(self, path, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_put_file", put)
    monkeypatch.setattr(s3fs.S3FileSystem, "_pipe_file", pipe)
    monkeypatch.setattr(s3fs.S3FileSystem, "_bulk_delete", delete)
    monkeypatch.setattr(s3fs.S3FileSystem, "_rm_file", delete_one)
    return rec


# -- helpers ----------------------------------------------------------------------------------


def _bucket_and_key(url: str) -> tuple[str, str]:
    name, _, key = url.removeprefix("s3://").partition("/")
    return name, key


def _objects(server, url: str) -> dict[str, tuple[str, bytes]]:
    """Every object under ``url``: relative key -> (ETag, content)."""
    name, key = _bucket_and_key(url)
    client = server.client()
    found = {}
    for k in server.keys(name, key + "/"):
        body = client.get_object(Bucket=name, Key=k)
        found[k[len(key) + 1 :]] = (body["ETag"], body["Body"].read())
    return found


def _download(server, url: str, to: Path) -> Path:
    for rel, (_, content) in _objects(server, url).items():
        (to / rel).parent.mkdir(parents=True, exist_ok=True)
        (to / rel).write_bytes(content)
    return to


def _root_attrs(server, url: str) -> dict:
    """The root group's attributes (OME ones unwrapped), {} when there is no root document."""
    objects = _objects(server, url)
    if "zarr.json" in objects:
        attrs = json.loads(objects["zarr.json"][1]).get("attributes", {})
        return {**attrs, **attrs.get("ome", {})}
    if ".zattrs" in objects:
        return json.loads(objects[".zattrs"][1])
    return {}


def _image(rng, shape=(2, 96, 128)):
    return rng.integers(0, 4000, size=shape, dtype=np.uint16)


def _segmentation(shape=(96, 128), seed=0):
    seg = np.zeros(shape, np.int32)
    seg[10 + seed : 40, 20:60] = 3 + seed
    seg[50:90, 70 + seed : 120] = 8
    return seg


def _storage(version, chunks=(1, 32, 32)):
    return StorageOptions(ngff_version=version, chunks=chunks)


def _kind(key: str, arrays: set[str]) -> str:
    folder, _, name = key.rpartition("/")
    if name not in META:
        return "chunk"
    return "array" if folder in arrays else "group"


def _level_folders(keys) -> set[str]:
    return {k.rpartition("/")[0] for k in keys if k.endswith((".zarray", "zarr.json"))}


# -- a new store ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_an_image_written_to_s3_is_valid_and_reads_the_same(
    s3_env, bucket, recorder, tmp_path, rng, version
):
    image, seg = _image(rng), _segmentation()
    url = f"{bucket}/run 1/img"
    [written] = write_image(
        image, url, channels=CHANNELS, scale=(1, 0.5, 0.5),
        labels=[LabelsSpec(seg, "cells")], storage=_storage(version),
        pyramid=PyramidOptions(levels=2),
    )  # fmt: skip
    assert str(written) == f"{url}.ome.zarr"
    local = _download(s3_env, str(written), tmp_path / "copy.ome.zarr")
    assert assert_valid_store(local) == 3  # the image, the labels group, the label image
    nodes = list(Reader(parse_url(str(local)))())
    multiscale = next(n for n in nodes if n.load(Multiscales) and not n.load(Label))
    np.testing.assert_array_equal(np.asarray(multiscale.data[0]), image)
    assert len(multiscale.data) == 2
    assert multiscale.metadata["channel_names"] == ["DAPI", "GFP"]
    label = next(n for n in nodes if n.load(Label))
    np.testing.assert_array_equal(np.asarray(label.data[0]), seg)
    # our reader, straight from S3
    specs = read(str(written))
    np.testing.assert_array_equal(np.asarray(specs[0].data[0]), image[0])
    np.testing.assert_array_equal(np.asarray(specs[-1].data[0]), seg)
    # nothing but the store's own keys were written, each once
    puts = recorder.keys("put", str(written).removeprefix("s3://"))
    assert sorted(set(puts) - {".zattrs", "zarr.json", ".zgroup"}) == sorted(
        set(_objects(s3_env, str(written))) - {".zattrs", "zarr.json", ".zgroup"}
    )


def test_napari_ome_zarr_opens_what_we_upload_straight_from_s3(s3_env, bucket, rng):
    from napari_ome_zarr import napari_get_reader

    image, seg = _image(rng), _segmentation()
    [written] = write_image(
        image, f"{bucket}/img.ome.zarr", channels=CHANNELS,
        labels=[LabelsSpec(seg, "cells")], storage=_storage("0.4"),
    )  # fmt: skip
    layers = napari_get_reader(str(written))(str(written))
    images = [layer for layer in layers if layer[2] == "image"]
    np.testing.assert_array_equal(np.asarray(images[0][0][0]), image)
    labels = [layer for layer in layers if layer[2] == "labels"]
    np.testing.assert_array_equal(np.asarray(labels[0][0][0]), seg)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_keys_land_data_first_then_array_metadata_then_groups_root_last(
    s3_env, bucket, recorder, rng, version
):
    [written] = write_image(
        _image(rng), f"{bucket}/img.ome.zarr", labels=[LabelsSpec(_segmentation(), "cells")],
        storage=_storage(version), pyramid=PyramidOptions(levels=2),
    )  # fmt: skip
    puts = recorder.keys("put", str(written).removeprefix("s3://"))
    root_docs = ["zarr.json"] if version == "0.5" else [".zgroup", ".zattrs"]
    # the first requests mark the root as a write in progress; the last ones make it an image
    assert sorted(puts[: len(root_docs)]) == sorted(root_docs)
    assert puts[-len(root_docs) :] == root_docs
    body = puts[len(root_docs) :]
    arrays = _level_folders(k for k in body if k.endswith((".zarray", "zarr.json")))
    arrays = {a for a in arrays if a.rpartition("/")[2].isdigit()}
    kinds = [_kind(k, arrays) for k in body]
    assert kinds.count("chunk") > 10
    first_array, first_group = kinds.index("array"), kinds.index("group")
    assert set(kinds[:first_array]) == {"chunk"}, "a chunk came after array metadata"
    assert set(kinds[first_array:first_group]) == {"array"}
    assert set(kinds[first_group:]) == {"group"}, "array metadata came after a group's"
    groups = [k.rpartition("/")[0] for k in body[first_group:]]
    depths = [g.count("/") + 1 if g else 0 for g in groups]
    assert depths == sorted(depths, reverse=True)  # labels/cells, labels, then the root
    assert groups[-1] == "" and groups[0] == "labels/cells"
    assert _root_attrs(s3_env, str(written))["multiscales"]
    assert object_store.INCOMPLETE_MARK not in _root_attrs(s3_env, str(written))


def test_progress_counts_every_chunk_encoded_then_uploaded(s3_env, bucket, rng, monkeypatch):
    monkeypatch.setattr(object_store, "_UPLOAD_BATCH", 5)
    steps = list(iter_write_image(_image(rng), f"{bucket}/img", storage=_storage("0.5")))
    totals = {total for _, total in steps}
    [total] = totals
    done = [d for d, _ in steps]
    assert done == sorted(done) and steps[-1] == (total, total)
    assert total == 2 * 24  # 2 channels x 3 x 4 chunks, each encoded and uploaded
    assert any(total // 2 < d < total for d in done), "no progress during the upload"


def test_storage_options_reach_the_store_without_the_environment(s3_env, bucket, rng, monkeypatch):
    env = s3_env.env()
    for name in env:
        monkeypatch.delenv(name, raising=False)
    options = {
        "endpoint_url": s3_env.endpoint_url,
        "key": env["AWS_ACCESS_KEY_ID"],
        "secret": env["AWS_SECRET_ACCESS_KEY"],
    }
    image = _image(rng)
    [written] = write_image(image, f"{bucket}/img", storage_options=options)
    assert written.storage_options["endpoint_url"] == s3_env.endpoint_url
    assert _root_attrs(s3_env, str(written))["multiscales"]


def test_a_missing_bucket_is_reported_before_anything_is_encoded(s3_env, recorder, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the image was encoded although the bucket does not exist")

    monkeypatch.setattr("napari_omezarr_export.core.write.store_writer.iter_fill_stage", never)
    with pytest.raises(WriteFailedError, match=r"Could not look at s3://no-such-bucket-here/x"
                       r"\.ome\.zarr before writing .*bucket does not exist.*Nothing was written"
                       r"\. Check that the bucket exists"):  # fmt: skip
        write_image(np.ones((2, 32, 32), np.uint16), "s3://no-such-bucket-here/x")
    assert recorder.log == []


# -- replacing what is there ------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new"), [("0.4", "0.4"), ("0.5", "0.5"), ("0.4", "0.5"),
                                          ("0.5", "0.4")])  # fmt: skip
def test_a_store_is_replaced_withdrawn_first_and_its_stale_keys_removed(
    s3_env, bucket, recorder, tmp_path, rng, old, new
):
    url = f"{bucket}/img.ome.zarr"
    big = _image(rng, (2, 200, 256))
    write_image(
        big, url, labels=[LabelsSpec(_segmentation((200, 256)), "cells"),
                          LabelsSpec(_segmentation((200, 256), 2), "nuclei")],
        storage=_storage(old, (1, 32, 32)), pyramid=PyramidOptions(levels=3),
    )  # fmt: skip
    recorder.clear()
    small = np.zeros((2, 96, 128), np.uint16)
    small[:, :40, :40] = 7  # most chunks hold zeros: zarr writes no object for them
    write_image(small, url, storage=_storage(new, (1, 64, 64)), pyramid=PyramidOptions(levels=1))
    prefix = url.removeprefix("s3://") + "/"
    log = [(op, k[len(prefix) :]) for op, k in recorder.log if k.startswith(prefix)]
    first_chunk = next(i for i, (op, k) in enumerate(log) if op == "put" and k.startswith("0/"))
    withdrawn = [k for op, k in log[:first_chunk]]
    root_docs = {"zarr.json"} if new == "0.5" else {".zgroup", ".zattrs"}
    assert root_docs <= set(withdrawn[:3]), "the root was not withdrawn first"
    assert {"labels/cells/.zattrs", "labels/cells/zarr.json"} & set(withdrawn)
    # what is left is exactly the new store: every old key it does not overwrite is gone
    objects = _objects(s3_env, url)
    assert not [k for k in objects if k.startswith(("labels", "1/", "2/"))]
    local = _download(s3_env, url, tmp_path / "copy.ome.zarr")
    assert_valid_store(local)
    nodes = list(Reader(parse_url(str(local)))())
    np.testing.assert_array_equal(np.asarray(nodes[0].data[0]), small)
    assert len(nodes[0].data) == 1
    # the deletes came before any metadata of the new store
    first_delete = next(i for i, (op, _) in enumerate(log) if op == "delete")
    later_puts = [k for op, k in log[first_delete:] if op == "put"]
    assert later_puts and all(k.rpartition("/")[2] in META for k in later_puts)


def _plate(s3_env, bucket, tmp_path, rng):
    from napari_omezarr_export import write_plate_field

    write_plate_field(_image(rng), tmp_path / "plate", well="A1", field=0)
    s3_env.upload_dir(tmp_path / "plate.ome.zarr", bucket.removeprefix("s3://"), "x.ome.zarr")


def _image_with_notes(s3_env, bucket, tmp_path, rng):
    write_image(_image(rng), tmp_path / "x.ome.zarr")
    (tmp_path / "x.ome.zarr" / "notes.txt").write_text("mine")
    s3_env.upload_dir(tmp_path / "x.ome.zarr", bucket.removeprefix("s3://"), "x.ome.zarr")


def _plain_array(s3_env, bucket, tmp_path, rng):
    import zarr

    zarr.create_array(tmp_path / "a", shape=(4, 4), chunks=(2, 2), dtype="u1")[:] = 1
    s3_env.upload_dir(tmp_path / "a", bucket.removeprefix("s3://"), "x.ome.zarr")


def _group_of_arrays(s3_env, bucket, tmp_path, rng):
    import zarr

    group = zarr.open_group(tmp_path / "g", mode="w")
    group.create_array("data", shape=(4, 4), chunks=(2, 2), dtype="u1")[:] = 1
    s3_env.upload_dir(tmp_path / "g", bucket.removeprefix("s3://"), "x.ome.zarr")


def _files(s3_env, bucket, tmp_path, rng):
    s3_env.client().put_object(Bucket=bucket[5:], Key="x.ome.zarr/report/summary.csv", Body=b"1")


def _one_object(s3_env, bucket, tmp_path, rng):
    s3_env.client().put_object(Bucket=bucket[5:], Key="x.ome.zarr", Body=b"a file")


REFUSED = {
    "plate": (_plate, "collection \\(plate\\)"),
    "image-with-notes": (_image_with_notes, "not zarr data \\('notes.txt'\\)"),
    "plain-array": (_plain_array, "a zarr array"),
    "group-of-arrays": (_group_of_arrays, "a zarr group holding other zarr data"),
    "other-files": (_files, "not a zarr store"),
    "one-object": (_one_object, "an object \\(a file\\)"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_what_may_not_be_replaced_is_refused_and_left_untouched(
    s3_env, bucket, recorder, tmp_path, rng, case
):
    make, message = REFUSED[case]
    make(s3_env, bucket, tmp_path, rng)
    name = bucket.removeprefix("s3://")
    client = s3_env.client()
    before = {k: client.get_object(Bucket=name, Key=k)["Body"].read() for k in s3_env.keys(name)}
    recorder.clear()
    with pytest.raises(
        TargetExistsError, match=rf"x\.ome\.zarr already exists and is .*{message}"
    ):
        write_image(_image(rng), f"{bucket}/x.ome.zarr")
    after = {k: client.get_object(Bucket=name, Key=k)["Body"].read() for k in s3_env.keys(name)}
    assert after == before
    assert recorder.log == []


def test_a_folder_made_in_the_s3_console_is_an_empty_target_and_stays(
    s3_env, bucket, recorder, rng
):
    # The S3 console's "Create folder" makes an empty object named "folder/". Such a folder at
    # the target, or inside a store, holds nothing: it must not be taken for a file.
    name, client = bucket[5:], s3_env.client()
    for key in ("run/", "run/x.ome.zarr/", "run/y.ome.zarr/"):
        client.put_object(Bucket=name, Key=key, Body=b"")
    url = f"{bucket}/run/x.ome.zarr"
    first, second = _image(rng), _image(rng, (1, 64, 64))
    write_image(first, url, storage=_storage("0.5"))
    np.testing.assert_array_equal(np.asarray(read(url)[0].data[0]), first)
    assert _objects(s3_env, url)[""][1] == b""  # the user's folder is still there
    client.put_object(Bucket=name, Key="run/x.ome.zarr/labels/", Body=b"")  # one inside
    write_image(second, url, storage=_storage("0.4"))  # replaced, as any image of ours
    np.testing.assert_array_equal(np.asarray(read(url)[0].data[0]), second)
    left = set(_objects(s3_env, url))
    assert {"", "labels/"} <= left and not {"zarr.json", "0/zarr.json"} & left  # no v3 leftover
    # A write that fails mid-upload removes what it wrote, and leaves the folder as it was.
    recorder.clear()
    recorder.fail_put_after = 4
    with pytest.raises(WriteFailedError, match="nothing is left there"):
        write_image(_image(rng), f"{bucket}/run/y.ome.zarr", storage=_storage("0.5"))
    assert set(_objects(s3_env, f"{bucket}/run/y.ome.zarr")) == {""}
    assert sorted(k for k in s3_env.keys(name) if k.endswith("/")) == [
        "run/", "run/x.ome.zarr/", "run/x.ome.zarr/labels/", "run/y.ome.zarr/",
    ]  # fmt: skip


# -- a new store's chunks go up while it is encoded --------------------------------------------


def _staged_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` now (while other threads write and delete them)."""
    total = 0
    for path in folder.rglob("*"):
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            total += path.stat().st_size if path.is_file() else 0
    return total


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of 16 KiB."""
    monkeypatch.setattr(upload_stream, "STREAM_BYTES", 16 * 1024)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_new_store_streams_its_chunks_and_a_replaced_one_is_staged_whole(
    s3_env, bucket, recorder, local_tmp, rng, small_batches, version
):
    image = rng.integers(0, 65535, size=(2, 256, 512), dtype=np.uint16)  # 512 KiB, incompressible
    peak = [0]
    recorder.on_put = lambda _: peak.__setitem__(0, max(peak[0], _staged_bytes(local_tmp)))
    url = f"{bucket}/new.ome.zarr"
    write_image(image, url, storage=_storage(version), pyramid=PyramidOptions(levels=2))
    streamed_peak, peak[0] = peak[0], 0
    new = _objects(s3_env, url)
    stored = sum(len(content) for _, content in new.values())
    # The local disk held a batch in flight, one waiting and a band or two (16 KiB batches,
    # 32 KiB bands here: ~80 KiB), not the store; the store is whole and valid.
    assert stored > 600_000 and streamed_peak < stored // 4, (streamed_peak, stored)
    assert not any(k.endswith(".partial") for k in new)
    assert assert_valid_store(_download(s3_env, url, local_tmp.parent / "copy.zarr")) == 1
    np.testing.assert_array_equal(np.asarray(read(url)[0].data[0]), image)
    # Still metadata last: chunks, then the arrays' metadata, then the root's.
    puts = recorder.keys("put", url.removeprefix("s3://"))
    root_docs = ["zarr.json"] if version == "0.5" else [".zgroup", ".zattrs"]
    arrays = {"0", "1"}
    kinds = [_kind(k, arrays) for k in puts[len(root_docs) : -len(root_docs)]]
    assert kinds == sorted(kinds, key=["chunk", "array"].index) and puts[-1] == root_docs[-1]
    # Replacing a store: staged whole (a failure while encoding must leave the old one), and
    # the same bytes land.
    write_image(image, url, storage=_storage(version), pyramid=PyramidOptions(levels=2))
    assert peak[0] >= stored
    assert {k: c for k, (_, c) in _objects(s3_env, url).items()} == {
        k: c for k, (_, c) in new.items()
    }


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_labels_saved_into_an_s3_image_stream_in_the_image_format(
    s3_env, bucket, rng, small_batches, monkeypatch, version
):
    url = f"{bucket}/img.ome.zarr"
    write_image(_image(rng, (1, 192, 256)), url, storage=_storage(version))
    batches = []
    start = upload_stream.ChunkStream._start
    monkeypatch.setattr(
        upload_stream.ChunkStream,
        "_start",
        lambda self, keys: [batches.append(keys), start(self, keys)],
    )
    cells = rng.integers(1, 60000, size=(192, 256), dtype=np.uint16)  # incompressible
    write_labels(LabelsSpec(cells, "cells"), url)
    assert len(batches) >= 2  # streamed
    keys = {
        k.removeprefix("labels/cells/")
        for k in _objects(s3_env, url)
        if k.startswith("labels/cells/")
    }
    other_format = {".zgroup", ".zattrs", ".zarray"} if version == "0.5" else {"zarr.json"}
    assert not {k.rpartition("/")[2] for k in keys} & other_format
    np.testing.assert_array_equal(np.asarray(read(url)[-1].data[0]), cells)


def test_a_second_ctrl_c_still_waits_for_the_batch_in_flight(tmp_path, monkeypatch):
    import threading

    # The batch in flight must end before the clean-up lists the target, even when a second
    # Ctrl-C arrives while the first one's clean-up waits for it.
    release = threading.Event()

    def slow_send(upload, keys):
        release.wait(10)

    def second_ctrl_c_then_batch_end():
        os.kill(os.getpid(), signal.SIGINT)  # while the clean-up waits for the batch
        time.sleep(0.3)
        release.set()

    monkeypatch.setattr(upload_stream, "_send", slow_send)
    upload = object_store.StagedUpload(
        None, tmp_path, object_store.StoreListing()
    )  # no target: nothing here reaches one
    monkeypatch.setattr(upload, "begin", lambda fmt: None)
    stream = upload_stream.ChunkStream(upload, 2)
    with pytest.raises(KeyboardInterrupt), stream:
        stream._start([tmp_path / "c"])
        threading.Timer(0.2, second_ctrl_c_then_batch_end).start()
        raise KeyboardInterrupt  # the first Ctrl-C, during the write
    assert release.is_set()  # the stream waited for the batch


def test_a_retry_after_an_interrupted_write_streams_and_leaves_none_of_it(
    s3_env, bucket, rng, small_batches, monkeypatch
):
    url = f"{bucket}/img.ome.zarr"
    write_image(_image(rng), url, storage=_storage("0.4"))
    name, key = _bucket_and_key(url)
    client = s3_env.client()
    # What a write killed mid-upload leaves: the root marked incomplete, chunks, a stray one.
    marker = {object_store.INCOMPLETE_MARK: {"state": "incomplete write"}}
    client.put_object(Bucket=name, Key=f"{key}/.zattrs", Body=json.dumps(marker).encode())
    client.put_object(Bucket=name, Key=f"{key}/0/9/9/9", Body=b"junk")
    batches = []
    start = upload_stream.ChunkStream._start
    monkeypatch.setattr(
        upload_stream.ChunkStream, "_start", lambda self, p: [batches.append(p), start(self, p)]
    )
    image = rng.integers(0, 65535, size=(1, 256, 512), dtype=np.uint16)
    write_image(image, url, storage=_storage("0.5"))
    assert batches  # streamed, though the target was not empty
    keys = set(_objects(s3_env, url))
    assert not {".zattrs", ".zgroup", "0/.zarray", "0/9/9/9"} & keys  # nothing of the old
    np.testing.assert_array_equal(np.asarray(read(url)[0].data[0]), image)


def test_a_source_failing_after_chunks_went_up_raises_its_error_and_leaves_nothing(
    s3_env, bucket, recorder, rng, small_batches
):
    url = f"{bucket}/fresh.ome.zarr"
    image = da.from_array(rng.integers(0, 65535, (2, 96, 128), np.uint16), chunks=(1, 32, 32))
    with pytest.raises(_Boom):  # the source's own error, as when nothing was uploaded yet
        write_image(
            image.map_blocks(_failing_block, dtype=image.dtype), url, storage=_storage("0.4")
        )
    puts = recorder.keys("put", url.removeprefix("s3://"))
    assert len([k for k in puts if k.startswith("0/0/")]) >= 4  # chunks had gone up
    assert _objects(s3_env, url) == {}


@pytest.mark.parametrize("fail_after", [0, 10], ids=["marking-the-target", "a-batch"])
def test_an_upload_failing_while_encoding_says_so_and_leaves_nothing(
    s3_env, bucket, recorder, rng, small_batches, fail_after
):
    url = f"{bucket}/fresh.ome.zarr"
    image = rng.integers(0, 65535, size=(2, 256, 512), dtype=np.uint16)
    recorder.fail_put_after = fail_after
    with pytest.raises(WriteFailedError, match=r"while uploading it \(OSError: injected") as e:
        write_image(image, url, storage=_storage("0.5"))
    assert re.search(r"[Nn]othing (is|was) left there", str(e.value))
    assert _objects(s3_env, url) == {}


# -- failures and cancels ---------------------------------------------------------------------


class _Boom(RuntimeError):
    pass


def _failing_block(block, block_info=None):
    if block_info and block_info[0]["chunk-location"] == (1, 1, 2):
        raise _Boom("the source could not be read")
    return block


def _failing_image(rng):
    image = da.from_array(_image(rng), chunks=(1, 32, 32))
    return image.map_blocks(_failing_block, dtype=image.dtype)


def test_a_source_failing_while_encoding_leaves_nothing_new(s3_env, bucket, recorder, rng):
    fresh = f"{bucket}/fresh.ome.zarr"
    with pytest.raises(_Boom):
        write_image(_failing_image(rng), fresh, storage=_storage("0.5"))
    assert _objects(s3_env, fresh) == {}
    old = f"{bucket}/old.ome.zarr"
    write_image(_image(rng), old, storage=_storage("0.4"))
    before = _objects(s3_env, old)
    recorder.clear()
    with pytest.raises(_Boom):
        write_image(_failing_image(rng), old, storage=_storage("0.5"))
    assert _objects(s3_env, old) == before  # the old image, intact: nothing was uploaded
    assert recorder.log == []


@pytest.mark.parametrize("existing", [False, True])
def test_a_server_failing_mid_upload_leaves_nothing(s3_env, bucket, recorder, rng, existing):
    url = f"{bucket}/img.ome.zarr"
    if existing:
        write_image(_image(rng), url, labels=[LabelsSpec(_segmentation(), "cells")])
    recorder.clear()
    recorder.fail_put_after = 8
    with pytest.raises(WriteFailedError, match=r"while uploading it \(OSError: injected.*") as e:
        write_image(_image(rng, (2, 128, 128)), url, storage=_storage("0.5"))
    message = str(e.value)
    assert ("withdrawn" in message) == existing and "nothing is left there" in message
    assert _objects(s3_env, url) == {}


def test_when_the_clean_up_fails_too_no_image_is_left_and_the_next_write_replaces_it(
    s3_env, bucket, recorder, tmp_path, rng
):
    url = f"{bucket}/img.ome.zarr"
    write_image(_image(rng), url, labels=[LabelsSpec(_segmentation(), "cells")])
    recorder.fail_put_after, recorder.fail_deletes = 20, True
    with pytest.raises(WriteFailedError, match=r"could not be removed; it is not a valid image"):
        write_image(_image(rng, (2, 128, 128)), url, storage=_storage("0.5"))
    left = _objects(s3_env, url)
    assert left, "the failing deletes should have left something"
    assert not {"multiscales", "labels", "image-label"} & set(_root_attrs(s3_env, url))
    assert object_store.INCOMPLETE_MARK in _root_attrs(s3_env, url)
    for key, (_, content) in left.items():  # no group still presents itself as OME-Zarr
        if key.endswith((".zattrs", "zarr.json")):
            doc = json.loads(content)
            attrs = doc.get("attributes", doc) if key.endswith("zarr.json") else doc
            assert not {"multiscales", "ome", "image-label"} & set(attrs), key
    recorder.fail_put_after, recorder.fail_deletes = None, False
    image = _image(rng)
    write_image(image, url, storage=_storage("0.4"))
    local = _download(s3_env, url, tmp_path / "copy.ome.zarr")
    assert_valid_store(local)
    assert not [k for k in _objects(s3_env, url) if k.startswith("labels") or "/c/" in k]


def test_a_process_killed_mid_upload_leaves_no_image_and_the_next_write_replaces_it(
    s3_env, bucket, tmp_path, rng
):
    url = f"{bucket}/img.ome.zarr"
    write_image(_image(rng), url, storage=_storage("0.4"))
    script = textwrap.dedent(f"""
        import os, signal
        import numpy as np
        import s3fs
        from napari_omezarr_export import StorageOptions, write_image

        put_file, count = s3fs.S3FileSystem._put_file, [0]

        async def put(self, *args, **kwargs):
            count[0] += 1
            if count[0] == 12:
                os.kill(os.getpid(), signal.SIGKILL)
            return await put_file(self, *args, **kwargs)

        s3fs.S3FileSystem._put_file = put
        write_image(np.ones((2, 128, 128), np.uint16), {url!r},
                    storage=StorageOptions(ngff_version="0.5", chunks=(1, 32, 32)))
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert _objects(s3_env, url), "the killed write left nothing to check"
    attrs = _root_attrs(s3_env, url)
    assert "multiscales" not in attrs and object_store.INCOMPLETE_MARK in attrs
    write_image(_image(rng), url, storage=_storage("0.4"))
    assert_valid_store(_download(s3_env, url, tmp_path / "copy.ome.zarr"))
    assert "zarr.json" not in _objects(s3_env, url)


def test_a_cancel_while_encoding_keeps_the_old_store_and_one_while_uploading_empties_it(
    s3_env, bucket, recorder, rng, monkeypatch
):
    url = f"{bucket}/img.ome.zarr"
    write_image(_image(rng), url, storage=_storage("0.4"))
    before = _objects(s3_env, url)
    recorder.clear()
    steps = iter_write_image(_image(rng, (2, 128, 128)), url, storage=_storage("0.5"))
    done, total = next(steps)
    assert done < total // 2  # still encoding
    steps.close()
    assert _objects(s3_env, url) == before and recorder.log == []
    monkeypatch.setattr(object_store, "_UPLOAD_BATCH", 4)
    steps = iter_write_image(_image(rng, (2, 128, 128)), url, storage=_storage("0.5"))
    for done, total in steps:
        if done > total // 2:
            break
    steps.close()
    assert any(op == "put" for op, _ in recorder.log)
    assert _objects(s3_env, url) == {}


# -- labels into an image in an object store --------------------------------------------------


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_labels_saved_into_an_s3_image_leave_the_image_untouched(
    s3_env, bucket, recorder, tmp_path, rng, version
):
    url = f"{bucket}/img.ome.zarr"
    image = _image(rng)
    write_image(
        image, url, labels=[LabelsSpec(_segmentation(), "nuclei")],
        storage=_storage(version), pyramid=PyramidOptions(levels=2),
    )  # fmt: skip
    before = _objects(s3_env, url)
    cells = _segmentation(seed=5)
    preview = preview_labels(LabelsSpec(cells, "cells"), url)
    recorder.clear()
    [written] = write_labels(LabelsSpec(cells, "cells"), url)
    assert str(written) == f"{url}/labels/cells"
    after = _objects(s3_env, url)
    labels_doc = "labels/.zattrs" if version == "0.4" else "labels/zarr.json"
    changed = {k for k in after if before.get(k) != after[k]}
    assert changed - {labels_doc} == {k for k in after if k.startswith("labels/cells/")}
    assert set(before) <= set(after)
    prefix = url.removeprefix("s3://") + "/"
    assert all(
        k.startswith((prefix + "labels/cells/", prefix + labels_doc)) for _, k in recorder.log
    )
    assert recorder.log[-1] == ("put", prefix + labels_doc)  # the labels list, last
    local = _download(s3_env, url, tmp_path / "copy.ome.zarr")
    assert_valid_store(local)
    doc = json.loads(after[labels_doc][1])
    listed = doc["labels"] if version == "0.4" else doc["attributes"]["ome"]["labels"]
    assert listed == ["nuclei", "cells"]
    assert preview["labels"] == (doc if version == "0.4" else doc["attributes"])
    nodes = list(Reader(parse_url(str(local)))())
    found = {n.metadata.get("name"): n for n in nodes if n.load(Label)}
    np.testing.assert_array_equal(np.asarray(found["cells"].data[0]), cells)
    assert len(found["cells"].data) == 2  # the image's level count


def test_replacing_a_label_image_in_s3_withdraws_it_first_and_removes_its_stale_keys(
    s3_env, bucket, recorder, rng
):
    url = f"{bucket}/img.ome.zarr"
    write_image(_image(rng), url, labels=[LabelsSpec(_segmentation(), "cells")],
                storage=_storage("0.5"))  # fmt: skip
    recorder.clear()
    empty = np.zeros((96, 128), np.int32)
    empty[0:5, 0:5] = 1  # one chunk with data: the old label's other chunks must go
    write_labels(LabelsSpec(empty, "cells"), url)
    prefix = url.removeprefix("s3://") + "/labels/cells/"
    log = [(op, k[len(prefix) :]) for op, k in recorder.log if k.startswith(prefix)]
    assert log[0] == ("put", "zarr.json")  # withdrawn before anything else
    chunks = [k for k in _objects(s3_env, url) if k.startswith("labels/cells/0/c/")]
    assert chunks == ["labels/cells/0/c/0/0"]
    assert _root_attrs(s3_env, f"{url}/labels/cells")["image-label"]


def test_a_labels_list_that_cannot_be_updated_says_what_was_left(s3_env, bucket, rng, monkeypatch):
    from napari_omezarr_export.core.write import store_writer

    url = f"{bucket}/img.ome.zarr"
    write_image(_image(rng), url, storage=_storage("0.5"))

    def refused(*_args, **_kwargs):
        raise PermissionError("Access Denied")

    monkeypatch.setattr(store_writer, "update_remote_group_attributes", refused)
    with pytest.raises(WriteFailedError, match=r"uploaded into .*list could not be updated"):
        write_labels(LabelsSpec(_segmentation(), "cells"), url)


def test_consolidated_metadata_of_a_replaced_store_is_withdrawn_too():
    consolidated = {
        "zarr_consolidated_format": 1,
        "metadata": {
            ".zgroup": {"zarr_format": 2},
            ".zattrs": {"multiscales": [{"version": "0.4"}], "note": "kept"},
            "labels/.zattrs": {"labels": ["cells"]},
            "0/.zarray": {"zarr_format": 2},
        },
    }
    listing = object_store.StoreListing(
        {".zgroup", ".zattrs", ".zmetadata"},
        {".zmetadata": json.dumps(consolidated).encode(), ".zgroup": b'{"zarr_format": 2}'},
    )

    root, _rest = object_store.withdraw_attributes(listing, zarr_format=2)

    withdrawn = json.loads(root[".zmetadata"])["metadata"]
    assert withdrawn[".zattrs"] == {"note": "kept"}
    assert withdrawn["labels/.zattrs"] == {}
    assert withdrawn["0/.zarray"] == {"zarr_format": 2}

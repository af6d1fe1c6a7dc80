"""Writing dask arrays on a real dask.distributed LocalCluster (issue 17).

Every distributed write is compared with the single-process writer's output (``client=False``)
file by file, and validated. Most tests share one in-process cluster (2 workers x 1 thread);
one test starts worker processes to show that the chunk files are written there.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import zarr

from napari_omezarr_export import (
    LabelsSpec,
    PyramidOptions,
    StorageOptions,
    WriteFailedError,
    iter_write_image,
    write_image,
)
from napari_omezarr_export.core.write import band_writer, chunk_files
from napari_omezarr_export.core.write.plan import MAX_LABEL_COLORS, DataSummary
from napari_omezarr_export.core.write.regions import plan_regions
from validation import assert_valid_store

distributed = pytest.importorskip("distributed", reason="the cluster extra")

SHARDED = StorageOptions(ngff_version="0.5", chunks=(1, 32, 32), shards=(1, 64, 64))
V04 = StorageOptions(ngff_version="0.4", chunks=(1, 48, 48))


@pytest.fixture(autouse=True)
def system_tmp(tmp_path, monkeypatch):
    """The temporary folder (object-store staging, workers' region folders): empty at the end."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    ours = [p for p in folder.iterdir() if not p.name.startswith("dask-")]  # dask's own: not ours
    assert ours == [], "a temporary folder was left behind"


def _cells(rng, shape=(2, 300, 420), dtype=np.uint16):
    """Smooth blobs plus noise: chunks that compress unevenly, some all zero."""
    y, x = np.mgrid[: shape[-2], : shape[-1]]
    blobs = 2000 * (np.sin(y / 17.0) * np.cos(x / 23.0) > 0.4)
    data = blobs + rng.integers(0, 300, size=shape)
    data[..., :40, :] = 0  # a band of empty chunks, which zarr leaves out
    return data.astype(dtype)


def _files(store: Path) -> dict[str, bytes]:
    return {
        p.relative_to(store).as_posix(): p.read_bytes() for p in store.rglob("*") if p.is_file()
    }


def _assert_same_store(got: Path, expected: Path) -> None:
    """The same files with the same bytes: chunks, shards, array and group metadata."""
    got_files, expected_files = _files(got), _files(expected)
    assert sorted(got_files) == sorted(expected_files)
    differ = [k for k in expected_files if got_files[k] != expected_files[k]]
    assert differ == []
    assert_valid_store(got)


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


# -- the regions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "unit", "levels", "threads"),
    [
        ((1, 4096, 4100), (1, 256, 256), 5, 2),
        ((2, 1000, 1500), (1, 128, 128), 4, 2),
        ((3, 999, 77), (1, 64, 32), 3, 8),
        ((40, 300, 300), (8, 64, 64), 3, 2),  # z halved too
    ],
)
def test_region_windows_cover_each_owned_level_in_whole_units_exactly_once(
    shape, unit, levels, threads
):
    factors = (2, 2, 2) if shape[0] == 40 else (1, 2, 2)
    shapes = [shape]
    for _ in range(levels - 1):
        shapes.append(tuple(-(-n // f) for n, f in zip(shapes[-1], factors, strict=True)))
    units = [tuple(min(u, n) for u, n in zip(unit, s, strict=True)) for s in shapes]
    grid = plan_regions(shapes, units, factors, 2, threads=threads)
    assert 1 <= grid.owned <= levels
    regions = list(grid.regions())
    for level in range(min(grid.owned + 1, levels)):
        covered = np.zeros(shapes[level], dtype=np.int32)
        for region in regions:
            window = grid.window(region, level)
            covered[window] += 1
            if level < grid.owned:  # owned levels: windows start and end on units (or edges)
                for w, u, n in zip(window, units[level], shapes[level], strict=True):
                    assert w.start % u == 0
                    assert (w.stop - w.start) % u == 0 or w.stop == n
        assert (covered == 1).all()


def test_a_large_image_gets_regions_within_the_memory_budget_for_every_thread():
    shapes = [(1, 16384 >> i, 16384 >> i) for i in range(5)]
    grid = plan_regions(shapes, [(1, 1024, 1024)] * 5, (1, 2, 2), 2, threads=2)
    assert grid.edges == (1, 4096, 4096)  # 32 MiB of uint16; 8192 would be 128 MiB
    assert (grid.owned, len(list(grid.regions()))) == (3, 16)


def test_region_summaries_merge_to_what_one_pass_observes(rng):
    """Value ranges per channel, and label values up to the colour limit, then 'too many'."""
    data = rng.integers(0, 3 * MAX_LABEL_COLORS // 2, size=(2, 60, 200)).astype(np.int32)
    for tracking in ({"channel_axis": 0, "track_range": True}, {"track_values": True}):
        whole = DataSummary(**tracking)
        whole.observe((slice(0, 2), slice(0, 60), slice(0, 200)), data)
        merged = DataSummary(**tracking)
        for x0 in range(0, 200, 50):
            part = DataSummary(**tracking)
            part.observe((slice(0, 2), slice(0, 60), slice(x0, x0 + 50)), data[..., x0 : x0 + 50])
            merged.merge(part)
        assert (merged.low, merged.high) == (whole.low, whole.high)
        assert (merged.values, merged.too_many_values) == (whole.values, whole.too_many_values)
    assert whole.too_many_values and not merged.values


# -- the same store as one process writes ---------------------------------------------------


@pytest.mark.parametrize(
    ("storage", "levels", "source_chunks"),
    [
        (V04, 4, (1, 100, 130)),  # source chunks that straddle regions
        (SHARDED, 3, (2, 64, 64)),
        (StorageOptions(ngff_version="0.5", chunks=(1, 64, 64)), None, (1, 300, 420)),
    ],
    ids=["0.4", "0.5-sharded", "0.5-auto-levels"],
)
def test_distributed_write_equals_the_single_process_write(
    client, tmp_path, rng, storage, levels, source_chunks
):
    data = da.from_array(_cells(rng), chunks=source_chunks)
    seg = da.from_array((_cells(rng, (300, 420)) // 1000).astype(np.int32), chunks=(150, 210))
    options = {
        "channels": ["DAPI", "GFP"],
        "labels": [LabelsSpec(seg, "cells", colors={})],  # label values gathered by regions
        "pyramid": PyramidOptions(levels=levels),
        "storage": storage,
    }
    [expected] = write_image(data, tmp_path / "one", client=False, **options)
    [got] = write_image(data, tmp_path / "many", client=client, **options)
    _assert_same_store(got, expected)
    assert _siblings(got) == ["many.ome.zarr", "one.ome.zarr", "system-tmp"]


def test_float_ranges_and_a_halved_z_come_out_the_same(client, tmp_path, rng):
    volume = rng.normal(10, 3, size=(20, 130, 150)).astype(np.float32)
    data = da.from_array(volume, chunks=(5, 64, 64))
    options = {
        "axes": "zyx",
        "pyramid": PyramidOptions(levels=3, downsample_z=True),
        "storage": StorageOptions(ngff_version="0.5", chunks=(4, 32, 32)),
    }
    [expected] = write_image(data, tmp_path / "one", client=False, **options)
    [got] = write_image(data, tmp_path / "many", **options)  # the active client
    _assert_same_store(got, expected)
    omero = json.loads((got / "zarr.json").read_text())["attributes"]["ome"]["omero"]
    assert omero["channels"][0]["window"]["min"] == pytest.approx(float(volume.min()))


@pytest.mark.parametrize("storage", [V04, SHARDED], ids=["0.4", "0.5-sharded"])
def test_regions_written_through_zarr_equal_the_single_process_write(
    client, tmp_path, rng, monkeypatch, storage
):
    """Where our chunk-file writer stands aside (other codecs), regions write through zarr."""
    monkeypatch.setattr(band_writer, "chunk_file_writer", lambda array: None)
    data = da.from_array(_cells(rng, (1, 300, 420)), chunks=(1, 128, 128))
    options = {"pyramid": PyramidOptions(levels=3), "storage": storage}
    [expected] = write_image(data, tmp_path / "one", client=False, **options)
    [got] = write_image(data, tmp_path / "many", client=client, **options)
    _assert_same_store(got, expected)


def test_no_shard_is_written_twice(client, tmp_path, rng, monkeypatch):
    written: list[str] = []
    original = chunk_files.ChunkFileWriter.write

    def record(self, coords, data):
        written.append(f"{self._directory}/{self._key(tuple(np.add(coords, self._offset)))}")
        return original(self, coords, data)

    monkeypatch.setattr(chunk_files.ChunkFileWriter, "write", record)
    data = da.from_array(_cells(rng, (1, 520, 600)), chunks=(1, 128, 128))
    [got] = write_image(data, tmp_path / "x", pyramid=PyramidOptions(levels=4), storage=SHARDED)
    assert len(written) == len(set(written))
    shards = [k for k in _files(got) if "/c/" in k]
    assert shards and len(written) >= len(shards)  # every shard written once, by its region


# -- where the work runs ----------------------------------------------------------------------


def _count_received(monkeypatch) -> list[int]:
    """Count the bytes of every TCP message this process receives (client and scheduler)."""
    from distributed.comm import tcp

    received = [0]
    original = tcp.from_frames

    async def counting(frames, *args, **kwargs):
        received[0] += sum(memoryview(f).nbytes for f in frames)
        return await original(frames, *args, **kwargs)

    monkeypatch.setattr(tcp, "from_frames", counting)
    return received


@pytest.mark.slow
def test_chunks_are_written_in_worker_processes_and_pixels_stay_there(
    tmp_path, rng, caplog, monkeypatch
):
    """The client process writes no chunk and receives a fraction of level 0's bytes."""

    def make(block_info=None):  # made where dask computes it: no pixels in the graph
        (y0, y1), (x0, x1) = block_info[None]["array-location"][1:]
        y, x = np.mgrid[y0:y1, x0:x1]
        return ((y * 7 + x * 13) % 4000 * (np.sin(y / 9.0) > 0)).astype(np.uint16)[None]

    data = da.map_blocks(make, chunks=((1,), (512,) * 4, (512,) * 4), dtype=np.uint16)
    level0_bytes = 2 * 2048 * 2048
    options = {"pyramid": PyramidOptions(levels=3), "storage": V04}
    [expected] = write_image(data, tmp_path / "one", client=False, **options)
    calls = []
    original = chunk_files.ChunkFileWriter.write
    monkeypatch.setattr(
        chunk_files.ChunkFileWriter, "write", lambda *a: calls.append(a) or original(*a)
    )
    caplog.set_level(logging.DEBUG, logger="napari_omezarr_export.core.write.distributed")
    received = _count_received(monkeypatch)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as procs,
    ):
        worker_pids = set(procs.run(os.getpid).values())
        received[0] = 0
        [got] = write_image(data, tmp_path / "many", client=procs, **options)
        ours = received[0]
        assert calls == []  # the patched writer lives in this process only
        received[0] = 0  # the measure sees pixels: encoding here receives all of level 0
        write_image(data, tmp_path / "here", client=False, **options)
        assert received[0] > level0_bytes > 8 * ours
    pids = {int(r.message.rsplit(" ", 1)[1]) for r in caplog.records if "written by" in r.message}
    assert pids and pids <= worker_pids and os.getpid() not in pids
    _assert_same_store(got, expected)


def test_numpy_data_is_written_by_this_process(client, tmp_path, rng, caplog):
    caplog.set_level(logging.INFO, logger="napari_omezarr_export.core.write.distributed")
    [got] = write_image(_cells(rng, (1, 100, 100)), tmp_path / "x", storage=V04)
    assert not [r for r in caplog.records if "worker threads" in r.message]
    assert_valid_store(got)


def test_the_core_imports_without_distributed(tmp_path):
    """Importing the API (and the distributed writer) costs plain users no distributed import."""
    code = (
        "import sys\n"
        "import napari_omezarr_export.core.api, napari_omezarr_export.core.write.distributed\n"
        "from napari_omezarr_export import write_image\n"
        f"write_image(__import__('numpy').zeros((64, 64), 'u1'), {str(tmp_path / 'x')!r})\n"
        "assert 'distributed' not in sys.modules, 'distributed was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# -- failures and cancels ---------------------------------------------------------------------


def _failing(rng, bad_block=(0, 2, 1)):
    good = da.from_array(_cells(rng, (1, 400, 400)), chunks=(1, 100, 100))

    def fail_one(block, block_info=None):
        if tuple(block_info[0]["chunk-location"]) == bad_block:
            raise RuntimeError("injected: this block cannot be read")
        return block

    return da.map_blocks(fail_one, good, dtype=good.dtype)


def test_a_failing_block_leaves_the_old_store_intact_and_no_leftovers(client, tmp_path, rng):
    [old] = write_image(_cells(rng, (1, 64, 64)), tmp_path / "x", storage=V04)
    before = _files(old)
    with pytest.raises(RuntimeError, match="injected"):
        write_image(_failing(rng), tmp_path / "x", storage=V04, pyramid=PyramidOptions(levels=3))
    assert _files(old) == before
    assert _siblings(old) == ["system-tmp", "x.ome.zarr"]


def test_a_failing_block_on_a_new_target_leaves_nothing(client, tmp_path, rng):
    with pytest.raises(RuntimeError, match="injected"):
        write_image(_failing(rng), tmp_path / "new", storage=SHARDED)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["system-tmp"]


def test_closing_the_progress_cancels_and_leaves_the_old_store(client, tmp_path, rng):
    [old] = write_image(_cells(rng, (1, 64, 64)), tmp_path / "x", storage=V04)
    before = _files(old)
    data = da.from_array(_cells(rng, (1, 800, 800)), chunks=(1, 100, 100))
    steps = iter_write_image(data, tmp_path / "x", storage=StorageOptions(chunks=(1, 32, 32)))
    done, total = next(steps)
    steps.close()
    assert 0 < done < total
    assert _files(old) == before
    assert _siblings(old) == ["system-tmp", "x.ome.zarr"]


# -- object stores ----------------------------------------------------------------------------


def _download(s3_env, url: str, to: Path) -> Path:
    name, _, prefix = url.removeprefix("s3://").partition("/")
    s3 = s3_env.client()
    for key in s3_env.keys(name, prefix + "/"):
        path = to / key[len(prefix) + 1 :]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(s3.get_object(Bucket=name, Key=key)["Body"].read())
    return to


@pytest.mark.parametrize("storage", [V04, SHARDED], ids=["0.4", "0.5-sharded"])
def test_workers_upload_to_s3_and_replacing_keeps_every_new_chunk(
    client, s3_env, tmp_path, rng, storage
):
    bucket = s3_env.make_bucket(f"t{uuid.uuid4().hex[:16]}")
    url = f"{bucket}/run/img.ome.zarr"
    options = {"pyramid": PyramidOptions(levels=3), "storage": storage}
    first = da.from_array(_cells(rng, (2, 200, 260)), chunks=(1, 100, 100))
    write_image(first, url, client=client, **options)
    data = da.from_array(_cells(rng, (2, 260, 200)), chunks=(1, 100, 100))
    [expected] = write_image(data, tmp_path / "one", client=False, **options)
    [written] = write_image(data, url, client=client, **options)  # replaces the first
    assert str(written) == url
    _assert_same_store(_download(s3_env, url, tmp_path / "copy.ome.zarr"), expected)


def test_a_block_failing_after_uploads_began_on_s3_leaves_no_key(client, s3_env, rng):
    """Once the old store was withdrawn and new chunks uploaded, a failure removes every key."""
    bucket = s3_env.make_bucket(f"t{uuid.uuid4().hex[:16]}")
    name = bucket.removeprefix("s3://")
    url = f"{bucket}/img.ome.zarr"
    write_image(_cells(rng, (1, 64, 64)), url, storage=V04)
    old_keys = set(s3_env.keys(name, "img.ome.zarr/"))
    # Small source blocks: the failing one (the last) is read by one region only.
    good = da.from_array(_cells(rng, (1, 400, 400)), chunks=(1, 16, 16))

    def fail_once_others_uploaded(block, block_info=None):
        import boto3  # the fixture's endpoint and credentials are in the environment

        if tuple(block_info[0]["chunk-location"]) == (0, 24, 24):  # the last region's
            s3 = boto3.client("s3", region_name="us-east-1")
            for _ in range(600):  # up to 30 s: other regions upload meanwhile
                listed = s3.list_objects_v2(Bucket=name, Prefix="img.ome.zarr/")
                if {o["Key"] for o in listed.get("Contents", [])} - old_keys:
                    raise RuntimeError("injected: this block cannot be read")
                time.sleep(0.05)
        return block

    source = da.map_blocks(fail_once_others_uploaded, good, dtype=good.dtype)
    with pytest.raises(WriteFailedError, match=r"while uploading it \(.*injected"):
        write_image(source, url, storage=V04, pyramid=PyramidOptions(levels=3))
    assert s3_env.keys(name, "img.ome.zarr/") == []


def test_progress_rises_to_the_total_as_regions_complete(client, tmp_path, rng):
    data = da.from_array(_cells(rng, (1, 600, 600)), chunks=(1, 100, 100))
    steps = list(
        iter_write_image(data, tmp_path / "x", storage=StorageOptions(chunks=(1, 32, 32)))
    )
    done = [d for d, _ in steps]
    assert done == sorted(done) and len(set(done)) > 2
    assert steps[-1][0] == steps[-1][1] == steps[0][1]


def test_closing_the_progress_on_s3_leaves_no_key(client, s3_env, rng):
    bucket = s3_env.make_bucket(f"t{uuid.uuid4().hex[:16]}")
    url = f"{bucket}/img.ome.zarr"
    write_image(_cells(rng, (1, 64, 64)), url, storage=V04)
    data = da.from_array(_cells(rng, (1, 800, 800)), chunks=(1, 100, 100))
    steps = iter_write_image(data, url, storage=StorageOptions(chunks=(1, 32, 32)))
    done, total = next(steps)
    steps.close()
    assert 0 < done < total
    assert s3_env.keys(bucket.removeprefix("s3://"), "img.ome.zarr/") == []


# -- review findings (session 5) --------------------------------------------------------------


def _distributed_logs(caplog) -> list[str]:
    """distributed's worker log records (its loggers may not propagate to the root)."""
    return [r.getMessage() for r in caplog.records if r.name.startswith("distributed")]


def test_cancelling_logs_no_failed_task(client, tmp_path, rng, caplog):
    """Tasks told to stop end quietly: no 'Compute Failed' traceback per task."""
    worker_log = logging.getLogger("distributed.worker")
    worker_log.addHandler(caplog.handler)
    try:
        caplog.set_level(logging.INFO, logger="distributed.worker")
        data = da.from_array(_cells(rng, (1, 800, 800)), chunks=(1, 100, 100))
        steps = iter_write_image(data, tmp_path / "x", storage=StorageOptions(chunks=(1, 32, 32)))
        next(steps)
        steps.close()
    finally:
        worker_log.removeHandler(caplog.handler)
    assert not [m for m in _distributed_logs(caplog) if "Compute Failed" in m]
    assert not (tmp_path / "x.ome.zarr").exists()


@pytest.mark.slow
def test_a_relative_target_is_written_by_workers_started_elsewhere(tmp_path, rng, monkeypatch):
    """Workers in another working directory (a --scheduler cluster) write the right folder."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    here = tmp_path / "here"
    here.mkdir()
    data = da.from_array(_cells(rng, (1, 200, 260)), chunks=(1, 100, 100))
    options = {"pyramid": PyramidOptions(levels=2), "storage": V04}
    [expected] = write_image(data, tmp_path / "one", client=False, **options)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as procs,
    ):
        procs.run(os.chdir, str(elsewhere))
        monkeypatch.chdir(here)
        [got] = write_image(data, "img", client=procs, **options)
    assert list(elsewhere.iterdir()) == []
    _assert_same_store(here / got, expected)


def test_a_worker_that_cannot_see_the_staging_folder_says_so(tmp_path):
    from napari_omezarr_export.core.write.region_sinks import LocalSink

    missing = tmp_path / "not-shared" / "img.ome.zarr.staging"
    sink = LocalSink(str(missing), 2)
    with pytest.raises(WriteFailedError, match="same path") as caught:
        with sink.arrays("", [0]):
            pass
    assert str(missing) in str(caught.value)
    assert "shared filesystem" in str(caught.value)


def _s3_store(s3_env, url: str) -> dict[str, bytes]:
    name, _, prefix = url.removeprefix("s3://").partition("/")
    s3 = s3_env.client()
    return {
        key: s3.get_object(Bucket=name, Key=key)["Body"].read()
        for key in s3_env.keys(name, prefix + "/")
    }


def test_a_source_error_before_any_upload_keeps_the_old_s3_store(client, s3_env, rng):
    bucket = s3_env.make_bucket(f"t{uuid.uuid4().hex[:16]}")
    url = f"{bucket}/img.ome.zarr"
    old_pixels = _cells(rng, (1, 64, 64))
    write_image(old_pixels, url, storage=V04)
    before = _s3_store(s3_env, url)

    def unreadable(block):
        raise RuntimeError("injected: the source cannot be read")

    good = da.from_array(_cells(rng, (1, 400, 400)), chunks=(1, 100, 100))
    source = da.map_blocks(unreadable, good, dtype=good.dtype)
    with pytest.raises(Exception, match="injected"):
        write_image(source, url, storage=V04, pyramid=PyramidOptions(levels=3))
    assert _s3_store(s3_env, url) == before  # no key added, none changed or removed
    level0 = zarr.open_array(f"{url}/0", mode="r", zarr_format=2)
    assert np.array_equal(level0[:], old_pixels)


def test_sharded_coarse_levels_are_written_in_regions_within_the_budget(
    client, tmp_path, rng, monkeypatch, caplog
):
    """With big shards the regions own one level; the rest are further passes, not one task."""
    from napari_omezarr_export.core.write import region_tasks, regions

    budget = 64 * 64 * 2  # one 64x64 uint16 shard of level 0
    monkeypatch.setattr(regions, "REGION_BYTES", budget)
    largest = [0]
    original = region_tasks._run_pass

    def record(job, block, *args, **kwargs):
        largest[0] = max(largest[0], np.asarray(block).nbytes)
        return original(job, block, *args, **kwargs)

    monkeypatch.setattr(region_tasks, "_run_pass", record)
    data = da.from_array(_cells(rng, (1, 512, 512)), chunks=(1, 128, 128))
    options = {"pyramid": PyramidOptions(levels=4), "storage": SHARDED}
    [expected] = write_image(data, tmp_path / "one", client=False, **options)
    caplog.set_level(logging.INFO, logger="napari_omezarr_export.core.write.distributed")
    [got] = write_image(data, tmp_path / "many", client=client, **options)
    assert 0 < largest[0] <= budget
    _assert_same_store(got, expected)
    passes = [r.getMessage() for r in caplog.records if "owning levels" in r.getMessage()]
    assert len(passes) > 2  # level 0's regions, then coarse passes...
    assert "1 regions" in passes[-1] and "levels 3-3 of 4" in passes[-1]  # the last fits one


class _RecordingLibc:
    def __init__(self):
        self.calls: list[tuple] = []

    def mallopt(self, *args):
        self.calls.append(("mallopt", *args))

    def malloc_trim(self, *args):
        self.calls.append(("malloc_trim", *args))


def test_malloc_settings_outlast_a_task_briefly_then_are_restored(monkeypatch):
    """Back-to-back region tasks keep the roomy heap; once idle, the worker's settings return."""
    from napari_omezarr_export.core.write import worker_malloc

    libc = _RecordingLibc()
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    monkeypatch.setattr(worker_malloc, "_glibc", lambda: libc)
    monkeypatch.setattr(worker_malloc, "_LINGER_SECONDS", 0.3)
    # Fresh state: earlier in-process region tasks may have left a restore pending.
    monkeypatch.setattr(worker_malloc, "_malloc_users", [0])
    monkeypatch.setattr(worker_malloc, "_malloc_restore", [None])
    with worker_malloc.roomy_malloc():
        pass
    with worker_malloc.roomy_malloc():  # the next task, within the linger: nothing to redo
        pass
    assert [c[0] for c in libc.calls] == ["mallopt", "mallopt"]
    for _ in range(100):
        if any(c[0] == "malloc_trim" for c in libc.calls):
            break
        time.sleep(0.05)
    assert libc.calls[2:] == [
        ("mallopt", worker_malloc._M_TRIM_THRESHOLD, 65536),
        ("mallopt", worker_malloc._M_MMAP_THRESHOLD, worker_malloc._GLIBC_MMAP_DEFAULT),
        ("malloc_trim", 0),
    ]


def test_region_tasks_share_the_hosts_cores_among_their_encoders(client):
    """Each task encodes on the cores its host has per worker thread: 1 to 2 threads."""
    from napari_omezarr_export.core.write import distributed as dist
    from napari_omezarr_export.core.write import region_tasks

    hosts = dist._threads_per_host(client.nthreads())
    assert sum(hosts.values()) == 2  # this process's two single-thread workers
    [host] = hosts
    cores = len(os.sched_getaffinity(0))
    crowded = client.submit(region_tasks._encode_threads, {host: 4 * cores}, pure=False)
    alone = client.submit(region_tasks._encode_threads, {host: 1}, pure=False)
    assert crowded.result() == 1
    assert alone.result() == min(2, cores)
    assert region_tasks._encode_threads({host: 1}) is None  # outside a worker: as one process


def test_coarse_passes_upload_to_s3_like_one_process(client, s3_env, tmp_path, rng, monkeypatch):
    from napari_omezarr_export.core.write import regions

    monkeypatch.setattr(regions, "REGION_BYTES", 64 * 64 * 2)
    bucket = s3_env.make_bucket(f"t{uuid.uuid4().hex[:16]}")
    url = f"{bucket}/img.ome.zarr"
    write_image(_cells(rng, (1, 64, 64)), url, storage=V04)  # an old store, replaced
    data = da.from_array(_cells(rng, (1, 300, 340)), chunks=(1, 128, 128))
    options = {"pyramid": PyramidOptions(levels=4), "storage": SHARDED}
    [expected] = write_image(data, tmp_path / "one", client=False, **options)
    write_image(data, url, client=client, **options)
    _assert_same_store(_download(s3_env, url, tmp_path / "copy.ome.zarr"), expected)

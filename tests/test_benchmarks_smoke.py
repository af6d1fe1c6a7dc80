"""Smoke test of the benchmark suite's code path on tiny data; no timing assertions."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:  # benchmarks/ is a top-level package next to src/ and tests/
    sys.path.insert(0, ROOT)

pytest.importorskip("ome_zarr")
pytest.importorskip("bioio_ome_zarr")
pytest.importorskip("ngff_zarr")

from benchmarks import report, writers  # noqa: E402
from benchmarks.measure import check_store, run_one  # noqa: E402
from benchmarks.run import CODECS, codec_study  # noqa: E402
from benchmarks.workloads import generate, tiny_workload  # noqa: E402


def test_every_writer_runs_and_passes_the_checks(tmp_path):
    wl = tiny_workload("image")
    data_path = tmp_path / "tiny.npy"
    np.save(data_path, generate(wl))
    # The subprocesses run side by side: this test times nothing, and it keeps `make test` short.
    with ThreadPoolExecutor(len(writers.EQUAL_WRITERS)) as pool:
        records = list(
            pool.map(
                lambda w: run_one(w, wl, data_path, "equal", workdir=tmp_path / "stores"),
                writers.EQUAL_WRITERS,
            )
        )
    for record in records:
        assert "error" not in record, record
        assert record["check"] in ("ok", "n/a"), record
        assert record["disk_bytes"] > 0
        assert record["rss_peak_mib"] >= record["rss_loaded_mib"] > 0
    assert {r["levels"] for r in records} == {2}
    assert not list((tmp_path / "stores").iterdir()), "stores must be cleaned up"
    summary = report.summarize(records)
    table = report.equal_table(wl, summary)
    assert table.count("\n") == len(writers.EQUAL_WRITERS) + 1
    assert "ours/" in report.ratios_line(wl, summary)


def test_labels_data_and_the_check_catches_wrong_pixels(tmp_path):
    wl = tiny_workload("labels")
    labels = generate(wl)
    assert labels.dtype == np.int32 and len(np.unique(labels)) > 10
    store = writers.write_ours(labels, tmp_path / "labels.ome.zarr", wl, "equal")
    assert check_store(store, labels)["levels"] == 2
    wrong = labels.copy()
    wrong[5, 7] += 1
    with pytest.raises(AssertionError, match="differs"):
        check_store(store, wrong)


def test_defaults_and_codec_study_tables(tmp_path):
    wl = tiny_workload("image")
    data = generate(wl)
    store = writers.write_ours(data, tmp_path / "d.ome.zarr", wl, "defaults")
    assert check_store(store, data)["codec"].startswith("blosc-zstd")
    one = writers.write_ours_one_level(data, tmp_path / "one.ome.zarr", wl, "defaults")
    assert check_store(one, data)["levels"] == 1
    rows = codec_study(data, chunk=(128, 128), repeats=1)
    assert len(rows) == len(CODECS) and all(r["ratio"] > 1 for r in rows)
    assert [r["name"] for r in rows if r["default"]] == ["blosc-zstd 1 bit 1 MiB"]
    assert report.codec_table(rows).count("\n") == len(rows) + 1


def test_remote_open_level0_chunk_paths():
    from benchmarks.remote_open import is_level0_chunk

    chunks = ["/s.zarr/0/0/0/0", "/s.zarr/0/c/1/0/0", "/s.zarr/labels/cells/0/0/1",
              "/s.zarr/s0/0/0", "/s.zarr/B/3/1/0/0/0/0"]  # fmt: skip
    other = ["/s.zarr/0/.zarray", "/s.zarr/0/zarr.json", "/s.zarr/1/0/0/0", "/s.zarr/.zattrs",
             "/s.zarr/labels/cells/0/.zattrs", "/s.zarr/labels/cells/1/0/0",
             "/s.zarr/labels/.zattrs", "/s.zarr/labels/cells/0", "/t.zarr/0/0/0",
             "/s.zarr/B/3/1/1/0/0/0", "/s.zarr/B/3/1/0/.zarray"]  # fmt: skip
    assert [is_level0_chunk(p, "s.zarr") for p in chunks] == [True] * len(chunks)
    assert [is_level0_chunk(p, "s.zarr") for p in other] == [False] * len(other)


def test_remote_open_counts_requests(tmp_path):
    pytest.importorskip("napari_ome_zarr")
    pytest.importorskip("aiohttp")
    from benchmarks import remote_open

    stores = remote_open.make_stores(tmp_path / "stores", size=64, levels=2)
    # In this process (napari is imported once) and without latency: a smoke test, no timing.
    records = remote_open.measure(stores, repeats=1, latency=0.0, fresh_process=False)
    assert [(r["store"], r["reader"]) for r in records] == [
        (store, reader) for store in remote_open.STORES for reader in remote_open.READERS
    ]
    peer = {r["store"]: r for r in records if r["reader"] == "napari-ome-zarr"}
    for record in records:
        if record["reader"] == "ours" and "error" in record:
            continue  # our reader may not open URLs yet; the table shows the error
        assert "error" not in record, record
        assert record["get"] > 0 and record["layers"] >= 1, record
        if record["reader"] == "ours":
            assert record["level0_chunks"] == 0, record
    assert peer["0.4 + labels"]["layers"] == 2
    assert peer["0.4 + labels"]["get"] > peer["0.4"]["get"] > peer["0.5"]["get"]
    summary = remote_open.summarize(records)
    settings = {"repeats": 1, "latency": 0.0, "size": 64, "levels": 2}
    text = remote_open.report(summary, settings)
    assert text.count("\n| 0.") == len(records)
    ours_errors = [r for r in records if r["reader"] == "ours" and "error" in r]
    assert text.count("error: ") == len(ours_errors)
    goals = remote_open.goals(summary)
    assert {g["result"] for g in goals} <= {"pass", "fail", "n/a"}
    assert any(g["store"] == "0.4 + labels" and "< 0.5 s" in g["goal"] for g in goals)


def test_distributed_write_benchmark_reports_each_worker():
    pytest.importorskip("distributed")
    from benchmarks import distributed_write

    # Real subprocesses on a real 2-worker LocalCluster, a 2048x2048 image: no timing checked.
    record = distributed_write.run_one("ours-dist", 2048, n_workers=2)
    assert "error" not in record, record
    assert record["n_workers"] == 2 and len(record["workers"]) == 2
    assert sum(w["tasks"] for w in record["workers"]) >= 4  # 4 regions, then the coarse pass
    assert all(w["executing_seconds"] > 0 for w in record["workers"])
    # Level 0 (8 MiB) never reaches the client: only the regions' small results do.
    assert record["client_received_bytes"] < 1_000_000
    table = distributed_write.per_worker_report([record])
    assert table.count("| ours, distributed (1) |") == 2


def test_remote_write_benchmark_streams_and_checks_every_store():
    pytest.importorskip("moto.server", reason="moto[server] is in the test extra")
    from benchmarks import remote_write

    # Real subprocesses writing to moto's S3 on 127.0.0.1; 1 MiB batches so that ours streams
    # a 4096x4096 image. No timing is checked.
    records = remote_write.run_all(4096, 1, ["ours", "ome-zarr-py"], stream_bytes=1 << 20)
    ours, peer = records
    assert ours["check"] == "ok" and peer["check"] == "ok", records
    assert ours["streamed_batches"] > 0 and ours["objects"] == peer["objects"] > 0
    assert ours["peak_staging_bytes"] < ours["stored_bytes"]  # never the whole store at once
    assert remote_write.report(records).count("| ours, streaming upload |") == 2

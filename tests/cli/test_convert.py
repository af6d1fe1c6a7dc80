"""``napari-omezarr-export convert``: TIFF, OME-Zarr and .percell sources to OME-Zarr stores."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import zarr

from convert_fixtures import (
    CHANNELS,
    files_open_under,
    old_store,
    ome_tiff,
    percell_experiment,
    plain_tiff,
    scans_folder,
)
from napari_omezarr_export.cli import main
from napari_omezarr_export.core.reader import read
from napari_omezarr_export.core.sources import tiff as tiff_source
from store_factories import bioformats2raw_store, legacy_store
from validation import assert_valid_store


def _table(out: str) -> dict[str, tuple[str, str]]:
    """The summary table as {source: (status, note)}."""
    rows = {}
    for line in out.splitlines()[1:-1]:
        status, _, rest = line.partition("  ")
        if status == "would":
            status, _, rest = line[len("would write") :].partition("  ")
            status = "would write"
        source, *others = [cell for cell in rest.strip().split("  ") if cell.strip()]
        rows[source.strip()] = (status.strip(), others[-1].strip() if len(others) > 1 else "")
    return rows


def _image(path):
    """The written image: {name: level-0 array} for channels and labels, and the first spec."""
    layers = read(path)
    return {layer.name: np.asarray(layer.data[0]) for layer in layers}, layers


def _staging_leftovers(root):
    return [p for p in root.rglob("*") if ".omezarr-export-" in p.name]


def test_a_folder_of_tiffs_and_stores_becomes_one_store_each(tmp_path, rng, capsys):
    scans = scans_folder(tmp_path, rng)
    out = tmp_path / "converted"

    code = main(["convert", str(scans), "--out", str(out), "--ngff-version", "0.5"])

    table = capsys.readouterr().out
    assert code == 0, table
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.ome.zarr"))
    assert written == ["cells.ome.zarr", "day2/stack.ome.zarr", "old.ome.zarr"]
    for name in written:
        assert_valid_store(out / name)
    assert table.splitlines()[-1] == "3 written"


def test_an_ome_tiff_keeps_its_channel_names_pixel_sizes_and_pixels(tmp_path, rng):
    data = ome_tiff(tmp_path / "cells.ome.tif", rng)

    assert main(["convert", str(tmp_path / "cells.ome.tif"), "--out", str(tmp_path / "o")]) == 0

    arrays, layers = _image(tmp_path / "o" / "cells.ome.zarr")
    assert list(arrays) == CHANNELS
    np.testing.assert_array_equal(np.stack([arrays["DAPI"], arrays["GFP"]]), data)
    assert layers[0].kwargs["scale"] == (0.5, 0.25)
    assert layers[0].kwargs["units"] == ("micrometer", "micrometer")


def test_an_ngff_04_store_is_rewritten_as_05_with_its_labels_chunks_and_levels(tmp_path, rng):
    data, labels = old_store(tmp_path / "old.ome.zarr", rng)
    out = tmp_path / "o"

    options = ["--ngff-version", "0.5", "--levels", "2", "--chunks", "32,16", "--codec", "zstd"]
    code = main(["convert", str(tmp_path / "old.ome.zarr"), "--out", str(out), *options])

    assert code == 0
    store = out / "old.ome.zarr"
    assert_valid_store(store)
    group = zarr.open_group(store, mode="r")
    assert group.metadata.zarr_format == 3 and group.attrs["ome"]["version"] == "0.5"
    assert group["0"].chunks == (1, 32, 16) and sorted(group.array_keys()) == ["0", "1"]
    assert group["labels/nuclei/0"].chunks == (32, 16)
    arrays, layers = _image(store)
    assert list(arrays) == [*CHANNELS, "nuclei"]
    np.testing.assert_array_equal(np.stack([arrays["DAPI"], arrays["GFP"]]), data)
    np.testing.assert_array_equal(arrays["nuclei"], labels)
    assert layers[0].kwargs["scale"] == (0.65, 0.65)


def test_each_percell_region_becomes_an_image_with_its_segmentation_and_masks(tmp_path, rng):
    experiment = percell_experiment(tmp_path, rng)
    out = tmp_path / "o"
    expected = {
        region: read(experiment / "images.zarr" / region)
        for region in ("condition_1/region_1", "condition_2/region_2")
    }

    assert main(["convert", str(experiment), "--out", str(out), "--ngff-version", "0.4"]) == 0

    for region, source_layers in expected.items():
        store = out / "experiment" / f"{region}.ome.zarr"
        assert_valid_store(store)
        arrays, _ = _image(store)
        assert list(arrays) == ["DAPI", "GFP", "RFP", "segmentation", "GFP_mask"]
        for layer in source_layers:
            name = layer.name.replace(" ", "_")
            np.testing.assert_array_equal(arrays[name], np.asarray(layer.data[0]))
        mask = zarr.open_group(store / "labels" / "GFP_mask", mode="r")
        colours = mask.attrs["image-label"]["colors"]
        assert {c["label-value"]: c["rgba"] for c in colours} == {255: [255, 0, 255, 255]}  # 0/255


def test_a_bad_source_is_reported_and_the_others_are_converted(tmp_path, rng, capsys):
    scans = scans_folder(tmp_path, rng)
    (scans / "notes.tif").write_text("not an image")
    (scans / "readme.txt").write_text("ignored: not a TIFF by name")

    code = main(["convert", str(scans), str(tmp_path / "missing"), "--out", str(tmp_path / "o")])

    rows = _table(capsys.readouterr().out)
    assert code == 1
    assert rows[str(scans / "notes.tif")][0] == "failed"
    assert "notes.tif is not a TIFF file" in rows[str(scans / "notes.tif")][1]
    assert rows[str(tmp_path / "missing")] == ("failed", f"{tmp_path / 'missing'} does not exist. "
                                                          "Check the path.")  # fmt: skip
    assert [status for status, _ in rows.values()].count("written") == 3
    assert not (tmp_path / "o" / "notes.ome.zarr").exists()


def test_two_sources_with_one_output_both_fail_and_neither_is_written(tmp_path, rng, capsys):
    plain_tiff(tmp_path / "a" / "cells.tif", rng)
    ome_tiff(tmp_path / "b" / "cells.ome.tif", rng)
    sources = [str(tmp_path / "a" / "cells.tif"), str(tmp_path / "b" / "cells.ome.tif")]

    assert main(["convert", *sources, "--out", str(tmp_path / "o")]) == 1

    rows = _table(capsys.readouterr().out)
    assert [rows[s][0] for s in sources] == ["failed", "failed"]
    assert "would all be written to" in rows[sources[0]][1]
    assert not (tmp_path / "o").exists()


def test_a_store_is_never_converted_over_itself(tmp_path, rng, capsys):
    old_store(tmp_path / "old.ome.zarr", rng)
    before = (tmp_path / "old.ome.zarr" / ".zattrs").read_bytes()

    code = main(["convert", str(tmp_path / "old.ome.zarr"), "--out", str(tmp_path), "--overwrite"])

    assert code == 1
    assert "would be written over itself" in capsys.readouterr().out
    assert (tmp_path / "old.ome.zarr" / ".zattrs").read_bytes() == before


def test_a_second_run_skips_complete_outputs_and_overwrite_rewrites_them(tmp_path, rng, capsys):
    scans = scans_folder(tmp_path, rng)
    out = tmp_path / "o"
    assert main(["convert", str(scans), "--out", str(out)]) == 0
    capsys.readouterr()
    # A broken output (a level lost, say by a copy that stopped) is not complete: it is
    # written again.
    shutil.rmtree(out / "old.ome.zarr" / "0")

    assert main(["convert", str(scans), "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "2 skipped, 1 written"
    assert_valid_store(out / "old.ome.zarr")

    assert main(["convert", str(scans), "--out", str(out), "--overwrite"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "3 written"


def test_a_dry_run_writes_nothing_and_says_what_it_would_write(tmp_path, rng, capsys):
    scans = scans_folder(tmp_path, rng)

    assert main(["convert", str(scans), "--out", str(tmp_path / "o"), "--dry-run"]) == 0

    out = capsys.readouterr().out
    assert not (tmp_path / "o").exists()
    assert out.splitlines()[-1] == "3 would write"
    rows = _table(out)
    assert rows[str(scans / "cells.ome.tif")] == (
        "would write", "TIFF cyx 2x64x48 uint16 -> NGFF 0.4"
    )  # fmt: skip
    assert rows[str(scans / "old.ome.zarr")][1] == (
        "OME-Zarr 0.4 cyx 2x64x64 uint16 + 1 label image -> NGFF 0.4"
    )


def test_an_interrupted_run_leaves_no_partial_store_and_the_next_run_resumes(
    tmp_path, rng, monkeypatch, capsys
):
    sources = _three_tiffs(tmp_path, rng)
    out = tmp_path / "o"
    real_read = tiff_source._TiffLevel.__getitem__
    reads = []

    def ctrl_c_in_b(self, key):
        # Ctrl-C while b.tif is being written: after some of its chunks were read.
        if self.path.name == "b.tif":
            reads.append(key)
            if len(reads) == 3:
                raise KeyboardInterrupt
        return real_read(self, key)

    monkeypatch.setattr(tiff_source._TiffLevel, "__getitem__", ctrl_c_in_b)
    assert main(["convert", *map(str, sources), "--out", str(out)]) == 130
    assert "Run the same command again to resume" in capsys.readouterr().err
    assert len(reads) == 3  # b was part-way through
    assert [p.name for p in out.iterdir()] == ["a.ome.zarr"]
    assert _staging_leftovers(out) == []

    monkeypatch.setattr(tiff_source._TiffLevel, "__getitem__", real_read)
    assert main(["convert", *map(str, sources), "--out", str(out)]) == 0

    rows = _table(capsys.readouterr().out)
    assert [rows[str(s)][0] for s in sources] == ["skipped", "written", "written"]
    _assert_converted(sources, out)


def _three_tiffs(tmp_path, rng):
    sources = [tmp_path / f"{name}.tif" for name in ("a", "b", "c")]
    for source in sources:
        plain_tiff(source, rng, z=6)
    return sources


def _assert_converted(sources, out):
    for source in sources:
        assert_valid_store(out / f"{source.stem}.ome.zarr")
        arrays, _ = _image(out / f"{source.stem}.ome.zarr")
        np.testing.assert_array_equal(next(iter(arrays.values())), tifffile_read(source))


# The command run in a process of its own, reading b.tif slowly: the test signals it while b is
# being written (a marker file says when), as a batch system or a user would.
_SLOW_CONVERT = """
import sys, time
from pathlib import Path
from napari_omezarr_export.cli import main
from napari_omezarr_export.core.sources import tiff

marker, real_read = Path(sys.argv[1]), tiff._TiffLevel.__getitem__

def slow_b(self, key):
    if self.path.name == "b.tif":
        marker.touch()
        time.sleep(0.2)
    return real_read(self, key)

tiff._TiffLevel.__getitem__ = slow_b
sys.exit(main(sys.argv[2:]))
"""


def _killed_while_writing_b(tmp_path, sources, out, signum):
    script, marker = tmp_path / "slow_convert.py", tmp_path / "reading-b"
    script.write_text(_SLOW_CONVERT)
    argv = ["convert", *map(str, sources), "--out", str(out)]
    process = subprocess.Popen(
        [sys.executable, str(script), str(marker), *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "b.tif was never read"
        process.send_signal(signum)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, err


@pytest.mark.slow
def test_a_batch_ended_by_sigterm_discards_the_store_in_progress(tmp_path, rng, capsys):
    sources = _three_tiffs(tmp_path, rng)
    out = tmp_path / "o"

    code, err = _killed_while_writing_b(tmp_path, sources, out, signal.SIGTERM)

    assert code == 143, err
    assert "The store being written was discarded" in err
    assert [p.name for p in out.iterdir()] == ["a.ome.zarr"]  # no staging folder either

    assert main(["convert", *map(str, sources), "--out", str(out)]) == 0
    rows = _table(capsys.readouterr().out)
    assert [rows[str(s)][0] for s in sources] == ["skipped", "written", "written"]
    _assert_converted(sources, out)


@pytest.mark.slow
def test_after_a_sigkill_the_next_run_removes_the_staging_and_writes_the_store(
    tmp_path, rng, capsys
):
    sources = _three_tiffs(tmp_path, rng)
    out = tmp_path / "o"

    code, _ = _killed_while_writing_b(tmp_path, sources, out, signal.SIGKILL)

    assert code == -signal.SIGKILL
    assert not (out / "b.ome.zarr").exists()
    assert [p.name.split(".omezarr-export-")[0] for p in _staging_leftovers(out)] == [
        ".b.ome.zarr"
    ]

    assert main(["convert", *map(str, sources), "--out", str(out)]) == 0
    rows = _table(capsys.readouterr().out)
    assert [rows[str(s)][0] for s in sources] == ["skipped", "written", "written"]
    assert _staging_leftovers(out) == []
    _assert_converted(sources, out)


def tifffile_read(path):
    import tifffile

    return tifffile.imread(path)


def test_unusable_chunks_fail_that_source_only(tmp_path, rng, capsys):
    plain_tiff(tmp_path / "stack.tif", rng)
    ome_tiff(tmp_path / "cells.ome.tif", rng)

    code = main(["convert", str(tmp_path / "stack.tif"), str(tmp_path / "cells.ome.tif"),
                 "--out", str(tmp_path / "o"), "--chunks", "1,1,16,16"])  # fmt: skip

    rows = _table(capsys.readouterr().out)
    assert code == 1
    assert rows[str(tmp_path / "stack.tif")][0] == "failed"
    assert "has 4 entries but this image has 3 axes" in rows[str(tmp_path / "stack.tif")][1]
    assert rows[str(tmp_path / "cells.ome.tif")][0] == "failed"


def test_a_bad_option_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["convert", str(tmp_path), "--out", str(tmp_path / "o"), "--chunks", "a,b"])
    assert exit_.value.code == 2
    assert "is not a shape" in capsys.readouterr().err


def test_without_distributed_workers_say_what_to_install(tmp_path, rng, monkeypatch, capsys):
    plain_tiff(tmp_path / "stack.tif", rng)
    monkeypatch.setitem(sys.modules, "distributed", None)

    code = main(["convert", str(tmp_path / "stack.tif"), "--out", str(tmp_path / "o"),
                 "--workers", "2"])  # fmt: skip

    assert code == 2
    assert "napari-omezarr-export[cluster]" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_workers_convert_on_a_local_cluster(tmp_path, rng, capsys):
    scans = scans_folder(tmp_path, rng)
    out = tmp_path / "o"

    assert main(["convert", str(scans), "--out", str(out), "--workers", "2"]) == 0

    assert capsys.readouterr().out.splitlines()[-1] == "3 written"
    data = tifffile_read(scans / "day2" / "stack.tif")
    arrays, _ = _image(out / "day2" / "stack.ome.zarr")
    np.testing.assert_array_equal(next(iter(arrays.values())), data)
    assert_valid_store(out / "old.ome.zarr")


@pytest.mark.slow
def test_a_running_scheduler_reads_the_sources_on_its_workers(tmp_path, rng, capsys):
    distributed = pytest.importorskip("distributed")
    data = ome_tiff(tmp_path / "cells.ome.tif", rng)
    out = tmp_path / "o"

    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as c,
        distributed.Client(c) as client,
        distributed.get_task_stream(client) as tasks,
    ):
        code = main(["convert", str(tmp_path / "cells.ome.tif"), "--out", str(out),
                     "--scheduler", c.scheduler_address])  # fmt: skip

    assert code == 0, capsys.readouterr().out
    assert tasks.data, "nothing ran on the cluster"
    arrays, _ = _image(out / "cells.ome.zarr")
    np.testing.assert_array_equal(np.stack([arrays["DAPI"], arrays["GFP"]]), data)


def test_a_scheduler_that_cannot_be_reached_is_a_clear_error(tmp_path, rng, capsys):
    pytest.importorskip("distributed")
    plain_tiff(tmp_path / "stack.tif", rng)

    code = main(["convert", str(tmp_path / "stack.tif"), "--out", str(tmp_path / "o"),
                 "--scheduler", "tcp://127.0.0.1:1"])  # fmt: skip

    assert code == 2
    assert "Cannot reach the dask scheduler at tcp://127.0.0.1:1" in capsys.readouterr().err


def test_an_image_served_over_http_converts_to_s3(tmp_path, rng, http_server_factory, s3_env):
    data, labels = old_store(tmp_path / "served" / "old.ome.zarr", rng)
    server = http_server_factory(tmp_path / "served")
    bucket = s3_env.make_bucket("converted")

    assert main(["convert", server.url_for("old.ome.zarr"), "--out", f"{bucket}/run1"]) == 0

    arrays, _ = _image(f"{bucket}/run1/old.ome.zarr")
    np.testing.assert_array_equal(arrays["nuclei"], labels)
    np.testing.assert_array_equal(arrays["GFP"], data[1])
    info = json.loads(_info_json(f"{bucket}/run1/old.ome.zarr"))
    assert info["ngff_version"] == "0.4"  # the Python API's default


def _info_json(location):
    from napari_omezarr_export.cli.info import store_info

    return json.dumps(store_info(location))


@pytest.mark.parametrize("version", ["0.1", "0.2", "0.3"])
def test_a_legacy_store_keeps_its_windows_colours_and_label_tables(tmp_path, rng, version):
    source = legacy_store(tmp_path, version, rng)
    out = tmp_path / "o"

    assert main(["convert", str(source), "--out", str(out), "--ngff-version", "0.4"]) == 0

    store = out / f"legacy_{version}.ome.zarr"
    assert_valid_store(store)
    group = zarr.open_group(store, mode="r")
    channels = group.attrs["omero"]["channels"]
    assert [(c["label"], c["color"]) for c in channels] == [("DAPI", "0000FF"), ("GFP", "00FF00")]
    windows = [(c["window"]["start"], c["window"]["end"]) for c in channels]
    assert windows == [(0, 3000), (100, 2000)]
    image_label = zarr.open_group(store / "labels" / "cells", mode="r").attrs["image-label"]
    colours = {c["label-value"]: c["rgba"] for c in image_label["colors"]}
    assert colours[1] == [255, 0, 0, 255] and 0 not in colours  # 3, uncoloured, gets gray
    assert {p["label-value"]: p["area"] for p in image_label["properties"]} == {1: 256, 3: 400}
    arrays, _ = _image(store)
    original, _ = _image(source)
    for name, data in original.items():
        np.testing.assert_array_equal(arrays[name], data)


def test_each_series_of_a_bioformats2raw_store_becomes_a_store(tmp_path, rng, capsys):
    source = bioformats2raw_store(tmp_path, rng, listed=True)
    out = tmp_path / "o"

    assert main(["convert", str(source), "--out", str(out)]) == 0

    rows = _table(capsys.readouterr().out)
    assert [status for status, _ in rows.values()] == ["written", "written"]
    first, second = out / "converted" / "0.ome.zarr", out / "converted" / "1.ome.zarr"
    for store, series in ((first, "0"), (second, "1")):
        assert_valid_store(store)
        arrays, _ = _image(store)
        original, _ = _image(source / series)
        assert list(arrays) == list(original)
        for name, data in original.items():
            np.testing.assert_array_equal(arrays[name], data)
    assert list(_image(first)[0]) == ["DAPI", "GFP", "cells"]


def test_a_tiff_url_is_refused_with_what_to_do(tmp_path, capsys):
    url = "https://example.invalid/scans/cells.ome.tif"

    assert main(["convert", url, "--out", str(tmp_path / "o")]) == 1

    assert "TIFF files are read from local paths only" in _table(capsys.readouterr().out)[url][1]


def test_an_output_folder_inside_the_source_folder_is_not_searched(tmp_path, rng, capsys):
    scans = scans_folder(tmp_path, rng)
    (scans / "loop").symlink_to(scans, target_is_directory=True)  # and links do not loop
    out = scans / "converted"
    assert main(["convert", str(scans), "--out", str(out)]) == 0
    capsys.readouterr()

    assert main(["convert", str(scans), "--out", str(out)]) == 0

    assert capsys.readouterr().out.splitlines()[-1] == "3 skipped"
    assert not (out / "converted").exists()


# --- review fixes: paths, open files, affine, outputs in the source folder, staleness ---------


def _settings(out, **options):
    from napari_omezarr_export.cli.convert_jobs import ConvertSettings
    from napari_omezarr_export.core.options import PyramidOptions, StorageOptions

    return ConvertSettings(str(out), StorageOptions(), PyramidOptions(), **options)


def test_jobs_planned_from_relative_paths_run_from_another_folder(tmp_path, rng, monkeypatch):
    from napari_omezarr_export.cli.convert_jobs import convert_jobs
    from napari_omezarr_export.core.batch import run_jobs

    scans = scans_folder(tmp_path, rng)
    percell_experiment(scans, rng)
    monkeypatch.chdir(tmp_path)
    jobs = convert_jobs(["scans"], _settings("converted"))
    # A dask worker started in another folder resolves relative paths there.
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")

    results = run_jobs(jobs)

    assert [r.status for r in results] == ["written"] * 5, [r.message for r in results]
    assert [r.job.source for r in results][:2] == ["scans/cells.ome.tif", "scans/day2/stack.tif"]
    assert str(results[0].job.output) == "converted/cells.ome.zarr"  # shown as typed
    assert list((tmp_path / "elsewhere").iterdir()) == []
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.glob("converted/**/*.ome.zarr"))
    assert [p.as_posix() for p in written] == [
        "converted/cells.ome.zarr",
        "converted/day2/stack.ome.zarr",
        "converted/experiment/condition_1/region_1.ome.zarr",
        "converted/experiment/condition_2/region_2.ome.zarr",
        "converted/old.ome.zarr",
    ]
    for store in written:
        assert_valid_store(tmp_path / store)


@pytest.mark.slow
def test_a_scheduler_whose_workers_run_in_another_folder_reads_relative_sources(
    tmp_path, rng, monkeypatch, capsys
):
    distributed = pytest.importorskip("distributed")
    data = ome_tiff(tmp_path / "cells.ome.tif", rng)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the worker processes start here

    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as c,
        distributed.Client(c) as client,
        distributed.get_task_stream(client) as tasks,
    ):
        worker_folders = set(client.run(os.getcwd).values())
        monkeypatch.chdir(tmp_path)
        code = main(["convert", "cells.ome.tif", "--out", "o", "--scheduler",
                     c.scheduler_address])  # fmt: skip

    assert worker_folders == {str(tmp_path / "elsewhere")}
    assert code == 0, capsys.readouterr().out
    assert tasks.data, "nothing ran on the cluster"
    arrays, _ = _image(tmp_path / "o" / "cells.ome.zarr")
    np.testing.assert_array_equal(np.stack([arrays["DAPI"], arrays["GFP"]]), data)
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_planning_and_running_tiff_jobs_leaves_no_file_open(tmp_path, rng):
    from napari_omezarr_export.cli.convert_jobs import convert_jobs
    from napari_omezarr_export.core.batch import run_jobs

    sources = tmp_path / "sources"
    for name in ("a", "b", "c"):
        plain_tiff(sources / f"{name}.tif", rng)
    ome_tiff(sources / "cells.ome.tif", rng)

    jobs = convert_jobs([str(sources)], _settings(tmp_path / "o"))
    assert files_open_under(sources) == []

    results = run_jobs(jobs)

    assert [r.status for r in results] == ["written"] * 4, [r.message for r in results]
    assert files_open_under(sources) == []  # the batch still holds every job
    _assert_converted([sources / f"{name}.tif" for name in ("a", "b", "c")], tmp_path / "o")


def test_a_06_image_with_a_rotation_is_refused_rather_than_flattened(tmp_path, rng, capsys):
    from ngff06_stores import axes06, image06

    rotated = image06(
        tmp_path / "rotated.ome.zarr",
        rng.integers(0, 255, (16, 12), dtype="uint8"),
        axes="yx",
        scale=[0.5, 0.5],
        systems=[{"name": "stage", "axes": axes06("yx")}],
        transforms=[
            {
                "type": "rotation",
                "rotation": [[0.0, -1.0], [1.0, 0.0]],
                "input": {"name": "physical"},
                "output": {"name": "stage"},
            }
        ],
    )
    plain_tiff(tmp_path / "plain.tif", rng)

    code = main(["convert", str(rotated), str(tmp_path / "plain.tif"), "--out",
                 str(tmp_path / "o"), "--ngff-version", "0.6"])  # fmt: skip

    rows = _table(capsys.readouterr().out)
    assert code == 1
    status, note = rows[str(rotated)]
    assert status == "failed"
    assert "has a rotation/affine transform" in note and "lose its registration" in note
    assert "Keep the source store" in note
    assert not (tmp_path / "o" / "rotated.ome.zarr").exists()
    assert rows[str(tmp_path / "plain.tif")][0] == "written"


def test_converting_into_the_source_folder_twice_skips_what_the_first_run_wrote(
    tmp_path, rng, capsys
):
    scans = tmp_path / "scans"
    ome_tiff(scans / "cells.ome.tif", rng)
    plain_tiff(scans / "day2" / "stack.tif", rng)
    percell_experiment(scans, rng)
    bioformats2raw_store(scans, rng, listed=True)
    assert main(["convert", str(scans), "--out", str(scans)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "6 written"

    code = main(["convert", str(scans), "--out", str(scans)])

    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines()[-1] == "6 skipped"
    assert str(scans / "cells.ome.zarr") not in _table(out)
    assert_valid_store(scans / "experiment" / "condition_1" / "region_1.ome.zarr")


def test_a_source_changed_after_its_output_was_written_is_converted_again(tmp_path, rng, capsys):
    scans = scans_folder(tmp_path, rng)
    out = tmp_path / "o"
    assert main(["convert", str(scans), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["convert", str(scans), "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "3 skipped"  # unchanged: skipped

    os.utime(scans / "cells.ome.tif")  # changed now, after its output was written
    os.utime(scans / "old.ome.zarr" / ".zattrs")
    assert main(["convert", str(scans), "--out", str(out)]) == 0

    rows = _table(capsys.readouterr().out)
    assert rows[str(scans / "cells.ome.tif")][0] == "written"
    assert rows[str(scans / "old.ome.zarr")][0] == "written"
    assert rows[str(scans / "day2" / "stack.tif")][0] == "skipped"
    assert main(["convert", str(scans), "--out", str(out)]) == 0  # and then up to date
    assert capsys.readouterr().out.splitlines()[-1] == "3 skipped"

"""``napari-omezarr-export brieflow RUN_DIR --config config.yml`` on a small Brieflow run."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pandas as pd
import pytest
import tifffile
import zarr

from brieflow_runs import (
    PHENOTYPE_CHANNELS,
    PHENOTYPE_PIXEL,
    SBS_PIXEL,
    make_tiff_run,
    tile_labels,
    write_config,
)
from napari_omezarr_export import read
from napari_omezarr_export.cli import main
from napari_omezarr_export.core.layouts.brieflow import pipeline
from validation import assert_valid_store

STAGING = ".omezarr-export-"
IMAGES = [
    "preprocess/omezarr/sbs/P-1_W-A1_T-0_C-1__image.zarr",
    "preprocess/omezarr/sbs/P-1_W-A1_T-0_C-2__image.zarr",
    "preprocess/omezarr/phenotype/P-1_W-A1_T-0__image.zarr",
    "sbs/omezarr/P-1_W-A1_T-0__sbs_aligned.zarr",
    "phenotype/omezarr/P-1_W-A1_T-0__phenotype.zarr",
    "phenotype/omezarr/P-1_W-A1_T-1__phenotype.zarr",
]
TABLES = [
    "merge/zarr/P-1_W-A1__merge_table.zarr",
    "aggregate/zarr/CeCl-all_ChCo-DAPI_GFP__aggregate.zarr",
    "cluster/DAPI_GFP/all/2/phate_leiden_clustering.zarr",
]


@pytest.fixture
def brieflow_run(tmp_path, rng):
    return make_tiff_run(tmp_path, rng)


def _brieflow(run, config, *extra):
    return main(["brieflow", str(run), "--config", str(config), *extra])


def _statuses(out: str) -> dict[str, str]:
    """Source -> status, from the summary table."""
    rows = [line.replace("would write", "would-write").split() for line in out.splitlines()[1:-1]]
    return {row[1]: row[0].replace("-", " ") for row in rows}


def _leftovers(run):
    return [p for p in run.rglob("*") if STAGING in p.name]


def test_a_run_is_exported_as_its_config_asks(brieflow_run, capsys):
    run, config = brieflow_run

    assert _brieflow(run, config) == 0

    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "9 written"
    for store in IMAGES:
        assert_valid_store(run / store)
    phenotype = {s.kwargs["name"]: s for s in read(run / IMAGES[4])}
    assert list(phenotype) == [*PHENOTYPE_CHANNELS, "nuclei", "cells"]
    np.testing.assert_array_equal(
        np.asarray(phenotype["DAPI"].data[0]),
        tifffile.imread(run / "phenotype/images/P-1_W-A1_T-0__aligned.tiff")[0],
    )
    np.testing.assert_array_equal(np.asarray(phenotype["cells"].data[0]), tile_labels(0))
    assert phenotype["DAPI"].kwargs["scale"][-2:] == (PHENOTYPE_PIXEL, PHENOTYPE_PIXEL)
    assert phenotype["cells"].kwargs["scale"][-2:] == (PHENOTYPE_PIXEL, PHENOTYPE_PIXEL)
    # The merge table's rows of this tile, gaps kept, as hover features of its cells
    features = phenotype["cells"].kwargs["features"].set_index("index")
    assert features.index.tolist() == [1, 2, 3]
    assert pd.isna(features.loc[2, "gene_symbol"]) and pd.isna(features.loc[2, "site"])
    assert features.loc[3, "site"] == 7 and features.loc[1, "mapped"]
    # SBS cycles kept as the t axis, channels named from the config
    sbs = read(run / IMAGES[3])
    assert [s.kwargs["name"] for s in sbs] == ["DAPI", "G", "T"]
    assert sbs[0].data[0].shape == (2, 32, 32) and sbs[0].kwargs["axis_labels"][0] == "t"
    assert sbs[0].kwargs["scale"][-2:] == (SBS_PIXEL, SBS_PIXEL)
    for table in TABLES:
        group = zarr.open_group(run / table, mode="r", zarr_format=2)
        assert {"columns", "index_name", "num_rows"} <= set(group.attrs)
    assert not _leftovers(run)


def test_dry_run_says_what_it_would_write_and_writes_nothing(brieflow_run, capsys):
    run, config = brieflow_run
    before = sorted(run.rglob("*"))

    assert _brieflow(run, config, "--dry-run") == 0

    out = capsys.readouterr().out
    assert set(_statuses(out).values()) == {"would write"} and len(_statuses(out)) == 9
    assert "phenotype TIFF -> OME-Zarr 0.4 image with labels nuclei, cells" in out
    assert "parquet table -> zarr column group" in out
    assert sorted(run.rglob("*")) == before


def test_a_bad_tiff_is_reported_and_the_others_are_written(brieflow_run, capsys):
    run, config = brieflow_run
    bad = run / "phenotype" / "images" / "P-1_W-A1_T-1__aligned.tiff"
    bad.write_bytes(b"an HTML error page saved as .tiff")

    assert _brieflow(run, config) == 1

    out = capsys.readouterr().out
    statuses = _statuses(out)
    assert statuses.pop("phenotype/images/P-1_W-A1_T-1__aligned.tiff") == "failed"
    assert set(statuses.values()) == {"written"}
    assert "P-1_W-A1_T-1__aligned.tiff is not a TIFF file that can be read" in out
    assert out.splitlines()[-1] == "8 written, 1 failed"
    assert not (run / IMAGES[5]).exists() and not _leftovers(run)


def test_an_interrupted_run_resumes_where_it_stopped(brieflow_run, capsys, monkeypatch):
    run, config = brieflow_run
    real = pipeline.iter_write_table

    def interrupted(*args, **kwargs):  # Ctrl-C in the middle of the first table
        steps = real(*args, **kwargs)
        yield next(steps)
        yield next(steps)
        steps.close()
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "iter_write_table", interrupted)
    assert _brieflow(run, config) == 130
    assert "Run the same command again to resume." in capsys.readouterr().err
    assert all((run / store).is_dir() for store in IMAGES)
    assert not any((run / table).exists() for table in TABLES)
    assert not _leftovers(run)
    capsys.readouterr()
    stamps = {store: (run / store / ".zattrs").stat().st_mtime_ns for store in IMAGES}

    monkeypatch.setattr(pipeline, "iter_write_table", real)
    assert _brieflow(run, config) == 0

    statuses = _statuses(capsys.readouterr().out)
    assert [statuses[s] for s in statuses if s.endswith(".tiff")] == ["skipped"] * 6
    assert [statuses[s] for s in statuses if not s.endswith(".tiff")] == ["written"] * 3
    assert stamps == {store: (run / store / ".zattrs").stat().st_mtime_ns for store in IMAGES}


def test_a_table_whose_source_grew_is_written_again(brieflow_run, capsys):
    run, config = brieflow_run
    assert _brieflow(run, config) == 0
    merge = run / "merge" / "parquets" / "P-1_W-A1__merge_final.parquet"
    table = pd.read_parquet(merge)
    pd.concat([table, table.iloc[:1]]).to_parquet(merge)
    capsys.readouterr()

    assert _brieflow(run, config) == 0

    statuses = _statuses(capsys.readouterr().out)
    assert statuses["merge/parquets/P-1_W-A1__merge_final.parquet"] == "written"
    assert zarr.open_group(run / TABLES[0], mode="r").attrs["num_rows"] == 5


def test_the_plate_layout_writes_brieflows_plates(brieflow_run, capsys):
    run, _ = brieflow_run
    config = write_config(
        run.parent / "plate.yml", layout="plate", steps='["sbs", "phenotype"]', compressor="zstd"
    )

    assert _brieflow(run, config) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "3 written"
    assert _brieflow(run, config) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "3 skipped"

    for plate in ("sbs/aligned_1.zarr", "phenotype/aligned_1.zarr"):
        assert_valid_store(run / plate)
    field = run / "phenotype" / "aligned_1.zarr" / "A" / "1" / "1"
    assert [s.kwargs["name"] for s in read(field)] == [*PHENOTYPE_CHANNELS, "nuclei", "cells"]
    array = json.loads((field / "0" / "zarr.json").read_text())
    assert [c["name"] for c in array["codecs"]][-1] == "zstd"


def test_a_plate_field_its_well_does_not_list_yet_is_written_again(brieflow_run, capsys):
    run, _ = brieflow_run
    config = write_config(run.parent / "plate.yml", layout="plate", steps='["phenotype"]')
    assert _brieflow(run, config) == 0
    well = run / "phenotype" / "aligned_1.zarr" / "A" / "1" / "zarr.json"
    document = json.loads(well.read_text())  # as if stopped before the field was listed
    images = document["attributes"]["ome"]["well"]["images"]
    document["attributes"]["ome"]["well"]["images"] = [i for i in images if i["path"] != "1"]
    well.write_text(json.dumps(document))
    capsys.readouterr()

    assert _brieflow(run, config) == 0

    statuses = _statuses(capsys.readouterr().out)
    assert statuses == {
        "phenotype/images/P-1_W-A1_T-0__aligned.tiff": "skipped",
        "phenotype/images/P-1_W-A1_T-1__aligned.tiff": "written",
    }
    assert_valid_store(run / "phenotype" / "aligned_1.zarr")


def test_enabled_false_writes_nothing_and_succeeds(brieflow_run, capsys):
    run, _ = brieflow_run
    config = write_config(run.parent / "off.yml", enabled="false")
    before = sorted(run.rglob("*"))

    assert _brieflow(run, config) == 0

    assert "output.omezarr.enabled is false" in capsys.readouterr().out
    assert sorted(run.rglob("*")) == before


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"steps": '["sbs", "stitch"]'}, r"after_steps is ['stitch']"),
        ({"layout": "hcs"}, "layout is 'hcs'"),
        ({"compressor": "gzip"}, "compressor is 'gzip'"),
    ],
)
def test_a_config_that_cannot_be_followed_is_a_usage_error(brieflow_run, capsys, options, message):
    run, _ = brieflow_run
    config = write_config(run.parent / "wrong.yml", **options)

    assert _brieflow(run, config) == 2

    err = capsys.readouterr().err
    assert message in err and "Nothing was exported" in err
    assert not (run / "sbs" / "omezarr").exists()


def test_a_folder_without_brieflow_files_fails_and_says_so(tmp_path, capsys):
    config = write_config(tmp_path / "config.yml")
    (tmp_path / "empty").mkdir()

    assert _brieflow(tmp_path / "empty", config) == 1

    err = capsys.readouterr().err
    assert "found nothing to export" in err and "nothing found for step cluster" in err


def test_steps_not_run_yet_are_named_and_the_others_exported(brieflow_run, capsys):
    run, config = brieflow_run
    for path in sorted((run / "cluster").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()

    assert _brieflow(run, config) == 0

    captured = capsys.readouterr()
    assert "nothing found for step cluster" in captured.err
    assert "nothing found for step merge" not in captured.err
    assert captured.out.splitlines()[-1] == "8 written"


def _touch_after(source, export):
    """Set ``source``'s modification time 1 ms after ``export``'s root metadata was written."""
    meta = next(export / n for n in ("zarr.json", ".zattrs") if (export / n).is_file())
    later = meta.stat().st_mtime_ns + 1_000_000
    os.utime(source, ns=(later, later))


def test_sources_brieflow_wrote_again_are_exported_again(brieflow_run, capsys):
    run, config = brieflow_run
    assert _brieflow(run, config) == 0
    rerun = {
        "phenotype/images/P-1_W-A1_T-1__nuclei.tiff": IMAGES[5],  # a mask counts too
        "sbs/images/P-1_W-A1_T-0__aligned.tiff": IMAGES[3],
        "merge/parquets/P-1_W-A1__merge_final.parquet": TABLES[0],  # same rows, newer file
        "aggregate/tsvs/CeCl-all_ChCo-DAPI_GFP__aggregated.tsv": TABLES[1],
    }
    for source, export in rerun.items():
        _touch_after(run / source, run / export)
    capsys.readouterr()

    assert _brieflow(run, config) == 0

    statuses = _statuses(capsys.readouterr().out)
    written = {source for source, status in statuses.items() if status == "written"}
    assert written == {
        "phenotype/images/P-1_W-A1_T-1__aligned.tiff",
        "sbs/images/P-1_W-A1_T-0__aligned.tiff",
        "merge/parquets/P-1_W-A1__merge_final.parquet",
        "aggregate/tsvs/CeCl-all_ChCo-DAPI_GFP__aggregated.tsv",
    }
    assert sum(status == "skipped" for status in statuses.values()) == 5
    assert_valid_store(run / IMAGES[5])
    assert _brieflow(run, config) == 0  # now all newer than their sources
    assert capsys.readouterr().out.splitlines()[-1] == "9 skipped"


def test_the_well_metadata_brieflow_wrote_again_exports_its_tiles_again(brieflow_run, capsys):
    run, config = brieflow_run
    assert _brieflow(run, config) == 0
    metadata = run / "preprocess/metadata/sbs/P-1_W-A1__combined_metadata.parquet"
    _touch_after(metadata, run / IMAGES[3])  # the pixel sizes may have changed
    capsys.readouterr()

    assert _brieflow(run, config) == 0

    statuses = _statuses(capsys.readouterr().out)
    assert {s for s, status in statuses.items() if status == "written"} == {
        "preprocess/images/sbs/P-1_W-A1_T-0_C-1__image.tiff",
        "preprocess/images/sbs/P-1_W-A1_T-0_C-2__image.tiff",
        "sbs/images/P-1_W-A1_T-0__aligned.tiff",
    }


def test_a_plate_field_older_than_its_tiff_is_written_again(brieflow_run, capsys):
    run, _ = brieflow_run
    config = write_config(run.parent / "plate.yml", layout="plate", steps='["phenotype"]')
    assert _brieflow(run, config) == 0
    field = run / "phenotype" / "aligned_1.zarr" / "A" / "1" / "1"
    _touch_after(run / "phenotype/images/P-1_W-A1_T-1__aligned.tiff", field)
    capsys.readouterr()

    assert _brieflow(run, config) == 0

    assert _statuses(capsys.readouterr().out) == {
        "phenotype/images/P-1_W-A1_T-0__aligned.tiff": "skipped",
        "phenotype/images/P-1_W-A1_T-1__aligned.tiff": "written",
    }
    assert_valid_store(run / "phenotype" / "aligned_1.zarr")
    assert _brieflow(run, config) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "2 skipped"


def test_without_distributed_workers_say_what_to_install(brieflow_run, monkeypatch, capsys):
    run, config = brieflow_run
    monkeypatch.setitem(sys.modules, "distributed", None)

    assert _brieflow(run, config, "--workers", "2") == 2

    assert "napari-omezarr-export[cluster]" in capsys.readouterr().err
    assert not list(run.rglob("*.zarr"))


@pytest.mark.slow
def test_a_running_scheduler_writes_the_run_on_its_workers(brieflow_run, capsys):
    distributed = pytest.importorskip("distributed")
    run, _ = brieflow_run
    config = write_config(run.parent / "c.yml", steps='["sbs", "phenotype", "merge"]')

    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as c,
        distributed.Client(c) as client,
        distributed.get_task_stream(client) as tasks,
    ):
        code = _brieflow(run, config, "--scheduler", c.scheduler_address)

    assert code == 0, capsys.readouterr().out
    assert tasks.data, "nothing ran on the cluster"
    assert capsys.readouterr().out.splitlines()[-1] == "4 written"
    for store in IMAGES[3:]:
        assert_valid_store(run / store)
    sbs = read(run / IMAGES[3])
    np.testing.assert_array_equal(
        np.stack([np.asarray(layer.data[0]) for layer in sbs], axis=1),
        tifffile.imread(run / "sbs/images/P-1_W-A1_T-0__aligned.tiff"),
    )
    phenotype = {s.kwargs["name"]: s for s in read(run / IMAGES[5])}
    np.testing.assert_array_equal(
        np.stack([np.asarray(phenotype[c].data[0]) for c in PHENOTYPE_CHANNELS]),
        tifffile.imread(run / "phenotype/images/P-1_W-A1_T-1__aligned.tiff"),
    )
    np.testing.assert_array_equal(np.asarray(phenotype["nuclei"].data[0]), tile_labels(1))
    merge = zarr.open_group(run / TABLES[0], mode="r", zarr_format=2)
    np.testing.assert_array_equal(merge["cell_0"][:], [1, 2, 3, 1])

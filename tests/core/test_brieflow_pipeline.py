"""The brieflow command's plan: the config block checked, Brieflow's names, one export per file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml

from brieflow_runs import PHENOTYPE_PIXEL, make_tiff_run, write_config
from napari_omezarr_export.core.errors import InvalidOptionError
from napari_omezarr_export.core.layouts.brieflow.config import (
    load_export_config,
    parse_export_config,
)
from napari_omezarr_export.core.layouts.brieflow.intermediates import (
    find_tiles,
    pixel_size,
    read_tile,
)
from napari_omezarr_export.core.layouts.brieflow.names import (
    image_export_path,
    parse_intermediate,
    table_export_path,
)
from napari_omezarr_export.core.layouts.brieflow.pipeline import plan_export
from napari_omezarr_export.core.reader import store_opens


def _block(**omezarr):
    return {"output": {"omezarr": {"enabled": True, "after_steps": ["sbs"], **omezarr}}}


def test_the_block_gives_steps_in_pipeline_order_layout_codec_and_channel_names(tmp_path):
    config = load_export_config(write_config(tmp_path / "config.yml", compressor="zstd"))

    assert config.enabled
    assert config.steps == ("preprocess", "sbs", "phenotype", "merge", "aggregate", "cluster")
    assert config.layout == "per_image"
    assert (config.storage.codec, config.storage.ngff_version) == ("zstd", "0.4")
    assert config.channels == {
        "sbs": ["DAPI", "G", "T"], "phenotype": ["DAPI", "GFP"],
        "preprocess/sbs": ["DAPI", "G", "T"], "preprocess/phenotype": ["DAPI", "GFP"],
    }  # fmt: skip
    shuffled = parse_export_config(_block(after_steps=["cluster", "sbs"]))
    assert shuffled.steps == ("sbs", "cluster")


@pytest.mark.parametrize(
    ("compressor", "codec"),
    [("default", "blosc-zstd"), ("blosc-lz4", "blosc-lz4"), (None, "none")],
)
def test_compressors(compressor, codec):
    config = parse_export_config(_block(write_args={"compressor": compressor}))
    assert config.storage.codec == codec


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"output": {}}, "has no output.omezarr block"),
        ({"all": {"root_fp": "x"}}, "has no output.omezarr block"),
        (_block(enabled="yes"), r"output.omezarr.enabled is 'yes'.*true or false"),
        (_block(after_steps="sbs"), r"after_steps is 'sbs'.*give a list"),
        (_block(after_steps=["sbs", "segment"]), r"after_steps is \['segment'\].*'merge'"),
        (_block(layout="hcs"), r"layout is 'hcs'.*'per_image' or 'plate'"),
        (_block(layout="plate", after_steps=["preprocess"]), r"remove 'preprocess'"),
        (_block(write_args={"compressor": "gzip"}), r"compressor is 'gzip'.*'blosc-lz4'"),
        (_block(write_args="zstd"), r"write_args is 'zstd'"),
    ],
)
def test_a_block_that_cannot_be_followed_names_the_key_and_the_choices(config, message):
    with pytest.raises(InvalidOptionError, match=message):
        parse_export_config(config)


def test_disabled_and_unreadable_configs(tmp_path):
    disabled = load_export_config(write_config(tmp_path / "c.yml", enabled="false"))
    assert not disabled.enabled
    assert plan_export(tmp_path, disabled, opens=store_opens) == []
    with pytest.raises(InvalidOptionError, match="could not be read"):
        load_export_config(tmp_path / "missing.yml")
    (tmp_path / "bad.yml").write_text("output: [unclosed\n")
    with pytest.raises(InvalidOptionError, match="not valid YAML"):
        load_export_config(tmp_path / "bad.yml")


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (
            "preprocess/images/sbs/P-1_W-A1_T-0_C-3__image.tiff",
            "preprocess/omezarr/sbs/P-1_W-A1_T-0_C-3__image.zarr",
        ),
        (
            "preprocess/images/phenotype/P-2_W-B12_T-40__image.tiff",
            "preprocess/omezarr/phenotype/P-2_W-B12_T-40__image.zarr",
        ),
        ("sbs/images/P-1_W-A1_T-7__aligned.tiff", "sbs/omezarr/P-1_W-A1_T-7__sbs_aligned.zarr"),
        (
            "phenotype/images/P-1_W-A1_T-7__aligned.tiff",
            "phenotype/omezarr/P-1_W-A1_T-7__phenotype.zarr",
        ),
    ],
)
def test_tiles_export_under_brieflows_own_names(tmp_path, source, target):
    path = tmp_path / source
    name = parse_intermediate(path)
    step = source.split("/")[0]
    assert image_export_path(tmp_path, step, path, name) == tmp_path / target


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (
            "merge/parquets/P-1_W-A1__merge_final.parquet",
            "merge/zarr/P-1_W-A1__merge_table.zarr",
        ),
        (
            "aggregate/tsvs/CeCl-all_ChCo-DAPI_GFP__aggregated.tsv",
            "aggregate/zarr/CeCl-all_ChCo-DAPI_GFP__aggregate.zarr",
        ),
        (
            "cluster/DAPI_GFP/all/2/phate_leiden_clustering.tsv",
            "cluster/DAPI_GFP/all/2/phate_leiden_clustering.zarr",
        ),
    ],
)
def test_tables_export_under_brieflows_own_names(tmp_path, source, target):
    assert table_export_path(tmp_path / source) == tmp_path / target


def test_names_parse_into_plate_well_tile_and_cycle():
    name = parse_intermediate(Path("P-1_W-A1_T-0_C-12__image.tif"))
    assert (name.plate, name.well, name.tile, name.cycle, name.image_type) == (
        "1", "A1", "0", "12", "image"
    )  # fmt: skip
    assert parse_intermediate(Path("A1_0__image.tiff")) is None
    assert parse_intermediate(Path("P-1_W-A1_T-0__image.zarr")) is None


def test_one_export_per_tile_and_table_in_pipeline_order(tmp_path, rng):
    run, config_path = make_tiff_run(tmp_path, rng)
    (run / "sbs" / "images" / "notes.tiff").write_bytes(b"not Brieflow's")

    exports = plan_export(run, load_export_config(config_path), opens=store_opens)

    assert [e.source for e in exports] == [
        "preprocess/images/sbs/P-1_W-A1_T-0_C-1__image.tiff",
        "preprocess/images/sbs/P-1_W-A1_T-0_C-2__image.tiff",
        "preprocess/images/phenotype/P-1_W-A1_T-0__image.tiff",
        "sbs/images/P-1_W-A1_T-0__aligned.tiff",
        "phenotype/images/P-1_W-A1_T-0__aligned.tiff",
        "phenotype/images/P-1_W-A1_T-1__aligned.tiff",
        "merge/parquets/P-1_W-A1__merge_final.parquet",
        "aggregate/tsvs/CeCl-all_ChCo-DAPI_GFP__aggregated.tsv",
        "cluster/DAPI_GFP/all/2/phate_leiden_clustering.tsv",
    ]
    assert all(e.problem is None and not e.complete() for e in exports)
    assert not any(e.output.exists() for e in exports)  # planning writes nothing


def test_a_phenotype_tile_without_its_masks_cannot_be_exported(tmp_path, rng):
    run, config_path = make_tiff_run(tmp_path, rng)
    (run / "phenotype" / "images" / "P-1_W-A1_T-1__cells.tiff").unlink()
    config = load_export_config(config_path)

    exports = plan_export(run, config, opens=store_opens)

    [(source, problem)] = [(e.source, e.problem) for e in exports if e.problem]
    assert source == "phenotype/images/P-1_W-A1_T-1__aligned.tiff"
    assert "P-1_W-A1_T-1__cells.tiff is missing" in problem and "segment_phenotype" in problem


def test_the_config_file_parses_as_brieflow_reads_it(tmp_path):
    # The fixture's config is plain YAML that Brieflow's own loader (yaml.safe_load) reads.
    config = yaml.safe_load(write_config(tmp_path / "c.yml").read_text())
    assert config["output"]["omezarr"]["layout"] == "per_image"


def test_pixel_sizes_come_from_the_wells_acquisition_metadata(tmp_path, rng):
    run, _ = make_tiff_run(tmp_path, rng)
    metadata = run / "preprocess" / "metadata" / "sbs" / "P-1_W-A1__combined_metadata.parquet"
    pd.DataFrame(
        {"tile": [0, 0], "cycle": [1, 2], "pixel_size_x": [1.3, 1.4], "pixel_size_y": [1.2, 1.4]}
    ).to_parquet(metadata)

    sizes = {t.path.name: pixel_size(run, t) for t in find_tiles(run, "preprocess")}
    assert sizes == {
        "P-1_W-A1_T-0_C-1__image.tiff": (1.2, 1.3),  # (y, x), this cycle's row
        "P-1_W-A1_T-0_C-2__image.tiff": (1.4, 1.4),
        "P-1_W-A1_T-0__image.tiff": (PHENOTYPE_PIXEL, PHENOTYPE_PIXEL),
    }
    [sbs] = find_tiles(run, "sbs")
    assert pixel_size(run, sbs) == (1.2, 1.3)  # aligned tiles: the tile's first cycle


def test_without_metadata_or_its_columns_there_is_no_pixel_size(tmp_path, rng):
    run, _ = make_tiff_run(tmp_path, rng, metadata=False)
    assert {pixel_size(run, t) for t in find_tiles(run, "phenotype")} == {None}
    folder = run / "preprocess" / "metadata" / "phenotype"
    folder.mkdir(parents=True)
    pd.DataFrame({"tile": [0, 1], "x_um": [0.3, 0.3]}).to_parquet(
        folder / "P-1_W-A1__combined_metadata.parquet"
    )
    assert {pixel_size(run, t) for t in find_tiles(run, "phenotype")} == {None}


def test_metadata_rows_that_are_not_numbers_give_their_tiles_no_pixel_size(tmp_path, rng, caplog):
    run, _ = make_tiff_run(tmp_path, rng)
    metadata = run / "preprocess/metadata/phenotype/P-1_W-A1__combined_metadata.parquet"
    pd.DataFrame({"tile": ["0", "tile-1"], "pixel_size_x": [0.5, 0.5]}).to_parquet(metadata)

    with caplog.at_level("WARNING"):
        sizes = {t.name.tile: pixel_size(run, t) for t in find_tiles(run, "phenotype")}

    assert sizes == {"0": (0.5, 0.5), "1": None}  # the readable row is still used
    [record] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert str(metadata) in record.getMessage() and "not a number" in record.getMessage()


def test_a_tile_that_cannot_be_a_plate_field_fails_alone(tmp_path, rng):
    run, _ = make_tiff_run(tmp_path, rng)
    images = run / "phenotype" / "images"
    for kind in ("aligned", "nuclei", "cells"):
        (images / f"P-1_W-A1_T-1__{kind}.tiff").rename(images / f"P-1_W-7_T-1__{kind}.tiff")
    config = load_export_config(
        write_config(tmp_path / "p.yml", layout="plate", steps='["phenotype"]')
    )

    exports = plan_export(run, config, opens=store_opens)

    problems = {e.source.rsplit("/", 1)[1]: e.problem for e in exports}
    assert problems["P-1_W-A1_T-0__aligned.tiff"] is None
    assert "Well '7' is not a well name" in problems["P-1_W-7_T-1__aligned.tiff"]


def test_tiles_are_read_with_channels_first_whatever_the_tiff_says(tmp_path, rng):
    run, _ = make_tiff_run(tmp_path, rng)
    [sbs, _, phenotype] = find_tiles(run, "preprocess")
    rgb = rng.integers(0, 255, size=(32, 32, 3), dtype=np.uint8)
    tifffile.imwrite(phenotype.path, rgb, photometric="rgb")  # interleaved samples (y, x, c)

    tile = read_tile(phenotype, ["R", "G", "B"])

    np.testing.assert_array_equal(np.asarray(tile.data), np.moveaxis(rgb, -1, 0))
    assert tile.channel_names == ["R", "G", "B"] and not tile.cycles
    plain = read_tile(sbs, ["DAPI", "G"])  # Brieflow's (c, y, x); two names for three channels
    np.testing.assert_array_equal(np.asarray(plain.data), tifffile.imread(sbs.path))
    assert plain.channel_names is None and plain.scale is None

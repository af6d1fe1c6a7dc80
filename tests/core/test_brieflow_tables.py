"""A Brieflow phenotype store gets its merge-table rows as label features."""

import numpy as np
import pandas as pd
import pytest

from napari_omezarr_export import write_image
from napari_omezarr_export.core.layouts.brieflow.names import (
    TileName,
    brieflow_store_path,
    merge_table_path,
    parse_tile_name,
)
from napari_omezarr_export.core.layouts.brieflow.tables import read_tile_features
from store_factories import make_brieflow_run


@pytest.fixture
def run(tmp_path, rng):
    return make_brieflow_run(tmp_path, rng)


def test_rows_of_the_tile_are_joined_on_cell_0(run):
    features = read_tile_features(run)
    assert features["index"].tolist() == [3, 5, 7]  # tile 1 left out, the duplicate of 5 too
    by_id = features.set_index("index")
    assert by_id.loc[3, "gene_symbol"] == "ACTB" and by_id.loc[3, "barcode"] == "ACGT"
    assert pd.isna(by_id.loc[5, "gene_symbol"]) and pd.isna(by_id.loc[5, "barcode"])
    assert pd.isna(by_id.loc[7, "barcode"]) and by_id.loc[7, "area"] == 98.5
    assert pd.isna(by_id.loc[5, "area"])


def test_as_written_names_and_stores_without_a_table(tmp_path, rng):
    assert parse_tile_name(tmp_path / "P-1_W-B2_T-14__phenotype.zarr").well == "B2"
    assert parse_tile_name(tmp_path / "plain.zarr") is None
    [store] = write_image(np.zeros((8, 8), np.uint8), tmp_path / "P-1_W-B2_T-14__phenotype.zarr")
    assert read_tile_features(store) is None


@pytest.mark.parametrize(
    "name",
    [TileName("1", "B2", "14", "phenotype"), TileName(None, "A1", "0", "sbs_aligned")],
    ids=["as-written", "design"],
)
def test_a_file_name_built_parses_back(tmp_path, name):
    assert parse_tile_name(tmp_path / name.store_name) == name


def test_the_written_store_and_its_merge_table_follow_one_rule(tmp_path):
    store = brieflow_store_path(tmp_path, step="phenotype", well="C3", tile=5)
    assert store == tmp_path / "phenotype" / "omezarr" / "C3_5__phenotype.zarr"
    name = parse_tile_name(store)
    assert (name.well, name.tile, name.plate) == ("C3", "5", None)
    assert merge_table_path(store, name) == tmp_path / "merge" / "zarr" / "C3__merge_table.zarr"

"""A Brieflow phenotype store gets its merge-table rows as label features."""

import numpy as np
import pandas as pd
import pytest

from napari_omezarr_export import write_image
from napari_omezarr_export.core.layouts.brieflow.tables import parse_tile_name, read_tile_features
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

"""A Brieflow phenotype store gets its merge-table rows as label features."""

import numpy as np
import pandas as pd
import pytest
import zarr

from napari_omezarr_export import ChannelStyle, write_brieflow_image, write_image
from napari_omezarr_export.core.brieflow_tables import parse_tile_name, read_tile_features


def _table(path, columns):
    group = zarr.open_group(path, mode="w", zarr_format=2)
    n = len(next(iter(columns.values())))
    group.attrs.update({"columns": list(columns), "index_name": "index", "num_rows": n})
    for name, values in columns.items():
        if isinstance(values[0], str):  # variable-length UTF-8, as Brieflow writes text
            array = group.create_array(name, shape=(n,), dtype=str, chunks=(n,))
            array[:] = np.array(values, dtype=object)
        else:
            group.create_array(name, data=np.asarray(values), chunks=(n,))


@pytest.fixture
def run(tmp_path, rng):
    cells = np.zeros((64, 64), np.int32)
    for i, cell in enumerate([3, 5, 9]):  # id 7 is in the table but not the image; 9 not in it
        cells[5 + 18 * i : 20 + 18 * i, 10:50] = cell
    image = rng.poisson(200, (2, 64, 64)).astype(np.uint16)
    styles = [ChannelStyle("DAPI"), ChannelStyle("COXIV")]
    write_brieflow_image(image, tmp_path, step="phenotype", well="A1", tile=0, channels=styles,
                         nuclei=cells, cells=cells)  # fmt: skip
    (tmp_path / "merge" / "zarr").mkdir(parents=True)
    _table(tmp_path / "merge" / "zarr" / "A1__merge_table.zarr", {
        "well": ["A1", "A1", "A1", "A1", "A1"],
        "tile": [0, 0, 0, 1, 0],
        "cell_0": [3, 5, 7, 3, 5],
        "gene_symbol": ["ACTB", "None", "TP53", "OTHER", "DUP"],
        "barcode": ["ACGT", "<NA>", "nan", "GGGG", "TTTT"],
        "area": [120.0, np.nan, 98.5, 1.0, 2.0],
    })  # fmt: skip
    return tmp_path / "phenotype" / "omezarr" / "A1_0__phenotype.zarr"


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

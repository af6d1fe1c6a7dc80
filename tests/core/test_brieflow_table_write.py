"""Brieflow tables (parquet, TSV) as zarr column groups, read back by our reader, gaps kept."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
import zarr

from brieflow_runs import merge_final
from napari_omezarr_export import StorageOptions, write_image
from napari_omezarr_export.core.errors import InvalidOptionError, TargetExistsError
from napari_omezarr_export.core.layouts.brieflow.table_write import (
    iter_write_table,
    require_table_packages,
    table_complete,
    write_table,
)
from napari_omezarr_export.core.layouts.brieflow.tables import read_tile_features

STAGING = ".omezarr-export-"


def _run_with_table(tmp_path, frame):
    """A run folder with one phenotype store (tile 0 of A1) and ``frame`` as its merge table."""
    run = tmp_path / "run"
    store = run / "phenotype" / "omezarr" / "P-1_W-A1_T-0__phenotype.zarr"
    write_image(np.zeros((16, 16), np.uint8), store)
    source = tmp_path / "P-1_W-A1__merge_final.parquet"
    frame.to_parquet(source)
    target = run / "merge" / "zarr" / "P-1_W-A1__merge_table.zarr"
    write_table(source, target)
    return store, source, target


def test_missing_values_come_back_missing_through_our_reader(tmp_path):
    store, _, _ = _run_with_table(tmp_path, merge_final())

    features = read_tile_features(store).set_index("index")

    assert features.index.tolist() == [1, 2, 3]  # tile 1's row left out
    assert features.loc[1, "gene_symbol"] == "ACTB" and pd.isna(features.loc[2, "gene_symbol"])
    assert features.loc[3, "area"] == 40.5 and pd.isna(features.loc[2, "area"])
    assert features["site"].dtype == "Int64"
    assert features.loc[1, "site"] == 5 and pd.isna(features.loc[2, "site"])
    assert features["mapped"].dtype == "boolean"
    assert features.loc[3, "mapped"] == False and pd.isna(features.loc[2, "mapped"])  # noqa: E712


def test_the_group_has_brieflows_attributes_and_one_array_per_column(tmp_path):
    frame = merge_final().set_index(pd.Index([10, 11, 12, 13], name="cell_id"))
    _, _, target = _run_with_table(tmp_path, frame)

    group = zarr.open_group(target, mode="r", zarr_format=2)
    assert dict(group.attrs) == {
        "columns": list(merge_final().columns),
        "index_name": "cell_id",
        "num_rows": 4,
    }
    arrays = dict(group.arrays())
    assert set(arrays) == {*merge_final().columns, "cell_id"}
    assert all(a.shape == (4,) for a in arrays.values())
    assert arrays["cell_id"][:].tolist() == [10, 11, 12, 13]
    assert arrays["cell_0"].dtype == np.int64 and arrays["area"].dtype == np.float64
    assert arrays["well"][:].tolist() == ["A1"] * 4
    # Brieflow's own convention for integers, named so that readers know it
    assert arrays["site"][:].tolist() == [5, -1, 7, 8]
    assert dict(arrays["site"].attrs) == {"missing_value": -1}
    assert dict(arrays["mapped"].attrs) == {"missing_value": -1, "dtype": "bool"}
    assert arrays["gene_symbol"][:].tolist() == ["ACTB", "<NA>", "TP53", "MYC"]


def test_an_integer_column_holding_minus_one_marks_its_gaps_with_another_value(tmp_path):
    frame = merge_final().assign(site=pd.array([-1, None, 7, 8], dtype="Int64"))
    store, _, target = _run_with_table(tmp_path, frame)

    site = zarr.open_group(target, mode="r")["site"]
    assert site.attrs["missing_value"] not in (-1, 7, 8)
    features = read_tile_features(store).set_index("index")
    assert features.loc[1, "site"] == -1 and pd.isna(features.loc[2, "site"])


def test_tsv_tables_and_the_chosen_codec(tmp_path):
    source = tmp_path / "CeCl-all_ChCo-DAPI__aggregated.tsv"
    pd.DataFrame({"gene": ["ACTB", None], "n": [3, 4], "x": [0.5, None]}).to_csv(
        source, sep="\t", index=False
    )
    target = tmp_path / "CeCl-all_ChCo-DAPI__aggregate.zarr"

    write_table(source, target, storage=StorageOptions(codec="zstd", level=3))

    group = zarr.open_group(target, mode="r")
    assert group.attrs["columns"] == ["gene", "n", "x"] and group.attrs["num_rows"] == 2
    assert group["gene"][:].tolist() == ["ACTB", "<NA>"]
    assert group["n"][:].tolist() == [3, 4] and np.isnan(group["x"][1])
    zarray = json.loads((target / "n" / ".zarray").read_text())
    assert zarray["compressor"]["id"] == "zstd" and zarray["compressor"]["level"] == 3


def test_complete_means_every_column_at_the_right_length(tmp_path):
    source = tmp_path / "t.parquet"
    merge_final().to_parquet(source)
    target = tmp_path / "t.zarr"
    assert not table_complete(target)

    write_table(source, target)

    assert table_complete(target) and table_complete(target, rows=4)
    assert not table_complete(target, rows=5)  # the source has grown since
    for path in (target / "area").iterdir():
        path.unlink()
    (target / "area").rmdir()
    assert not table_complete(target)


def test_a_cancelled_write_leaves_the_old_table_and_no_staging(tmp_path):
    source = tmp_path / "t.parquet"
    merge_final().to_parquet(source)
    target = tmp_path / "t.zarr"
    write_table(source, target)
    before = sorted(p.relative_to(target) for p in target.rglob("*"))
    merge_final().iloc[:2].to_parquet(source)

    steps = iter_write_table(source, target, storage=StorageOptions())
    assert next(steps) == (0, 8)
    assert next(steps) == (1, 8)
    steps.close()

    assert sorted(p.relative_to(target) for p in target.rglob("*")) == before
    assert zarr.open_group(target, mode="r").attrs["num_rows"] == 4
    assert not [p for p in tmp_path.iterdir() if STAGING in p.name]
    write_table(source, target)  # a rerun replaces the older export
    assert zarr.open_group(target, mode="r").attrs["num_rows"] == 2


def test_anything_but_an_earlier_table_export_is_left_alone(tmp_path):
    source = tmp_path / "t.parquet"
    merge_final().to_parquet(source)
    image = tmp_path / "image.zarr"
    write_image(np.zeros((8, 8), np.uint8), image)
    before = sorted(p.relative_to(image) for p in image.rglob("*"))

    with pytest.raises(TargetExistsError, match="not a table exported before"):
        write_table(source, image)

    assert sorted(p.relative_to(image) for p in image.rglob("*")) == before


def test_a_column_name_that_cannot_be_an_array_is_refused_before_writing(tmp_path):
    source = tmp_path / "t.parquet"
    pd.DataFrame({"a/b": [1, 2]}).to_parquet(source)

    with pytest.raises(InvalidOptionError, match=r"'a/b'.*rename the column"):
        write_table(source, tmp_path / "t.zarr")
    assert not (tmp_path / "t.zarr").exists()


def test_without_pyarrow_the_message_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)

    hint = r'pip install "napari-omezarr-export\[brieflow\]"'
    with pytest.raises(InvalidOptionError, match=hint):
        require_table_packages()

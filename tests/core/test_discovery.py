"""discover(): one cheap look at metadata, a kind for every layout, never an exception."""

from __future__ import annotations

import pytest

from napari_omezarr_export.core.read.discovery import discover
from store_factories import (
    brieflow_phenotype,
    brieflow_table,
    legacy_store,
    percell_ids,
    percell_names,
    write_group,
)


@pytest.fixture
def stores(tmp_path, rng):
    bf = brieflow_phenotype(tmp_path, rng)
    names = percell_names(tmp_path, rng)
    ids = percell_ids(tmp_path, rng)
    return {
        "image": bf,
        "labels_group": bf / "labels",
        "label_image": bf / "labels" / "cells",
        "legacy": legacy_store(tmp_path, "0.1", rng),
        "percell_names": names,
        "percell_ids": ids,
        "percell_images_store": ids / "images.zarr",
        "region": names / "images.zarr" / "condition_1" / "region_1",
        "fov": ids / "images.zarr" / "fov_1",
        "mask_names": names / "masks.zarr" / "condition_1" / "region_1" / "threshold_GFP",
        "mask_ids": ids / "masks.zarr" / "thresh_1",
        "mask_ids_inner": ids / "masks.zarr" / "thresh_1" / "mask",
        "particles": ids / "masks.zarr" / "thresh_1" / "particles",
        "table": brieflow_table(tmp_path),
    }


EXPECTED = {
    "image": "image",
    "labels_group": "labels_group",
    "label_image": "label_image",
    "legacy": "image",
    "percell_names": "percell",
    "percell_ids": "percell",
    "percell_images_store": "percell",
    "region": "percell_region",
    "fov": "percell_region",
    "mask_names": "mask",
    "mask_ids": "mask",
    "mask_ids_inner": "mask",
    "particles": "particles",
    "table": "brieflow_table",
}


@pytest.mark.parametrize("what", sorted(EXPECTED))
def test_kinds(stores, what):
    node = discover(stores[what])
    assert node.kind == EXPECTED[what]
    assert node.is_ours


def test_percell_parts_know_their_experiment(stores):
    assert discover(stores["region"]).percell_root == stores["percell_names"]
    assert discover(stores["mask_ids"]).percell_root == stores["percell_ids"]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda p: p / "missing.zarr", id="missing"),
        pytest.param(lambda p: (p / "f.zarr").write_text("x") or p / "f.zarr", id="file"),
        pytest.param(lambda p: (p / "plain").mkdir() or p / "plain", id="plain-folder"),
        pytest.param(lambda p: write_group(p / "g.zarr"), id="group-without-ome"),
        pytest.param(lambda p: write_group(p / "h.zarr", {"foo": 1}), id="other-attrs"),
        pytest.param(lambda p: (p / "e.percell").mkdir() or p / "e.percell", id="empty-percell"),
    ],
)
def test_not_ours(tmp_path, make):
    assert discover(make(tmp_path)).kind == "not_ours"


@pytest.mark.parametrize("bad", [None, 3, "", "\0bad"], ids=["none", "int", "empty", "nul"])
def test_never_raises_on_odd_input(bad):
    assert discover(bad).kind == "not_ours"


def test_corrupt_json_is_broken_with_a_message(tmp_path):
    store = write_group(tmp_path / "c.zarr")
    (store / ".zattrs").write_text('{"multiscales": [')
    node = discover(store)
    assert node.kind == "broken"
    assert ".zattrs" in node.message and "not valid JSON" in node.message

"""``.percell`` experiments of both shapes: names, colours, register, scale, read-only opening."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from napari_omezarr_export.core.discovery import discover
from napari_omezarr_export.core.errors import PercellFormatError
from napari_omezarr_export.core.percell import load_experiment
from napari_omezarr_export.core.reading import read_node
from store_factories import percell_ids, percell_names


def read(path):
    return {s.name: s for s in read_node(discover(path))}


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            st = os.stat(os.path.join(dirpath, name))
            out[os.path.relpath(os.path.join(dirpath, name), root)] = (st.st_size, st.st_mtime_ns)
    return out


def test_design_layout_single_region(tmp_path, rng):
    root = percell_names(tmp_path, rng, n_regions=2)
    region = root / "images.zarr" / "condition_1" / "region_1"
    specs = read(region)
    assert list(specs) == ["DAPI", "GFP", "RFP", "segmentation", "GFP mask"]
    dapi, seg, mask = specs["DAPI"], specs["segmentation"], specs["GFP mask"]
    assert dapi.color == "#0000ff" and specs["RFP"].color == "#ff0000"
    assert dapi.kwargs["contrast_limits"][1] <= 4095  # 0-65535 window on 12-bit data ignored
    assert dapi.kwargs["scale"] == seg.kwargs["scale"] == mask.kwargs["scale"] == (0.65, 0.65)
    assert seg.kwargs["metadata"]["percell_type"] == "segmentation"
    assert seg.kwargs["opacity"] == 0.5
    assert mask.kwargs["metadata"]["percell_type"] == "mask"
    assert mask.kwargs["opacity"] == 0.4 and mask.kwargs["visible"] is False
    assert mask.label_colors[None] == (1.0, 0.0, 1.0, 1.0)
    assert set(np.unique(np.asarray(mask.data[0]))) <= {0, 255}
    meta = seg.kwargs["metadata"]
    assert meta["percell"]["condition"] == "condition_1"
    assert meta["percell"]["region"] == "region_1"
    assert meta["percell"]["experiment"] == str(root)
    assert meta["ome_zarr"]["image"] == str(region)
    assert meta["ome_zarr"]["path"] == str(root / "labels.zarr" / "condition_1" / "region_1")


def test_design_layout_with_timepoints(tmp_path, rng):
    root = percell_names(tmp_path, rng, n_regions=3, timepoints=True)
    exp = load_experiment(root)
    assert exp.layout == "names" and len(exp.regions) == 3
    assert exp.regions[0].key["timepoint"] == "timepoint_1"
    specs = read(root)
    assert specs["DAPI"].data[0].shape == (3, 48, 48)
    assert specs["DAPI"].kwargs["axis_labels"] == ("region", "y", "x")
    labels = [r["label"] for r in specs["DAPI"].kwargs["metadata"]["percell"]["regions"]]
    assert labels[0] == "condition_1/timepoint_1/region_1"


def test_percell3_id_layout(tmp_path, rng):
    root = percell_ids(tmp_path, rng, n_fovs=1)
    specs = read(root)
    # channels in display order, colours from the db or guessed (omero says FFFFFF)
    assert list(specs) == ["DAPI", "GFP", "Cy5", "segmentation", "GFP otsu mask",
                           "GFP otsu particles"]  # fmt: skip
    assert [specs[n].color for n in ("DAPI", "GFP", "Cy5")] == ["#0000ff", "#00ff00", "#ff00ff"]
    # labels have scale [1, 1] on disk: shown at the image's pixel size, in register
    assert all(s.kwargs["scale"] == (0.325, 0.325) for s in specs.values())
    seg = specs["segmentation"]
    assert np.asarray(seg.data[0]).max() == 3  # the cellular one, not the whole-field one
    assert seg.kwargs["metadata"]["ome_zarr"]["path"] == str(root / "labels.zarr" / "seg_2")
    assert seg.kwargs["metadata"]["percell"]["region"] == "FOV 001"
    assert seg.kwargs["metadata"]["percell"]["condition"] == "drug"
    assert specs["GFP otsu particles"].kwargs["metadata"]["percell_type"] == "particles"


def test_percell3_mask_dropped_alone(tmp_path, rng):
    root = percell_ids(tmp_path, rng, n_fovs=2)
    specs = read(root / "masks.zarr" / "thresh_1" / "mask")
    assert list(specs) == ["GFP otsu mask"]
    assert specs["GFP otsu mask"].kwargs["scale"] == (0.325, 0.325)
    assert specs["GFP otsu mask"].kwargs["metadata"]["ome_zarr"]["kind"] == "mask"


def test_design_mask_dropped_alone(tmp_path, rng):
    root = percell_names(tmp_path, rng)
    specs = read(root / "masks.zarr" / "condition_2" / "region_2" / "threshold_GFP")
    assert list(specs) == ["GFP mask"]
    assert specs["GFP mask"].kwargs["metadata"]["percell"]["region"] == "region_2"


@pytest.mark.parametrize("factory", [percell_names, percell_ids], ids=["names", "ids"])
def test_hundred_regions_stack_lazily_into_few_layers(tmp_path, rng, factory):
    kwargs = {"n_regions": 100} if factory is percell_names else {"n_fovs": 100}
    root = factory(tmp_path, rng, size=32, **kwargs)
    specs = read_node(discover(root))
    assert len(specs) <= 6  # channels + segmentation + masks, not 100x that
    image = specs[0]
    assert image.data[0].shape == (100, 32, 32)
    assert len(image.kwargs["metadata"]["percell"]["regions"]) == 100
    assert all(type(s.data[0]).__name__ == "Array" for s in specs)  # dask: nothing loaded
    labels = [s for s in specs if s.layer_type == "labels"]
    assert all(s.data[0].shape == (100, 32, 32) for s in labels)
    assert np.asarray(labels[0].data[0][57]).max() == 3


@pytest.mark.parametrize("pending_wal", [False, True], ids=["closed", "open-in-percell"])
def test_opening_changes_no_file(tmp_path, rng, pending_wal):
    keep: list = []
    root = percell_ids(tmp_path, rng, n_fovs=3, keep_open=keep if pending_wal else None)
    if pending_wal:
        assert (root / "experiment.db-wal").is_file()
    before = snapshot(root)
    specs = read_node(discover(root))
    assert specs[0].kwargs["metadata"]["percell"]["regions"][2]["region"] == "FOV 003"
    for spec in specs:
        np.asarray(spec.data[0][0])
    assert snapshot(root) == before
    for conn in keep:
        conn.close()


def test_empty_experiment_is_a_clear_error(tmp_path):
    root = tmp_path / "empty.percell"
    (root / "images.zarr").mkdir(parents=True)
    (root / "images.zarr" / ".zgroup").write_text('{"zarr_format": 2}')
    with pytest.raises(PercellFormatError, match="holds no images"):
        read_node(discover(root))


def test_corrupt_database_is_a_clear_error(tmp_path):
    root = tmp_path / "bad.percell"
    root.mkdir()
    (root / "experiment.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(PercellFormatError, match=r"experiment\.db"):
        read_node(discover(root))

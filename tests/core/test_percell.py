"""``.percell`` experiments of both shapes: names, colours, register, scale, read-only opening."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import zarr

import napari_omezarr_export
from napari_omezarr_export import InvalidOptionError, PercellFormatError
from napari_omezarr_export.core.layouts.percell import PercellRegion, free_region
from napari_omezarr_export.core.layouts.percell.experiment import load_experiment
from napari_omezarr_export.core.layouts.percell.model import Link, name_stem, stack_slots
from napari_omezarr_export.core.layouts.percell.names import group_path, mask_parts
from store_factories import (
    PERCELL3_GROUPS,
    percell3_experiment,
    percell3_threshold_name,
    percell_ids,
    percell_names,
    write_image,
    yx_axes,
)


def read(path):
    return {s.name: s for s in napari_omezarr_export.read(path)}


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
    specs = napari_omezarr_export.read(root)
    assert len(specs) <= 6  # channels + segmentation + masks, not 100x that
    image = specs[0]
    assert image.data[0].shape == (100, 32, 32)
    assert len(image.kwargs["metadata"]["percell"]["regions"]) == 100
    assert all(type(s.data[0]).__name__ == "Array" for s in specs)  # dask: nothing loaded
    labels = [s for s in specs if s.layer_type == "labels"]
    assert all(s.data[0].shape == (100, 32, 32) for s in labels)
    assert np.asarray(labels[0].data[0][57]).max() == 3


@pytest.mark.parametrize("factory", [percell_ids, percell3_experiment], ids=["ids", "grouped"])
@pytest.mark.parametrize("pending_wal", [False, True], ids=["closed", "open-in-percell"])
def test_opening_changes_no_file(tmp_path, rng, pending_wal, factory):
    keep: list = []
    root = factory(tmp_path, rng, n_fovs=3, keep_open=keep if pending_wal else None)
    if pending_wal:
        assert (root / "experiment.db-wal").is_file()
    before = snapshot(root)
    specs = napari_omezarr_export.read(root)
    third = "FOV 003" if factory is percell_ids else "FOV_003"
    assert specs[0].kwargs["metadata"]["percell"]["regions"][2]["region"] == third
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
        napari_omezarr_export.read(root)


def test_corrupt_database_is_a_clear_error(tmp_path):
    root = tmp_path / "bad.percell"
    root.mkdir()
    (root / "experiment.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(PercellFormatError, match=r"experiment\.db"):
        napari_omezarr_export.read(root)


# ---------------------------------------------------------------- PerCell 3 at scale (issue 13)

G1, G2 = (percell3_threshold_name(g, 1).removesuffix("_1") for g in PERCELL3_GROUPS)


def on_disk(path: Path) -> np.ndarray:
    return zarr.open_array(str(path), mode="r")[...]


def run_ids(root: Path, table: str) -> dict[str, int]:
    """Run name -> id, read from the experiment's own database."""
    conn = sqlite3.connect(root / "experiment.db")
    try:
        return dict(conn.execute(f"SELECT name, id FROM {table}").fetchall())
    finally:
        conn.close()


def edit_db(root: Path, *statements: tuple) -> None:
    conn = sqlite3.connect(root / "experiment.db")
    with conn:
        for sql, *args in statements:
            conn.execute(sql, args)
    conn.close()


def test_percell3_experiment_opens_as_a_handful_of_layers(tmp_path, rng):
    root = percell3_experiment(tmp_path, rng, n_fovs=100, size=32)
    specs = napari_omezarr_export.read(root)
    names = [s.name for s in specs]
    assert names == ["DAPI", "GFP", "segmentation", f"{G1} mask", f"{G1} particles",
                     f"{G2} mask", f"{G2} particles"]  # fmt: skip
    assert all(s.data[0].shape == (100, 32, 32) for s in specs)
    assert all(type(s.data[0]).__name__ == "Array" for s in specs)  # dask: nothing loaded
    mask = specs[3].kwargs["metadata"]["percell"]["thresholds"]
    assert mask == [percell3_threshold_name("g1", n) for n in range(1, 101)]


def test_each_slice_is_that_fields_run_on_disk(tmp_path, rng):
    root = percell3_experiment(tmp_path, rng, n_fovs=6)
    specs = read(root)
    thresholds, segs = run_ids(root, "thresholds"), run_ids(root, "segmentations")
    for group, stem in zip(PERCELL3_GROUPS, (G1, G2), strict=True):
        mask, particles = specs[f"{stem} mask"], specs[f"{stem} particles"]
        slices = mask.kwargs["metadata"]["percell"]["thresholds"]
        assert slices == particles.kwargs["metadata"]["percell"]["thresholds"]
        for i, name in enumerate(slices):
            assert name == percell3_threshold_name(group, i + 1)
            folder = root / "masks.zarr" / f"thresh_{thresholds[name]}"
            np.testing.assert_array_equal(mask.data[0][i], on_disk(folder / "mask" / "0"))
            np.testing.assert_array_equal(
                particles.data[0][i], on_disk(folder / "particles" / "0")
            )
    seg = specs["segmentation"]
    assert seg.kwargs["metadata"]["percell"]["segmentations"] == [
        f"cyto3_DAPI_{n}" for n in range(1, 7)
    ]
    for i in range(6):
        folder = root / "labels.zarr" / f"seg_{segs[f'cyto3_DAPI_{i + 1}']}"
        np.testing.assert_array_equal(seg.data[0][i], on_disk(folder / "0"))
    assert not np.all(np.asarray(seg.data[0]) == 1)  # the whole-field one (all ones) is skipped
    regions = seg.kwargs["metadata"]["percell"]["regions"]
    assert [r["region"] for r in regions] == [f"FOV_{n:03d}" for n in range(1, 7)]


def test_stacked_masks_look_as_in_percell(tmp_path, rng):
    root = percell3_experiment(tmp_path, rng, n_fovs=3)
    specs = read(root)
    mask, particles, seg = specs[f"{G1} mask"], specs[f"{G1} particles"], specs["segmentation"]
    assert mask.kwargs["visible"] is False and mask.kwargs["opacity"] == 0.4
    assert mask.label_colors[None] == (1.0, 0.0, 1.0, 1.0)
    assert mask.kwargs["metadata"]["percell_type"] == "mask"
    assert particles.kwargs["visible"] is False and particles.label_colors is None
    assert particles.kwargs["metadata"]["percell_type"] == "particles"
    assert seg.kwargs["visible"] is True and seg.kwargs["opacity"] == 0.5
    assert all(s.kwargs["scale"] == (1.0, 0.325, 0.325) for s in specs.values())


def test_a_field_without_a_run_gets_a_blank_slice(tmp_path, rng):
    root = percell3_experiment(tmp_path, rng, n_fovs=4)
    gone = run_ids(root, "thresholds")[percell3_threshold_name("g2", 3)]
    edit_db(root, ("DELETE FROM fov_config WHERE threshold_id = ?", gone))
    specs = read(root)
    mask = specs[f"{G2} mask"]
    assert mask.kwargs["metadata"]["percell"]["thresholds"][2] is None
    assert mask.kwargs["metadata"]["ome_zarr"]["paths"][2] is None
    assert not np.asarray(mask.data[0][2]).any()
    assert np.asarray(mask.data[0][3]).any()
    assert np.asarray(specs[f"{G1} mask"].data[0][2]).any()


def test_every_segmentation_of_a_field_is_shown(tmp_path, rng):
    root = percell3_experiment(tmp_path, rng, n_fovs=3)
    edited = np.full((64, 64), 7, "int32")
    write_image(root / "labels.zarr" / "seg_90", edited, levels=1, axes=yx_axes("y", "x"),
                scale=[1.0, 1.0], image_label={"version": "0.4"})  # fmt: skip
    edit_db(
        root,
        ("INSERT INTO segmentations VALUES (90, 'napari_edit_DAPI_1', 'cellular', 2, 'DAPI', "
         "'napari_edit', NULL, 64, 64, 1)",),
        ("INSERT INTO fov_config(config_id, fov_id, segmentation_id) VALUES (2, 2, 90)",),
    )  # fmt: skip
    specs = read(root)
    assert "segmentation" not in specs  # field 2 has two: each group of runs gets its layer
    cyto, edit = specs["cyto3_DAPI"], specs["napari_edit_DAPI_1"]
    assert cyto.kwargs["metadata"]["percell"]["segmentations"] == [
        "cyto3_DAPI_1", "cyto3_DAPI_2", "cyto3_DAPI_3"
    ]  # fmt: skip
    assert edit.kwargs["metadata"]["percell"]["segmentations"] == [
        None,
        "napari_edit_DAPI_1",
        None,
    ]
    np.testing.assert_array_equal(edit.data[0][1], edited)
    assert not np.asarray(edit.data[0][0]).any()


def test_one_segmentation_per_field_is_one_layer_whatever_its_name(tmp_path, rng):
    root = percell3_experiment(tmp_path, rng, n_fovs=3)
    write_image(root / "labels.zarr" / "seg_90", np.full((64, 64), 7, "int32"), levels=1,
                axes=yx_axes("y", "x"), scale=[1.0, 1.0],
                image_label={"version": "0.4"})  # fmt: skip
    edit_db(
        root,
        ("INSERT INTO segmentations VALUES (90, 'napari_edit_DAPI_1', 'cellular', 2, 'DAPI', "
         "'napari_edit', NULL, 64, 64, 1)",),
        ("UPDATE fov_config SET segmentation_id = 90 WHERE config_id = 2 AND fov_id = 2",),
    )  # fmt: skip
    seg = read(root)["segmentation"]
    names = seg.kwargs["metadata"]["percell"]["segmentations"]
    assert names == ["cyto3_DAPI_1", "napari_edit_DAPI_1", "cyto3_DAPI_3"]
    assert np.asarray(seg.data[0][1]).min() == 7


def test_a_single_field_shows_its_masks_by_threshold_name(tmp_path, rng):
    root = percell3_experiment(tmp_path, rng, n_fovs=6)
    specs = read(root / "images.zarr" / "fov_3")
    g1, g2 = (percell3_threshold_name(g, 3) for g in PERCELL3_GROUPS)
    assert list(specs) == ["DAPI", "GFP", "segmentation", f"{g1} mask", f"{g1} particles",
                           f"{g2} mask", f"{g2} particles"]  # fmt: skip
    thr = run_ids(root, "thresholds")[g1]
    disk = on_disk(root / "masks.zarr" / f"thresh_{thr}" / "mask" / "0")
    np.testing.assert_array_equal(specs[f"{g1} mask"].data[0], disk)
    assert all(not s.kwargs["visible"] for n, s in specs.items() if n.startswith("thresh_"))
    assert specs[f"{g1} mask"].kwargs["scale"] == (0.325, 0.325)
    assert specs["segmentation"].kwargs["metadata"]["percell"]["region"] == "FOV_003"


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        pytest.param([["a_1"], ["a_2"], ["a_3"]], {"a": ["a_1", "a_2", "a_3"]}, id="by-stem"),
        pytest.param([["x"], [], ["x"]], {"x": ["x", None, "x"]}, id="shared-run"),
        pytest.param(
            [["a_1", "a_2"], ["a_3"]],
            {"a": ["a_1", "a_3"], "a_2": ["a_2", None]},
            id="two-in-one-field",
        ),
        pytest.param(
            [["a_1", "a_2"], ["a_3", "a_4"]],
            {"a": ["a_1", "a_3"], "a (2)": ["a_2", "a_4"]},
            id="two-in-each-field",
        ),
    ],
)
def test_stack_slots(groups, expected):
    per_region = [[Link(n, Path(n), name_stem(n)) for n in names] for names in groups]
    assert {s.name: s.names for s in stack_slots(per_region)} == expected


def test_a_regions_paths_come_from_one_place(tmp_path):
    where = PercellRegion("ctrl", "r1", "t0")
    assert where.image_path(tmp_path) == tmp_path / "images.zarr" / "ctrl" / "t0" / "r1"
    assert where.labels_path() == Path("labels.zarr/ctrl/t0/r1")
    assert where.mask_path("GFP") == Path("masks.zarr/ctrl/t0/r1/threshold_GFP")
    assert where.mask_path("GFP") == group_path(Path(), "mask", where.parts, "GFP")
    assert where.group_paths(Path(), segmentation=False, masks=["a"]) == [
        where.image_path(),
        where.mask_path("a"),
    ]
    assert where.image_source == "../../../../images.zarr/ctrl/t0/r1"
    assert PercellRegion.from_parts(where.parts) == where
    assert PercellRegion.from_metadata({"percell": {"condition": "ctrl", "region": "r1"}}) == (
        PercellRegion("ctrl", "r1")
    )
    assert PercellRegion.from_metadata({"percell": {"condition": "ctrl"}}) is None
    with pytest.raises(InvalidOptionError, match="cannot be a folder name"):
        PercellRegion("ctrl", "../r1")


def test_the_next_free_region_skips_names_on_disk(tmp_path):
    root = tmp_path / "exp.percell"
    assert free_region(root).region == "region_1"
    (root / "images.zarr" / "condition_1" / "region_1").mkdir(parents=True)
    assert free_region(tmp_path / "exp", "condition_1") == PercellRegion("condition_1", "region_2")
    assert free_region(root, "other").region == "region_1"


def test_mask_parts_of_both_layouts(tmp_path):
    design = tmp_path / "threshold_GFP"
    design.mkdir()
    assert mask_parts(design) == (design, design, None)
    ids = tmp_path / "thresh_4"
    (ids / "mask").mkdir(parents=True)
    (ids / "particles" / "0").mkdir(parents=True)
    assert mask_parts(ids / "mask") == (ids, ids / "mask", ids / "particles")

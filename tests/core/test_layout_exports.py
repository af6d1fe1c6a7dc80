"""Exports into a .percell experiment and as Brieflow per-image stores, re-opened by our reader."""

import json
import sqlite3

import numpy as np
import pytest
import zarr

from napari_omezarr_export import (
    ChannelStyle,
    InvalidOptionError,
    LabelsSpec,
    PercellRegion,
    TargetExistsError,
    write_brieflow_image,
    write_percell_region,
)
from napari_omezarr_export._napari._reader import get_reader
from napari_omezarr_export.core.layouts.percell import plan_percell_region, preview_percell_region
from validation import assert_valid_store

STYLES = [ChannelStyle("DAPI", "0000FF", 0, 900), ChannelStyle("GFP", "00FF00", 0, 700)]


@pytest.fixture
def field(rng):
    image = rng.poisson(300, size=(2, 600, 520)).astype(np.uint16)
    cells = np.zeros((600, 520), np.int32)
    cells[50:250, 40:300] = 12
    cells[300:590, 200:500] = 40
    return image, cells, cells > 0


def _files(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _read(path):
    return {
        kwargs["name"]: (data, kwargs, kind)
        for data, kwargs, kind in get_reader(str(path))(str(path))
    }


def _level0(data):
    """Level 0 of a layer's data: a pyramid's first array, or the one array."""
    return np.asarray(data[0] if isinstance(data, list | tuple) else data)


def test_percell_region_round_trip_and_database(tmp_path, field):
    image, cells, mask = field
    written = write_percell_region(
        image,
        tmp_path / "exp",
        PercellRegion("control", "r1"),
        channels=STYLES,
        segmentation=LabelsSpec(cells, "segmentation"),
        masks=[LabelsSpec(mask, "GFP")],
        scale=(1, 0.65, 0.65),
        units=(None, "micrometer", "micrometer"),
    )
    root = tmp_path / "exp.percell"
    assert [p.relative_to(root).as_posix() for p in written] == [
        "images.zarr/control/r1",
        "labels.zarr/control/r1",
        "masks.zarr/control/r1/threshold_GFP",
    ]
    for path in written:
        assert_valid_store(path)
    for store in ("images.zarr", "labels.zarr", "masks.zarr"):
        assert json.loads((root / store / ".zattrs").read_text()) == {"percell_version": "3.0.0"}
    image_array = zarr.open_group(written[0], mode="r")["0"]
    assert image_array.chunks == (1, 512, 512)
    assert image_array.compressors[0].cname == "lz4"
    mask_array = zarr.open_group(written[2], mode="r")["0"]
    assert mask_array.dtype == np.uint8 and set(np.unique(mask_array[:])) == {0, 255}
    assert mask_array.compressors[0].cname == "zstd"
    assert zarr.open_group(written[1], mode="r")["0"].dtype == np.int32
    with sqlite3.connect(root / "experiment.db") as conn:
        rows = conn.execute(
            "SELECT name, zarr_path, labels_path, width, height, pixel_size_um FROM regions"
        ).fetchall()
        channels = conn.execute(
            "SELECT name, color FROM channels ORDER BY display_order"
        ).fetchall()
        masks = conn.execute("SELECT name, zarr_path FROM masks").fetchall()
    assert rows == [("r1", "images.zarr/control/r1", "labels.zarr/control/r1", 520, 600, 0.65)]
    assert channels == [("DAPI", "0000FF"), ("GFP", "00FF00")]
    assert masks == [("GFP", "masks.zarr/control/r1/threshold_GFP")]
    for _, zarr_path in [*masks, (None, rows[0][1]), (None, rows[0][2])]:
        assert (root / zarr_path).is_dir()
    layers = _read(written[0])
    assert set(layers) == {"DAPI", "GFP", "segmentation", "GFP mask"}
    np.testing.assert_array_equal(_level0(layers["GFP"][0]), image[1])
    np.testing.assert_array_equal(_level0(layers["segmentation"][0]), cells)
    assert layers["GFP mask"][1]["metadata"]["percell_type"] == "mask"
    assert layers["DAPI"][1]["metadata"]["percell"]["condition"] == "control"


def test_appending_a_region_leaves_the_others_byte_identical(tmp_path, field):
    image, cells, _ = field
    root = tmp_path / "exp.percell"
    write_percell_region(
        image,
        root,
        PercellRegion("control", "r1"),
        channels=STYLES,
        segmentation=LabelsSpec(cells, "segmentation"),
    )
    first = _files(root / "images.zarr/control/r1") | _files(root / "labels.zarr/control/r1")
    write_percell_region(image + 1, root, PercellRegion("treated", "r2", "t1"), channels=STYLES)
    write_percell_region(image + 2, root, PercellRegion("control", "r3"), channels=STYLES)
    after = _files(root / "images.zarr/control/r1") | _files(root / "labels.zarr/control/r1")
    assert after == first
    with sqlite3.connect(root / "experiment.db") as conn:
        paths = [r[0] for r in conn.execute("SELECT zarr_path FROM regions ORDER BY id")]
    assert paths == [
        "images.zarr/control/r1",
        "images.zarr/treated/t1/r2",
        "images.zarr/control/r3",
    ]
    write_percell_region(
        image + 5, root, PercellRegion("control", "r1"), channels=STYLES
    )  # replace
    np.testing.assert_array_equal(
        zarr.open_group(root / "images.zarr/control/r1")["0"][:], image + 5
    )
    with sqlite3.connect(root / "experiment.db") as conn:
        assert conn.execute("SELECT count(*) FROM regions").fetchone()[0] == 3


def test_brieflow_phenotype_store(tmp_path, field):
    image, cells, _ = field
    [path] = write_brieflow_image(
        image,
        tmp_path / "run",
        step="phenotype",
        well="A1",
        tile=7,
        channels=STYLES,
        nuclei=cells,
        cells=cells,
    )
    assert path == tmp_path / "run" / "phenotype" / "omezarr" / "A1_7__phenotype.zarr"
    assert assert_valid_store(path) == 4
    attrs = json.loads((path / ".zattrs").read_text())
    assert all("window" in c for c in attrs["omero"]["channels"])
    assert [a["name"] for a in attrs["multiscales"][0]["axes"]] == ["c", "y", "x"]
    assert attrs["multiscales"][0]["type"] == "mean"
    assert json.loads((path / "labels" / ".zattrs").read_text()) == {"labels": ["nuclei", "cells"]}
    array = zarr.open_group(path, mode="r")["0"]
    assert array.chunks == (1, 600, 520) and array.compressors[0].cname == "zstd"
    layers = _read(path)
    assert {"nuclei", "cells"} <= set(layers)


@pytest.mark.parametrize(
    ("mode", "axes", "first"), [("axis", "tcyx", "A"), ("flatten", "cyx", "C1-A")]
)
def test_brieflow_sbs_cycles(tmp_path, rng, mode, axes, first):
    sbs = rng.poisson(200, size=(3, 4, 64, 64)).astype(np.uint16)
    styles = [ChannelStyle(n) for n in "AGTC"]
    [path] = write_brieflow_image(
        sbs, tmp_path, step="sbs", well="B2", tile=0, channels=styles, cycles=mode
    )
    assert path.name == "B2_0__sbs_aligned.zarr"
    attrs = json.loads((path / ".zattrs").read_text())
    assert "".join(a["name"] for a in attrs["multiscales"][0]["axes"]) == axes
    assert attrs["omero"]["channels"][0]["label"] == first
    assert_valid_store(path)


def test_a_failed_region_replacement_leaves_the_old_region_whole(tmp_path, field):
    image, cells, _ = field
    root = tmp_path / "exp.percell"
    write_percell_region(
        image,
        root,
        PercellRegion("control", "r1"),
        channels=STYLES,
        segmentation=LabelsSpec(cells, "segmentation"),
    )
    before = _files(root)

    class BrokenMask:
        shape, dtype, ndim = cells.shape, np.dtype(np.uint8), 2

        def __getitem__(self, index):
            raise OSError("the mask's network drive went away")

    with pytest.raises(OSError, match="network drive"):
        write_percell_region(
            image + 9,
            root,
            PercellRegion("control", "r1"),
            channels=STYLES,
            segmentation=LabelsSpec(cells * 2, "segmentation"),
            masks=[LabelsSpec(BrokenMask(), "GFP")],
        )
    after = {p: b for p, b in _files(root).items() if "threshold_GFP" not in p.as_posix()}
    assert after == before  # the new image and labels were staged, never swapped in
    assert not [p for p in root.rglob("*") if ".omezarr-export-" in p.name]


def test_replacing_a_region_removes_its_old_segmentation_and_masks(tmp_path, field):
    image, cells, mask = field
    root = tmp_path / "exp.percell"
    write_percell_region(
        image,
        root,
        PercellRegion("c", "r1"),
        channels=STYLES,
        segmentation=LabelsSpec(cells, "segmentation"),
        masks=[LabelsSpec(mask, "A")],
    )
    write_percell_region(
        image, root, PercellRegion("c", "r1"), channels=STYLES, masks=[LabelsSpec(mask, "B")]
    )
    assert not (root / "labels.zarr" / "c" / "r1").exists()
    masks = sorted(p.name for p in (root / "masks.zarr" / "c" / "r1").iterdir() if p.is_dir())
    assert masks == ["threshold_B"]
    assert set(_read(root / "images.zarr" / "c" / "r1")) == {"DAPI", "GFP", "B mask"}


def test_bad_mask_names_and_segmentations_are_refused_before_writing(tmp_path, field, rng):
    image, cells, mask = field
    root = tmp_path / "exp.percell"
    where = PercellRegion("c", "r1")
    with pytest.raises(InvalidOptionError, match="cannot be a folder name"):
        write_percell_region(
            image, root, where, channels=STYLES, masks=[LabelsSpec(mask, "../../images.zarr/c/x")]
        )
    with pytest.raises(InvalidOptionError, match="repeat"):
        write_percell_region(
            image,
            root,
            where,
            channels=STYLES,
            masks=[LabelsSpec(mask, "X"), LabelsSpec(mask, "X")],
        )
    huge = cells.astype(np.int64) * 2**33
    with pytest.raises(InvalidOptionError, match="beyond int32"):
        write_percell_region(
            image, root, where, channels=STYLES, segmentation=LabelsSpec(huge, "segmentation")
        )
    with pytest.raises(InvalidOptionError, match="hold integers"):
        write_percell_region(
            image,
            root,
            where,
            channels=STYLES,
            segmentation=LabelsSpec(cells * 0.5, "segmentation"),
        )
    assert not root.exists()
    fits = cells.astype(np.int64) + 2**20
    write_percell_region(
        image, root, where, channels=STYLES, segmentation=LabelsSpec(fits, "segmentation")
    )
    np.testing.assert_array_equal(zarr.open_group(root / "labels.zarr/c/r1")["0"][:], fits)


def test_percell_3_experiments_are_refused(tmp_path, field, rng):
    from store_factories import percell_ids

    image, _, _ = field
    root = percell_ids(tmp_path, rng)
    before = _files(root)
    with pytest.raises(InvalidOptionError, match="PerCell 3 experiment"):
        write_percell_region(image, root, PercellRegion("c", "r1"), channels=STYLES)
    assert _files(root) == before


def _listing(folder):
    """Every entry below ``folder`` with its bytes (files) or None (folders)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


def _foreign_folder(tmp_path):
    folder = tmp_path / "thesis.percell"
    (folder / "figures").mkdir(parents=True)
    (folder / "figures" / "fig1.png").write_bytes(b"\x89PNG not really")
    (folder / "notes.txt").write_text("my notes")
    return folder


def _file_target(tmp_path):
    target = tmp_path / "exp.percell"
    target.write_text("a file that happens to have this name")
    return target


def _broken_database(tmp_path):
    folder = tmp_path / "exp.percell"
    folder.mkdir()
    (folder / "experiment.db").write_text("this is not SQLite")
    (folder / "keep.txt").write_text("keep")
    return folder


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (_foreign_folder, r"is not a PerCell experiment.*notes\.txt.*Nothing was written"),
        (_file_target, r"is a file, not a PerCell experiment folder.*left untouched"),
        (_broken_database, r"is not an SQLite database.*nothing was written"),
    ],
    ids=["folder-with-other-files", "a-file", "not-sqlite-database"],
)
def test_a_target_that_is_not_an_experiment_is_refused_and_left_as_it_was(
    tmp_path, field, make, match
):
    image, cells, mask = field
    target = make(tmp_path)
    around = sorted(p.name for p in tmp_path.iterdir())
    before = _listing(target) if target.is_dir() else target.read_bytes()
    options = {
        "channels": STYLES,
        "segmentation": LabelsSpec(cells, "segmentation"),
        "masks": [LabelsSpec(mask, "GFP")],
    }
    with pytest.raises(TargetExistsError, match=match):
        preview_percell_region(image, target, PercellRegion("c", "r1"), **options)
    with pytest.raises(TargetExistsError, match=match):
        write_percell_region(image, target, PercellRegion("c", "r1"), **options)
    assert (_listing(target) if target.is_dir() else target.read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == around


@pytest.mark.parametrize("clutter", [[], [".DS_Store"]], ids=["empty", "only-.DS_Store"])
def test_an_empty_folder_becomes_an_experiment(tmp_path, field, clutter):
    image, cells, _ = field
    root = tmp_path / "new.percell"
    root.mkdir()
    for name in clutter:
        (root / name).write_bytes(b"\x00")
    written = write_percell_region(
        image,
        root,
        PercellRegion("c", "r1"),
        channels=STYLES,
        segmentation=LabelsSpec(cells, "segmentation"),
    )
    for path in written:
        assert_valid_store(path)
    assert sorted(p.name for p in root.iterdir()) == sorted(
        ["experiment.db", "images.zarr", "labels.zarr", "masks.zarr", *clutter]
    )
    # ... and, now an experiment, it takes more regions.
    write_percell_region(image, root, PercellRegion("c", "r2"), channels=STYLES)
    assert set(_read(root)) >= {"DAPI", "GFP"}


def test_a_region_plan_lists_previews_and_writes_the_same_groups(tmp_path, field):
    image, cells, mask = field
    where = PercellRegion("c", "r1")
    options = {"channels": STYLES, "segmentation": LabelsSpec(cells, "segmentation"),
               "masks": [LabelsSpec(mask, "GFP")]}  # fmt: skip
    plan = plan_percell_region(image, tmp_path / "exp", where, **options)
    root = tmp_path / "exp.percell"
    assert plan.paths == where.group_paths(root, segmentation=True, masks=["GFP"])
    assert sorted(plan.preview()) == sorted(p.relative_to(root).as_posix() for p in plan.paths)
    assert plan.preview() == preview_percell_region(image, tmp_path / "exp", where, **options)
    assert plan.run() == write_percell_region(image, tmp_path / "exp", where, **options)

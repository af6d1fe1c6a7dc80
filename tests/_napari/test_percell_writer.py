"""File > Save Layers > PerCell experiment, from a real viewer."""

import sqlite3

import numpy as np
import pytest

from napari_omezarr_export import TargetExistsError, WriteFailedError
from napari_omezarr_export.core.layouts.percell import journal as percell_journal
from validation import assert_valid_store

PLUGIN = "napari-omezarr-export"


@pytest.fixture
def viewer(make_napari_viewer, rng):
    viewer = make_napari_viewer()
    viewer.add_image(
        rng.poisson(300, (2, 128, 160)).astype(np.uint16),
        channel_axis=0,
        name=["DAPI", "GFP"],
        colormap=["blue", "green"],
        scale=(0.65, 0.65),
    )
    cells = np.zeros((128, 160), np.int32)
    cells[10:60, 20:90] = 3
    viewer.add_labels(cells, name="segmentation", scale=(0.65, 0.65))
    viewer.add_labels(
        (cells > 0).astype(np.uint8),
        name="GFP mask",
        scale=(0.65, 0.65),
        metadata={"percell_type": "mask"},
    )
    return viewer


def test_save_layers_as_a_percell_region_and_open_it_again(viewer, make_napari_viewer, tmp_path):
    written = viewer.layers.save(str(tmp_path / "exp.percell"), plugin=PLUGIN)
    root = tmp_path / "exp.percell"
    assert [w.replace(str(root) + "/", "") for w in written] == [
        "images.zarr/condition_1/region_1",
        "labels.zarr/condition_1/region_1",
        "masks.zarr/condition_1/region_1/threshold_GFP",
    ]
    for path in written:
        assert_valid_store(path)
    reopened = make_napari_viewer()
    reopened.open(written[0], plugin=PLUGIN)
    assert [layer.name for layer in reopened.layers] == ["DAPI", "GFP", "segmentation", "GFP mask"]
    np.testing.assert_array_equal(
        np.asarray(reopened.layers["segmentation"].data), viewer.layers["segmentation"].data
    )
    # Saving the re-opened layers into a second experiment keeps the region's names.
    reopened.layers.save(str(tmp_path / "copy.percell"), plugin=PLUGIN)
    with sqlite3.connect(tmp_path / "copy.percell" / "experiment.db") as conn:
        assert conn.execute("SELECT name FROM regions").fetchall() == [("region_1",)]
    # A second save into the same experiment appends the next free region.
    viewer.layers.save(str(root), plugin=PLUGIN)
    assert (root / "images.zarr" / "condition_1" / "region_2").is_dir()


def test_two_segmentations_get_a_clear_error(viewer, tmp_path):
    viewer.add_labels(np.zeros((128, 160), np.int32), name="nuclei")
    with pytest.raises(WriteFailedError, match="holds one segmentation"):
        viewer.layers.save(str(tmp_path / "exp.percell"), plugin=PLUGIN)


def _listing(folder):
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


def test_saving_into_a_folder_that_is_not_an_experiment_is_refused(viewer, tmp_path):
    folder = tmp_path / "thesis.percell"
    (folder / "chapter1").mkdir(parents=True)
    (folder / "chapter1" / "draft.tex").write_text("\\section{Intro}")
    (folder / "notes.txt").write_text("keep me")
    before = _listing(folder)
    refused = r"is not a PerCell experiment.*Nothing was written"
    with pytest.raises(TargetExistsError, match=refused):
        viewer.layers.save(str(folder), plugin=PLUGIN)
    assert _listing(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis.percell"]


def test_saving_onto_a_file_is_refused(viewer, tmp_path):
    target = tmp_path / "exp.percell"
    target.write_bytes(b"not a folder")
    with pytest.raises(TargetExistsError, match="is a file, not a PerCell experiment folder"):
        viewer.layers.save(str(target), plugin=PLUGIN)
    assert target.read_bytes() == b"not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.percell"]


def test_an_empty_folder_becomes_an_experiment(viewer, tmp_path):
    folder = tmp_path / "new.percell"
    folder.mkdir()
    written = viewer.layers.save(str(folder), plugin=PLUGIN)
    assert written[0] == str(folder / "images.zarr" / "condition_1" / "region_1")
    for path in written:
        assert_valid_store(path)


def test_a_save_cut_short_is_finished_and_its_region_name_kept(
    viewer, make_napari_viewer, tmp_path, monkeypatch
):
    class Killed(BaseException):
        pass

    def killed(*args, **kwargs):
        raise Killed

    root = tmp_path / "exp.percell"
    monkeypatch.setattr(percell_journal, "complete_swap", killed)  # committed, nothing moved
    with pytest.raises(Killed):
        viewer.layers.save(str(root), plugin=PLUGIN)
    monkeypatch.undo()
    assert not (root / "images.zarr" / "condition_1" / "region_1").exists()
    written = viewer.layers.save(str(root), plugin=PLUGIN)
    assert written[0].endswith("region_2"), "region_1 is the cut-short save's, not free"
    region_1 = root / "images.zarr" / "condition_1" / "region_1"
    assert_valid_store(region_1)  # finished by the second save, before it wrote region_2
    assert not [p for p in root.rglob("*") if ".omezarr-export-" in p.name]
    reopened = make_napari_viewer()
    reopened.open(str(region_1), plugin=PLUGIN)
    assert [layer.name for layer in reopened.layers] == ["DAPI", "GFP", "segmentation", "GFP mask"]
    np.testing.assert_array_equal(
        np.asarray(reopened.layers["segmentation"].data), viewer.layers["segmentation"].data
    )

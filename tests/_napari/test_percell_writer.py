"""File > Save Layers > PerCell experiment, from a real viewer."""

import sqlite3

import numpy as np
import pytest

from napari_omezarr_export import WriteFailedError
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

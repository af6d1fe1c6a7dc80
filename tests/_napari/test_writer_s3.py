"""File > Save Layers to an ``s3://`` URL (moto's S3 on 127.0.0.1): napari hands our writer the
URL as typed, and the store lands in the bucket; labels save back into an image there."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest

from napari_omezarr_export import read

PLUGIN = "napari-omezarr-export"


@pytest.fixture
def bucket(s3_env):
    return s3_env.make_bucket(f"t{uuid.uuid4().hex[:16]}")


@pytest.fixture
def viewer(make_napari_viewer, rng):
    viewer = make_napari_viewer()
    image = rng.poisson(500, size=(2, 64, 96)).astype(np.uint16)
    viewer.add_image(image, channel_axis=0, name=["DAPI", "GFP"], colormap=["blue", "green"])
    labels = np.zeros((64, 96), np.int32)
    labels[5:30, 10:50] = 5
    viewer.add_labels(labels, name="cells")
    return viewer


def test_layers_saved_to_an_s3_url_land_in_the_bucket(
    viewer, s3_env, bucket, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    written = viewer.layers.save(f"{bucket}/run/field", plugin=PLUGIN)
    assert written == [f"{bucket}/run/field.ome.zarr"]
    keys = s3_env.keys(bucket.removeprefix("s3://"))
    assert (
        "run/field.ome.zarr/.zattrs" in keys and "run/field.ome.zarr/labels/cells/.zattrs" in keys
    )
    specs = read(written[0])
    np.testing.assert_array_equal(np.asarray(specs[1].data[0]), viewer.layers["GFP"].data)
    np.testing.assert_array_equal(np.asarray(specs[-1].data[0]), viewer.layers["cells"].data)
    assert list(tmp_path.iterdir()) == []  # nothing local named "s3:"


def test_edited_labels_save_back_into_an_image_in_s3(viewer, s3_env, bucket):
    url = f"{bucket}/field.ome.zarr"
    viewer.layers.save(url, plugin=PLUGIN)
    edited = viewer.layers["cells"].data.copy()
    edited[40:60, 60:90] = 7
    viewer.layers.selection = {viewer.layers["cells"]}
    viewer.layers["cells"].data = edited
    viewer.layers["cells"].name = "cells_v2"
    written = viewer.layers.save(url, selected=True, plugin=PLUGIN)
    assert written == [f"{url}/labels/cells_v2"]
    name = bucket.removeprefix("s3://")
    labels_doc = s3_env.client().get_object(Bucket=name, Key="field.ome.zarr/labels/.zattrs")
    assert json.loads(labels_doc["Body"].read())["labels"] == ["cells", "cells_v2"]
    found = {s.kwargs["name"]: s for s in read(url) if s.layer_type == "labels"}
    np.testing.assert_array_equal(np.asarray(found["cells_v2"].data[0]), edited)


def test_labels_opened_from_s3_are_edited_and_saved_back_there(viewer, make_napari_viewer,
                                                               s3_env, bucket):  # fmt: skip
    """The headline flow on object storage: open from the bucket, paint, save back, reopen."""
    from napari._app_model import get_app_model

    url = f"{bucket}/field.ome.zarr"
    viewer.layers.save(url, plugin=PLUGIN)
    name = bucket.removeprefix("s3://")
    keys = [k for k in s3_env.keys(name, "field.ome.zarr/") if "/labels/" not in k]
    image_keys = {k: s3_env.client().head_object(Bucket=name, Key=k)["ETag"] for k in keys}

    opened = make_napari_viewer()
    opened.open(url, plugin=PLUGIN)
    cells = opened.layers["cells"]
    level0 = cells.data[0] if cells.multiscale else cells.data
    assert not isinstance(level0, np.ndarray)  # opening a remote store reads no level-0 chunk
    opened.layers.selection = {cells}
    get_app_model().commands.execute_command(
        "napari-omezarr-export.edit_labels_full_resolution"
    ).result()
    editable = opened.layers["cells"]
    editable.paint((50, 70), 9)
    edited = np.array(editable.data)
    assert (edited == 9).any()

    opened.layers.selection = {editable}
    assert opened.layers.save(url, selected=True, plugin=PLUGIN) == [f"{url}/labels/cells"]

    reread = {s.name: s for s in read(url)}
    np.testing.assert_array_equal(np.asarray(reread["cells"].data[0]), edited)
    assert {k: s3_env.client().head_object(Bucket=name, Key=k)["ETag"]
            for k in image_keys} == image_keys  # fmt: skip  # the image was not rewritten

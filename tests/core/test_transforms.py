"""One transform parser: per-level scale and translation, with the multiscale-level transform.

The reader and the label save-back both use ``ngff.transforms``, so labels saved into an image
whose multiscale lists its own ``coordinateTransformations`` reopen in register with it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_omezarr_export import (
    LabelsSpec,
    StorageOptions,
    StoreFormatError,
    read,
    write_image,
    write_labels,
)
from napari_omezarr_export.core.ngff.transforms import parse_level_transforms


def _scale(values):
    return {"type": "scale", "scale": values}


def _shift(values):
    return {"type": "translation", "translation": values}


def test_level_transforms_apply_the_multiscale_transform_after_each_level():
    block = {
        "datasets": [
            {"path": "0", "coordinateTransformations": [_scale([1.0, 0.5]), _shift([0, 2])]},
            {"path": "1", "coordinateTransformations": [_scale([2.0, 1.0]), _shift([0, 2.25])]},
        ],
        "coordinateTransformations": [_scale([3.0, 2.0]), _shift([10.0, -1.0])],
    }
    level0, level1 = parse_level_transforms("image", block, 2)
    assert level0.scale == (3.0, 1.0) and level0.translation == (10.0, 3.0)
    assert level1.scale == (6.0, 2.0) and level1.translation == (10.0, 3.5)


def test_level_transforms_without_any_are_identity():
    (level,) = parse_level_transforms("image", {"datasets": [{"path": "0"}]}, 3)
    assert level.scale == (1.0, 1.0, 1.0) and level.translation == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("outer", "message"),
    [
        ([_scale([1.0, 0.0])], "finite positive"),
        ([_shift([float("nan"), 0.0])], "finite numbers"),
        ([{"type": "affine", "affine": []}], "unsupported coordinate transformation"),
        ({"type": "scale"}, "must be a list"),
        ([_scale([1.0])], "must list 2 numbers"),
    ],
    ids=["zero-scale", "nan-shift", "affine", "not-a-list", "too-short"],
)
def test_malformed_multiscale_transforms_say_what_to_fix(outer, message):
    block = {"datasets": [{"path": "0"}], "coordinateTransformations": outer}
    with pytest.raises(StoreFormatError, match=message):
        parse_level_transforms("image", block, 2)


def _add_multiscale_transform(path, version):
    """Give the image's multiscale a scale and translation beside its datasets."""
    outer = [_scale([1.0, 2.0, 4.0]), _shift([0.0, 100.0, -50.0])]
    if version == "0.4":
        attrs = json.loads((path / ".zattrs").read_text())
        attrs["multiscales"][0]["coordinateTransformations"] = outer
        (path / ".zattrs").write_text(json.dumps(attrs))
    else:
        document = json.loads((path / "zarr.json").read_text())
        document["attributes"]["ome"]["multiscales"][0]["coordinateTransformations"] = outer
        (path / "zarr.json").write_text(json.dumps(document))


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_labels_saved_back_into_an_image_with_a_multiscale_transform_reopen_in_register(
    tmp_path, version
):
    path = tmp_path / "image.zarr"
    data = np.arange(2 * 64 * 64, dtype=np.uint16).reshape(2, 64, 64)
    write_image(
        data,
        path,
        axes="cyx",
        scale=(1.0, 0.5, 0.25),
        translation=(0.0, 3.0, 5.0),
        storage=StorageOptions(ngff_version=version),
    )
    _add_multiscale_transform(path, version)
    image = next(s for s in read(path) if s.layer_type == "image")
    assert image.kwargs["scale"] == (1.0, 1.0)
    assert image.kwargs["translate"] == (106.0, -30.0)

    cells = np.zeros((64, 64), np.int32)
    cells[8:24, 16:40] = 1
    write_labels(LabelsSpec(cells, "cells"), path)

    alone = read(path / "labels" / "cells")[0]
    assert alone.kwargs["scale"] == image.kwargs["scale"]
    assert alone.kwargs["translate"] == image.kwargs["translate"]
    with_image = {s.name: s for s in read(path)}["cells"]
    assert with_image.kwargs["scale"] == image.kwargs["scale"]
    assert with_image.kwargs["translate"] == image.kwargs["translate"]

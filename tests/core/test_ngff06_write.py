"""Writing NGFF 0.6 on request: valid against the spec's schemas, read back exactly by ngff-zarr
and by this package's reader; 0.4 stays the default and 0.5 stays available."""

from __future__ import annotations

import json

import ngff_zarr
import numpy as np
import pytest

from napari_omezarr_export import (
    ChannelStyle,
    InvalidOptionError,
    LabelsSpec,
    PyramidOptions,
    StorageOptions,
    preview_metadata,
    read,
    write_image,
    write_labels,
    write_plate_field,
)
from ngff06_validation import assert_valid_06
from validation import assert_valid_store

STYLES = [ChannelStyle("DAPI", "#0000FF"), ChannelStyle("GFP", "#00FF00")]
SCALE, TRANSLATION = (1.0, 0.5, 0.25), (0.0, 4.0, 8.0)


@pytest.fixture
def image(rng):
    return rng.poisson(800, size=(2, 96, 160)).astype(np.uint16)


@pytest.fixture
def cells():
    data = np.zeros((96, 160), dtype=np.int32)
    data[10:50, 20:90] = 3
    data[60:90, 100:150] = 11
    return data


def _write06(tmp_path, image, cells, **storage):
    storage = StorageOptions(ngff_version="0.6", chunks=(1, 32, 32), **storage)
    spec = LabelsSpec(cells, "cells", colors={3: (255, 0, 0, 255), 11: (0, 0, 255, 255)})
    [path] = write_image(
        image,
        tmp_path / "img",
        channels=STYLES,
        scale=SCALE,
        translation=TRANSLATION,
        units=(None, "um", "um"),
        labels=[spec],
        pyramid=PyramidOptions(levels=3),
        storage=storage,
    )
    return path


def _ome(path):
    return json.loads((path / "zarr.json").read_text())["attributes"]["ome"]


def test_06_image_and_labels_follow_the_spec(tmp_path, image, cells):
    path = _write06(tmp_path, image, cells, shards=(1, 64, 64))
    assert assert_valid_06(path) == 2  # the image and its label image
    ome = _ome(path)
    assert ome["version"] == "0.6rc0"
    (block,) = ome["multiscales"]
    assert "axes" not in block and "version" not in block
    (system,) = block["coordinateSystems"]
    assert system["name"] == "physical"
    assert [a["name"] for a in system["axes"]] == ["c", "y", "x"]
    assert system["axes"][1] == {"name": "y", "type": "space", "unit": "micrometer"}
    for level, dataset in enumerate(block["datasets"]):
        (transform,) = dataset["coordinateTransformations"]
        assert transform["input"] == {"path": dataset["path"]}
        assert transform["output"] == {"name": "physical"}
        assert transform["type"] == "sequence"
        scale, shift = transform["transformations"]
        f = 2**level
        assert scale == {"type": "scale", "scale": [1.0, 0.5 * f, 0.25 * f]}
        assert shift["translation"] == [0.0, 4.0 + 0.5 * (f - 1) / 2, 8.0 + 0.25 * (f - 1) / 2]
    label_ome = _ome(path / "labels" / "cells")
    assert label_ome["version"] == "0.6rc0"
    assert label_ome["image-label"]["source"] == {"image": "../../"}
    assert _ome(path / "labels") == {"version": "0.6rc0", "labels": ["cells"]}
    # sharded: zarr v3 arrays with the sharding codec
    array = json.loads((path / "0" / "zarr.json").read_text())
    assert array["codecs"][0]["name"] == "sharding_indexed"


def test_06_store_reads_back_exactly_with_this_reader(tmp_path, image, cells):
    path = _write06(tmp_path, image, cells)
    layers = read(path)
    assert [s.name for s in layers] == ["DAPI", "GFP", "cells"]
    for c, spec in enumerate(layers[:2]):
        assert spec.kwargs["scale"] == SCALE[1:]
        assert spec.kwargs["translate"] == TRANSLATION[1:]
        assert spec.kwargs["units"] == ("micrometer", "micrometer")
        assert spec.kwargs["metadata"]["ome_zarr"]["version"] == "0.6"
        assert spec.color == ("#0000ff", "#00ff00")[c]
        np.testing.assert_array_equal(np.asarray(spec.data[0]), image[c])
        assert [tuple(d.shape) for d in spec.data] == [(96, 160), (48, 80), (24, 40)]
    label = layers[2]
    assert label.kwargs["scale"] == SCALE[1:] and label.kwargs["translate"] == TRANSLATION[1:]
    np.testing.assert_array_equal(np.asarray(label.data[0]), cells)
    assert label.label_colors[3] == (1.0, 0.0, 0.0, 1.0)


def test_06_store_reads_back_exactly_with_ngff_zarr(tmp_path, image, cells):
    path = _write06(tmp_path, image, cells)
    multiscales = ngff_zarr.from_ngff_zarr(path)
    metadata = multiscales.metadata
    assert type(metadata).__module__ == "ngff_zarr.v06.zarr_metadata"  # read as 0.6
    assert metadata.intrinsic_coordinate_system.name == "physical"
    assert len(multiscales.images) == 3
    first = multiscales.images[0]
    assert tuple(first.dims) == ("c", "y", "x")
    assert first.scale == {"c": 1.0, "y": 0.5, "x": 0.25}
    assert first.translation == {"c": 0.0, "y": 4.0, "x": 8.0}
    assert first.axes_units["y"] == "micrometer"
    np.testing.assert_array_equal(np.asarray(first.data), image)
    second = multiscales.images[1]
    assert second.scale == {"c": 1.0, "y": 1.0, "x": 0.5}
    assert second.translation == {"c": 0.0, "y": 4.25, "x": 8.125}
    labels = ngff_zarr.from_ngff_zarr(path / "labels" / "cells")
    np.testing.assert_array_equal(np.asarray(labels.images[0].data), cells)


def test_a_06_image_without_translation_writes_one_scale_per_level(tmp_path, rng):
    data = rng.integers(0, 255, (64, 64), dtype="uint8")
    storage = StorageOptions(ngff_version="0.6")
    [path] = write_image(
        data, tmp_path / "plain", pyramid=PyramidOptions(levels=2), storage=storage
    )
    assert_valid_06(path)
    datasets = _ome(path)["multiscales"][0]["datasets"]
    # level 1's centres move by half a level-0 pixel, so only level 0 is a bare scale
    assert datasets[0]["coordinateTransformations"][0]["type"] == "scale"
    assert datasets[1]["coordinateTransformations"][0]["type"] == "sequence"
    (spec,) = read(path)
    assert spec.kwargs["translate"] == (0.0, 0.0)


def test_the_preview_shows_the_06_json_that_is_written(tmp_path, image, cells):
    storage = StorageOptions(ngff_version="0.6", chunks=(1, 32, 32))
    options = {
        "channels": STYLES,
        "scale": SCALE,
        "translation": TRANSLATION,
        "storage": storage,
        "pyramid": PyramidOptions(levels=2),
    }
    preview = preview_metadata(image, **options)
    [path] = write_image(image, tmp_path / "img", **options)
    assert preview[""] == json.loads((path / "zarr.json").read_text())["attributes"]


def test_04_stays_the_default_and_05_stays_available(tmp_path, rng):
    assert StorageOptions().ngff_version == "0.4"
    data = rng.integers(0, 255, (32, 32), dtype="uint8")
    [v4] = write_image(data, tmp_path / "v4")
    [v5] = write_image(data, tmp_path / "v5", storage=StorageOptions(ngff_version="0.5"))
    assert (v4 / ".zattrs").is_file()
    assert _ome(v5)["version"] == "0.5" and "axes" in _ome(v5)["multiscales"][0]
    assert assert_valid_store(v5) == 1


def test_shards_need_zarr_v3_and_0_6_is_zarr_v3():
    assert StorageOptions(ngff_version="0.6", chunks=(64, 64), shards=(128, 128)).zarr_format == 3
    with pytest.raises(InvalidOptionError, match="Shards need zarr v3"):
        StorageOptions(ngff_version="0.4", shards=(128, 128))
    with pytest.raises(InvalidOptionError, match="NGFF version"):
        StorageOptions(ngff_version="0.7")


def test_a_06_store_zips_to_ozx_and_reopens(tmp_path, rng):
    data = rng.integers(0, 255, (2, 32, 32), dtype="uint8")
    storage = StorageOptions(ngff_version="0.6")
    [path] = write_image(data, tmp_path / "z.ozx", axes="cyx", storage=storage)
    assert path.suffix == ".ozx"
    layers = read(path)
    assert len(layers) == 2
    np.testing.assert_array_equal(np.asarray(layers[1].data[0]), data[1])


def test_labels_saved_into_a_06_image_are_06_and_in_register(tmp_path, image, cells):
    path = _write06(tmp_path, image, cells)

    write_labels(LabelsSpec(cells * 2, "edited"), path)

    assert_valid_06(path)
    labels = {s.name: s for s in read(path) if s.layer_type == "labels"}
    assert labels["edited"].kwargs["scale"] == labels["cells"].kwargs["scale"]
    assert labels["edited"].kwargs["translate"] == labels["cells"].kwargs["translate"]
    edited = json.loads((path / "labels" / "edited" / "zarr.json").read_text())
    assert edited["attributes"]["ome"]["version"] == _ome(path)["version"]
    assert (
        json.loads((path / "labels" / "zarr.json").read_text())["attributes"]["ome"]["version"]
        == _ome(path)["version"]
    )


def test_a_06_plate_keeps_06_when_fields_are_added_to_it(tmp_path, image):
    plate = tmp_path / "plate.zarr"
    write_plate_field(image, plate, well="A1", axes="cyx", storage=StorageOptions("0.6"))

    write_plate_field(image, plate, well="B2", axes="cyx", storage=StorageOptions("0.5"))

    assert assert_valid_06(plate) >= 5  # plate, 2 wells, 2 fields
    assert _ome(plate / "B" / "2" / "0")["version"] == _ome(plate)["version"]
    assert [s.name for s in read(plate)][:2] == ["Channel 0", "Channel 1"]

import json

import dask.array as da
import numpy as np
import pytest
import zarr

from napari_omezarr_export import (
    ChannelStyle,
    ExportError,
    ExportPlan,
    InvalidOptionError,
    LabelsSpec,
    PyramidOptions,
    StorageOptions,
    StoreFormatError,
    TargetExistsError,
    iter_write_image,
    plan_image,
    plan_labels,
    preview_labels,
    preview_metadata,
    write_brieflow_image,
    write_image,
    write_labels,
)
from napari_omezarr_export.core.write.staging import STAGING_MARK
from validation import assert_valid_store

STYLES = [ChannelStyle("DAPI", "0000FF", 100, 3000), ChannelStyle("GFP", "00FF00", 50, 2000)]


def _attrs(path):
    if (path / "zarr.json").is_file():
        return json.loads((path / "zarr.json").read_text())["attributes"]
    return json.loads((path / ".zattrs").read_text())


@pytest.fixture
def image(rng):
    return rng.poisson(800, size=(2, 300, 500)).astype(np.uint16)


@pytest.fixture
def labels():
    data = np.zeros((300, 500), dtype=np.int32)
    data[10:100, 20:200] = 3
    data[150:290, 300:480] = 11
    return data


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_image_and_labels_round_trip(tmp_path, image, labels, version):
    shards = (1, 256, 256) if version == "0.5" else None
    storage = StorageOptions(ngff_version=version, chunks=(1, 128, 128), shards=shards)
    spec = LabelsSpec(labels, "cells", colors={3: (255, 0, 0, 255), 11: (0, 0, 255, 255)},
                      properties=[{"label-value": 3, "area": 16200}])  # fmt: skip
    [path] = write_image(image, tmp_path / "img", channels=STYLES, scale=(1, 0.5, 0.5),
                         translation=(0, 4, 8), units=(None, "um", "um"), labels=[spec],
                         pyramid=PyramidOptions(levels=3), storage=storage)  # fmt: skip
    assert path.name == "img.ome.zarr"
    assert assert_valid_store(path) == 3
    group = zarr.open_group(path, mode="r")
    np.testing.assert_array_equal(group["0"][:], image)
    np.testing.assert_array_equal(group["labels/cells/0"][:], labels)
    assert [group[str(i)].shape for i in range(3)] == [(2, 300, 500), (2, 150, 250), (2, 75, 125)]
    assert group["labels/cells/2"].shape == (75, 125)
    assert set(np.unique(group["labels/cells/2"][:])) <= {0, 3, 11}
    expected_mean = (image[:, :2, :2].astype(int).sum(axis=(1, 2)) + 2) // 4
    np.testing.assert_array_equal(group["1"][:, 0, 0], expected_mean)
    attrs = _attrs(path)
    ome = attrs["ome"] if version == "0.5" else attrs
    channels = ome["omero"]["channels"]
    assert [c["label"] for c in channels] == ["DAPI", "GFP"]
    assert channels[1]["window"] == {"start": 50, "end": 2000, "min": 0.0, "max": 65535.0}
    datasets = ome["multiscales"][0]["datasets"]
    assert datasets[0]["coordinateTransformations"][1]["translation"] == [0.0, 4.0, 8.0]
    label_ome = _attrs(path / "labels" / "cells")
    label_ome = label_ome.get("ome", label_ome)
    assert label_ome["image-label"]["source"] == {"image": "../../"}
    assert {c["label-value"] for c in label_ome["image-label"]["colors"]} == {3, 11}


def test_preview_equals_what_is_written(tmp_path, image, labels):
    options = {
        "channels": STYLES,
        "labels": [LabelsSpec(labels, "cells", colors=lambda v: np.ones((len(v), 4)))],
    }
    preview = preview_metadata(image, **options)
    [path] = write_image(image, tmp_path / "p.zarr", **options)
    assert preview[""] == _attrs(path)
    assert preview["labels"] == _attrs(path / "labels")
    assert preview["labels/cells"] == _attrs(path / "labels" / "cells")


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_labels_preview_equals_what_is_written(tmp_path, image, labels, version):
    storage = StorageOptions(ngff_version=version)
    [path] = write_image(image, tmp_path / "img.zarr", channels=STYLES, storage=storage,
                         labels=[LabelsSpec(labels, "cells")])  # fmt: skip
    edited = [LabelsSpec(labels * 2, "cells"), LabelsSpec(labels > 0, "mask")]
    preview = preview_labels(edited, path)  # into the image: its format, after "cells"
    write_labels(edited, path)
    assert sorted(preview) == ["labels", "labels/cells", "labels/mask"]
    assert {key: _attrs(path / key) for key in preview} == preview
    assert preview["labels"]["labels" if version == "0.4" else "ome"] is not None
    alone = preview_labels(LabelsSpec(labels, "nuclei"), tmp_path / "nuclei", storage=storage)
    [store] = write_labels(LabelsSpec(labels, "nuclei"), tmp_path / "nuclei", storage=storage)
    assert {key: _attrs(store / key) for key in alone} == alone


def test_float_images_get_their_data_range_and_unset_windows(tmp_path, rng):
    data = rng.normal(5.0, 1.0, size=(64, 64)).astype(np.float32)
    [path] = write_image(data, tmp_path / "f.zarr", channels=[ChannelStyle("phase")])
    window = _attrs(path)["omero"]["channels"][0]["window"]
    assert window["min"] == pytest.approx(float(data.min()))
    assert window["end"] == pytest.approx(float(data.max()))
    assert_valid_store(path)


def test_lazy_dask_input_is_written_exactly(tmp_path, rng):
    data = da.from_array(rng.integers(0, 60000, size=(3, 4, 200, 300), dtype=np.uint16),
                         chunks=(1, 1, 64, 64))  # fmt: skip
    [path] = write_image(data, tmp_path / "lazy.zarr", axes="tzyx",
                         pyramid=PyramidOptions(levels=2, downsample_z=True))  # fmt: skip
    group = zarr.open_group(path, mode="r")
    np.testing.assert_array_equal(group["0"][:], data.compute())
    assert group["1"].shape == (3, 2, 100, 150)
    assert [a["name"] for a in _attrs(path)["multiscales"][0]["axes"]] == list("tzyx")


def test_save_back_adds_labels_and_leaves_the_image_alone(tmp_path, image, labels):
    [path] = write_image(image, tmp_path / "img.zarr", labels=[LabelsSpec(labels, "cells")])
    before = {
        p: p.read_bytes() for p in path.rglob("*") if p.is_file() and "labels" not in p.parts
    }
    write_labels(LabelsSpec(labels * 2, "edited"), path)
    write_labels(LabelsSpec(labels * 3, "cells"), path)  # replaces the same-named labels
    after = {p: p.read_bytes() for p in path.rglob("*") if p.is_file() and "labels" not in p.parts}
    assert before == after
    assert _attrs(path / "labels")["labels"] == ["cells", "edited"]
    group = zarr.open_group(path, mode="r")
    np.testing.assert_array_equal(group["labels/cells/0"][:], labels * 3)
    assert len(group["labels/cells"]) == len(group) - 1  # labels get the image's level count
    assert_valid_store(path)
    assert not list(path.parent.glob(f"*{STAGING_MARK}*"))


def test_save_back_with_the_wrong_size_says_so(tmp_path, image):
    [path] = write_image(image, tmp_path / "img.zarr")
    with pytest.raises(ExportError, match=r"have shape \(10, 10\) but image"):
        write_labels(LabelsSpec(np.zeros((10, 10), np.int32), "x"), path)


def test_standalone_labels(tmp_path, labels):
    [one] = write_labels(LabelsSpec(labels > 0, "mask"), tmp_path / "mask")
    assert one.name == "mask.ome.zarr"
    assert zarr.open_group(one, mode="r")["0"].dtype == np.uint8  # bool becomes uint8
    many = write_labels([LabelsSpec(labels, "a"), LabelsSpec(labels, "b")], tmp_path / "two.zarr")
    assert [p.name for p in many] == ["a", "b"]
    assert _attrs(tmp_path / "two.zarr")["labels"] == ["a", "b"]
    assert_valid_store(one) and assert_valid_store(tmp_path / "two.zarr")


def test_existing_non_zarr_targets_are_never_touched(tmp_path, image):
    folder = tmp_path / "photos.zarr"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(TargetExistsError, match="not a zarr store; it was left untouched"):
        write_image(image, folder)
    assert (folder / "holiday.jpg").read_bytes() == b"precious"
    file = tmp_path / "notes.zarr"
    file.write_text("keep me")
    with pytest.raises(TargetExistsError, match="is a file"):
        write_image(image, file)
    assert file.read_text() == "keep me"


def test_cancel_keeps_the_old_store(tmp_path, image, rng):
    [path] = write_image(image, tmp_path / "img.zarr")
    old = {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}
    big = rng.integers(0, 9, size=(2, 2048, 2048), dtype=np.uint16)
    steps = iter_write_image(big, path, storage=StorageOptions(chunks=(1, 256, 256)))
    next(steps)
    next(steps)
    steps.close()  # what Cancel does
    assert {p: p.read_bytes() for p in path.rglob("*") if p.is_file()} == old
    assert not list(tmp_path.glob(f"*{STAGING_MARK}*"))


def test_failure_mid_write_keeps_the_old_store(tmp_path, image):
    [path] = write_image(image, tmp_path / "img.zarr")
    old = {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}

    class Broken:
        shape, dtype, ndim = (2, 300, 500), np.dtype(np.uint16), 3

        def __getitem__(self, index):
            if index[-2].start >= 256:
                raise OSError("the network drive went away")
            return np.zeros((2, 256, 500), np.uint16)[index[0], : index[-2].stop - index[-2].start]

    with pytest.raises(OSError, match="network drive"):
        write_image(Broken(), path, storage=StorageOptions(chunks=(2, 256, 256)))
    assert {p: p.read_bytes() for p in path.rglob("*") if p.is_file()} == old
    assert not list(tmp_path.glob(f"*{STAGING_MARK}*"))


def test_bad_input_gets_clear_errors(tmp_path, image):
    with pytest.raises(InvalidOptionError, match="2 to 5 dimensions"):
        write_image(np.zeros((2, 2, 2, 2, 2, 2)), tmp_path / "x")
    with pytest.raises(InvalidOptionError, match="1 channel styles were given for 2 channels"):
        write_image(image, tmp_path / "x", axes="cyx", channels=STYLES[:1])
    with pytest.raises(InvalidOptionError, match="single string 'DAPI'; give a list"):
        write_image(image, tmp_path / "x", axes="cyx", channels="DAPI")
    with pytest.raises(InvalidOptionError, match="single string 'DAPI'; give a list"):
        write_brieflow_image(image, tmp_path / "run", step="phenotype", well="A1", tile=1,
                             channels="DAPI")  # fmt: skip
    with pytest.raises(InvalidOptionError, match="Channel 1 is 7; give its name as text"):
        write_image(image, tmp_path / "x", axes="cyx", channels=["DAPI", 7])
    with pytest.raises(InvalidOptionError, match="Blosc block size 100 is out of range"):
        StorageOptions(blocksize=100)
    with pytest.raises(InvalidOptionError, match="must hold integers"):
        write_labels(LabelsSpec(np.zeros((4, 4), np.float32), "f"), tmp_path / "x")
    with pytest.raises(InvalidOptionError, match="cannot be a folder name"):
        write_labels(LabelsSpec(np.zeros((4, 4), np.int32), "../up"), tmp_path / "x")
    with pytest.raises(InvalidOptionError, match="whole multiple of the chunk shape"):
        write_image(image, tmp_path / "x", storage=StorageOptions(
            ngff_version="0.5", chunks=(1, 128, 128), shards=(1, 200, 256)))  # fmt: skip
    assert not list(tmp_path.iterdir())


def test_channels_can_be_plain_names(tmp_path, image):
    [path] = write_image(image, tmp_path / "named", channels=["DAPI", "GFP"])
    assert_valid_store(path)
    channels = _attrs(path)["omero"]["channels"]
    assert [c["label"] for c in channels] == ["DAPI", "GFP"]
    assert len({c["color"] for c in channels}) == 2  # the default colours, one per channel


def test_a_plan_previews_lists_its_paths_then_runs(tmp_path, image, labels):
    cells = LabelsSpec(labels, "cells", colors={3: (255, 0, 0, 255)})
    plan = plan_image(image, tmp_path / "planned", channels=STYLES, labels=[cells])
    assert isinstance(plan, ExportPlan)
    assert plan.paths == [tmp_path / "planned.ome.zarr"]
    assert not plan.paths[0].exists()  # planning writes nothing
    preview = plan.preview()
    assert plan.run() == plan.paths
    assert {key: _attrs(plan.target / key) for key in preview} == preview
    with pytest.raises(AttributeError):
        plan.target = tmp_path / "elsewhere"  # a plan never changes after it is made
    edited = plan_labels([LabelsSpec(labels, "a"), LabelsSpec(labels, "b")], plan.target)
    assert edited.paths == [plan.target / "labels" / "a", plan.target / "labels" / "b"]
    steps = edited.iter_run()
    next(steps)
    steps.close()  # cancelled: nothing added
    assert _attrs(plan.target / "labels")["labels"] == ["cells"]


def test_a_plan_without_a_destination_only_previews(image):
    plan = plan_image(image, None, channels=STYLES)
    assert plan.paths == []
    assert plan.preview() == preview_metadata(image, channels=STYLES)
    with pytest.raises(InvalidOptionError, match="without a destination"):
        plan.run()


@pytest.mark.parametrize(
    "call",
    [
        lambda path, data: write_image(data, path, chanels=["a", "b"]),
        lambda path, data: preview_metadata(data, chanels=["a", "b"]),
        lambda path, data: write_labels(LabelsSpec(data[0], "x"), path, chanels=["a"]),
    ],
)
def test_unknown_options_name_the_keyword(tmp_path, image, call):
    with pytest.raises(TypeError, match="chanels"):
        call(tmp_path / "typo.zarr", image)
    assert not list(tmp_path.iterdir())


def test_one_labels_spec_needs_no_list(tmp_path):
    nuclei = np.zeros((32, 32), np.int32)
    nuclei[4:9, 4:9] = 1
    [store] = write_image(
        np.ones((2, 32, 32), np.uint16), tmp_path / "one.ome.zarr", labels=LabelsSpec(nuclei, "n")
    )
    assert (store / "labels" / "n").is_dir()


def test_labels_into_an_image_without_levels_say_it_is_broken(tmp_path):
    [store] = write_image(np.ones((1, 32, 32), np.uint16), tmp_path / "img.ome.zarr")
    attrs = json.loads((store / ".zattrs").read_text())
    attrs["multiscales"][0]["datasets"] = []
    (store / ".zattrs").write_text(json.dumps(attrs))
    with pytest.raises(StoreFormatError, match="multiscales metadata or level arrays are broken"):
        write_labels(LabelsSpec(np.ones((32, 32), np.int32), "x"), store)

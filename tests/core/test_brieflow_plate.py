"""write_brieflow_image(layout="plate"): the HCS plates of Brieflow's newer branch (zarr3).

Brieflow writes ``<step>/{type}_{plate}.zarr/{row}/{col}/{tile}`` (file_utils.get_hcs_nested_path)
with NGFF 0.5 plate, well and labels metadata (lib/shared/hcs.py), one level, 5-D tczyx arrays.
"""

import json

import numpy as np
import pytest
from ome_zarr.io import parse_url
from ome_zarr.reader import Multiscales, Plate, Reader

import napari_omezarr_export
from napari_omezarr_export import ChannelStyle, InvalidOptionError, write_brieflow_image
from napari_omezarr_export.core.layouts.brieflow import (
    brieflow_plate_path,
    iter_write_brieflow_image,
    preview_brieflow_image,
)
from validation import assert_valid_store

STYLES = [ChannelStyle("DAPI", "0000FF", 0, 900), ChannelStyle("GFP", "00FF00", 0, 700)]
SHAPE = (48, 56)


def _tile(value):
    """A (2, y, x) uint16 tile whose values say which tile it is."""
    ramp = np.arange(2 * SHAPE[0] * SHAPE[1]).reshape(2, *SHAPE) % 13
    return (value + ramp).astype(np.uint16)


def _nuclei(label):
    mask = np.zeros(SHAPE, np.int32)
    mask[5:20, 8:30] = label
    mask[25:40, 30:50] = label + 1
    return mask


def _attrs(group):
    return json.loads((group / "zarr.json").read_text())["attributes"]["ome"]


@pytest.fixture
def phenotype_plate(tmp_path):
    """Two wells x two tiles written tile by tile, with nuclei and cells labels."""
    truth = {}
    for well in ("A1", "B3"):
        for tile in (0, 5):
            image, nuclei = _tile(100 * len(truth) + 100), _nuclei(10 * len(truth) + 1)
            [path] = write_brieflow_image(
                image, tmp_path / "run", layout="plate", plate=1, step="phenotype", well=well,
                tile=tile, channels=STYLES, nuclei=nuclei, cells=nuclei,
                scale=(1, 0.65, 0.65), units=(None, "micrometer", "micrometer"),
            )  # fmt: skip
            truth[(well, tile)] = image, nuclei, path
    return tmp_path / "run" / "phenotype" / "aligned_1.zarr", truth


def test_tiles_become_fields_of_the_aligned_plate_as_brieflow_writes_it(phenotype_plate):
    plate, truth = phenotype_plate
    assert plate == brieflow_plate_path(plate.parents[1], step="phenotype", plate=1)
    for (well, tile), (_, _, path) in truth.items():
        assert path == plate / well[0] / well[1:] / str(tile)
    assert assert_valid_store(plate) > 0
    meta = json.loads((plate / "zarr.json").read_text())
    assert meta["zarr_format"] == 3 and meta["attributes"]["ome"]["version"] == "0.5"
    listed = meta["attributes"]["ome"]["plate"]
    assert [w["path"] for w in listed["wells"]] == ["A/1", "B/3"]
    assert [r["name"] for r in listed["rows"]] == ["A", "B"]
    assert [c["name"] for c in listed["columns"]] == ["1", "3"]
    assert listed["field_count"] == 2
    assert [i["path"] for i in _attrs(plate / "B" / "3")["well"]["images"]] == ["0", "5"]
    field = _attrs(plate / "B" / "3" / "5")
    [multiscale] = field["multiscales"]
    assert [a["name"] for a in multiscale["axes"]] == list("tczyx")
    assert [d["path"] for d in multiscale["datasets"]] == ["0"]  # one level, no pyramid
    assert multiscale["datasets"][0]["coordinateTransformations"][0]["scale"][-2:] == [0.65] * 2
    assert [c["label"] for c in field["omero"]["channels"]] == ["DAPI", "GFP"]
    assert _attrs(plate / "B" / "3" / "5" / "labels")["labels"] == ["nuclei", "cells"]
    nuclei = _attrs(plate / "B" / "3" / "5" / "labels" / "nuclei")
    assert [d["path"] for d in nuclei["multiscales"][0]["datasets"]] == ["0"]
    array = json.loads((plate / "B" / "3" / "5" / "0" / "zarr.json").read_text())
    assert array["shape"] == [1, 2, 1, *SHAPE]


def test_the_plate_reads_back_as_a_mosaic_with_a_field_slider(phenotype_plate):
    plate, truth = phenotype_plate
    layers = {spec.name: spec for spec in napari_omezarr_export.read(plate)}
    assert {"DAPI", "GFP", "nuclei", "cells", "wells"} <= set(layers)
    dapi, nuclei = layers["DAPI"], layers["nuclei"]
    boxes = dapi.kwargs["metadata"]["plate"]["wells"]
    assert set(boxes) == {"A1", "B3"}
    assert dapi.kwargs["axis_labels"] == ("field", "t", "z", "y", "x")
    assert nuclei.kwargs["axis_labels"] == ("field", "t", "z", "y", "x")
    assert dapi.data[0].shape[0] == 2  # the field slider: tiles 0 and 5
    for (well, tile), (image, labels, _) in truth.items():
        y0, x0, _, _ = boxes[well]["box"]
        field = [str(p).rsplit("/", 1)[-1] for p in boxes[well]["fields"]].index(str(tile))
        window = (field, 0, 0, slice(y0, y0 + SHAPE[0]), slice(x0, x0 + SHAPE[1]))
        np.testing.assert_array_equal(np.asarray(dapi.data[0][window]), image[0])
        np.testing.assert_array_equal(np.asarray(layers["GFP"].data[0][window]), image[1])
        np.testing.assert_array_equal(np.asarray(nuclei.data[0][window]), labels)


def test_ome_zarr_py_opens_the_plate(phenotype_plate):
    plate, truth = phenotype_plate
    nodes = list(Reader(parse_url(str(plate)))())
    assert nodes and nodes[0].load(Plate) is not None
    image, _, path = truth[("B3", 5)]
    [field] = list(Reader(parse_url(str(path)))())[:1]
    assert field.load(Multiscales) is not None
    np.testing.assert_array_equal(np.asarray(field.data[0])[0, :, 0], image)


def test_replacing_a_tile_changes_only_that_field(phenotype_plate):
    plate, _ = phenotype_plate
    before = {p: p.read_bytes() for p in plate.rglob("*") if p.is_file()}
    write_brieflow_image(
        _tile(7000), plate.parents[1], layout="plate", plate=1, step="phenotype", well="A1",
        tile=5, channels=STYLES, nuclei=_nuclei(3), cells=_nuclei(3),
    )  # fmt: skip
    replaced = plate / "A" / "1" / "5"
    after = {p: p.read_bytes() for p in plate.rglob("*") if p.is_file()}
    changed = [p for p, b in before.items() if after.get(p) != b and replaced not in p.parents]
    assert changed == [], changed
    assert_valid_store(plate)
    [field] = [s for s in napari_omezarr_export.read(replaced) if s.name == "DAPI"]
    np.testing.assert_array_equal(np.asarray(field.data[0])[0, 0], _tile(7000)[0])


def test_one_plate_per_image_type_and_sbs_cycles(tmp_path, rng):
    sbs = rng.poisson(200, size=(3, 4, *SHAPE)).astype(np.uint16)
    styles = [ChannelStyle(n) for n in "AGTC"]
    run = tmp_path / "run"
    [aligned] = write_brieflow_image(
        sbs, run, layout="plate", plate=2, step="sbs", well="A1", tile=0, channels=styles,
        cycles="axis", nuclei=_nuclei(1),
    )  # fmt: skip
    progress = list(
        iter_write_brieflow_image(
            sbs,
            run,
            layout="plate",
            plate=2,
            step="sbs",
            well="A1",
            tile=0,
            channels=styles,
            cycles="flatten",
            image_type="illumination_corrected",
        )
    )
    assert progress and progress[-1][0] == progress[-1][1]
    corrected = run / "sbs" / "illumination_corrected_2.zarr" / "A" / "1" / "0"
    assert aligned == run / "sbs" / "aligned_2.zarr" / "A" / "1" / "0"
    for plate in (aligned.parents[2], corrected.parents[2]):
        assert_valid_store(plate)
    assert json.loads((aligned / "0" / "zarr.json").read_text())["shape"] == [3, 4, 1, *SHAPE]
    flat = _attrs(corrected)
    assert json.loads((corrected / "0" / "zarr.json").read_text())["shape"] == [1, 12, 1, *SHAPE]
    assert flat["omero"]["channels"][4]["label"] == "C2-A"
    assert not (corrected / "labels").exists()
    preview = preview_brieflow_image(
        sbs, run, layout="plate", plate=2, step="sbs", well="A1", tile=0, channels=styles,
        cycles="axis",
    )  # fmt: skip
    assert [a["name"] for a in preview[""]["ome"]["multiscales"][0]["axes"]] == list("tczyx")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"step": "preprocess", "plate": 1}, "no plate layout"),
        ({"step": "phenotype"}, "needs the plate"),
        (
            {"step": "phenotype", "plate": 1, "image_type": "peaks", "nuclei": _nuclei(1)},
            "'aligned' plate",
        ),
        ({"step": "phenotype", "plate": 1, "tile": "x0"}, "tile numbers"),
        ({"step": "phenotype", "plate": 1, "well": "1A"}, "is not a well name"),
        ({"step": "phenotype", "plate": "1/2"}, "cannot be part of a file name"),
        ({"step": "phenotype", "plate": 1, "layout": "grid"}, "layout 'grid' is not supported"),
        ({"step": "phenotype", "plate": 1, "layout": "per_image"}, "only used with layout"),
    ],
)
def test_wrong_plate_options_say_why_and_write_nothing(tmp_path, options, message):
    arguments = {"layout": "plate", "well": "A1", "tile": 0, "channels": STYLES, **options}
    with pytest.raises(InvalidOptionError, match=message):
        write_brieflow_image(_tile(1), tmp_path / "run", **arguments)
    assert not (tmp_path / "run").exists()

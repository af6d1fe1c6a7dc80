"""Reading hand-made NGFF 0.1-0.4 stores and Brieflow exports: values, styles, transforms."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr

from napari_omezarr_export import BrieflowTableError, StoreFormatError, read
from napari_omezarr_export.core.read.discovery import discover
from store_factories import (
    bioformats2raw_store,
    brieflow_phenotype,
    brieflow_sbs,
    brieflow_table,
    cells_image,
    cells_labels,
    legacy_store,
    omero_channels,
    write_image,
    write_labels,
    yx_axes,
)


def by_name(specs):
    return {s.name: s for s in specs}


@pytest.mark.parametrize("version", ["0.1", "0.2", "0.3"])
def test_legacy_versions_open_with_scale_one(tmp_path, rng, version):
    path = legacy_store(tmp_path, version, rng)
    specs = by_name(read(path))
    assert list(specs) == ["DAPI", "GFP", "cells"]
    dapi, gfp, cells = specs["DAPI"], specs["GFP"], specs["cells"]
    assert dapi.color == "#0000ff" and gfp.color == "#00ff00"
    assert dapi.kwargs["contrast_limits"] == (0, 3000)
    assert dapi.kwargs["blending"] == "additive"
    assert set(dapi.kwargs["scale"]) == {1.0}
    assert dapi.multiscale and len(dapi.data) == 2
    expected_axes = ("t", "z", "y", "x") if version != "0.3" else ("y", "x")
    assert dapi.kwargs["axis_labels"] == expected_axes
    raw = np.asarray(dapi.data[0]).squeeze()
    assert raw.shape == (64, 64) and raw.max() == 4095
    # labels: legacy 5-D labels lose their size-1 channel axis; colours and features
    assert cells.layer_type == "labels"
    assert cells.kwargs["axis_labels"] == expected_axes
    assert cells.label_colors[1] == (1.0, 0.0, 0.0, 1.0)
    assert cells.label_colors[0][3] == 0 and None in cells.label_colors
    features = cells.kwargs["features"]
    assert list(features["index"]) == [1, 3] and list(features["area"]) == [256, 400]
    assert np.asarray(cells.data[0]).max() == 3


def test_v04_transforms_windows_active_and_units(tmp_path, rng):
    data = cells_image(rng, c=2, y=64, x=64)
    omero = omero_channels(["A", "B"], ["12AB34", "FFFFFF"], [(10, 500), None], [True, False])
    path = write_image(tmp_path / "t.zarr", data, levels=3, axes=yx_axes("c", "y", "x"),
                       scale=[1.0, 0.5, 0.25], translation=[0.0, 10.0, -4.0],
                       omero=omero)  # fmt: skip
    attrs = json.loads((path / ".zattrs").read_text())
    attrs["multiscales"][0]["coordinateTransformations"] = [
        {"type": "scale", "scale": [1.0, 2.0, 2.0]},
        {"type": "translation", "translation": [0.0, 1.0, 1.0]},
    ]
    (path / ".zattrs").write_text(json.dumps(attrs))
    write_labels(path, {"nuclei": cells_labels()}, axes=yx_axes("y", "x"), scale=[1.0, 1.0])
    specs = by_name(read(path))
    a, b, nuclei = specs["A"], specs["B"], specs["nuclei"]
    assert a.kwargs["scale"] == (1.0, 0.5)  # multiscale x dataset
    assert a.kwargs["translate"] == (21.0, -7.0)
    assert a.kwargs["units"] == ("micrometer", "micrometer")
    assert a.color == "#12ab34" and a.kwargs["contrast_limits"] == (10, 500)
    assert b.kwargs["visible"] is False and b.color == "#ffffff"
    low, high = b.kwargs["contrast_limits"]  # no window: computed from the data
    assert 40 <= low < 200 and 4000 < high <= 4095
    # labels follow the image's scale and translation
    assert nuclei.kwargs["scale"] == a.kwargs["scale"]
    assert nuclei.kwargs["translate"] == a.kwargs["translate"]
    meta = nuclei.kwargs["metadata"]["ome_zarr"]
    assert meta["path"] == str(path / "labels" / "nuclei") and meta["image"] == str(path)
    assert meta["name"] == "nuclei" and meta["kind"] == "labels"
    assert a.kwargs["metadata"]["ome_zarr"] == {
        "path": str(path), "kind": "image", "channel": 0, "version": "0.4"
    }  # fmt: skip


def test_single_channel_is_translucent(tmp_path, rng):
    data = cells_image(rng, c=1)[0]
    path = write_image(tmp_path / "one.zarr", data, levels=1, axes=yx_axes("y", "x"))
    (spec,) = read(path)
    assert spec.kwargs["blending"] == "translucent" and not spec.multiscale
    assert spec.name == "one"


def test_label_image_alone_and_labels_group(tmp_path, rng):
    path = brieflow_phenotype(tmp_path, rng, quirk="no_omero")
    (cells,) = read(path / "labels" / "cells")
    assert cells.kwargs["scale"] == (0.5, 0.5)  # the parent image's omero.pixel_size
    assert cells.kwargs["metadata"]["ome_zarr"]["image"] == str(path)
    group = read(path / "labels")
    assert [s.name for s in group] == ["nuclei", "cells"]
    assert all(s.layer_type == "labels" for s in group)
    # small enough to edit: one in-memory level 0 (napari cannot paint a pyramid)
    assert all(len(s.data) == 1 and isinstance(s.data[0], np.ndarray) for s in group)


def test_labels_fit_the_editing_budget_up_to_8192_squared_int32():
    import dask.array as da

    from napari_omezarr_export.core.read.labels import editable_levels

    big = [da.zeros((8192, 8192), np.int32, chunks=2048), da.zeros((4096, 4096), np.int32)]
    (level0,) = editable_levels(big)
    assert isinstance(level0, np.ndarray) and level0.shape == (8192, 8192)
    del level0
    larger = [da.zeros((16384, 16384), np.int32, chunks=4096), da.zeros((8192, 8192), np.int32)]
    assert editable_levels(larger) is larger  # stays a lazy, read-only pyramid


def test_standalone_label_image_at_store_root(tmp_path):
    path = write_image(tmp_path / "seg.zarr", cells_labels(), levels=2,
                       axes=yx_axes("y", "x"), scale=[0.2, 0.2],
                       image_label={"version": "0.4"})  # fmt: skip
    (spec,) = read(path)
    assert spec.layer_type == "labels" and spec.kwargs["scale"] == (0.2, 0.2)
    assert spec.kwargs["metadata"]["ome_zarr"]["image"] is None


def test_opening_reads_no_full_resolution_chunk(tmp_path, rng):
    data = cells_image(rng, c=2, y=128, x=128)
    omero = omero_channels(["a", "b"], ["FF0000"] * 2)
    path = write_image(tmp_path / "lazy.zarr", data, levels=3, axes=yx_axes("c", "y", "x"),
                       scale=[1, 1, 1], omero=omero)  # fmt: skip
    for chunk in (path / "0").iterdir():
        if not chunk.name.startswith("."):
            chunk.write_bytes(b"garbage")  # reading any level-0 chunk would now fail
    specs = read(path)
    assert all(s.kwargs["contrast_limits"][1] > 4000 for s in specs)  # from level 2
    assert specs[0].data[0].shape == (128, 128)
    # The lowest level, read for the limits, is kept in memory for napari to draw first.
    lowest = zarr.open_array(path / "2", mode="r")[...]
    for channel, spec in enumerate(specs):
        assert isinstance(spec.data[-1], np.ndarray)
        np.testing.assert_array_equal(spec.data[-1], lowest[channel])
        assert type(spec.data[0]).__name__ == "Array"  # dask: level 0 stays on disk


@pytest.mark.parametrize("quirk", ["none", "no_omero", "short_channels", "scale0"])
def test_brieflow_phenotype_quirks(tmp_path, rng, quirk):
    path = brieflow_phenotype(tmp_path, rng, quirk=quirk)
    specs = read(path)
    images = [s for s in specs if s.layer_type == "image"]
    labels = [s for s in specs if s.layer_type == "labels"]
    assert len(images) == 3 and [s.name for s in labels] == ["nuclei", "cells"]
    for s in images:
        assert s.kwargs["contrast_limits"][1] <= 4095  # computed from the data, not the dtype
        assert len(s.data) == 2
    if quirk != "no_omero":
        assert images[0].color == "#0000ff"  # all-white colours: guessed from the name
    if quirk == "short_channels":
        assert images[2].name == "channel 2"
    scale = (0.5, 0.5) if quirk == "no_omero" else (1.0, 1.0)
    assert all(s.kwargs["scale"] == scale for s in specs)


def test_brieflow_sbs_cycles_become_a_slider(tmp_path, rng):
    specs = read(brieflow_sbs(tmp_path, rng))
    assert [s.name for s in specs] == ["C1-DAPI", "C1-G", "C1-T", "C1-A", "C1-C"]
    assert all(s.kwargs["axis_labels"] == ("t", "y", "x") for s in specs)
    assert specs[0].data[0].shape == (3, 32, 32)


def test_brieflow_table_has_a_friendly_error(tmp_path):
    with pytest.raises(BrieflowTableError, match=r"Brieflow feature table \(2 rows, 3 columns"):
        read(brieflow_table(tmp_path))


def _edit(path: Path, change) -> Path:
    attrs = json.loads((path / ".zattrs").read_text())
    change(attrs["multiscales"][0])
    (path / ".zattrs").write_text(json.dumps(attrs))
    return path


def _image(tmp_path, rng):
    return write_image(tmp_path / "bad.zarr", cells_image(rng), levels=2,
                       axes=yx_axes("c", "y", "x"), scale=[1, 1, 1])  # fmt: skip


BROKEN = {
    "corrupt-json": (lambda p: (p / ".zattrs").write_text("{nope"), "not valid JSON"),
    "missing-level": (lambda p: shutil.rmtree(p / "1"), "holds no zarr array"),
    "unknown-version": (lambda p: _edit(p, lambda m: m.update(version="9.9")), "not supported"),
    "no-shrink": (lambda p: _edit(p, lambda m: m["datasets"].reverse()), "does not shrink"),
    "dotdot": (
        lambda p: _edit(p, lambda m: m["datasets"][0].update(path="../x")),
        "outside the store",
    ),
    "absolute": (
        lambda p: _edit(p, lambda m: m["datasets"][0].update(path="/etc")),
        "outside the store",
    ),
    "bad-scale": (
        lambda p: _edit(
            p, lambda m: m["datasets"][0].update(coordinateTransformations=[{"type": "scale"}])
        ),
        "must list 3 numbers",
    ),
    "axes-mismatch": (lambda p: _edit(p, lambda m: m["axes"].pop()), "names 2 axes"),
    "no-datasets": (lambda p: _edit(p, lambda m: m.update(datasets=[])), "no datasets"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_stores_raise_one_clear_error(tmp_path, rng, case):
    path = _image(tmp_path, rng)
    breaker, message = BROKEN[case]
    breaker(path)
    with pytest.raises(StoreFormatError, match=message) as info:
        read(path)
    assert str(path) in str(info.value) or path.name in str(info.value)


@pytest.mark.parametrize("listed", [True, False], ids=["OME-series", "numbered"])
def test_bioformats2raw_series_open_with_their_labels(tmp_path, rng, listed):
    root = bioformats2raw_store(tmp_path, rng, listed=listed)
    assert discover(root).kind == "image_series"
    specs = by_name(read(root))
    assert list(specs) == ["series 0: DAPI", "series 0: GFP", "series 0: cells", "series 1"]
    assert specs["series 0: cells"].layer_type == "labels"
    assert specs["series 0: DAPI"].kwargs["scale"] == (0.5, 0.5)
    assert specs["series 1"].data[0].shape == (32, 48)


def test_bioformats2raw_layouts_we_cannot_read_say_why(tmp_path, rng):
    root = bioformats2raw_store(tmp_path, rng, listed=True, layout=2)
    with pytest.raises(StoreFormatError, match="layout 2; only layout 3"):
        read(root)
    shutil.rmtree(root / "0")
    shutil.rmtree(root / "1")
    (root / ".zattrs").write_text(json.dumps({"bioformats2raw.layout": 3}))
    with pytest.raises(StoreFormatError, match=r"none of its series \(0, 1\) holds an OME-Zarr"):
        read(root)
    (root / "OME" / ".zattrs").write_text(json.dumps({"series": ["../elsewhere"]}))
    with pytest.raises(StoreFormatError, match=r"not a folder inside converted\.zarr"):
        read(root)

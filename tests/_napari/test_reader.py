"""The npe2 reader: getter returns None for foreign paths, and every layout opens in a viewer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_omezarr_export import StoreFormatError
from napari_omezarr_export._napari._reader import get_reader
from store_factories import (
    bioformats2raw_store,
    brieflow_phenotype,
    brieflow_sbs,
    brieflow_table,
    legacy_store,
    percell3_experiment,
    percell3_threshold_name,
    percell_ids,
    percell_names,
    write_group,
)

PLUGIN = "napari-omezarr-export"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda p: str(p / "nope.zarr"), id="missing"),
        pytest.param(lambda p: (p / "a.tif").write_text("x") and str(p / "a.tif"), id="file"),
        pytest.param(lambda p: (p / "plain").mkdir() or str(p / "plain"), id="plain-folder"),
        pytest.param(lambda p: str(write_group(p / "g.zarr")), id="bare-zarr-group"),
        pytest.param(lambda p: [str(p / "x.zarr"), str(p / "y.zarr")], id="list-not-ours"),
        pytest.param(lambda p: [], id="empty-list"),
    ],
)
def test_getter_returns_none_for_foreign_paths(tmp_path, make):
    assert get_reader(make(tmp_path)) is None


def test_getter_accepts_a_list_of_our_paths(tmp_path, rng):
    paths = [str(legacy_store(tmp_path, v, rng)) for v in ("0.2", "0.3")]
    layers = get_reader(paths)(paths)
    assert [layer[1]["name"] for layer in layers] == ["DAPI", "GFP", "cells"] * 2


def test_broken_store_raises_our_error(tmp_path):
    store = write_group(tmp_path / "c.zarr")
    (store / ".zattrs").write_text("{")
    reader = get_reader(str(store))
    with pytest.raises(StoreFormatError, match=r"c.zarr/.zattrs is not valid JSON"):
        reader(str(store))


def test_layer_tuples_carry_napari_colormaps(tmp_path, rng):
    from napari.utils.colormaps import DirectLabelColormap

    path = str(legacy_store(tmp_path, "0.3", rng))
    layers = {kw["name"]: (data, kw, kind) for data, kw, kind in get_reader(path)(path)}
    data, kw, kind = layers["DAPI"]
    assert kind == "image" and kw["multiscale"] and isinstance(data, list)
    assert kw["colormap"] == "blue"
    _, kw, kind = layers["cells"]
    assert kind == "labels" and isinstance(kw["colormap"], DirectLabelColormap)


def _stores(tmp_path, rng) -> dict[str, Path]:
    names = percell_names(tmp_path, rng, n_regions=3)
    bf = brieflow_phenotype(tmp_path, rng)
    return {
        "legacy-0.1": legacy_store(tmp_path, "0.1", rng),
        "legacy-0.3": legacy_store(tmp_path, "0.3", rng),
        "bioformats2raw": bioformats2raw_store(tmp_path, rng, listed=True),
        "brieflow": bf,
        "brieflow-labels": bf / "labels",
        "brieflow-cells": bf / "labels" / "cells",
        "sbs": brieflow_sbs(tmp_path, rng),
        "percell-names": names,
        "percell-region": names / "images.zarr" / "condition_1" / "region_1",
        "percell-mask": names / "masks.zarr" / "condition_1" / "region_1" / "threshold_GFP",
        "percell-ids": percell_ids(tmp_path, rng, n_fovs=2),
    }


EXPECTED_LAYERS = {
    "legacy-0.1": ["DAPI", "GFP", "cells"],
    "legacy-0.3": ["DAPI", "GFP", "cells"],
    "bioformats2raw": ["series 0: DAPI", "series 0: GFP", "series 0: cells", "series 1"],
    "brieflow": ["DAPI", "COXIV", "CENPA", "nuclei", "cells"],
    "brieflow-labels": ["nuclei", "cells"],
    "brieflow-cells": ["cells"],
    "sbs": ["C1-DAPI", "C1-G", "C1-T", "C1-A", "C1-C"],
    "percell-names": ["DAPI", "GFP", "RFP", "segmentation", "GFP mask"],
    "percell-region": ["DAPI", "GFP", "RFP", "segmentation", "GFP mask"],
    "percell-mask": ["GFP mask"],
    "percell-ids": ["DAPI", "GFP", "Cy5", "segmentation", "GFP otsu mask", "GFP otsu particles"],
}


def test_every_layout_opens_in_a_viewer(make_napari_viewer, tmp_path, rng):
    viewer = make_napari_viewer()
    for key, path in _stores(tmp_path, rng).items():
        viewer.layers.clear()
        layers = viewer.open(str(path), plugin=PLUGIN)
        assert [layer.name for layer in layers] == EXPECTED_LAYERS[key], key
        for layer in layers:
            meta = layer.metadata["ome_zarr"]
            assert {"path", "kind"} <= set(meta), key
            if layer._type_string == "labels":
                assert {"path", "image", "name", "kind"} <= set(meta)
    # the last one: a stacked PerCell 3 experiment with a region slider
    dapi = viewer.layers["DAPI"]
    assert dapi.data.shape == (2, 48, 48) and dapi.axis_labels == ("region", "y", "x")
    assert viewer.layers["GFP otsu mask"].visible is False


def test_npe2_read_and_screenshot(make_napari_viewer, tmp_path, rng):
    import npe2
    from imageio.v3 import imwrite

    path = percell_names(tmp_path, rng, n_regions=1)
    region = path / "images.zarr" / "condition_1" / "region_1"
    npe2.PluginManager.instance().discover()
    tuples = npe2.read([str(region)], plugin_name=PLUGIN, stack=False)
    assert [t[1]["name"] for t in tuples] == ["DAPI", "GFP", "RFP", "segmentation", "GFP mask"]
    viewer = make_napari_viewer()
    layers = viewer.open(str(path), plugin=PLUGIN)
    assert layers[0].blending == "additive"
    assert layers[0].contrast_limits[1] <= 4095
    assert tuple(layers[1].scale) == (0.65, 0.65)
    assert str(layers[1].units[0]) == "micrometer"
    shot = viewer.screenshot(canvas_only=False)
    imwrite("/tmp/napari_omezarr_reader_percell.png", shot)
    assert shot.shape[-1] == 4 and np.asarray(shot)[..., :3].max() > 0


def test_a_dropped_brieflow_table_explains_itself_without_an_error(tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr("napari.utils.notifications.show_info", shown.append)
    path = str(brieflow_table(tmp_path))
    assert get_reader(path)(path) == [(None,)]  # napari: nothing to show, and no error
    assert len(shown) == 1 and "not an image" in shown[0] and "phenotype store" in shown[0]


def test_a_percell3_experiment_opens_as_one_layer_per_group(make_napari_viewer, tmp_path, rng):
    import zarr

    root = percell3_experiment(tmp_path, rng, n_fovs=6)
    viewer = make_napari_viewer()
    layers = viewer.open(str(root), plugin=PLUGIN)
    g1, g2 = (percell3_threshold_name(g, 1).removesuffix("_1") for g in ("g1", "g2"))
    assert [layer.name for layer in layers] == [
        "DAPI", "GFP", "segmentation", f"{g1} mask", f"{g1} particles", f"{g2} mask",
        f"{g2} particles",
    ]  # fmt: skip
    assert viewer.dims.axis_labels == ("region", "y", "x") and viewer.dims.nsteps[0] == 6
    mask = viewer.layers[f"{g2} mask"]
    assert not mask.visible and mask.opacity == 0.4
    assert not viewer.layers[f"{g2} particles"].visible and viewer.layers["segmentation"].visible
    viewer.dims.set_current_step(0, 4)
    mask.visible = True  # the user ticks it: napari slices only what is shown
    name = mask.metadata["percell"]["thresholds"][4]
    assert name == percell3_threshold_name("g2", 5)
    on_disk = zarr.open_array(mask.metadata["ome_zarr"]["paths"][4] + "/0", mode="r")[...]
    np.testing.assert_array_equal(np.asarray(mask._slice.image.raw), on_disk)


def test_a_percell3_field_dropped_alone_names_masks_by_threshold(
    make_napari_viewer, tmp_path, rng
):
    root = percell3_experiment(tmp_path, rng, n_fovs=6)
    viewer = make_napari_viewer()
    layers = viewer.open(str(root / "images.zarr" / "fov_2"), plugin=PLUGIN)
    g1, g2 = (percell3_threshold_name(g, 2) for g in ("g1", "g2"))
    assert [layer.name for layer in layers] == [
        "DAPI", "GFP", "segmentation", f"{g1} mask", f"{g1} particles", f"{g2} mask",
        f"{g2} particles",
    ]  # fmt: skip
    assert viewer.dims.ndim == 2
    assert not viewer.layers[f"{g1} mask"].visible
    assert viewer.layers[f"{g1} mask"].metadata["percell"]["region"] == "FOV_002"

"""Reading zipped stores (.ozx, NGFF RFC-9): lazily, as the same layers as the folder they hold."""

from __future__ import annotations

import numpy as np
import pytest
from test_ozx import ngff_zarr_ozx, ozx_sample_data

from napari_omezarr_export import LabelsSpec, PyramidOptions, StorageOptions, read, write_image
from napari_omezarr_export.core.read.discovery import discover
from napari_omezarr_export.core.write.ozx import zip_store
from store_factories import cells_image, cells_labels


@pytest.fixture
def folder(tmp_path, rng):
    path = tmp_path / "cells.ome.zarr"
    write_image(
        cells_image(rng, c=2, y=96, x=80),
        path,
        axes="cyx",
        channels=["DAPI", "GFP"],
        labels=[LabelsSpec(cells_labels(96, 80), "nuclei")],
        pyramid=PyramidOptions(levels=3),
        storage=StorageOptions(ngff_version="0.5"),
    )
    return path


def test_a_zipped_store_opens_as_the_folder_it_holds(folder, tmp_path):
    zipped = tmp_path / "cells.ozx"
    zip_store(folder, zipped, version="0.5")

    from_zip, from_folder = read(zipped), read(folder)

    assert [s.name for s in from_zip] == ["DAPI", "GFP", "nuclei"]
    assert [s.name for s in from_zip] == [s.name for s in from_folder]
    for z, f in zip(from_zip, from_folder, strict=True):
        assert len(z.data) == len(f.data)
        for level_z, level_f in zip(z.data, f.data, strict=True):
            np.testing.assert_array_equal(np.asarray(level_z), np.asarray(level_f))
        assert z.kwargs["scale"] == f.kwargs["scale"]
    assert from_zip[0].kwargs["metadata"]["ome_zarr"]["path"] == str(zipped)
    assert from_zip[2].kwargs["metadata"]["ome_zarr"]["image"] == str(zipped)


def test_a_zipped_image_is_read_lazily(folder, tmp_path):
    zipped = tmp_path / "cells.ozx"
    zip_store(folder, zipped, version="0.5")

    image = read(zipped)[0].data[0]

    assert type(image).__module__.startswith("dask")
    assert np.asarray(image[:4, :4]).shape == (4, 4)


def test_ngff_zarr_s_ozx_opens(tmp_path):
    zipped = ngff_zarr_ozx(tmp_path / "sample.ozx")

    specs = read(zipped)

    assert discover(zipped).kind == "image"
    data = np.stack([np.asarray(s.data[0]) for s in specs]) if len(specs) > 1 else specs[0].data[0]
    np.testing.assert_array_equal(np.asarray(data), ozx_sample_data())


def test_a_zip_that_is_not_a_store_is_not_ours(tmp_path):
    import zipfile

    path = tmp_path / "notes.ozx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert not discover(path).is_ours

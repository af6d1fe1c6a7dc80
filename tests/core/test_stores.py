"""The store layer: what each kind of location can do, and which ones can be written."""

from __future__ import annotations

import zipfile

import pytest

from napari_omezarr_export.core import stores
from napari_omezarr_export.core.errors import InvalidOptionError


def test_each_kind_of_store_says_what_it_can_do(tmp_path):
    zipped = tmp_path / "x.ozx"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("zarr.json", "{}")

    local = stores.capabilities(stores.locate(tmp_path))
    http = stores.capabilities(stores.locate("https://example.org/x.ome.zarr"))
    s3 = stores.capabilities(
        stores.locate("s3://bucket/x.ome.zarr", storage_options={"anon": True})
    )
    in_zip = stores.capabilities(stores.locate(zipped))

    assert (local.atomic_rename, local.can_list, local.writable, local.remote) == (
        True, True, True, False
    )  # fmt: skip
    assert (http.remote, http.can_list, http.can_delete, http.writable) == (
        True, False, False, False
    )  # fmt: skip
    assert (s3.remote, s3.atomic_rename, s3.can_list, s3.can_delete, s3.writable) == (
        True, False, True, True, True
    )  # fmt: skip
    assert (in_zip.remote, in_zip.writable) == (False, False)


@pytest.mark.parametrize("url", ["https://example.org/x.ome.zarr", "github://o:r@/x.ome.zarr"])
def test_read_only_schemes_are_refused_for_writing(url):
    with pytest.raises(InvalidOptionError, match="can only be read"):
        stores.write_target(url)


def test_a_url_that_went_through_pathlib_is_mended():
    target = stores.write_target("s3:/bucket/run/x.ome.zarr", storage_options={"key": "k"})
    assert str(target) == "s3://bucket/run/x.ome.zarr"


def test_local_only_layouts_refuse_urls():
    with pytest.raises(InvalidOptionError, match="written to a local folder only"):
        stores.local_path("s3://bucket/screen.percell", what="A .percell experiment")

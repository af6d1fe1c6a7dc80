"""Reading stores over HTTP and S3: the same layers as from a local copy, in few requests.

Every store is written to ``tmp_path`` and served by a real server on 127.0.0.1 (a static HTTP
server, moto's S3); the layers read from the URL are compared with those read from the folder.
"""

from __future__ import annotations

import os

import aiohttp
import numpy as np
import pytest

from napari_omezarr_export import LabelsSpec, PyramidOptions, StorageOptions, read, write_image
from napari_omezarr_export.core.errors import (
    NotOmeZarrError,
    StoreAccessError,
    StoreFormatError,
)
from store_factories import (
    bioformats2raw_store,
    cells_image,
    cells_labels,
    legacy_store,
    make_plate,
)

_METADATA = (".zattrs", ".zgroup", ".zarray", "zarr.json")


def _ours(tmp_path, rng, version):
    data = cells_image(rng, c=2, y=96, x=80)
    path = tmp_path / f"ours_{version}.ome.zarr"
    write_image(
        data,
        path,
        axes="cyx",
        scale=(1.0, 0.5, 0.25),
        channels=["DAPI", "GFP"],
        labels=[LabelsSpec(cells_labels(96, 80), "cells")],
        pyramid=PyramidOptions(levels=3),
        storage=StorageOptions(ngff_version=version),
    )
    return path


STORES = {
    "0.1": lambda tmp, rng: legacy_store(tmp, "0.1", rng),
    "0.2": lambda tmp, rng: legacy_store(tmp, "0.2", rng),
    "0.3": lambda tmp, rng: legacy_store(tmp, "0.3", rng),
    "ours 0.4": lambda tmp, rng: _ours(tmp, rng, "0.4"),
    "ours 0.5": lambda tmp, rng: _ours(tmp, rng, "0.5"),
    "labels group": lambda tmp, rng: _ours(tmp, rng, "0.4") / "labels",
    "label image": lambda tmp, rng: _ours(tmp, rng, "0.5") / "labels" / "cells",
    "bioformats2raw": lambda tmp, rng: bioformats2raw_store(tmp, rng, listed=True),
    "plate 0.4": lambda tmp, rng: make_plate(tmp / "plate4.ome.zarr", "0.4")[0],
    "plate 0.5": lambda tmp, rng: make_plate(tmp / "plate5.ome.zarr", "0.5")[0],
    "well": lambda tmp, rng: make_plate(tmp / "plate.ome.zarr", "0.5")[0] / "A" / "2",
}


def _comparable(kwargs):
    """A layer's keyword arguments without its metadata (which names where it came from)."""
    shown = {k: v for k, v in kwargs.items() if k != "metadata"}
    if "features" in shown:
        shown["features"] = shown["features"].to_dict("list")
    return repr(shown)


def _url(server, tmp_path, path):
    return server.url_for(path.relative_to(tmp_path))


@pytest.mark.parametrize("kind", list(STORES))
def test_a_url_opens_as_the_same_layers_as_the_local_copy(
    kind, tmp_path, rng, http_server_factory
):
    local = STORES[kind](tmp_path, rng)
    server = http_server_factory(tmp_path)
    url = _url(server, tmp_path, local)

    remote_specs = read(url)
    local_specs = read(local)

    assert [(s.name, s.layer_type) for s in remote_specs] == [
        (s.name, s.layer_type) for s in local_specs
    ]
    for remote, here in zip(remote_specs, local_specs, strict=True):
        assert _comparable(remote.kwargs) == _comparable(here.kwargs), remote.name
        assert remote.color == here.color
        assert remote.label_colors == here.label_colors
        # Local labels small enough open editable (one level in memory); remote ones stay a
        # lazy pyramid, so that opening reads no level-0 chunk. Level 0 must agree.
        np.testing.assert_array_equal(np.asarray(remote.data[0]), np.asarray(here.data[0]))
        if len(remote.data) == len(here.data):
            np.testing.assert_array_equal(np.asarray(remote.data[-1]), np.asarray(here.data[-1]))


def _level0_chunks(requests, store):
    """Requests for chunks of a level-0 array (never metadata) under ``store``."""
    found = []
    for request in requests:
        parts = request.path.split("/")
        if request.path.startswith(store) and parts[-1] not in _METADATA:
            levels = [p for p in parts[:-1] if p in ("0", "s0")]
            if levels:
                found.append(request.path)
    return found


def test_opening_reads_metadata_concurrently_and_no_level0_chunk(
    tmp_path, rng, http_server_factory
):
    local = _ours(tmp_path, rng, "0.4")
    server = http_server_factory(tmp_path, latency=0.05)

    specs = read(server.url_for(local.name))

    assert [s.layer_type for s in specs] == ["image", "image", "labels"]
    assert server.peak_concurrency > 1  # several documents were asked for at once
    # napari-ome-zarr asks 37 times for such a store (benchmarks/remote_open.py)
    assert server.count("GET") <= 37
    assert all(r.path.rsplit("/", 1)[-1] in _METADATA for r in server.requests)
    assert not _level0_chunks(server.requests, f"/{local.name}")


def test_a_plate_opens_without_reading_a_level0_chunk(tmp_path, http_server_factory):
    make_plate(tmp_path / "plate.ome.zarr", "0.4", levels=3)
    server = http_server_factory(tmp_path)

    specs = read(server.url_for("plate.ome.zarr"))

    assert {s.layer_type for s in specs} >= {"image"}
    assert not any(
        r.path.split("/")[5:6] == ["0"] and r.path.rsplit("/", 1)[-1] not in _METADATA
        for r in server.requests  # /plate.ome.zarr/A/1/<field>/<level>/...
    )


# -- failures: one clear error naming the URL and the cause ------------------------------------


def test_a_url_with_nothing_there_is_not_ours(tmp_path, http_server_factory):
    server = http_server_factory(tmp_path)
    with pytest.raises(NotOmeZarrError, match="not an OME-Zarr image"):
        read(server.url_for("missing.ome.zarr"))


def test_a_refused_connection_names_the_url(tmp_path):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x.ome.zarr"
    with pytest.raises(StoreAccessError, match=rf"Could not read {url}/.*network"):
        read(url)


def test_access_denied_says_so(tmp_path, rng, http_server_factory):
    local = _ours(tmp_path, rng, "0.5")
    server = http_server_factory(tmp_path, deny=True)
    with pytest.raises(StoreAccessError, match=r"403.*Access was denied"):
        read(server.url_for(local.name))


def test_a_server_error_says_to_try_later(tmp_path, rng, http_server_factory):
    local = _ours(tmp_path, rng, "0.5")
    server = http_server_factory(tmp_path, fail_after=0, fail_status=500)
    with pytest.raises(StoreAccessError, match=r"500.*try again later"):
        read(server.url_for(local.name))


def test_a_timeout_names_the_url(tmp_path, rng, http_server_factory):
    local = _ours(tmp_path, rng, "0.5")
    server = http_server_factory(tmp_path, latency=3.0)
    options = {"client_kwargs": {"timeout": aiohttp.ClientTimeout(sock_read=0.3)}}
    with pytest.raises(StoreAccessError, match=r"did not answer in time"):
        read(server.url_for(local.name), storage_options=options)


def test_a_chunk_that_fails_later_names_the_array(tmp_path, rng, http_server_factory):
    local = _ours(tmp_path, rng, "0.4")
    server = http_server_factory(tmp_path)
    specs = read(server.url_for(local.name))
    server.failing = True  # the server breaks after the store was opened

    with pytest.raises(StoreAccessError, match=rf"zarr array at {server.url}/{local.name}/0"):
        np.asarray(specs[0].data[0])


def test_unknown_schemes_are_refused_naming_the_scheme():
    with pytest.raises(NotOmeZarrError, match=r"foo:// is not one this package can reach"):
        read("foo://bucket/x.ome.zarr")


# -- S3 -------------------------------------------------------------------------------------


def _no_credentials(monkeypatch, s3_server):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


def test_s3_with_credentials_opens_as_the_local_copy(tmp_path, rng, s3_env):
    local = _ours(tmp_path, rng, "0.5")
    s3_env.make_bucket("private-lab")
    s3_env.upload_dir(local, "private-lab", "screens/x.ome.zarr")

    specs = read("s3://private-lab/screens/x.ome.zarr")

    here = read(local)
    assert [s.name for s in specs] == [s.name for s in here]
    np.testing.assert_array_equal(np.asarray(specs[-1].data[0]), np.asarray(here[-1].data[0]))


def test_a_public_bucket_opens_without_credentials(tmp_path, rng, s3_server, monkeypatch):
    local = _ours(tmp_path, rng, "0.4")
    s3_server.make_bucket("public-archive", public=True)
    s3_server.upload_dir(local, "public-archive", "x.ome.zarr")
    _no_credentials(monkeypatch, s3_server)

    specs = read("s3://public-archive/x.ome.zarr")

    assert [s.layer_type for s in specs] == ["image", "image", "labels"]


def test_storage_options_reach_the_file_system(tmp_path, rng, s3_server, monkeypatch):
    local = _ours(tmp_path, rng, "0.5")
    s3_server.make_bucket("options")
    s3_server.upload_dir(local, "options", "x.ome.zarr")
    _no_credentials(monkeypatch, s3_server)
    monkeypatch.delenv("AWS_ENDPOINT_URL")

    options = {"endpoint_url": s3_server.endpoint_url, **_fake_keys(s3_server)}
    specs = read("s3://options/x.ome.zarr", storage_options=options)

    assert [s.name for s in specs] == ["DAPI", "GFP", "cells"]


def _fake_keys(s3_server):
    env = s3_server.env()
    return {"key": env["AWS_ACCESS_KEY_ID"], "secret": env["AWS_SECRET_ACCESS_KEY"]}


def test_a_scheme_whose_package_is_missing_says_what_to_install():
    pytest.importorskip("fsspec")
    if __import__("importlib").util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed here")
    with pytest.raises(NotOmeZarrError, match=r"gs:// needs a package that is not installed"):
        read("gs://bucket/x.ome.zarr")


def test_names_with_glob_characters_are_read_as_they_are(tmp_path, rng, http_server_factory):
    from store_factories import write_image as write_ngff_image
    from store_factories import write_labels

    path = write_ngff_image(tmp_path / "odd.zarr", cells_image(rng, c=1)[0], axes=["y", "x"])
    write_labels(path, {"cells[1]": cells_labels(), "nuclei*": cells_labels()}, axes=["y", "x"])
    server = http_server_factory(tmp_path)

    specs = read(server.url_for("odd.zarr"))

    assert [s.name for s in specs if s.layer_type == "labels"] == ["cells[1]", "nuclei*"]


def test_a_reader_denied_listing_sees_403_for_missing_files_and_still_opens(
    tmp_path, rng, http_server_factory
):
    local = _ours(tmp_path, rng, "0.4")  # zarr v2: zarr.json and .zarray are asked for, absent
    server = http_server_factory(tmp_path, missing_status=403)

    specs = read(server.url_for(local.name))

    assert [s.name for s in specs] == ["DAPI", "GFP", "cells"]
    assert server.count(status=403) > 0


@pytest.mark.parametrize("escape", ["%2e%2e/%2e%2e/secret", "0#x", "0?x"])
def test_dataset_paths_that_change_a_url_are_refused(escape, tmp_path, rng, http_server_factory):
    import json

    local = _ours(tmp_path, rng, "0.4")
    attrs = json.loads((local / ".zattrs").read_text())
    attrs["multiscales"][0]["datasets"][0]["path"] = escape
    (local / ".zattrs").write_text(json.dumps(attrs))
    (tmp_path / "secret").mkdir()
    server = http_server_factory(tmp_path)

    with pytest.raises(StoreFormatError, match="points outside the store"):
        read(server.url_for(local.name))
    assert not any(r.path.startswith("/secret") for r in server.requests)


def test_a_zipped_store_opens_over_http(tmp_path, rng, http_server_factory):
    from napari_omezarr_export.core.write.ozx import zip_store

    folder = _ours(tmp_path, rng, "0.5")
    zip_store(folder, tmp_path / "cells.ozx", version="0.5")
    server = http_server_factory(tmp_path)

    specs = read(server.url_for("cells.ozx"))

    here = read(folder)
    assert [s.name for s in specs] == [s.name for s in here]
    np.testing.assert_array_equal(np.asarray(specs[0].data[0]), np.asarray(here[0].data[0]))


def test_a_rewritten_zip_is_read_afresh(tmp_path):
    zipped = tmp_path / "x.ozx"
    v5 = StorageOptions(ngff_version="0.5")
    write_image(np.zeros((32, 32), np.uint16), zipped, storage=v5)
    assert int(np.asarray(read(zipped)[0].data[0]).max()) == 0

    write_image(np.full((32, 32), 7, np.uint16), zipped, storage=v5)

    assert int(np.asarray(read(zipped)[0].data[0]).min()) == 7


def test_a_upath_keeps_its_storage_options(s3_server):
    from upath import UPath

    from napari_omezarr_export.core.stores import locate, write_target

    given = UPath("s3://bucket/x.ome.zarr", endpoint_url=s3_server.endpoint_url, anon=False)
    assert locate(given) is given
    target = write_target(given)
    assert target.storage_options["endpoint_url"] == s3_server.endpoint_url


def test_urls_with_a_query_are_refused():
    with pytest.raises(NotOmeZarrError, match="query or fragment"):
        read("https://example.org/x.ome.zarr?token=abc")

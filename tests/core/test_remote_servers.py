"""The local stand-ins for remote stores (tests/remote_servers.py) behave as the tests assume."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid

import numpy as np
import pytest

from remote_servers import Request, StaticHTTPServer

fsspec = pytest.importorskip("fsspec")
aiohttp = pytest.importorskip("aiohttp")

PAYLOAD = bytes(range(256)) * 8  # 2048 bytes, every offset distinguishable


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    (root / "store" / "0").mkdir(parents=True)
    (root / "store" / "0" / "chunk").write_bytes(PAYLOAD)
    (root / "store" / ".zattrs").write_text('{"a": 1}')
    for i in range(5):
        (root / "store" / f"f{i}").write_bytes(bytes([i]) * (100 + i))
    (root / "hidden").mkdir()
    (root / "hidden" / "secret").write_bytes(b"s")
    return root


def _http():
    # A new instance each time: fsspec caches file systems, and their sessions, per loop.
    return fsspec.filesystem("http", skip_instance_cache=True)


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


# --- HTTP -------------------------------------------------------------------------------------


def test_get_and_head_are_served_and_logged(site, http_server_factory):
    server = http_server_factory(site)
    fs = _http()
    url = server.url_for("store/0/chunk")
    assert url == f"{server.url}/store/0/chunk"
    assert fs.cat_file(url) == PAYLOAD
    assert fs.info(url)["size"] == len(PAYLOAD)
    assert server.requests == [
        Request("GET", "/store/0/chunk", 200),
        Request("HEAD", "/store/0/chunk", 200),
    ]
    assert server.count("GET") == 1 and server.count(status=200) == 2
    server.clear()
    assert server.requests == []


def test_concurrent_requests_overlap_and_are_all_logged(site, http_server_factory):
    server = http_server_factory(site, latency=0.5)
    urls = [server.url_for(f"store/f{i}") for i in range(5)]
    out = _http().cat(urls)
    assert [out[u] for u in urls] == [bytes([i]) * (100 + i) for i in range(5)]
    assert sorted(r.path for r in server.requests) == [f"/store/f{i}" for i in range(5)]
    assert {r.status for r in server.requests} == {200}
    # The client sent them together; a single-threaded server would never have two waiting.
    assert server.peak_concurrency >= 2


def test_byte_ranges_are_answered_206(site, http_server_factory):
    server = http_server_factory(site)
    fs, url = _http(), server.url_for("store/0/chunk")
    assert fs.cat_file(url, start=10, end=20) == PAYLOAD[10:20]
    assert fs.cat_file(url, start=2000) == PAYLOAD[2000:]
    assert fs.cat_file(url, start=-16) == PAYLOAD[-16:]  # zarr reads a shard index like this
    assert [r.status for r in server.requests] == [206, 206, 206]
    request = urllib.request.Request(url, headers={"Range": "bytes=5000-"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 416


def test_without_range_support_the_whole_file_comes_back(site, http_server_factory):
    # What a plain static server does; fsspec's cat_file then returns the whole file silently.
    server = http_server_factory(site, ranges=False)
    assert _http().cat_file(server.url_for("store/0/chunk"), start=10, end=20) == PAYLOAD
    assert server.requests == [Request("GET", "/store/0/chunk", 200)]


def test_zarr_reads_a_sharded_array_through_it(tmp_path, http_server_factory):
    zarr = pytest.importorskip("zarr")
    data = np.arange(64 * 64, dtype="uint16").reshape(64, 64)
    local = tmp_path / "site" / "a.zarr"
    array = zarr.create_array(local, shape=data.shape, dtype=data.dtype, chunks=(16, 16),
                              shards=(32, 32))  # fmt: skip
    array[:] = data
    server = http_server_factory(tmp_path / "site")
    remote = zarr.open_array(server.url_for("a.zarr"), mode="r")
    np.testing.assert_array_equal(remote[:], data)  # whole shards: plain GETs
    server.clear()
    np.testing.assert_array_equal(remote[:16, 16:32], data[:16, 16:32])
    # One inner chunk: the shard's index (a suffix), then the chunk's bytes.
    assert server.requests == [Request("GET", "/a.zarr/c/0/0", 206)] * 2


def test_missing_files_and_not_found_prefixes_are_404(site, http_server_factory):
    server = http_server_factory(site, not_found=["hidden"])
    fs = _http()
    with pytest.raises(FileNotFoundError):
        fs.cat_file(server.url_for("store/nothing.json"))
    with pytest.raises(FileNotFoundError):
        fs.cat_file(server.url_for("hidden/secret"))
    assert _status(server.url_for("store/f1")) == 200
    server.not_found = ("store/0",)
    assert _status(server.url_for("hidden/secret")) == 200
    assert _status(server.url_for("store/0/chunk")) == 404
    assert _status(server.url_for("store/0x")) == 404  # no such file, not the prefix
    assert [(r.path, r.status) for r in server.requests] == [
        ("/store/nothing.json", 404),
        ("/hidden/secret", 404),
        ("/store/f1", 200),
        ("/hidden/secret", 200),
        ("/store/0/chunk", 404),
        ("/store/0x", 404),
    ]


def test_deny_answers_403_until_lifted(site, http_server_factory):
    server = http_server_factory(site, deny=True)
    with pytest.raises(Exception, match="403"):
        _http().cat_file(server.url_for("store/f0"))
    server.deny = False
    assert _http().cat_file(server.url_for("store/f0")) == bytes([0]) * 100
    assert [r.status for r in server.requests] == [403, 200]


def test_a_server_that_starts_failing(site, http_server_factory):
    server = http_server_factory(site, fail_after=2)
    assert _status(server.url_for("store/f0")) == 200
    assert _status(server.url_for("store/f1")) == 200
    assert _status(server.url_for("store/f2")) == 500
    with pytest.raises(Exception, match="500"):
        _http().cat_file(server.url_for("store/f3"))
    assert [r.status for r in server.requests] == [200, 200, 500, 500]


def test_failing_can_be_switched_and_can_drop_the_connection(site, http_server_factory):
    server = http_server_factory(site)
    server.failing = True
    assert _status(server.url_for("store/f0")) == 500
    server.fail_status = None
    with pytest.raises(aiohttp.ServerDisconnectedError):
        _http().cat_file(server.url_for("store/f0"))
    server.failing = False
    assert _status(server.url_for("store/f0")) == 200
    statuses = [r.status for r in server.requests]
    # aiohttp may try a dropped GET again; every try is logged as 0 (no answer).
    assert statuses[0] == 500 and statuses[-1] == 200
    assert statuses[1:-1] and set(statuses[1:-1]) == {0}


def test_stopping_frees_the_port(site):
    server = StaticHTTPServer(site)
    with pytest.raises(RuntimeError, match="not running"):
        server.url  # noqa: B018
    with server:
        url = server.url_for("store/f0")
        assert _status(url) == 200
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5)
    server.stop()  # again: nothing to do


# --- S3 (moto) --------------------------------------------------------------------------------


def _bucket(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_s3_write_and_list_with_the_environment(s3_env):
    s3fs = pytest.importorskip("s3fs")
    bucket = _bucket("rw")
    assert s3_env.make_bucket(bucket) == f"s3://{bucket}"
    fs = s3fs.S3FileSystem(skip_instance_cache=True)  # endpoint and keys from the environment
    fs.pipe({f"{bucket}/img.zarr/.zattrs": b"{}", f"{bucket}/img.zarr/0/0": b"abc"})
    assert s3_env.keys(bucket) == ["img.zarr/.zattrs", "img.zarr/0/0"]
    assert s3_env.keys(bucket, "img.zarr/0") == ["img.zarr/0/0"]
    assert fs.cat_file(f"{bucket}/img.zarr/0/0") == b"abc"
    assert sorted(fs.ls(f"{bucket}/img.zarr")) == [f"{bucket}/img.zarr/.zattrs",
                                                    f"{bucket}/img.zarr/0"]  # fmt: skip


def test_s3_upload_dir_then_zarr_reads_it(tmp_path, s3_env):
    zarr = pytest.importorskip("zarr")
    pytest.importorskip("s3fs")
    data = np.arange(40 * 30, dtype="int32").reshape(40, 30)
    local = tmp_path / "a.zarr"
    zarr.create_array(local, shape=data.shape, dtype=data.dtype, chunks=(16, 16))[:] = data
    bucket = _bucket("up")
    s3_env.make_bucket(bucket)
    keys = s3_env.upload_dir(local, bucket, "deep/a.zarr")
    expected = sorted(f"deep/a.zarr/{p.relative_to(local).as_posix()}"
                      for p in local.rglob("*") if p.is_file())  # fmt: skip
    assert keys == expected == s3_env.keys(bucket, "deep/")
    remote = zarr.open_array(f"s3://{bucket}/deep/a.zarr", mode="r",
                             storage_options={"skip_instance_cache": True})  # fmt: skip
    np.testing.assert_array_equal(remote[:], data)


def test_s3_anonymous_read_of_a_public_bucket_only(tmp_path, s3_server):
    s3fs = pytest.importorskip("s3fs")
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "k").write_bytes(b"open")
    public, private = _bucket("pub"), _bucket("priv")
    s3_server.make_bucket(public, public=True)
    s3_server.make_bucket(private)
    s3_server.upload_dir(tmp_path / "s", public, "x")
    s3_server.upload_dir(tmp_path / "s", private, "x")
    anon = s3fs.S3FileSystem(anon=True, skip_instance_cache=True,
                             client_kwargs={"endpoint_url": s3_server.endpoint_url})  # fmt: skip
    assert anon.cat_file(f"{public}/x/k") == b"open"
    assert anon.ls(f"{public}/x") == [f"{public}/x/k"]
    with pytest.raises(PermissionError):
        anon.cat_file(f"{private}/x/k")
    with pytest.raises(PermissionError):
        anon.info(f"{private}/x/k")  # HEAD
    # moto does not check listings: a test of "private" must read an object, not list.
    assert anon.ls(f"{private}/x") == [f"{private}/x/k"]

"""Write targets: object stores are written; other URLs and paths inside a file fail loudly.

Every write verb, its ``iter_`` form and its preview are driven with the same targets, from an
empty working folder that must stay empty. Images and labels go to ``s3://`` (moto's S3 on
127.0.0.1); ``.percell`` experiments, Brieflow stores and plates are written locally only;
``http(s)://`` is read-only and an unknown scheme is named in the refusal.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from napari_omezarr_export import (
    ChannelStyle,
    InvalidOptionError,
    LabelsSpec,
    PercellRegion,
    WriteFailedError,
    iter_write_image,
    iter_write_labels,
    plan_image,
    plan_labels,
    preview_labels,
    target_path,
    write_brieflow_image,
    write_image,
    write_labels,
    write_percell_region,
    write_plate_field,
)
from napari_omezarr_export.core.layouts.brieflow.write import (
    iter_write_brieflow_image,
    preview_brieflow_image,
)
from napari_omezarr_export.core.layouts.percell.write import (
    iter_write_percell_region,
    preview_percell_region,
)
from validation import assert_valid_store

IMAGE = np.arange(2 * 32 * 40, dtype=np.uint16).reshape(2, 32, 40)
SEG = (np.arange(32 * 40).reshape(32, 40) // 300).astype(np.int32)
CHANNELS = [ChannelStyle("DAPI", "0000FF"), ChannelStyle("GFP", "00FF00")]
REGION = PercellRegion("control", "r1")
BRIEFLOW = {"step": "preprocess", "well": "A1", "tile": 0, "channels": CHANNELS}


def _run(steps):
    for _ in steps:
        pass


# Every verb that takes a target, as (id, call with the target). Generators are run to the end.
VERBS = {
    "write_image": lambda t: write_image(IMAGE, t),
    "iter_write_image": lambda t: _run(iter_write_image(IMAGE, t)),
    "write_labels": lambda t: write_labels(LabelsSpec(SEG, "cells"), t),
    "iter_write_labels": lambda t: _run(iter_write_labels(LabelsSpec(SEG, "cells"), t)),
    "preview_labels": lambda t: preview_labels(LabelsSpec(SEG, "cells"), t),
    "plan_image": lambda t: plan_image(IMAGE, t),
    "plan_labels": lambda t: plan_labels(LabelsSpec(SEG, "cells"), t),
    "write_percell_region": lambda t: write_percell_region(IMAGE, t, REGION, channels=CHANNELS),
    "iter_write_percell_region": lambda t: _run(
        iter_write_percell_region(IMAGE, t, REGION, channels=CHANNELS)
    ),
    "preview_percell_region": lambda t: preview_percell_region(
        IMAGE, t, REGION, channels=CHANNELS
    ),
    "write_brieflow_image": lambda t: write_brieflow_image(IMAGE, t, **BRIEFLOW),
    "iter_write_brieflow_image": lambda t: _run(iter_write_brieflow_image(IMAGE, t, **BRIEFLOW)),
    "preview_brieflow_image": lambda t: preview_brieflow_image(IMAGE, t, **BRIEFLOW),
}
LOCAL_ONLY = {
    "write_percell_region": "A .percell experiment",
    "iter_write_percell_region": "A .percell experiment",
    "preview_percell_region": "A .percell experiment",
    "write_brieflow_image": "A Brieflow store",
    "iter_write_brieflow_image": "A Brieflow store",
    "preview_brieflow_image": "A Brieflow store",
}
WRITES = {"write_image", "iter_write_image", "write_labels", "iter_write_labels"}


@pytest.mark.parametrize("verb", [v for v in VERBS if v not in LOCAL_ONLY])
def test_images_and_labels_are_written_to_s3_and_nothing_local(
    verb, s3_env, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    bucket = s3_env.make_bucket(f"t{uuid.uuid4().hex[:16]}").removeprefix("s3://")
    VERBS[verb](f"s3://{bucket}/run/x.ome.zarr")
    keys = s3_env.keys(bucket)
    if verb in WRITES:
        assert "run/x.ome.zarr/.zattrs" in keys
        assert "run/x.ome.zarr/0/.zarray" in keys
    else:
        assert keys == []  # plans and previews write nothing
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("verb", LOCAL_ONLY)
@pytest.mark.parametrize("url", ["s3://bucket/run/x.percell", "memory://x/y"])
def test_layouts_written_locally_refuse_object_stores(verb, url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = rf"{LOCAL_ONLY[verb]} is written to a local folder only"
    with pytest.raises(InvalidOptionError, match=message):
        VERBS[verb](url)
    assert list(tmp_path.iterdir()) == []


def test_plates_are_written_locally_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidOptionError, match=r"An HCS plate is written to a local folder"):
        write_plate_field(IMAGE, "s3://bucket/plate.ome.zarr", well="A1")
    with pytest.raises(InvalidOptionError, match=r"a zipped \.ozx store is written once"):
        write_plate_field(IMAGE, "plate.ozx", well="A1")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("url", ["https://example.org/data/x.zarr", "http://127.0.0.1:9/x"])
def test_http_targets_are_refused_as_read_only(verb, url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scheme = url.split(":")[0]
    with pytest.raises(InvalidOptionError, match=rf"{scheme}:// URLs can only be read"):
        VERBS[verb](url)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("verb", VERBS)
def test_an_unknown_scheme_is_refused_by_name(verb, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidOptionError, match=r"the scheme foo:// is not one"):
        VERBS[verb]("foo://bucket/x.ome.zarr")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("target", ["s3://bucket", "s3://bucket/"])
def test_a_bucket_without_a_store_name_is_refused(target, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidOptionError, match=r"names a bucket, not a store inside it"):
        write_image(IMAGE, target)
    assert list(tmp_path.iterdir()) == []


def test_object_store_targets_keep_their_url_and_get_the_suffix():
    assert str(target_path("s3://bucket/run/x")) == "s3://bucket/run/x.ome.zarr"
    assert str(target_path("s3://bucket/run/x.zarr")) == "s3://bucket/run/x.zarr"
    # a URL that went through pathlib lost a slash ("s3:/bucket/x"); it is the same URL
    assert str(target_path(Path("s3://bucket/run/x"))) == "s3://bucket/run/x.ome.zarr"
    assert target_path("x.ozx") == Path("x.ozx")


@pytest.mark.parametrize("verb", VERBS)
def test_a_file_url_naming_another_host_is_refused(verb, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidOptionError, match=r"names the host 'server'"):
        VERBS[verb]("file://server/share/x.ome.zarr")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("verb", VERBS)
def test_a_target_inside_a_file_names_the_file(verb, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("my notes")
    with pytest.raises(WriteFailedError, match=r"notes\.txt is a file, not a folder"):
        VERBS[verb]("notes.txt/x.ome.zarr")
    with pytest.raises(WriteFailedError, match=r"notes\.txt is a file, not a folder"):
        VERBS[verb](tmp_path / "notes.txt" / "deeper" / "x.ome.zarr")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "my notes"


def test_file_urls_write_to_their_local_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my data").mkdir()
    url = (tmp_path / "my data" / "x.ome.zarr").as_uri()  # file:///.../my%20data/x.ome.zarr
    assert url.startswith("file:///") and "%20" in url
    [written] = write_image(IMAGE, url, channels=CHANNELS)
    assert written == tmp_path / "my data" / "x.ome.zarr"
    assert_valid_store(written)
    localhost = f"file://localhost{(tmp_path / 'my data' / 'y').as_posix()}"
    assert target_path(localhost) == tmp_path / "my data" / "y.ome.zarr"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my data"]


def test_local_names_that_look_like_urls_but_are_not(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # a colon without "/" after it, and a Windows-style drive letter, are ordinary names
    assert target_path("run:1") == Path("run:1.ome.zarr")
    assert target_path("C:/data/x.zarr").name == "x.zarr"
    [written] = write_image(IMAGE, "run:1", channels=CHANNELS)
    assert_valid_store(tmp_path / written)


def test_ozx_targets_are_written_as_one_zip_through_every_image_verb(tmp_path, monkeypatch):
    from napari_omezarr_export import StorageOptions, read

    monkeypatch.chdir(tmp_path)
    v05 = StorageOptions(ngff_version="0.5")
    [written] = write_image(IMAGE, "x.ozx", channels=CHANNELS, storage=v05)
    assert written == Path("x.ozx") and written.is_file()
    _run(iter_write_image(IMAGE * 2, "x.ozx", channels=CHANNELS, storage=v05))  # replaced
    np.testing.assert_array_equal(
        np.asarray(read(str(tmp_path / "x.ozx"))[1].data[0]), IMAGE[1] * 2
    )
    [labels] = write_labels(LabelsSpec(SEG, "cells"), "cells.ozx", storage=v05)
    assert labels.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells.ozx", "x.ozx"]


def test_ozx_targets_refuse_0_4_and_labels_added_to_a_zipped_image(tmp_path, monkeypatch):
    from napari_omezarr_export import StorageOptions

    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidOptionError, match=r"NGFF 0\.4"):
        write_image(IMAGE, "x.ozx", storage=StorageOptions(ngff_version="0.4"))
    assert list(tmp_path.iterdir()) == []
    write_image(IMAGE, "x.ozx", storage=StorageOptions(ngff_version="0.5"))
    before = (tmp_path / "x.ozx").read_bytes()
    with pytest.raises(InvalidOptionError, match=r"Cannot add labels to x\.ozx: it is a zipped"):
        write_labels(LabelsSpec(SEG, "cells"), "x.ozx")
    assert (tmp_path / "x.ozx").read_bytes() == before

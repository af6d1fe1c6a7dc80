"""Write targets: remote URLs and paths inside a file fail loudly, before anything is created.

Every write verb, its ``iter_`` form and its preview are driven with the same bad targets, from
an empty working folder that must stay empty.
"""

from __future__ import annotations

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
REMOTE = {
    "s3": "s3://bucket/run/x.ome.zarr",
    "gs": "gs://bucket/x",
    "https": "https://example.org/data/x.zarr",
    "az": "az://container/x.percell",
}


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("scheme", REMOTE)
def test_remote_targets_are_refused_and_nothing_is_created(verb, scheme, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidOptionError, match=rf"{scheme}:// targets .*not supported yet"):
        VERBS[verb](REMOTE[scheme])
    assert list(tmp_path.iterdir()) == []


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

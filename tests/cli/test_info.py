"""The command line's ``info``: what a store is and whether it opens, as text or JSON."""

from __future__ import annotations

import json
import subprocess
import sys

from napari_omezarr_export import LabelsSpec, PyramidOptions, StorageOptions, write_image
from napari_omezarr_export.cli import main
from store_factories import cells_image, cells_labels, make_plate, write_json


def _image(tmp_path, rng, version="0.5"):
    path = tmp_path / f"cells_{version}.ome.zarr"
    write_image(
        cells_image(rng, c=2, y=64, x=48),
        path,
        axes="cyx",
        channels=["DAPI", "GFP"],
        labels=[LabelsSpec(cells_labels(64, 48), "nuclei")],
        pyramid=PyramidOptions(levels=2),
        storage=StorageOptions(ngff_version=version),
    )
    return path


def test_info_describes_an_image_its_channels_and_labels(tmp_path, rng, capsys):
    path = _image(tmp_path, rng)

    assert main(["info", str(path), "--json"]) == 0

    info = json.loads(capsys.readouterr().out)
    assert (info["kind"], info["zarr_format"], info["ngff_version"]) == ("image", 3, "0.5")
    assert [(layer["name"], layer["type"]) for layer in info["layers"]] == [
        ("DAPI", "image"), ("GFP", "image"), ("nuclei", "labels")
    ]  # fmt: skip
    nuclei = info["layers"][2]
    assert (nuclei["shape"], nuclei["dtype"], nuclei["levels"]) == ([64, 48], "int32", 2)


def test_info_reads_no_label_image_into_memory(tmp_path, rng, capsys):
    path = _image(tmp_path, rng, "0.4")
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "zarr v2, NGFF 0.4" in out
    # the lazy pyramid's 2 levels: opened for editing, level 0 would be read into memory alone
    assert "labels nuclei: 64 x 48 int32 (y, x), 2 levels" in out


def test_info_over_http_and_for_a_plate(tmp_path, http_server_factory, capsys):
    make_plate(tmp_path / "plate.ome.zarr", "0.5")
    server = http_server_factory(tmp_path)

    assert main(["info", server.url_for("plate.ome.zarr"), "--json"]) == 0

    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "plate" and info["layers"][0]["axes"][0] == "field"


def test_info_says_why_a_store_does_not_open_and_exits_1(tmp_path, rng, capsys):
    broken = _image(tmp_path, rng, "0.4")
    write_json(broken / ".zattrs", {"multiscales": [{"version": "0.4", "datasets": []}]})

    assert main(["info", str(broken), str(tmp_path / "nothing")]) == 1

    out = capsys.readouterr().out
    assert "lists no datasets" in out
    assert "nothing: not ours" in out


def test_the_console_script_runs(tmp_path, rng):
    path = _image(tmp_path, rng)
    script = __import__("pathlib").Path(sys.executable).with_name("napari-omezarr-export")
    done = subprocess.run([str(script), "info", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "image  DAPI: 64 x 48 uint16 (y, x), 2 levels" in done.stdout


def test_info_keeps_going_past_a_bad_store_and_counts_what_opens(tmp_path, rng, capsys):
    good = _image(tmp_path, rng)
    broken = tmp_path / "broken.zarr"
    broken.mkdir()
    (broken / "zarr.json").write_text("{not json")

    assert main(["info", str(broken), str(tmp_path / "missing.zarr"), str(good)]) == 1

    out = capsys.readouterr().out
    assert out.count("opens: no.") == 2 and out.count("opens: yes") == 1
    assert out.splitlines()[-1] == "1 of 3 stores open"


def test_info_dry_run_reads_nothing(tmp_path, capsys):
    assert main(["info", str(tmp_path / "a.zarr"), "s3://bucket/b.zarr", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"would inspect {tmp_path / 'a.zarr'} (metadata only)",
        "would inspect s3://bucket/b.zarr (metadata only)",
    ]

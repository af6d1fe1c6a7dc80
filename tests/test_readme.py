"""Every Python example in the README runs by itself, as a reader would paste it.

Each fenced ``python`` block is one test: it runs in a fresh namespace, in an empty working
directory, with nothing from the blocks above it. New blocks are picked up on their own. Every
OME-Zarr group a block writes is validated; the blocks named in ``CHECKS`` are also checked for
what they say they write.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import zarr

from validation import assert_valid_store

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language, the heading above it, its first line, its code."""

    language: str
    heading: str
    line: int
    code: str


def code_blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, each with the nearest heading above it."""
    blocks, heading, fence, indent, start, body, language = [], "", None, 0, 0, [], ""
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if fence is None and match:
            indent, fence, language = len(match.group(1)), match.group(2), match.group(3).lower()
            start, body = number + 1, []
        elif fence is not None and line.strip() == fence:
            blocks.append(Block(language, heading, start, "\n".join(body) + "\n"))
            fence = None
        elif fence is not None:
            body.append(line[indent:] if line[:indent].isspace() else line)
        elif line.startswith("#"):
            heading = line.lstrip("#").strip()
    assert fence is None, f"README.md: the code block opened at line {start - 1} is never closed"
    return blocks


def _block_id(index: int, block: Block) -> str:
    return f"{index}-" + re.sub(r"[^a-z0-9]+", "-", block.heading.lower()).strip("-")


PYTHON_BLOCKS = [b for b in code_blocks(README.read_text()) if b.language in {"python", "py"}]


def _python_api(root: Path) -> None:
    store = root / "readme_example.ome.zarr"
    group = zarr.open_group(store, mode="r")
    assert [c["label"] for c in group.attrs["omero"]["channels"]] == ["DAPI", "GFP"]
    assert group["labels/nuclei/0"][150, 150] == 1
    assert group["labels/nuclei/0"][350, 350] == 2  # the edited labels were saved back
    names = zarr.open_group(root / "names_only.ome.zarr", mode="r")
    assert [c["label"] for c in names.attrs["omero"]["channels"]] == ["DAPI", "GFP"]


def _percell(root: Path) -> None:
    experiment = root / "screen.percell"
    assert (experiment / "experiment.db").is_file()
    image = zarr.open_group(experiment / "images.zarr/control/region_1", mode="r")
    assert image["0"].shape == (2, 512, 512)
    labels = zarr.open_group(experiment / "labels.zarr/control/region_1", mode="r")
    assert labels["0"][150, 150] == 1
    mask = zarr.open_group(experiment / "masks.zarr/control/region_1/threshold_DAPI", mode="r")
    assert mask["0"][150, 150] == 255 and mask["0"][0, 0] == 0


def _brieflow(root: Path) -> None:
    path = root / "brieflow_run/phenotype/omezarr/A1_0__phenotype.zarr"
    store = zarr.open_group(path, mode="r")
    assert store["0"].shape == (2, 512, 512)
    assert set(store["labels"].group_keys()) == {"nuclei", "cells"}


# What the named examples write, beyond being valid OME-Zarr.
CHECKS = {
    "Python API": _python_api,
    "PerCell experiment (`.percell`)": _percell,
    "Brieflow per-image stores": _brieflow,
}


def _written_stores(root: Path) -> list[Path]:
    found = [p for p in root.rglob("*") if p.suffix in {".zarr", ".percell"} and p.is_dir()]
    return [p for p in found if not any(parent in found for parent in p.parents)]


def test_readme_has_the_python_examples():
    assert len(PYTHON_BLOCKS) >= 3
    assert sum(b.heading == REMOTE for b in PYTHON_BLOCKS) == 2
    assert set(CHECKS) <= {b.heading for b in PYTHON_BLOCKS}, "a checked example is gone"


REMOTE = "Remote and zipped stores"
LOCAL_HTTP = "http://localhost:8000"


def _remote_stand_ins(request, root: Path) -> str:
    """What the remote examples reach, on 127.0.0.1: an HTTP server and moto's S3.

    ``cells.ome.zarr`` is served over HTTP and put in the buckets ``public-bucket`` (readable by
    anyone) and ``my-lab``; the S3 client finds moto through ``AWS_ENDPOINT_URL``. Returns the
    HTTP server's URL, which replaces ``http://localhost:8000`` in the example.
    """
    from napari_omezarr_export import LabelsSpec, write_image
    from store_factories import cells_image, cells_labels

    served = root.parent / f"{root.name}-served"
    write_image(
        cells_image(np.random.default_rng(0), c=2, y=64, x=64),
        served / "cells.ome.zarr",
        axes="cyx",
        channels=["DAPI", "GFP"],
        labels=[LabelsSpec(cells_labels(64, 64), "nuclei")],
    )
    s3 = request.getfixturevalue("s3_env")
    for bucket, public in (("public-bucket", True), ("my-lab", False)):
        if bucket not in s3.buckets():
            s3.make_bucket(bucket, public=public)
        s3.upload_dir(served / "cells.ome.zarr", bucket, "cells.ome.zarr")
    return request.getfixturevalue("http_server_factory")(served).url


@pytest.mark.parametrize(
    "block", PYTHON_BLOCKS, ids=[_block_id(i, b) for i, b in enumerate(PYTHON_BLOCKS)]
)
def test_readme_python_block_runs_alone(block, tmp_path, monkeypatch, request):
    monkeypatch.chdir(tmp_path)
    source = block.code
    if block.heading == REMOTE:
        source = source.replace(LOCAL_HTTP, _remote_stand_ins(request, tmp_path))
    # Blank lines in front keep README line numbers in tracebacks.
    code = compile("\n" * (block.line - 1) + source, str(README), "exec")
    try:
        exec(code, {"__name__": "__main__"})
    finally:
        if "napari" in sys.modules:  # an example that opened a viewer leaves none behind
            sys.modules["napari"].Viewer.close_all()
    for store in _written_stores(tmp_path):
        assert_valid_store(store)
    if block.heading in CHECKS:
        CHECKS[block.heading](tmp_path)


def test_readme_quick_start_is_the_two_commands():
    text = README.read_text()
    quick = text.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = re.findall(r"^make \w+", quick, flags=re.M)
    assert commands == ["make demo", "make test"]


def test_readme_install_names_the_extras_pyproject_defines():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    install = README.read_text().split("## Install", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"pip install \"?napari-omezarr-export(?:\[(\w+)\])?", install)
    assert named == ["", "napari", "all"]
    assert {"napari", "all"} <= set(extras)
    assert any("napari-omezarr-export[napari]" in dep for dep in extras["all"])


# --- "Batch and cluster": the shell examples, run in order in one folder ----------------------

BATCH = ("Batch and cluster", "Brieflow runs")
SCHEDULER_IN_README = "tcp://scheduler-host:8786"


def _console_commands(block: Block) -> list[tuple[str, list[str]]]:
    """A console block as ``(command, the output lines shown under it)`` pairs."""
    runs: list[tuple[str, list[str]]] = []
    for line in block.code.splitlines():
        if line.startswith("$ "):
            runs.append((line[2:], []))
        elif line.strip():
            assert runs, f"README.md line {block.line}: output before any $ command"
            runs[-1][1].append(line)
    return runs


BATCH_BLOCKS = [
    b for b in code_blocks(README.read_text()) if b.heading in BATCH and b.language == "console"
]


def _same_columns(lines: list[str]) -> list[str]:
    return [" ".join(line.split()) for line in lines]


@pytest.mark.slow
def test_readme_batch_and_cluster_commands_print_what_the_readme_shows(
    tmp_path, monkeypatch, capsys
):
    import shlex

    import distributed

    from brieflow_runs import make_tiff_run
    from convert_fixtures import percell_experiment, scans_folder
    from napari_omezarr_export.cli import main

    assert len(BATCH_BLOCKS) >= 3, "the Batch and cluster examples are gone"
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(1234)
    scans_folder(tmp_path, rng)
    percell_experiment(tmp_path, rng)
    make_tiff_run(tmp_path, rng)
    # Only --scheduler uses this cluster: the other commands run without a client, as typed.
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as c:
        for block in BATCH_BLOCKS:
            for command, shown in _console_commands(block):
                argv = shlex.split(command.replace(SCHEDULER_IN_README, c.scheduler_address))
                assert argv[0] == "napari-omezarr-export"
                code = main(argv[1:])
                printed = capsys.readouterr().out.splitlines()
                assert code == 0, f"README.md line {block.line}: {command}\n" + "\n".join(printed)
                assert _same_columns(printed) == _same_columns(shown), command
    for store in (tmp_path / "converted").rglob("*.ome.zarr"):
        assert_valid_store(store)
    brieflow_images = [
        store
        for step in ("preprocess", "sbs", "phenotype")
        for store in (tmp_path / "brieflow_output" / step / "omezarr").rglob("*__*.zarr")
    ]
    assert len(brieflow_images) == 6
    for store in brieflow_images:
        assert_valid_store(store)

"""The README's Python example runs as written."""

import re
from pathlib import Path

import zarr

from validation import assert_valid_store

README = Path(__file__).parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no Python example"
    monkeypatch.chdir(tmp_path)
    api_first = sorted(blocks, key=lambda block: "preview_metadata" not in block)
    namespace: dict = {}  # one namespace, as a reader following along would have
    for block in api_first:
        exec(compile(block, str(README), "exec"), namespace)
    store = tmp_path / "readme_example.ome.zarr"
    assert_valid_store(store)
    assert zarr.open_group(store, mode="r")["labels/nuclei/0"][350, 350] == 2
    assert_valid_store(tmp_path / "names_only.ome.zarr")
    assert_valid_store(tmp_path / "screen.percell" / "images.zarr" / "control" / "region_1")
    assert_valid_store(
        tmp_path / "brieflow_run" / "phenotype" / "omezarr" / "A1_0__phenotype.zarr"
    )


def test_readme_quick_start_is_the_two_commands():
    text = README.read_text()
    quick = text.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = re.findall(r"^make \w+", quick, flags=re.M)
    assert commands == ["make demo", "make test"]

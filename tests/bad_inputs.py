"""A corpus of malformed paths a user could drop on napari, and the outcome each must have.

Every :class:`Case` builds its input under ``tmp_path / "case"`` and returns the path to drop.
A sentinel image (``tmp_path / "outside.zarr"``, every pixel 7777) sits next to it: cases whose
metadata point outside the dropped folder (``..``, absolute paths) would read it if the reader
followed them, and the test asserts that nothing under it is ever opened.

Outcomes:

* ``"none"``: ``get_reader`` returns None (not ours);
* ``"error"``: our own exception type, raised by the reader or, for corrupt chunks, when a
  chunk is read (the open itself succeeds: data are lazy, so a bad chunk only fails when napari
  asks for it, with a :class:`StoreFormatError` naming the array);
* ``"warning"``: the layers open and a warning is logged (cosmetic problems);
* ``"opens"``: a valid store with an odd name or shape that opens without any warning;
* ``"message"``: not broken and not an image (a Brieflow table): no layer, and a message that
  says what it is and what to open instead.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_omezarr_export import (
    PercellFormatError,
    StoreFormatError,
)
from store_factories import (
    brieflow_table,
    cells_image,
    cells_labels,
    make_plate,
    omero_channels,
    percell_ids,
    percell_names,
    write_array,
    write_group,
    write_image,
    write_json,
    write_labels,
    yx_axes,
)

SENTINEL_VALUE = 7777


@dataclass(frozen=True)
class Case:
    """One malformed input and its expected outcome.

    Parameters
    ----------
    id : str
        The readable pytest id.
    build : callable
        ``build(case_dir) -> path to drop``; ``case_dir`` does not exist yet.
    expect : {"none", "error", "warning", "opens"}
        The outcome.
    error : type
        The exception type for ``"error"``.
    match : str
        A regex the error or warning message must match.
    max_seconds : float
        How long the whole read (getter, reader, chunk reads) may take.
    """

    id: str
    build: Callable[[Path], Any]
    expect: str
    error: type[Exception] = StoreFormatError
    match: str = ""
    max_seconds: float = 10.0


def write_sentinel(tmp_path: Path) -> Path:
    """The image outside the dropped folder that must never be read."""
    data = np.full((1, 16, 16), SENTINEL_VALUE, dtype="uint16")
    return write_image(tmp_path / "outside.zarr", data, levels=1, axes=yx_axes("c", "y", "x"))


def _rng() -> np.random.Generator:
    return np.random.default_rng(7)


def _image(path: Path, *, levels: int = 1, **kwargs: Any) -> Path:
    """A small valid 2-channel (c, y, x) NGFF 0.4 image."""
    kwargs.setdefault("axes", yx_axes("c", "y", "x"))
    kwargs.setdefault("scale", [1.0, 0.5, 0.5])
    kwargs.setdefault(
        "omero", omero_channels(["DAPI", "GFP"], ["0000FF", "00FF00"], [(0, 4000), (0, 4000)])
    )
    return write_image(path, cells_image(_rng(), 2, 32, 32), levels=levels, **kwargs)


def _patch_attrs(path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """Edit a v2 group's .zattrs in place."""
    attrs = json.loads((path / ".zattrs").read_text())
    edit(attrs)
    write_json(path / ".zattrs", attrs)
    return path


def _block(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], Path]:
    """A valid image whose ``multiscales[0]`` is then edited."""

    def build(d: Path) -> Path:
        return _patch_attrs(_image(d / "img.zarr", levels=2), lambda a: edit(a["multiscales"][0]))

    return build


def _attrs(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        return _patch_attrs(_image(d / "img.zarr", levels=2), edit)

    return build


def _v3_image(d: Path, attributes: Any, *, shape=(2, 32, 32), chunks=(1, 32, 32)) -> Path:
    """A zarr v3 group with the given raw attributes and one level "0" (metadata only)."""
    path = d / "img3.zarr"
    write_json(
        path / "zarr.json", {"zarr_format": 3, "node_type": "group", "attributes": attributes}
    )
    write_json(path / "0" / "zarr.json", _v3_array(shape, chunks))
    return path


def _v3_array(shape, chunks, dtype: str = "uint16") -> dict[str, Any]:
    return {
        "zarr_format": 3,
        "node_type": "array",
        "shape": list(shape),
        "data_type": dtype,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0,
        "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
        "attributes": {},
        "dimension_names": None,
    }


def _v3_ome(multiscales: Any, **extra: Any) -> dict[str, Any]:
    return {"ome": {"version": "0.5", "multiscales": multiscales, **extra}}


def _v3_block(**edit: Any) -> list[dict[str, Any]]:
    block = {
        "axes": [
            {"name": "c", "type": "channel"},
            {"name": "y", "type": "space"},
            {"name": "x", "type": "space"},
        ],
        "datasets": [
            {
                "path": "0",
                "coordinateTransformations": [{"type": "scale", "scale": [1.0, 1.0, 1.0]}],
            }
        ],
    }
    block.update(edit)
    return [block]


def _text(name: str, content: str | bytes) -> Callable[[Path], Path]:
    """A v2 group whose ``name`` metadata file holds ``content``."""

    def build(d: Path) -> Path:
        path = write_group(d / "bad.zarr")
        target = path / name
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path

    return build


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _jpgs(d: Path) -> Path:
    for i in range(3):
        (_mkdir(d / "photos") if i == 0 else d / "photos").joinpath(f"{i}.jpg").write_bytes(
            b"\xff\xd8\xff\xe0" + bytes(20)
        )
    return d / "photos"


def _file(name: str) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        _mkdir(d)
        (d / name).write_text("hello")
        return d / name

    return build


def _corrupt_chunk(version: str) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        from napari_omezarr_export import StorageOptions
        from napari_omezarr_export import write_image as export

        data = cells_image(_rng(), 1, 32, 32)[0]
        path = d / "corrupt.zarr"
        export(data, path, storage=StorageOptions(ngff_version=version, chunks=(16, 16)))
        chunk = next(
            p
            for p in sorted((path / "0").rglob("*"))
            if p.is_file() and not p.name.startswith(".") and p.name != "zarr.json"
        )
        chunk.write_bytes(b"\x00garbage" * 7)
        return path

    return build


def _huge(version: int, chunks: tuple[int, int]) -> Callable[[Path], Path]:
    shape = (1_000_000, 1_000_000)

    def build(d: Path) -> Path:
        if version == 3:
            path = d / "huge3.zarr"
            block = _v3_block(
                axes=[{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
                datasets=[
                    {
                        "path": "0",
                        "coordinateTransformations": [{"type": "scale", "scale": [1.0, 1.0]}],
                    }
                ],
            )
            write_json(
                path / "zarr.json",
                {"zarr_format": 3, "node_type": "group", "attributes": _v3_ome(block)},
            )
            write_json(path / "0" / "zarr.json", _v3_array(shape, chunks))
            return path
        path = write_group(
            d / "huge.zarr",
            {
                "multiscales": [
                    {
                        "version": "0.4",
                        "axes": yx_axes("y", "x"),
                        "datasets": [
                            {
                                "path": "0",
                                "coordinateTransformations": [
                                    {"type": "scale", "scale": [1.0, 1.0]}
                                ],
                            }
                        ],
                    }
                ]
            },
        )
        write_json(
            path / "0" / ".zarray",
            {
                "zarr_format": 2,
                "shape": list(shape),
                "chunks": list(chunks),
                "dtype": "<u2",
                "compressor": None,
                "fill_value": 0,
                "order": "C",
                "filters": None,
            },
        )
        return path

    return build


def _outside_label_source(source: Callable[[Path], str]) -> Callable[[Path], Path]:
    """A label image whose ``image-label.source.image`` points at the sentinel."""

    def build(d: Path) -> Path:
        image = _image(d / "img.zarr")
        write_labels(
            image,
            {"cells": cells_labels(32, 32)},
            levels=1,
            axes=yx_axes("y", "x"),
            scale=[0.5, 0.5],
        )
        label = image / "labels" / "cells"
        rel = source(d)
        _patch_attrs(
            label,
            lambda a: a.update({"image-label": {"version": "0.4", "source": {"image": rel}}}),
        )
        return label

    return build


def _labels_list(names: list[Any], *, drop: str = "labels") -> Callable[[Path], Path]:
    """An image whose labels group lists ``names``; the labels group (or the image) is dropped."""

    def build(d: Path) -> Path:
        image = _image(d / "img.zarr")
        write_group(image / "labels", {"labels": names})
        return image / "labels" if drop == "labels" else image

    return build


def _symlink_parent(d: Path) -> Path:
    image = _image(d / "img.zarr")
    (image / "loop").symlink_to(image, target_is_directory=True)
    (image / "labels").mkdir()
    (image / "labels" / "up").symlink_to("..", target_is_directory=True)
    return image


def _symlink_label_loop(d: Path) -> Path:
    image = _image(d / "img.zarr")
    write_group(image / "labels", {"labels": ["x"]})
    (image / "labels" / "x").symlink_to(image / "labels", target_is_directory=True)
    return image


def _symlink_self(d: Path) -> Path:
    _mkdir(d)
    (d / "self.zarr").symlink_to(d / "self.zarr")
    return d / "self.zarr"


def _percell_self_link(d: Path) -> Path:
    root = percell_names(d, _rng(), n_regions=2, size=16)
    link = root / "images.zarr" / "condition_1" / "looping"
    link.symlink_to(link)
    return root


def _percell_loop(d: Path) -> Path:
    root = percell_names(d, _rng(), n_regions=2, size=16)
    cond = root / "images.zarr" / "condition_1"
    (cond / "again").symlink_to(root / "images.zarr", target_is_directory=True)
    return root


def _deep(image_at_bottom: bool) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        top = d / "deep.zarr"
        path = top
        for _ in range(200):
            write_group(path)
            path = path / "g"
        _image(path)
        return top if not image_at_bottom else path

    return build


def _deep_percell(d: Path) -> Path:
    root = d / "deep.percell"
    path = root / "images.zarr"
    for _ in range(200):
        write_group(path)
        path = path / "g"
    _image(path)
    return root


def _named(name: str) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        image = _image(d / name, levels=2)
        write_labels(
            image,
            {
                "-cells": cells_labels(32, 32),
                ".nuclei": cells_labels(32, 32),
                "über zellen": cells_labels(32, 32),
            },
            levels=1,
            axes=yx_axes("y", "x"),
            scale=[0.5, 0.5],
        )
        return image

    return build


def _omero(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], Path]:
    return _attrs(lambda a: edit(a["omero"]))


def _set_color(value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda o: o["channels"][0].update(color=value)


def _percell_no_db(d: Path) -> Path:
    root = percell_ids(d, _rng(), n_fovs=1, size=16)
    for suffix in ("", "-wal", "-shm"):
        db = root / f"experiment.db{suffix}"
        if db.exists():
            db.unlink()
    return root


def _percell_corrupt_db(d: Path) -> Path:
    root = percell_ids(d, _rng(), n_fovs=1, size=16)
    for suffix in ("-wal", "-shm"):
        (root / f"experiment.db{suffix}").unlink(missing_ok=True)
    (root / "experiment.db").write_bytes(np.random.default_rng(3).bytes(8192))
    return root


LOCKS: list[sqlite3.Connection] = []


def _percell_locked(d: Path) -> Path:
    root = percell_ids(d, _rng(), n_fovs=1, size=16)
    db = root / "experiment.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    holder = sqlite3.connect(db, timeout=0.1, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE fovs SET display_name = 'being edited'")
    LOCKS.append(holder)  # released by the test after the read
    return root


def _percell_sql(sql: str, n_fovs: int = 2) -> Callable[[Path], Path]:
    """A PerCell 3 experiment whose database was then edited by ``sql``."""

    def build(d: Path) -> Path:
        root = percell_ids(d, _rng(), n_fovs=n_fovs, size=16)
        conn = sqlite3.connect(root / "experiment.db")
        conn.execute(sql)
        conn.commit()
        conn.close()
        return root

    return build


def _empty_percell_file(d: Path) -> Path:
    _mkdir(d)
    (d / "exp.percell").write_bytes(b"SQLite format 3\x00")
    return d / "exp.percell"


def _dtype_level(dtype: str) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        path = write_group(
            d / "odd.zarr",
            {
                "multiscales": [
                    {"version": "0.4", "axes": yx_axes("y", "x"), "datasets": [{"path": "0"}]}
                ]
            },
        )
        write_json(
            path / "0" / ".zarray",
            {
                "zarr_format": 2,
                "shape": [8, 0] if dtype == "empty" else [8, 8],
                "chunks": [8, 8],
                "dtype": "<u2" if dtype == "empty" else dtype,
                "compressor": None,
                "fill_value": None,
                "order": "C",
                "filters": None,
            },
        )
        return path

    return build


def _big_json(d: Path) -> Path:
    path = write_group(d / "big.zarr")
    (path / ".zattrs").write_text('{"x": "' + "a" * (17 * 1024 * 1024) + '"}')
    return path


def _missing_level(d: Path) -> Path:
    path = _image(d / "img.zarr", levels=2)
    for f in (path / "1").iterdir():
        f.unlink()
    (path / "1").rmdir()
    return path


def _same_shape_levels(d: Path) -> Path:
    path = _image(d / "img.zarr", levels=2)
    write_array(path / "1", cells_image(_rng(), 2, 32, 32))
    return path


def _outside_dataset(kind: str) -> Callable[[Path], Path]:
    def edit(d: Path) -> str:
        return "../outside.zarr/0" if kind == "dotdot" else str(d.parent / "outside.zarr" / "0")

    def build(d: Path) -> Path:
        path = _image(d / "img.zarr", levels=1)
        rel = edit(d)
        return _patch_attrs(path, lambda a: a["multiscales"][0]["datasets"][0].update(path=rel))

    return build


def _v2_label_colours(d: Path) -> Path:
    image = _image(d / "img.zarr")
    il = {
        "version": "0.4",
        "colors": [{"label-value": "one", "rgba": "red"}, {"label-value": 1, "rgba": [255, 0]}],
    }
    write_labels(
        image,
        {"cells": cells_labels(32, 32)},
        levels=1,
        axes=yx_axes("y", "x"),
        scale=[0.5, 0.5],
        image_label=il,
    )
    return image


def _pop(key: str) -> Callable[[dict[str, Any]], None]:
    def edit(block: dict[str, Any]) -> None:
        for entry in block["datasets"]:
            entry.pop(key, None)

    return edit


def _level_group(d: Path) -> Path:
    path = _image(d / "img.zarr", levels=1)
    for f in (path / "0").iterdir():
        f.unlink()
    write_group(path / "0")
    return path


def _plate(edit: Callable[[dict[str, Any]], None] | None = None) -> Callable[[Path], Path]:
    """A valid 1 x 2 plate (wells A1, A2; one 16 x 16 field each) whose ``plate`` is edited."""

    def build(d: Path) -> Path:
        path, _ = make_plate(d / "plate.zarr", rows="A", columns=("1", "2"), fields=1,
                             size=(16, 16), levels=1)  # fmt: skip
        return _patch_attrs(path, lambda a: edit(a["plate"])) if edit else path

    return build


def _well_entry(index: int, **entry: Any) -> Callable[[dict[str, Any]], None]:
    return lambda plate: plate["wells"][index].update(entry)


def _plate_field_not_image(d: Path) -> Path:
    path = _plate()(d)
    write_json(path / "A" / "2" / "0" / ".zattrs", {"not": "an image"})
    return path


def _big_plate(n: int, entry: str, *, grid: int | None = None) -> Callable[[Path], Path]:
    """A plate whose ``wells`` lists ``n`` copies of ``entry`` (``grid`` x ``grid`` names)."""

    def build(d: Path) -> Path:
        path = _plate()(d)
        attrs = json.loads((path / ".zattrs").read_text())
        if grid:
            attrs["plate"]["rows"] = [{"name": f"r{i}"} for i in range(grid)]
            attrs["plate"]["columns"] = [{"name": f"c{i}"} for i in range(grid)]
        attrs["plate"]["wells"] = "@WELLS@"
        text = json.dumps(attrs, separators=(",", ":"))
        wells = "[" + ",".join([entry] * n) + "]"
        (path / ".zattrs").write_text(text.replace('"@WELLS@"', wells))
        return path

    return build


def _well_dotdot(d: Path) -> Path:
    path = _plate()(d)
    well = path / "A" / "1"
    _patch_attrs(well, lambda a: a["well"].update(images=[{"path": "../../../../outside.zarr"}]))
    return well


def _well_one_field_dotdot(d: Path) -> Path:
    path, _ = make_plate(d / "plate.zarr", rows="A", columns=("1",), fields=2, size=(16, 16),
                         levels=1)  # fmt: skip
    well = path / "A" / "1"
    _patch_attrs(well, lambda a: a["well"]["images"][1].update(path="../../../outside.zarr"))
    return well


NONE, ERROR, WARN, OPENS, MESSAGE = "none", "error", "warning", "opens", "message"
P_ERR = PercellFormatError

CASES: list[Case] = [
    # ------------------------------------------------------------ not zarr at all
    Case("empty-folder-named-zarr", lambda d: _mkdir(d / "x.zarr"), NONE),
    Case("text-file-named-zarr", _file("x.zarr"), NONE),
    Case("folder-of-jpgs", _jpgs, NONE),
    Case("percell-that-is-a-file", _empty_percell_file, NONE),
    Case("missing-path", lambda d: d / "nothing.zarr", NONE),
    Case("nul-byte-in-path", lambda d: str(d / "a\x00b.zarr"), NONE),
    Case("name-too-long", lambda d: d / ("n" * 300 + ".zarr"), NONE),
    Case("bare-v2-group", lambda d: write_group(d / "g.zarr"), NONE),
    Case("v3-group-without-ome", lambda d: _v3_image(d, {"foo": 1}), NONE),
    Case("v3-ome-not-an-object", lambda d: _v3_image(d, {"ome": 5}), NONE),
    Case("zattrs-is-a-folder", lambda d: _mkdir(d / "f.zarr" / ".zattrs").parent, NONE),
    Case("self-symlink-loop", _symlink_self, NONE),
    Case("deep-200-groups-dropped-at-top", _deep(False), NONE),
    # ------------------------------------------------------------ broken JSON
    Case(
        "v2-truncated-zattrs",
        _text(".zattrs", '{"multiscales": [{"ver'),
        ERROR,
        match="not valid JSON",
    ),
    Case("v2-truncated-zgroup-no-attrs", _text(".zgroup", '{"zarr_for'), NONE),
    Case(
        "v2-zattrs-is-a-list", _text(".zattrs", "[1, 2]"), ERROR, match="JSON list, not an object"
    ),
    Case(
        "v2-zattrs-not-utf8", _text(".zattrs", b'{"a": "\xff\xfe"}'), ERROR, match="Could not read"
    ),
    Case("v2-zattrs-over-16mb", _big_json, ERROR, match="larger than 16 MB"),
    Case(
        "v3-truncated-zarr-json",
        _text("zarr.json", '{"zarr_format": 3, "node'),
        ERROR,
        match="not valid JSON",
    ),
    Case(
        "v3-attributes-a-list", lambda d: _v3_image(d, [1]), ERROR, match="must be a JSON object"
    ),
    # ------------------------------------------------------------ wrong types
    Case(
        "v2-multiscales-a-dict",
        _attrs(lambda a: a.update(multiscales={"datasets": []})),
        ERROR,
        match="'multiscales' must be a non-empty list",
    ),
    Case(
        "v3-multiscales-a-dict",
        lambda d: _v3_image(d, _v3_ome({"datasets": []})),
        ERROR,
        match="'multiscales' must be a non-empty list",
    ),
    Case(
        "v2-axes-a-number",
        _block(lambda b: b.update(axes=3)),
        ERROR,
        match="'axes' must be a list",
    ),
    Case(
        "v3-axes-a-number",
        lambda d: _v3_image(d, _v3_ome(_v3_block(axes=3))),
        ERROR,
        match="'axes' must be a list",
    ),
    Case(
        "v2-duplicate-axis-names",
        _block(lambda b: b["axes"][1].update(name="x")),
        ERROR,
        match="axis names .* repeat",
    ),
    Case(
        "omero-window-not-numbers",
        _omero(lambda o: o["channels"][1].update(window={"start": "low", "end": None})),
        WARN,
        match="window",
    ),
    Case(
        "v2-axis-without-name", _block(lambda b: b["axes"][0].pop("name")), ERROR, match="no name"
    ),
    Case("v2-datasets-without-path", _block(_pop("path")), ERROR, match="dataset path None"),
    Case(
        "v3-datasets-without-path",
        lambda d: _v3_image(d, _v3_ome(_v3_block(datasets=[{}]))),
        ERROR,
        match="dataset path None",
    ),
    Case(
        "v2-datasets-a-dict",
        _block(lambda b: b.update(datasets={"path": "0"})),
        ERROR,
        match="lists no datasets",
    ),
    Case(
        "v2-scale-as-strings",
        _block(
            lambda b: b["datasets"][0]["coordinateTransformations"][0].update(
                scale=["a", "b", "c"]
            )
        ),
        ERROR,
        match="not numeric",
    ),
    Case(
        "v3-scale-as-strings",
        lambda d: _v3_image(
            d,
            _v3_ome(
                _v3_block(
                    datasets=[
                        {
                            "path": "0",
                            "coordinateTransformations": [
                                {"type": "scale", "scale": ["1", "x", "y"]}
                            ],
                        }
                    ]
                )
            ),
        ),
        ERROR,
        match="not numeric",
    ),
    Case(
        "v2-scale-nan",
        _block(
            lambda b: b["datasets"][0]["coordinateTransformations"][0].update(
                scale=[1.0, float("nan"), 1.0]
            )
        ),
        ERROR,
        match="finite positive",
    ),
    Case(
        "v2-scale-zero",
        _block(
            lambda b: b["datasets"][0]["coordinateTransformations"][0].update(
                scale=[1.0, 0.0, 1.0]
            )
        ),
        ERROR,
        match="finite positive",
    ),
    Case(
        "v2-transforms-a-dict",
        _block(lambda b: b["datasets"][0].update(coordinateTransformations={"type": "scale"})),
        ERROR,
        match="must be a list",
    ),
    Case("v2-labels-list-of-numbers", _labels_list([1, 2]), ERROR, match="label name 1"),
    Case("v2-labels-a-string", _labels_list("cells"), NONE),
    # the image still opens: only its broken labels are left out, with a warning naming the file
    Case(
        "v2-image-labels-a-string",
        _labels_list("cells", drop="image"),
        WARN,
        match=r"labels/\.zattrs: 'labels' must be a list of label names",
    ),
    Case(
        "v2-image-labels-of-numbers", _labels_list([1], drop="image"), WARN, match="label name 1"
    ),
    # ------------------------------------------------------------ structure
    Case("v2-empty-datasets", _block(lambda b: b.update(datasets=[])), ERROR, match="no datasets"),
    Case(
        "v3-empty-datasets",
        lambda d: _v3_image(d, _v3_ome(_v3_block(datasets=[]))),
        ERROR,
        match="no datasets",
    ),
    Case(
        "v2-wrong-length-axes",
        _block(lambda b: b["axes"].pop()),
        ERROR,
        match="names 2 axes but its arrays have 3",
    ),
    Case(
        "v3-wrong-length-axes",
        lambda d: _v3_image(d, _v3_ome(_v3_block(axes=[{"name": "x"}]))),
        ERROR,
        match="names 1 axes but its arrays have 3",
    ),
    Case(
        "v2-version-0.9",
        _block(lambda b: b.update(version="0.9")),
        ERROR,
        match="version '0.9' is not supported",
    ),
    Case(
        "v2-version-42",
        _block(lambda b: b.update(version=42)),
        ERROR,
        match="version '42' is not supported",
    ),
    Case(
        "v3-version-0.9",
        lambda d: _v3_image(d, {"ome": {"version": "0.9", "multiscales": _v3_block()}}),
        ERROR,
        match="version '0.9' is not supported",
    ),
    Case("missing-level-array", _missing_level, ERROR, match="holds no zarr array"),
    Case("levels-do-not-shrink", _same_shape_levels, ERROR, match="does not shrink"),
    Case("level-of-strings", _dtype_level("|S4"), ERROR, match="data type"),
    Case("level-with-empty-axis", _dtype_level("empty"), ERROR, match="empty"),
    Case("level-bad-dtype", _dtype_level("<x9"), ERROR, match="Could not open"),
    Case("level-is-a-group", _level_group, ERROR, match="holds no zarr array"),
    Case(
        "brieflow-table",
        lambda d: brieflow_table(d),
        MESSAGE,
        match="is a Brieflow feature table .* Open the matching phenotype store",
    ),
    # ------------------------------------------------------------ paths leaving the folder
    Case(
        "dataset-path-dotdot", _outside_dataset("dotdot"), ERROR, match="points outside the store"
    ),
    Case(
        "dataset-path-absolute", _outside_dataset("abs"), ERROR, match="points outside the store"
    ),
    Case(
        "labels-list-dotdot",
        _labels_list(["../../outside.zarr"]),
        ERROR,
        match="points outside the store",
    ),
    Case(
        "label-source-dotdot",
        _outside_label_source(lambda d: "../../../../outside.zarr"),
        WARN,
        match="source.image",
    ),
    Case(
        "label-source-absolute",
        _outside_label_source(lambda d: str(d.parent / "outside.zarr")),
        WARN,
        match="source.image",
    ),
    # ------------------------------------------------------------ chunks, links, depth, names
    Case("v2-corrupt-chunk", _corrupt_chunk("0.4"), ERROR, match="Could not read a chunk"),
    Case("v3-corrupt-chunk", _corrupt_chunk("0.5"), ERROR, match="Could not read a chunk"),
    Case("symlink-to-parent-inside-image", _symlink_parent, OPENS),
    Case("labels-x-links-to-labels", _symlink_label_loop, WARN, match="has no 'multiscales'"),
    Case("percell-symlink-loop", _percell_loop, WARN, match="already listed"),
    Case("percell-self-symlink", _percell_self_link, WARN, match="cannot be opened"),
    Case("deep-200-groups-dropped-at-bottom", _deep(True), OPENS),
    Case("deep-200-groups-in-percell", _deep_percell, ERROR, error=P_ERR, match="holds no images"),
    Case("name-with-spaces", _named("my image (1).ome.zarr"), OPENS),
    Case("name-unicode", _named("细胞 ünïcødé.zarr"), OPENS),
    Case("name-starts-with-dash", _named("-rf.zarr"), OPENS),
    Case("name-starts-with-dot", _named(".hidden.zarr"), OPENS),
    Case("name-very-long", _named("L" * 240 + ".zarr"), OPENS),
    # ------------------------------------------------------------ omero (cosmetic: warn)
    Case("omero-colour-not-hex", _omero(_set_color("zz00gg")), WARN, match="colour"),
    Case("omero-colour-a-number", _omero(_set_color(123)), WARN, match="colour"),
    Case("omero-colour-empty", _omero(_set_color("")), WARN, match="colour"),
    Case("omero-too-few-channels", _omero(lambda o: o["channels"].pop()), WARN, match="channels"),
    Case(
        "omero-too-many-channels",
        _omero(lambda o: o["channels"].append({"label": "x"})),
        WARN,
        match="channels",
    ),
    Case(
        "omero-start-above-end",
        _omero(lambda o: o["channels"][0]["window"].update(start=900, end=100)),
        WARN,
        match="window",
    ),
    Case(
        "omero-channels-a-dict",
        _omero(lambda o: o.update(channels={"label": "x"})),
        WARN,
        match="channels",
    ),
    Case("omero-a-list", _attrs(lambda a: a.update(omero=[1])), WARN, match="omero"),
    Case("label-colours-malformed", _v2_label_colours, WARN, match="label colour"),
    # ------------------------------------------------------------ huge declared shapes
    Case("v2-huge-1e12-pixels", _huge(2, (1024, 1024)), OPENS, max_seconds=3.0),
    Case("v2-huge-one-giant-chunk", _huge(2, (1_000_000, 1_000_000)), ERROR, match="GiB each"),
    Case("v2-huge-4k-chunks", _huge(2, (4096, 4096)), OPENS, max_seconds=3.0),
    Case("v2-zero-chunk-shape", _huge(2, (0, 1024)), ERROR, match="chunk"),
    Case("v3-huge-1e12-pixels", _huge(3, (1024, 1024)), OPENS, max_seconds=3.0),
    # ------------------------------------------------------------ .percell
    Case("percell-missing-db", _percell_no_db, WARN, match="experiment.db"),
    Case("percell-corrupt-db", _percell_corrupt_db, ERROR, error=P_ERR, match="experiment.db"),
    Case("percell-locked-db", _percell_locked, WARN, match="locked"),
    Case(
        "percell-fov-without-image",
        _percell_sql("INSERT INTO fovs VALUES (50, 'ghost', 1, 1, NULL, 16, 16, 0.3)"),
        WARN,
        match="no image folder fov_50",
    ),
    Case(
        "percell-pixel-size-text",
        _percell_sql("UPDATE fovs SET pixel_size_um = 'abc'"),
        WARN,
        match="pixel size 'abc'",
    ),
    Case("percell-channel-name-null", _percell_sql("UPDATE channels SET name = NULL"), OPENS),
    Case(
        "percell-fovs-column-missing",
        _percell_sql("ALTER TABLE fovs DROP COLUMN pixel_size_um"),
        ERROR,
        error=P_ERR,
        match="tables are not as expected",
    ),
    # ------------------------------------------------------------ HCS plates and wells
    Case("plate-valid-control", _plate(), OPENS),
    Case(
        "plate-well-path-dotdot",
        _plate(_well_entry(0, path="../../outside.zarr")),
        ERROR,
        match="well path '../../outside.zarr' points outside the store",
    ),
    Case(
        "plate-well-path-absolute",
        lambda d: _plate(_well_entry(0, path=str(d.parent / "outside.zarr")))(d),
        ERROR,
        match="points outside the store",
    ),
    Case(
        "plate-row-index-past-rows",
        _plate(_well_entry(1, rowIndex=5)),
        WARN,
        match="1 wells have no row and column in the plate's lists",
    ),
    Case(
        "plate-column-missing-from-columns",
        _plate(lambda p: p["columns"].pop()),
        WARN,
        match="no row and column in the plate's lists",
    ),
    Case(
        "plate-no-well-in-the-lists",
        _plate(lambda p: p.update(wells=[{"path": "Z/9", "rowIndex": 7, "columnIndex": 7}])),
        ERROR,
        match="no well of this plate holds a readable image",
    ),
    Case(
        "plate-rows-a-string",
        _plate(lambda p: p.update(rows="AB")),
        ERROR,
        match="'rows' must be a non-empty list",
    ),
    Case(
        "plate-wells-a-dict",
        _plate(lambda p: p.update(wells={"path": "A/1"})),
        ERROR,
        match="'wells' must be a non-empty list",
    ),
    Case(
        "plate-column-index-a-string",
        _plate(_well_entry(1, columnIndex="1")),
        WARN,
        match="columnIndex '1' is not an integer",
    ),
    Case(
        "plate-row-index-a-bool",
        _plate(_well_entry(1, rowIndex=True)),
        WARN,
        match="rowIndex True is not an integer",
    ),
    Case("plate-empty-object", _plate(lambda p: p.clear()), ERROR, match="'rows' must be"),
    Case(
        "plate-a-string",
        lambda d: _patch_attrs(_plate()(d), lambda a: a.update(plate="A1")),
        ERROR,
        match="'plate' must be an object",
    ),
    Case(
        "plate-wells-not-objects",
        _plate(lambda p: p.update(wells=["A/1", 7, None])),
        ERROR,
        match="no well of this plate holds a readable image",
    ),
    Case("plate-field-not-an-image", _plate_field_not_image, WARN, match="A2 .*no multiscales"),
    Case(
        "plate-a-million-wells",
        _big_plate(1_000_000, '{"path":"A/1","rowIndex":0,"columnIndex":0}'),
        ERROR,
        match="larger than 16 MB",
        max_seconds=3.0,
    ),
    Case(
        "plate-a-million-short-well-entries",
        _big_plate(1_000_000, "{}"),
        ERROR,
        match="declares 1,000,000 wells",
        max_seconds=3.0,
    ),
    Case(
        "plate-a-million-well-grid",
        _big_plate(1, '{"path":"A/1","rowIndex":0,"columnIndex":0}', grid=1000),
        ERROR,
        match="1,000,000 wells",
        max_seconds=3.0,
    ),
    Case(
        "well-images-dotdot",
        _well_dotdot,
        ERROR,
        match="field path '../../../../outside.zarr' points outside the store",
    ),
    Case(
        "well-one-field-dotdot",
        _well_one_field_dotdot,
        WARN,
        match="field path '../../../outside.zarr' points outside the store",
    ),
    Case(
        "percell-empty-images",
        lambda d: write_group(_mkdir(d / "e.percell") / "images.zarr").parent,
        ERROR,
        error=P_ERR,
        match="holds no images",
    ),
]

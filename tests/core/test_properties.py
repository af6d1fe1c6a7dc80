"""Property-based round trips: whatever ``write_image`` / ``write_labels`` write, the reader
gives back exactly (level-0 pixels, names, colours, windows, scale, translation, labels); and
whatever one JSON value of a valid store is replaced by, the reader never leaks a foreign error.

Each example writes into its own temporary folder and reads through the npe2 reader
(``get_reader(path)(path)``), so the layer data tuples napari would get are what is checked.
Shapes are kept small (c <= 4, t/z <= 6, y/x <= 64) so that the file runs in well under 40 s.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_omezarr_export import (
    ChannelStyle,
    LabelsSpec,
    OmeZarrError,
    PyramidOptions,
    StorageOptions,
    write_image,
    write_labels,
)
from napari_omezarr_export._napari._reader import get_reader
from napari_omezarr_export.core.read.omero import guess_color

SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
AXES = {2: "yx", 3: "cyx", 4: "czyx", 5: "tczyx"}
DTYPES = ("uint8", "uint16", "int16", "int32", "float32")
MAX_DIM = {"t": 6, "c": 4, "z": 6, "y": 64, "x": 64}
FLOAT_RANGE = 1e6

scales = st.floats(1e-3, 1e3, allow_nan=False, allow_infinity=False)
shifts = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)
hex_colors = st.integers(0, 0xFFFFFF).map(lambda v: f"{v:06x}")
names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12
)


def _range(dtype: str) -> tuple[float, float]:
    if dtype == "float32":
        return (-FLOAT_RANGE, FLOAT_RANGE)
    info = np.iinfo(dtype)
    return (float(info.min), float(info.max))


def _pixels(seed: int, shape: tuple[int, ...], dtype: str, edges: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low, high = _range(dtype)
    if dtype == "float32":
        data = rng.uniform(low, high, size=shape).astype("float32")
    else:
        data = rng.integers(int(low), int(high), size=shape, endpoint=True, dtype=dtype)
    if edges:  # the dtype's extremes must survive too
        flat = data.reshape(-1)
        flat[0], flat[-1] = np.array([low, high]).astype(dtype)
    return data


def max_levels(shape: tuple[int, ...]) -> int:
    """At most 3 levels, and no more than halving y and x down to one pixel allows."""
    return min(3, 1 + int(np.log2(max(shape[-2:]))))


@st.composite
def windows(draw, dtype: str) -> tuple[float | None, float | None]:
    if draw(st.booleans()):
        return (None, None)
    low, high = _range(dtype)
    if dtype == "float32":
        ends = st.floats(low, high, allow_nan=False, width=32)
    else:
        ends = st.integers(int(low), int(high)).map(float)
    a, b = draw(ends), draw(ends)
    return (min(a, b), max(a, b))


@st.composite
def images(draw) -> dict[str, Any]:
    axes = AXES[draw(st.integers(2, 5))]
    shape = tuple(draw(st.integers(2 if a in "yx" else 1, MAX_DIM[a])) for a in axes)
    dtype = draw(st.sampled_from(DTYPES))
    n = shape[axes.index("c")] if "c" in axes else 1
    channels = [
        ChannelStyle(draw(names), draw(hex_colors), *draw(windows(dtype)), draw(st.booleans()))
        for _ in range(n)
    ]
    chunks = tuple(
        draw(st.integers(max(1, s // 4) if a in "yx" else 1, s))
        for a, s in zip(axes, shape, strict=True)
    )
    return {
        "data": _pixels(draw(st.integers(0, 2**32 - 1)), shape, dtype, draw(st.booleans())),
        "axes": axes,
        "scale": [draw(scales) for _ in axes],
        "translation": [draw(shifts) for _ in axes],
        "channels": channels,
        "pyramid": PyramidOptions(levels=draw(st.integers(1, max_levels(shape)))),
        "storage": StorageOptions(
            ngff_version=draw(st.sampled_from(["0.4", "0.5"])), chunks=chunks
        ),
    }


def _rgb(colormap: Any) -> np.ndarray:
    """The colour a black-to-colour colormap reaches at its top (named or custom)."""
    from napari.utils.colormaps import ensure_colormap

    return np.asarray(ensure_colormap(colormap).map(np.array([1.0]))[0][:3])


def _expected_color(style: ChannelStyle, styles: list[ChannelStyle]) -> str:
    """The reader shows an all-white multi-channel list with colours guessed from the names."""
    all_white = len(styles) > 1 and all(s.color.lower() == "ffffff" for s in styles)
    return guess_color(style.label)[1:] if all_white else style.color


def _trusted(style: ChannelStyle, dtype: str) -> bool:
    """Windows the reader keeps as they are (others are recomputed from the data, by design)."""
    if style.start is None or style.end is None or style.start >= style.end:
        return False
    low, high = _range(dtype)
    return dtype in ("float32", "uint8", "int8") or not (style.start <= low and style.end >= high)


def _read(path: Path) -> list[tuple[Any, dict[str, Any], str]]:
    reader = get_reader(str(path))
    assert reader is not None, f"{path} was not recognised"
    return reader(str(path))


def _level0(data: Any) -> np.ndarray:
    return np.asarray(data[0] if isinstance(data, list) else data)


def _check_image(image: dict[str, Any], layers: list) -> None:
    axes, data, styles = image["axes"], image["data"], image["channels"]
    c = axes.find("c")
    keep = [i for i, a in enumerate(axes) if a != "c"]
    assert [kind for _, _, kind in layers] == ["image"] * len(styles)
    for i, ((layer_data, kwargs, _), style) in enumerate(zip(layers, styles, strict=True)):
        expected = data if c < 0 else np.take(data, i, axis=c)
        np.testing.assert_array_equal(_level0(layer_data), expected)
        assert _level0(layer_data).dtype == data.dtype
        assert kwargs["name"] == style.label
        assert kwargs["visible"] == style.active
        assert kwargs["scale"] == tuple(image["scale"][j] for j in keep)
        assert kwargs["translate"] == tuple(image["translation"][j] for j in keep)
        want = np.array([int(_expected_color(style, styles)[k : k + 2], 16) for k in (0, 2, 4)])
        np.testing.assert_allclose(_rgb(kwargs["colormap"]), want / 255, atol=1 / 255)
        low, high = kwargs["contrast_limits"]
        assert low < high
        if _trusted(style, str(data.dtype)):
            assert (low, high) == (style.start, style.end)


@SETTINGS
@given(image=images())
def test_image_round_trip(image):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "img.ome.zarr"
        write_image(image["data"], path, **{k: v for k, v in image.items() if k != "data"})
        _check_image(image, _read(path))


@st.composite
def label_images(draw) -> dict[str, Any]:
    y, x = draw(st.integers(2, 64)), draw(st.integers(2, 64))
    z = draw(st.one_of(st.none(), st.integers(1, 6)))
    shape = (y, x) if z is None else (z, y, x)
    n_pixels = int(np.prod(shape))
    ids = st.integers(1, 2**31 - 1) | st.sampled_from([1, 2, 255, 256, 65535, 65536, 2**31 - 1])
    values = draw(st.lists(ids, min_size=1, max_size=min(6, n_pixels - 1), unique=True))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    labels = np.zeros(n_pixels, dtype="int32")
    spots = rng.choice(n_pixels, size=n_pixels // 2 + len(values), replace=True)
    labels[spots] = rng.choice(values, size=spots.size)
    labels[: len(values)] = values  # every value present, with gaps between ids
    rgba = st.tuples(*[st.integers(0, 255)] * 4)
    colors = {v: draw(rgba) for v in values} if draw(st.booleans()) else None
    return {
        "labels": labels.reshape(shape),
        "axes": "yx" if z is None else "zyx",
        "colors": colors,
        "scale": [draw(scales) for _ in shape],
        "translation": [draw(shifts) for _ in shape],
        "version": draw(st.sampled_from(["0.4", "0.5"])),
        "levels": draw(st.integers(1, max_levels(shape))),
        "into_image": draw(st.booleans()),
    }


@SETTINGS
@given(case=label_images())
def test_labels_round_trip(case):
    labels, axes = case["labels"], case["axes"]
    storage = StorageOptions(ngff_version=case["version"])
    pyramid = PyramidOptions(levels=case["levels"])
    spec = LabelsSpec(labels, "cells", colors=case["colors"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "img.ome.zarr"
        if case["into_image"]:  # labels under an image, through write_image
            image = np.zeros(labels.shape, dtype="uint8")
            write_image(
                image,
                path,
                axes=axes,
                scale=case["scale"],
                translation=case["translation"],
                labels=[spec],
                pyramid=pyramid,
                storage=storage,
            )
        else:  # a standalone labels store, through write_labels
            path = Path(tmp) / "cells.zarr"
            write_labels(
                spec,
                path,
                scale=case["scale"],
                translation=case["translation"],
                pyramid=pyramid,
                storage=storage,
            )
        found = [layer for layer in _read(path) if layer[2] == "labels"]
        assert len(found) == 1, [layer[1]["name"] for layer in _read(path)]
        data, kwargs, _ = found[0]
        level0 = _level0(data)
        np.testing.assert_array_equal(level0, labels)
        assert kwargs["name"] == "cells"
        assert kwargs["scale"] == tuple(case["scale"])
        assert kwargs["translate"] == tuple(case["translation"])
        if case["colors"] is not None:
            color_dict = kwargs["colormap"].color_dict
            for value, rgba in case["colors"].items():
                np.testing.assert_allclose(color_dict[value], np.array(rgba) / 255, atol=1 / 255)


# ---------------------------------------------------------------- mutated metadata

json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 2**40),
    st.floats(),
    st.text(max_size=4),
    st.sampled_from(["0", "..", "/", "../..", "c", "x", "scale", "0.4", "#ff0000"]),
)
json_values = st.recursive(
    json_leaves,
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids, max_size=3)
    ),
    max_leaves=6,
)
METADATA = {
    "0.4": [".zattrs", "labels/.zattrs", "labels/cells/.zattrs", "0/.zarray", "1/.zarray"],
    "0.5": ["zarr.json", "labels/zarr.json", "labels/cells/zarr.json", "0/zarr.json"],
}


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> dict[str, Path]:
    """One valid image with channels, windows, two levels and coloured labels per version."""
    out = {}
    data = np.arange(2 * 16 * 16, dtype="uint16").reshape(2, 16, 16)
    labels = np.zeros((16, 16), "int32")
    labels[2:5, 2:5] = 3
    for version in METADATA:
        path = tmp_path_factory.mktemp(f"v{version}") / "img.zarr"
        channels = [ChannelStyle("a", "FF0000", 0, 100), ChannelStyle("b", "00FF00")]
        spec = LabelsSpec(
            labels, "cells", colors={3: (1, 2, 3, 255)}, properties=[{"label-value": 3, "area": 9}]
        )
        write_image(
            data,
            path,
            axes="cyx",
            scale=[1, 0.5, 0.5],
            channels=channels,
            labels=[spec],
            pyramid=PyramidOptions(levels=2),
            storage=StorageOptions(ngff_version=version, chunks=(1, 8, 8)),
        )
        out[version] = path
    return out


def _json_paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    )
    for key, value in items:
        found.extend(_json_paths(value, (*prefix, key)))
    return found


def _mutate(data, path: Path, version: str) -> None:
    """Replace (or delete) one value anywhere in one metadata file of the store."""
    name = data.draw(st.sampled_from(METADATA[version]), label="file")
    doc = json.loads((path / name).read_text())
    where = data.draw(st.sampled_from(_json_paths(doc)), label="where")
    value = data.draw(json_values, label="value")
    if not where:
        doc = value
    else:
        parent = doc
        for key in where[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and data.draw(st.booleans(), label="delete"):
            del parent[where[-1]]
        else:
            parent[where[-1]] = value
    (path / name).write_text(json.dumps(doc))


@SETTINGS
@given(data=st.data())
def test_mutated_metadata_gives_layers_or_our_error(templates, data):
    version = data.draw(st.sampled_from(sorted(templates)), label="version")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "img.zarr"
        shutil.copytree(templates[version], path)
        for _ in range(data.draw(st.integers(1, 2), label="mutations")):
            _mutate(data, path, version)
        reader = get_reader(str(path))  # must never raise
        if reader is None:
            return
        try:
            for layer_data, _, _ in reader(str(path)):
                levels = layer_data if isinstance(layer_data, list) else [layer_data]
                for level in (levels[0], levels[-1]):
                    np.asarray(level[(0,) * (level.ndim - 2) + (slice(0, 2), slice(0, 2))])
        except OmeZarrError as exc:
            assert isinstance(exc, ValueError | OSError)
            assert "img.zarr" in str(exc)

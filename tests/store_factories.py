"""Build small stores on disk for the reader tests, from the specs and the field notes.

Hand-made NGFF 0.1/0.2/0.3/0.4 stores, PerCell experiments in both shapes (design layout and
the id-based PerCell 3 layout with its SQLite database), and Brieflow exports with their quirks.
Every factory writes into a folder given by the test (``tmp_path``) and returns the store path.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import zarr

from napari_omezarr_export import ChannelStyle, write_brieflow_image


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1))


def write_group(path: Path, attrs: dict[str, Any] | None = None) -> Path:
    """A zarr v2 group with hand-written attributes."""
    write_json(path / ".zgroup", {"zarr_format": 2})
    if attrs is not None:
        write_json(path / ".zattrs", attrs)
    return path


def write_array(
    path: Path, data: np.ndarray, chunks: tuple[int, ...] | None = None, compressor: Any = "lz4"
) -> Path:
    """A zarr v2 array (Blosc lz4 by default, Zstd, or None for ``compressor: null``)."""
    codec = {
        "lz4": numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.BITSHUFFLE),
        "zstd": numcodecs.Zstd(level=3),
        None: None,
    }[compressor]
    arr = zarr.create_array(
        store=str(path),
        shape=data.shape,
        dtype=data.dtype,
        chunks=chunks or data.shape,
        zarr_format=2,
        compressors=codec,
        overwrite=True,
    )
    arr[...] = data
    return path


def pyramid(data: np.ndarray, levels: int, spatial: int = 2) -> list[np.ndarray]:
    """Nearest-neighbour pyramid over the last ``spatial`` axes."""
    out = [data]
    for _ in range(levels - 1):
        index = (Ellipsis, *(slice(None, None, 2),) * spatial)
        out.append(out[-1][index])
    return out


def cells_image(rng, c: int = 2, y: int = 64, x: int = 64, high: int = 4096, dtype="uint16"):
    """Noise with bright blobs, 12-bit by default."""
    data = rng.integers(50, 200, size=(c, y, x)).astype(dtype)
    data[:, y // 4 : y // 2, x // 4 : x // 2] = high - 1
    return data


def cells_labels(y: int = 64, x: int = 64) -> np.ndarray:
    labels = np.zeros((y, x), dtype="int32")
    labels[y // 4 : y // 2, x // 4 : x // 2] = 1
    labels[y // 2 + 4 : y - 4, x // 2 + 4 : x - 4] = 3
    return labels


def omero_channels(names, colors, windows=None, active=None) -> dict[str, Any]:
    channels = []
    for i, (name, color) in enumerate(zip(names, colors, strict=True)):
        ch: dict[str, Any] = {"label": name, "color": color, "active": True}
        if windows is not None and windows[i] is not None:
            ch["window"] = {"start": windows[i][0], "end": windows[i][1], "min": 0, "max": 65535}
        if active is not None:
            ch["active"] = active[i]
        channels.append(ch)
    return {"channels": channels, "rdefs": {"model": "color"}}


def write_image(
    path: Path,
    data: np.ndarray,
    *,
    levels: int = 2,
    axes: list[Any] | None = None,
    version: str = "0.4",
    scale: list[float] | None = None,
    translation: list[float] | None = None,
    omero: dict[str, Any] | None = None,
    level_paths: list[str] | None = None,
    per_level_scale: bool = True,
    extra_attrs: dict[str, Any] | None = None,
    compressor: Any = "lz4",
    image_label: dict[str, Any] | None = None,
) -> Path:
    """A hand-made NGFF image (0.1-0.4, zarr v2): levels, transforms, omero."""
    arrays = pyramid(data, levels)
    paths = level_paths or [str(i) for i in range(levels)]
    datasets = []
    for i, (arr, p) in enumerate(zip(arrays, paths, strict=True)):
        write_array(path / p, arr, compressor=compressor)
        entry: dict[str, Any] = {"path": p}
        if version == "0.4" and scale is not None:
            factor = [1.0] * (data.ndim - 2) + [2.0**i if per_level_scale else 1.0] * 2
            values = [s * f for s, f in zip(scale, factor, strict=True)]
            transforms = [{"type": "scale", "scale": values}]
            if translation is not None:
                transforms.append({"type": "translation", "translation": translation})
            entry["coordinateTransformations"] = transforms
        datasets.append(entry)
    block: dict[str, Any] = {"version": version, "name": path.stem, "datasets": datasets}
    if axes is not None:
        block["axes"] = axes
    attrs: dict[str, Any] = {"multiscales": [block]}
    if omero is not None:
        attrs["omero"] = omero
    if image_label is not None:
        attrs["image-label"] = image_label
    attrs.update(extra_attrs or {})
    write_group(path, attrs)
    return path


def yx_axes(*names: str, unit: str | None = "micrometer") -> list[dict[str, Any]]:
    types = {"t": "time", "c": "channel"}
    axes = []
    for n in names:
        axis = {"name": n, "type": types.get(n, "space")}
        if unit and axis["type"] == "space":
            axis["unit"] = unit
        axes.append(axis)
    return axes


def write_labels(image: Path, labels: dict[str, np.ndarray], *, levels=2, **kwargs) -> None:
    """A ``labels/`` group with one label image per entry (NGFF 0.4 image-label)."""
    write_group(image / "labels", {"labels": list(labels)})
    for name, data in labels.items():
        il = kwargs.pop("image_label", None) or {"version": "0.4"}
        write_image(image / "labels" / name, data, levels=levels, image_label=il, **kwargs)


def legacy_store(tmp_path: Path, version: str, rng, *, labels: bool = True) -> Path:
    """NGFF 0.1/0.2 (5-D tczyx, no axes) or 0.3 (string axes c, y, x) with omero and labels."""
    path = tmp_path / f"legacy_{version}.zarr"
    data = cells_image(rng, c=2, y=64, x=64)
    omero = omero_channels(["DAPI", "GFP"], ["0000FF", "00FF00"], [(0, 3000), (100, 2000)])
    if version in ("0.1", "0.2"):
        data = data[None, :, None]  # t, c, z, y, x
        write_image(path, data, version=version, omero=omero)
        lab = cells_labels()[None, None, None]
    else:
        write_image(path, data, version=version, axes=["c", "y", "x"], omero=omero)
        lab = cells_labels()
    if labels:
        colors = [{"label-value": 1, "rgba": [255, 0, 0, 255]}]
        props = [{"label-value": 1, "area": 256}, {"label-value": 3, "area": 400}]
        il = {"version": version, "colors": colors, "properties": props}
        axes = None if version in ("0.1", "0.2") else ["y", "x"]
        write_labels(path, {"cells": lab}, version=version, axes=axes, image_label=il)
    return path


# ---------------------------------------------------------------- PerCell (design layout)


def percell_names(
    tmp_path: Path, rng, *, n_regions: int = 2, timepoints: bool = False, size: int = 48
) -> Path:
    """The design-document layout: name-based groups, 0-65535 windows on 12-bit data."""
    root = tmp_path / "design.percell"
    write_group(root / "images.zarr", {"percell_version": "3.0.0"})
    write_group(root / "labels.zarr")
    write_group(root / "masks.zarr")
    sqlite3.connect(root / "experiment.db").close()
    names, colors = ["DAPI", "GFP", "RFP"], ["0000FF", "00FF00", "FF0000"]
    omero = omero_channels(names, colors, [(0, 65535)] * 3)
    for i in range(n_regions):
        cond = f"condition_{i % 2 + 1}"
        rel = (cond, "timepoint_1", f"region_{i + 1}") if timepoints else (cond, f"region_{i + 1}")
        write_group(root / "images.zarr" / cond)
        img = root.joinpath("images.zarr", *rel)
        write_image(img, cells_image(rng, 3, size, size), levels=1, axes=yx_axes("c", "y", "x"),
                    scale=[1.0, 0.65, 0.65], omero=omero)  # fmt: skip
        lab = root.joinpath("labels.zarr", *rel)
        write_image(lab, cells_labels(size, size), levels=1, axes=yx_axes("y", "x"),
                    scale=[0.65, 0.65], image_label={"version": "0.4"})  # fmt: skip
        mask = (cells_image(rng, 1, size, size)[0] > 1000).astype("uint8") * 255
        thr = root.joinpath("masks.zarr", *rel, "threshold_GFP")
        write_group(thr, {})
        write_array(thr / "0", mask, compressor="zstd")
    return root


# ---------------------------------------------------------------- PerCell 3 (id-based)

_SCHEMA = """
CREATE TABLE experiments(id INTEGER PRIMARY KEY, name TEXT, percell_version TEXT);
CREATE TABLE conditions(id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE bio_reps(id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE timepoints(id INTEGER PRIMARY KEY, name TEXT, time_seconds REAL, display_order INT);
CREATE TABLE fovs(id INTEGER PRIMARY KEY, display_name TEXT, condition_id INT, bio_rep_id INT,
                  timepoint_id INT NULL, width INT, height INT, pixel_size_um REAL);
CREATE TABLE channels(id INTEGER PRIMARY KEY, name TEXT, color TEXT NULL, display_order INT);
CREATE TABLE segmentations(id INTEGER PRIMARY KEY, name TEXT, seg_type TEXT);
CREATE TABLE thresholds(id INTEGER PRIMARY KEY, name TEXT, source_channel TEXT);
CREATE TABLE analysis_config(id INTEGER PRIMARY KEY, created TEXT);
CREATE TABLE fov_config(config_id INT, fov_id INT, segmentation_id INT, threshold_id INT NULL);
"""


def percell_ids(
    tmp_path: Path, rng, *, n_fovs: int = 2, size: int = 48, keep_open: list | None = None
) -> Path:
    """What PerCell 3 writes today: fov_/seg_/thresh_ groups, names only in SQLite (WAL).

    Pass a list as ``keep_open`` to get the writer connection back still open (WAL pending).
    """
    root = tmp_path / "pc3.percell"
    for store in ("images.zarr", "labels.zarr", "masks.zarr"):
        write_group(root / store, {"percell_version": "3.2.0"})
    conn = sqlite3.connect(root / "experiment.db")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(_SCHEMA)
    conn.execute("INSERT INTO experiments VALUES (1, 'exp', '4.0.0')")
    conn.executemany("INSERT INTO conditions VALUES (?, ?)", [(1, "control"), (2, "drug")])
    conn.execute("INSERT INTO bio_reps VALUES (1, 'N1')")
    conn.executemany(
        "INSERT INTO channels VALUES (?, ?, ?, ?)",
        [(1, "GFP", None, 1), (2, "DAPI", None, 0), (3, "Cy5", "#FF00FF", 2)],
    )
    conn.executemany(
        "INSERT INTO segmentations VALUES (?, ?, ?)",
        [(1, "whole_field_48x48", "whole_field"), (2, "cellpose_cyto", "cellular")],
    )
    conn.execute("INSERT INTO thresholds VALUES (1, 'GFP otsu', 'GFP')")
    conn.executemany("INSERT INTO analysis_config VALUES (?, ?)", [(1, "old"), (2, "new")])
    omero = omero_channels(["DAPI", "GFP", "Cy5"], ["FFFFFF"] * 3, [(0, 65535)] * 3)
    ones = np.ones((size, size), dtype="int32")
    write_image(root / "labels.zarr" / "seg_1", ones, levels=1, axes=yx_axes("y", "x", unit=None),
                scale=[1.0, 1.0], image_label={"version": "0.4"})  # fmt: skip
    write_image(root / "labels.zarr" / "seg_2", cells_labels(size, size), levels=1,
                axes=yx_axes("y", "x", unit=None), scale=[1.0, 1.0],
                image_label={"version": "0.4"})  # fmt: skip
    mask = (cells_labels(size, size) > 0).astype("uint8") * 255
    write_group(root / "masks.zarr" / "thresh_1")
    write_group(root / "masks.zarr" / "thresh_1" / "mask")
    write_array(root / "masks.zarr" / "thresh_1" / "mask" / "0", mask, compressor="zstd")
    write_group(root / "masks.zarr" / "thresh_1" / "particles")
    write_array(root / "masks.zarr" / "thresh_1" / "particles" / "0", cells_labels(size, size))
    for fov in range(1, n_fovs + 1):
        conn.execute(
            "INSERT INTO fovs VALUES (?, ?, ?, 1, NULL, ?, ?, 0.325)",
            (fov, f"FOV {fov:03d}", fov % 2 + 1, size, size),
        )
        conn.execute("INSERT INTO fov_config VALUES (1, ?, 1, NULL)", (fov,))  # old config
        conn.execute("INSERT INTO fov_config VALUES (2, ?, 1, NULL)", (fov,))
        conn.execute("INSERT INTO fov_config VALUES (2, ?, 2, 1)", (fov,))
        write_image(root / "images.zarr" / f"fov_{fov}", cells_image(rng, 3, size, size),
                    levels=1, axes=yx_axes("c", "y", "x"), scale=[1.0, 0.325, 0.325],
                    omero=omero)  # fmt: skip
    conn.commit()
    if keep_open is None:
        conn.close()
    else:  # PerCell still has the experiment open: -wal and -shm files exist
        keep_open.append(conn)
    return root


# ---------------------------------------------------------------- PerCell 3, as it writes today

# PerCell 3's own schema (percell3/core/schema.py, experiments.percell_version 4.0.0), reduced to
# the tables and columns a reader meets; column names, types and NULLs are PerCell's.
_SCHEMA_4 = """
CREATE TABLE experiments(id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '', percell_version TEXT NOT NULL DEFAULT '4.0.0');
CREATE TABLE channels(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT,
    color TEXT, is_segmentation INTEGER NOT NULL DEFAULT 0,
    display_order INTEGER NOT NULL DEFAULT 0);
CREATE TABLE conditions(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE timepoints(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, time_seconds REAL,
    display_order INTEGER NOT NULL DEFAULT 0);
CREATE TABLE bio_reps(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE fovs(id INTEGER PRIMARY KEY, display_name TEXT NOT NULL UNIQUE,
    condition_id INTEGER NOT NULL, bio_rep_id INTEGER NOT NULL, timepoint_id INTEGER,
    width INTEGER, height INTEGER, pixel_size_um REAL, source_file TEXT);
CREATE TABLE segmentations(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,
    seg_type TEXT NOT NULL DEFAULT 'cellular', source_fov_id INTEGER, source_channel TEXT,
    model_name TEXT NOT NULL DEFAULT '', parameters TEXT, width INTEGER NOT NULL,
    height INTEGER NOT NULL, cell_count INTEGER DEFAULT 0);
CREATE TABLE thresholds(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,
    source_fov_id INTEGER, source_channel TEXT, grouping_channel TEXT,
    method TEXT NOT NULL DEFAULT '', parameters TEXT, threshold_value REAL,
    width INTEGER NOT NULL, height INTEGER NOT NULL);
CREATE TABLE analysis_config(id INTEGER PRIMARY KEY AUTOINCREMENT,
    experiment_id INTEGER NOT NULL);
CREATE TABLE fov_config(id INTEGER PRIMARY KEY AUTOINCREMENT, config_id INTEGER NOT NULL,
    fov_id INTEGER NOT NULL, segmentation_id INTEGER NOT NULL, threshold_id INTEGER,
    scopes TEXT NOT NULL DEFAULT '["whole_cell"]');
CREATE INDEX idx_thresholds_source_fov ON thresholds(source_fov_id);
CREATE INDEX idx_fov_config_fov ON fov_config(fov_id);
"""

PERCELL3_GROUPS = ("g1", "g2")


def percell3_threshold_name(group: str, fov_number: int) -> str:
    """PerCell 3's automatic threshold name: ``thresh_{grouping}_{channel}_{n}``.

    ``n`` counts the thresholds of that group and channel, so the n-th field's run gets ``n``.
    """
    return f"thresh_group_GFP_mean_intensity_{group}_GFP_{fov_number}"


def _pc3_2d_attrs(label: bool) -> dict[str, Any]:
    """PerCell 3's 2-D label/mask metadata: scale [1, 1] whatever the pixel size."""
    axes = yx_axes("y", "x")
    datasets = [{"path": "0", "coordinateTransformations": [{"type": "scale",
                                                             "scale": [1.0, 1.0]}]}]  # fmt: skip
    attrs: dict[str, Any] = {"multiscales": [{"version": "0.4", "axes": axes,
                                              "datasets": datasets}]}  # fmt: skip
    if label:
        attrs["image-label"] = {"version": "0.4"}
    return attrs


def _pc3_image_attrs(name: str, channels: list[str], pixel_size: float) -> dict[str, Any]:
    scale = [1.0, pixel_size, pixel_size]
    block = {"version": "0.4", "name": name, "axes": yx_axes("c", "y", "x"),
             "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale",
                                                                       "scale": scale}]}],
             "coordinateTransformations": [{"type": "identity"}]}  # fmt: skip
    omero = [{"label": c, "color": "FFFFFF", "active": True,
              "window": {"start": 0, "end": 65535}} for c in channels]  # fmt: skip
    return {"multiscales": [block], "omero": {"channels": omero}}


def percell3_masks(labels: np.ndarray, fov_number: int) -> dict[str, np.ndarray]:
    """Each group's 0/255 mask of one field: its own cells, a field-specific stripe off."""
    masks = {}
    for k, group in enumerate(PERCELL3_GROUPS):
        mask = np.isin(labels, [1, 3][k::2]).astype("uint8") * 255
        mask[(fov_number + 7 * k) % labels.shape[0]] = 0
        masks[group] = mask
    return masks


def percell3_experiment(
    tmp_path: Path,
    rng,
    *,
    n_fovs: int = 6,
    size: int = 64,
    particles: bool = True,
    keep_open: list | None = None,
) -> Path:
    """A PerCell 3 experiment as PerCell 3 writes it, after grouped thresholding.

    Per the field notes (``percell-as-written.md``) and PerCell 3's code: ``fov_<id>`` images
    (chunks (1, 512, 512), Blosc lz4), one ``whole_field`` segmentation shared by every field
    plus a cellular one per field (``cyto3_DAPI_<n>``), and for each field one threshold per
    group with a field-specific name (``thresh_group_GFP_mean_intensity_g1_GFP_<n>``),
    ``thresholds.source_fov_id`` and ``grouping_channel`` set, its mask at
    ``thresh_<id>/mask/0`` (0/255, Zstd) and particle labels at ``thresh_<id>/particles/0``.
    ``fov_config`` of the newest ``analysis_config`` links each field to its cellular
    segmentation and thresholds; an older configuration links the whole-field one only.
    """
    root = tmp_path / f"pc3_{n_fovs}.percell"
    for store in ("images.zarr", "labels.zarr", "masks.zarr"):
        write_group(root / store, {"percell_version": "3.2.0"})
    conn = sqlite3.connect(root / "experiment.db")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(_SCHEMA_4)
    conn.execute("INSERT INTO experiments(id, name) VALUES (1, 'grouped')")
    conn.executemany("INSERT INTO conditions VALUES (?, ?)", [(1, "control"), (2, "treated")])
    conn.execute("INSERT INTO bio_reps VALUES (1, 'N1')")
    channels = [(1, "DAPI", "nuclear", "#0000FF", 1, 0), (2, "GFP", None, None, 0, 1)]
    conn.executemany("INSERT INTO channels VALUES (?, ?, ?, ?, ?, ?)", channels)
    conn.executemany("INSERT INTO analysis_config VALUES (?, 1)", [(1,), (2,)])
    conn.execute("INSERT INTO segmentations(id, name, seg_type, source_fov_id, width, height) "
                 "VALUES (1, 'whole_field_1', 'whole_field', 1, ?, ?)", (size, size))  # fmt: skip
    _pc3_labels(root / "labels.zarr" / "seg_1", np.ones((size, size), "int32"))
    for n in range(1, n_fovs + 1):
        _pc3_fov(conn, root, rng, n, size, particles)
    conn.commit()
    if keep_open is None:
        conn.close()
    else:
        keep_open.append(conn)
    return root


def _pc3_labels(path: Path, labels: np.ndarray) -> None:
    write_group(path, _pc3_2d_attrs(label=True))
    write_array(path / "0", labels, chunks=(512, 512))


def _pc3_fov(conn, root: Path, rng, n: int, size: int, particles: bool) -> None:
    """One field: image, cellular segmentation, one threshold per group, config rows."""
    conn.execute("INSERT INTO fovs VALUES (?, ?, ?, 1, NULL, ?, ?, 0.325, ?)",
                 (n, f"FOV_{n:03d}", n % 2 + 1, size, size, f"fov{n}.tif"))  # fmt: skip
    image = cells_image(rng, 2, size, size)
    write_group(root / "images.zarr" / f"fov_{n}",
                _pc3_image_attrs(f"fov_{n}", ["DAPI", "GFP"], 0.325))  # fmt: skip
    write_array(root / "images.zarr" / f"fov_{n}" / "0", image, chunks=(1, 512, 512))
    labels = np.roll(cells_labels(size, size), n % 8, axis=1)  # every field a little different
    seg_id = n + 1
    conn.execute("INSERT INTO segmentations VALUES (?, ?, 'cellular', ?, 'DAPI', 'cyto3', NULL, "
                 "?, ?, 2)", (seg_id, f"cyto3_DAPI_{n}", n, size, size))  # fmt: skip
    _pc3_labels(root / "labels.zarr" / f"seg_{seg_id}", labels)
    conn.execute("INSERT INTO fov_config(config_id, fov_id, segmentation_id) VALUES (1, ?, 1)",
                 (n,))  # fmt: skip
    conn.execute("INSERT INTO fov_config(config_id, fov_id, segmentation_id) VALUES (2, ?, ?)",
                 (n, seg_id))  # fmt: skip
    for k, (group, mask) in enumerate(percell3_masks(labels, n).items()):
        thr_id = 2 * (n - 1) + k + 1
        conn.execute(
            "INSERT INTO thresholds VALUES (?, ?, ?, 'GFP', ?, 'otsu', NULL, 900.0, ?, ?)",
            (thr_id, percell3_threshold_name(group, n), n,
             f"group:GFP:mean_intensity:{group}", size, size),
        )  # fmt: skip
        conn.execute("INSERT INTO fov_config(config_id, fov_id, segmentation_id, threshold_id, "
                     "scopes) VALUES (2, ?, ?, ?, '[\"whole_cell\", \"mask_inside\"]')",
                     (n, seg_id, thr_id))  # fmt: skip
        group_dir = write_group(root / "masks.zarr" / f"thresh_{thr_id}")
        write_group(group_dir / "mask", _pc3_2d_attrs(label=False))
        write_array(group_dir / "mask" / "0", mask, chunks=(512, 512), compressor="zstd")
        if particles:
            write_group(group_dir / "particles")  # no attributes, as PerCell writes them
            write_array(group_dir / "particles" / "0", labels * (mask > 0), chunks=(512, 512))


# ---------------------------------------------------------------- Brieflow


def brieflow_phenotype(tmp_path: Path, rng, *, quirk: str = "none") -> Path:
    """A per-image phenotype export with labels/nuclei and labels/cells, plus one quirk."""
    folder = tmp_path / "phenotype" / "omezarr"
    path = folder / "P-1_W-A1_T-0__phenotype.zarr"
    data = cells_image(rng, 3, 64, 64)
    names = ["DAPI", "COXIV", "CENPA"]
    omero: dict[str, Any] | None = omero_channels(names, ["FFFFFF"] * 3)  # no windows
    kwargs: dict[str, Any] = {"scale": [1.0, 1.0, 1.0], "per_level_scale": False}
    if quirk == "no_omero":
        omero = {"pixel_size": {"x": 0.5, "y": 0.5}}
    elif quirk == "short_channels":
        omero = omero_channels(names[:2], ["FFFFFF"] * 2)
    elif quirk == "scale0":
        kwargs.update(level_paths=["scale0", "scale1"], compressor=None)
    write_image(path, data, levels=2, axes=[{"name": n, "type": t} for n, t in
                (("c", "channel"), ("y", "space"), ("x", "space"))], omero=omero,
                **kwargs)  # fmt: skip
    if quirk == "scale0":  # extra 'shape' keys in datasets
        attrs = json.loads((path / ".zattrs").read_text())
        for d in attrs["multiscales"][0]["datasets"]:
            d["shape"] = [3, 64, 64]
        write_json(path / ".zattrs", attrs)
    nuclei = cells_labels()
    cells = np.where(nuclei > 0, nuclei, 0)
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    write_labels(path, {"nuclei": nuclei, "cells": cells}, levels=3, axes=axes,
                 scale=[1.0, 1.0], per_level_scale=False)  # fmt: skip
    return path


def brieflow_sbs(tmp_path: Path, rng) -> Path:
    """An SBS export: (t=cycle, c, y, x) with cycle-prefixed channel names."""
    path = tmp_path / "sbs" / "omezarr" / "P-1_W-A1_T-0__sbs_aligned.zarr"
    data = np.stack([cells_image(rng, 5, 32, 32) for _ in range(3)])
    names = ["C1-DAPI", "C1-G", "C1-T", "C1-A", "C1-C"]
    axes = [{"name": "t", "type": "time"}, {"name": "c", "type": "channel"}]
    axes += [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    write_image(path, data, levels=2, axes=axes, scale=[1.0, 1.0, 1.0, 1.0],
                per_level_scale=False, omero=omero_channels(names, ["FFFFFF"] * 5))  # fmt: skip
    return path


def brieflow_table(tmp_path: Path) -> Path:
    """A merge table: one 1-D array per column plus columns/index_name/num_rows attributes."""
    path = tmp_path / "merge" / "zarr" / "P-1_W-A1__merge_table.zarr"
    columns = {"plate": np.array([1, 1]), "cell_0": np.array([1, 3]), "i_0": np.array([5.0, 9.0])}
    write_group(path, {"columns": list(columns), "index_name": None, "num_rows": 2})
    for name, values in columns.items():
        write_array(path / name, values)
    return path


# -- Brieflow run folders ----------------------------------------------------------


def _merge_table(path, columns):
    """A Brieflow table: ``columns`` in the attributes and one 1-D array per column."""
    group = zarr.open_group(path, mode="w", zarr_format=2)
    n = len(next(iter(columns.values())))
    group.attrs.update({"columns": list(columns), "index_name": "index", "num_rows": n})
    for name, values in columns.items():
        if isinstance(values[0], str):  # variable-length UTF-8, as Brieflow writes text
            array = group.create_array(name, shape=(n,), dtype=str, chunks=(n,))
            array[:] = np.array(values, dtype=object)
        else:
            group.create_array(name, data=np.asarray(values), chunks=(n,))


def make_brieflow_run(tmp_path, rng):
    """A Brieflow run folder: a phenotype store for A1/0 and a merge table with gaps."""
    cells = np.zeros((64, 64), np.int32)
    for i, cell in enumerate([3, 5, 9]):  # id 7 is in the table but not the image; 9 not in it
        cells[5 + 18 * i : 20 + 18 * i, 10:50] = cell
    image = rng.poisson(200, (2, 64, 64)).astype(np.uint16)
    styles = [ChannelStyle("DAPI"), ChannelStyle("COXIV")]
    write_brieflow_image(image, tmp_path, step="phenotype", well="A1", tile=0, channels=styles,
                         nuclei=cells, cells=cells)  # fmt: skip
    (tmp_path / "merge" / "zarr").mkdir(parents=True)
    _merge_table(tmp_path / "merge" / "zarr" / "A1__merge_table.zarr", {
        "well": ["A1", "A1", "A1", "A1", "A1"],
        "tile": [0, 0, 0, 1, 0],
        "cell_0": [3, 5, 7, 3, 5],
        "gene_symbol": ["ACTB", "None", "TP53", "OTHER", "DUP"],
        "barcode": ["ACGT", "<NA>", "nan", "GGGG", "TTTT"],
        "area": [120.0, np.nan, 98.5, 1.0, 2.0],
    })  # fmt: skip
    return tmp_path / "phenotype" / "omezarr" / "A1_0__phenotype.zarr"


def bioformats2raw_store(tmp_path: Path, rng, *, listed: bool, layout: int = 3) -> Path:
    """A bioformats2raw converter output: two series (a 2-channel image with labels, and a
    small single-channel one), listed in ``OME/`` or only numbered."""
    root = write_group(tmp_path / "converted.zarr", {"bioformats2raw.layout": layout})
    omero = omero_channels(["DAPI", "GFP"], ["0000FF", "00FF00"])
    first = write_image(root / "0", cells_image(rng, c=2), axes=yx_axes("c", "y", "x"),
                        scale=[1, 0.5, 0.5], omero=omero)  # fmt: skip
    write_labels(first, {"cells": cells_labels()})
    write_image(root / "1", cells_image(rng, c=1, y=32, x=48)[0], axes=yx_axes("y", "x"),
                scale=[2, 2])  # fmt: skip
    write_group(root / "OME", {"series": ["0", "1"]} if listed else {})
    return root


def _plate_formats() -> dict:
    from ome_zarr.format import FormatV04, FormatV05

    return {"0.4": FormatV04, "0.5": FormatV05}


def make_plate(path, version="0.4", *, rows="AB", columns=("1", "2", "3"), fields=2,
               missing=(), sizes=None, size=(48, 40), levels=2):  # fmt: skip
    """A plate of (2, y, x) uint16 fields; field i of well (r, c) holds 1000 * (i + 1) + ..."""
    from ome_zarr.writer import write_image, write_plate_metadata, write_well_metadata

    fmt = _plate_formats()[version]()
    shutil.rmtree(path, ignore_errors=True)
    root = zarr.open_group(path, mode="w", zarr_format=2 if version == "0.4" else 3)
    wells = [f"{r}/{c}" for r in rows for c in columns]
    write_plate_metadata(root, list(rows), list(columns), wells, fmt=fmt, field_count=fields)
    truth = {}
    for w in wells:
        if w in missing:
            continue
        row, column = w.split("/")
        group = root.require_group(row).require_group(column)
        write_well_metadata(group, [str(i) for i in range(fields)], fmt=fmt)
        shape = (sizes or {}).get(w, size)
        for i in range(fields):
            base = 1000 * (i + 1) + 10 * len(truth)
            data = (base + np.arange(2 * shape[0] * shape[1]).reshape(2, *shape) % 7).astype(
                "uint16"
            )
            truth[(row + column, i)] = data
            factors = [2**k for k in range(1, levels)]
            write_image(data, group.require_group(str(i)), axes="cyx", fmt=fmt,
                        scale_factors=factors)  # fmt: skip
    return path, truth

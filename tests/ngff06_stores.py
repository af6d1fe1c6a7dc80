"""Hand-made NGFF 0.6 stores (zarr v3) for the 0.6 tests: images, labels, scenes, drafts.

Written from the 0.6rc0 specification text (ome/ngff-spec, "multiscales", "scene" and
"coordinateTransformations"): each level maps its array to the intrinsic coordinate system
with a ``scale`` or a ``sequence`` of a scale and a translation, ``input`` naming the level's
``path`` and ``output`` the system's ``name``; ``version`` is at the top of ``ome`` only. The
tests validate every store built here with `ngff06_validation.assert_valid_06` (except the
drafts, which the spec no longer accepts).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from store_factories import pyramid

TAG = "0.6rc0"


def write_group06(path: Path, ome: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
    """A zarr v3 group whose attributes are ``{"ome": {"version": TAG, **ome}}``."""
    path.mkdir(parents=True, exist_ok=True)
    attrs = {"ome": {"version": TAG, **ome}, **(extra or {})}
    doc = {"zarr_format": 3, "node_type": "group", "attributes": attrs}
    (path / "zarr.json").write_text(json.dumps(doc, indent=1))
    return path


def write_array06(path: Path, data: np.ndarray, names: list[str] | None = None) -> Path:
    """A zarr v3 array, one chunk."""
    arr = zarr.create_array(
        store=str(path),
        shape=data.shape,
        dtype=data.dtype,
        chunks=data.shape,
        zarr_format=3,
        dimension_names=names,
        overwrite=True,
    )
    arr[...] = data
    return path


def axes06(names: str, unit: str | None = "micrometer") -> list[dict[str, Any]]:
    """Axes of a coordinate system: ``c`` a channel, ``t`` time, the rest space."""
    types = {"t": "time", "c": "channel"}
    out = []
    for n in names:
        axis = {"name": n, "type": types.get(n, "space")}
        if unit and axis["type"] == "space":
            axis["unit"] = unit
        out.append(axis)
    return out


def level_transform(
    path: str, scale: list[float], translation: list[float] | None, system: str
) -> dict[str, Any]:
    """A level's transform: a scale, or a sequence of a scale and a translation."""
    ends = {"input": {"path": path}, "output": {"name": system}}
    if translation is None:
        return {"type": "scale", "scale": scale, **ends}
    steps = [
        {"type": "scale", "scale": scale},
        {"type": "translation", "translation": translation},
    ]
    return {"type": "sequence", "transformations": steps, **ends}


def image06(
    path: Path,
    data: np.ndarray,
    *,
    axes: str,
    scale: list[float],
    translation: list[float] | None = None,
    levels: int = 2,
    intrinsic: str = "physical",
    systems: list[dict[str, Any]] | None = None,
    transforms: list[dict[str, Any]] | None = None,
    image_label: dict[str, Any] | None = None,
    name: str | None = None,
    draft: bool = False,
) -> Path:
    """A hand-made NGFF 0.6 image (or label image) with ``levels`` nearest-neighbour levels.

    ``systems`` are extra coordinate systems after the intrinsic one (``systems_first`` order
    is the caller's: pass the whole list including the intrinsic one to reorder), and
    ``transforms`` the multiscale's own ``coordinateTransformations``. ``draft=True`` writes
    ``input``/``output`` as plain strings and the tag ``0.6.dev3``, as the pre-rc0 drafts did.
    """
    spatial = sum(a not in "tc" for a in axes)
    datasets = []
    for i, arr in enumerate(pyramid(data, levels, spatial)):
        write_array06(path / str(i), arr, list(axes))
        factor = [1.0 if a in "tc" else 2.0**i for a in axes]
        level_scale = [s * f for s, f in zip(scale, factor, strict=True)]
        shift = None
        if translation is not None:  # binned levels: centres move by half the extra size
            shift = [
                t + (s * f - s) / 2 for t, s, f in zip(translation, scale, factor, strict=True)
            ]
        transform = level_transform(str(i), level_scale, shift, intrinsic)
        if draft:
            transform["input"], transform["output"] = str(i), intrinsic
        datasets.append({"path": str(i), "coordinateTransformations": [transform]})
    own = {"name": intrinsic, "axes": axes06(axes)}
    coordinate_systems = [own, *(systems or [])]
    if systems and any(s["name"] == intrinsic for s in systems):
        coordinate_systems = systems
    block: dict[str, Any] = {
        "coordinateSystems": coordinate_systems,
        "datasets": datasets,
        "name": name or path.name,
    }
    if transforms is not None:
        block["coordinateTransformations"] = transforms
    ome: dict[str, Any] = {"multiscales": [block]}
    if image_label is not None:
        ome["image-label"] = image_label
    write_group06(path, ome)
    if draft:
        doc = json.loads((path / "zarr.json").read_text())
        doc["attributes"]["ome"]["version"] = "0.6.dev3"
        (path / "zarr.json").write_text(json.dumps(doc, indent=1))
    return path


def labels06(image: Path, labels: dict[str, np.ndarray], *, axes: str, scale: list[float]):
    """A ``labels/`` group with one 0.6 label image per entry, in register with the image."""
    write_group06(image / "labels", {"labels": list(labels)})
    for name, data in labels.items():
        image06(
            image / "labels" / name,
            data,
            axes=axes,
            scale=scale,
            image_label={"source": {"image": "../../"}},
        )


def scene06(
    root: Path,
    tiles: dict[str, np.ndarray],
    transforms: list[dict[str, Any]],
    *,
    axes: str = "yx",
    scale: list[float] | None = None,
    systems: list[dict[str, Any]] | None = None,
    intrinsic: str = "physical",
) -> Path:
    """A scene group holding one 0.6 image per tile, placed by ``transforms``."""
    for name, data in tiles.items():
        image06(
            root / name, data, axes=axes, scale=scale or [1.0] * len(axes), intrinsic=intrinsic
        )
    scene: dict[str, Any] = {"coordinateTransformations": transforms}
    if systems is not None:
        scene["coordinateSystems"] = systems
    write_group06(root, {"scene": scene})
    return root


def to_world(name: str, image: str, kind: str, **params: Any) -> dict[str, Any]:
    """A scene transform from an image's ``physical`` system to the scene's ``name`` system."""
    return {
        "type": kind,
        "input": {"path": image, "name": "physical"},
        "output": {"name": name},
        "name": f"{image} to {name}",
        **params,
    }

"""NGFF 0.6 ``scene``: several images placed in one coordinate system.

A scene's ``coordinateTransformations`` link coordinate systems of its images (``{"name",
"path"}``) and of the scene itself (``{"name"}``). Together with each image's own transforms
they form a graph whose nodes are coordinate systems. Every image is placed in one target
system: the scene's first ``coordinateSystems`` entry, as the specification recommends, or
else the system that most images reach. An image's placement is the composition of the
transforms on the shortest path from its intrinsic system to the target; a transform is
walked backwards through its ``inverse`` (bijection) or its inverted matrix. Pure: the caller
reads the images' metadata.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from napari_omezarr_export.core.errors import StoreFormatError
from napari_omezarr_export.core.ngff.affine import (
    LoadArray,
    Placement,
    describe,
    inverse_matrix,
    transform_matrix,
)
from napari_omezarr_export.core.ngff.axes import STORE_FIX
from napari_omezarr_export.core.ngff.coordinate_systems import (
    CoordinateSystem,
    parse_coordinate_systems,
    parse_ref,
)
from napari_omezarr_export.core.ngff.multiscales06 import Multiscale06

__all__ = ["ScenePlan", "plan_scene", "scene_image_paths"]

Key = tuple[str, str]  # (image path, or "" for the scene; coordinate system name)


@dataclass(frozen=True)
class ScenePlan:
    """Where each image of a scene goes.

    Parameters
    ----------
    target : CoordinateSystem
        The system every image is placed in.
    target_path : str
        ``""`` when the target is the scene's own system, else the image holding it.
    placements : dict
        Image path -> the `Placement` from its intrinsic system to the target; None for an
        image that no transform connects to the target.
    """

    target: CoordinateSystem
    target_path: str
    placements: dict[str, Placement | None]


@dataclass(frozen=True)
class _Edge:
    src: Key
    dst: Key
    transform: dict
    where: object


def _transforms(where: object, scene: object) -> list[dict]:
    transforms = scene.get("coordinateTransformations") if isinstance(scene, dict) else None
    if not isinstance(transforms, list) or not all(isinstance(t, dict) for t in transforms):
        raise StoreFormatError(
            f"{where}: a scene needs a list of coordinateTransformations.{STORE_FIX}"
        )
    return transforms


def scene_image_paths(where: object, scene: object) -> list[str]:
    """The image groups a scene's transforms refer to, in the order first referred to.

    Parameters
    ----------
    where : object
        The scene group, named in error messages.
    scene : object
        The ``scene`` attribute.

    Returns
    -------
    list of str
        Paths relative to the scene group.
    """
    paths: list[str] = []
    for t in _transforms(where, scene):
        for role in ("input", "output"):
            ref = parse_ref(where, t.get(role))
            if ref.path is not None and ref.path not in paths:
                paths.append(ref.path)
    return paths


def _edges(where: object, scene: dict, images: dict[str, tuple[Multiscale06, dict]]):
    edges = []
    for t in _transforms(where, scene):
        src, dst = parse_ref(where, t.get("input")), parse_ref(where, t.get("output"))
        if src.name is None or dst.name is None:
            raise StoreFormatError(
                f"{where}: scene transform {describe(t)} must name its input and output "
                f"coordinate systems.{STORE_FIX}"
            )
        edges.append(_Edge((src.path or "", src.name), (dst.path or "", dst.name), t, where))
    for path, (_, block) in images.items():
        for t in block.get("coordinateTransformations") or []:
            if not isinstance(t, dict):
                continue
            src, dst = parse_ref(path, t.get("input")), parse_ref(path, t.get("output"))
            if src.path or dst.path or src.name is None or dst.name is None:
                continue  # links to label images do not place the image
            edges.append(_Edge((path, src.name), (path, dst.name), t, f"{where}/{path}"))
    return edges


def _step(edge: _Edge, forward: bool, systems, load: LoadArray | None) -> Placement | None:
    src, dst = systems.get(edge.src), systems.get(edge.dst)
    for key, system in ((edge.src, src), (edge.dst, dst)):
        if system is None:
            raise StoreFormatError(
                f"{edge.where}: {describe(edge.transform)} refers to the coordinate system "
                f"{key[1]!r}{f' of {key[0]!r}' if key[0] else ''}, which is not defined."
                f"{STORE_FIX}"
            )
    if forward:
        return transform_matrix(edge.where, edge.transform, src.ndim, dst.ndim, load=load)
    try:
        return inverse_matrix(edge.where, edge.transform, src.ndim, dst.ndim, load=load)
    except StoreFormatError:
        return None  # not invertible: this edge cannot be walked backwards


def _walk(start: Key, target: Key, edges, systems, load) -> Placement | None:
    """Breadth-first: the composed placement along the shortest path, or None."""
    seen = {start}
    queue: deque[tuple[Key, Placement]] = deque(
        [(start, Placement(np.eye(systems[start].ndim + 1)))]
    )
    while queue:
        key, placed = queue.popleft()
        if key == target:
            return placed
        for edge in edges:
            for forward, here, there in ((True, edge.src, edge.dst), (False, edge.dst, edge.src)):
                if here != key or there in seen:
                    continue
                step = _step(edge, forward, systems, load)
                if step is None:
                    continue
                seen.add(there)
                queue.append(
                    (there, Placement(step.matrix @ placed.matrix, placed.skipped + step.skipped))
                )
    return None


def plan_scene(
    where: object,
    scene: object,
    images: dict[str, tuple[Multiscale06, dict]],
    *,
    load: LoadArray | None = None,
) -> ScenePlan:
    """Choose the scene's target system and place every image in it.

    Parameters
    ----------
    where : object
        The scene group, named in error messages.
    scene : object
        The ``scene`` attribute.
    images : dict
        Image path (as the scene refers to it) -> its parsed multiscale and raw block.
    load : callable, optional
        Reads a zarr array by path relative to the scene group.

    Returns
    -------
    ScenePlan
        The target system and each image's placement.

    Raises
    ------
    StoreFormatError
        For malformed transforms or references to undefined coordinate systems.
    """
    own = scene.get("coordinateSystems") if isinstance(scene, dict) else None
    systems: dict[Key, CoordinateSystem] = {}
    if own is not None:
        systems.update({("", s.name): s for s in parse_coordinate_systems(where, own)})
    for path, (ms, _) in images.items():
        systems.update({(path, s.name): s for s in ms.systems})
    edges = _edges(where, scene, images)
    starts = {path: (path, ms.intrinsic.name) for path, (ms, _) in images.items()}
    if own:
        candidates = [("", own[0]["name"])]
    else:
        candidates = list(dict.fromkeys(e.dst for e in edges if e.dst in systems))
    if not candidates:
        raise StoreFormatError(f"{where}: the scene's transforms lead nowhere.{STORE_FIX}")
    best: tuple[int, Key, dict] | None = None
    for candidate in candidates:
        placements = {
            path: _walk(start, candidate, edges, systems, load) for path, start in starts.items()
        }
        reached = sum(p is not None for p in placements.values())
        if best is None or reached > best[0]:
            best = (reached, candidate, placements)
    _, target, placements = best
    return ScenePlan(systems[target], target[0], placements)

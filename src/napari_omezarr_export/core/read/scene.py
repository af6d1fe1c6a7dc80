"""Open an NGFF 0.6 ``scene``: every image it places, in one coordinate system, as layers.

The scene's transforms (``ngff.scene``) say where each image goes; each image then opens as a
plain image would (one layer per channel, then its labels), placed by the composed transform:
a positive scale and shift folds into the layer's ``scale`` and ``translate``, anything else
becomes its ``affine``. Layer names start with the image's path in the scene, so that a viewer
shows which image each layer comes from.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from napari_omezarr_export.core import stores
from napari_omezarr_export.core.errors import StoreFormatError
from napari_omezarr_export.core.ngff.axes import STORE_FIX
from napari_omezarr_export.core.ngff.multiscales06 import parse_multiscale06
from napari_omezarr_export.core.ngff.scene import plan_scene, scene_image_paths
from napari_omezarr_export.core.read.image import open_image
from napari_omezarr_export.core.read.layer_spec import LayerSpec
from napari_omezarr_export.core.read.multiscales import (
    draft_named,
    level_folders,
    matrix_loader,
    ngff_version,
)
from napari_omezarr_export.core.read.zarr_nodes import child_path, read_node_meta

__all__ = ["SCENE_KEY", "scene_layers"]

logger = logging.getLogger(__name__)

SCENE_KEY = "ngff_scene"  # layer metadata: which scene, image and coordinate system


def _parse_image(path: Any, zarr_format: int | None) -> tuple[Any, dict, int]:
    """An image of the scene: its parsed 0.6 multiscale, raw block and number of dimensions."""
    meta = read_node_meta(path, zarr_format=zarr_format, node_type="group")
    blocks = meta.attrs.get("multiscales")
    if not isinstance(blocks, list) or not blocks or not isinstance(blocks[0], dict):
        raise StoreFormatError(
            f"{path}: the scene refers to this group as an image, but it has no multiscales."
            f"{STORE_FIX}"
        )
    block = blocks[0]
    if ngff_version(meta, block) != "0.6":
        raise StoreFormatError(
            f"{path}: a scene's images must be NGFF 0.6 like the scene; this one is "
            f"{ngff_version(meta, block)}.{STORE_FIX}"
        )
    level0 = read_node_meta(level_folders(meta)[0], zarr_format=zarr_format, node_type="array")
    shape = (level0.array or {}).get("shape")
    if not isinstance(shape, list):
        raise StoreFormatError(f"{level0.path} holds no readable zarr array.{STORE_FIX}")
    ndim = len(shape)
    with draft_named(meta, block):
        parsed = parse_multiscale06(
            path, block, ndim, load=matrix_loader(path, zarr_format), display=False
        )
    return parsed, block, ndim


def scene_layers(root: Path, attrs: dict[str, Any]) -> list[LayerSpec]:
    """Open every image of a scene, each placed in the scene's coordinate system.

    Parameters
    ----------
    root : Path
        The scene group.
    attrs : dict
        Its attributes (with ``scene``).

    Returns
    -------
    list of LayerSpec
        Each image's layers (images, then its labels), in the order the scene first refers to
        the images; names start with the image's path.

    Raises
    ------
    StoreFormatError
        For malformed scene metadata, or an image the scene refers to that is missing or not
        NGFF 0.6.
    """
    scene = attrs.get("scene")
    zarr_format = read_node_meta(root, node_type="group").zarr_format
    rels = scene_image_paths(root, scene)
    if not rels:
        raise StoreFormatError(f"{root}: the scene refers to no image.{STORE_FIX}")
    paths = {rel: child_path(root, rel, what="scene image path") for rel in rels}
    parsed = {rel: _parse_image(paths[rel], zarr_format) for rel in rels}
    plan = plan_scene(
        root,
        scene,
        {rel: (ms, block) for rel, (ms, block, _) in parsed.items()},
        load=matrix_loader(root, zarr_format),
    )
    layers: list[LayerSpec] = []
    for rel in rels:
        placement = plan.placements[rel]
        ndim = parsed[rel][2]
        where = None
        if placement is None or plan.target.ndim != ndim:
            logger.warning(
                "%s: no transform of the scene places the image %r in its coordinate system "
                "%r (with the same number of dimensions); it is shown in its own coordinate "
                "system.",
                root,
                rel,
                plan.target.name,
            )
        else:
            where = (plan.target, placement)
        specs, _ = open_image(paths[rel], placement=where)
        for spec in specs:
            named = spec.name not in ("", rel, Path(rel).name)
            spec.kwargs["name"] = f"{rel}: {spec.name}" if named else rel
            spec.kwargs.setdefault("metadata", {})[SCENE_KEY] = {
                "scene": stores.describe(root),
                "image": rel,
                "coordinate_system": plan.target.name if where else None,
            }
        layers += specs
    return layers

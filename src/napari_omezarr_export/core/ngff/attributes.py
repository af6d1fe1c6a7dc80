"""Pure builders of NGFF attribute dicts: multiscales, omero, image-label, labels.

Nothing here touches the disk, so a preview and a write share exactly the same JSON.

Coordinate convention (NGFF, pixel centres): array index ``i`` maps to the physical coordinate
``i * scale + translation``, so napari's ``translate`` (the world position of pixel 0's centre)
is level 0's translation. Level ``k`` has factor ``f = 2**k`` on halved axes; its pixel ``i``
covers level-0 pixels ``i*f .. i*f + f - 1``, whose centre is at ``i*f + (f - 1) / 2``. Hence
``scale_k = scale_0 * f`` and ``translation_k = translation_0 + scale_0 * (f - 1) / 2``, written
on every level so each level lands exactly on top of level 0 in any viewer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from napari_omezarr_export.core.ngff.axes import Axis
from napari_omezarr_export.core.ngff.coordinate_systems import V06_TAG

__all__ = [
    "DISPLAY_KEY",
    "INTRINSIC_SYSTEM",
    "OmeroChannel",
    "display_attributes",
    "display_kwargs",
    "group_attributes",
    "image_label",
    "labels_group",
    "level_transforms",
    "multiscales",
    "omero",
]

WRITER_NAME = "napari-omezarr-export"

# NGFF 0.6: the name of the intrinsic coordinate system every level maps into (the spec's
# examples call an image's physical space "physical").
INTRINSIC_SYSTEM = "physical"

# NGFF has no place for a label image's visibility or opacity (channels have omero ``active``),
# so they go in a key of their own beside the OME keys, which every other reader ignores:
# a mask saved hidden and translucent reopens that way instead of covering the image.
DISPLAY_KEY = "napari_display"


def _plain(value: Any) -> Any:
    """Return ``value`` as plain JSON: numpy scalars unwrapped, NaN and infinities as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def level_transforms(
    scale: Sequence[float],
    translation: Sequence[float],
    factors: Sequence[int],
    n_levels: int,
) -> list[list[dict]]:
    """Return each level's ``coordinateTransformations`` (scale, then translation).

    Parameters
    ----------
    scale, translation : sequence of float
        Level-0 physical pixel size and the position of pixel 0's centre, per axis.
    factors : sequence of int
        Per-axis factor between successive levels.
    n_levels : int
        How many levels.

    Returns
    -------
    list of list of dict
        One transform list per level.
    """
    transforms = []
    for level in range(n_levels):
        f = [factor**level for factor in factors]
        level_scale = [float(s) * k for s, k in zip(scale, f, strict=True)]
        level_translation = [
            float(t) + float(s) * (k - 1) / 2
            for t, s, k in zip(translation, scale, f, strict=True)
        ]
        transforms.append(
            [
                {"type": "scale", "scale": level_scale},
                {"type": "translation", "translation": level_translation},
            ]
        )
    return transforms


def multiscales(
    axes: Sequence[Axis],
    transforms: Sequence[list[dict]],
    *,
    name: str,
    version: str,
    method: str,
) -> list[dict]:
    """Return the ``multiscales`` list for an image or label image.

    Parameters
    ----------
    axes : sequence of Axis
        Axes in NGFF order.
    transforms : sequence of list of dict
        Per-level transforms from `level_transforms`; level paths are ``"0"``, ``"1"``, ...
    name : str
        The image name.
    version : {"0.4", "0.5", "0.6"}
        NGFF version; 0.4 puts it in the multiscale, 0.5 and 0.6 only in the ``ome`` block.
        0.6 names a coordinate system (`INTRINSIC_SYSTEM`) instead of listing ``axes``, and
        each level's transforms become one ``scale``, or a ``sequence`` of a scale and a
        translation, from the level's array (``input``) to that system (``output``).
    method : str
        How the levels were downsampled (``mean``, ``nearest``, ...).

    Returns
    -------
    list of dict
        A one-element ``multiscales`` list.
    """
    entry: dict[str, Any] = {}
    if version == "0.4":
        entry["version"] = "0.4"
    entry["name"] = name
    if version == "0.6":
        axes_json = [axis.to_json() for axis in axes]
        entry["coordinateSystems"] = [{"name": INTRINSIC_SYSTEM, "axes": axes_json}]
        entry["datasets"] = [
            {"path": str(i), "coordinateTransformations": [_v06_level(str(i), t)]}
            for i, t in enumerate(transforms)
        ]
    else:
        entry["axes"] = [axis.to_json() for axis in axes]
        entry["datasets"] = [
            {"path": str(i), "coordinateTransformations": t} for i, t in enumerate(transforms)
        ]
    entry["type"] = method
    entry["metadata"] = {"method": f"{WRITER_NAME} {method}", "factor": 2}
    return [entry]


def _v06_level(path: str, transforms: list[dict]) -> dict:
    """One level's NGFF 0.6 transform: its scale, then translation when it is not zero."""
    ends = {"input": {"path": path}, "output": {"name": INTRINSIC_SYSTEM}}
    steps = [t for t in transforms if t["type"] == "scale" or any(t.get("translation", ()))]
    if len(steps) == 1:
        return {**steps[0], **ends}
    return {"type": "sequence", "transformations": steps, **ends}


class OmeroChannel(Protocol):
    """What an ``omero`` channel entry is built from (``options.ChannelStyle`` is one)."""

    label: str
    color: str
    start: float | None
    end: float | None
    active: bool


def omero(
    channels: Sequence[OmeroChannel],
    value_ranges: Sequence[tuple[float, float]],
    *,
    name: str,
    version: str,
    default_z: int = 0,
) -> dict:
    """Return the ``omero`` block: one entry per channel plus rendering defaults.

    Parameters
    ----------
    channels : sequence of OmeroChannel
        Name, colour, window and visibility per channel. A missing window start or end takes
        the channel's value range.
    value_ranges : sequence of (float, float)
        Per channel, ``window.min``/``max``: the dtype range for integers, the data range for
        floats.
    name : str
        The image name.
    version : {"0.4", "0.5", "0.6"}
        NGFF version (0.4 carries it in the block).
    default_z : int
        The z plane viewers show first.

    Returns
    -------
    dict
        The ``omero`` attribute.
    """
    entries = []
    for style, (low, high) in zip(channels, value_ranges, strict=True):
        start = low if style.start is None else style.start
        end = high if style.end is None else style.end
        window = {
            "start": _plain(start),
            "end": _plain(end),
            "min": _plain(min(low, start)),
            "max": _plain(max(high, end)),
        }
        entries.append(
            {
                "label": style.label,
                "color": style.color,
                "active": bool(style.active),
                "coefficient": 1.0,
                "family": "linear",
                "inverted": False,
                "window": window,
            }
        )
    block: dict[str, Any] = {"name": name}
    if version == "0.4":
        block["version"] = "0.4"
    block["channels"] = entries
    block["rdefs"] = {"defaultT": 0, "defaultZ": int(default_z), "model": "color"}
    return block


def image_label(
    version: str,
    *,
    colors: Mapping[int, Sequence[int]] | None = None,
    properties: Sequence[Mapping[str, Any]] | None = None,
    source_image: str | None = "../../",
) -> dict:
    """Return the ``image-label`` block of a label image.

    Parameters
    ----------
    version : {"0.4", "0.5", "0.6"}
        NGFF version.
    colors : mapping of int to RGBA, optional
        Colour (0-255 per component) per label value.
    properties : sequence of mapping, optional
        One dict per label, each with a ``label-value`` key.
    source_image : str or None
        Relative path to the image the labels belong to, or None for standalone labels.

    Returns
    -------
    dict
        The ``image-label`` attribute.
    """
    block: dict[str, Any] = {}
    if version == "0.4":
        block["version"] = "0.4"
    if source_image is not None:
        block["source"] = {"image": source_image}
    if colors:
        block["colors"] = [
            {"label-value": int(value), "rgba": [int(c) for c in rgba]}
            for value, rgba in sorted(colors.items())
        ]
    if properties:
        block["properties"] = [{k: _plain(v) for k, v in row.items()} for row in properties]
    return block


def display_attributes(visible: bool | None, opacity: float | None) -> dict:
    """Return ``{DISPLAY_KEY: {...}}`` for the display state given, or ``{}`` when none is.

    Parameters
    ----------
    visible : bool or None
        Whether the layer was shown.
    opacity : float or None
        Its opacity, 0-1.

    Returns
    -------
    dict
        Attributes to add to the label image's group (outside the OME keys).
    """
    state: dict[str, Any] = {}
    if visible is not None:
        state["visible"] = bool(visible)
    if opacity is not None:
        state["opacity"] = round(float(opacity), 4)
    return {DISPLAY_KEY: state} if state else {}


def display_kwargs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Read back what `display_attributes` wrote as napari keyword arguments.

    Parameters
    ----------
    attrs : mapping
        A group's attributes.

    Returns
    -------
    dict
        ``visible`` and ``opacity`` where they are present and valid; malformed values are
        ignored (napari's defaults apply).
    """
    state = attrs.get(DISPLAY_KEY)
    if not isinstance(state, dict):
        return {}
    kwargs: dict[str, Any] = {}
    if isinstance(state.get("visible"), bool):
        kwargs["visible"] = state["visible"]
    opacity = state.get("opacity")
    if isinstance(opacity, int | float) and not isinstance(opacity, bool) and 0 <= opacity <= 1:
        kwargs["opacity"] = float(opacity)
    return kwargs


def labels_group(names: Sequence[str]) -> dict:
    """Return the attributes of a ``labels/`` group listing ``names``."""
    return {"labels": list(names)}


def group_attributes(ome: Mapping[str, Any], version: str) -> dict:
    """Place OME attributes where the NGFF version wants them.

    Parameters
    ----------
    ome : mapping
        The OME keys (``multiscales``, ``omero``, ``image-label``, ``labels``).
    version : {"0.4", "0.5", "0.6"}
        0.4 puts them at the top of ``.zattrs``; 0.5 and 0.6 under ``ome`` with ``version``
        (0.6 as the specification's tag, `V06_TAG`).

    Returns
    -------
    dict
        The group's attributes.
    """
    if version == "0.4":
        return dict(ome)
    return {"ome": {"version": V06_TAG if version == "0.6" else "0.5", **ome}}

"""The records a ``.percell`` experiment is read into: regions and the runs linked to them.

Both on-disk shapes (see :mod:`experiment`) are read into the same :class:`Experiment`: a list of
:class:`Region` records, each with its image group and its segmentations and thresholds as
:class:`Link` records. A link's ``group`` says which runs of different regions belong in the
same stacked layer when a whole experiment opens with a region slider.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

__all__ = [
    "Experiment",
    "Link",
    "Region",
    "Slot",
    "name_stem",
    "stack_slots",
]

_COUNTER = re.compile(r"_\d+$")


def name_stem(name: str) -> str:
    """A run name without its trailing ``_<n>`` counter: ``thresh_GFP_12`` -> ``thresh_GFP``.

    Parameters
    ----------
    name : str
        A segmentation or threshold name.

    Returns
    -------
    str
        The name without its counter, or the name itself when it has none.
    """
    return _COUNTER.sub("", name) or name


class Link(NamedTuple):
    """A segmentation or threshold that belongs to a region.

    Parameters
    ----------
    name : str
        Its own name (in PerCell 3 unique per run, so usually per field of view).
    path : Path
        Its group: a label image, or a mask group (``threshold_<name>`` or ``thresh_<id>``).
    group : str
        What it has in common with the runs of other regions, for stacking them into one
        layer: PerCell 3's automatic name without its counter, built from the threshold's
        grouping and channel (``thresh_group_GFP_mean_intensity_g1_GFP``) or the
        segmentation's model and channel (``cyto3_DAPI``); else the name without its counter.
    """

    name: str
    path: Path
    group: str


@dataclass(frozen=True)
class Region:
    """One field of view / region and the files that belong to it.

    Parameters
    ----------
    key : dict
        ``condition``, ``bio_rep``, ``timepoint``, ``region`` names (None when absent).
    image : Path
        The image group.
    segmentations : list of Link
        Segmentation label groups (whole-field segmentations excluded).
    thresholds : list of Link
        Thresholds and their mask groups.
    pixel_size : float or None
        Pixel size in micrometres from the database, when known.
    """

    key: dict[str, str | None]
    image: Path
    segmentations: list[Link] = field(default_factory=list)
    thresholds: list[Link] = field(default_factory=list)
    pixel_size: float | None = None

    @property
    def label(self) -> str:
        """A display name: the non-empty key parts joined by ``/``."""
        parts = ("condition", "bio_rep", "timepoint", "region")
        return "/".join(str(self.key[k]) for k in parts if self.key.get(k))


@dataclass(frozen=True)
class Experiment:
    """A ``.percell`` experiment's regions and channel names/colours.

    Parameters
    ----------
    root : Path
        The ``.percell`` folder.
    layout : str
        ``"names"`` (design layout) or ``"ids"`` (PerCell 3).
    regions : list of Region
        In a stable order (database ids, or sorted folder names).
    channels : list of (str, str or None)
        Channel names and ``#rrggbb`` colours from the database (empty for the design layout).
    """

    root: Path
    layout: Literal["names", "ids"]
    regions: list[Region]
    channels: list[tuple[str, str | None]] = field(default_factory=list)


@dataclass(frozen=True)
class Slot:
    """One stacked layer of a whole experiment: a run, or none, for every region.

    Parameters
    ----------
    name : str
        The layer's name (a mask layer adds `` mask``).
    links : list of Link or None
        One per region, in slider order; None where the region has none (a blank slice).
    """

    name: str
    links: list[Link | None]

    @property
    def names(self) -> list[str | None]:
        """The run behind each slice (None for a blank one)."""
        return [link.name if link else None for link in self.links]


def _display_name(group: str, names: list[str]) -> str:
    """The runs' own name when they share it, their common stem, else the group."""
    if len(set(names)) == 1:
        return names[0]
    stems = {name_stem(name) for name in names}
    return stems.pop() if len(stems) == 1 else group


def stack_slots(per_region: list[list[Link]], *, together: str | None = None) -> list[Slot]:
    """Put the runs of many regions into layers, one layer per group of runs.

    A region with two runs of one group (two thresholds of ``g1`` in one field) gets its
    second run in a second layer (named `` (2)`` when its name is taken): a slice holds one
    run.

    Parameters
    ----------
    per_region : list of list of Link
        Each region's runs, in slider order.
    together : str, optional
        When no region has more than one run, they all go into one layer of this name,
        whatever their names. PerCell shows one ``segmentation`` layer so: each field's own
        ``cyto3_DAPI_<n>``, or a hand-edited ``napari_edit_DAPI_<n>``, in one layer.

    Returns
    -------
    list of Slot
        In the order the groups first appear; none when no region has a run.
    """
    if together is not None and any(per_region) and all(len(r) <= 1 for r in per_region):
        return [Slot(together, [links[0] if links else None for links in per_region])]
    found: dict[tuple[str, int], list[Link | None]] = {}
    for i, links in enumerate(per_region):
        seen: dict[str, int] = {}
        for link in links:
            nth = seen.get(link.group, 0)
            seen[link.group] = nth + 1
            found.setdefault((link.group, nth), [None] * len(per_region))[i] = link
    slots: list[Slot] = []
    for (group, nth), links in found.items():
        name = _display_name(group, [link.name for link in links if link])
        if name in {s.name for s in slots}:  # a second run of a group, or a name taken
            name = f"{name} ({nth + 1})" if nth else f"{name} ({group})"
        slots.append(Slot(name, links))
    return slots

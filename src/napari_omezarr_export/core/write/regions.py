"""Cut level 0 into regions that each own whole write units of the first pyramid levels.

A distributed write gives each task one region of level 0. The region's edge on a halved axis
is ``unit * 2**k`` (or a common multiple when units differ between levels), so that on each of
the levels ``0..owned-1`` the region's window starts and ends on that level's write unit (the
chunk, or the shard when sharded) or at the array's edge: no two tasks ever write one chunk
or shard file. The levels a region does not own ("coarse" levels, ``owned`` and above) are
written by further passes: level ``owned``, made of the blocks the regions downsample, is cut
into regions of its own by the same planning, until a pass owns every level left.

Nothing here reads or writes; it is arithmetic on shapes, tested on its own.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = ["RegionGrid", "plan_regions"]

# A region's level-0 block, in bytes: a task holds about 2.5 times this (the block, the
# source chunks it was cut from, the pyramid rows and the encoded units in flight).
REGION_BYTES = 64 * 2**20
# Regions wanted per worker thread, so that no worker waits long for the last region.
REGIONS_PER_THREAD = 2


@dataclass(frozen=True)
class RegionGrid:
    """Level-0 regions and the levels they own.

    Parameters
    ----------
    level_shapes : tuple of tuple of int
        Every level's shape, full resolution first.
    factors : tuple of int
        Per-axis factor between levels.
    edges : tuple of int
        The level-0 region edge per axis.
    owned : int
        How many levels (from level 0) the regions write; the rest are coarse.
    """

    level_shapes: tuple[tuple[int, ...], ...]
    factors: tuple[int, ...]
    edges: tuple[int, ...]
    owned: int

    @property
    def has_coarse(self) -> bool:
        """True when some levels are left for the final pass."""
        return self.owned < len(self.level_shapes)

    def regions(self) -> Iterator[tuple[slice, ...]]:
        """Yield every region's level-0 index, in C order."""
        shape = self.level_shapes[0]
        starts = [range(0, n, e) for n, e in zip(shape, self.edges, strict=True)]
        for corner in itertools.product(*starts):
            yield tuple(
                slice(s, min(s + e, n)) for s, e, n in zip(corner, self.edges, shape, strict=True)
            )

    def window(self, region: Sequence[slice], level: int) -> tuple[slice, ...]:
        """The index of ``region``'s window on ``level`` (which may be the first coarse one)."""
        shape = self.level_shapes[level]
        out = []
        for r, f, n in zip(region, self.factors, shape, strict=True):
            step = f**level
            out.append(slice(r.start // step, min(math.ceil(r.stop / step), n)))
        return tuple(out)


def _window_ok(edge: int, size0: int, factor: int, level: int, unit: int, size: int) -> bool:
    """Whether windows of level-0 edge ``edge`` cover whole units of one level on one axis."""
    if edge >= size0:
        return True  # one region along this axis: it holds the whole axis on every level
    step = factor**level
    return edge % step == 0 and ((edge // step) % unit == 0 or unit >= size)


def _grid_for(
    level_shapes: Sequence[tuple[int, ...]],
    units: Sequence[tuple[int, ...]],
    factors: Sequence[int],
    owned: int,
) -> tuple[int, ...] | None:
    """The smallest region edges that own levels ``0..owned-1``, or None when none can."""
    coarse = owned < len(level_shapes)
    edges = []
    for axis, factor in enumerate(factors):
        size0 = level_shapes[0][axis]
        if factor == 1:
            edges.append(units[0][axis])
            continue
        edge = math.lcm(*(units[lvl][axis] * factor**lvl for lvl in range(owned)))
        if coarse:
            edge = math.lcm(edge, factor**owned)  # whole windows for the first coarse level
        edge = min(edge, size0)
        for level in range(owned):
            if not _window_ok(edge, size0, factor, level, units[level][axis],
                              level_shapes[level][axis]):  # fmt: skip
                return None
        if coarse and edge < size0 and edge % factor**owned:
            return None
        edges.append(edge)
    return tuple(edges)


def plan_regions(
    level_shapes: Sequence[tuple[int, ...]],
    units: Sequence[tuple[int, ...]],
    factors: Sequence[int],
    itemsize: int,
    *,
    threads: int = 1,
    region_bytes: int | None = None,
    wanted: int | None = None,
) -> RegionGrid:
    """Choose the regions of a distributed write.

    The grid owns as many levels as it can while a region stays within ``region_bytes`` and
    there are at least ``REGIONS_PER_THREAD`` regions per worker thread; an image too small
    for that many gets fewer, larger regions (down to one that owns every level).

    Parameters
    ----------
    level_shapes : sequence of tuple of int
        Every level's shape.
    units : sequence of tuple of int
        Every level's write unit (chunk, or shard when sharded), as the arrays were created.
    factors : sequence of int
        Per-axis factor between levels.
    itemsize : int
        Bytes per element.
    threads : int
        Worker threads in the cluster.
    region_bytes : int, optional
        The largest level-0 region wanted; `REGION_BYTES` by default.
    wanted : int, optional
        The fewest regions that keep the cluster busy; `REGIONS_PER_THREAD` per thread by
        default (1 for a small coarse pass: one region writing every level left is best).

    Returns
    -------
    RegionGrid
        The regions and the number of levels they own (at least 1).
    """
    if region_bytes is None:
        region_bytes = REGION_BYTES
    shapes = tuple(tuple(int(n) for n in s) for s in level_shapes)
    if wanted is None:
        wanted = REGIONS_PER_THREAD * max(threads, 1)
    candidates = []
    for owned in range(1, len(shapes) + 1):
        edges = _grid_for(shapes, units, factors, owned)
        if edges is None:
            continue
        count = math.prod(math.ceil(n / e) for n, e in zip(shapes[0], edges, strict=True))
        fits = math.prod(edges) * itemsize <= region_bytes
        candidates.append((fits, count >= wanted, owned, edges))
    # The deepest grid that fits and keeps every thread busy; failing that, the deepest that
    # fits; failing that (huge units), the shallowest.
    for test in (lambda c: c[0] and c[1], lambda c: c[0]):
        good = [c for c in candidates if test(c)]
        if good:
            _, busy, owned, edges = max(good, key=lambda c: c[2])
            edges = _grown(
                edges, shapes[0], factors, itemsize, region_bytes, wanted if busy else 1
            )
            return RegionGrid(shapes, tuple(factors), edges, owned)
    _, _, owned, edges = candidates[0]
    return RegionGrid(shapes, tuple(factors), edges, owned)


def _count(shape: Sequence[int], edges: Sequence[int]) -> int:
    return math.prod(math.ceil(n / e) for n, e in zip(shape, edges, strict=True))


def _grown(
    edges: tuple[int, ...],
    shape: Sequence[int],
    factors: Sequence[int],
    itemsize: int,
    region_bytes: int,
    wanted: int,
) -> tuple[int, ...]:
    """Double the halved axes' edges while regions stay within budget and numerous enough.

    A multiple of an owning edge owns the same levels; fewer, larger regions cost the
    scheduler and the client less (a region of a few chunks is mostly overhead).
    """
    while True:
        bigger = tuple(
            min(e * 2, n) if f > 1 and e < n else e
            for e, n, f in zip(edges, shape, factors, strict=True)
        )
        if bigger == edges:
            return edges
        if math.prod(bigger) * itemsize > region_bytes or _count(shape, bigger) < wanted:
            return edges
        edges = bigger

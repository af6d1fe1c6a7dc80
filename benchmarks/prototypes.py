"""Prototype speedups for our writer, measured against the current code (nothing is edited).

``python -m benchmarks.prototypes [--workloads W1,W2] [--repeats 3]`` writes each workload
with the current code and with each prototype, alternating, in this one process, checks that
every output's levels equal the current code's, and prints the median times.

Prototypes, applied by monkeypatching `napari_omezarr_export.core.band_writer`:

* ``async``: `_push` hands each level's ``array[index] = block`` to a 2-thread pool and goes on
  downsampling and reading the next band while zarr compresses (at most 4 writes in flight);
  `iter_write_levels` drains the pool at the end. Removes the idle core while the main thread
  downsamples, and lets a level-1 write (often one chunk) overlap the next level-0 write.
* ``fastmean``: a 2x2 mean for 8/16-bit unsigned data that adds row pairs then column pairs in
  uint32 and rounds with ``(s + 2) >> 2`` instead of four strided adds into a zeroed buffer and
  a floor division.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import tempfile
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .workloads import ensure_data, get_workloads
from .writers import write_ours


def fast_mean(block: np.ndarray, factors) -> np.ndarray | None:
    """2x2 y/x mean of even-sized unsigned 8/16-bit blocks, or None when not applicable."""
    if block.dtype.kind != "u" or block.dtype.itemsize > 2:
        return None
    if tuple(factors[-2:]) != (2, 2) or any(f != 1 for f in factors[:-2]):
        return None
    if block.shape[-1] % 2 or block.shape[-2] % 2:
        return None
    rows = block[..., 0::2, :].astype(np.uint32)
    rows += block[..., 1::2, :]
    total = rows[..., 0::2]
    total += rows[..., 1::2]
    total += 2
    total >>= 2
    return total.astype(block.dtype)


@contextlib.contextmanager
def patched(async_writes: bool = False, fastmean: bool = False, max_pending: int = 4):
    """Apply the prototypes for the duration of the block."""
    from napari_omezarr_export.core import band_writer, writing

    original_push = band_writer._push
    original_iter = writing.iter_write_levels
    original_downsample = band_writer.downsample
    pool = ThreadPoolExecutor(2) if async_writes else None
    pending: deque[Future] = deque()

    def downsample(block, factors, method):
        if method == "mean":
            out = fast_mean(block, factors)
            if out is not None:
                return out
        return original_downsample(block, factors, method)

    def push(targets, level, rows, outer, factors, method):
        target = targets[level]
        target.pending.append(rows)
        y_axis = rows.ndim - 2
        chunk_rows = band_writer.write_unit(target.array)[y_axis]
        queued = sum(p.shape[y_axis] for p in target.pending)
        at_end = target.written_rows + queued == target.shape[y_axis]
        ready = queued if at_end else queued - queued % chunk_rows
        if not at_end and ready % 2:
            ready -= chunk_rows
        if ready <= 0:
            return
        merged = (
            target.pending[0]
            if len(target.pending) == 1
            else np.concatenate(target.pending, y_axis)
        )
        out, rest = np.split(merged, [ready], axis=y_axis)
        target.pending = [rest] if rest.shape[y_axis] else []
        start = target.written_rows
        index = (*outer, *([slice(None)] * (y_axis - len(outer))), slice(start, start + ready))
        while len(pending) >= max_pending:
            pending.popleft().result()
        pending.append(pool.submit(target.array.__setitem__, index, out))
        target.written_rows += ready
        yield band_writer.count_chunks(out.shape, target.array.chunks)
        if level + 1 < len(targets):
            smaller = band_writer.downsample(out, factors, method)
            yield from push(targets, level + 1, smaller, outer, factors, method)

    def iter_write_levels(*args, **kwargs):
        yield from original_iter(*args, **kwargs)
        while pending:
            pending.popleft().result()

    try:
        if fastmean:
            band_writer.downsample = downsample
        if async_writes:
            band_writer._push = push
            writing.iter_write_levels = iter_write_levels
        yield
    finally:
        band_writer._push = original_push
        writing.iter_write_levels = original_iter
        band_writer.downsample = original_downsample
        if pool is not None:
            pool.shutdown()


VARIANTS = {
    "current": {},
    "fastmean": {"fastmean": True},
    "async": {"async_writes": True},
    "async+fastmean": {"async_writes": True, "fastmean": True},
}


def _levels(path: Path) -> list[np.ndarray]:
    import zarr

    group = zarr.open_group(str(path), mode="r")
    return [np.asarray(group[k][...]) for k in sorted(group.array_keys(), key=int)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workloads", default="W1,W2")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    x = np.arange(4 * 6 * 8, dtype=np.uint16).reshape(4, 6, 8) * 997
    from napari_omezarr_export.core.pyramid import downsample

    assert np.array_equal(fast_mean(x, (1, 2, 2)), downsample(x, (1, 2, 2), "mean"))
    for wl in get_workloads(args.workloads.split(","), args.quick):
        data = np.load(ensure_data(wl, in_subprocess=True))
        times: dict[str, list[float]] = {v: [] for v in VARIANTS}
        reference = None
        with tempfile.TemporaryDirectory(dir=ensure_data(wl).parent) as tmp:
            for _ in range(args.repeats):
                for name, options in VARIANTS.items():
                    out = Path(tmp) / f"{name}.ome.zarr"
                    with patched(**options):
                        t0 = time.perf_counter()
                        write_ours(data, out, wl, "equal")
                        times[name].append(time.perf_counter() - t0)
                    levels = _levels(out)
                    if reference is None:
                        reference = levels
                    elif not all(
                        np.array_equal(a, b) for a, b in zip(levels, reference, strict=True)
                    ):
                        raise AssertionError(f"{name} wrote different pixels on {wl.name}")
                    shutil.rmtree(out)
        base = statistics.median(times["current"])
        print(f"{wl.name} {wl.shape} (median of {args.repeats}, identical output checked):")
        for name, ts in times.items():
            t = statistics.median(ts)
            print(f"  {name:15s} {t:6.2f} s  x current {t / base:.3f}  runs {ts}")


if __name__ == "__main__":
    main()

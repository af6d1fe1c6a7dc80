"""How fast a 384-well plate opens, against napari-ome-zarr: ``python -m benchmarks.plate_open``.

The plate is written by ome-zarr-py through the tests' factory (``make_plate`` in
`tests/store_factories.py`): 16 rows x 24 columns, ``--fields`` fields per well (2), 2 channels,
``--levels`` levels (3), fields ``--size`` pixels square (64), NGFF 0.4.

Each measurement runs in a fresh subprocess with napari and both readers imported beforehand
(napari has them loaded when it calls a reader), ``--repeats`` times in alternation (median
reported): the reader call, ``get_reader(path)(path)``, from path to layer data. An audit hook
counts the files each reader opens and how many of them are level-0 chunks, which opening must
not read. Ratios, not absolute times, are what this machine can report: it is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .measure import ROOT
from .workloads import OUTPUT

ROWS = "ABCDEFGHIJKLMNOP"
COLUMNS = tuple(str(c) for c in range(1, 25))


def make(path: Path, fields: int, levels: int, size: int) -> Path:
    """Write the plate with the tests' factory (ome-zarr-py underneath)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from store_factories import make_plate

    plate, _ = make_plate(path, rows=ROWS, columns=COLUMNS, fields=fields, levels=levels,
                          sizes={}, size=(size, size))  # fmt: skip
    return plate


def _is_level0_chunk(path: str, plate: str) -> bool:
    parts = Path(path).relative_to(plate).parts  # row/column/field/level/chunk...
    return len(parts) >= 5 and parts[3] in ("0", "s0") and not parts[-1].startswith((".", "z"))


def worker(reader: str, plate: str) -> dict:
    """Time one reader call in this (fresh) process; count the files it opens."""
    import napari  # noqa: F401

    if reader == "ours":
        from napari_omezarr_export._napari._reader import get_reader
    else:
        from napari_ome_zarr import napari_get_reader as get_reader
    opened: list[str] = []

    def hook(event: str, args: tuple) -> None:
        if event == "open" and isinstance(args[0], str) and args[0].startswith(plate):
            opened.append(args[0])

    sys.addaudithook(hook)
    start = time.perf_counter()
    layers = get_reader(plate)(plate)
    seconds = time.perf_counter() - start
    level0 = sum(_is_level0_chunk(p, plate) for p in opened)
    return {"reader": reader, "seconds": seconds, "layers": len(layers), "files": len(opened),
            "level0_chunks": level0}  # fmt: skip


def run(reader: str, plate: Path) -> dict:
    call = f"worker({reader!r}, {str(plate)!r})"
    code = f"import json; from benchmarks.plate_open import worker; print(json.dumps({call}))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fields", type=int, default=2)
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args(argv)
    plate = make(OUTPUT / "plate_384.ome.zarr", args.fields, args.levels, args.size)
    records: dict[str, list[dict]] = {"ours": [], "napari-ome-zarr": []}
    for _ in range(args.repeats):
        for reader in records:
            records[reader].append(run(reader, plate))
    ours = statistics.median(r["seconds"] for r in records["ours"])
    lines = [
        f"384-well plate, {args.fields} fields, 2 channels, {args.levels} levels, "
        f"{args.size}x{args.size} fields; median of {args.repeats} fresh processes",
        "",
        "| reader | median s | x ours | layers | files opened | level-0 chunks read |",
        "|---|---|---|---|---|---|",
    ]
    for reader, rows in records.items():
        seconds = statistics.median(r["seconds"] for r in rows)
        last = rows[-1]
        lines.append(f"| {reader} | {seconds:.2f} | {seconds / ours:.2f} | {last['layers']} | "
                     f"{last['files']} | {last['level0_chunks']} |")  # fmt: skip
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Opening OME-Zarr over HTTP, against napari-ome-zarr: ``python -m benchmarks.remote_open``.

Three stores are written with our writer in a temporary folder: a 2-channel image with a
``cells`` label image (NGFF 0.4), the same image without labels (0.4), and the image as NGFF
0.5; ``--size`` pixels square (1024), ``--levels`` levels (3). A local `StaticHTTPServer`
(`tests/remote_servers.py`) serves the folder on 127.0.0.1 and waits ``--latency`` seconds
(0.05) before every answer, like a server across a network.

Each reader call, ``get_reader(url)(url)`` (ours) or napari-ome-zarr's
``napari_get_reader(url)(url)``, runs in a fresh subprocess with the reader imported beforehand
and napari, napari.layers, dask.array and zarr too (a running viewer has them), ``--repeats``
times (3) in alternation; the median wall time is reported. The server's log counts the
requests each call made (GET, HEAD, how many found nothing: 404) and how many were level-0
chunks (files of a ``0`` or ``s0`` array, image or labels, other than its metadata), which
opening must not read. A reader that fails is shown as ``error: <message>`` rather than
stopping the run.

Goals checked: our reader makes no more GET requests than napari-ome-zarr on each store, and
opens the image with labels in under 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .measure import ROOT
from .workloads import OUTPUT, _image_plane, _labels

STORES = {
    "0.4 + labels": "image_labels_04.ome.zarr",
    "0.4": "image_04.ome.zarr",
    "0.5": "image_05.ome.zarr",
}
PLATE = "plate"  # name prefix of the plate store (--plate)
PLATE_FIELDS = 2
READERS = ("ours", "napari-ome-zarr")
METADATA = frozenset({".zarray", ".zattrs", ".zgroup", ".zmetadata", "zarr.json"})
LEVEL0 = frozenset({"0", "s0"})
GOAL_SECONDS = 0.5


def _remote_servers():
    """`tests/remote_servers.py` (the tests' folder is not a package)."""
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import remote_servers

    return remote_servers


def make_plate_store(folder: Path, rows: int, columns: int, levels: int = 3) -> tuple[str, Path]:
    """A 0.4 plate by the tests' factory (ome-zarr-py): 2 fields per well, 2 channels, 64 px."""
    _remote_servers()  # puts tests/ on sys.path
    from store_factories import make_plate

    wells = rows * columns
    names = "ABCDEFGHIJKLMNOP"[:rows], [str(c + 1) for c in range(columns)]
    path, _ = make_plate(folder / f"plate_{wells}.ome.zarr", "0.4", rows=names[0],
                         columns=names[1], fields=PLATE_FIELDS, levels=levels,
                         size=(64, 64))  # fmt: skip
    return f"{PLATE} {wells} wells x {PLATE_FIELDS} fields", path


def plate_get_budget(wells: int, fields: int = PLATE_FIELDS) -> int:
    """The GETs our reader may make for a plate: what the README states.

    Per well: its attributes (1), and per field its attributes, its level-0 array's two
    documents and its labels group (4). For the plate: its own probe (4) and the first field's
    other levels and labels, opened in full for the mosaic's axes and channels (at most 12).
    """
    return wells * (1 + 4 * fields) + 16


def make_stores(folder: Path, size: int = 1024, levels: int = 3, seed: int = 0) -> dict[str, Path]:
    """Write the three stores into ``folder``; returns {store name: path}."""
    from napari_omezarr_export import LabelsSpec, PyramidOptions, StorageOptions, write_image

    rng = np.random.default_rng(seed)
    image = np.stack([_image_plane((size, size), rng) for _ in range(2)])
    cells = _labels((size, size), rng)
    pyramid = PyramidOptions(levels=levels)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / file for name, file in STORES.items()}
    write_image(
        image,
        paths["0.4 + labels"],
        axes="cyx",
        pyramid=pyramid,
        labels=[LabelsSpec(cells, "cells")],
        storage=StorageOptions(ngff_version="0.4"),
    )
    write_image(
        image,
        paths["0.4"],
        axes="cyx",
        pyramid=pyramid,
        storage=StorageOptions(ngff_version="0.4"),
    )
    write_image(image, paths["0.5"], axes="cyx", pyramid=pyramid,
                storage=StorageOptions(ngff_version="0.5"))  # fmt: skip
    return paths


def is_level0_chunk(path: str, store: str) -> bool:
    """Whether a URL path is a level-0 chunk of the store at URL path ``store``.

    The image's arrays are ``<store>/<level>/...``, a label image's
    ``<store>/labels/<name>/<level>/...``; NGFF level 0 is named ``0`` (or ``s0``).
    """
    prefix = "/" + store.strip("/") + "/"
    if not path.startswith(prefix):
        return False
    parts = path[len(prefix) :].strip("/").split("/")
    plate_row = parts[0].isalpha() and parts[0] != "labels"  # plate rows are letters
    if plate_row and len(parts) >= 5 and parts[2].isdigit():  # <row>/<column>/<field>/<level>/
        parts = parts[3:]
    if parts[0] == "labels":
        if len(parts) < 4:
            return False
        level, rest = parts[2], parts[3:]
    else:
        level, rest = parts[0], parts[1:]
    return level in LEVEL0 and bool(rest) and rest[-1] not in METADATA


def worker(reader: str, url: str) -> dict:
    """Time one reader call in this process; a failure is returned as ``error``."""
    # What a running napari viewer has already imported when it calls a reader (as in
    # open_speed.py); the readers' own imports for URLs (fsspec's HTTP, aiohttp) are timed.
    import dask.array  # noqa: F401
    import napari
    import napari.layers
    import napari.utils.colormaps  # noqa: F401
    import zarr  # noqa: F401

    if reader == "ours":
        from napari_omezarr_export._napari._reader import get_reader
    elif reader == "napari-ome-zarr":
        from napari_ome_zarr import napari_get_reader as get_reader
    else:
        raise ValueError(f"Unknown reader {reader!r}; use one of {READERS}.")
    start = time.perf_counter()
    try:
        function = get_reader(url)
        if function is None:
            return {"error": "get_reader returned None (no reader for this URL)"}
        layers = function(url)
    except Exception as exc:  # noqa: BLE001 - the table shows any failure
        return {"error": f"{type(exc).__name__}: {exc}".splitlines()[0][:200]}
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "layers": len(layers or ())}


def open_once(reader: str, url: str, fresh_process: bool = True, timeout: float = 300) -> dict:
    """`worker` in a fresh subprocess (or in this one); never raises for a reader's failure."""
    if not fresh_process:
        return worker(reader, url)
    code = ("import json; from benchmarks.remote_open import worker; "
            f"print(json.dumps(worker({reader!r}, {url!r})))")  # fmt: skip
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    try:
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                             text=True, timeout=timeout, env=env)  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"worker failed ({out.returncode}): {last[:200]}"}
    return json.loads(lines[-1])


def count_requests(requests: Iterable, store: str) -> dict:
    """GET, HEAD and other requests, 404 answers and level-0 chunks, from a server log."""
    requests = list(requests)
    return {
        "get": sum(r.method == "GET" for r in requests),
        "head": sum(r.method == "HEAD" for r in requests),
        "other": sum(r.method not in ("GET", "HEAD") for r in requests),
        "not_found": sum(r.status == 404 for r in requests),
        "level0_chunks": sum(is_level0_chunk(r.path, store) for r in requests),
    }


def measure(
    stores: dict[str, Path],
    *,
    readers: Iterable[str] = READERS,
    repeats: int = 3,
    latency: float = 0.05,
    fresh_process: bool = True,
) -> list[dict]:
    """Serve the stores' folder and open every store with every reader, ``repeats`` rounds.

    Parameters
    ----------
    stores : dict of str to Path
        Store name to path; all in one folder, which is served.
    readers : iterable of str
        Among ``"ours"`` and ``"napari-ome-zarr"``.
    repeats : int
        Rounds; each round opens every store with every reader in turn.
    latency : float
        Seconds the server waits before each answer.
    fresh_process : bool
        Each call in a fresh subprocess (False: in this process, for the smoke test).

    Returns
    -------
    list of dict
        One record per call: store, reader, round, url, then seconds and layers or error,
        and the request counts of `count_requests`.
    """
    readers = tuple(readers)
    roots = {path.parent for path in stores.values()}
    if len(roots) != 1:
        raise ValueError("The stores must be in one folder, which the server serves.")
    records = []
    with _remote_servers().StaticHTTPServer(roots.pop(), latency=latency) as server:
        for round_ in range(repeats):
            for name, path in stores.items():
                url = server.url_for(path.name)
                for reader in readers:
                    server.clear()
                    record = {"store": name, "reader": reader, "round": round_, "url": url}
                    record.update(open_once(reader, url, fresh_process))
                    record.update(count_requests(server.requests, path.name))
                    records.append(record)
    return records


def _span(values: list[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}–{high}"


def summarize(records: list[dict]) -> list[dict]:
    """One row per (store, reader): median seconds over the rounds that worked, counts."""
    keys = list(dict.fromkeys((r["store"], r["reader"]) for r in records))
    rows = []
    for store, reader in keys:
        runs = [r for r in records if r["store"] == store and r["reader"] == reader]
        good = [r for r in runs if "error" not in r]
        row = {"store": store, "reader": reader, "runs": len(runs), "ok": len(good)}
        if good:
            row["seconds"] = statistics.median(r["seconds"] for r in good)
            row["layers"] = good[-1]["layers"]
        errors = [r["error"] for r in runs if "error" in r]
        if errors:
            row["error"] = errors[-1]
        for key in ("get", "head", "other", "not_found", "level0_chunks"):
            row[key] = [r[key] for r in runs]
        rows.append(row)
    return rows


def _row(summary: list[dict], store: str, reader: str) -> dict | None:
    return next((r for r in summary if r["store"] == store and r["reader"] == reader), None)


def table(summary: list[dict]) -> str:
    """The markdown table: time, ratio to napari-ome-zarr, requests, level-0 chunks."""
    lines = [
        "| store | reader | median s | x napari-ome-zarr | layers | GET | HEAD | 404 "
        "| level-0 chunks |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in summary:
        if "seconds" in row:
            peer = _row(summary, row["store"], "napari-ome-zarr")
            ratio = (f"{row['seconds'] / peer['seconds']:.2f}"
                     if peer and peer.get("seconds") else "–")  # fmt: skip
            seconds, layers = f"{row['seconds']:.3f}", str(row["layers"])
            if "error" in row:
                seconds += f" ({row['ok']}/{row['runs']} ok)"
        else:
            seconds, ratio, layers = f"error: {row['error']}", "–", "–"
        counts = " | ".join(_span(row[k]) for k in ("get", "head", "not_found", "level0_chunks"))
        lines.append(f"| {row['store']} | {row['reader']} | {seconds} | {ratio} | {layers} | "
                     f"{counts} |")  # fmt: skip
    return "\n".join(lines)


def goals(summary: list[dict]) -> list[dict]:
    """The issue's goals, each ``{"goal", "store", "result": "pass"|"fail"|"n/a", "detail"}``."""
    results = []
    for store in dict.fromkeys(r["store"] for r in summary):
        ours, peer = _row(summary, store, "ours"), _row(summary, store, "napari-ome-zarr")
        if ours is None or peer is None:
            continue
        if "seconds" in ours and "seconds" in peer:
            mine, theirs = max(ours["get"]), max(peer["get"])
            result = "pass" if mine <= theirs else "fail"
            detail = f"{mine} vs {theirs}"
        else:
            result, detail = "n/a", ours.get("error", peer.get("error", ""))
        results.append({"goal": "ours GETs <= napari-ome-zarr's", "store": store,
                        "result": result, "detail": detail})  # fmt: skip
        if "labels" in store:
            if "seconds" in ours:
                result = "pass" if ours["seconds"] < GOAL_SECONDS else "fail"
                detail = f"{ours['seconds']:.3f} s"
            else:
                result, detail = "n/a", ours["error"]
            results.append({"goal": f"ours opens the image with labels in < {GOAL_SECONDS} s",
                            "store": store, "result": result, "detail": detail})  # fmt: skip
        if store.startswith(PLATE) and "seconds" in ours:
            wells = int(store.split()[1])
            budget, mine = plate_get_budget(wells), max(ours["get"])
            results.append({"goal": "ours GETs within the README's plate budget", "store": store,
                            "result": "pass" if mine <= budget else "fail",
                            "detail": f"{mine} <= {budget}"})  # fmt: skip
        if "seconds" in ours:
            level0 = max(ours["level0_chunks"])
            results.append({"goal": "ours reads no level-0 chunk", "store": store,
                            "result": "pass" if level0 == 0 else "fail",
                            "detail": f"{level0} read"})  # fmt: skip
    return results


def report(summary: list[dict], settings: dict) -> str:
    """The whole markdown report: settings, table and goals."""
    lines = [
        f"OME-Zarr over HTTP (127.0.0.1, {settings['latency']} s latency per request): "
        f"2 channels, {settings['size']}x{settings['size']}, {settings['levels']} levels; "
        f"median of {settings['repeats']} fresh processes",
        "",
        table(summary),
        "",
        "Goals:",
        "",
    ]
    lines += [f"* {g['goal']} ({g['store']}): **{g['result']}** ({g['detail']})"
              for g in goals(summary)]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--readers", default=",".join(READERS))
    parser.add_argument("--plate", default="8x12",
                        help="ROWSxCOLUMNS of the plate store, or '' for none")  # fmt: skip
    parser.add_argument("--out", type=Path, help="markdown report (default: benchmarks/output/)")
    args = parser.parse_args(argv)
    settings = {k: getattr(args, k) for k in ("repeats", "latency", "size", "levels")}
    with tempfile.TemporaryDirectory(prefix="remote-open-") as tmp:
        print("writing the stores...", file=sys.stderr)
        stores = make_stores(Path(tmp), args.size, args.levels)
        if args.plate:
            rows, columns = (int(n) for n in args.plate.lower().split("x"))
            name, path = make_plate_store(Path(tmp), rows, columns, args.levels)
            stores[name] = path
        records = measure(stores, readers=args.readers.split(","), repeats=args.repeats,
                          latency=args.latency)  # fmt: skip
    summary = summarize(records)
    text = report(summary, settings)
    print(text)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = args.out or OUTPUT / f"remote-open-{stamp}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    data = {"settings": settings, "records": records, "summary": summary,
            "goals": goals(summary)}  # fmt: skip
    out.with_suffix(".json").write_text(json.dumps(data, indent=1))
    print(f"\nsaved {out} and {out.with_suffix('.json').name}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""How fast a whole PerCell 3 experiment opens: ``python -m benchmarks.percell_open``.

The experiment is built to PerCell 3's real schema by the tests' own factory
(`tests/store_factories.py`, ``percell3_experiment``): ``--fovs`` fields of view (100 by
default) of 2 channels, ``--size`` pixels square (256), a whole-field segmentation shared by all
fields plus a cellular one per field, and per field one threshold per group (2 groups) with
its field-specific name (``thresh_group_GFP_mean_intensity_g1_GFP_<n>``), ``source_fov_id`` and
``grouping_channel``, mask and particle labels, all linked by ``fov_config`` rows.

Each measurement runs in a fresh subprocess, ``--repeats`` times (median reported):

a. ``reader``: ``get_reader(path)(path)``, with napari and our reader module imported
   beforehand (napari has them loaded when it calls a reader): time to layer data, layer count;
b. ``viewer``: in a real napari viewer under Xvfb (``xvfb-run -a``), ``viewer.open(path,
   plugin=...)`` then the first screenshot, timed from a started viewer; then the layers are
   removed and the experiment opened again in the same viewer (napari warmed up: the first
   Labels layer of a process compiles napari's numba colour mapping).

A one-field experiment is measured the same way, as a reference: what any open costs in a
fresh napari (imports, the first Labels layer), whatever the experiment's size.
``--baseline REV`` runs the same workers on the package as it was at git revision ``REV``
(extracted with ``git archive``, the working tree untouched), in alternation with the current
code, to measure the change in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from .measure import ROOT
from .workloads import OUTPUT

PLUGIN = "napari-omezarr-export"


def make_experiment(folder: Path, fovs: int, size: int) -> Path:
    """Build the experiment with the tests' factory; return the ``.percell`` folder."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "tests"))
    from store_factories import percell3_experiment

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return percell3_experiment(folder, np.random.default_rng(0), n_fovs=fovs, size=size)


# --- the workers ------------------------------------------------------------------------------


def worker_reader(path: str) -> dict:
    # What a running viewer has loaded when it calls a reader.
    import napari.layers  # noqa: F401

    from napari_omezarr_export._napari._reader import get_reader

    t0 = time.perf_counter()
    layers = get_reader(path)(path)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    get_reader(path)(path)
    return {
        "open_s": first,
        "open_again_s": time.perf_counter() - t0,
        "layers": len(layers),
        "names": [kwargs["name"] for _, kwargs, _ in layers],
        "shapes": [list(getattr(data, "shape", None) or data[0].shape) for data, _, _ in layers],
    }


def worker_viewer(path: str) -> dict:
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=True)
    QApplication.processEvents()
    t0 = time.perf_counter()
    layers = viewer.open(path, plugin=PLUGIN)
    t_open = time.perf_counter() - t0
    viewer.screenshot(canvas_only=True)
    t_shot = time.perf_counter() - t0
    viewer.layers.clear()
    t0 = time.perf_counter()
    viewer.open(path, plugin=PLUGIN)
    viewer.screenshot(canvas_only=True)
    again = time.perf_counter() - t0
    result = {
        "open_call_s": t_open,
        "first_screenshot_s": t_shot,
        "again_screenshot_s": again,
        "layers": len(layers),
        "region_steps": int(viewer.dims.nsteps[0]),
    }
    viewer.close()
    return result


def worker(argv: list[str]) -> None:
    mode, path = argv
    result = worker_reader(path) if mode == "reader" else worker_viewer(path)
    print("RESULT " + json.dumps(result), flush=True)
    os._exit(0)  # skip interpreter teardown (Qt, dask threads): nothing more to measure


# --- the parent -------------------------------------------------------------------------------


def baseline_source(rev: str, into: Path) -> Path:
    """The package's ``src`` folder at ``rev``, extracted into ``into`` (read-only on git)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, "src"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    tar_path = into / "src.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def run_worker(mode: str, path: Path, src: Path | None, code: str, timeout: float = 900.0) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.percell_open", "--worker", mode, str(path)]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    if src is not None:  # the baseline's package first on the path (same napari, same deps)
        env["PYTHONPATH"] = os.pathsep.join([str(src), str(ROOT)])
    if mode == "viewer":
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24", *cmd]
        env.pop("QT_QPA_PLATFORM", None)
    record: dict = {"mode": mode, "code": code}
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if lines:
            record.update(json.loads(lines[-1][len("RESULT ") :]))
        else:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-4:]
            record["error"] = f"exit {proc.returncode}: " + " | ".join(tail)[-500:]
    except subprocess.TimeoutExpired:
        record["error"] = f"timed out after {timeout:.0f} s"
    return record


ROWS = [
    ("reader", "open_s", "reader call to layer data, s"),
    ("reader", "open_again_s", "same, second call in the process, s"),
    ("viewer", "first_screenshot_s", "viewer.open + first screenshot (fresh napari), s"),
    ("viewer", "open_call_s", "viewer.open alone (fresh napari), s"),
    ("viewer", "again_screenshot_s", "viewer.open + screenshot again (napari warmed up), s"),
    ("reader", "layers", "layers"),
]


def _cell(records: list[dict], mode: str, code: str, key: str) -> str:
    values = [r[key] for r in records if r["mode"] == mode and r["code"] == code and key in r]
    if not values:
        return ""
    median = statistics.median(values)
    runs = ", ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in values)
    return f"{median:.2f} ({runs})" if isinstance(median, float) else f"{median} ({runs})"


def report(records: list[dict], args: argparse.Namespace, built_s: float) -> str:
    codes = list(dict.fromkeys(r["code"] for r in records))
    head = " | ".join(codes)
    lines = [
        f"### PerCell 3 experiment: {args.fovs} fields of {args.size}x{args.size}, 2 channels, "
        f"2 threshold groups (built in {built_s:.1f} s); one field as a reference",
        "",
        f"nproc {os.cpu_count()}, Python {sys.version.split()[0]}, load average "
        f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())}; median (all runs)",
        "",
        f"| measurement | {head} |",
        "|---|" + "---:|" * len(codes),
    ]
    for mode, key, label in ROWS:
        cells = [_cell(records, mode, code, key) for code in codes]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    names = next((r["names"] for r in records if r.get("code") == "current" and "names" in r), [])
    lines += ["", f"Layers (current): {', '.join(names)}"]
    lines += [f"\nerror: {r['mode']} {r['code']}: {r['error']}" for r in records if "error" in r]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        worker(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fovs", type=int, default=100)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", default="reader,viewer")
    parser.add_argument("--baseline", default=None, help="git revision to compare with")
    parser.add_argument("--out", default=None, help="markdown report path")
    args = parser.parse_args(argv)
    (OUTPUT / "stores").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="percell-open-", dir=OUTPUT / "stores"))
    try:
        t0 = time.perf_counter()
        path = make_experiment(work / "experiment", args.fovs, args.size)
        built = time.perf_counter() - t0
        print(f"experiment built in {built:.1f} s: {path}", file=sys.stderr)
        one = make_experiment(work / "one", 1, args.size)
        variants = [("current", path, None), ("current, 1 field", one, None)]
        if args.baseline:
            src = baseline_source(args.baseline, work)
            variants.insert(1, (f"baseline {args.baseline}", path, src))
        records = []
        for rnd in range(args.repeats):
            for mode in args.modes.split(","):
                for code, where, src in variants if rnd % 2 == 0 else variants[::-1]:
                    rec = run_worker(mode, where, src, code)
                    records.append(rec)
                    key = "open_s" if mode == "reader" else "first_screenshot_s"
                    print(f"  [{rnd + 1}/{args.repeats}] {mode:6s} {code:20s} "
                          f"{rec.get(key, float('nan')):.2f} s, {rec.get('layers')} layers "
                          f"{rec.get('error', '')}", file=sys.stderr)  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = report(records, args, built)
    print(text)
    out = Path(args.out or OUTPUT / f"percell-open-{time.strftime('%Y%m%d-%H%M%S')}.md")
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()

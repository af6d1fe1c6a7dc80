"""Run one write in a fresh subprocess; measure its wall time and peak RSS; check its output.

The parent calls `run_one`, which starts ``python -m benchmarks.measure ...`` (the worker).
The worker imports the writer's libraries, loads the input ``.npy`` (RSS is read there: the
"loaded" baseline), times only the write call with ``time.perf_counter``, then reads the peak
RSS (``VmHWM``; ``getrusage(RUSAGE_SELF).ru_maxrss`` is recorded too, see `_status_mib`),
then checks the output (outside the timing): level 0 must equal the input exactly, and every
OME group must pass ``yaozarrs`` and ``ome-zarr-models``. It prints one JSON line; the
parent deletes the store.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .workloads import OUTPUT, Workload

ROOT = Path(__file__).resolve().parent.parent
WARM_IMPORTS = {
    "ours": ["napari_omezarr_export"],
    "ours, 1 level": ["napari_omezarr_export"],
    "ome-zarr-py": ["dask.array", "ome_zarr.writer", "ome_zarr.scale", "skimage.transform"],
    "bioio-ome-zarr": ["dask.array", "bioio_ome_zarr.writers", "skimage.transform"],
    "ngff-zarr": ["dask.array", "ngff_zarr"],
    "limit": ["numcodecs", "napari_omezarr_export.core.write.pyramid"],
}


def cpu_seconds() -> float:
    """User and system CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def error_line(stderr: str) -> str:
    """A failed subprocess's error: the first one raised is the cause, the last the symptom."""
    errors = [
        line for line in stderr.splitlines() if re.match(r"^[\w.]+(Error|Exception): ", line)
    ]
    if not errors:
        return (stderr.strip().splitlines() or ["?"])[-1][:300]
    cause = errors[0] if errors[0] == errors[-1] else f"{errors[0]} (then {errors[-1]})"
    return cause[:300]


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _status_mib(field: str) -> float | None:
    """``VmHWM`` (peak) or ``VmRSS`` (current) of this process, from /proc, in MiB.

    ``ru_maxrss`` alone can mislead: Linux carries the pre-exec address space's high-water
    mark into the new program, and with vfork/posix_spawn that is the *parent's* peak. VmHWM
    belongs to the worker's own address space only.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _peak_mib() -> float:
    hwm = _status_mib("VmHWM")
    return hwm if hwm is not None else _maxrss_mib()


def disk_bytes(path: Path) -> int:
    """Total size of the files under ``path`` (data and metadata)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --- checks ----------------------------------------------------------------------------------


def _ome_attrs(group_dir: Path) -> tuple[str, dict, dict] | None:
    """(version, document to validate, attributes) of an OME group, else None."""
    zattrs, zarr_json = group_dir / ".zattrs", group_dir / "zarr.json"
    if zattrs.is_file() and (group_dir / ".zgroup").is_file():
        doc = json.loads(zattrs.read_text())
        return "0.4", doc, doc
    if zarr_json.is_file():
        doc = json.loads(zarr_json.read_text())
        if doc.get("node_type") == "group" and "ome" in doc.get("attributes", {}):
            return "0.5", doc, doc["attributes"]["ome"]
    return None


def validate_metadata(path: Path) -> int:
    """Validate every OME group at or below ``path``; return how many were checked."""
    import ome_zarr_models
    import yaozarrs

    checked = 0
    for group_dir in [path, *sorted(p for p in path.rglob("*") if p.is_dir())]:
        found = _ome_attrs(group_dir)
        if found is None:
            continue
        version, doc, attrs = found
        if not ({"multiscales", "labels"} & set(attrs)):
            continue
        yaozarrs.validate_ome_json(json.dumps(doc))
        ome_zarr_models.open_ome_zarr(group_dir, version=version)
        checked += 1
    if not checked:
        raise AssertionError(f"no OME-Zarr group found under {path}")
    return checked


def level_paths(group: Path) -> list[str]:
    found = _ome_attrs(group)
    if found is None:
        raise AssertionError(f"{group} is not an OME-Zarr multiscales group")
    return [d["path"] for d in found[2]["multiscales"][0]["datasets"]]


def check_store(group: Path, data: np.ndarray) -> dict:
    """Check level 0 against ``data`` pixel for pixel, and the metadata; raise if wrong."""
    import zarr

    paths = level_paths(group)
    level0 = zarr.open_array(str(group / paths[0]), mode="r")
    if tuple(level0.shape) != data.shape or level0.dtype != data.dtype:
        raise AssertionError(
            f"level 0 is {level0.shape} {level0.dtype}, input {data.shape} {data.dtype}"
        )
    values = level0[...]
    if not np.array_equal(values, data):
        wrong = int(np.count_nonzero(values != data))
        raise AssertionError(f"level 0 differs from the input in {wrong} pixels")
    del values
    groups = validate_metadata(group)
    levels = [zarr.open_array(str(group / p), mode="r") for p in paths]
    meta = level0.metadata.to_dict()
    codec = meta.get("compressor") or (meta.get("codecs") or [{}])[-1]
    return {
        "levels": len(paths),
        "groups_validated": groups,
        "zarr_format": int(meta.get("zarr_format", 0)),
        "chunks": list(level0.chunks),
        "shards": list(level0.shards) if getattr(level0, "shards", None) else None,
        "codec": _codec_name(codec),
        "raw_level_bytes": sum(a.nbytes for a in levels),
    }


def _codec_name(codec: dict | None) -> str:
    if not codec:
        return "none"
    config = codec.get("configuration", codec)
    name = codec.get("id") or codec.get("name")
    if name == "sharding_indexed":
        inner = [c for c in config.get("codecs", []) if c.get("name") != "bytes"]
        return "shard[" + (_codec_name(inner[-1]) if inner else "none") + "]"
    if name == "blosc":
        shuffle = {0: "noshuffle", 1: "shuffle", 2: "bitshuffle"}.get(
            config.get("shuffle"), config.get("shuffle")
        )
        blocks = config.get("blocksize") or 0
        size = f"-{blocks // 1024}KiB" if blocks else ""
        return f"blosc-{config.get('cname')}-{config.get('clevel')}-{shuffle}{size}"
    if "level" in config:
        return f"{name}-{config['level']}"
    return str(name)


# --- the worker ------------------------------------------------------------------------------


def worker(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writer", required=True)
    parser.add_argument("--workload", required=True, help="Workload as JSON")
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--settings", default="equal")
    parser.add_argument("--no-check", action="store_true")
    parser.add_argument("--profile", default=None, help="write cProfile stats here")
    args = parser.parse_args(argv)

    from . import writers

    fields = json.loads(args.workload)
    wl = Workload(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
    for module in WARM_IMPORTS.get(args.writer, []):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    rss_imported = _peak_mib()
    data = np.load(args.data)
    rss_loaded = _peak_mib()
    out = Path(args.out)
    result: dict = {
        "rss_imported_mib": rss_imported,
        "rss_loaded_mib": rss_loaded,
        "ru_maxrss_loaded_mib": _maxrss_mib(),
    }

    if args.writer == "limit":
        levels = writers.limit_levels(data, wl)  # untimed: the limit is compress + write
        action = lambda: writers.compress_and_write(levels, out, wl.chunk_shape)  # noqa: E731
    else:
        write = writers.WRITERS[args.writer]
        action = lambda: write(data, out, wl, args.settings)  # noqa: E731

    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t0 = time.perf_counter()
    store = action()
    wall = time.perf_counter() - t0
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    result["wall_s"] = wall
    result["load_after"] = os.getloadavg()[0]
    result["rss_peak_mib"] = _peak_mib()
    result["ru_maxrss_peak_mib"] = _maxrss_mib()
    result["disk_bytes"] = disk_bytes(out)
    if args.writer == "limit":
        result["check"] = "n/a"
        result["levels"] = wl.levels
    elif args.no_check:
        result["check"] = "skipped"
    else:
        try:
            result.update(check_store(Path(store), data))
            result["check"] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure is reported, not raised
            result["check"] = f"FAILED: {type(exc).__name__}: {exc}"[:300]
    print("RESULT " + json.dumps(result), flush=True)


# --- the parent side -------------------------------------------------------------------------


def run_one(
    writer: str,
    wl: Workload,
    data_path: Path,
    settings: str = "equal",
    *,
    check: bool = True,
    timeout: float = 1800.0,
    workdir: Path | None = None,
    profile: Path | None = None,
) -> dict:
    """Run one write in a fresh subprocess; return its measurements (or its error)."""
    workdir = workdir or OUTPUT / "stores"
    workdir.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", f"{writer}-{settings}")
    out = workdir / f"{wl.name}-{slug}-{os.getpid()}.ome.zarr"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.measure",
        "--writer",
        writer,
        "--workload",
        json.dumps(dataclasses.asdict(wl)),
        "--data",
        str(data_path),
        "--out",
        str(out),
        "--settings",
        settings,
    ]
    if not check:
        cmd.append("--no-check")
    if profile is not None:
        cmd += ["--profile", str(profile)]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    record = {"writer": writer, "workload": wl.name, "settings": settings}
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            record["error"] = f"exit {proc.returncode}: " + " | ".join(tail)[-400:]
        else:
            record.update(json.loads(lines[-1][len("RESULT ") :]))
    except subprocess.TimeoutExpired:
        record["error"] = f"timed out after {timeout:.0f} s"
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return record


def command_seconds(code: str, repeats: int = 5) -> list[float]:
    """Wall times of ``python -c code`` in fresh interpreters."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
        times.append(time.perf_counter() - t0)
    return times


if __name__ == "__main__":
    worker()

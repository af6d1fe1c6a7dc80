"""Markdown tables from the records `benchmarks.measure.run_one` returns."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from .workloads import Workload
from .writers import METHODS, PEERS


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def summarize(records: list[dict]) -> dict[str, dict]:
    """Per writer: median wall time and the other measurements, or the failure."""
    out: dict[str, dict] = {}
    for writer in dict.fromkeys(r["writer"] for r in records):
        runs = [r for r in records if r["writer"] == writer]
        errors = [r["error"] for r in runs if "error" in r]
        failed = [r["check"] for r in runs if str(r.get("check", "")).startswith("FAILED")]
        good = [r for r in runs if "wall_s" in r]
        summary: dict = {"runs": len(runs), "good": len(good)}
        if errors or failed or not good:
            summary["failed"] = (errors + failed + ["no run"])[0]
        if good:
            times = [r["wall_s"] for r in good]
            summary.update(
                median_s=statistics.median(times),
                min_s=min(times),
                max_s=max(times),
                rss_loaded=max(r["rss_loaded_mib"] for r in good),
                rss_peak=max(r["rss_peak_mib"] for r in good),
                disk=statistics.median(r["disk_bytes"] for r in good),
            )
            last = good[-1]
            for key in ("levels", "zarr_format", "chunks", "codec", "check", "raw_level_bytes"):
                summary[key] = last.get(key)
        out[writer] = summary
    return out


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "–" if x is None else format(x, spec)


def fastest_peer(summary: dict[str, dict]) -> str | None:
    peers = [w for w in PEERS if w in summary and "failed" not in summary[w]]
    return min(peers, key=lambda w: summary[w]["median_s"]) if peers else None


def equal_table(wl: Workload, summary: dict[str, dict]) -> str:
    """The equal-settings table of one workload."""
    best = fastest_peer(summary)
    best_s = summary[best]["median_s"] if best else None
    limit_s = summary.get("limit", {}).get("median_s")
    rows = []
    for writer, s in summary.items():
        if "median_s" not in s:
            rows.append([writer, "–", "–", "–", "–", "–", "–", "–", "–", s["failed"], "–"])
            continue
        t = s["median_s"]
        method = METHODS.get(writer, ("", ""))[1 if wl.kind == "labels" else 0]
        rows.append(
            [
                f"**{writer}**" if writer.startswith("ours") else writer,
                f"{t:.2f} ({s['min_s']:.2f}–{s['max_s']:.2f})",
                _fmt(t / best_s if best_s else None),
                _fmt(t / limit_s if limit_s else None),
                f"{wl.nbytes / 1e6 / t:.0f}",
                f"{s['rss_loaded']:.0f}",
                f"{s['rss_peak']:.0f}",
                f"{s['rss_peak'] - s['rss_loaded']:.0f}",
                f"{s['disk'] / 1e6:.1f}",
                s.get("failed") or s.get("check"),
                method,
            ]
        )
    header = [
        "writer",
        "median s (min–max)",
        f"× fastest peer ({best})",
        "× limit",
        "MB/s raw",
        "RSS loaded MiB",
        "RSS peak MiB",
        "writer overhead MiB",
        "disk MB",
        "check",
        "downsampling",
    ]
    return _table(header, rows)


def defaults_table(wl: Workload, summary: dict[str, dict]) -> str:
    """Defaults against defaults: time, levels, format, codec, compression ratio."""
    ours = summary.get("ours", {}).get("median_s")
    rows = []
    for writer, s in summary.items():
        if "median_s" not in s:
            rows.append([writer, *["–"] * 10, s["failed"]])
            continue
        t = s["median_s"]
        rows.append(
            [
                f"**{writer}**" if writer.startswith("ours") else writer,
                f"{t:.2f}",
                _fmt(t / ours if ours else None),
                s.get("levels"),
                f"v{s.get('zarr_format')}",
                "x".join(str(c) for c in s.get("chunks") or []),
                s.get("codec"),
                f"{wl.nbytes / s['disk']:.2f}",
                _fmt(s["raw_level_bytes"] / s["disk"] if s.get("raw_level_bytes") else None),
                f"{s['disk'] / 1e6:.1f}",
                f"{s['rss_peak'] - s['rss_loaded']:.0f}",
                s.get("failed") or s.get("check"),
            ]
        )
    header = [
        "writer",
        "median s",
        "× ours",
        "levels",
        "zarr",
        "chunks",
        "codec",
        "input / disk",
        "all levels / disk",
        "disk MB",
        "writer overhead MiB",
        "check",
    ]
    return _table(header, rows)


def ratios_line(wl: Workload, summary: dict[str, dict]) -> str:
    """One sentence with the headline ratios of a workload."""
    ours, best = summary.get("ours", {}), fastest_peer(summary)
    limit = summary.get("limit", {})
    if "median_s" not in ours or best is None:
        return f"{wl.name}: ratios unavailable (ours or every peer failed)."
    peer = summary[best]
    parts = [
        f"{wl.name}: ours/{best} = {ours['median_s'] / peer['median_s']:.2f}",
    ]
    if "median_s" in limit:
        parts.append(f"ours/limit = {ours['median_s'] / limit['median_s']:.2f}")
    parts.append(
        f"writer RSS overhead ours {ours['rss_peak'] - ours['rss_loaded']:.0f} MiB vs "
        f"{best} {peer['rss_peak'] - peer['rss_loaded']:.0f} MiB "
        f"(peak {ours['rss_peak']:.0f} vs {peer['rss_peak']:.0f} MiB)"
    )
    return ", ".join(parts) + "."


def codec_table(rows: list[dict]) -> str:
    base = next((r for r in rows if r.get("default")), rows[0])
    out = []
    for r in rows:
        out.append(
            [
                f"**{r['name']}**" if r.get("default") else r["name"],
                f"{r['ratio']:.3f}",
                f"{r['ratio'] / base['ratio']:.3f}",
                f"{r['compress_mbs']:.0f}",
                f"{r['compress_s'] / base['compress_s']:.2f}",
                f"{r['decompress_mbs']:.0f}",
            ]
        )
    header = [
        "codec",
        "compression ratio",
        "ratio × current default",
        "compress MB/s (1 thread)",
        "compress time × current default",
        "decompress MB/s (1 thread)",
    ]
    return _table(header, out)


def import_table(result: dict) -> str:
    rows = [
        ["python -c 'import zarr'", f"{result['zarr']:.3f}"],
        ["python -c 'import zarr, napari_omezarr_export'", f"{result['ours']:.3f}"],
        ["difference (must be < 0.3 s)", f"{result['ours'] - result['zarr']:.3f}"],
    ]
    return _table(["command", "median s of 5"], rows)

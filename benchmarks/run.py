#!/usr/bin/env python
"""Run the kimi-jupyter benchmarks, print the table and write benchmarks/results.json.

    python benchmarks/run.py                 # everything, full size (~15 min)
    python benchmarks/run.py --quick         # smaller streams, fewer runs (~3 min)
    python benchmarks/run.py --only load,ttft --runs 3
    python benchmarks/run.py --no-peer       # skip jupyter-ai-magics (no install)

See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import MEASUREMENTS  # noqa: E402
from benchmarks.common import Row, Section  # noqa: E402


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if unit == "×" or abs(value) >= 100:
        text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".rstrip() if unit not in ("×", "%") else f"{text}{unit}"


def _met(row: Row) -> str:
    return {True: "yes", False: "NO", None: ""}[row.met]


def table(sections: list[Section]) -> str:
    lines = []
    header = ("figure", "value", "baseline", "ratio", "target", "met")
    for section in sections:
        rows = [(r.figure, _fmt(r.value, r.unit),
                 f"{r.baseline}: {_fmt(r.baseline_value, r.unit)}" if r.baseline else "",
                 _fmt(r.ratio, "×") if r.ratio is not None else "", r.target or "", _met(r)) for r in section.rows]
        widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
        lines.append(f"\n## {section.title}")
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        lines.append("  ".join("-" * w for w in widths))
        for row, r in zip(rows, section.rows):
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
            if r.note:
                lines.append(f"    ↳ {r.note}")
        if section.details.get("error"):
            lines.append(f"    ERROR: {section.details['error'].splitlines()[-1]}")
    return "\n".join(lines)


def _meta(size: str) -> dict[str, object]:
    import importlib.metadata as md

    def ver(name: str) -> str | None:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    dirty = subprocess.run(["git", "status", "--porcelain", "kimi_jupyter"], capture_output=True, text=True, cwd=ROOT)
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "size": size,
        "git": (commit.stdout.strip() or None, bool(dirty.stdout.strip())),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": __import__("os").cpu_count(),
        "versions": {p: ver(p) for p in ("ipython", "ipykernel", "ipywidgets", "jupyter_client", "openai", "kimi-jupyter")},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller streams and fewer runs")
    parser.add_argument("--tiny", action="store_true", help="smoke-test sizes (what the tests run)")
    parser.add_argument("--only", action="append", default=[],
                        help=f"comma-separated measurements to run: {', '.join(MEASUREMENTS)}")
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (the median is reported)")
    parser.add_argument("--no-peer", action="store_true", help="don't install or measure jupyter-ai-magics")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results.json", help="where to write results")
    args = parser.parse_args(argv)

    size = "tiny" if args.tiny else "quick" if args.quick else "full"
    names = [n.strip() for chunk in args.only for n in chunk.split(",") if n.strip()] or list(MEASUREMENTS)
    unknown = [n for n in names if n not in MEASUREMENTS]
    if unknown:
        parser.error(f"unknown measurement(s) {unknown}; choose from {', '.join(MEASUREMENTS)}")

    sections: list[Section] = []
    for name in names:
        print(f"[{name}] running ({size})…", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        module = importlib.import_module(f"benchmarks.{name}")
        try:
            section = module.measure(size=size, runs=args.runs, peer=not args.no_peer)
        except Exception:  # noqa: BLE001 - one broken measurement must not lose the others
            section = Section(name, f"{name}: failed", details={"error": traceback.format_exc()})
            print(traceback.format_exc(), file=sys.stderr)
        section.details["seconds"] = round(time.perf_counter() - t0, 1)
        sections.append(section)
        print(f"[{name}] done in {section.details['seconds']} s", file=sys.stderr, flush=True)

    print(table(sections))
    result = {"meta": _meta(size), "sections": [s.to_json() for s in sections]}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"\nwrote {args.json}")
    return 1 if any(s.details.get("error") for s in sections) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Load time: what `%load_ext kimi_jupyter` adds to a fresh IPython, against bare IPython
and against `%load_ext jupyter_ai_magics`.

Each run is a fresh `python -c` process that builds an IPython `InteractiveShell` (the
base class of the kernel's and the terminal's shells) and then loads the extension.
Two figures per run: the in-process time of the `load_ext` call alone (precise), and
the whole process's wall time (what a user waits for), against the same script with no
extension. Runs of the variants are interleaved so machine noise hits them alike.
`-X importtime` then says which modules the load imports.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from typing import Any

from . import peer as peer_mod
from .common import REPO, Row, Section, log, median, pick, ratio

SIZES = {
    "full": {"runs": 15, "peer_runs": 7},
    "quick": {"runs": 5, "peer_runs": 3},
    "tiny": {"runs": 1, "peer_runs": 0},
}
TARGET_MS = 50.0
TARGET_PEER_RATIO = 40.0
HEAVY = ("openai", "httpx", "pydantic", "anyio", "ipywidgets", "matplotlib", "numpy", "pandas", "IPython.display")

SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
t1 = time.perf_counter()
n0 = len(sys.modules)
if sys.argv[1] != "-":
    ip.run_line_magic("load_ext", sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"ipython_s": t1 - t0, "load_s": t2 - t1, "new_modules": len(sys.modules) - n0}))
"""


def _env() -> dict[str, str]:
    """A user's environment: .pyc files are written (pip compiles them at install time).

    With PYTHONDONTWRITEBYTECODE=1 and an editable install, every start would compile
    kimi_jupyter's sources again (about 10 ms more), which no installed user sees.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _once(python: str, ext: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = subprocess.run([python, "-c", SCRIPT, ext], capture_output=True, text=True, cwd=REPO, timeout=300,
                          env=_env())
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{python} -c … {ext} failed: {proc.stderr[-800:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall_s"] = wall
    return out


def _series(python: str, ext: str, runs: int) -> dict[str, list[Any]]:
    """Interleaved runs of bare IPython and IPython + `ext`."""
    _once(python, "-")  # warm the OS file cache and write .pyc files, as pip install would have
    _once(python, ext)
    bare: list[dict[str, Any]] = []
    loaded: list[dict[str, Any]] = []
    for _ in range(runs):
        bare.append(_once(python, "-"))
        loaded.append(_once(python, ext))
    return {"bare": bare, "loaded": loaded}


_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def importtime(python: str, ext: str) -> dict[str, Any]:
    """Modules that `%load_ext ext` imports (beyond bare IPython), from `-X importtime`."""

    def modules(which: str) -> dict[str, tuple[int, int]]:
        proc = subprocess.run([python, "-X", "importtime", "-c", SCRIPT, which], capture_output=True, text=True,
                              cwd=REPO, timeout=300, env=_env())
        found: dict[str, tuple[int, int]] = {}
        for line in proc.stderr.splitlines():
            m = _LINE.match(line)
            if m:
                found[m.group(4)] = (int(m.group(1)), int(m.group(2)))
        return found

    bare, loaded = modules("-"), modules(ext)
    new = {name: t for name, t in loaded.items() if name not in bare}
    by_package: dict[str, int] = {}
    for name, (self_us, _) in new.items():
        top = name.split(".")[0]
        by_package[top] = by_package.get(top, 0) + self_us
    top_self = sorted(new.items(), key=lambda kv: -kv[1][0])[:10]
    heavy = sorted(n for n in new if any(n == h or n.startswith(h + ".") for h in HEAVY))
    return {
        "modules_imported": len(new),
        "import_self_ms_total": round(sum(s for s, _ in new.values()) / 1000, 2),
        "self_ms_by_package": {k: round(v / 1000, 2) for k, v in sorted(by_package.items(), key=lambda kv: -kv[1])},
        "top_modules_self_ms": {n: round(s / 1000, 2) for n, (s, _) in top_self},
        "heavy_modules": heavy,
    }


def measure(size: str = "full", runs: int | None = None, peer: bool = True) -> Section:
    cfg = pick(size, SIZES)
    runs = runs or cfg["runs"]
    section = Section("load", "Load: %load_ext in a fresh IPython process")
    py = sys.executable

    log(f"load: {runs} interleaved runs of bare IPython vs + %load_ext kimi_jupyter")
    kimi = _series(py, "kimi_jupyter", runs)
    bare_start = median(r["ipython_s"] for r in kimi["bare"])
    kimi_load = median(r["load_s"] for r in kimi["loaded"])
    bare_wall = median(r["wall_s"] for r in kimi["bare"])
    kimi_wall = median(r["wall_s"] for r in kimi["loaded"])
    wall_added = kimi_wall - bare_wall
    ms = 1000.0
    section.rows.append(Row(
        "%load_ext kimi_jupyter, in-process", kimi_load * ms, "ms", "bare IPython shell start", bare_start * ms,
        ratio(kimi_load, bare_start), f"< {TARGET_MS:g} ms", kimi_load * ms < TARGET_MS,
    ))
    section.rows.append(Row(
        "python + IPython + %load_ext kimi_jupyter, process wall", kimi_wall * ms, "ms",
        "same without the extension", bare_wall * ms, ratio(kimi_wall, bare_wall),
        f"added < {TARGET_MS:g} ms", wall_added * ms < TARGET_MS, note=f"added {wall_added * ms:.1f} ms",
    ))
    section.details["kimi"] = {"runs": runs, "series": kimi, "added_wall_ms": wall_added * ms}
    section.details["kimi_importtime"] = importtime(py, "kimi_jupyter")

    peer_py, peer_desc = peer_mod.ensure(install=peer) if peer and cfg["peer_runs"] else (None, "not measured")
    section.details["peer"] = peer_desc
    if peer_py is None:
        section.rows.append(Row("%load_ext jupyter_ai_magics, in-process", None, "ms", "kimi_jupyter", kimi_load * ms,
                                None, f"≥ {TARGET_PEER_RATIO:g}× kimi", None, note=peer_desc))
        return section
    peer_runs = min(runs, cfg["peer_runs"])
    log(f"load: {peer_runs} interleaved runs of bare IPython vs + %load_ext jupyter_ai_magics ({peer_desc})")
    ai = _series(str(peer_py), "jupyter_ai_magics", peer_runs)
    ai_load = median(r["load_s"] for r in ai["loaded"])
    ai_wall_added = median(r["wall_s"] for r in ai["loaded"]) - median(r["wall_s"] for r in ai["bare"])
    peer_ratio = ratio(ai_load, kimi_load)
    section.rows.append(Row(
        "%load_ext jupyter_ai_magics, in-process", ai_load * ms, "ms", "%load_ext kimi_jupyter", kimi_load * ms,
        peer_ratio, f"≥ {TARGET_PEER_RATIO:g}× kimi", peer_ratio is not None and peer_ratio >= TARGET_PEER_RATIO,
        note=f"{peer_desc}; process wall added {ai_wall_added * ms:.0f} ms",
    ))
    section.details["peer_series"] = ai
    section.details["peer_importtime"] = {
        k: v for k, v in importtime(str(peer_py), "jupyter_ai_magics").items() if k != "top_modules_self_ms"
    }
    return section


def _main() -> None:  # pragma: no cover - python -m benchmarks.load
    print(json.dumps(measure("quick").to_json(), indent=1, default=str))


if __name__ == "__main__":
    _main()

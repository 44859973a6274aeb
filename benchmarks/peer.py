"""The peer: jupyter-ai-magics (`%load_ext jupyter_ai_magics`, `%%ai`), in its own virtualenv.

Installed from PyPI on first use into `benchmarks/.peer-venv` (gitignored), with
langchain-openai for its OpenAI-compatible provider and ipykernel for a kernel.
If it can't be installed, the peer's figures say "not measured".
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PEER_DIR = Path(__file__).resolve().parent / ".peer-venv"
PACKAGES = ("jupyter-ai-magics", "langchain-openai", "ipykernel")
_MARKER = PEER_DIR / ".kimi-bench-installed"


def python_path() -> Path:
    return PEER_DIR / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def version(py: Path) -> str | None:
    proc = subprocess.run(
        [str(py), "-c", "import importlib.metadata as m; print(m.version('jupyter-ai-magics'))"],
        capture_output=True, text=True,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def ensure(install: bool = True) -> tuple[Path | None, str]:
    """(python of the peer venv, description); (None, why) when it isn't available.

    `install=False` never touches the network (the tests use that).
    """
    py = python_path()
    if _MARKER.exists() and py.exists():
        ver = version(py)
        if ver:
            return py, f"jupyter-ai-magics {ver}"
    if not install:
        return None, "not measured: peer venv not installed (python benchmarks/run.py installs it)"
    print(f"  · installing the peer into {PEER_DIR} (first run only): pip install {' '.join(PACKAGES)}",
          file=sys.stderr, flush=True)
    try:
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(PEER_DIR)], check=True, capture_output=True, text=True)
        proc = subprocess.run([str(py), "-m", "pip", "install", "-q", *PACKAGES], capture_output=True, text=True,
                              timeout=1800)
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"not measured: could not create the peer venv ({exc})"
    if proc.returncode != 0:
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("ERROR")] or proc.stderr.splitlines()[-1:]
        return None, f"not measured: pip install failed ({'; '.join(errors)[:300]})"
    ver = version(py)
    if not ver:
        return None, "not measured: jupyter-ai-magics installed but not importable"
    _MARKER.write_text(ver + "\n")
    return py, f"jupyter-ai-magics {ver}"

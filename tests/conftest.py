"""Shared helpers: run notebooks in real kernels against the loopback server."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

import nbformat
import pytest

from kimi_jupyter.testing.pytest_plugin import API_KEY

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def make_notebook(cells: list[str]) -> Any:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    return nb


def run_notebook(cells: list[str], tmp_path: Path, *, timeout: int = 60, allow_errors: bool = True) -> Any:
    """Execute cells in a fresh kernel (nbclient), save to disk, return the re-read notebook.

    Reading it back from disk checks what a user would find in the saved file,
    not what the kernel happened to keep in memory.
    """
    from kimi_jupyter.testing.kernel import notebook_client  # nbclient, hardened against missed replies

    nb = make_notebook(cells)
    notebook_client(nb, tmp_path, timeout=timeout, allow_errors=allow_errors).execute()
    path = tmp_path / "executed.ipynb"
    nbformat.write(nb, path)
    saved = nbformat.read(path, as_version=4)
    nbformat.validate(saved)
    return saved


def output_text(cell: Any, mimes: tuple[str, ...] = ("text/html", "text/plain", "text/markdown")) -> str:
    """Everything a reader sees in a cell's saved outputs, ANSI codes removed.

    Answers are read from `text/plain`, their markdown source (the `text/markdown`
    beside it is the same answer rendered into one sanitized HTML block).

    Stream text is joined as written (one print may arrive in two messages);
    other outputs are separated by a newline.
    """
    text = ""
    for out in cell.get("outputs", []):
        kind = out["output_type"]
        if kind == "stream":
            text += out["text"]
        elif kind in ("display_data", "execute_result"):
            for mime in mimes:
                if mime in out.get("data", {}):
                    text += "\n" + str(out["data"][mime]) + "\n"
                    break
        elif kind == "error":
            text += f"\n{out['ename']}: {out['evalue']}\n" + "\n".join(out.get("traceback", []))
    return ANSI.sub("", text)


def outputs_with(cell: Any, mime: str) -> list[dict[str, Any]]:
    return [o for o in cell.get("outputs", []) if mime in o.get("data", {})]


def notebook_json(nb: Any) -> str:
    return json.dumps(nb)


@pytest.fixture(scope="session", autouse=True)
def _private_ipython_dir(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Test kernels get their own IPython dir: no user config, and no history
    database shared (and locked) with other kernels running on the machine."""
    mp = pytest.MonkeyPatch()
    mp.setenv("IPYTHONDIR", str(tmp_path_factory.mktemp("ipython")))
    # One date for every test and test kernel, so a model's "closing soon" line (30 days
    # before its announced date) shows only where a test asks for it, whatever day CI runs.
    mp.setenv("KIMI_JUPYTER_TODAY", "2026-12-06")
    yield
    mp.undo()


@pytest.fixture(scope="session", autouse=True)
def _private_map_cache(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`kimi_jupyter.map`'s default cache folder, for this run only: tests never write to
    (or answer from) the user's ~/.cache/kimi-jupyter."""
    mp = pytest.MonkeyPatch()
    mp.setenv("KIMI_MAP_CACHE", str(tmp_path_factory.mktemp("map-cache")))
    yield
    mp.undo()


@pytest.fixture
def kimi_kernel_env(kimi_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The loopback server, and an environment that points new kernels at it."""
    # Paired (SPEC §1): KIMI_API_KEY goes to KIMI_BASE_URL; MOONSHOT_API_KEY would
    # only ever be sent to Moonshot's own hosts.
    monkeypatch.setenv("KIMI_API_KEY", API_KEY)
    monkeypatch.setenv("KIMI_BASE_URL", kimi_server.base_url)
    monkeypatch.delenv("MOONSHOT_API_KEY", raising=False)
    monkeypatch.delenv("MOONSHOT_BASE_URL", raising=False)
    monkeypatch.delenv("KIMI_MODEL", raising=False)
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return kimi_server


@pytest.fixture
def kernel(kimi_server: Any) -> Iterator[Any]:
    """A real kernel on the loopback server with the extension loaded (one per test)."""
    from kimi_jupyter.testing.kernel import Kernel
    from kimi_jupyter.testing.pytest_plugin import kernel_env

    with Kernel(kernel_env(kimi_server)) as k:
        k.run("%load_ext kimi_jupyter")
        yield k


# ------------------------------------------------------------ the xdist workers
# The default run has two pytest-xdist workers (addopts in pyproject.toml). These tests must
# share one: a fixture wider than a test would otherwise start once per worker, and the
# Jupyter servers would run beside each other. pytest-xdist's `xdist_group` marks don't group
# on pytest 9.2 (pytest-dev/pytest-xdist#1386: the nodeid suffix they rely on is ignored), and
# the controller never sees marks, only node ids, so the groups are named here by path.
SHARED_WORKER = {
    # Package-scoped JupyterLab, Notebook 7 and Chromium, started once; and the hub (a hub, two
    # single-user servers and their kernels) never beside them.
    "tests/browser/": "jupyter-servers",
    "tests/hub/": "jupyter-servers",
    # Module-scoped runs: every tutorial (~40 s), a notebook, an in-process shell.
    "tests/kernel/test_notebooks.py": "notebooks",
    "tests/kernel/test_kernel_tools_kernel.py": "kernel-tools-kernel",
    "tests/unit/test_python_tool.py": "python-tool",
    "tests/unit/test_kernel_tools.py": "kernel-tools",
}


def worker_scope(nodeid: str) -> str:
    """The unit a worker takes whole: a group above, else the test alone (the best balance)."""
    path = nodeid.split("::", 1)[0]
    return next((group for prefix, group in SHARED_WORKER.items() if path.startswith(prefix)), nodeid)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadscope` with the scopes of `worker_scope` (xdist starts those with most tests first)."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedWorkerScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return worker_scope(nodeid)

    return SharedWorkerScheduling(config, log)

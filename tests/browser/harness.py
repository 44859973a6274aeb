"""Helpers for the browser tests: start Jupyter, drive its notebook UI, read the DOM.

JupyterLab and Notebook 7 share the notebook widget (`.jp-Notebook`, `.jp-Cell`,
`.jp-OutputArea`), so one set of helpers drives both; only the URL differs.
Cells run with the keyboard (Shift+Enter), as a user would.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

# JupyterLab 4 asks "Would you like to receive official Jupyter news?" in a toast,
# and may announce updates; either can sit on top of the notebook in a screenshot.
_QUIET_NOTIFICATIONS = {"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True}


def chromium_path() -> str | None:
    """Debian's chromium, or the browser named by KIMI_CHROMIUM (None if it doesn't exist)."""
    chosen = os.environ.get("KIMI_CHROMIUM")
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else None
    for path in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium"):
        if path and os.access(path, os.X_OK):
            return path
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class JupyterServer:
    """A `jupyter lab` or `jupyter notebook` process serving `root` on loopback."""

    kind: str  # "lab" | "notebook"
    root: Path
    port: int
    token: str
    proc: subprocess.Popen
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, name: str) -> str:
        if self.kind == "lab":
            # `reset`: don't restore the tabs of the previous test from the saved workspace.
            return f"{self.base}/lab/tree/{name}?reset&token={self.token}"
        return f"{self.base}/notebooks/{name}?token={self.token}"

    def api(self, path: str) -> Any:
        req = urllib.request.Request(f"{self.base}{path}", headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read() or b"null")

    def api_delete(self, path: str) -> None:
        req = urllib.request.Request(
            f"{self.base}{path}", method="DELETE", headers={"Authorization": f"token {self.token}"}
        )
        urllib.request.urlopen(req, timeout=10).close()

    def shutdown_kernels(self) -> None:
        """Stop every kernel, so a test's kernel doesn't compete with the next test for the CPU."""
        for kernel in self.api("/api/kernels"):
            try:
                self.api_delete(f"/api/kernels/{kernel['id']}")
            except OSError:
                pass

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def tail_log(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def start_jupyter(kind: str, work: Path, env_extra: dict[str, str], timeout: float = 60) -> JupyterServer:
    """Start Jupyter with everything user-specific pointed into `work`.

    Config, runtime, IPython and settings dirs are all fresh, so a developer's own
    Jupyter setup (themes, extensions settings, startup files) can't change what
    the tests see. The kernels inherit `env_extra` (the loopback server's URL and key).
    """
    root = work / "root"
    settings = work / "user-settings"
    notif = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    for d in (root, work / "config", work / "runtime", work / "ipython", work / "workspaces", notif.parent):
        d.mkdir(parents=True, exist_ok=True)
    notif.write_text(json.dumps(_QUIET_NOTIFICATIONS))
    # news_url=None turns the announcements handler off (a CLI flag can't say None).
    (work / "config" / "jupyter_lab_config.json").write_text(json.dumps({"LabApp": {"news_url": None}}))

    env = dict(os.environ)
    for name in ("MOONSHOT_API_KEY", "MOONSHOT_BASE_URL", "KIMI_API_KEY", "KIMI_BASE_URL", "KIMI_MODEL",
                 "JUPYTER_TOKEN", "JUPYTER_PORT"):
        env.pop(name, None)
    env.update(
        JUPYTER_CONFIG_DIR=str(work / "config"),
        JUPYTER_RUNTIME_DIR=str(work / "runtime"),
        IPYTHONDIR=str(work / "ipython"),
        PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
        MPLBACKEND="module://matplotlib_inline.backend_inline",
        PYTHONUNBUFFERED="1",
    )
    env.update(env_extra)

    port, token = _free_port(), secrets.token_hex(16)
    app = "LabApp" if kind == "lab" else "JupyterNotebookApp"
    module = "jupyterlab" if kind == "lab" else "notebook"
    cmd = [
        sys.executable, "-m", module,
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--{app}.user_settings_dir={settings}",
        f"--{app}.workspaces_dir={work / 'workspaces'}",
        # Kernels that a closed tab left behind are culled instead of piling up.
        "--MappingKernelManager.cull_idle_timeout=600",
        "--ServerApp.terminals_enabled=False",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers often run as root
        cmd.append("--allow-root")
    if kind == "lab":
        # No network here: no update checks, and no PyPI-backed extension manager.
        cmd += ["--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly"]
    log = work / f"jupyter-{kind}.log"
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=str(root))
    server = JupyterServer(kind, root, port, token, proc, log)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter {kind} exited with {proc.returncode}:\n{server.tail_log()}")
        try:
            server.api("/api/status")
            return server
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"jupyter {kind} did not start in {timeout:.0f} s:\n{server.tail_log()}")
            time.sleep(0.2)


def write_notebook(root: Path, name: str, cells: list[str]) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nbformat.write(nb, root / name)
    return name


# ------------------------------------------------------------------ driving the UI

# The notebook on screen (Lab keeps other tabs in the DOM, hidden).
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"
CELLS = f"{NOTEBOOK} .jp-Cell"

def open_notebook(page: Any, server: JupyterServer, name: str, timeout: float = 60_000) -> None:
    """Open a notebook and wait until its kernel is connected and idle."""
    page.goto(server.notebook_url(name), wait_until="domcontentloaded")
    page.wait_for_selector(CELLS, timeout=timeout)
    wait_kernel_ready(page, server, name, timeout)


def wait_kernel_ready(page: Any, server: JupyterServer, name: str, timeout: float = 60_000) -> None:
    """The page's indicator says "idle" once *before* the kernel even starts, so ask the
    server too: the notebook's kernel must be idle with the page's websocket connected."""
    deadline = time.monotonic() + timeout / 1000
    while True:
        sessions = [s for s in server.api("/api/sessions") if s.get("path") == name]
        kernel = sessions[0]["kernel"] if sessions else {}
        if kernel.get("execution_state") == "idle" and kernel.get("connections", 0) >= 1:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"the kernel of {name} did not become ready: {kernel}")
        time.sleep(0.2)
    wait_kernel_idle(page, timeout)


def wait_kernel_idle(page: Any, timeout: float = 60_000) -> None:
    # The notebook toolbar's execution indicator exists in Lab and Notebook 7 alike.
    page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', state="attached", timeout=timeout)


def cell(page: Any, index: int) -> Any:
    return page.locator(CELLS).nth(index)


def run_cell(page: Any, index: int) -> None:
    """Put the cursor in a cell's editor and press Shift+Enter, as a user would."""
    editor = cell(page, index).locator(".jp-InputArea-editor .cm-content")
    editor.click()
    page.keyboard.press("Shift+Enter")


def wait_cell_done(page: Any, index: int, timeout: float = 60_000) -> None:
    """Wait until the cell has an execution count (`[n]:`), i.e. it ran and finished."""
    prompt = cell(page, index).locator(".jp-InputArea-prompt")
    page.wait_for_function(
        "el => /\\[\\d+\\]/.test(el.textContent)", arg=prompt.element_handle(), timeout=timeout
    )


def run_and_wait(page: Any, index: int, timeout: float = 60_000) -> None:
    run_cell(page, index)
    wait_cell_done(page, index, timeout)


def expect(target: Any, *args: Any, **kwargs: Any) -> Any:
    """playwright's `expect` (assertions that retry until the page reaches the state),
    imported late so that a missing playwright skips the browser tests instead of
    breaking their collection."""
    from playwright.sync_api import expect as _expect

    return _expect(target, *args, **kwargs)


def save_notebook(page: Any, server: JupyterServer, name: str, saved: Any, timeout: float = 30) -> dict[str, Any]:
    """Press Ctrl+S and wait until the file on disk passes `saved(notebook_json)`.

    The save is asynchronous (the page sends the model, the server writes it), so
    wait for the state the test needs rather than for a fixed time.
    """
    page.keyboard.press("Control+s")
    path = server.root / name
    deadline = time.monotonic() + timeout
    while True:
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
            if saved(nb):
                return nb
        except (OSError, ValueError):  # not there yet, or caught mid-write
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} was not saved as expected within {timeout:.0f} s")
        time.sleep(0.1)


def output_html(page: Any, index: int) -> str:
    return cell(page, index).locator(".jp-Cell-outputArea").inner_html()


def screenshot(page: Any, name: str, target: Any = None) -> Path:
    """Save a PNG to test-artifacts/ (the whole page, or one element)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    (target or page).screenshot(path=str(path))
    return path


def fail_or_skip(reason: str) -> None:
    """In CI a missing browser fails the run; on a developer machine it skips."""
    import pytest

    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{reason} (CI is set, so the browser tests must run; see .ci/run)", pytrace=False)
    pytest.skip(reason)

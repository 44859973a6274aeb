"""The classroom gateway in front of a REAL JupyterHub (from PyPI), with two students' real kernels.

The hub runs with the DummyAuthenticator, the local process spawner and
configurable-http-proxy (npm; `.ci/run` installs it). The gateway is a
hub-managed service in front of the loopback Kimi server, which holds the
"class key". Each student's server is spawned by the hub, a kernel is started
in it through its REST API, and cells run over the kernel's websocket, as a
browser would run them.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("jupyterhub")
pytestmark = pytest.mark.slow

CLASS_KEY = "sk-class-key-3f9a1c7e5b2d"
DRIVER_TOKEN = uuid.uuid4().hex
ROOT = Path(__file__).resolve().parents[2]
BUDGET_LINE = re.compile(r"your class budget for today is used up: \$[0-9.]+ of \$0\.0005; it resets at 00:00 UTC")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hub_config(port: int, hub_port: int, proxy_port: int, service_port: int, upstream: str, db: str) -> str:
    """The README's jupyterhub_config.py, with this test's ports, upstream and a driver service for the test."""
    return f'''
import sys
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_port}"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(Path(db).parent / "home" / "{username}")!r}
# This test's machine: CI runs as root, and a plain Jupyter Server starts faster than JupyterLab.
c.Spawner.args = ["--allow-root"]
c.Spawner.http_timeout = c.Spawner.start_timeout = 180
c.JupyterHub.tornado_settings = {{"slow_spawn_timeout": 0}}

# --- the classroom gateway (README) ---
c.JupyterHub.services = [
    {{
        "name": "kimi",
        "url": "http://127.0.0.1:{service_port}",
        "command": [sys.executable, "-m", "kimi_jupyter.cli", "gateway"],
        "environment": {{
            "MOONSHOT_API_KEY": {CLASS_KEY!r},
            "KIMI_GATEWAY_UPSTREAM": {upstream!r},
            "KIMI_GATEWAY_DB": {("sqlite:///" + db)!r},
            "KIMI_GATEWAY_COURSE": "cs101",
            "KIMI_GATEWAY_DAILY_USD": "0.50",
        }},
        "oauth_no_confirm": True,
    }},
    {{"name": "driver", "api_token": {DRIVER_TOKEN!r}}},
]
c.Spawner.environment = {{
    "KIMI_BASE_URL": "http://127.0.0.1:{port}/services/kimi/v1",
    "KIMI_API_KEY": lambda spawner: spawner.api_token,
}}
c.Spawner.environment["JUPYTERHUB_SINGLEUSER_APP"] = "jupyter_server.serverapp.ServerApp"  # (test only)
# (test only) the spawner passes on no other variable: pin the date like every test kernel, so a
# model's "closing soon" line doesn't appear in the students' cells on the day CI runs.
c.Spawner.environment["KIMI_JUPYTER_TODAY"] = "2026-12-06"
c.JupyterHub.load_groups = {{"instructors": {{"users": ["teacher"]}}}}
c.JupyterHub.load_roles = [
    {{"name": "kimi-users", "scopes": ["access:services!service=kimi"], "groups": ["instructors"]}},
    {{"name": "driver", "services": ["driver"],
      "scopes": ["admin:users", "admin:servers", "tokens", "access:servers", "read:users"]}},
]
'''


class Hub:
    """A JupyterHub process in `folder`, started and stopped by the test."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("MOONSHOT_API_KEY", "KIMI_API_KEY", "KIMI_BASE_URL")}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.log = open(self.folder / "hub.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", "jupyterhub_config.py"],
                                     cwd=self.folder, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_for(lambda: self.api("GET", "/hub/api/")[0] == 200, "the hub to answer")
        self.wait_for(lambda: self.get("/services/kimi/v1/models", "no-token")[0] == 401, "the gateway to answer")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.log.close()

    def wait_for(self, check: Any, what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is None or self.proc.poll() is None, \
                f"the hub exited:\n{(self.folder / 'hub.log').read_text(errors='replace')[-4000:]}"
            try:
                if check():
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}:\n"
                             f"{(self.folder / 'hub.log').read_text(errors='replace')[-4000:]}")

    def request(self, method: str, path: str, token: str | None, body: Any = None,
                form: dict[str, str] | None = None) -> tuple[int, str, Any]:
        import urllib.error
        import urllib.parse
        import urllib.request

        data, headers = None, {}
        if token:
            headers["Authorization"] = f"token {token}"
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        opener = urllib.request.build_opener(NoRedirect)
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with opener.open(req, timeout=60) as r:
                return r.status, r.read().decode(), r.headers  # case-insensitive
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace"), e.headers

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, text, _ = self.request(method, path, DRIVER_TOKEN, body)
        return status, (json.loads(text) if text.strip().startswith(("{", "[")) else text)

    def get(self, path: str, token: str | None) -> tuple[int, str]:
        status, text, _ = self.request("GET", path, token)
        return status, text

    def token_for(self, user: str) -> str:
        status, model = self.api("POST", f"/hub/api/users/{user}/tokens", {"note": "classroom test"})
        assert status in (200, 201), model
        return model["token"]

    def spawn(self, user: str) -> None:
        status, text = self.api("POST", f"/hub/api/users/{user}/server")
        assert status in (201, 202), text
        self.wait_for(lambda: (self.api("GET", f"/hub/api/users/{user}")[1].get("servers", {})
                               .get("", {}).get("ready")), f"{user}'s server", timeout=180)


class RemoteKernel:
    """A kernel in a student's single-user server, run over its websocket like a browser does."""

    def __init__(self, hub: Hub, user: str) -> None:
        self.hub, self.user = hub, user
        status, model = hub.api("POST", f"/user/{user}/api/kernels", {"name": "python3"})
        assert status == 201, model
        self.kernel_id = model["id"]
        self.session = uuid.uuid4().hex
        self.loop = asyncio.new_event_loop()
        self.ws = self.loop.run_until_complete(self._connect())

    async def _connect(self) -> Any:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        url = f"ws://127.0.0.1:{self.hub.port}/user/{self.user}/api/kernels/{self.kernel_id}/channels"
        return await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {DRIVER_TOKEN}"}))

    def run(self, code: str, timeout: float = 120) -> tuple[str, list[dict[str, Any]]]:
        """Run a cell; return what it showed (text) and its error outputs."""
        return self.loop.run_until_complete(asyncio.wait_for(self._run(code), timeout))

    async def _run(self, code: str) -> tuple[str, list[dict[str, Any]]]:
        msg_id = uuid.uuid4().hex
        await self.ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": self.session,
                       "username": self.user, "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }))
        texts: list[str] = []
        errors: list[dict[str, Any]] = []
        while True:
            raw = await self.ws.read_message()
            assert raw is not None, "the kernel's websocket closed"
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id or msg.get("channel") != "iopub":
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                texts.append(content["text"])
            elif kind in ("display_data", "execute_result", "update_display_data"):
                data = content.get("data", {})
                texts.append(str(data.get("text/plain", "")) + "\n")
            elif kind == "error":
                errors.append(content)
                texts.append(f"{content['ename']}: {content['evalue']}\n")
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(texts), errors

    def close(self) -> None:
        async def close_ws() -> None:
            self.ws.close()  # tornado writes the close frame on the running loop

        self.loop.run_until_complete(close_ws())
        self.loop.close()
        self.hub.api("DELETE", f"/user/{self.user}/api/kernels/{self.kernel_id}")


@pytest.fixture
def hub(tmp_path, kimi_server):
    if shutil.which("configurable-http-proxy") is None:
        pytest.fail("configurable-http-proxy is not on PATH: `npm install -g configurable-http-proxy` (.ci/run does)")
    kimi_server.api_key = CLASS_KEY  # the loopback server stands in for Moonshot, with the class key
    folder = tmp_path / "hub"
    folder.mkdir()
    port = _free_port()
    (folder / "jupyterhub_config.py").write_text(hub_config(
        port, _free_port(), _free_port(), _free_port(), kimi_server.base_url, str(folder / "kimi-usage.sqlite")))
    h = Hub(folder, port)
    h.start()
    try:
        yield h
    finally:
        h.stop()


def test_a_class_through_the_gateway(hub, kimi_server):
    for user in ("alice", "bob", "teacher"):
        hub.api("POST", f"/hub/api/users/{user}")  # 201, or 409 when load_groups made it already
    teacher, alice_token = hub.token_for("teacher"), hub.token_for("alice")
    # The teacher lowers alice's budget on the page; bob keeps the course's $0.50.
    status, _, headers = hub.request("POST", "/services/kimi/budget", teacher, form={"user": "alice", "usd": "0.0005"})
    assert status == 302 and headers["Location"] == "/services/kimi/"

    kernels = {}
    try:
        for user in ("alice", "bob"):
            hub.spawn(user)
            kernels[user] = RemoteKernel(hub, user)
            kernels[user].run("%load_ext kimi_jupyter")
        # Both get streamed answers with reasoning, through the gateway, with Msh-Request-Ids.
        for user, kernel in kernels.items():
            text, errors = kernel.run("%%kimi -o r\nExplain quantum entanglement.")
            assert not errors, text
            text, errors = kernel.run("print(len(r.reasoning) > 100, r.request_ids, r.cost_usd > 0)")
            assert not errors and text.startswith("True ['"), text
            assert re.search(r"'([^']+)'", text).group(1) in kimi_server.request_ids
        # alice is past her budget: one line in her cell, and her kernel keeps working.
        text, errors = kernels["alice"].run("%%kimi\nAnd in one sentence?")
        assert len(errors) == 1 and BUDGET_LINE.search(errors[0]["evalue"]), text
        assert "\n" not in errors[0]["evalue"] and "Traceback" not in text
        assert kernels["alice"].run("print(6 * 7)")[0].strip() == "42"
        # bob is unaffected.
        text, errors = kernels["bob"].run("%%kimi\nAnd in one sentence?")
        assert not errors, text
        # The class key is never in a student's environment, outputs or kernel. (The cell holds the
        # key reversed, so that the cell itself, kept in the student's history, doesn't hold it.)
        for user, kernel in kernels.items():
            text, _ = kernel.run(
                f"import os; key = {CLASS_KEY[::-1]!r}[::-1]\n"
                "print(os.environ['KIMI_BASE_URL'])\n"
                "print(any(key in v for v in os.environ.values()))\n"
                "print(os.environ['KIMI_API_KEY'] == os.environ['JUPYTERHUB_API_TOKEN'])\n"
                "from kimi_jupyter.session import default_session\n"
                "print(key in repr(vars(default_session().settings())), key in repr(globals()))")
            assert text.split() == [f"{hub.url}/services/kimi/v1", "False", "True", "False", "True"], text
    finally:
        for kernel in kernels.values():
            kernel.close()
    assert set(kimi_server.keys_seen) == {CLASS_KEY}  # upstream only ever saw the class key, no hub token
    home = hub.folder / "home"
    assert not [p for p in home.rglob("*") if p.is_file() and CLASS_KEY.encode() in p.read_bytes()]

    # No valid hub token: 401.
    for token in (None, "not-a-hub-token"):
        status, text, _ = hub.request("POST", "/services/kimi/v1/chat/completions", token,
                                      body={"model": "kimi-k2.6", "messages": [{"role": "user", "content": "hi"}]})
        assert status == 401 and "JupyterHub API token" in text
    # The teacher's page shows both students; a student gets 403.
    status, page = hub.get("/services/kimi/", teacher)
    assert status == 200 and "alice" in page and "bob" in page and "cs101" in page
    assert hub.get("/services/kimi/", alice_token)[0] == 403
    assert hub.get("/services/kimi/usage.csv", alice_token)[0] == 403
    before = _usage(hub, teacher)
    assert before["alice"]["requests"] == "1" and before["bob"]["requests"] == "2", before
    assert float(before["alice"]["cost_today_usd"]) > 0 and before["alice"]["daily_budget_usd"] == "0.0005"
    assert before["bob"]["daily_budget_usd"] == "0.5"

    # The gateway restarts (with the hub): nothing lost, nothing counted twice, alice still refused.
    hub.stop()
    hub.start()
    assert _usage(hub, teacher) == before
    status, text, _ = hub.request("POST", "/services/kimi/v1/chat/completions", alice_token,
                                  body={"model": "kimi-k2.6", "stream": True,
                                        "messages": [{"role": "user", "content": "hi"}]})
    assert status == 402 and BUDGET_LINE.search(text)


def _usage(hub: Hub, token: str) -> dict[str, dict[str, str]]:
    status, text = hub.get("/services/kimi/usage.csv", token)
    assert status == 200, text
    return {row["student"]: row for row in csv.DictReader(io.StringIO(text))}

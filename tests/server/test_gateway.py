"""The gateway's forwarding and metering over real loopback HTTP, in front of the loopback Kimi server.

The hub's token check is stood in for here by a table of tokens (the real hub
check is `tests/hub/test_gateway_hub.py`); everything else is the real service.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
import time
from typing import Any

import pytest

pytest.importorskip("jupyterhub")

from kimi_jupyter.gateway.app import Gateway, make_app, parse_config  # noqa: E402
from kimi_jupyter.gateway.meter import Meter, price  # noqa: E402
from kimi_jupyter.gateway.store import Store  # noqa: E402
from kimi_jupyter.core.stream import Usage  # noqa: E402
from kimi_jupyter.testing.scenarios import long_reasoning_scenario  # noqa: E402
from kimi_jupyter.testing.server import KimiServer  # noqa: E402

CLASS_KEY = "sk-class-key-for-the-gateway"
TOKENS = {"tok-alice": {"name": "alice", "kind": "user"}, "tok-bob": {"name": "bob", "kind": "user"}}


class TokenTable:
    async def user_for_token(self, token: str, sync: bool = True) -> dict[str, Any] | None:
        return TOKENS.get(token)


class Running:
    """The gateway app on its own IOLoop thread."""

    def __init__(self, upstream: str, db: str, **env: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = parse_config([], {"MOONSHOT_API_KEY": CLASS_KEY, "KIMI_GATEWAY_UPSTREAM": upstream,
                                   "KIMI_GATEWAY_DB": db, "KIMI_GATEWAY_COURSE": "cs101",
                                   "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{self.port}", **env})
        self.gateway = Gateway(config)
        self.gateway.hub_auth = TokenTable()
        ready = threading.Event()

        def serve() -> None:
            from tornado.ioloop import IOLoop

            asyncio.set_event_loop(asyncio.new_event_loop())
            self.loop = IOLoop.current()
            self.server = make_app(self.gateway).listen(self.port, "127.0.0.1")
            ready.set()
            self.loop.start()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        ready.wait(10)

    def stop(self) -> None:
        def shut() -> None:
            self.server.stop()
            self.loop.stop()

        self.loop.add_callback(shut)
        self.thread.join(10)
        self.gateway.store.close()

    def post(self, body: dict[str, Any], token: str | None = "tok-alice") -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request("POST", "/services/kimi/v1/chat/completions", json.dumps(body), headers)
        return conn.getresponse()


@pytest.fixture
def gateway(tmp_path):
    with KimiServer(api_key=CLASS_KEY) as upstream:
        running = Running(upstream.base_url, f"sqlite:///{tmp_path / 'usage.sqlite'}")
        try:
            yield running, upstream
        finally:
            running.stop()


def _chunks(raw: bytes) -> list[dict[str, Any]]:
    return [json.loads(line[5:]) for line in raw.split(b"\n") if line.startswith(b"data:") and b"[DONE]" not in line]


def _ask(text: str) -> dict[str, Any]:
    return {"model": "kimi-k2.6", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": text}]}


def test_a_stream_passes_through_unchanged_and_is_metered(gateway):
    running, upstream = gateway
    python = {"type": "function", "function": {"name": "python", "description": "Run Python.", "parameters": {
        "type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]}}}
    response = running.post({**_ask("Let the two tool calls share state."), "tools": [python]})
    raw = response.read()
    assert response.status == 200 and response.getheader("Content-Type").startswith("text/event-stream")
    assert response.getheader("Msh-Request-Id") in upstream.request_ids
    chunks = _chunks(raw)
    deltas = [c["choices"][0]["delta"] for c in chunks if c.get("choices")]
    assert any(d.get("reasoning_content") for d in deltas) and any(d.get("tool_calls") for d in deltas)
    assert raw.rstrip().endswith(b"data: [DONE]")
    # The upstream saw the class key, never the student's token.
    assert list(upstream.keys_seen) == [CLASS_KEY]
    # The usage the student saw is the usage metered, at the catalog's price.
    meter = Meter()
    meter.feed(raw)
    (row,) = running.gateway.store.report("cs101", 0.5)
    assert row.user == "alice" and row.requests == 1 and row.prompt_tokens == meter.usage.prompt_tokens > 0
    assert row.cost_today == pytest.approx(price("kimi-k2.6", meter.usage)) and row.cost_today > 0


def test_errors_pass_through_with_their_status_and_headers(gateway):
    running, upstream = gateway
    response = running.post(_ask("[[scenario:rate_limit]] hello"))
    body = json.loads(response.read())
    assert response.status == 429 and body["error"]["type"] == "rate_limit_reached_error"
    assert response.getheader("Msh-Request-Id") in upstream.request_ids
    (row,) = running.gateway.store.report("cs101", 0.5)
    assert row.requests == 1 and row.cost_today == 0  # counted as a request, costs nothing


def test_no_token_is_401_and_a_spent_budget_is_one_line(gateway):
    running, _ = gateway
    for token in (None, "tok-nobody"):
        response = running.post(_ask("hi"), token=token)
        assert response.status == 401 and "JupyterHub API token" in response.read().decode()
    running.gateway.store.set_budget("alice", "cs101", 0.0001)
    first = running.post(_ask("hi"))
    assert first.status == 200 and first.read()  # under the budget when it starts; metered by its end
    response = running.post(_ask("hi again"))
    message = json.loads(response.read())["error"]["message"]
    assert response.status == 402
    assert message.startswith("your class budget for today is used up: $0.") and message.endswith(
        " of $0.0001; it resets at 00:00 UTC")
    assert running.post(_ask("hi"), token="tok-bob").status == 200  # bob is unaffected


def test_only_what_a_kernel_needs_is_forwarded_and_usage_is_always_asked_for(gateway):
    running, upstream = gateway
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=60)
    for method, path in (("GET", "files"), ("GET", "users/me/balance"), ("POST", "batches"), ("GET", "chat/completions")):
        conn.request(method, f"/services/kimi/v1/{path}", body=b"{}" if method == "POST" else None,
                     headers={"Authorization": "Bearer tok-alice"})
        response = conn.getresponse()
        assert response.status == 404 and b"forwards chat completions" in response.read(), path
    conn.request("GET", "/services/kimi/v1/models", headers={"Authorization": "token tok-alice"})
    response = conn.getresponse()
    assert response.status == 200 and "kimi-k2.6" in {m["id"] for m in json.loads(response.read())["data"]}
    body = _ask("hi")
    del body["stream_options"]
    response = running.post(body)
    assert response.status == 200 and response.read()  # metered before its last byte
    assert upstream.requests[-1]["stream_options"] == {"include_usage": True}
    (row,) = running.gateway.store.report("cs101", 0.5)
    assert row.prompt_tokens > 0


def test_a_student_past_the_concurrency_limit_is_asked_to_retry(tmp_path):
    slow = long_reasoning_scenario("slow", 4000, cps=400, match="think slowly")
    with KimiServer(api_key=CLASS_KEY, scenarios=[slow]) as upstream:
        running = Running(upstream.base_url, f"sqlite:///{tmp_path / 'usage.sqlite'}", KIMI_GATEWAY_CONCURRENCY="1")
        try:
            first = running.post(_ask("think slowly"))
            assert first.status == 200
            first.read(64)  # streaming: the request is running
            second = running.post(_ask("hello"))
            assert second.status == 429 and second.getheader("Retry-After") == "1"
            assert "limit per student" in second.read().decode()
            assert running.post(_ask("hello"), token="tok-bob").status == 200  # per student
            first.read()
            deadline = time.monotonic() + 30
            while running.gateway.active.get("alice") and time.monotonic() < deadline:
                time.sleep(0.05)  # the gateway finishes metering after the last byte is sent
            assert running.post(_ask("hello")).status == 200
        finally:
            running.stop()


def test_the_gateway_never_imports_ipython():
    import subprocess
    import sys

    code = "import sys, kimi_jupyter.gateway.app; print(sorted(m for m in sys.modules if m.startswith('IPython')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_request_is_counted_once_and_survives_a_restart(tmp_path):
    url = f"sqlite:///{tmp_path / 'usage.sqlite'}"
    store = Store(url)
    store.open("r1", "alice", "cs101", "kimi-k2.6")
    store.open("r2", "alice", "cs101", "kimi-k2.6")  # in flight when the gateway stopped
    assert store.close_request("r1", Usage(prompt_tokens=1000, completion_tokens=100), 0.0014, True)
    assert not store.close_request("r1", Usage(prompt_tokens=1000, completion_tokens=100), 0.0014, True)
    store.set_budget("alice", "cs101", 0.25)
    store.close()
    again = Store(url)
    (row,) = again.report("cs101", 0.5)
    assert (row.requests, row.prompt_tokens, row.daily_usd) == (2, 1000, 0.25)
    assert again.spent("alice", "cs101") == pytest.approx(0.0014)
    # Yesterday's spending is in the total, not in today's budget.
    again.open("r0", "alice", "cs101", "kimi-k2.6", started=time.time() - 86400)
    again.close_request("r0", Usage(prompt_tokens=10), 0.3, True)
    (row,) = again.report("cs101", 0.5)
    assert row.cost_today == pytest.approx(0.0014) and row.cost_total == pytest.approx(0.3014)
    assert again.spent("alice", "cs101") == pytest.approx(0.0014)
    again.close()

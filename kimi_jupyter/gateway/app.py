"""The gateway service: forwarding under `<prefix>v1/`, the instructors' page at `<prefix>`.

Run by the hub (`c.JupyterHub.services`, see the README) as `kimi-jupyter gateway`.
Settings come from the service's environment (or the same-named options):

    MOONSHOT_API_KEY          the upstream key (or KIMI_GATEWAY_UPSTREAM_KEY); only ever sent upstream
    KIMI_GATEWAY_UPSTREAM     https://api.moonshot.ai/v1, or any OpenAI-compatible base URL
    KIMI_GATEWAY_DB           SQLAlchemy URL (default sqlite:///kimi-gateway.sqlite in the working folder)
    KIMI_GATEWAY_COURSE       the course this service meters (default "course")
    KIMI_GATEWAY_DAILY_USD    each student's daily budget, until an instructor changes it (default 0.50)
    KIMI_GATEWAY_CONCURRENCY  requests one student may have running at once (default 2)
    KIMI_GATEWAY_INSTRUCTORS  the hub group whose members (and admins) see the page (default "instructors")

The hub sets JUPYTERHUB_SERVICE_URL (where to listen), JUPYTERHUB_SERVICE_PREFIX,
JUPYTERHUB_API_URL and the service's own token. A student's request carries the
student's hub token as its bearer key; it is checked with the hub, replaced by
the upstream key, and never forwarded or logged.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlsplit

from ..core.cassette import KEPT_HEADERS
from .meter import Meter, price
from .page import to_csv, to_html, usd
from .store import Store

# What a student's kernel needs, and nothing more: the account's other endpoints (files, batches,
# the balance) would show one student's data, or the account's, to every other.
FORWARDED = {("GET", "models"), ("POST", "chat/completions"), ("POST", "tokenizers/estimate-token-count")}
# The hub's own two schemes: `Bearer` (what OpenAI clients send) and `token`.
_AUTH = re.compile(r"(?:bearer|token)\s+(\S+)\s*$", re.IGNORECASE)


@dataclass
class Config:
    upstream: str
    api_key: str = field(repr=False)
    db_url: str
    course: str
    daily_usd: float
    concurrency: int
    instructors: str
    prefix: str
    ip: str
    port: int


def parse_config(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    p = argparse.ArgumentParser(prog="kimi-jupyter gateway",
                                description="A JupyterHub service that holds the class's Moonshot key.")
    p.add_argument("--upstream", default=env.get("KIMI_GATEWAY_UPSTREAM") or "https://api.moonshot.ai/v1")
    p.add_argument("--db", default=env.get("KIMI_GATEWAY_DB") or "sqlite:///kimi-gateway.sqlite")
    p.add_argument("--course", default=env.get("KIMI_GATEWAY_COURSE") or "course")
    p.add_argument("--daily-usd", type=float, default=float(env.get("KIMI_GATEWAY_DAILY_USD") or 0.50))
    p.add_argument("--concurrency", type=int, default=int(env.get("KIMI_GATEWAY_CONCURRENCY") or 2))
    p.add_argument("--instructors", default=env.get("KIMI_GATEWAY_INSTRUCTORS") or "instructors")
    service_url = urlsplit(env.get("JUPYTERHUB_SERVICE_URL") or "http://127.0.0.1:10101")
    p.add_argument("--ip", default=service_url.hostname or "127.0.0.1")
    p.add_argument("--port", type=int, default=service_url.port or 10101)
    args = p.parse_args(argv)
    prefix = env.get("JUPYTERHUB_SERVICE_PREFIX") or "/services/kimi/"
    return Config(
        upstream=args.upstream.rstrip("/"),
        api_key=env.get("KIMI_GATEWAY_UPSTREAM_KEY") or env.get("MOONSHOT_API_KEY") or "",
        db_url=args.db, course=args.course, daily_usd=args.daily_usd, concurrency=max(1, args.concurrency),
        instructors=args.instructors, prefix=prefix if prefix.endswith("/") else prefix + "/",
        ip=args.ip, port=args.port,
    )


def refusal(status: int, type_: str, message: str) -> bytes:
    """An error body in the API's own shape, so the student's client shows its message as one line."""
    return json.dumps({"error": {"type": type_, "message": message}}).encode()


class Gateway:
    """State the handlers share: settings, the store, the hub auth, running requests per student."""

    def __init__(self, config: Config) -> None:
        from jupyterhub.services.auth import HubOAuth

        self.config = config
        self.store = Store(config.db_url)
        self.hub_auth = HubOAuth.instance()
        self.active: dict[str, int] = {}
        self.draining = False

    def is_instructor(self, model: Mapping[str, Any]) -> bool:
        scopes = set(model.get("scopes") or ())
        return (self.config.instructors in (model.get("groups") or ()) or bool(model.get("admin"))
                or "admin:users" in scopes)

    def budget_line(self, user: str) -> str | None:
        """The refusal for a student past today's budget, else None."""
        budget = self.store.budget(user, self.config.course, self.config.daily_usd)
        spent = self.store.spent(user, self.config.course)
        if spent < budget:
            return None
        return f"your class budget for today is used up: {usd(spent)} of {usd(budget)}; it resets at 00:00 UTC"


def make_app(gateway: Gateway) -> Any:
    from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated, UserNotAllowed
    from tornado import web
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest
    from tornado.httputil import HTTPHeaders, parse_response_start_line
    from tornado.iostream import StreamClosedError

    config = gateway.config
    AsyncHTTPClient.configure(None, max_clients=max(10, config.concurrency * 50))

    class ApiHandler(web.RequestHandler):
        """`<prefix>v1/<path>`: authenticated by the student's hub token, forwarded with the class key."""

        def check_xsrf_cookie(self) -> None:
            pass  # a bearer token authenticates this API, never a cookie

        def _error(self, status: int, type_: str, message: str, headers: Mapping[str, str] | None = None) -> None:
            self.set_status(status)
            self.set_header("Content-Type", "application/json")
            for name, value in (headers or {}).items():
                self.set_header(name, value)
            self.finish(refusal(status, type_, message))

        async def get(self, path: str) -> None:
            await self._handle(path)

        async def post(self, path: str) -> None:
            await self._handle(path)

        async def _handle(self, path: str) -> None:
            match = _AUTH.match(self.request.headers.get("Authorization", ""))
            token = match.group(1) if match else ""
            model = await gateway.hub_auth.user_for_token(token, sync=False) if token else None
            if not model or model.get("kind", "user") != "user":
                self._error(401, "invalid_authentication_error",
                            "The class gateway needs your JupyterHub API token as the key "
                            "(KIMI_API_KEY, set by the hub for your server).")
                return
            user = model["name"]
            if gateway.draining:
                self._error(503, "engine_overloaded_error", "The class gateway is restarting; try again.",
                            {"Retry-After": "2"})
                return
            if (self.request.method, path) not in FORWARDED:
                self._error(404, "resource_not_found_error",
                            "The class gateway forwards chat completions, the model listing and token counts only.")
                return
            metered = path == "chat/completions"
            if not metered:
                await self._forward(path, None, user)
                return
            if gateway.active.get(user, 0) >= config.concurrency:
                self._error(429, "rate_limit_reached_error",
                            f"You have {config.concurrency} requests running through the class gateway, "
                            "its limit per student; this one is retried when one finishes.", {"Retry-After": "1"})
                return
            line = gateway.budget_line(user)
            if line is not None:
                self._error(402, "budget_exceeded_error", line)
                return
            gateway.active[user] = gateway.active.get(user, 0) + 1
            try:
                await self._forward(path, Meter(), user)
            finally:
                gateway.active[user] -= 1

        async def _forward(self, path: str, meter: Meter | None, user: str) -> None:
            url = f"{config.upstream}/{path}"
            if self.request.query:
                url += "?" + self.request.query
            headers = {"Authorization": f"Bearer {config.api_key}"}
            for name in ("Content-Type", "Accept"):
                if name in self.request.headers:
                    headers[name] = self.request.headers[name]
            request_id = uuid.uuid4().hex
            model = ""
            body = self.request.body if self.request.method == "POST" else None
            if meter is not None:
                model, body = _metered_body(body or b"")
                gateway.store.open(request_id, user, config.course, model)
            state: dict[str, Any] = {"status": 502, "reason": "Bad Gateway", "headers": HTTPHeaders(),
                                     "started": False, "gone": False, "streamed": False, "body": []}

            def on_header(line: str) -> None:
                if line.startswith("HTTP/"):
                    start = parse_response_start_line(line.strip())
                    state.update(status=start.code, reason=start.reason, headers=HTTPHeaders())
                elif line.strip():
                    state["headers"].parse_line(line)

            def send(data: bytes) -> None:
                if state["gone"]:
                    return
                try:
                    self.write(data)
                    self.flush().add_done_callback(_swallow)
                except StreamClosedError:
                    state["gone"] = True  # the student left; the upstream answer is still metered

            def on_chunk(data: bytes) -> None:
                if not state["started"]:
                    state["started"] = True
                    self.set_status(state["status"], state["reason"] or "Upstream")
                    for name in KEPT_HEADERS:
                        if state["headers"].get(name):
                            self.set_header(name.title(), state["headers"][name])
                    state["streamed"] = "event-stream" in state["headers"].get("content-type", "")
                if meter is not None:
                    if state["streamed"]:
                        meter.feed(data)
                    else:
                        state["body"].append(data)
                send(data)

            def settle(ok: bool) -> None:
                """Complete the request's row (once: the store ignores a second call)."""
                if meter is not None:
                    if state["body"]:
                        meter.feed_json(b"".join(state["body"]))
                    cost = price(model or meter.model or "", meter.usage, meter.web_searches)
                    gateway.store.close_request(request_id, meter.usage, cost, ok)

            try:
                response = await AsyncHTTPClient().fetch(HTTPRequest(
                    url, method=self.request.method, headers=headers,
                    body=body,
                    header_callback=on_header, streaming_callback=on_chunk,
                    request_timeout=900, connect_timeout=30, decompress_response=False,
                ), raise_error=False)
                if not state["started"]:
                    reason = str(response.error or "no answer")
                    self._error(502, "server_error", f"The class gateway could not reach the model API: {reason}.")
                    return
                # Metered before the last byte goes out: the student's next request sees this cost.
                settle(state["status"] == 200)
                if not state["gone"]:
                    try:
                        self.finish()
                    except StreamClosedError:
                        pass
            finally:
                settle(False)  # a no-op once settled; else (an error in here) the request still counts

    def instructor_only(model: dict[str, Any]) -> dict[str, Any]:
        if not gateway.is_instructor(model):
            raise UserNotAllowed(model)
        return model

    class PageBase(HubOAuthenticated, web.RequestHandler):
        def check_hub_user(self, model: dict[str, Any]) -> dict[str, Any]:
            return instructor_only(model)

        def initialize(self) -> None:
            self.hub_auth = gateway.hub_auth

        def check_xsrf_cookie(self) -> None:
            # Tornado checks before the user is known; knowing it first lets a request authenticated
            # by a token (a script, the CSV for a spreadsheet) skip the form's xsrf field, as in the hub.
            _ = self.current_user
            super().check_xsrf_cookie()

    class PageHandler(PageBase):
        @web.authenticated
        def get(self) -> None:
            rows = gateway.store.report(config.course, config.daily_usd)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(to_html(config.course, rows, config.prefix, self.xsrf_form_html(),
                                self.current_user["name"]))

    class CsvHandler(PageBase):
        @web.authenticated
        def get(self) -> None:
            self.set_header("Content-Type", "text/csv; charset=utf-8")
            self.set_header("Content-Disposition", f'attachment; filename="kimi-usage-{config.course}.csv"')
            self.finish(to_csv(gateway.store.report(config.course, config.daily_usd)))

    class BudgetHandler(PageBase):
        @web.authenticated
        def post(self) -> None:
            user = self.get_body_argument("user", "").strip()
            try:
                value = float(self.get_body_argument("usd", ""))
            except ValueError:
                value = -1.0
            if not user or not value >= 0 or value > 1e6:
                raise web.HTTPError(400, "A budget needs a student and an amount in USD (0 or more).")
            gateway.store.set_budget(user, config.course, value)
            self.redirect(config.prefix)

    prefix = config.prefix
    return web.Application(
        [
            (prefix, PageHandler),
            (prefix + "usage.csv", CsvHandler),
            (prefix + "budget", BudgetHandler),
            (prefix + "oauth_callback", HubOAuthCallbackHandler),
            (prefix + r"v1/(.*)", ApiHandler),
        ],
        cookie_secret=os.urandom(32),
        xsrf_cookies=True,
    )


def _metered_body(raw: bytes) -> tuple[str, bytes]:
    """The model a chat request names, and its body asking for usage in the stream.

    Moonshot reports usage in every stream's finish chunk, but vLLM and SGLang only
    when `stream_options.include_usage` is set: without it a student's answers would
    cost nothing here. A body that isn't a JSON object goes on as it came (the
    upstream refuses it).
    """
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return "", raw
    if not isinstance(body, dict):
        return "", raw
    model = str(body.get("model") or "")
    if body.get("stream") and not (body.get("stream_options") or {}).get("include_usage"):
        body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        return model, json.dumps(body, ensure_ascii=False).encode()
    return model, raw


def _swallow(future: Any) -> None:
    future.exception()  # a flush to a student who left: nothing to do


def main(argv: list[str] | None = None) -> int:
    """`kimi-jupyter gateway`: serve until SIGTERM, then finish the answers in flight (so none is lost)."""
    from tornado.ioloop import IOLoop

    config = parse_config(argv)
    if not config.api_key:
        print("kimi-jupyter gateway: no upstream key: set MOONSHOT_API_KEY (or KIMI_GATEWAY_UPSTREAM_KEY) "
              "in the service's environment.", file=sys.stderr)
        return 1
    gateway = Gateway(config)
    server = make_app(gateway).listen(config.port, config.ip, xheaders=True)
    loop = IOLoop.current()

    def drain() -> None:
        gateway.draining = True
        server.stop()
        deadline = time.monotonic() + 60

        def check() -> None:
            if not any(gateway.active.values()) or time.monotonic() > deadline:
                gateway.store.close()
                loop.stop()
            else:
                loop.call_later(0.1, check)

        check()

    # asyncio's handlers wake the loop through its wakeup fd: a plain `signal.signal` handler can
    # wait for the next event when the signal lands on another thread (the hub client's resolver).
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.asyncio_loop.add_signal_handler(signum, drain)  # type: ignore[attr-defined]
    print(f"kimi-jupyter gateway: {config.course} on http://{config.ip}:{config.port}{config.prefix} "
          f"→ {config.upstream}", file=sys.stderr, flush=True)
    loop.start()
    return 0

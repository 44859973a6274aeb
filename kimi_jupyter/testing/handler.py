"""HTTP plumbing of the loopback server: routing, endpoints, streaming, faults.

Streams use HTTP/1.1 chunked encoding on purpose: closing the socket before the
final zero-length chunk is exactly what a client sees when a real connection
drops mid-stream, so the ``drop`` fault raises on the client like the real thing.
State (scenarios, fault counters, prefix cache, request ids) lives on `KimiServer`;
a handler reaches it as ``self.server.kimi``, typed as what it uses of it
(`LoopbackState`, see `.protocols`): the server imports the handler, never the
reverse. Which requests are refused, and with what message, is `.rules`; the
bytes are `.wire`.
"""

from __future__ import annotations

import json
import socket
import socketserver
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

from . import rules
from . import batches, files, replay
from .batches import BATCH_HEADER
from .chunked import ChunkedWriter
from .protocols import ServerState
from .scenarios import STREAM_ERROR_STATUS, RequestState, Fault, render, select, template_vars
from .wire import (
    DONE, Encoder, Flavor, RequestError, ServedModel, UsageCounts, WireCall, compact, error_body, estimate_tokens,
    model_entry, model_not_found,
)

_NO_TOOLS_ANSWER = "I would use a tool for this, but this request offers none, so I'll answer directly: it depends."


class LoopbackState(ServerState, files.HasFiles, batches.HasBatches, Protocol):
    """What the handler and its routes use of the server (`KimiServer` is one)."""


class LoopbackHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: a pool opening 50 connections at once (map at
    # tier 1) would see some refused, which a real API's listener never does.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], kimi: LoopbackState, handler: type | None = None) -> None:
        self.kimi = kimi
        super().__init__(address, handler or Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can
        # take seconds on a machine without network. The name is never used.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client dropping a keep-alive connection (RST) is routine, not a server bug.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streams, like the real API
    server_version = "kimi-loopback/0.1"
    sys_version = ""
    disable_nagle_algorithm = True  # small paced events must not wait for delayed ACKs
    server: LoopbackHTTPServer
    _request_id: str | None = None

    def setup(self) -> None:
        super().setup()
        self.server.kimi.track_connection(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.kimi.untrack_connection(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.kimi.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def send_response(self, code: int, message: str | None = None) -> None:
        # Every Moonshot response names itself (support asks for the id); vLLM sends none.
        super().send_response(code, message)
        if self._request_id is not None:
            self.send_header("Msh-Request-Id", self._request_id)
            self.server.kimi.note_request_id(self._request_id)

    # ------------------------------------------------------------ plumbing
    def _dispatch(self) -> None:
        raw = self._read_body()
        path = urlsplit(self.path).path.rstrip("/")
        flavor: Flavor = "vllm" if path.startswith("/vllm/") else "moonshot"
        self._request_id = uuid.uuid4().hex if flavor == "moonshot" else None  # fresh per request
        prefix = "/vllm/v1/" if flavor == "vllm" else "/v1/"
        route = _ROUTES.get((self.command, path[len(prefix) - 1 :])) if path.startswith(prefix) else None
        params: tuple[str, ...] = ()
        if route is None and path.startswith(prefix):  # /files/{id}..., /batches/{id}...: see .files, .batches
            route, params = _resource_route(self.command, path[len(prefix):]) or (None, ())
        kimi = self.server.kimi
        if kimi.player is not None and path.startswith(prefix):  # replay mode: answers come from a cassette
            try:
                if replay.serve(self, kimi.player, kimi.pace, f"{self.command} {path[len(prefix) - 1 :]}", raw):
                    return
            except ConnectionError:
                self.close_connection = True
                return
        try:
            if route is None:
                raise RequestError(404, "resource_not_found_error", f"Not found: {self.command} {path}")
            key = self._check_auth(flavor)
            if route is Handler._chat:  # the tier's limits and latency (.limits); a batch's own requests skip them
                with kimi.limits.admit(exempt=bool(self.headers.get(BATCH_HEADER))):
                    route(self, flavor, key, raw)
            else:
                route(self, flavor, key, raw, *params)
        except RequestError as err:
            self._send_json(err.status, error_body(err.status, err.type, err.message, flavor))
        except ConnectionError:
            self.close_connection = True  # the client went away (e.g. an interrupted cell)

    def _read_body(self) -> bytes:
        if self.command != "POST":
            return b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _check_auth(self, flavor: Flavor) -> str:
        header = self.headers.get("Authorization", "")
        key = header[7:].strip() if header[:7].lower() == "bearer " else ""
        self.server.kimi.record_key(key)
        if self.server.kimi.player is not None:
            return key or "anonymous"  # a replay needs no key: it accepts any, or none
        if flavor == "vllm" and self.server.kimi.vllm_api_key is None:
            return key or "anonymous"  # like `vllm serve` without --api-key: no auth at all
        expected = self.server.kimi.api_key if flavor == "moonshot" else self.server.kimi.vllm_api_key
        if not key or (expected is not None and key != expected):
            raise RequestError(401, "invalid_authentication_error", "Invalid Authentication")
        return key

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _abort(self) -> None:
        """Close the connection under the client's feet."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _json_body(self, raw: bytes) -> dict[str, Any]:
        try:
            body = json.loads(raw or b"null")
        except ValueError as exc:
            raise RequestError(400, "invalid_request_error", f"Invalid request: body is not valid JSON ({exc})")
        if not isinstance(body, dict):
            raise RequestError(400, "invalid_request_error", "Invalid request: body must be a JSON object")
        return body

    def _model(self, flavor: Flavor, body: dict[str, Any]) -> ServedModel:
        model = body.get("model")
        info = self.server.kimi.models[flavor].get(model) if isinstance(model, str) else None
        if info is None:
            raise model_not_found(str(model), flavor)
        return info

    # ------------------------------------------------------------ endpoints
    def _models(self, flavor: Flavor, key: str, raw: bytes) -> None:
        data = [model_entry(m, flavor) for m in self.server.kimi.models[flavor].values()]
        self._send_json(200, {"object": "list", "data": data})

    def _estimate(self, flavor: Flavor, key: str, raw: bytes) -> None:
        body = self._json_body(raw)
        self._model(flavor, body)
        if not isinstance(body.get("messages"), list):
            raise RequestError(400, "invalid_request_error", "Invalid request: messages must be a list")
        total = estimate_tokens(compact(body["messages"]) + (compact(body["tools"]) if body.get("tools") else ""))
        self._send_json(200, {"code": 0, "data": {"total_tokens": total}, "scode": "0x0", "status": True})

    def _balance(self, flavor: Flavor, key: str, raw: bytes) -> None:
        data = {"available_balance": 49.5, "voucher_balance": 0, "cash_balance": 49.5}
        self._send_json(200, {"code": 0, "data": data, "scode": "0x0", "status": True})

    def _chat(self, flavor: Flavor, key: str, raw: bytes) -> None:
        kimi = self.server.kimi
        body = self._json_body(raw)
        kimi.record_request(body)
        model = self._model(flavor, body)
        messages = rules.check_messages_shape(body)
        thinking = rules.check_thinking(model, body, flavor)
        # One dump of the (possibly multi-MB) messages serves the estimate, the context
        # check and the prefix cache.
        messages_json = compact(messages)
        tools_json = compact(body["tools"]) if body.get("tools") else ""
        dropped = rules.dropped_reasoning_chars(messages, thinking.keep_all)
        prompt_tokens = max(1, (len(messages_json) + len(tools_json) - dropped) // 4)
        if flavor == "moonshot":
            rules.validate_chat(model, body, thinking, prompt_tokens)
        conv = RequestState.from_messages(messages)
        scenario = select(kimi.ordered_scenarios(), kimi.scenarios, conv.last_user)
        flat, turn = scenario.turn_at(conv.step)
        values = template_vars(conv, model.id)
        id_prefix = "functions." if flavor == "vllm" else ""  # vLLM's kimi_k2 tool parser style
        calls = [
            WireCall(f"{id_prefix}{spec.name}{model.tool_id_sep}{conv.prior_tool_calls + i}", spec.name,
                     render(spec.arguments, values))
            for i, spec in enumerate(turn.tool_calls)
        ]
        if any(c.name == "$web_search" for c in calls) and not rules.declares_web_search(body):
            raise rules.bad("web_search_undeclared")
        content = render(turn.content, values)
        if calls and (not body.get("tools") or body.get("tool_choice") == "none"):
            # A real model can't call tools it wasn't offered (e.g. `%%kimi --no-tools`).
            calls, content = [], content or _NO_TOOLS_ANSWER
        reasoning = render(turn.reasoning, values) if thinking.enabled else ""
        finish = turn.finish_reason or ("tool_calls" if calls else "stop")
        fault = turn.fault if turn.fault and kimi.take_fault((scenario.name, flat), turn.fault) else None
        headers = {"X-Loopback-Scenario": f"{scenario.name}:{flat}"}  # which script answered, for debugging

        if fault is not None and fault.kind == "stream_error" and not body.get("stream"):
            status = fault.status or STREAM_ERROR_STATUS.get(fault.type, 500)
            self._send_json(status, error_body(status, fault.type, fault.message, flavor), headers)
            return
        if fault is not None and fault.kind == "http_error":
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            self._send_json(fault.status, error_body(fault.status, fault.type, fault.message, flavor), headers)
            return
        if fault is not None and fault.kind == "refuse":
            self._abort()
            return

        usage = UsageCounts(
            prompt_tokens=prompt_tokens,
            completion_tokens=estimate_tokens(reasoning + content + "".join(c.arguments for c in calls)),
            # Kimi's chat template renders the tools before the messages, so an unchanged
            # tool list is part of the cached prefix, as it is on the real API.
            cached_tokens=min(prompt_tokens, kimi.cached_tokens(key, flavor, model.id, tools_json + messages_json)),
            reasoning_tokens=len(reasoning) // 4 if thinking.enabled else None,
        )
        if kimi.cache_writes and model.cache_options:
            # What missed the cache is written to it (and renewed on a hit at no charge).
            usage.cache_write_tokens = usage.prompt_tokens - usage.cached_tokens
        enc = Encoder(flavor, model.id, noise=scenario.sse_noise)
        if body.get("stream"):
            cps = next((c for c in (turn.cps, scenario.cps, kimi.default_cps) if c is not None), None)
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._stream(enc, reasoning, content, calls, finish, usage, fault, cps, scenario.chunk_chars,
                         include_usage, headers)
            return
        completion = enc.completion(reasoning, content, calls, finish, usage, thinking.enabled)
        if fault is not None and fault.kind == "stall":
            time.sleep(fault.seconds)
        elif fault is not None and fault.kind == "no_finish":
            completion["choices"][0]["finish_reason"] = None
        elif fault is not None and fault.kind == "drop":
            data = json.dumps(completion).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self._abort()
            return
        self._send_json(200, completion, headers)

    def _stream(
        self, enc: Encoder, reasoning: str, content: str, calls: list[WireCall], finish: str, usage: UsageCounts,
        fault: Fault | None, cps: float | None, chunk_chars: int, include_usage: bool, headers: dict[str, str],
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        out = ChunkedWriter(self.wfile, cps)
        # A stream fault fires before the first text event at or past its threshold;
        # no_finish with after_chars=0 lets all text through and fires at the end.
        at = float("inf") if fault and fault.kind == "no_finish" and not fault.after_chars else (
            fault.after_chars if fault else 0)
        for kind, data, chars in enc.stream(reasoning, content, calls, chunk_chars):
            if fault is not None and kind == "text" and out.chars >= at:
                if not self._fire(out, enc, fault):
                    return
                fault = None
            out.write(data, chars)
        if fault is not None and not self._fire(out, enc, fault):
            return
        out.write(enc.finish(finish, usage))
        if include_usage:  # both flavours: a trailing `choices: []` chunk with top-level usage
            out.write(enc.usage_chunk(usage))
        out.write(DONE)
        out.end()

    def _fire(self, out: ChunkedWriter, enc: Encoder, fault: Fault) -> bool:
        """Apply a stream fault; False when it ended the response."""
        if fault.kind == "stall":
            out.stall(fault.seconds)
            return True
        if fault.kind == "no_finish":
            out.end()  # a clean end of the HTTP body, with no finish chunk and no [DONE]
            return False
        if fault.kind == "stream_error":
            out.write(enc.error_event(fault.type, fault.message))
            out.end()  # the error is the last event: no finish chunk, no [DONE]
            return False
        if fault.kind == "raw_event":
            out.write(b"data: " + fault.payload.encode("utf-8", "surrogatepass") + b"\n\n")
            return True
        if fault.kind == "endless_line":
            # Written piece by piece: the server holds 64 KB of it, never the whole line.
            out.write(b'data: {"choices": [{"index": 0, "delta": {"content": "')
            piece, left = b"x" * 65536, fault.size
            while left > 0:
                out.write(piece[:left])
                left -= len(piece)
            out.end()
            return False
        out.flush()
        self._abort()  # "drop"
        return False


_ROUTES = {
    ("POST", "/chat/completions"): Handler._chat,
    ("GET", "/models"): Handler._models,
    ("POST", "/tokenizers/estimate-token-count"): Handler._estimate,
    ("GET", "/users/me/balance"): Handler._balance,
}




def _resource_route(command: str, subpath: str) -> tuple[Any, tuple[str, ...]] | None:
    """Routes with ids in their path: `/v1/files...` and `/v1/batches...`."""
    head, *parts = subpath.split("/")
    module = {"files": files, "batches": batches}.get(head)
    return module.route(command, parts) if module is not None else None

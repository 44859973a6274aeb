"""The loopback server's replay mode: answer from a cassette instead of from scenarios.

`KimiServer(replay=PATH)` (and `kimi-jupyter server --replay PATH`) hands chat
requests and the model listing to `serve`; matching is `player.Player`, this
module only speaks HTTP. Every answer carries `X-Kimi-Replay`, which the client
turns into "offline replay" in the footer. A request the cassette doesn't hold
gets a 404 `resource_not_found_error` naming the nearest recorded prompt.
Streams are paced as the server was told: the recorded timing, characters per
second, or as fast as possible. Only checked headers are sent back
(`cassette.replay_headers`), never a recorded header as written. Endpoints not
recorded (the token estimate, the balance) fall through to the ordinary
loopback handlers.
"""

from __future__ import annotations

import json
import time

from ..core.cassette import REPLAY_HEADER, Exchange, replay_headers
from .player import NoMatch, Pace, Player, chunk_chars
from .chunked import ChunkedWriter
from .protocols import Responder
from .wire import DONE, error_body


def serve(handler: Responder, player: Player, pace: Pace, endpoint: str, raw: bytes) -> bool:
    """Answer `endpoint` ("GET /models", "POST /chat/completions") from the cassette; False if not ours."""
    if endpoint not in ("GET /models", "POST /chat/completions"):
        return False
    handler._request_id = None  # the recorded Msh-Request-Id is sent instead of a fresh one
    if endpoint == "GET /models":
        listing = player.take_listing()
        if listing is None:
            _send_json(handler, 404, error_body(404, "resource_not_found_error",
                                                "This cassette holds no model listing."))
        else:
            _send(handler, listing, pace)
        return True
    try:
        body = json.loads(raw or b"null")
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        exchange = player.take(body)
    except ValueError as exc:
        _send_json(handler, 400, error_body(400, "invalid_request_error", f"Invalid request: {exc}"))
    except NoMatch as exc:
        _send_json(handler, 404, error_body(404, "resource_not_found_error", str(exc)))
    else:
        _send(handler, exchange, pace)
    return True


def _send_json(handler: Responder, status: int, obj: object, headers: dict[str, str] | None = None) -> None:
    handler._send_json(status, obj, {REPLAY_HEADER: "cassette", **(headers or {})})


def _send(handler: Responder, exchange: Exchange, pace: Pace) -> None:
    # Only the checked headers go out (`replay_headers`): never a recorded header as written.
    headers = replay_headers(exchange.headers, exchange.streamed)
    handler._request_id = headers.pop("Msh-Request-Id", None)  # sent by `Handler.send_response`
    content_type = headers.pop("Content-Type")
    if not exchange.streamed:
        _send_json(handler, exchange.status, exchange.body, headers)
        return
    started = time.monotonic()
    handler.send_response(exchange.status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Cache-Control", "no-cache")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.send_header(REPLAY_HEADER, "cassette")
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    out = ChunkedWriter(handler.wfile, pace.cps)
    for event in exchange.events or ():
        if pace.original:
            delay = started + event.t - time.monotonic()
            if delay > 0:
                out.flush()
                time.sleep(delay)
        data = json.dumps(event.data, ensure_ascii=False).encode("utf-8")
        out.write(b"data: " + data + b"\n\n", chunk_chars(event.data))
    if not exchange.complete:
        out.flush()  # the recording stopped here (a dropped connection, an interrupted cell): so does the replay
        handler._abort()
        return
    out.write(DONE)
    out.end()

"""What a forwarded answer cost: its usage and web searches, read from the bytes as they pass.

The bytes go to the student unchanged; the meter only watches. A streamed
answer's usage comes in its last chunks (Moonshot: in the finish chunk's choice
and again at the top level; vLLM: at the top level), so the cost is known when
the stream ends. Prices are the catalog's (`core/catalog.py`) for the model the
request named: Moonshot's list prices, also for an OpenAI-compatible upstream
that serves the same models.
"""

from __future__ import annotations

import json
from typing import Any

from ..core import catalog
from ..core.stream import Usage
from ..core.wire import WEB_SEARCH  # Kimi's built-in search tool, billed per call

_MOONSHOT = "https://api.moonshot.ai/v1"  # whose catalog prices apply


class Meter:
    """Feed it the response body in any pieces; read `usage` and `web_searches` at the end."""

    def __init__(self) -> None:
        self._pending = b""
        self.usage: Usage | None = None
        self.web_searches = 0
        self.model: str | None = None

    def feed(self, data: bytes) -> None:
        """A piece of an SSE body (`data: {...}` lines)."""
        lines = (self._pending + data).split(b"\n")
        self._pending = lines.pop()
        for line in lines:
            line = line.strip()
            if line.startswith(b"data:"):
                payload = line[5:].strip()
                if payload and payload != b"[DONE]":
                    self._chunk(payload)

    def feed_json(self, body: bytes) -> None:
        """A whole non-streamed JSON answer."""
        self._chunk(body)

    def _chunk(self, payload: bytes) -> None:
        try:
            chunk = json.loads(payload)
        except ValueError:
            return  # not ours to judge: the student's client sees the same bytes
        if not isinstance(chunk, dict):
            return
        self.model = self.model or chunk.get("model")
        self._usage(chunk.get("usage"))
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            self._usage(choice.get("usage"))
            message = choice.get("delta") or choice.get("message") or {}
            for call in message.get("tool_calls") or () if isinstance(message, dict) else ():
                if isinstance(call, dict) and (call.get("function") or {}).get("name") == WEB_SEARCH:
                    self.web_searches += 1  # a call's name comes once, in its first delta

    def _usage(self, data: Any) -> None:
        if isinstance(data, dict):
            usage = Usage.from_wire(data)
            self.usage = usage if self.usage is None else self.usage.merge(usage)


def price(model: str, usage: Usage | None, web_searches: int = 0) -> float:
    """USD for one answer at the catalog's prices; 0 for a model the catalog doesn't price."""
    info = catalog.resolve(_MOONSHOT, model)
    cost = catalog.cost_usd(info, usage or Usage(), web_searches)
    return cost or 0.0

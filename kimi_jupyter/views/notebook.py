"""`StaticView`: outputs for a notebook, without widgets.

Each model reply leaves, in order: the reasoning (collapsed `<details>`), the
answer (markdown), then any tool calls with their ordinary cell outputs, then a
footer with usage metadata. While a reply streams, one small status line is
shown and updated at most every couple of seconds; it becomes the reasoning
block when the reply is complete (`update_display`), so nothing is resent.

`WidgetView` (widget.py) subclasses this and only replaces the live part.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from . import render
from .base import BaseView

if TYPE_CHECKING:
    from ..result import Result
    from ..stream import ToolCall, Turn
    from ..tools import ToolOutput

_STATUS_INTERVAL_S = 2.0


def publish(
    bundle: render.Bundle, *, metadata: dict[str, Any] | None = None, display_id: bool = False, part: str | None = None
) -> Any:
    """Display a bundle; `part` (reasoning, answer, code, tool_call, …) goes in its `kimi_jupyter` metadata."""
    from IPython.display import display

    if part is not None:
        metadata = dict(metadata or {})
        metadata["kimi_jupyter"] = {**metadata.get("kimi_jupyter", {}), "part": part}
    return display(bundle, raw=True, metadata=metadata, display_id=display_id)


class StaticView(BaseView):
    def __init__(self, fmt: str = "markdown") -> None:
        self.fmt = fmt
        self._handle: Any = None
        self._step_started = 0.0
        self._tokens = self._reasoning_tokens = 0
        self._last_status = 0.0
        self._phase = "Thinking"

    # -- live part (overridden by WidgetView) ---------------------------------

    def _live_start(self) -> None:
        self._handle = publish({"text/plain": "Kimi is thinking…"}, display_id=True)

    def _live_tick(self) -> None:
        now = time.monotonic()
        if now - self._last_status >= _STATUS_INTERVAL_S and self._handle is not None:
            self._last_status = now
            text = render.status_text(self._phase, now - self._step_started, self._tokens)
            self._handle.update({"text/plain": text}, raw=True)

    def _live_end(self, first: render.Bundle, part: str | None = None) -> None:
        """Swap the live display for the first static bundle of the reply."""
        metadata = {"kimi_jupyter": {"part": part}} if part else None
        if self._handle is not None:
            self._handle.update(first, raw=True, metadata=metadata)
            self._handle = None
        else:
            publish(first, part=part)

    # -- View events ----------------------------------------------------------

    def on_step_start(self, step: int, model: str) -> None:
        self._step_started = self._last_status = time.monotonic()
        self._tokens = self._reasoning_tokens = 0
        self._phase = "Thinking"
        self._live_start()

    def on_reasoning(self, delta: str) -> None:
        # Kimi sends about one token per delta, so deltas are a live token count.
        self._tokens += 1
        self._reasoning_tokens += 1
        self._live_tick()

    def on_content(self, delta: str) -> None:
        self._tokens += 1
        self._phase = "Answering"
        self._live_tick()

    def on_tool_call(self, call: "ToolCall") -> None:
        self._phase = f"Calling {call.name}"

    def on_step_end(self, turn: "Turn", elapsed_s: float) -> None:
        bundles: list[tuple[render.Bundle, str]] = []
        if turn.reasoning:
            bundles.append((render.reasoning_bundle(turn.reasoning, elapsed_s, self._reasoning_tokens), "reasoning"))
        if turn.content:
            bundles.append((render.answer_bundle(turn.content, self.fmt), "answer"))
        first, part = bundles[0] if bundles else ({"text/plain": ""}, None)
        self._live_end(first, part)
        for bundle, part in bundles[1:]:
            publish(bundle, part=part)

    def show_code(self, code: str) -> None:
        publish(render.code_bundle(code, "Kimi runs Python"), part="code")

    def on_tool_start(self, call: "ToolCall", step: int) -> None:
        if call.name != "python":
            publish(render.tool_call_bundle(call.name, call.arguments, f"Tool call {step}:"), part="tool_call")

    def on_tool_output(self, call: "ToolCall", output: "ToolOutput") -> None:
        # The python tool's outputs are already ordinary cell outputs.
        if call.name != "python":
            publish(render.tool_output_bundle(call.name, output.text, output.ok), part="tool_output")

    def on_retry(self, seconds: float, reason: str) -> None:
        publish(render.notice_bundle(f"Retrying in {seconds:.0f} s ({reason})…", "info"), part="notice")

    def on_notice(self, text: str, level: str = "warning") -> None:
        publish(render.notice_bundle(text, level), part="notice")

    def on_finish(self, result: "Result") -> None:
        publish(render.footer_bundle(result.footer()), metadata={"kimi_jupyter": result.metadata()}, part="footer")

"""Notebook views: static outputs that last, plus a live part while a reply streams.

Each model reply leaves, in order: the reasoning (collapsed `<details>`), the
answer (markdown), then any tool calls with their ordinary cell outputs, then a
footer with usage metadata. While a reply streams, a *live part* shows it; when
the reply is complete, the live output becomes the reply's first static bundle
emptied and the reply's static bundles follow it as new outputs (which every
frontend shows, text-only ones included), so nothing depends on widget state.

`NotebookView` does the static part and composes a live part:
`TextLive` here (one status line, for `Kimi.view = "static"`), or
`widget.WidgetLive` (ipywidgets). Both are told the same events, so neither
reads the other's state.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Iterator, Protocol

from . import render
from .base import BaseView
from .status import StepStatus

if TYPE_CHECKING:
    from ..result import Result
    from ..stream import ToolCall, Turn
    from ..tools import ToolOutput


def flush_pending() -> None:
    """Flush stdout and stderr, but only those holding text not yet sent.

    ipykernel flushes both streams before every display, and each flush waits for a
    round trip to its IO thread even when there is nothing to send: two waits per
    display, several displays per tool step. A stream with nothing pending (ipykernel's
    `_flush_pending`, set on write and cleared as its IO thread starts sending) has
    nothing to put ahead of the display; a send already under way was queued on the
    IO thread before our message, so the order holds. Any other stream is flushed.
    """
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "_flush_pending", True) or getattr(stream, "_subprocess_flush_pending", False):
            stream.flush()


@contextmanager
def _lean_flush() -> Iterator[None]:
    """While our own displays go out, the display publisher flushes only pending streams."""
    from IPython import get_ipython

    pub = getattr(get_ipython(), "display_pub", None)
    if pub is None or not hasattr(pub, "_flush_streams") or "_flush_streams" in vars(pub):
        yield  # not ipykernel's publisher, or already swapped (a display inside a display)
        return
    pub._flush_streams = flush_pending  # shadows the method on this instance only
    try:
        yield
    finally:
        del pub._flush_streams


def publish(bundle: render.Bundle, *, metadata: dict[str, Any] | None = None, display_id: bool = False) -> Any:
    """Display a raw mime bundle (metadata from `render.provenance`)."""
    from IPython.display import display

    with _lean_flush():
        return display(bundle, raw=True, metadata=metadata, display_id=display_id)


def update(handle: Any, bundle: render.Bundle, *, metadata: dict[str, Any] | None = None) -> None:
    """Replace what a `publish(..., display_id=True)` handle shows."""
    with _lean_flush():
        handle.update(bundle, raw=True, metadata=metadata)


class Live(Protocol):
    """The part of a notebook view that shows a reply while it streams."""

    interval_s: float  # the throttle for status updates
    streamed: bool  # this reply's reasoning went out live as stream output

    def start(self, status: StepStatus) -> None:
        """A reply begins: show something at once."""

    def reasoning(self, delta: str) -> None: ...

    def content(self, delta: str) -> None: ...

    def refresh(self) -> None:
        """The status changed (throttled by the caller)."""

    def retry(self, text: str) -> None:
        """The client waits before retrying: say so live."""

    def pause(self) -> None:
        """Other outputs are about to be published: flush and step out of any widget context."""

    def end(self) -> None:
        """The reply is complete: empty the live output (its static bundles follow it)."""

    def close(self) -> None:
        """The cell is done: free whatever the live part holds."""


class TextLive:
    """One text line ("Thinking · 4 s · 312 tokens"), updated every couple of seconds."""

    interval_s = 2.0
    streamed = False

    def __init__(self) -> None:
        self._handle: Any = None
        self._status: StepStatus | None = None

    def start(self, status: StepStatus) -> None:
        self._status = status
        self._handle = publish({"text/plain": render.placeholder()}, metadata=render.provenance("live"),
                               display_id=True)

    def reasoning(self, delta: str) -> None:
        pass

    def content(self, delta: str) -> None:
        pass

    def refresh(self) -> None:
        if self._handle is not None and self._status is not None:
            update(self._handle, {"text/plain": self._status.text()})

    def retry(self, text: str) -> None:
        pass  # the notice below says it, and stays

    def pause(self) -> None:
        pass

    def end(self) -> None:
        if self._handle is not None:
            update(self._handle, render.EMPTY, metadata=render.provenance("live"))
            self._handle = None

    def close(self) -> None:
        self._handle = None


class NotebookView(BaseView):
    """Static outputs for the saved notebook, around a live part."""

    def __init__(self, fmt: str = "markdown", live: Live | None = None) -> None:
        self.fmt = fmt
        self.live: Live = live if live is not None else TextLive()
        self.status = StepStatus(self.live.interval_s)
        self.model = ""
        self.step = 0

    def _meta(self, part: str, **fields: Any) -> dict[str, Any]:
        return render.provenance(part, model=self.model or None, step=self.step, **fields)

    # -- streaming ---------------------------------------------------------------

    def on_step_start(self, step: int, model: str) -> None:
        self.step, self.model = step, model
        self.status.start()
        self.live.start(self.status)

    def on_reasoning(self, delta: str) -> None:
        self.status.reasoning()
        self.live.reasoning(delta)
        if self.status.due():
            self.live.refresh()

    def on_content(self, delta: str) -> None:
        self.status.content()
        self.live.content(delta)
        if self.status.due():
            self.live.refresh()

    def on_tool_call(self, call: "ToolCall") -> None:
        self.status.tool_call(call.name)
        self.live.refresh()

    def on_step_end(self, turn: "Turn", elapsed_s: float) -> None:
        usage = asdict(turn.usage) if turn.usage is not None else None
        fields = {"response_id": turn.id, "usage": usage, "elapsed_s": round(elapsed_s, 3)}
        bundles: list[tuple[render.Bundle, str]] = []
        if turn.reasoning:
            bundles.append((render.reasoning_bundle(turn.reasoning, elapsed_s, self.status.reasoning_tokens,
                                                    streamed=self.live.streamed), "reasoning"))
        if turn.content:
            bundles.append((render.answer_bundle(turn.content, self.fmt), "answer"))
        # The live output is emptied and the static bundles are new outputs after it,
        # not updates of it: frontends that show only text/plain (jupyter console,
        # qtconsole, Emacs) ignore `update_display_data`, and would never see the reasoning.
        self.live.end()
        for bundle, part in bundles:
            publish(bundle, metadata=self._meta(part, **fields))

    # -- tools and notes ---------------------------------------------------------

    def show_code(self, code: str) -> None:
        self.live.pause()
        publish(render.code_bundle(code), metadata=self._meta("code", model_written=True))

    def on_tool_start(self, call: "ToolCall", step: int) -> None:
        self.live.pause()
        if not call.is_code:
            publish(render.tool_call_bundle(call.name, call.arguments, step), metadata=self._meta("tool_call"))

    def on_tool_output(self, call: "ToolCall", output: "ToolOutput") -> None:
        # The python tool's outputs are already ordinary cell outputs.
        if not call.is_code:
            publish(render.tool_output_bundle(call.name, output.text, output.ok), metadata=self._meta("tool_output"))
            # Images an MCP tool returned: its text only notes them, and the user should see
            # what the tool gave (vision models are sent them too).
            for index, png in enumerate(output.images, 1):
                publish(render.tool_image_bundle(call.name, png, index), metadata=self._meta("tool_output"))

    def on_retry(self, seconds: float, reason: str) -> None:
        text = render.retrying(seconds, reason)
        self.live.retry(text)
        publish(render.notice_bundle(text, "info"), metadata=self._meta("notice"))

    def on_notice(self, text: str, level: str = "warning") -> None:
        self.live.pause()
        publish(render.notice_bundle(text, level), metadata=self._meta("notice"))

    def on_finish(self, result: "Result") -> None:
        self.live.close()
        meta = render.provenance("footer")
        meta["kimi_jupyter"].update(result.metadata())
        publish(render.footer_bundle(result.footer()), metadata=meta)


class StaticView(NotebookView):
    """No widgets: a status line while streaming (`Kimi.view = "static"`, or no ipywidgets)."""

    def __init__(self, fmt: str = "markdown") -> None:
        super().__init__(fmt, TextLive())

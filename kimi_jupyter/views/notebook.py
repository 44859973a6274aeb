"""Notebook views: static outputs that last, plus a live part while a reply streams.

Each model reply leaves, in order: the reasoning (collapsed `<details>`), the
answer (markdown), then any tool calls with their ordinary cell outputs, then a
footer with usage metadata. While a reply streams, a *live part* shows it in one
output (a `display_id`); when the reply is complete, that output is *replaced*
(`update_display_data`) by the reply's first static bundle, its reasoning (or, with
thinking off, a one-line summary), and the rest follow as new outputs. So the saved
notebook holds only outputs that show something, each with its `kimi_jupyter`
metadata (SPEC §3), and nothing depends on widget state.

Text-only frontends (jupyter console, qtconsole, Emacs) print new outputs' text/plain
and ignore updates, so they would miss what replaced the live output. Its text/plain
is carried instead at the head of the next new output's text/plain (`_unseen`), and
that output's metadata says how many characters of its text/plain are such a lead
(`kimi_jupyter.lead`): they read the reasoning, then the answer, each once and in order.

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

from .. import _compat
from . import render
from .base import BaseView
from .status import StepStatus

if TYPE_CHECKING:
    from ..core.result import Result
    from ..core.stream import ToolCall, Turn
    from ..tools import ToolOutput


def flush_pending() -> None:
    """Flush stdout and stderr, but only those holding text not yet sent.

    ipykernel flushes both streams before every display, and each flush waits for a
    round trip to its IO thread even when there is nothing to send: two waits per
    display, several displays per tool step. A stream with nothing pending (ipykernel's
    flag, set on write and cleared as its IO thread starts sending: `_compat.has_unsent_text`)
    has nothing to put ahead of the display; a send already under way was queued on the
    IO thread before our message, so the order holds. Any other stream is flushed.
    """
    for stream in (sys.stdout, sys.stderr):
        if _compat.has_unsent_text(stream):
            stream.flush()


@contextmanager
def _lean_flush() -> Iterator[None]:
    """While our own displays go out, the display publisher flushes only pending streams."""
    from IPython import get_ipython

    with _compat.display_flush_replaced(getattr(get_ipython(), "display_pub", None), flush_pending):
        yield


def publish(bundle: render.Bundle, *, metadata: dict[str, Any] | None = None, display_id: bool = False) -> Any:
    """Display a raw mime bundle (metadata from `render.provenance`)."""
    from IPython.display import display

    with _lean_flush():
        return display(bundle, raw=True, metadata=metadata, display_id=display_id)


def update(handle: Any, bundle: render.Bundle, *, metadata: dict[str, Any] | None = None) -> None:
    """Replace what a `publish(..., display_id=True)` handle shows."""
    with _lean_flush():
        handle.update(bundle, raw=True, metadata=metadata)


def lead_text(lead: str, text: str) -> str:
    """`text` with `lead` on the lines before it (text-only frontends print them together)."""
    return f"{lead}\n{text}" if lead and text else lead or text


def with_lead(metadata: dict[str, Any], chars: int) -> dict[str, Any]:
    """`metadata` noting that the first `chars` characters of text/plain belong to an earlier output."""
    info = dict(metadata.get("kimi_jupyter", {}))
    info["lead"] = chars
    return {**metadata, "kimi_jupyter": info}


def live_start(lead: str) -> tuple[render.Bundle, dict[str, Any]]:
    """A live output's first form, and its metadata (`lead`: see `lead_text`)."""
    bundle = {"text/plain": lead_text(lead, render.placeholder())}
    meta = render.provenance("live")
    return bundle, with_lead(meta, len(bundle["text/plain"]) - len(render.placeholder())) if lead else meta


class Live(Protocol):
    """The part of a notebook view that shows a reply while it streams."""

    interval_s: float  # the throttle for status updates
    streamed: bool  # this reply's reasoning went out live as stream output

    def start(self, status: StepStatus, lead: str = "") -> None:
        """A reply begins: show something at once (`lead`: text/plain to put first, for text-only frontends)."""

    def reasoning(self, delta: str) -> None: ...

    def content(self, delta: str) -> None: ...

    def refresh(self) -> None:
        """The status changed (throttled by the caller)."""

    def retry(self, text: str) -> None:
        """The client waits before retrying: say so live."""

    def pause(self) -> None:
        """Other outputs are about to be published: flush and step out of any widget context."""

    def end(self, fill: render.Bundle | None, metadata: dict[str, Any] | None = None) -> Any:
        """The reply is complete: the live output becomes `fill`.

        With no `fill`, its display handle is returned, to be filled by the next output.
        """

    def close(self) -> None:
        """The cell is done: free whatever the live part holds."""


class TextLive:
    """One text line ("Thinking · 4 s · 312 tokens"), updated every couple of seconds."""

    interval_s = 2.0
    streamed = False

    def __init__(self) -> None:
        self._handle: Any = None
        self._status: StepStatus | None = None

    def start(self, status: StepStatus, lead: str = "") -> None:
        self._status = status
        bundle, meta = live_start(lead)
        self._handle = publish(bundle, metadata=meta, display_id=True)

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

    def end(self, fill: render.Bundle | None, metadata: dict[str, Any] | None = None) -> Any:
        handle, self._handle = self._handle, None
        if handle is not None and fill is not None:
            update(handle, fill, metadata=metadata)
            return None
        return handle

    def close(self) -> None:
        if self._handle is not None:  # a cell cut short mid-reply: leave no status line behind
            update(self._handle, render.EMPTY, metadata=render.provenance("live"))
        self._handle = None


class NotebookView(BaseView):
    """Static outputs for the saved notebook, around a live part."""

    def __init__(self, fmt: str = "markdown", live: Live | None = None) -> None:
        self.fmt = fmt
        self.live: Live = live if live is not None else TextLive()
        self.status = StepStatus(self.live.interval_s)
        self.model = ""
        self.step = 0
        self._slot: Any = None  # a finished reply's live output, left for the next output to fill
        self._unseen = ""  # text/plain that replaced a live output: text-only frontends haven't seen it

    def _publish(self, bundle: render.Bundle, metadata: dict[str, Any]) -> None:
        """A static output: it fills an open slot, or is new and leads with the unseen text."""
        if self._slot is not None:
            slot, self._slot = self._slot, None
            self._fill(slot, bundle, metadata)
            return
        lead, self._unseen = self._unseen, ""
        if lead:
            text = str(bundle.get("text/plain", ""))
            bundle = {**bundle, "text/plain": lead_text(lead, text)}
            metadata = with_lead(metadata, len(bundle["text/plain"]) - len(text))
        publish(bundle, metadata=metadata)

    def _fill(self, handle: Any, bundle: render.Bundle, metadata: dict[str, Any]) -> None:
        update(handle, bundle, metadata=metadata)
        self._unseen = lead_text(self._unseen, str(bundle.get("text/plain", "")))

    def _meta(self, part: str, **fields: Any) -> dict[str, Any]:
        return render.provenance(part, model=self.model or None, step=self.step, **fields)

    # -- streaming ---------------------------------------------------------------

    def on_step_start(self, step: int, model: str) -> None:
        if self._slot is not None:  # the previous reply showed nothing at all
            self._publish(render.status_bundle(render.reply_summary(0.0, 0)), self._meta("status"))
        self.step, self.model = step, model
        self.status.start()
        lead, self._unseen = self._unseen, ""
        self.live.start(self.status, lead)

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
        streamed = self.live.streamed
        if turn.reasoning:
            # The live output becomes the reasoning; its text/plain there is the summary
            # line, and what text-only frontends should print (the reasoning itself unless
            # it streamed to them) leads the next new output.
            tokens = self.status.reasoning_tokens
            fill = render.reasoning_bundle(turn.reasoning, elapsed_s, tokens, streamed=True)
            meta = self._meta("reasoning", **fields)
            slot = self.live.end(fill, meta)
            unseen = render.reasoning_bundle(turn.reasoning, elapsed_s, tokens, streamed=streamed)["text/plain"]
            self._unseen = lead_text(self._unseen, unseen)
        elif turn.content or turn.tool_calls:
            summary = render.status_bundle(render.reply_summary(elapsed_s, self.status.tokens))
            slot = self.live.end(summary, self._meta("status", **fields))
        else:  # nothing came (e.g. the request failed): the next output (a note, the footer) takes its place
            slot = self.live.end(None)
        if slot is not None:
            self._slot = slot
        if turn.content:
            self._publish(render.answer_bundle(turn.content, self.fmt), self._meta("answer", **fields))

    # -- tools and notes ---------------------------------------------------------

    def show_code(self, code: str) -> None:
        self.live.pause()
        self._publish(render.code_bundle(code), self._meta("code", model_written=True))

    def on_tool_start(self, call: "ToolCall", step: int) -> None:
        self.live.pause()
        if not call.is_code:
            self._publish(render.tool_call_bundle(call.name, call.arguments, step), self._meta("tool_call"))

    def on_tool_output(self, call: "ToolCall", output: "ToolOutput") -> None:
        # The python tool's outputs are already ordinary cell outputs.
        if not call.is_code:
            self._publish(render.tool_output_bundle(call.name, output.text, output.ok), self._meta("tool_output"))
            # Images an MCP tool returned: its text only notes them, and the user should see
            # what the tool gave (vision models are sent them too).
            for index, png in enumerate(output.images, 1):
                self._publish(render.tool_image_bundle(call.name, png, index), self._meta("tool_output"))

    def on_retry(self, seconds: float, reason: str) -> None:
        text = render.retrying(seconds, reason)
        self.live.retry(text)
        self._publish(render.notice_bundle(text, "info"), self._meta("notice"))

    def on_notice(self, text: str, level: str = "warning") -> None:
        self.live.pause()
        self._publish(render.notice_bundle(text, level), self._meta("notice"))

    def on_finish(self, result: "Result") -> None:
        self.live.close()
        meta = render.provenance("footer")
        meta["kimi_jupyter"].update(result.metadata())
        self._publish(render.footer_bundle(result.footer()), meta)


class StaticView(NotebookView):
    """No widgets: a status line while streaming (`Kimi.view = "static"`, or no ipywidgets)."""

    def __init__(self, fmt: str = "markdown") -> None:
        super().__init__(fmt, TextLive())

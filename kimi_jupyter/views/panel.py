"""`PanelView`: renders agent events into the chat panel's transcript.

The panel (`kimi_jupyter.views.chat_panel.ChatPanel`) owns the transcript; this view
only appends widgets to it through the `add` callback. Each reply streams
through a `live.LiveReply`, the same widgets and traffic rules as the `%%kimi`
widget view; the status title (elapsed time, tokens) changes at most once a second.

Unlike the `%%kimi` view, nothing is replaced by static outputs at the end:
the panel is a live conversation, and what it shows stays as it is.
Model code runs inside a per-call `Output`, so its prints and figures appear
in the transcript in order, even though the reply runs in a widget callback
(whose outputs would otherwise belong to no cell).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Callable

from . import render
from .base import BaseView
from .live import LiveReply
from .notebook import publish
from .status import StepStatus

if TYPE_CHECKING:
    from ..core.result import Result
    from ..core.stream import ToolCall, Turn
    from ..tools import ToolOutput

_STATUS_INTERVAL_S = 1.0
note_html = render.note_html  # the panel's own notes look like the view's


class PanelView(BaseView):
    """A View whose screen is a transcript: `add(widget)` appends one item to it."""

    # The note for code the panel did not run; `ChatPanel` sets the right one per send
    # (with "Let Kimi run code" ticked, only code written after untrusted text is refused).
    declined_note = ("Kimi wanted to run this code, but auto-run is off in this panel. "
                     "Tick “Let Kimi run code” to allow it.")

    def __init__(self, add: Callable[[Any], None], fmt: str = "markdown") -> None:
        self.add = add
        self.fmt = fmt
        self._inside: Any = None  # the Output whose context is entered, if any
        self.status = StepStatus(_STATUS_INTERVAL_S)
        self._reply: LiveReply | None = None
        self.declined = 0  # model code not run because auto-run is off

    # -- Output contexts: entered and left at phase changes, never per chunk ---

    def _enter(self, out: Any) -> None:
        """Route outputs into `out` (a tool call's own Output, between replies)."""
        self._leave()
        out.__enter__()
        self._inside = out

    def _leave(self) -> None:
        if self._reply is not None:
            self._reply.leave()
        if self._inside is not None:
            sys.stdout.flush()
            sys.stderr.flush()
            self._inside.__exit__(None, None, None)
            self._inside = None

    def close(self) -> None:
        """Leave any open Output; the panel calls this however the reply ended."""
        self._leave()

    # -- small widgets --------------------------------------------------------

    def _note(self, text: str, level: str = "info") -> None:
        import ipywidgets as w

        self._leave()
        item = w.HTML(note_html(text, level))
        item.add_class("kimi-chat-note")
        item.add_class(f"kimi-chat-{level}")
        self.add(item)

    def _status(self) -> str:
        return self.status.text() + " …"

    def _tick(self) -> None:
        if self._reply is not None and self.status.due():
            self._reply.set_title(self._status())

    # -- View events ------------------------------------------------------------

    def on_step_start(self, step: int, model: str) -> None:
        self._leave()
        self.status.start()
        # Each reply keeps its own widgets: the transcript shows them as they are.
        self._reply = LiveReply(self._status(), self.fmt, reasoning_height="12em")
        self._reply.follow.add_class("kimi-chat-reasoning-scroll")
        self._reply.accordion.add_class("kimi-chat-reasoning")
        self._reply.answer_out.add_class("kimi-chat-answer")
        self._reply.tail_out.add_class("kimi-chat-tail")
        self._reply.box.add_class("kimi-chat-reply")
        self.add(self._reply.box)

    def on_reasoning(self, delta: str) -> None:
        self.status.reasoning()
        if self._reply is not None:
            self._reply.reasoning(delta)
        self._tick()

    def on_content(self, delta: str) -> None:
        self.status.content()
        if self._reply is not None:
            self._reply.content(delta)
        self._tick()

    def on_tool_call(self, call: "ToolCall") -> None:
        self.status.tool_call(call.name)
        if self._reply is not None:
            self._reply.set_title(self._status())

    def on_step_end(self, turn: "Turn", elapsed_s: float) -> None:
        reply, self._reply = self._reply, None
        if reply is None:
            return
        reply.leave()
        if turn.reasoning:
            reply.set_title(render.reasoning_summary(elapsed_s, self.status.reasoning_tokens))
            reply.accordion.selected_index = None
        else:  # nothing to fold away (its Layout is shared, so take it out rather than hide it)
            reply.box.children = tuple(c for c in reply.box.children if c is not reply.accordion)
        reply.finish_answer()  # the last paragraph, rendered now that it is complete

    def show_code(self, code: str) -> None:
        import ipywidgets as w

        self._leave()
        out = w.Output()
        out.add_class("kimi-chat-code")
        self.add(out)
        with out:
            publish(render.code_bundle(code), metadata=render.provenance("code", model_written=True))

    def on_tool_start(self, call: "ToolCall", step: int) -> None:
        import ipywidgets as w

        self._leave()
        if not call.is_code:
            label = w.HTML(render.tool_call_html(step, call.name, call.arguments))
            label.add_class("kimi-chat-tool")
            self.add(label)
        # Whatever the tool prints or displays (figures too) lands here, in order.
        out = w.Output()
        out.add_class("kimi-chat-tool-output")
        self.add(out)
        self._enter(out)

    def on_tool_output(self, call: "ToolCall", output: "ToolOutput") -> None:
        import ipywidgets as w

        self._leave()
        if output.declined:
            self.declined += 1
            self._note(self.declined_note, "warning")
            return
        item = w.HTML(render.tool_result_html(call.name, output.text, output.ok))
        item.add_class("kimi-chat-tool-result")
        self.add(item)

    def on_retry(self, seconds: float, reason: str) -> None:
        self._note(render.retrying(seconds, reason), "info")

    def on_notice(self, text: str, level: str = "warning") -> None:
        self._note(text, level)

    def on_finish(self, result: "Result") -> None:
        import ipywidgets as w

        self._leave()
        footer = w.HTML(render.footer_html(result.footer()))
        footer.add_class("kimi-chat-footer")
        self.add(footer)

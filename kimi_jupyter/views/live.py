"""`LiveReply`: the widgets that stream one model reply, shared by the `%%kimi`
widget view and the chat panel.

Traffic to the browser must grow linearly with the text. Measured facts
(ARCHITECTURE.md): resending a growing `HTML.value` costs ~30× the text, and
entering/leaving an `Output` per chunk ~40× (each is a comm message). So:

- reasoning deltas are written to stdout *inside* an `Output` widget entered
  once per phase; the deltas are batched here and sent as one stream message
  per ~1 kB or per BATCH_MAX_S (the first token of a phase at once), because
  each iopub message carries ~500 bytes of headers;
- long reasoning moves to a fresh `Output` every CHUNK_CHARS characters: the
  browser re-renders an Output's whole stream text on each message;
- the answer is rendered paragraph by paragraph: a finished paragraph is sent
  once as Markdown, the unfinished tail is shown as plain text in a small
  `Output` whose `outputs` are set (one comm message per batch, like a stream
  message), and emptied when its paragraph completes;
- an Output is emptied by setting its `outputs` (one comm message, together
  with leaving it when it can), never with `clear_output()` (three).

Text-only frontends (jupyter console, qtconsole) have no widgets: they print every
`stream` message and every `display_data` that has `text/plain`, captured or not,
and ignore comm messages. So the reasoning (a stream) reaches them live, ended with
a newline, while the answer's live parts don't: the tail is widget state, and the
rendered paragraphs carry no `text/plain`. They get the answer once, from the
static output that follows the reply.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from .. import _compat
from ..core import sanitize
from ..core.fences import BlockSplitter
from . import render
from .notebook import flush_pending, publish

# Stream batching: each iopub message carries ~500 bytes of headers (at a model's
# pace of ~400 characters/s a half-second batch would be ~200 characters, mostly
# headers). A batch goes once BATCH_S has passed and BATCH_CHARS are pending, or
# once BATCH_MAX_S has passed, so slow text still moves steadily; the first token
# of a phase goes at once.
BATCH_S = 1.0
BATCH_CHARS = 1000
BATCH_MAX_S = 1.5
# The browser re-renders an Output's merged stream text on every message, so the
# cost of an update grows with the text in that Output. Reasoning moves to a fresh
# Output every CHUNK_CHARS characters (at a line break), which keeps late updates
# as cheap as early ones.
CHUNK_CHARS = 20_000
# The answer's unfinished paragraph is resent whole with each batch (it is the
# Output's state, not a stream), so only its last TAIL_CHARS are shown: a long code
# block that streams for a while costs each batch at most this much.
TAIL_CHARS = 4_000
# JupyterLab and Notebook 7 break stream text anywhere (`.jp-OutputArea-output pre
# { word-break: break-all }`), which splits words mid-way ("ph / rase") in a narrow
# box. This rule, scoped to our reasoning box, wraps at word boundaries like the saved
# `<details>` block, breaking a word only when it is longer than the line. It is our
# own constant (never model text), shown inside the widget, so it goes when the widget does.
WRAP_CLASS = "kimi-live-reasoning"
WRAP_STYLE = {
    "text/html": f"<style>.{WRAP_CLASS} pre {{word-break: normal !important; overflow-wrap: anywhere;}}</style>",
    "text/plain": "",
}


def _output_class() -> Any:
    """`ipywidgets.Output` whose captured outputs the kernel doesn't echo back.

    The browser sends an Output's whole `outputs` back to the kernel after it
    captures messages (queued until the cell ends); ipywidgets 8 would echo all of
    it to every frontend once more. Nothing here reads `outputs` in the kernel.
    """
    global _Output
    if _Output is None:
        import ipywidgets as w
        from traitlets import Dict

        class Output(w.Output):
            outputs = w.widgets.trait_types.TypedTuple(trait=Dict()).tag(sync=True, echo_update=False)

        # On entering and leaving: only a stream holding text must go first.
        _compat.set_output_flush(Output, flush_pending)
        _Output = Output
    return _Output


_Output: Any = None


def sync(widget: Any, **state: Any) -> None:
    """Set traits of `widget` and send them to the frontend in one comm message.

    Sent even when the kernel's copy already holds the value: an Output's
    `outputs` fills up in the browser from captured messages, so "empty" here
    says nothing about the browser.
    """
    with widget.hold_sync():
        for name, value in state.items():
            setattr(widget, name, value)
        # In what hold_sync sends on exit, which would skip unchanged traits.
        _compat.send_in_held_sync(widget, state)


class LiveReply:
    """An accordion with the reasoning (following its newest line), then the answer.

    `recycle()` empties it for another reply: `widget.WidgetLive` keeps one
    across cells, because each widget costs a comm_open and a comm_close.
    """

    def __init__(self, title: str, fmt: str = "markdown", reasoning_height: str = "24em") -> None:
        import ipywidgets as w

        self.fmt = fmt
        # Every widget is a comm (and each opens a Layout of its own by default),
        # so the reply uses as few as it can: one shared Layout, and the status
        # line in the accordion's title.
        self._shared = shared = w.Layout()
        # The word-wrap rule sits in the box from the start (in the Output's opening
        # state: no message of its own), above the reasoning chunks.
        style = _output_class()(layout=shared, outputs=({"output_type": "display_data", "data": WRAP_STYLE,
                                                          "metadata": {}},))
        self._chunks = [self._new_chunk()]  # reasoning Outputs, CHUNK_CHARS each; kept for reuse
        self.reasoning_out = self._chunks[0]  # the one the reasoning streams into now
        # The chunks stack in a plain block box: adding one to a flex box made the
        # browser measure every earlier chunk again (measured: the update that
        # starts a chunk cost ~100 ms at 140k characters, ~20 ms at 20k).
        self.reasoning_box = w.Box([style, self.reasoning_out], layout=w.Layout(display="block"))
        # column-reverse keeps a scrolled box pinned to its newest line, so the
        # reasoning follows the text as it grows (on the Output itself it clips).
        self.follow = w.Box(
            [self.reasoning_box],
            layout=w.Layout(display="flex", flex_flow="column-reverse", max_height=reasoning_height, overflow="auto"),
        )
        self.accordion = w.Accordion(children=[self.follow], titles=(title,), selected_index=0, layout=shared)
        self.answer_out = _output_class()(layout=shared)
        self.tail_out = _output_class()(layout=shared)
        self.box = w.VBox([self.accordion, self.answer_out, self.tail_out], layout=shared)
        self._widgets = [
            self.box, self.accordion, self.follow, self.follow.layout, self.reasoning_box,
            self.reasoning_box.layout, style,
            self.answer_out, self.tail_out, shared,
        ]
        self._dirty: set[Any] = set()  # Outputs that captured something since they were last emptied
        self._inside: Any = None
        self.reset(title)

    def _new_chunk(self) -> Any:
        return _output_class()(layout=self._shared, _dom_classes=(WRAP_CLASS,))

    def alive(self) -> bool:
        """All its comms are open (a closed widget can't be shown again)."""
        return all(widget.comm is not None for widget in self._widgets + self._chunks)

    def reset(self, title: str, fmt: str | None = None) -> None:
        """Start another reply in the same widgets (a whole cell, or across cells)."""
        self.leave()
        self.recycle()
        if fmt is not None:
            self.fmt = fmt
        self._pending: list[str] = []
        self._pending_chars = 0
        self._holding = False  # replaying deltas the user already saw: one batch at the end
        self._last_send = 0.0
        self._chunk_chars = 0
        self.tail = ""
        self._splitter = BlockSplitter()  # where the tail's finished blocks end, fences respected
        self._tail_shown = 0  # len(self.tail) when the tail was last sent
        self._reasoning_nl = True  # the reasoning sent so far ends a line
        self.seen_reasoning = self.seen_content = False
        state: dict[str, Any] = {}
        if self.accordion.titles != (title,):
            state["titles"] = (title,)
        if self.accordion.selected_index != 0:
            state["selected_index"] = 0
        if state:  # one message
            with self.accordion.hold_sync():
                for name, value in state.items():
                    setattr(self.accordion, name, value)

    def recycle(self) -> None:
        """Empty every Output that holds text, one message each.

        The Output being captured into is left and emptied in one message: call
        this just before the box leaves the screen, or when it isn't shown.
        Extra reasoning chunks stay in the box, empty (an empty Output shows
        nothing), so the next long reply needs no message to add them again.
        """
        self.leave(clear=True)
        for out in self._dirty:
            sync(out, outputs=())
        self._dirty.clear()
        self.reasoning_out = self._chunks[0]

    def set_title(self, title: str) -> None:
        if self.accordion.titles != (title,):
            self.accordion.titles = (title,)

    # Output contexts are entered/left only at phase changes, never per chunk.
    def enter(self, out: Any) -> None:
        if self._inside is out:
            return
        self.leave()
        out.__enter__()
        self._inside = out
        self._dirty.add(out)

    def leave(self, clear: bool = False) -> None:
        """Stop capturing (`clear`: empty that Output in the same message).

        Pending reasoning still goes out: text-only frontends (jupyter console,
        qtconsole) print the stream, and the static reasoning's text/plain leaves out
        what streamed (`render.reasoning_bundle`).
        """
        if self._inside is not None:
            out, self._inside = self._inside, None
            self._send()
            if clear:
                with out.hold_sync():
                    out.__exit__(None, None, None)
                    sync(out, outputs=())
                self._dirty.discard(out)
            else:
                out.__exit__(None, None, None)

    def _send(self) -> None:
        """Write the batched deltas as one stream message.

        Written through the stream's class, past IPython 9's per-cell history
        tee (an instance attribute), which would otherwise keep a second copy
        of every reasoning stream in `history_manager.outputs`.
        """
        if self._pending:
            stream = sys.stdout
            # Text-only frontends print this stream to a terminal: no escapes from the model.
            type(stream).write(stream, sanitize.plain("".join(self._pending)))
            self._pending.clear()
            self._pending_chars = 0
        flush_pending()  # a wait on ipykernel's IO thread, worth it only with text to send
        self._last_send = time.monotonic()

    def _write(self, out: Any, delta: str, first: bool) -> None:
        self.enter(out)
        self._pending.append(delta)
        self._pending_chars += len(delta)
        waited = time.monotonic() - self._last_send
        if self._holding:
            return
        if first or waited >= BATCH_MAX_S or (waited >= BATCH_S and self._pending_chars >= BATCH_CHARS):
            self._send()

    def end_reasoning(self) -> None:
        """End the streamed reasoning with a newline, so what a text-only frontend prints next starts a line."""
        if self.seen_reasoning and not self._reasoning_nl:
            self._write(self.reasoning_out, "\n", False)
            self._reasoning_nl = True

    def replay(self, deltas: list[tuple[str, str]]) -> None:
        """Stream deltas that arrived before the box was shown, as one batch.

        Their first token was already shown (as text, in place of the box), so it
        needs no stream message of its own.
        """
        self._holding = True
        try:
            for kind, delta in deltas:
                (self.reasoning if kind == "reasoning" else self.content)(delta)
        finally:
            self._holding = False
        if self._inside is not None:
            self._send()
        if len(self.tail) != self._tail_shown:
            self._show_tail()

    def _next_chunk(self) -> None:
        """Move the reasoning to a fresh Output, below the full one."""
        self.leave()
        index = self._chunks.index(self.reasoning_out) + 1
        if index == len(self._chunks):
            self._chunks.append(self._new_chunk())
            self.reasoning_box.children = (*self.reasoning_box.children, self._chunks[index])
        self.reasoning_out = self._chunks[index]
        self._chunk_chars = 0

    def reasoning(self, delta: str) -> None:
        first = not self.seen_reasoning
        self.seen_reasoning = True
        if delta:
            self._reasoning_nl = delta.endswith("\n")
        if self._chunk_chars >= CHUNK_CHARS:
            # Split at a line break, so no line is cut in two (or anyway, past twice the size).
            cut = delta.rfind("\n") + 1
            if cut or self._chunk_chars >= 2 * CHUNK_CHARS:
                if cut:
                    self._write(self.reasoning_out, delta[:cut], False)
                    delta = delta[cut:]
                self._next_chunk()  # the text keeps flowing: the new Output gets the next batch
                if not delta:
                    return
        self._chunk_chars += len(delta)
        self._write(self.reasoning_out, delta, first)

    def content(self, delta: str) -> None:
        first = not self.seen_content
        if first:
            self.seen_content = True
            self.end_reasoning()
            self.leave()
            self.accordion.selected_index = None  # fold the reasoning away once the answer starts
        self.tail += delta
        if "\n" in delta:  # only a newline can finish a paragraph
            cut = self._splitter.cut(self.tail)
            if cut:
                # The finished paragraph replaces its streamed text, rendered once as markdown;
                # the tail then shows what follows it (or nothing), in one message.
                self._render(self.tail[:cut])
                self.tail = self.tail[cut:]
                self._show_tail()
                return
        if self._holding:
            return
        waited = time.monotonic() - self._last_send
        unsent = len(self.tail) - self._tail_shown
        if first or waited >= BATCH_MAX_S or (waited >= BATCH_S and unsent >= BATCH_CHARS):
            self._show_tail()

    def _show_tail(self) -> None:
        """Show the unfinished paragraph: the tail Output's whole state, one comm message.

        Not a stream message: text-only frontends would print it, and then the
        static answer again.
        """
        text = self.tail if len(self.tail) <= TAIL_CHARS else "…" + self.tail[-TAIL_CHARS:]
        if text:
            sync(self.tail_out, outputs=({"output_type": "stream", "name": "stdout", "text": text},))
            self._dirty.add(self.tail_out)
        elif self.tail_out in self._dirty:
            sync(self.tail_out, outputs=())  # one message (Output.clear_output() is three)
            self._dirty.discard(self.tail_out)
        self._tail_shown = len(self.tail)
        self._last_send = time.monotonic()

    def finish_answer(self) -> None:
        """Render the last paragraph too, for a reply that stays on screen as it is."""
        if self.tail.strip():
            self._render(self.tail)
        self.tail = ""
        self._splitter = BlockSplitter()
        self._show_tail()

    def _render(self, markdown: str) -> None:
        self.leave()
        with self.answer_out:
            publish(render.live_answer_bundle(markdown, self.fmt))
        self._dirty.add(self.answer_out)

    def close(self) -> None:
        """Free the comms; what should last has been published as static outputs."""
        self.leave()
        for widget in self._widgets + self._chunks:
            widget.close()

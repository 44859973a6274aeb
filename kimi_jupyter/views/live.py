"""`LiveReply`: the widgets that stream one model reply, shared by the `%%kimi`
widget view and the chat panel.

Traffic to the browser must grow linearly with the text. Measured facts
(ARCHITECTURE.md): resending a growing `HTML.value` costs ~30× the text, and
entering/leaving an `Output` per chunk ~40× (each is a comm message). So:

- reasoning deltas are written to stdout *inside* one `Output` widget entered
  once per phase; the deltas are batched here and sent as one stream message
  every `BATCH_S` (the first token of a phase at once), because each iopub
  message carries ~500 bytes of headers;
- the answer is rendered paragraph by paragraph: a finished paragraph is sent
  once as Markdown, the unfinished tail streams as plain text into a small
  `Output` that is cleared when its paragraph completes.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from . import render
from .notebook import publish

BATCH_S = 0.5
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


def split_paragraphs(text: str) -> tuple[str, str]:
    """Split streamed markdown into (finished blocks, unfinished tail).

    A block ends at a blank line outside a fenced code block, so code with
    blank lines isn't rendered half-way.
    """
    cut = 0
    in_fence = False
    pos = 0
    for line in text.splitlines(keepends=True):
        pos += len(line)
        stripped = line.strip()
        if stripped.startswith("```") or stripped.startswith("~~~"):
            in_fence = not in_fence
        elif not stripped and not in_fence and line.endswith("\n"):
            cut = pos
    return text[:cut], text[cut:]


class LiveReply:
    """An accordion with the reasoning (following its newest line), then the answer."""

    def __init__(self, title: str, fmt: str = "markdown", reasoning_height: str = "24em") -> None:
        import ipywidgets as w

        self.fmt = fmt
        # Every widget is a comm (and each opens a Layout of its own by default),
        # so the reply uses as few as it can: one shared Layout, and the status
        # line in the accordion's title.
        shared = w.Layout()
        self.reasoning_out = w.Output(layout=shared)
        self.reasoning_out.add_class(WRAP_CLASS)
        # column-reverse keeps a scrolled box pinned to its newest line, so the
        # reasoning follows the text as it grows (on the Output itself it clips).
        self.follow = w.Box(
            [self.reasoning_out],
            layout=w.Layout(display="flex", flex_flow="column-reverse", max_height=reasoning_height, overflow="auto"),
        )
        self.accordion = w.Accordion(children=[self.follow], titles=(title,), selected_index=0, layout=shared)
        self.answer_out = w.Output(layout=shared)
        self.tail_out = w.Output(layout=shared)
        self.box = w.VBox([self.accordion, self.answer_out, self.tail_out], layout=shared)
        self._widgets = (
            self.box, self.accordion, self.follow, self.follow.layout,
            self.reasoning_out, self.answer_out, self.tail_out, shared,
        )
        self._dirty: set[Any] = set()
        self._inside: Any = None
        self.reset(title)

    def reset(self, title: str) -> None:
        """Empty the widgets for another reply (the same widgets serve a whole cell)."""
        self.leave()
        for out in self._dirty:
            out.clear_output()
        self._dirty.clear()
        self._pending: list[str] = []
        self._last_send = 0.0
        self.tail = ""
        self.seen_reasoning = self.seen_content = False
        if self.accordion.selected_index != 0:
            self.accordion.selected_index = 0
        self.set_title(title)

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

    def leave(self) -> None:
        if self._inside is not None:
            self._send()
            self._inside.__exit__(None, None, None)
            self._inside = None

    def _send(self) -> None:
        """Write the batched deltas as one stream message.

        Written through the stream's class, past IPython 9's per-cell history
        tee (an instance attribute), which would otherwise keep a second copy
        of every reasoning stream in `history_manager.outputs`.
        """
        if self._pending:
            stream = sys.stdout
            type(stream).write(stream, "".join(self._pending))
            self._pending.clear()
        sys.stdout.flush()
        self._last_send = time.monotonic()

    def _write(self, out: Any, delta: str, first: bool) -> None:
        self.enter(out)
        self._pending.append(delta)
        if first or time.monotonic() - self._last_send >= BATCH_S:
            self._send()

    def reasoning(self, delta: str) -> None:
        first = not self.seen_reasoning
        self.seen_reasoning = True
        if first:
            self.enter(self.reasoning_out)
            publish(WRAP_STYLE)
        self._write(self.reasoning_out, delta, first)

    def content(self, delta: str) -> None:
        first = not self.seen_content
        if first:
            self.seen_content = True
            self.leave()
            self.accordion.selected_index = None  # fold the reasoning away once the answer starts
        self.tail += delta
        if "\n" in delta:  # only a newline can finish a paragraph
            done, rest = split_paragraphs(self.tail)
            if done:
                # The finished paragraph replaces its streamed text, rendered once as markdown.
                self._pending.clear()
                self._render(done)
                self.tail = rest
                if rest:
                    self._write(self.tail_out, rest, True)
                return
        self._write(self.tail_out, delta, first)

    def finish_answer(self) -> None:
        """Render the last paragraph too, for a reply that stays on screen as it is."""
        self._pending.clear()
        if self.tail.strip():
            self._render(self.tail)
        self.tail = ""

    def _render(self, markdown: str) -> None:
        self.leave()
        if self.tail_out in self._dirty:
            self.tail_out.clear_output()
        with self.answer_out:
            publish(render.answer_bundle(markdown, self.fmt))
        self._dirty.add(self.answer_out)

    def close(self) -> None:
        """Free the comms; what should last has been published as static outputs."""
        self.leave()
        for widget in self._widgets:
            widget.close()

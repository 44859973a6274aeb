"""`WidgetView`: the live ipywidgets view, replaced by static outputs at the end.

Traffic to the browser must grow linearly with the text. Measured facts
(ARCHITECTURE.md): resending a growing `HTML.value` costs ~30× the text, and
entering/leaving an `Output` per chunk ~40× (each is a comm message). So:

- reasoning deltas are written to stdout *inside* one `Output` widget entered
  once per phase; ipykernel batches stdout (~every 0.2 s) for free;
- the answer is rendered paragraph by paragraph: a finished paragraph is sent
  once as Markdown, the unfinished tail streams as plain text into a small
  `Output` that is cleared when its paragraph completes;
- the status line (elapsed time, tokens) is updated at most once a second.

When the reply ends, the whole widget's display is updated in place with the
static bundles (`update_display`), so the saved notebook never depends on
widget state.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from . import render
from .notebook import StaticView, publish

_STATUS_INTERVAL_S = 3.0  # the title (elapsed time, tokens) is one comm message per update
# Each iopub message carries ~500 bytes of headers: at ipykernel's own 0.2 s
# stdout batching that is as much as the text itself at model speeds. The view
# batches deltas itself and sends one message per batch; two updates a second
# read smoothly. The first token of each phase is sent at once.
_BATCH_S = 0.5
# A reply that ends within this time of its first token never gets a live widget.
_DEFER_S = 0.05


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


class WidgetView(StaticView):
    """Live widgets per model reply; see the module docstring for the traffic rules.

    Each reply starts as one light text output ("Thinking…"), which shows the
    first token the moment it arrives. Only a reply still streaming after
    `_DEFER_S` swaps it for the widget (`update_display`): short replies, like
    most steps of a fast tool loop, never pay for the widget's comm messages.
    """

    _box: Any = None
    _inside: Any = None  # the Output widget whose context is entered, if any
    _shown = False  # this step's placeholder has become the widget

    def _build(self) -> None:
        import ipywidgets as w

        # Every widget is a comm (and each opens a Layout of its own by default),
        # so the view uses as few as it can: one shared Layout, the status line
        # in the accordion's title, and the same widgets for every step of a
        # cell (a 300-step tool loop would otherwise open 2,000 comms).
        shared = w.Layout()
        self._reasoning_out = w.Output(layout=shared)
        # column-reverse keeps a scrolled box pinned to its newest line, so the
        # reasoning follows the text as it grows (on the Output itself it clips).
        follow = w.Box(
            [self._reasoning_out],
            layout=w.Layout(display="flex", flex_flow="column-reverse", max_height="24em", overflow="auto"),
        )
        self._accordion = w.Accordion(children=[follow], titles=(self._status_text(),), selected_index=0, layout=shared)
        self._answer_out = w.Output(layout=shared)
        self._tail_out = w.Output(layout=shared)
        self._box = w.VBox([self._accordion, self._answer_out, self._tail_out], layout=shared)
        self._widgets = (
            self._box, self._accordion, follow, follow.layout, self._reasoning_out, self._answer_out, self._tail_out, shared
        )
        self._dirty: set[Any] = set()

    def _live_start(self) -> None:
        self._handle = publish({"text/plain": "Thinking…"}, display_id=True)
        self._shown = False
        self._inside: Any = None
        self._pending: list[str] = []
        self._early: list[tuple[str, str]] = []  # deltas that arrived before the widget was shown
        self._last_send = 0.0
        self._tail = ""
        self._seen_content = False
        self._seen_reasoning = False

    def _show(self) -> None:
        """Display the widget for this step, emptied of the previous step's text."""
        if self._box is None:
            self._build()
        else:
            for out in self._dirty:
                out.clear_output()
            self._dirty.clear()
            self._accordion.selected_index = 0
            self._set_status()
        self._handle.update(self._box)  # the placeholder becomes the widget
        self._shown = True
        early, self._early = self._early, []
        for kind, delta in early:
            (self._reasoning if kind == "reasoning" else self._content)(delta)

    def _ready(self, kind: str, delta: str) -> bool:
        """False while the reply is young enough that the widget isn't worth showing yet."""
        if self._shown:
            return True
        self._early.append((kind, delta))
        now = time.monotonic()
        if len(self._early) == 1:  # the first token shows at once, as text
            self._first_at = now
            self._handle.update({"text/plain": f"Thinking… {delta}"}, raw=True)
            return False
        if now - self._first_at < _DEFER_S:
            return False
        self._show()
        return False  # `_show` replayed this delta too

    def _status_text(self, phase: str | None = None) -> str:
        elapsed = time.monotonic() - self._step_started
        return render.status_text(phase or self._phase, elapsed, self._tokens)

    def _set_status(self, phase: str | None = None) -> None:
        if self._box is not None:
            self._accordion.titles = (self._status_text(phase),)

    def _live_tick(self) -> None:
        now = time.monotonic()
        if self._shown and now - self._last_status >= _STATUS_INTERVAL_S:
            self._last_status = now
            self._set_status()

    # Output contexts are entered/left only at phase changes, never per chunk.
    def _enter(self, out: Any) -> None:
        if self._inside is out:
            return
        self._leave()
        out.__enter__()
        self._inside = out
        self._dirty.add(out)

    def _leave(self) -> None:
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
        self._enter(out)
        self._pending.append(delta)
        if first or time.monotonic() - self._last_send >= _BATCH_S:
            self._send()

    def on_reasoning(self, delta: str) -> None:
        super().on_reasoning(delta)
        if self._ready("reasoning", delta):
            self._reasoning(delta)

    def on_content(self, delta: str) -> None:
        super().on_content(delta)
        if self._ready("content", delta):
            self._content(delta)

    def _reasoning(self, delta: str) -> None:
        first = not self._seen_reasoning
        self._seen_reasoning = True
        self._write(self._reasoning_out, delta, first)

    def _content(self, delta: str) -> None:
        first = not self._seen_content
        if first:
            self._seen_content = True
            self._leave()
            self._accordion.selected_index = None  # fold the reasoning away once the answer starts
        self._tail += delta
        if "\n" in delta:  # only a newline can finish a paragraph
            done, rest = split_paragraphs(self._tail)
            if done:
                # The finished paragraph replaces its streamed text, rendered once as markdown.
                self._pending.clear()
                self._leave()
                self._tail_out.clear_output()
                with self._answer_out:
                    publish(render.answer_bundle(done, self.fmt))
                self._dirty.add(self._answer_out)
                self._tail = rest
                if rest:
                    self._write(self._tail_out, rest, True)
                return
        self._write(self._tail_out, delta, first)

    def on_tool_call(self, call: Any) -> None:
        super().on_tool_call(call)
        self._set_status()

    def _live_end(self, first: render.Bundle) -> None:
        self._leave()
        self._early = []  # never shown live: the static outputs carry the text
        super()._live_end(first)

    def on_finish(self, result: Any) -> None:
        if self._box is not None:
            for widget in self._widgets:  # free the comms; the static outputs stand on their own
                widget.close()
            self._box = None
        super().on_finish(result)

    def on_retry(self, seconds: float, reason: str) -> None:
        self._leave()
        if not self._shown:
            self._show()  # a wait the user should see live
        self._set_status(f"Retrying in {seconds:.0f} s ({reason})")
        super().on_retry(seconds, reason)

    def on_notice(self, text: str, level: str = "warning") -> None:
        self._leave()
        super().on_notice(text, level)


"""`WidgetView`: the live ipywidgets view, replaced by static outputs at the end.

The streaming itself (and its traffic rules) lives in `live.LiveReply`. This
view decides when a reply gets the widget at all, and swaps it for the static
bundles when the reply is complete (`update_display`), so the saved notebook
never depends on widget state.
"""

from __future__ import annotations

import time
from typing import Any

from . import render
from .live import LiveReply, split_paragraphs
from .notebook import StaticView, publish

_STATUS_INTERVAL_S = 3.0  # the title (elapsed time, tokens) is one comm message per update
# A reply that ends within this time of its first token never gets a live widget.
_DEFER_S = 0.05

__all__ = ["WidgetView", "split_paragraphs"]


class WidgetView(StaticView):
    """Live widgets per model reply.

    Each reply starts as one light text output ("Thinking…"), which shows the
    first token the moment it arrives. Only a reply still streaming `_DEFER_S`
    after its first token swaps it for the widget (`update_display`): short
    replies, like most steps of a fast tool loop, never pay for the widget's
    comm messages. The same widgets serve every step of a cell (a 300-step tool
    loop would otherwise open 2,000 comms).
    """

    _live: LiveReply | None = None
    _shown = False  # this step's placeholder has become the widget

    def _live_start(self) -> None:
        self._handle = publish({"text/plain": "Thinking…"}, display_id=True)
        self._shown = False
        self._early: list[tuple[str, str]] = []  # deltas that arrived before the widget was shown
        self._first_at = 0.0

    def _show(self) -> None:
        """Turn the placeholder into the widget, emptied of the previous step's text."""
        if self._live is None:
            self._live = LiveReply(self._status_text(), self.fmt)
        else:
            self._live.reset(self._status_text())
        self._handle.update(self._live.box)
        self._shown = True
        early, self._early = self._early, []
        for kind, delta in early:
            (self._live.reasoning if kind == "reasoning" else self._live.content)(delta)

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
        if self._shown and self._live is not None:
            self._live.set_title(self._status_text(phase))

    def _live_tick(self) -> None:
        now = time.monotonic()
        if self._shown and now - self._last_status >= _STATUS_INTERVAL_S:
            self._last_status = now
            self._set_status()

    def _leave(self) -> None:
        if self._live is not None:
            self._live.leave()

    def on_reasoning(self, delta: str) -> None:
        super().on_reasoning(delta)
        if self._ready("reasoning", delta):
            self._live.reasoning(delta)

    def on_content(self, delta: str) -> None:
        super().on_content(delta)
        if self._ready("content", delta):
            self._live.content(delta)

    def on_tool_call(self, call: Any) -> None:
        super().on_tool_call(call)
        self._set_status()

    def _live_end(self, first: render.Bundle, part: str | None = None) -> None:
        self._leave()
        self._early = []  # never shown live: the static outputs carry the text
        super()._live_end(first, part)

    def on_finish(self, result: Any) -> None:
        if self._live is not None:
            self._live.close()
            self._live = None
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

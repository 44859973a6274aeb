"""`WidgetView`: the live ipywidgets view, replaced by static outputs at the end.

The streaming itself (and its traffic rules) lives in `live.LiveReply`. This
module decides when a reply gets the widget at all: each reply starts as one
light text output, which shows the first token the moment it arrives. Only a
reply still streaming `_DEFER_S` after its first token swaps it for the widget
(`update_display`), so short replies, like most steps of a fast tool loop,
never pay for the widget's comm messages. The same widgets serve every step of
a cell and, through a pool kept in this module, every later cell: a `LiveReply`
is eleven comms, and opening and closing them would be ~22 messages (~18 kB) per
cell, more than the text of a short reply. When a reply is complete, the widget's output
is replaced by the reply's first static bundle (so no cell shows the widgets any more),
then its Outputs are emptied for the next reply, and `NotebookView` publishes the rest.

The pool lives as long as the kernel (a restart starts a fresh one). Only a
`LiveReply` whose display was emptied returns to it, so no two cells ever show
the same widgets; a view still streaming while another starts takes a new one.
"""

from __future__ import annotations

import time
from typing import Any

from ..core.fences import split_paragraphs
from . import render
from .live import LiveReply
from .notebook import NotebookView, live_start, publish, update
from .status import StepStatus

# A reply that ends within this time of its first token never gets a live widget. Until
# then the first token shows at once as text; the widget comes with the first batch of
# text it would have streamed anyway (a batch goes about once a second, `live.BATCH_S`),
# so it costs no stream message of its own and a reply shorter than that no widget at all.
_DEFER_S = 1.0
# Free LiveReplys, emptied, for the next cell. More than this many are closed.
_POOL: list[LiveReply] = []
_POOL_SIZE = 2


def _take(title: str, fmt: str) -> LiveReply:
    while _POOL:
        reply = _POOL.pop()
        if reply.alive():  # e.g. `Widget.close_all()` closes them under us
            reply.reset(title, fmt)
            return reply
    return LiveReply(title, fmt)


def _give_back(reply: LiveReply) -> None:
    reply.recycle()
    if len(_POOL) < _POOL_SIZE and reply.alive():
        _POOL.append(reply)
    else:
        reply.close()

__all__ = ["WidgetLive", "WidgetView", "split_paragraphs"]


class WidgetLive:
    """The live part of `WidgetView`: a text placeholder, then (for longer replies) a `LiveReply`."""

    interval_s = 5.0  # the title (elapsed time, tokens) is one comm message per update

    @property
    def streamed(self) -> bool:
        """The reasoning went to stdout inside the widget (text-only frontends printed it)."""
        return self._shown and self._reply is not None and self._reply.seen_reasoning

    def __init__(self, fmt: str = "markdown") -> None:
        self.fmt = fmt
        self._reply: LiveReply | None = None
        self._handle: Any = None
        self._status: StepStatus | None = None
        self._shown = False  # this step's placeholder has become the widget
        self._early: list[tuple[str, str]] = []  # deltas that arrived before the widget was shown
        self._first_at = 0.0

    def start(self, status: StepStatus, lead: str = "") -> None:
        self._status = status
        bundle, meta = live_start(lead)
        self._handle = publish(bundle, metadata=meta, display_id=True)
        self._shown = False
        self._early = []

    def _show(self) -> None:
        """Turn the placeholder into the widget, emptied of the previous step's text."""
        title = self._status.text() if self._status else render.THINKING
        if self._reply is None:
            self._reply = _take(title, self.fmt)
        else:
            self._reply.reset(title)
        # The widget's own text/plain is its repr (~300 bytes per update); this is what it shows.
        bundle = {**self._reply.box._repr_mimebundle_(), "text/plain": render.placeholder()}
        update(self._handle, bundle, metadata=render.provenance("live"))
        self._shown = True
        early, self._early = self._early, []
        self._reply.replay(early)

    def _ready(self, kind: str, delta: str) -> bool:
        """False while the reply is young enough that the widget isn't worth showing yet."""
        if self._shown:
            return True
        self._early.append((kind, delta))
        now = time.monotonic()
        if len(self._early) == 1:  # the first token shows at once, as text
            self._first_at = now
            update(self._handle, {"text/plain": render.placeholder(delta)}, metadata=render.provenance("live"))
            return False
        if now - self._first_at >= _DEFER_S:
            self._show()  # replays this delta too
        return False

    def reasoning(self, delta: str) -> None:
        if self._ready("reasoning", delta) and self._reply is not None:
            self._reply.reasoning(delta)

    def content(self, delta: str) -> None:
        if self._ready("content", delta) and self._reply is not None:
            if self._reply.seen_content or self._status is None:
                self._reply.content(delta)
                return
            with self._reply.accordion.hold_sync():  # the fold and the new phase: one message
                self._reply.content(delta)
                self._reply.set_title(self._status.text())

    def refresh(self) -> None:
        if self._shown and self._reply is not None and self._status is not None:
            self._reply.set_title(self._status.text())

    def retry(self, text: str) -> None:
        self.pause()
        if not self._shown:
            self._show()  # a wait the user should see live
        if self._reply is not None and self._status is not None:
            self._reply.set_title(self._status.text(text))

    def pause(self) -> None:
        if self._reply is not None:
            self._reply.leave()

    def end(self, fill: render.Bundle | None, metadata: dict[str, Any] | None = None) -> Any:
        self._early = []  # never shown live: the static outputs carry the text
        shown = self._reply is not None and self._shown
        if shown:
            # The reasoning that streamed ends its line (text-only frontends print what comes
            # next after it); the Output still capturing is left and emptied in one message,
            # just before the widget leaves the screen; the others are emptied once it is gone.
            self._reply.end_reasoning()
            self._reply.leave(clear=True)
        else:
            self.pause()
        handle, self._handle = self._handle, None
        if handle is not None and fill is not None:
            update(handle, fill, metadata=metadata)
            handle = None
        elif handle is not None and shown:
            # Nothing to show in its place yet: the widget leaves the screen all the same,
            # since its Outputs are emptied now and may serve another cell.
            update(handle, {"text/plain": render.placeholder()}, metadata=render.provenance("live"))
        if shown:
            self._reply.recycle()  # ready for the next reply, in this cell or a later one
        self._shown = False
        return handle

    def close(self) -> None:
        handle = self.end(None)
        if handle is not None:  # a cell cut short mid-reply: its live output must not stay behind
            update(handle, render.EMPTY, metadata=render.provenance("live"))
        if self._reply is not None:
            _give_back(self._reply)
            self._reply = None


class WidgetView(NotebookView):
    """Live widgets per model reply, static outputs when each reply is complete."""

    def __init__(self, fmt: str = "markdown") -> None:
        super().__init__(fmt, WidgetLive(fmt))

"""When a chat panel's Send may start a reply: the panel's gate, kept apart from its widgets.

A click on Send is a widget message. JupyterLab 4.6 with ipykernel 7 delivers
widget messages on a kernel *subshell* thread, so a handler can run while a
reply streams or a cell runs; and a click the kernel queued behind a reply is
handled only after it. Both must be refused with a visible note, never queued
silently, and the panel's model code must never run beside a cell.
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from typing import Any


class SendGate:
    """Decides whether a Send may start a reply now (kept apart so it can be tested alone).

    Three cases are refused, each with its own message:

    - a reply is running now (a second handler can run while the first one streams:
      JupyterLab 4.6 sends widget messages to a kernel *subshell*, a second thread);
    - a cell is running now (same reason: the click did not wait for the cell);
    - the click was *pressed* while a reply or a cell ran, and only handled after it
      ended (the kernel had queued it). The browser stamps every message with its
      send time; its clock may differ from the kernel's, so the offset between the
      two is estimated as the smallest (received - sent) seen, i.e. the lag of a
      message that did not wait in a queue.
    """

    def __init__(self, cells: "CellTracker | None" = None) -> None:
        self.cells = cells
        self.busy = False
        self.last_end = 0.0  # kernel wall-clock time the last reply ended
        self.offset: float | None = None
        self._lock = threading.Lock()

    def observe(self, sent: float | None, now: float | None = None) -> float | None:
        """Learn from one browser message; returns its send time on the kernel's clock."""
        if sent is None:
            return None
        now = time.time() if now is None else now
        lag = now - sent
        self.offset = lag if self.offset is None else min(self.offset, lag)
        return sent + self.offset

    def refusal(self, sent: float | None = None, now: float | None = None, *, from_browser: bool = True) -> str | None:
        """None if a Send may go ahead, else why not (shown to the user)."""
        if self.busy:
            return "Kimi is still replying, so this message was not sent."
        if not from_browser:  # ask() from code: the caller's own cell is running, and that is fine
            return None
        if self.cells is not None and self.cells.running():
            return "A cell is running, so this message was not sent. Press Send again when the kernel is idle."
        local = self.observe(sent, now)
        if local is not None and local < self.last_end:
            return "Send was pressed while Kimi was still replying, so it was ignored; nothing was sent."
        cell_end = self.cells.last_end if self.cells is not None else 0.0
        if local is not None and local < cell_end:
            return "Send was pressed while a cell was running, so it was ignored. Press Send again."
        return None

    def try_start(self, sent: float | None = None, *, from_browser: bool = True) -> str | None:
        """Check and mark busy in one step (two handlers may race in two threads)."""
        with self._lock:
            reason = self.refusal(sent, from_browser=from_browser)
            if reason is None:
                self.busy = True
            return reason

    def end(self) -> None:
        self.busy = False
        self.last_end = time.time()


class CellTracker:
    """Which cells are running now, and when the last one ended (IPython's cell events).

    The python tool's own `run_cell` counts too, but a Send is only checked before
    its reply starts, when no tool of the panel runs.
    """

    def __init__(self) -> None:
        self._running = 0
        self.last_end = 0.0
        self._lock = threading.Lock()

    def pre(self, info: Any = None) -> None:
        with self._lock:
            self._running += 1

    def post(self, result: Any = None) -> None:
        with self._lock:
            self._running = max(0, self._running - 1)
            self.last_end = time.time()

    def running(self) -> bool:
        return self._running > 0


_trackers: dict[int, CellTracker] = {}


def cell_tracker(shell: Any) -> CellTracker | None:
    """One tracker per shell, registered on its events once."""
    if shell is None or not hasattr(shell, "events"):
        return None
    tracker = _trackers.get(id(shell))
    if tracker is None:
        tracker = _trackers[id(shell)] = CellTracker()
        shell.events.register("pre_run_cell", tracker.pre)
        shell.events.register("post_run_cell", tracker.post)
    return tracker


def parent_sent_time() -> float | None:
    """When the browser sent the message being handled (its header date), as epoch seconds."""
    try:
        from IPython import get_ipython

        kernel = getattr(get_ipython(), "kernel", None)
        parent = kernel.get_parent() if kernel is not None else None
        date = (parent or {}).get("header", {}).get("date")
    except Exception:  # no kernel, an old ipykernel: no lateness check, the busy flag still works
        return None
    if isinstance(date, str):
        try:
            date = _dt.datetime.fromisoformat(date.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(date, _dt.datetime):
        if date.tzinfo is None:
            date = date.replace(tzinfo=_dt.timezone.utc)
        return date.timestamp()
    return None


__all__ = ["CellTracker", "SendGate", "cell_tracker", "parent_sent_time"]

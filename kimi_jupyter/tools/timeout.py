"""A time limit for one tool call (``Kimi.tool_timeout``), distinct from the user's ■.

Model code that loops or sleeps must not hold the cell forever, but stopping it must
not look like a kernel interrupt: ■ stops the whole ``%%kimi`` cell, a timeout stops
only that call and the loop goes on. So the limit raises its own exception,
``ToolTimeout``, never ``KeyboardInterrupt``.

``ToolTimeout`` derives from ``BaseException`` (like ``KeyboardInterrupt``) so model
code's ``except Exception:`` cannot swallow it.

How it fires:

- On the main thread of a POSIX process (where ipykernel runs cells), ``SIGALRM`` via
  ``signal.setitimer``: the handler raises on the main thread even inside
  ``time.sleep`` or a blocking read. The previous handler and any pending timer of the
  user's own are restored afterwards, with the time they had left.
- Elsewhere (Windows, a worker thread), a watchdog thread asks CPython to raise
  ``ToolTimeout`` asynchronously in the running thread. That takes effect at the next
  Python bytecode, so a single long blocking C call finishes first; a Python loop stops.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator


class ToolTimeout(BaseException):
    """Raised inside a tool call that ran past its time limit."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the call ran past the time limit of {format_seconds(seconds)} "
                         "(Kimi.tool_timeout) and was stopped")
        self.seconds = seconds

    def _render_traceback_(self) -> list[str]:
        # What IPython shows the user in the cell instead of a traceback through the
        # signal handler: one line that says what happened.
        return [f"ToolTimeout: Kimi stopped the model's code after {format_seconds(self.seconds)} "
                "(Kimi.tool_timeout). Variables it assigned before that are kept."]


def format_seconds(seconds: float) -> str:
    return f"{seconds:g} s"


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise ``ToolTimeout`` in this thread if the block runs longer than ``seconds``.

    ``None`` or a value <= 0 means no limit.
    """
    if seconds is None or seconds <= 0:
        yield
        return
    if _can_use_alarm():
        with _alarm(seconds):
            yield
    else:
        with _watchdog(seconds):
            yield


def _can_use_alarm() -> bool:
    return (hasattr(signal, "setitimer") and hasattr(signal, "SIGALRM")
            and threading.current_thread() is threading.main_thread())


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    armed = True

    def handler(signum: int, frame: Any) -> None:
        # A signal that lands after the block ended (a race with the disarm) is ignored.
        if armed:
            raise ToolTimeout(seconds)

    previous_handler = signal.signal(signal.SIGALRM, handler)
    started = time.monotonic()
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay > 0:
            # The user's own timer keeps the time it had left (at least a moment).
            left = max(previous_delay - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, previous_interval)


@contextmanager
def _watchdog(seconds: float) -> Iterator[None]:
    import ctypes

    target = threading.get_ident()
    lock = threading.Lock()
    state = {"done": False, "fired": False}

    def fire() -> None:
        with lock:
            if not state["done"]:
                state["fired"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(target), ctypes.py_object(_timeout_class(seconds)))

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    delivered = False
    try:
        yield
    except ToolTimeout:
        delivered = True
        raise
    finally:
        with lock:
            state["done"] = True
            pending = state["fired"] and not delivered
        timer.cancel()
        if pending:
            # Fired as the block ended: let it arrive here and drop it. Taking it back with
            # SetAsyncExc(NULL) would leave CPython's "async exception pending" flag set for
            # good (3.11 clears it only when it delivers one): every later line then stops in
            # the eval loop's slow path, and a line tracer (the debugger's) never gets past one.
            deadline = time.monotonic() + 1.0
            try:
                while time.monotonic() < deadline:  # delivered at the loop's next check
                    pass
            except ToolTimeout:
                pass


def _timeout_class(seconds: float) -> type[ToolTimeout]:
    """PyThreadState_SetAsyncExc takes a class, not an instance: bind the limit to one."""
    return type("ToolTimeout", (ToolTimeout,), {"__init__": lambda self: ToolTimeout.__init__(self, seconds),
                                                 "__module__": __name__})

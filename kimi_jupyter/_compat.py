"""Every reach into a private of IPython, ipykernel or ipywidgets, in one place.

Each function here touches one private name that has no public equivalent, says why,
names the versions it was read against, and degrades when the private is missing (a
newer release renamed it, or the shell is not ipykernel's): behaviour falls back to
what the platform does by itself, and nothing here raises. Callers never spell these
names (`tests/unit/test_compat.py` checks the package for them).

Checked against (the installed versions, and the lowest that pyproject.toml allows):
IPython 9.19.1 and 9.1.0, ipykernel 7.4.0 and 7.0.0 (the lowest the tests use; it is
not a dependency), ipywidgets 8.1.9 and 8.0.0.

Where a public hook exists it is used instead, by the callers themselves:
`KimiError._render_traceback_` (IPython's hook for exceptions that render themselves)
rather than a custom exception handler; `DisplayHook.is_active` (public since before
IPython 9.1) rather than `_is_active`; `InteractiveShell.loop_runner_map["asyncio"]`
rather than importing `_asyncio_runner`; `display_pub.register_hook` for displays.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

# ---------------------------------------------------------------- IPython

ShowTraceback = Callable[[Any, Any, Any], Any]


def wrap_showtraceback(shell: Any, wrap: Callable[[ShowTraceback], ShowTraceback]) -> Callable[[], None] | None:
    """Route the shell's tracebacks through ``wrap(original)``; returns the undo.

    Reaches ``InteractiveShell._showtraceback(etype, evalue, stb)``: every traceback
    IPython shows goes through it, and ipykernel's override is what sends the `error`
    message (and keeps `_last_traceback`). It is there to be overridden ("Subclasses
    may override this method"), but there is no public hook to see the lines on their
    way out, which is what the code tool needs to redact a key from a traceback of the
    model's code. Set on the instance only, for as long as the caller keeps it.

    Checked: IPython 9.1.0-9.19.1 (`InteractiveShell`), ipykernel 7.0.0-7.4.0
    (`ZMQInteractiveShell`). Fallback: a shell without it is left alone and None is
    returned (tracebacks of the model's code are then shown unredacted, as the shell
    shows them).
    """
    original = getattr(shell, "_showtraceback", None)
    if not callable(original):
        return None
    return _set_on_instance(shell, "_showtraceback", wrap(original))


# ---------------------------------------------------------------- ipykernel

# ipykernel's record of the last error, read when it builds the execute_reply
# (`shell._last_traceback`) and when a display raised (`..._during_displayhook`, 7.4).
_KERNEL_ERROR_ATTRS = ("_last_traceback", "_last_traceback_during_displayhook")
_MISSING = object()


def kernel_error_state(shell: Any) -> dict[str, Any]:
    """ipykernel's record of the cell's last error, to put back with `restore_kernel_error_state`.

    Reaches `ZMQInteractiveShell._last_traceback` (and `_last_traceback_during_displayhook`
    where it exists). ipykernel copies the first into the cell's execute_reply; an error
    in the model's code run inside a `%%kimi` cell must not become that cell's error.
    No public API sets or reads them.

    Checked: ipykernel 7.0.0-7.4.0 (7.0.0 has no `_last_traceback_during_displayhook`).
    Fallback: only the attributes the shell has are kept (none on a plain
    IPython shell), so a missing one is simply not restored.
    """
    return {name: value for name in _KERNEL_ERROR_ATTRS
            if (value := getattr(shell, name, _MISSING)) is not _MISSING}


def restore_kernel_error_state(shell: Any, saved: dict[str, Any]) -> None:
    """Put back what `kernel_error_state` read (see there)."""
    for name, value in saved.items():
        try:
            setattr(shell, name, value)
        except (AttributeError, TypeError):  # a read-only slot in some other shell
            pass


def last_traceback(shell: Any) -> list[str]:
    """The formatted traceback lines of the last error ipykernel sent, or [].

    Reaches `ZMQInteractiveShell._last_traceback`, set by its `_showtraceback`. It is the
    last resort of `notebook_history`: the exception object (`sys.last_exc`) and
    IPython's `history_manager.exceptions` (both public) come first, and this is what
    is left when both are gone.

    Checked: ipykernel 7.0.0-7.4.0. Fallback: [] (the history then says nothing of
    that error).
    """
    lines = getattr(shell, "_last_traceback", None)
    if not isinstance(lines, (list, tuple)):
        return []
    return [str(x) for x in lines]


def has_unsent_text(stream: Any) -> bool:
    """True unless the stream is known to hold no text that its flush would send.

    Reaches ipykernel `OutStream._flush_pending` (set by a write, cleared as the IO thread
    starts sending) and `_subprocess_flush_pending`. A flush waits for a round trip to
    the IO thread even with nothing to send, and ipykernel flushes both streams before
    every display; knowing there is nothing pending saves those waits. There is no
    public way to ask.

    Checked: ipykernel 7.0.0-7.4.0. Fallback: True for a stream without the flag
    (flushed, as ipykernel would).
    """
    return bool(getattr(stream, "_flush_pending", True) or getattr(stream, "_subprocess_flush_pending", False))


@contextmanager
def display_flush_replaced(pub: Any, flush: Callable[[], None]) -> Iterator[None]:
    """While the block runs, the display publisher flushes the streams with `flush`.

    Reaches ipykernel `ZMQDisplayPublisher._flush_streams`, which `publish` and
    `clear_output` call before each message (flushing stdout and stderr, see
    `has_unsent_text`). No parameter or hook turns that off. The method is shadowed on
    this instance only, and put back after.

    Checked: ipykernel 7.0.0-7.4.0. Fallback: another publisher (terminal IPython), or
    one already shadowed (a display inside a display), is left alone: displays flush as
    the publisher does by itself.
    """
    if pub is None or not hasattr(pub, "_flush_streams") or "_flush_streams" in vars(pub):
        yield
        return
    undo = _set_on_instance(pub, "_flush_streams", flush)
    try:
        yield
    finally:
        if undo is not None:
            undo()


# ---------------------------------------------------------------- ipywidgets

def send_in_held_sync(widget: Any, keys: Iterable[str]) -> None:
    """Inside ``widget.hold_sync()``: `keys` go out in the one message it sends on exit,
    changed or not.

    Reaches `Widget._states_to_send`, the set of trait names `hold_sync` sends on exit
    (it adds only traits whose value changed in the kernel). An Output's `outputs` fills
    up in the browser, so "unchanged here" says nothing about the browser, and
    `send_state(keys)` (public) would be a second message.

    Checked: ipywidgets 8.0.0-8.1.9. Fallback: `send_state(keys)` at once (public; the
    browser gets the same state, in two messages instead of one).
    """
    keys = list(keys)
    pending = getattr(widget, "_states_to_send", None)
    if isinstance(pending, set):
        pending.update(keys)
        return
    send = getattr(widget, "send_state", None)
    if callable(send):
        send(key=keys)


def set_output_flush(output_class: type, flush: Callable[[], None]) -> None:
    """Make `output_class` (an `ipywidgets.Output` subclass) flush with `flush` on enter and exit.

    Reaches `Output._flush`, which `__enter__` and `__exit__` call to flush stdout and
    stderr (each flush a wait on ipykernel's IO thread, see `has_unsent_text`). No
    public option changes it.

    Checked: ipywidgets 8.0.0-8.1.9. Fallback: an Output without `_flush` is left as it
    is (it flushes as ipywidgets does).
    """
    if callable(getattr(output_class, "_flush", None)):
        output_class._flush = lambda self: flush()  # type: ignore[attr-defined]


# ---------------------------------------------------------------- helpers

def _set_on_instance(obj: Any, name: str, value: Any) -> Callable[[], None] | None:
    """Set `obj.name` on the instance; returns the undo (None if it could not be set)."""
    had_own = name in getattr(obj, "__dict__", {})
    previous = getattr(obj, name, None)
    try:
        setattr(obj, name, value)
    except (AttributeError, TypeError):
        return None

    def undo() -> None:
        if had_own:
            setattr(obj, name, previous)
        else:
            try:
                delattr(obj, name)
            except AttributeError:
                pass

    return undo


__all__ = [
    "wrap_showtraceback", "kernel_error_state", "restore_kernel_error_state", "last_traceback",
    "has_unsent_text", "display_flush_replaced", "send_in_held_sync", "set_output_flush",
]

"""`notebook_history(n)`: the last cells' source, their text outputs, and the last error.

Read from IPython's own records (the history manager's inputs and outputs, and the
last traceback), never by running anything; the `%%kimi` cell that asks is left out.
The user's `In` and `Out` are read only when they are still IPython's own list and
dict (a user can rebind either name to an object of theirs), and an output value is
shown by a capped repr.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from typing import Any

from .. import _compat
from ..core.tool_output import cap_output
from .describe import capped_repr, first_line, is_default_repr

# Per-cell caps: source and outputs.
MAX_SOURCE = 2000
MAX_CELL_OUTPUT = 1500
MAX_HISTORY = 50
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def history_report(shell: Any, n: int = 5) -> str:
    """``notebook_history`` for a given shell."""
    n = max(1, min(int(n), MAX_HISTORY))
    manager = getattr(shell, "history_manager", None)
    sources = _own(getattr(manager, "input_hist_raw", None), list) or _own(shell.user_ns.get("In"), list) or [""]
    last = len(sources) - 1
    if last >= 1 and _running_cell(shell) == last:
        last -= 1  # the %%kimi cell asking is running: the model already has its prompt
    first = max(1, last - n + 1)
    blocks = []
    for i in range(first, last + 1):
        blocks.append(_cell_block(shell, manager, i, sources[i]))
    if not blocks:
        blocks.append("No cells have run yet.")
    error = _last_error(shell, manager)
    blocks.append(error or "No error has been raised in this session.")
    return "\n\n".join(blocks)


def _running_cell(shell: Any) -> int | None:
    """The execution count of the cell running now, if any (the displayhook knows it)."""
    result = getattr(getattr(shell, "displayhook", None), "exec_result", None)
    count = getattr(result, "execution_count", None)
    return count if isinstance(count, int) else None


def _cell_block(shell: Any, manager: Any, i: int, source: str) -> str:
    lines = [f"In [{i}]:", cap_output(str(source).strip("\n"), MAX_SOURCE) or "(empty)"]
    output = _cell_output(shell, manager, i)
    if output:
        lines += [f"Output [{i}]:", cap_output(output, MAX_CELL_OUTPUT)]
    stored = getattr(manager, "exceptions", {}).get(i) if manager is not None else None
    if isinstance(stored, dict) and stored.get("ename"):
        lines.append(f"Error [{i}]: {stored['ename']}: {first_line(str(stored.get('evalue', '')))}")
    return "\n".join(lines)


def _cell_output(shell: Any, manager: Any, i: int) -> str:
    """The text a cell produced: IPython >= 9 keeps it per cell; older ones keep the Out value."""
    recorded = getattr(manager, "outputs", None)
    if isinstance(recorded, dict) and recorded.get(i):
        parts = []
        for out in recorded[i]:
            bundle = getattr(out, "bundle", {}) or {}
            kind = getattr(out, "output_type", "")
            if kind in ("out_stream", "err_stream"):
                parts.append("".join(bundle.get("stream", [])))
                continue
            text = bundle.get("text/plain")
            if isinstance(text, list):
                text = "".join(text)
            if isinstance(text, str) and text and not is_default_repr(text):
                parts.append(text if text.endswith("\n") else text + "\n")
            else:
                parts.append(f"[{', '.join(sorted(bundle)) or 'empty'} output]\n")
        return _ANSI.sub("", "".join(parts)).rstrip("\n")
    reprs = _own(getattr(manager, "output_hist_reprs", None), dict)
    if reprs is not None and type(reprs.get(i)) is str:
        return reprs[i]  # already formatted by IPython: no repr is run again
    out = _own(getattr(manager, "output_hist", None), dict) or _own(shell.user_ns.get("Out"), dict)
    if out is not None and i in out:
        return capped_repr(out[i], MAX_CELL_OUTPUT)
    return ""


def _own(value: Any, kind: type) -> Any:
    """`value` if it is exactly a `kind` (IPython's own record), else None; asks only `type()`."""
    return value if type(value) is kind else None


def _last_error(shell: Any, manager: Any) -> str:
    """The user's last exception with a short traceback.

    The live exception object (``sys.last_exc`` / ``sys.last_value``) gives the cleanest
    traceback; IPython >= 9 also stores each cell's formatted traceback, and ipykernel
    keeps the last one on the shell, for when the object is gone.
    """
    stored = getattr(manager, "exceptions", None) if manager is not None else None
    cell = max(stored) if isinstance(stored, dict) and stored else None
    where = f" (In [{cell}])" if cell is not None else ""
    exc = getattr(sys, "last_exc", None)
    if exc is None:
        exc = getattr(sys, "last_value", None)
    if issubclass(type(exc), BaseException):  # `type`: a user exception's `__class__` is theirs
        return f"Last error{where}:\n" + cap_output(_format_user_error(exc, limit=5), 3000)
    lines: list[str] = []
    if cell is not None:
        lines = [str(x) for x in stored[cell].get("traceback", [])]
    if not lines:
        lines = _compat.last_traceback(shell)
    if not lines:
        return ""
    text = _ANSI.sub("", "\n".join(lines)).strip("\n")
    return f"Last error{where}:\n" + cap_output(text, 3000)


def _format_user_error(exc: BaseException, limit: int) -> str:
    """A short traceback of the user's exception, read through the built-in exception
    classes only: `traceback` would test the exception's truth (its `__bool__`) while
    walking the chain, and call its `__str__`; both can be the user's code.

    The same text as `output.format_error`: at most `limit` frames (IPython's own left
    out), then ``Type: message`` with the message of the nearest built-in class.
    """
    frames = list(traceback.StackSummary.extract(traceback.walk_tb(BaseException.__traceback__.__get__(exc))))
    while frames and _is_ipython_frame(frames[0]):
        frames.pop(0)
    shown = traceback.StackSummary.from_list(frames[-limit:] if limit > 0 else [])
    cls = type(exc)
    builtin = next(c for c in cls.__mro__ if c.__module__ == "builtins")
    message = builtin.__str__(exc)
    name = cls.__qualname__ if cls.__module__ in ("builtins", "__main__") else f"{cls.__module__}.{cls.__qualname__}"
    text = f"{name}: {message}" if message else name
    if not shown:
        return text
    head = ("Traceback (most recent call last):\n" if len(frames) <= limit else
            f"Traceback (most recent call last, {limit} of {len(frames)} frames):\n")
    return head + "".join(shown.format()) + text


def _ipython_dir() -> str:
    import IPython

    return os.path.dirname(os.path.abspath(IPython.__file__)) + os.sep


def _is_ipython_frame(frame: Any) -> bool:
    return os.path.abspath(frame.filename).startswith(_ipython_dir())


# ================================================================ small helpers

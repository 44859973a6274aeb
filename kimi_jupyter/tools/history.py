"""`notebook_history(n)`: the last cells' source, their text outputs, and the last error.

Read from IPython's own records (`In`, `Out`, the history manager's outputs and the
last traceback), never by running anything; the `%%kimi` cell that asks is left out.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from .describe import capped_repr, first_line, is_default_repr
from .output import cap_output, format_error

# Per-cell caps: source and outputs.
MAX_SOURCE = 2000
MAX_CELL_OUTPUT = 1500
MAX_HISTORY = 50
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def history_report(shell: Any, n: int = 5) -> str:
    """``notebook_history`` for a given shell."""
    n = max(1, min(int(n), MAX_HISTORY))
    manager = getattr(shell, "history_manager", None)
    sources = list(getattr(manager, "input_hist_raw", None) or shell.user_ns.get("In") or [""])
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
    reprs = getattr(manager, "output_hist_reprs", None)
    if isinstance(reprs, dict) and isinstance(reprs.get(i), str):
        return reprs[i]  # already formatted by IPython: no repr is run again
    out = shell.user_ns.get("Out")
    if isinstance(out, dict) and i in out:
        return capped_repr(out[i], MAX_CELL_OUTPUT)
    return ""


def _last_error(shell: Any, manager: Any) -> str:
    """The user's last exception with a short traceback.

    The live exception object (``sys.last_exc`` / ``sys.last_value``) gives the cleanest
    traceback; IPython >= 9 also stores each cell's formatted traceback, and ipykernel
    keeps the last one on the shell, for when the object is gone.
    """
    stored = getattr(manager, "exceptions", None) if manager is not None else None
    cell = max(stored) if isinstance(stored, dict) and stored else None
    where = f" (In [{cell}])" if cell is not None else ""
    exc = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    if isinstance(exc, BaseException):
        return f"Last error{where}:\n" + cap_output(format_error(exc, limit=5, skip=_is_ipython_frame), 3000)
    lines: list[str] = []
    if cell is not None:
        lines = [str(x) for x in stored[cell].get("traceback", [])]
    if not lines:
        lines = [str(x) for x in (getattr(shell, "_last_traceback", None) or [])]
    if not lines:
        return ""
    text = _ANSI.sub("", "\n".join(lines)).strip("\n")
    return f"Last error{where}:\n" + cap_output(text, 3000)


def _ipython_dir() -> str:
    import IPython

    return os.path.dirname(os.path.abspath(IPython.__file__)) + os.sep


def _is_ipython_frame(frame: Any) -> bool:
    return os.path.abspath(frame.filename).startswith(_ipython_dir())


# ================================================================ small helpers

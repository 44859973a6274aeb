"""`%kimi fix`: explain the last exception, with the cell that raised it."""

from __future__ import annotations

import linecache
import sys
import traceback
from types import TracebackType
from typing import Iterable

from ..core import sanitize
from ..core.redact import redact_text

_MAX_TRACEBACK = 6000


def last_exception() -> tuple[BaseException, TracebackType | None] | None:
    value = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    if value is None:
        return None
    return value, getattr(value, "__traceback__", None) or getattr(sys, "last_traceback", None)


def _is_cell(filename: str) -> bool:
    # IPython names cells `<ipython-input-N-…>`; ipykernel uses a temp path per cell.
    return filename.startswith("<ipython-input-") or "ipykernel_" in filename


def raising_cell(tb: TracebackType | None) -> str | None:
    """The source of the outermost notebook cell in the traceback."""
    for frame, _ in traceback.walk_tb(tb):
        filename = frame.f_code.co_filename
        if _is_cell(filename):
            lines = linecache.getlines(filename)
            if lines:
                return "".join(lines).rstrip()
    return None


def fix_prompt(secrets: Iterable[str] = ()) -> str | None:
    """The prompt for the model, or None when there is no exception to explain.

    Keys and `Kimi.secrets` (a DSN's password in a connection error) are masked
    before the traceback is cut to size, so a cut can't leave half a secret behind.
    """
    found = last_exception()
    if found is None:
        return None
    value, tb = found
    text = redact_text("".join(traceback.format_exception(type(value), value, tb)), secrets)
    if len(text) > _MAX_TRACEBACK:
        text = "…\n" + text[-_MAX_TRACEBACK:]
    cell = raising_cell(tb)
    if cell:
        cell = redact_text(cell, secrets)
    parts = ["My notebook code raised an exception. Explain what went wrong and propose a fix."]
    # Fences longer than any backtick run inside: a ``` in the cell or the error can't close them.
    if cell:
        parts.append(f"The cell that raised it:\n\n{sanitize.fence(cell, 'python')}")
    parts.append(f"The traceback:\n\n{sanitize.fence(text.rstrip())}")
    return "\n\n".join(parts)

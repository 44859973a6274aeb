"""What a tool hands back to the agent, and how its text is kept small.

Everything here is pure (no IPython), so the capping rules can be tested on their own.
"""

from __future__ import annotations

import base64
import struct
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

NO_OUTPUT = "No output"

# How far (as a fraction of the kept part) a cut may move to land on a line break.
# Cutting at a newline keeps lines whole for the model; the limit still holds.
_SNAP_FRACTION = 0.2


@dataclass
class ToolOutput:
    """The result of one tool call, as the agent loop needs it."""

    text: str
    """Exactly what goes back to the model as the tool message content (already capped)."""
    ok: bool = True
    """False when the code raised, the tool errored, the arguments were invalid, or the run was declined."""
    images: list[str] = field(default_factory=list)
    """Base64 PNGs of figures the code displayed (for vision models)."""
    declined: bool = False
    """Approval was refused, or could not be asked for (no stdin)."""
    interrupted: bool = False
    """The user interrupted the kernel while the tool ran: the agent must stop the whole cell."""
    outputs: list[dict[str, Any]] = field(default_factory=list, repr=False)
    """What the user saw, as nbformat outputs (streams, displays, the result, the error)."""


def cut_marker(n_cut: int, note: str = "") -> str:
    """The line put where text was removed, so the model knows something is missing.

    ``note`` adds where the full text can be read (``"; the full text is in ..."``).
    """
    return f"\n... [{n_cut:,} characters cut{note}] ...\n"


def cap_output(text: str, limit: int, note: str = "") -> str:
    """Keep the head and the tail of ``text`` within ``limit`` characters.

    The middle is replaced by a marker that says how many characters were cut, e.g.
    ``"\\n... [12,345 characters cut] ...\\n"``. The result is at most
    ``limit + len(marker)`` long; text that already fits is returned unchanged.
    Both ends are kept because the head says what happened first and the tail holds the
    final result or the traceback.
    """
    return cap_parts(text, 0, "", limit, note)


def cap_parts(head: str, omitted: int, tail: str, limit: int, note: str = "") -> str:
    """Cap the virtual text ``head + <omitted unknown characters> + tail``.

    This lets a streaming buffer that already threw away the middle of a huge output
    still report the exact number of characters cut.
    """
    total = len(head) + omitted + len(tail)
    if total <= limit and omitted == 0:
        return head + tail
    limit = max(limit, 0)
    keep_head = (limit + 1) // 2
    keep_tail = limit - keep_head
    if omitted == 0:
        head, tail = head + tail, head + tail
    # The kept ends can only come from text we actually hold.
    front = head[: min(keep_head, len(head))]
    back = tail[len(tail) - min(keep_tail, len(tail)):] if keep_tail else ""
    front = _snap_front(front)
    back = _snap_back(back)
    return front + cut_marker(total - len(front) - len(back), note) + back


def is_capped(head: str, omitted: int, tail: str, limit: int) -> bool:
    """Whether ``cap_parts`` with these arguments would cut anything."""
    return omitted > 0 or len(head) + len(tail) > limit


def _snap_front(front: str) -> str:
    """Shorten the kept head to end just after a newline, if one is close to the cut."""
    i = front.rfind("\n")
    if i >= 0 and len(front) - (i + 1) <= len(front) * _SNAP_FRACTION:
        return front[: i + 1]
    return front


def _snap_back(back: str) -> str:
    """Shorten the kept tail to start at a line start, if one is close to the cut."""
    i = back.find("\n")
    if i >= 0 and i + 1 <= len(back) * _SNAP_FRACTION:
        return back[i + 1:]
    return back


class HeadTailBuffer:
    """Collects streamed text but holds at most about ``3 * limit`` characters.

    Model code may print megabytes; only the first and last ``limit`` characters can
    ever reach the model, so the middle is counted and dropped as it arrives.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 0)
        self._head: list[str] = []
        self._head_len = 0
        self._tail = ""
        self.omitted = 0
        self.total = 0

    def write(self, data: str) -> None:
        if not data:
            return
        self.total += len(data)
        room = self.limit - self._head_len
        if room > 0:
            piece = data[:room]
            self._head.append(piece)
            self._head_len += len(piece)
            data = data[room:]
            if not data:
                return
        self._tail += data
        # Trim only when the tail is twice the limit, so trimming is amortised O(1).
        if len(self._tail) > 2 * self.limit:
            drop = len(self._tail) - self.limit
            self.omitted += drop
            self._tail = self._tail[drop:]

    @property
    def head(self) -> str:
        return "".join(self._head)

    @property
    def tail(self) -> str:
        return self._tail


def png_size(b64: str) -> tuple[int, int] | None:
    """Width and height from a base64 PNG's header, without decoding the whole image."""
    try:
        raw = base64.b64decode(b64[:44])  # 33 bytes: signature + IHDR length/type + w/h
    except (ValueError, TypeError):
        return None
    if len(raw) < 24 or raw[:8] != b"\x89PNG\r\n\x1a\n" or raw[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", raw[16:24])
    return width, height


def format_error(
    exc: BaseException,
    *,
    limit: int = 5,
    skip: Callable[[traceback.FrameSummary], bool] | None = None,
) -> str:
    """A short traceback for the model: at most ``limit`` frames, then ``Type: message``.

    ``skip`` drops leading frames that belong to the machinery (IPython, the registry)
    rather than to the code that failed. Chained exceptions are left out to keep it short;
    the user already sees the full traceback in the cell.
    """
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__, compact=True)
    frames = list(te.stack)
    if skip is not None:
        while frames and skip(frames[0]):
            frames.pop(0)
    te.stack = traceback.StackSummary.from_list(frames[-limit:] if limit > 0 else [])
    te.__cause__ = te.__context__ = None
    lines = list(te.format(chain=False))
    if frames and len(frames) > limit:
        lines[0] = f"Traceback (most recent call last, {limit} of {len(frames)} frames):\n"
    return "".join(lines).rstrip("\n")

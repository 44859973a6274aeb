"""Keep the full text of a capped tool output in the kernel, where the model can read it.

The model only sees the head and tail of a long output (``Kimi.max_tool_output``), so
that it fits the context. The whole text stays in the user namespace as
``_kimi_out[<n>]`` (n counts up over the session) and the cut marker names it, so the
model can read any slice with code: ``print(_kimi_out[3][20_000:24_000])``.

Memory is bounded on purpose. One entry holds at most ``KEEP_CHARS`` characters (the
head and tail halves of anything longer, with a marker saying how much was dropped), and
only the last ``KEEP_ENTRIES`` entries are kept, so a loop that prints megabytes on every
step holds at most about 50 MB, not all of it. The name starts with ``_`` so
``list_variables`` leaves it out and ``%who`` does not list it.
"""

from __future__ import annotations

from typing import Any

from ..core.tool_output import cap_parts

KEPT_NAME = "_kimi_out"
# Characters kept per capped output: enough to hold any print a person would page
# through, small enough that a 100 MB print does not stay in the kernel.
KEEP_CHARS = 10_000_000
# Capped outputs kept in all; older entries are dropped first.
KEEP_ENTRIES = 5


class KeptOutputs(dict):
    """``{n: full text}``, with a short repr: showing it must not print megabytes."""

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}: {len(v):,} chars" for k, v in self.items())
        return f"<kimi-jupyter full tool outputs {{{sizes}}}; read slices like {KEPT_NAME}[n][:2000]>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython's pretty printer
        p.text(repr(self))


def keep_full_text(shell: Any, head: str, omitted: int, tail: str) -> tuple[str, bool]:
    """Store ``head + <omitted> + tail`` in the kernel; return (its expression, whether all of it fitted).

    ``omitted`` > 0 means the middle was already gone when it arrived (a streaming
    buffer); the kept text then says how much is missing.
    """
    complete = omitted == 0 and len(head) + len(tail) <= KEEP_CHARS
    text = head + tail if complete else cap_parts(head, omitted, tail, KEEP_CHARS)
    namespace = shell.user_ns
    kept = namespace.get(KEPT_NAME)
    if not isinstance(kept, KeptOutputs):  # first time, or the user reassigned the name
        kept = KeptOutputs()
        namespace[KEPT_NAME] = kept
    key = max(kept, default=0) + 1
    kept[key] = text
    while len(kept) > KEEP_ENTRIES:
        del kept[min(kept)]
    return f"{KEPT_NAME}[{key}]", complete


def kept_note(expression: str, complete: bool) -> str:
    """The part of the cut marker that says where the full text is."""
    if complete:
        return f"; the full text is in the kernel as `{expression}` (a str): print a slice of it with code"
    half = KEEP_CHARS // 2
    return (f"; the kernel keeps the first and last {half:,} characters as `{expression}` (a str): "
            "print a slice of it with code")

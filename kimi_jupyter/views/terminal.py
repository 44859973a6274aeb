"""`TerminalView`: plain text for terminal IPython and scripts.

Reasoning is dimmed (ANSI, only on a TTY), the answer streams to stdout as it
arrives, and nothing is ever shown as `<IPython.core.display.HTML object>`.
"""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING

from ..core import sanitize
from . import render
from .base import BaseView

if TYPE_CHECKING:
    from ..core.result import Result
    from ..core.stream import ToolCall, Turn
    from ..tools import ToolOutput

DIM, RESET = render.DIM, render.RESET


class TerminalView(BaseView):
    def __init__(self, out: IO[str] | None = None, err: IO[str] | None = None, color: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.color = self.out.isatty() if color is None else color
        self._phase = ""

    def _dim(self, text: str) -> str:
        return f"{DIM}{text}{RESET}" if self.color else text

    def _write(self, text: str) -> None:
        # Model and server text can carry escape sequences (cursor moves, OSC 52 clipboard
        # writes, clear-screen): every caller passes it through `sanitize.plain` first (prose
        # drops them, code and arguments show them); our own dimming is added after it.
        self.out.write(text)
        self.out.flush()

    def on_step_start(self, step: int, model: str) -> None:
        self._phase = ""

    def on_reasoning(self, delta: str) -> None:
        if self._phase != "reasoning":
            self._phase = "reasoning"
            self._write(self._dim(render.placeholder() + "\n"))
        self._write(self._dim(sanitize.plain(delta)))

    def on_content(self, delta: str) -> None:
        if self._phase != "content":
            if self._phase == "reasoning":
                self._write("\n\n")
            self._phase = "content"
        self._write(sanitize.plain(delta))

    def on_step_end(self, turn: "Turn", elapsed_s: float) -> None:
        if self._phase:
            self._write("\n")

    def show_code(self, code: str) -> None:
        # All of it, made visible: a trailing `# \x1b[2K\x1b[1A` must not erase the line above.
        # On a terminal, reset its text attributes first: earlier output (model code printing a
        # file) may have left it hiding text (SGR 8 conceal, foreground = background).
        reset = RESET if self.color else ""
        self._write(f"{reset}\n--- {render.CODE_LABEL} ---\n{sanitize.plain(code, visible=True)}\n"
                    "------------------------\n")

    def on_tool_start(self, call: "ToolCall", step: int) -> None:
        if not call.is_code:
            name = sanitize.plain(call.name, visible=True)
            args = render.arguments_text(call.arguments)  # every argument, never cut
            self._write(f"\n{render.tool_call_label(step)} {name}({args})\n")

    def on_tool_output(self, call: "ToolCall", output: "ToolOutput") -> None:
        if not call.is_code:
            self._write(self._dim(sanitize.plain(output.text[:2000])) + "\n")

    def on_retry(self, seconds: float, reason: str) -> None:
        self.err.write(sanitize.plain(render.retrying(seconds, reason)) + "\n")
        self.err.flush()

    def on_notice(self, text: str, level: str = "warning") -> None:
        self.err.write(f"[{level}] {sanitize.plain(text)}\n")
        self.err.flush()

    def on_finish(self, result: "Result") -> None:
        self._write(self._dim(sanitize.plain(result.footer())) + "\n")

"""The View protocol: how the agent talks to a screen.

The agent never imports IPython.display or ipywidgets; it only calls these methods, and
each frontend (`views/`: notebook, widget, terminal, chat panel) implements them. A test
can pass a `views.base.RecordingView` and check the events without any frontend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .result import Result
    from .stream import ToolCall, Turn
    from .tool_output import ToolOutput


class View(Protocol):
    def on_step_start(self, step: int, model: str) -> None:
        """A request is about to be sent (step counts model requests in this cell)."""

    def on_reasoning(self, delta: str) -> None: ...

    def on_content(self, delta: str) -> None: ...

    def on_tool_call(self, call: "ToolCall") -> None:
        """The model started a tool call (its name is known, arguments are still streaming)."""

    def on_step_end(self, turn: "Turn", elapsed_s: float) -> None:
        """The reply is complete (or cut short); its text is final."""

    def show_code(self, code: str) -> None:
        """Model-written code, shown before it is approved and run."""

    def on_tool_start(self, call: "ToolCall", step: int) -> None: ...

    def on_tool_output(self, call: "ToolCall", output: "ToolOutput") -> None: ...

    def on_retry(self, seconds: float, reason: str) -> None: ...

    def on_notice(self, text: str, level: str = "warning") -> None:
        """A note the user must see and that stays in the saved notebook."""

    def on_finish(self, result: "Result") -> None: ...

"""The View protocol: how the agent talks to a screen.

The agent never imports IPython.display or ipywidgets; it only calls these
methods. A test can pass a `RecordingView` and check the events without any
frontend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..result import Result
    from ..stream import ToolCall, Turn
    from ..tools import ToolOutput


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


class BaseView:
    """Does nothing; concrete views override what they show."""

    def on_step_start(self, step: int, model: str) -> None:
        pass

    def on_reasoning(self, delta: str) -> None:
        pass

    def on_content(self, delta: str) -> None:
        pass

    def on_tool_call(self, call: "ToolCall") -> None:
        pass

    def on_step_end(self, turn: "Turn", elapsed_s: float) -> None:
        pass

    def show_code(self, code: str) -> None:
        pass

    def on_tool_start(self, call: "ToolCall", step: int) -> None:
        pass

    def on_tool_output(self, call: "ToolCall", output: "ToolOutput") -> None:
        pass

    def on_retry(self, seconds: float, reason: str) -> None:
        pass

    def on_notice(self, text: str, level: str = "warning") -> None:
        pass

    def on_finish(self, result: "Result") -> None:
        pass


@dataclass
class RecordingView(BaseView):
    """Keeps every event as (name, payload), for tests and scripting."""

    events: list[tuple[str, Any]] = field(default_factory=list)

    def on_step_start(self, step: int, model: str) -> None:
        self.events.append(("step_start", step))

    def on_reasoning(self, delta: str) -> None:
        self.events.append(("reasoning", delta))

    def on_content(self, delta: str) -> None:
        self.events.append(("content", delta))

    def on_tool_call(self, call: "ToolCall") -> None:
        self.events.append(("tool_call", call.name))

    def on_step_end(self, turn: "Turn", elapsed_s: float) -> None:
        self.events.append(("step_end", turn.finish_reason))

    def show_code(self, code: str) -> None:
        self.events.append(("code", code))

    def on_tool_start(self, call: "ToolCall", step: int) -> None:
        self.events.append(("tool_start", call.name))

    def on_tool_output(self, call: "ToolCall", output: "ToolOutput") -> None:
        self.events.append(("tool_output", output.text))

    def on_retry(self, seconds: float, reason: str) -> None:
        self.events.append(("retry", (seconds, reason)))

    def on_notice(self, text: str, level: str = "warning") -> None:
        self.events.append(("notice", text))

    def on_finish(self, result: "Result") -> None:
        self.events.append(("finish", result.finish_reason))

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

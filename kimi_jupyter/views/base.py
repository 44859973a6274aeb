"""Views to build on: `BaseView` (shows nothing) and `RecordingView` (keeps the events).

The protocol itself (`View`) is in `core/view.py`, beside the agent that calls it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.view import View  # noqa: F401  (re-exported: views.View)

if TYPE_CHECKING:
    from ..core.result import Result
    from ..core.stream import ToolCall, Turn
    from ..core.tool_output import ToolOutput


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

"""`StepStatus`: what a view says about the reply in progress (phase, tokens, time).

Every live view shows the same status line ("Thinking · 4 s · 312 tokens"), and
each must throttle it: a title update is a message to the browser. Kept here
once, so the views differ only in where they show it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from . import render


@dataclass
class StepStatus:
    """Counts one model reply. Kimi sends about one token per delta, so deltas are a live token count."""

    interval_s: float  # at most one status update per this many seconds
    phase: str = render.THINKING
    tokens: int = 0
    reasoning_tokens: int = 0
    started: float = field(default_factory=time.monotonic)
    _last_update: float = 0.0

    def start(self) -> None:
        self.phase = render.THINKING
        self.tokens = self.reasoning_tokens = 0
        self.started = self._last_update = time.monotonic()

    def reasoning(self) -> None:
        self.tokens += 1
        self.reasoning_tokens += 1

    def content(self) -> None:
        self.tokens += 1
        self.phase = render.ANSWERING

    def tool_call(self, name: str) -> None:
        self.phase = render.calling(name)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def due(self) -> bool:
        """True at most once per `interval_s`: time to show the status again."""
        now = time.monotonic()
        if now - self._last_update < self.interval_s:
            return False
        self._last_update = now
        return True

    def text(self, phase: str | None = None) -> str:
        return render.status_text(phase or self.phase, self.elapsed(), self.tokens)

"""The conversation: an append-only list of wire messages.

Moonshot caches prompt prefixes automatically (cache hits cost a quarter of a
miss), so earlier messages are never rewritten: each request extends the
previous one byte for byte. The only ways to shorten it are `reset()` and
rolling back a cell that produced nothing.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any


def _size(message: dict[str, Any]) -> int:
    return len(json.dumps(message, ensure_ascii=False)) + 2  # + the ", " between messages


@dataclass
class Conversation:
    messages: list[dict[str, Any]] = field(default_factory=list)
    # Kept up to date on append, so sizing a 300-step conversation before each
    # request doesn't re-serialize all of it.
    _chars: int = field(default=2, init=False, repr=False)

    def __post_init__(self) -> None:
        self._recount()

    def _recount(self) -> None:
        self._chars = 2 + sum(_size(m) for m in self.messages)

    def append(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        self._chars += _size(message)

    def mark(self) -> int:
        """A point to roll back to if a cell fails before anything was shown."""
        return len(self.messages)

    def rollback(self, mark: int) -> None:
        del self.messages[mark:]
        self._recount()

    def reset(self) -> None:
        self.messages.clear()
        self._recount()

    def system(self) -> str | None:
        """The system prompt in force: the latest one (each `-s` is appended, never inserted)."""
        for m in reversed(self.messages):
            if m.get("role") == "system":
                return m.get("content")
        return None

    def snapshot(self) -> list[dict[str, Any]]:
        """A deep copy, so a Result's messages don't change as the chat goes on."""
        return copy.deepcopy(self.messages)

    def size_chars(self) -> int:
        """Length of the messages as JSON (approximately: separators are counted as ", ")."""
        return self._chars

    def estimate_tokens(self) -> int:
        """Rough size: ~4 characters a token for English text and JSON."""
        return self.size_chars() // 4

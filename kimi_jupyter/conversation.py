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


@dataclass
class Conversation:
    messages: list[dict[str, Any]] = field(default_factory=list)

    def append(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    def mark(self) -> int:
        """A point to roll back to if a cell fails before anything was shown."""
        return len(self.messages)

    def rollback(self, mark: int) -> None:
        del self.messages[mark:]

    def reset(self) -> None:
        self.messages.clear()

    def system(self) -> str | None:
        for m in self.messages:
            if m.get("role") == "system":
                return m.get("content")
        return None

    def snapshot(self) -> list[dict[str, Any]]:
        """A deep copy, so a Result's messages don't change as the chat goes on."""
        return copy.deepcopy(self.messages)

    def size_chars(self) -> int:
        return len(json.dumps(self.messages, ensure_ascii=False))

    def estimate_tokens(self) -> int:
        """Rough size: ~4 characters a token for English text and JSON."""
        return self.size_chars() // 4

    def user_turns(self) -> int:
        return sum(1 for m in self.messages if m.get("role") == "user")

"""The conversation: an append-only list of wire messages.

Moonshot caches prompt prefixes automatically (cache hits cost a quarter of a
miss), so earlier messages are never rewritten: each request extends the
previous one byte for byte. The only ways to shorten it are `reset()` and
rolling back a cell that produced nothing.

Because messages are never edited once appended, a `Result` can keep a shallow
snapshot (a tuple of the same dicts) instead of a deep copy: a session of many
cells over a million-token conversation would otherwise keep one full copy of
the history per cell (quadratic memory).

Sizing is kept up to date on append, so the context check before each request
costs O(1), not a re-serialisation of a multi-megabyte history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


def _size(message: dict[str, Any]) -> int:
    return len(json.dumps(message, ensure_ascii=False)) + 2  # + the ", " between messages


@dataclass(frozen=True)
class ExactCount:
    """The server's tokenizer count of the first `length` messages (then `chars` long)."""

    tokens: int
    length: int
    chars: int


@dataclass
class Conversation:
    messages: list[dict[str, Any]] = field(default_factory=list)
    # Kept up to date on append, so sizing a 300-step conversation before each
    # request doesn't re-serialize all of it.
    _chars: int = field(default=2, init=False, repr=False)
    # The last exact count from the server's tokenizer, valid while the messages it
    # counted are still the head of the conversation (append-only, so until a rollback
    # below it or a reset).
    _exact: ExactCount | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._recount()

    def _recount(self) -> None:
        self._chars = 2 + sum(_size(m) for m in self.messages)

    def append(self, message: dict[str, Any]) -> None:
        """Add a message. It must not be changed afterwards (snapshots share it)."""
        self.messages.append(message)
        self._chars += _size(message)

    def mark(self) -> int:
        """A point to roll back to if a cell fails before anything was shown."""
        return len(self.messages)

    def rollback(self, mark: int) -> None:
        del self.messages[mark:]
        self._recount()
        if self._exact is not None and self._exact.length > mark:
            self._exact = None

    def reset(self) -> None:
        self.messages.clear()
        self._recount()
        self._exact = None

    def system(self) -> str | None:
        """The system prompt in force: the latest one (each `-s` is appended, never inserted)."""
        for m in reversed(self.messages):
            if m.get("role") == "system":
                return m.get("content")
        return None

    def snapshot(self) -> tuple[dict[str, Any], ...]:
        """The messages so far, as an immutable sequence that later cells don't change.

        Shallow: the dicts are shared with the conversation, which never edits a
        message once appended, so this costs one pointer per message, not a copy
        of the history.
        """
        return tuple(self.messages)

    def size_chars(self) -> int:
        """Length of the messages as JSON (approximately: separators are counted as ", ")."""
        return self._chars

    def estimate_tokens(self) -> int:
        """Rough size: ~4 characters a token for English text and JSON."""
        return self.size_chars() // 4

    # -- exact counts (the server's tokenizer), reused across requests -------------

    def note_exact(self, tokens: int) -> None:
        """Remember the server's count of the conversation as it is now."""
        self._exact = ExactCount(tokens, len(self.messages), self._chars)

    def tokens_since_exact(self) -> int | None:
        """Estimated tokens appended since the last exact count; None when there is none."""
        if self._exact is None:
            return None
        return max(0, self._chars - self._exact.chars) // 4

    def best_tokens(self) -> int:
        """The last exact count plus the estimate of what was appended since (or the estimate)."""
        since = self.tokens_since_exact()
        return self.estimate_tokens() if since is None or self._exact is None else self._exact.tokens + since

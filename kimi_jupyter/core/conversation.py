"""The conversation: an append-only list of wire messages.

Moonshot caches prompt prefixes automatically (cache hits cost a quarter of a
miss), so earlier messages are never rewritten: each request extends the
previous one byte for byte. The only ways to shorten it are `reset()` and
rolling back a cell that produced nothing.

Because messages are never edited once appended, a `Result` keeps a `History`:
the first n messages of the conversation's own list, taken in O(1). A deep copy
per cell (or even a tuple of pointers per cell) makes a long session's memory
grow with cells × history, quadratically. A reset starts a new list, and a
rollback below a snapshot copies before cutting, so no snapshot ever changes.

Sizing is kept up to date on append, so the context check before each request
costs O(1), not a re-serialisation of a multi-megabyte history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Iterator, Sequence, overload

from .stream import encodable


def _encode(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


def _encoded(message: dict[str, Any]) -> tuple[dict[str, Any], str, bytes]:
    """(message, its JSON, as UTF-8); a message whose text won't encode is scrubbed first."""
    encoded = _encode(message)
    try:
        return message, encoded, encoded.encode()
    except UnicodeEncodeError:
        message = _scrubbed(message)
        encoded = _encode(message)
        return message, encoded, encoded.encode()


def _scrubbed(value: Any) -> Any:
    """`value` with every string made encodable (lone surrogates replaced; see `stream.encodable`)."""
    if isinstance(value, str):
        return encodable(value)
    if isinstance(value, dict):
        return {_scrubbed(k): _scrubbed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrubbed(v) for v in value]
    return value


class History(Sequence[dict[str, Any]]):
    """The first `n` messages of a conversation, frozen (a read-only sequence, O(1) to take).

    It shares the conversation's list, which only grows past `n`: `Conversation`
    never edits, removes or reorders the first `n` messages of a list a snapshot
    points to (a reset or a rollback below it moves the conversation to a new list).
    """

    __slots__ = ("_items", "_n")

    def __init__(self, items: list[dict[str, Any]], n: int) -> None:
        self._items = items
        self._n = n

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[dict[str, Any], ...]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return tuple(self._items[: self._n][index])
        i = index + self._n if index < 0 else index
        if not 0 <= i < self._n:
            raise IndexError("History index out of range")
        return self._items[i]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return islice(self._items, self._n)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(other) == self._n and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]  # equal to lists and tuples, like a list

    def __repr__(self) -> str:
        return f"History({list(self)!r})"

    # Copies and pickles carry the first n messages only, not the conversation's whole list.
    def __copy__(self) -> "History":
        return self  # immutable

    def __deepcopy__(self, memo: dict[int, Any]) -> "History":
        import copy

        items = copy.deepcopy(list(self), memo)
        return History(items, len(items))

    def __reduce__(self) -> tuple[Any, ...]:
        items = list(self)
        return (History, (items, len(items)))


@dataclass(frozen=True)
class ExactCount:
    """The server's tokenizer count of the first `length` messages (then `chars` long)."""

    tokens: int
    length: int
    chars: int


class EncodedMessages:
    """The messages' JSON, `", "`-joined as UTF-8: the inside of a request's `[...]`.

    Encoded once, on append, and kept as sealed `bytes` chunks plus a short open
    tail, so a request sends the history as a few buffers taken from here as they
    are. A million-token conversation is ~4 MB of JSON: joining it into one
    `bytes` for each request, then splicing that into the body, cost two copies
    of it per step of a tool loop.
    """

    TAIL = 1 << 20  # the open tail is copied per request (~50 µs a MiB): sealed past this size

    def __init__(self) -> None:
        self._sealed: list[bytes] = []
        self._sealed_size = 0
        self._tail = bytearray()
        # Where each message's JSON ends (bytes, characters): a rollback cuts there.
        self._byte_ends: list[int] = []
        self._char_ends: list[int] = []

    @property
    def chars(self) -> int:
        """Characters of the JSON array `[...]` (separators counted as ", ")."""
        return 2 + (self._char_ends[-1] if self._char_ends else 0)

    def append(self, encoded: str, data: bytes | None = None) -> None:
        """Add one message's JSON (`data`: the same, as UTF-8, if the caller has it).

        Atomic: if it can't be encoded, nothing changes.
        """
        if data is None:
            data = encoded.encode()  # first: a failure here must leave no half-written separator
        sep = 2 if self._byte_ends else 0
        if sep:
            self._tail += b", "
        self._tail += data
        self._byte_ends.append(self._sealed_size + len(self._tail))
        self._char_ends.append((self._char_ends[-1] if self._char_ends else 0) + sep + len(encoded))
        if len(self._tail) >= self.TAIL:
            self._seal()

    def _seal(self) -> None:
        self._sealed.append(bytes(self._tail))
        self._sealed_size += len(self._tail)
        self._tail = bytearray()

    def parts(self) -> tuple[bytes, ...]:
        """The JSON as buffers to send one after another (only the short tail is copied)."""
        return (*self._sealed, bytes(self._tail)) if self._tail else tuple(self._sealed)

    def truncate(self, n: int) -> None:
        """Keep the first `n` messages' JSON."""
        if n >= len(self._byte_ends):
            return
        keep = self._byte_ends[n - 1] if n else 0
        data = b"".join(self.parts())[:keep]
        del self._byte_ends[n:], self._char_ends[n:]
        self._sealed, self._sealed_size, self._tail = [], 0, bytearray(data)
        if len(self._tail) >= self.TAIL:
            self._seal()


@dataclass
class Conversation:
    messages: list[dict[str, Any]] = field(default_factory=list)
    # Each message as JSON, encoded once on append: the request body is put together
    # from it (`wire.encode_body`), and sizing a 300-step or million-token
    # conversation before each request doesn't re-serialize any of it.
    _json: EncodedMessages = field(default_factory=EncodedMessages, init=False, repr=False)
    # The last exact count (the server's tokenizer, or a reply's prompt_tokens), valid
    # while the messages it counted are still the head of the conversation
    # (append-only, so until a rollback below it or a reset).
    _exact: ExactCount | None = field(default=None, init=False, repr=False)
    # The longest snapshot taken of the current list: a rollback below it must not
    # cut that list in place.
    _shared: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self._recount()

    def _recount(self) -> None:
        self._json = EncodedMessages()
        for i, m in enumerate(self.messages):
            self.messages[i], encoded, data = _encoded(m)
            self._json.append(encoded, data)

    def append(self, message: dict[str, Any]) -> None:
        """Add a message. It must not be changed afterwards (snapshots share it, and its
        JSON is kept).

        Atomic: the message and its JSON go in together or not at all, so a message
        that fails to encode can't leave the history invalid for every later request.
        Text that can't be sent as UTF-8 (a lone surrogate, from a server's JSON or a
        user's string) is made encodable first.
        """
        message, encoded, data = _encoded(message)
        self._json.append(encoded, data)
        self.messages.append(message)

    def mark(self) -> int:
        """A point to roll back to if a cell fails before anything was shown."""
        return len(self.messages)

    def rollback(self, mark: int) -> None:
        if mark < self._shared:
            self.messages = self.messages[:mark]  # a snapshot still reads the old list
            self._shared = 0
        else:
            del self.messages[mark:]
        self._json.truncate(mark)  # the kept JSON of the messages that stay is still right
        if self._exact is not None and self._exact.length > mark:
            self._exact = None

    def reset(self) -> None:
        self.messages = []  # earlier snapshots keep the old list
        self._shared = 0
        self._recount()
        self._exact = None

    def system(self) -> str | None:
        """The system prompt in force: the latest one (each `-s` is appended, never inserted)."""
        for m in reversed(self.messages):
            if m.get("role") == "system":
                return m.get("content")
        return None

    def framed(
        self, before: Sequence[dict[str, Any]] = (), after: Sequence[dict[str, Any]] = ()
    ) -> tuple[list[dict[str, Any]], tuple[bytes, ...]]:
        """The messages to send with `before` and `after` around them, and their JSON in parts.

        Nothing is appended: these are messages the model reads and the history never
        keeps (tutor mode's instructor notes and hint rung), so no output shows them.
        """
        if not before and not after:
            return self.messages, self.encoded()

        def encoded(messages: Sequence[dict[str, Any]]) -> bytes:
            return b", ".join(_encode(m).encode() for m in messages)

        parts = self.encoded()
        if before:
            parts = (encoded(before) + (b", " if self.messages else b""), *parts)
        if after:
            parts = (*parts, (b", " if self.messages or before else b"") + encoded(after))
        return [*before, *self.messages, *after], parts

    def snapshot(self) -> History:
        """The messages so far, as a read-only sequence that later cells don't change.

        O(1): the dicts and the list are shared with the conversation, which never
        edits a message once appended, so a Result costs nothing per message.
        """
        self._shared = max(self._shared, len(self.messages))
        return History(self.messages, len(self.messages))

    def encoded(self) -> tuple[bytes, ...]:
        """The messages as the UTF-8 JSON between `[` and `]`, in parts, kept from when each was appended."""
        return self._json.parts()

    def size_chars(self) -> int:
        """Length of the messages as JSON (approximately: separators are counted as ", ")."""
        return self._json.chars

    def estimate_tokens(self) -> int:
        """Rough size: ~4 characters a token for English text and JSON."""
        return self.size_chars() // 4

    # -- exact counts (the server's), reused across requests -------------------------

    def note_exact(self, tokens: int) -> None:
        """Remember the server's count of the conversation as it is now: its tokenizer's,
        or the `prompt_tokens` of a reply to exactly these messages."""
        self._exact = ExactCount(tokens, len(self.messages), self._json.chars)

    def tokens_since_exact(self) -> int | None:
        """Estimated tokens appended since the last exact count; None when there is none."""
        if self._exact is None:
            return None
        return max(0, self._json.chars - self._exact.chars) // 4

    def best_tokens(self) -> int:
        """The last exact count plus the estimate of what was appended since (or the estimate)."""
        since = self.tokens_since_exact()
        return self.estimate_tokens() if since is None or self._exact is None else self._exact.tokens + since

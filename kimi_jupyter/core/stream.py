"""Fold a streamed chat completion into one `Turn`.

Pure code: chunks are plain dicts (decoded SSE `data:` payloads), so this module
needs no network, no openai types and no IPython, and it is cheap per chunk.
Text is accumulated in lists and joined once, so folding is O(total length);
openai's own `ChatCompletionStreamState` re-dumps the whole message per chunk,
which is quadratic on a long reasoning stream.

Two dialects are accepted (SPEC §7):
- Moonshot: `delta.reasoning_content`, usage inside `choices[0]` of the finish chunk.
- vLLM / SGLang: `delta.reasoning`, usage at the top level of a final chunk.

A chunk is server text, so it is checked before any of it is used (`check_chunk`):
a field of the wrong type (a number for `reasoning_content`, a list for `content`,
a string tool-call `index`) is `MalformedStream`, one clear line, and the folder
keeps what arrived before it. Text is made encodable where it enters: a lone
surrogate (`"\\udfff"` is valid JSON) becomes U+FFFD, or it would fail later, when
the reply is sent to the frontend or the history is encoded for the next request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .errors import MalformedStream

_SURROGATE = re.compile("[\ud800-\udfff]")


def encodable(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD, so it encodes as UTF-8.

    JSON's `\\ud800`-style escapes can carry half a pair; Python keeps it in the str,
    and every later `.encode()` of it (the frontend message, the next request) fails.
    """
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


# No single request has anywhere near this many tokens (the largest window is 1M): a usage
# field past it is a server's bug or a hostile server, and must not reach a footer as a
# 300-digit number or a cost.
MAX_USAGE_TOKENS = 100_000_000


def _count(value: Any) -> int:
    """A usage count as it entered: a finite number in [0, MAX_USAGE_TOKENS], else 0 or the cap."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return 0  # missing, text, NaN: nothing sensible was reported
    if value <= 0:
        return 0
    return MAX_USAGE_TOKENS if value >= MAX_USAGE_TOKENS else int(value)


@dataclass
class Usage:
    """Token counts. `cached_tokens` is the part of the prompt served from the prefix cache;
    `cache_write_tokens` the part written to it, where the server reports writes (K3 family,
    SPEC §7: never guessed); `reasoning_tokens` the part of the completion spent thinking."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(*(a + b for a, b in zip(self.as_tuple(), other.as_tuple())))

    def merge(self, other: "Usage | None") -> "Usage":
        """The same request's usage reported twice: keep the larger of each field.

        Moonshot puts usage in the finish chunk's choice and, with
        `stream_options.include_usage`, repeats it at the top level of a final
        chunk with fewer fields. Overwriting would erase `cached_tokens`.
        """
        if other is None:
            return self
        return Usage(*(max(a, b) for a, b in zip(self.as_tuple(), other.as_tuple())))

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        return (self.prompt_tokens, self.completion_tokens, self.total_tokens, self.cached_tokens,
                self.reasoning_tokens, self.cache_write_tokens)

    @classmethod
    def from_wire(cls, data: Any) -> "Usage | None":
        """Moonshot's flat `cached_tokens` (left out at zero) or OpenAI's `prompt_tokens_details`.

        Every count is validated here, where it enters: a negative, non-numeric or absurd
        value is clamped, and the parts never exceed their whole (cached and written ≤ prompt,
        reasoning ≤ completion). Cache writes are read from the names servers use for them
        (`cache_write_tokens`, Anthropic's `cache_creation_input_tokens`, or either inside
        `prompt_tokens_details`); Moonshot's docs name no field yet (checked 2026-12-06).
        """
        if not data or not isinstance(data, dict):
            return None
        details = data.get("prompt_tokens_details")
        details = details if isinstance(details, dict) else {}
        completion_details = data.get("completion_tokens_details")
        completion_details = completion_details if isinstance(completion_details, dict) else {}

        def first(*values: Any) -> int:
            return next((_count(v) for v in values if v is not None), 0)

        prompt = _count(data.get("prompt_tokens"))
        completion = _count(data.get("completion_tokens"))
        cached = min(first(data.get("cached_tokens"), details.get("cached_tokens")), prompt)
        writes = min(first(data.get("cache_write_tokens"), data.get("cache_creation_input_tokens"),
                           details.get("cache_write_tokens"), details.get("cache_creation_tokens")),
                     prompt - cached)
        reasoning = min(_count(completion_details.get("reasoning_tokens")), completion)
        total = max(_count(data.get("total_tokens")), prompt + completion)
        return cls(prompt, completion, total, cached, reasoning, writes)


# The built-in code tool. Its prints and figures are ordinary cell outputs, so views
# show its code rather than a generic "tool call" line and its result.
CODE_TOOL = "python"


@dataclass
class ToolCall:
    """One tool call requested by the model. `arguments` is the raw JSON text."""

    id: str
    name: str
    arguments: str = ""
    index: int = 0

    @property
    def is_code(self) -> bool:
        """The built-in python tool: its output shows as ordinary cell output."""
        return self.name == CODE_TOOL


@dataclass
class Turn:
    """One model reply: what a single streamed request produced."""

    reasoning: str = ""
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None
    finish_reason: str | None = None
    model: str | None = None
    id: str | None = None


class _PendingCall:
    __slots__ = ("id", "name", "parts", "index")

    def __init__(self, index: int) -> None:
        self.index = index
        self.id = ""
        self.name = ""
        self.parts: list[str] = []


class StreamFolder:
    """Accumulates chunks; calls optional hooks for live display.

    Hooks are called with each *delta*, never with the text so far, so a view
    that forwards them does linear work too.
    """

    def __init__(
        self,
        on_reasoning: Callable[[str], None] | None = None,
        on_content: Callable[[str], None] | None = None,
        on_tool_call: Callable[[ToolCall], None] | None = None,
    ) -> None:
        self._reasoning: list[str] = []
        self._content: list[str] = []
        self._calls: dict[int, _PendingCall] = {}
        self._on_reasoning = on_reasoning
        self._on_content = on_content
        self._on_tool_call = on_tool_call
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.id: str | None = None

    def feed(self, chunk: dict[str, Any]) -> None:
        """Fold one chunk. Raises `MalformedStream` (nothing of the chunk taken) if it isn't one."""
        check_chunk(chunk)
        if self.id is None:
            self.id = _opt_text(chunk.get("id"))
            self.model = _opt_text(chunk.get("model"))
        top_usage = chunk.get("usage")
        if top_usage:
            self._merge_usage(top_usage)
        for choice in chunk.get("choices") or ():
            if (choice.get("index") or 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("reasoning_content")
            if text is None:
                text = delta.get("reasoning")
            if text:
                text = encodable(text)
                self._reasoning.append(text)
                if self._on_reasoning:
                    self._on_reasoning(text)
            text = delta.get("content")
            if text:
                text = encodable(text)
                self._content.append(text)
                if self._on_content:
                    self._on_content(text)
            for tc in delta.get("tool_calls") or ():
                self._feed_tool_call(tc)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
            if choice.get("usage"):
                self._merge_usage(choice["usage"])

    def _merge_usage(self, data: dict[str, Any]) -> None:
        usage = Usage.from_wire(data)
        self.usage = usage if self.usage is None else self.usage.merge(usage)

    def _feed_tool_call(self, tc: dict[str, Any]) -> None:
        index = tc.get("index")
        if index is None:
            index = len(self._calls)
        pending = self._calls.get(index)
        if pending is None:
            pending = self._calls[index] = _PendingCall(index)
        if tc.get("id"):
            pending.id = encodable(tc["id"])
        fn = tc.get("function") or {}
        if fn.get("name"):
            first = not pending.name
            pending.name = encodable(fn["name"])
            if first and self._on_tool_call:
                self._on_tool_call(ToolCall(pending.id, pending.name, "", index))
        if fn.get("arguments"):
            pending.parts.append(encodable(fn["arguments"]))

    @property
    def reasoning(self) -> str:
        return "".join(self._reasoning)

    @property
    def content(self) -> str:
        return "".join(self._content)

    def turn(self) -> Turn:
        calls = [
            ToolCall(p.id or f"{p.name}:{p.index}", p.name, "".join(p.parts), p.index)
            for p in sorted(self._calls.values(), key=lambda p: p.index)
        ]
        return Turn(
            reasoning=self.reasoning,
            content=self.content,
            tool_calls=calls,
            usage=self.usage,
            finish_reason=self.finish_reason,
            model=self.model,
            id=self.id,
        )


def _opt_text(value: Any) -> str | None:
    return encodable(value) if value is not None else None


# What each field the folder reads must be, where present and not null. `type(v) is`:
# a bool is not an int (JSON true), and nothing of a subclass is asked anything.
_TOP = {"id": str, "model": str, "usage": dict, "choices": list}
_CHOICE = {"index": int, "finish_reason": str, "usage": dict, "delta": dict}
_DELTA = {"reasoning_content": str, "reasoning": str, "content": str, "tool_calls": list}
_CALL = {"index": int, "id": str, "function": dict}
_FUNCTION = {"name": str, "arguments": str}
_KIND = {str: "text", int: "an integer", dict: "an object", list: "a list"}


def _ok(obj: dict[str, Any], rules: dict[str, type]) -> bool:
    for key, value in obj.items():
        kind = rules.get(key)
        if kind is not None and value is not None and type(value) is not kind:
            return False
    return True


def check_chunk(chunk: Any) -> None:
    """Raise `MalformedStream` unless every field the folder reads has its type.

    Checked whole before any of it is folded, so a bad chunk leaves the folder as
    it was: what arrived before stays intact for the partial reply. This runs on
    every chunk of every stream, so the check itself is lean; the message, with the
    path of the wrong field, is worked out only for a chunk that failed it.
    """
    if type(chunk) is not dict or not _ok(chunk, _TOP):
        raise MalformedStream(_problem(chunk))
    for choice in chunk.get("choices") or ():
        if type(choice) is not dict or not _ok(choice, _CHOICE):
            raise MalformedStream(_problem(chunk))
        delta = choice.get("delta")
        if delta:
            if not _ok(delta, _DELTA):
                raise MalformedStream(_problem(chunk))
            for tc in delta.get("tool_calls") or ():
                if type(tc) is not dict or not _ok(tc, _CALL):
                    raise MalformedStream(_problem(chunk))
                fn = tc.get("function")
                if fn and not _ok(fn, _FUNCTION):
                    raise MalformedStream(_problem(chunk))


def _problem(chunk: Any) -> str:
    """What is wrong with a chunk `check_chunk` refused, naming the field's path."""
    if type(chunk) is not dict:
        return f"a malformed chunk ({_describe(chunk)}, not an object)"
    levels: list[tuple[Any, dict[str, type], str]] = [(chunk, _TOP, "")]
    for i, choice in enumerate(chunk.get("choices") or ()):
        levels.append((choice, _CHOICE, f"choices[{i}]"))
        delta = choice.get("delta") if type(choice) is dict else None
        if type(delta) is dict:
            levels.append((delta, _DELTA, f"choices[{i}].delta"))
            calls = delta.get("tool_calls")
            for j, tc in enumerate(calls if type(calls) is list else ()):
                levels.append((tc, _CALL, f"choices[{i}].delta.tool_calls[{j}]"))
                fn = tc.get("function") if type(tc) is dict else None
                if type(fn) is dict:
                    levels.append((fn, _FUNCTION, f"choices[{i}].delta.tool_calls[{j}].function"))
    for obj, rules, where in levels:
        if type(obj) is not dict:
            return f"a malformed chunk (`{where}` is {_describe(obj)}, not an object)"
        for key, value in obj.items():
            kind = rules.get(key)
            if kind is not None and value is not None and type(value) is not kind:
                path = f"{where}.{key}" if where else key
                return f"a malformed chunk (`{path}` is {_describe(value)}, not {_KIND[kind]})"
    return "a malformed chunk"


def _describe(value: Any) -> str:
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "text", list: "a list", dict: "an object"}
    return kinds.get(type(value), "a " + type(value).__name__)


def fold(chunks: Iterable[dict[str, Any]]) -> Turn:
    """Fold a whole stream of chunk dicts into a Turn."""
    folder = StreamFolder()
    for chunk in chunks:
        folder.feed(chunk)
    return folder.turn()

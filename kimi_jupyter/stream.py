"""Fold a streamed chat completion into one `Turn`.

Pure code: chunks are plain dicts (decoded SSE `data:` payloads), so this module
needs no network, no openai types and no IPython, and it is cheap per chunk.
Text is accumulated in lists and joined once, so folding is O(total length);
openai's own `ChatCompletionStreamState` re-dumps the whole message per chunk,
which is quadratic on a long reasoning stream.

Two dialects are accepted (SPEC §7):
- Moonshot: `delta.reasoning_content`, usage inside `choices[0]` of the finish chunk.
- vLLM / SGLang: `delta.reasoning`, usage at the top level of a final chunk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable


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
        if self.id is None:
            self.id = chunk.get("id")
            self.model = chunk.get("model")
        top_usage = chunk.get("usage")
        if top_usage:
            self._merge_usage(top_usage)
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("reasoning_content")
            if text is None:
                text = delta.get("reasoning")
            if text:
                self._reasoning.append(text)
                if self._on_reasoning:
                    self._on_reasoning(text)
            text = delta.get("content")
            if text:
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
        index = tc.get("index", len(self._calls))
        pending = self._calls.get(index)
        if pending is None:
            pending = self._calls[index] = _PendingCall(index)
        if tc.get("id"):
            pending.id = tc["id"]
        fn = tc.get("function") or {}
        if fn.get("name"):
            first = not pending.name
            pending.name = fn["name"]
            if first and self._on_tool_call:
                self._on_tool_call(ToolCall(pending.id, pending.name, "", index))
        if fn.get("arguments"):
            pending.parts.append(fn["arguments"])

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


def fold(chunks: Iterable[dict[str, Any]]) -> Turn:
    """Fold a whole stream of chunk dicts into a Turn."""
    folder = StreamFolder()
    for chunk in chunks:
        folder.feed(chunk)
    return folder.turn()

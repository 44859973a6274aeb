"""`Result`: what one `%%kimi` cell or `kimi_jupyter.chat()` call produced (SPEC §5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from .stream import CODE_TOOL, Usage

# Said in the footer of every answer that came from a replay (the offline demo, a cassette),
# not from the model.
REPLAY_LABEL = "offline replay"


@dataclass
class ToolCallRecord:
    name: str
    arguments: str  # raw JSON text, as the model wrote it
    output: str  # what the model got back
    ok: bool
    # What the user saw (nbformat outputs), for `%kimi export`.
    outputs: list[dict[str, Any]] = field(default_factory=list, repr=False)
    # Not run: the user refused it, or it could not be asked about (no stdin). An
    # export must not turn such code into a cell that Run All would run.
    declined: bool = False

    @property
    def is_code(self) -> bool:
        """A call of the built-in python tool (model-written code that ran in the kernel)."""
        return self.name == CODE_TOOL


@dataclass
class Result:
    content: str = ""
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None
    model: str = ""
    finish_reason: str | None = None
    steps: int = 0  # tool calls run in this cell
    elapsed_s: float = 0.0
    parsed: Any = None  # the decoded answer for `-f json`
    requests: int = 0  # model requests made in this cell
    request_ids: list[str] = field(default_factory=list)  # the server's Msh-Request-Id per request
    tool_result_tokens: int = 0  # about how many tokens of context this cell's tool results added
    replay: bool = False  # answered by a replay server (a cassette), not by the model
    note: str = ""  # said at the end of the footer, e.g. tutor mode's "hint 2 of 4"
    # The conversation after this cell: a `Conversation.snapshot()`, O(1) to keep, so a
    # session of many cells doesn't hold one copy of the history per cell.
    _history: Sequence[dict[str, Any]] = field(default=(), init=False, repr=False)
    # Each request's reasoning, the same strings the conversation holds: joined only when
    # read, so a many-step cell doesn't keep its reasoning twice.
    _reasoning: tuple[str, ...] = field(default=(), init=False, repr=False)

    @property
    def reasoning(self) -> str:
        """The cell's reasoning: each request's, in order, separated by blank lines."""
        return "\n\n".join(p for p in self._reasoning if p)

    @reasoning.setter
    def reasoning(self, value: str | Sequence[str]) -> None:
        self._reasoning = (value,) if isinstance(value, str) else tuple(value)

    @property
    def messages(self) -> tuple[dict[str, Any], ...]:
        """The conversation after this cell, as a tuple (built on access; later cells don't change it)."""
        return tuple(self._history)

    @messages.setter
    def messages(self, value: Sequence[dict[str, Any]]) -> None:
        self._history = value

    def footer(self) -> str:
        """model · tokens in/out · cost · time · steps — the saved cell's last line."""
        u = self.usage
        tokens = f"{u.prompt_tokens:,} in"
        cache = [f"{u.cached_tokens:,} cached"] if u.cached_tokens else []
        if u.cache_write_tokens:  # only where the server reported writes (K3 family)
            cache.append(f"{u.cache_write_tokens:,} written to cache")
        if cache:
            tokens += f" ({', '.join(cache)})"
        tokens += f" / {u.completion_tokens:,} out"
        if u.reasoning_tokens:
            tokens += f" ({u.reasoning_tokens:,} reasoning)"
        cost = "cost n/a" if self.cost_usd is None else f"${self.cost_usd:.4f}"
        steps = f"{self.steps} tool call{'s' if self.steps != 1 else ''}"
        if self.tool_result_tokens:
            steps += f" (~{self.tool_result_tokens:,} tokens of results)"
        footer = f"{self.model} · {tokens} · {cost} · {self.elapsed_s:.1f} s · {steps}"
        if self.note:
            footer += f" · {self.note}"
        return f"{footer} · {REPLAY_LABEL}" if self.replay else footer

    def metadata(self) -> dict[str, Any]:
        """Output metadata stored under the `kimi_jupyter` key (SPEC §3, provenance)."""
        from .._version import __version__

        u = self.usage
        meta: dict[str, Any] = {
            "model": self.model,
            "usage": {
                "prompt_tokens": u.prompt_tokens,
                "completion_tokens": u.completion_tokens,
                "total_tokens": u.total_tokens,
                "cached_tokens": u.cached_tokens,
                "reasoning_tokens": u.reasoning_tokens,
                **({"cache_write_tokens": u.cache_write_tokens} if u.cache_write_tokens else {}),
            },
            "cost_usd": self.cost_usd,
            "elapsed_s": round(self.elapsed_s, 3),
            "steps": self.steps,
            "tool_result_tokens": self.tool_result_tokens,
            "finish_reason": self.finish_reason,
            "version": __version__,
            "request_ids": list(self.request_ids),
        }
        if self.note:
            meta["note"] = self.note
        if self.replay:
            meta["offline_replay"] = True  # the key `demo.label_replays` sets, so it doesn't label twice
        return meta

    def _repr_markdown_(self) -> str:
        """Model text is untrusted: each part is one sanitized HTML block (see `sanitize`)."""
        from . import sanitize

        parts = []
        if self.reasoning:
            parts.append(f"<details><summary>Reasoning</summary>{sanitize.markdown_block(self.reasoning)}</details>")
        parts.append(sanitize.markdown_block(self.content) if self.content else "*(no answer)*")
        parts.append(f"<sub>{sanitize.markdown_text(self.footer())}</sub>")
        return "\n\n".join(parts)

    def __str__(self) -> str:
        return self.content

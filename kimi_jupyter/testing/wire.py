"""The Kimi wire format, as the loopback server speaks it (SPEC §7): the lineup and the bytes.

Kept apart from the HTTP plumbing so the models served, the byte layout of a chunk
and the error bodies can be read (and changed) in one place; the request rules
built on this data are in `.rules`. Two flavours:

- ``moonshot``: today's Moonshot lineup with its ``/v1/models`` fields,
  ``delta.reasoning_content``, usage *inside* ``choices[0]`` of the finish chunk,
  an optional trailing ``choices: []`` usage chunk with fewer fields, and a
  ``Msh-Request-Id`` header on every response.
- ``vllm``: the open weights under their Hugging Face ids, ``delta.reasoning``
  next to ``"reasoning_content": null`` (newer vLLM), usage only as a final
  top-level chunk when the request asks for ``stream_options.include_usage``.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Iterator, Literal

Flavor = Literal["moonshot", "vllm"]
ThinkingType = Literal["only", "both", "no"]  # Moonshot's `supports_thinking_type`


# ---------------------------------------------------------------- the lineup (data)
@dataclass(frozen=True)
class Efforts:
    """A model's `think_efforts` / `reasoning_efforts`: which `effort` values it takes."""

    valid: tuple[str, ...]
    default: str

    def listing(self) -> dict[str, Any]:
        return {"support": True, "valid_efforts": list(self.valid), "default_effort": self.default}


# Models without effort support still list both objects, with support false (one shape
# for clients to read, rather than sometimes-missing keys).
NO_EFFORTS: dict[str, Any] = {"support": False, "valid_efforts": [], "default_effort": None}

# The effort values, in one place. Moonshot's docs (2026-08 copy): kimi-k3 takes a
# top-level `reasoning_effort` low | high | max (default max); the K2 line has none.
K2_6_EFFORTS = None
K3_EFFORTS = Efforts(valid=("low", "high", "max"), default="max")

# Whether declaring `$web_search` needs thinking off on a switchable ("both") model.
# Moonshot's docs now say "kimi-k2.6 can also perform web search with thinking enabled".
WEB_SEARCH_NEEDS_THINKING_OFF = False


@dataclass(frozen=True)
class ServedModel:
    """One model the loopback server serves, with the rules it enforces.

    `temperature_thinking` / `temperature_instant`: the one temperature accepted with
    thinking on / off (None: any value in [0, 2]). `tool_id_sep` joins name and index
    in tool-call ids (``python:0`` on K2.x, ``python_0`` on K3).
    """

    id: str
    created: int
    context_length: int
    thinking: ThinkingType
    image_in: bool = False
    video_in: bool = False
    efforts: Efforts | None = None
    temperature_thinking: float | None = None
    temperature_instant: float | None = None
    tool_choice_required: bool = False
    tool_id_sep: str = ":"
    cache_options: bool = False  # takes `prompt_cache_options` and bills cache writes (K3 family)


_V = dict(image_in=True, video_in=True)
# The K3 family (kimi-k3; kimi-k3.1-pro, launched 2026-10-23, with the same effort levels).
_K3 = dict(**_V, efforts=K3_EFFORTS, temperature_thinking=1.0, tool_choice_required=True, tool_id_sep="_",
           cache_options=True)
# Data, so a model launch is a one-line change. Checked against SPEC §7 on 2026-12-06.
MOONSHOT_MODELS: tuple[ServedModel, ...] = (
    ServedModel("kimi-k2.6", 1776643200, 262_144, "both", **_V, efforts=K2_6_EFFORTS, temperature_thinking=1.0, temperature_instant=0.6),
    ServedModel("kimi-k3", 1784160000, 1_048_576, "only", **_K3),
    ServedModel("kimi-k3.1-pro", 1792713600, 1_048_576, "only", **_K3),
    ServedModel("kimi-k3.1-pro-highspeed", 1792713600, 1_048_576, "only", **_K3),
    ServedModel("kimi-k2.7-code", 1781222400, 262_144, "only", temperature_thinking=1.0),
    ServedModel("kimi-k2.7-code-highspeed", 1781222400, 262_144, "only", temperature_thinking=1.0),
)
# Answered like any unknown id (404), and not listed. Kept for tests and docs.
RETIRED_MODELS: tuple[str, ...] = (
    "kimi-k2-thinking", "kimi-k2-thinking-turbo", "kimi-k2-0905-preview", "kimi-k2-0711-preview",
    "kimi-k2-turbo-preview", "kimi-latest", "kimi-k2.5", "moonshot-v1-8k", "moonshot-v1-32k", "moonshot-v1-128k",
)
# A self-hosted server is started with the Hugging Face repo id as model name; the
# `kimi-k2.6` alias is what `--served-model-name moonshotai/Kimi-K2.6 kimi-k2.6` gives,
# so a client configured with Moonshot's default id also works against it. vLLM
# always thinks here (its chat_template_kwargs switch is not imitated).
VLLM_MODELS: tuple[ServedModel, ...] = (
    ServedModel("moonshotai/Kimi-K2.6", 1776643200, 262_144, "only"),
    ServedModel("kimi-k2.6", 1776643200, 262_144, "only"),
    ServedModel("moonshotai/Kimi-K2-Thinking", 1762214400, 262_144, "only"),
)


def model_entry(m: ServedModel, flavor: Flavor) -> dict[str, Any]:
    """One `/v1/models` entry. vLLM sends only its own fields, none of Moonshot's."""
    entry: dict[str, Any] = {"id": m.id, "object": "model", "created": m.created}
    if flavor == "vllm":
        entry.update(owned_by="vllm", root=m.id, parent=None, max_model_len=m.context_length)
        return entry
    efforts = m.efforts.listing() if m.efforts else NO_EFFORTS
    entry.update(
        owned_by="moonshot", context_length=m.context_length, supports_image_in=m.image_in,
        supports_video_in=m.video_in, supports_reasoning=m.thinking != "no",
        supports_thinking_type=m.thinking, think_efforts=efforts, reasoning_efforts=dict(efforts),
    )
    return entry


# ---------------------------------------------------------------- token maths
def compact(obj: Any) -> str:
    """The one serialisation used for token estimates and prefix-cache keys."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def estimate_tokens(text: str) -> int:
    """Deterministic stand-in for Kimi's tokenizer: about four characters a token."""
    return max(1, len(text) // 4)


def prompt_text(messages: Any, tools: Any = None) -> str:
    return compact(messages) + (compact(tools) if tools else "")


def common_prefix_len(a: str, b: str) -> int:
    """Length of the common prefix of two (possibly megabyte-long) strings.

    Compares 64 KiB blocks (C-speed ``==``) and bisects only inside the first
    differing block, so the cost stays linear rather than per-character Python.
    """
    n = min(len(a), len(b))
    block = 65536
    start = 0
    while start < n and a[start : start + block] == b[start : start + block]:
        start += block
    if start >= n:
        return n
    lo, hi = start, min(start + block, n)
    while lo < hi:  # invariant: a[:lo] == b[:lo]
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass
class UsageCounts:
    """Token counts of one reply. `reasoning_tokens` None: the model didn't think."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int | None = None
    # Prompt-cache writes, reported only by a server started with `cache_writes=True`: no
    # public source names Moonshot's field yet (SPEC §7), so by default none is sent.
    cache_write_tokens: int | None = None

    def _base(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }

    def moonshot(self) -> dict[str, Any]:
        """Inside choices[0] of the finish chunk (and a completion's usage): the full set."""
        usage = self._base()
        if self.cached_tokens > 0:  # Moonshot leaves the key out when nothing was cached
            usage["cached_tokens"] = self.cached_tokens
        if self.reasoning_tokens is not None:
            usage["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        if self.cache_write_tokens:
            usage["cache_write_tokens"] = self.cache_write_tokens
        return usage

    def moonshot_trailing(self) -> dict[str, Any]:
        """The top-level usage of the trailing include_usage chunk: fewer fields, on purpose,
        so a client that overwrites instead of merging loses cached_tokens."""
        return self._base()

    def openai(self) -> dict[str, Any]:
        return {**self._base(), "prompt_tokens_details": {"cached_tokens": self.cached_tokens}}


# ---------------------------------------------------------------- errors
class RequestError(Exception):
    """A request the API rejects; carries the HTTP status and error type."""

    def __init__(self, status: int, type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message


def error_body(status: int, type: str, message: str, flavor: Flavor = "moonshot") -> dict[str, Any]:
    if flavor == "vllm":  # vLLM's ErrorResponse: OpenAI shape plus a numeric code
        return {"error": {"message": message, "type": type, "param": None, "code": status}}
    return {"error": {"type": type, "message": message}}


def model_not_found(model: str, flavor: Flavor) -> RequestError:
    if flavor == "vllm":
        return RequestError(404, "NotFoundError", f"The model `{model}` does not exist.")
    return RequestError(404, "resource_not_found_error", f"Not found the model {model} or Permission denied")


# ---------------------------------------------------------------- encoding
@dataclass
class WireCall:
    """A tool call as it goes on the wire (id already assigned)."""

    id: str
    name: str
    arguments: str


def split_text(text: str, size: int) -> Iterator[str]:
    size = max(1, size)
    for i in range(0, len(text), size):
        yield text[i : i + size]


def noisy_event(payload: str, n: int) -> bytes:
    """Event `n` of a stream with SSE noise: the same payload, dressed in spec-valid extras.

    Comments, ``event:``/``id:`` fields, a blank ``data:`` line (the decoder joins data
    lines with "\\n", and JSON allows a newline between tokens) and a payload split over
    two ``data:`` lines. Standalone comment-only events go out only before the first
    ``id:`` line: the openai SDK dispatches an empty event (and fails to parse it)
    once it has seen an id, which the SSE spec says not to do.
    """
    lines: list[str] = []
    if n == 0:
        lines += [": keep-alive", "", ": keep-alive", ""]
    if n % 5 == 1:
        lines.append(": keep-alive")
    if n % 7 == 3:
        lines += ["event: message", f"id: {n}"]
    if n % 4 == 2:
        lines.append("data:")
    cut = payload.find(',"') if n % 3 == 0 else -1
    if cut > 0:
        lines += ["data: " + payload[:cut], "data: " + payload[cut:]]
    else:
        lines.append("data: " + payload)
    return ("\n".join(lines) + "\n\n").encode("utf-8")


class Encoder:
    """Builds the bytes of one response (one completion id).

    Delta chunks share everything but the delta, so the fixed parts are
    serialised once: an 800k-character stream is 200k chunks.
    """

    def __init__(self, flavor: Flavor, model: str, noise: bool = False) -> None:
        self.flavor = flavor
        self.model = model
        self.noise = noise
        self._events = 0
        self.id = "chatcmpl-" + secrets.token_hex(12)
        self.created = int(time.time())
        self.fingerprint = "fpv0_" + secrets.token_hex(4)
        head = compact({"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": model})
        self._prefix = head[:-1] + ',"choices":[{"index":0,"delta":'
        tail = ',"logprobs":null,"finish_reason":null}]' if flavor == "vllm" else ',"finish_reason":null}]'
        if flavor == "moonshot":
            tail += f',"system_fingerprint":"{self.fingerprint}"'
        self._suffix = tail + "}"
        self.reasoning_field = "reasoning" if flavor == "vllm" else "reasoning_content"
        # Newer vLLM sends the old field name too, as null, next to `reasoning`.
        self._text_extra: dict[str, Any] = {"reasoning_content": None} if flavor == "vllm" else {}

    def event(self, payload: str) -> bytes:
        if self.noise:
            self._events += 1
            return noisy_event(payload, self._events - 1)
        return b"data: " + payload.encode("utf-8") + b"\n\n"

    def delta(self, delta: dict[str, Any]) -> bytes:
        return self.event(self._prefix + compact(delta) + self._suffix)

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        obj: dict[str, Any] = {
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "choices": choices,
        }
        if self.flavor == "moonshot":
            obj["system_fingerprint"] = self.fingerprint
        obj.update(extra)
        return self.event(compact(obj))

    def finish(self, reason: str, usage: UsageCounts) -> bytes:
        if self.flavor == "vllm":
            return self._chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": reason, "stop_reason": None}])
        return self._chunk([{"index": 0, "delta": {}, "finish_reason": reason, "usage": usage.moonshot()}])

    def usage_chunk(self, usage: UsageCounts) -> bytes:
        """The trailing `choices: []` chunk sent when the request set stream_options.include_usage."""
        return self._chunk([], usage=usage.openai() if self.flavor == "vllm" else usage.moonshot_trailing())

    def error_event(self, type: str, message: str) -> bytes:
        """An error inside a 200 stream, as Moonshot sends it when generation fails midway."""
        return self.event(compact({"error": {"type": type, "message": message}}))

    def stream(
        self, reasoning: str, content: str, calls: list[WireCall], chunk_chars: int
    ) -> Iterator[tuple[str, bytes, int]]:
        """Yields (kind, event bytes, text chars) up to, not including, the finish chunk.

        kind is "meta" for the role chunk and "text" for everything a fault may cut.
        Order is Kimi's: all reasoning, then content, then tool calls.
        """
        yield "meta", self.delta({"role": "assistant", "content": ""}), 0
        extra = self._text_extra
        for piece in split_text(reasoning, chunk_chars):
            yield "text", self.delta({self.reasoning_field: piece, **extra}), len(piece)
        for piece in split_text(content, chunk_chars):
            yield "text", self.delta({"content": piece, **extra}), len(piece)
        for i, call in enumerate(calls):
            first = {"index": i, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
            yield "text", self.delta({"tool_calls": [first]}), 0
            for piece in split_text(call.arguments, chunk_chars):
                yield "text", self.delta({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}), len(piece)

    def completion(
        self, reasoning: str, content: str, calls: list[WireCall], finish: str | None, usage: UsageCounts,
        thinking: bool,
    ) -> dict[str, Any]:
        """A non-streamed chat.completion. With thinking off there is no reasoning key at all."""
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if thinking:
            message[self.reasoning_field] = reasoning
            message.update(self._text_extra)
        if calls:
            message["tool_calls"] = [
                {"index": i, "id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for i, c in enumerate(calls)
            ]
        body: dict[str, Any] = {
            "id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        }
        if self.flavor == "moonshot":
            body["usage"] = usage.moonshot()
            body["system_fingerprint"] = self.fingerprint
        else:
            body["usage"] = usage.openai()
        return body


DONE = b"data: [DONE]\n\n"  # never dressed in noise: the openai SDK matches its data exactly

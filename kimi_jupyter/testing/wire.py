"""The Kimi wire format, as the loopback server speaks it (SPEC §7).

Kept apart from the HTTP plumbing so the byte layout of a chunk, the error bodies
and the request validation can be read (and changed) in one place. Two flavours:

- ``moonshot``: ``delta.reasoning_content``, usage *inside* ``choices[0]`` of the
  finish chunk with a flat ``cached_tokens``, Moonshot's 400 validation rules.
- ``vllm``: ``delta.reasoning``, usage only as a final top-level chunk when the
  request asks for ``stream_options.include_usage``, no Kimi-specific validation.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Iterator, Literal

Flavor = Literal["moonshot", "vllm"]
CONTEXT_LENGTH = 262_144


@dataclass(frozen=True)
class ModelInfo:
    """One catalog entry. `toggle`: thinking can be switched off per request."""

    id: str
    thinking: bool
    created: int
    context_length: int = CONTEXT_LENGTH
    toggle: bool = False


# Data, so a model launch is a one-line change.
MOONSHOT_MODELS: tuple[ModelInfo, ...] = (
    ModelInfo("kimi-k2-thinking", True, 1762214400),
    ModelInfo("kimi-k2-thinking-turbo", True, 1762214400),
    ModelInfo("kimi-k2-0905-preview", False, 1757030400),
    ModelInfo("kimi-k2-turbo-preview", False, 1754006400),
    ModelInfo("kimi-k2.5", True, 1769385600, toggle=True),
)
# A self-hosted server is usually started with the Hugging Face repo id as model name.
VLLM_MODELS: tuple[ModelInfo, ...] = MOONSHOT_MODELS + (
    ModelInfo("moonshotai/Kimi-K2-Thinking", True, 1762214400),
    ModelInfo("moonshotai/Kimi-K2-Instruct-0905", False, 1757030400),
)


def thinking_enabled(info: ModelInfo, body: dict[str, Any]) -> bool:
    """Kimi K2.5+ switch thinking with ``thinking: {"type": "enabled"|"disabled"}``."""
    if not info.thinking:
        return False
    if info.toggle:
        thinking = body.get("thinking")
        if isinstance(thinking, dict) and thinking.get("type") == "disabled":
            return False
    return True


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
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int

    def moonshot(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "cached_tokens": self.cached_tokens,
        }

    def openai(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
        }


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


# ---------------------------------------------------------------- validation
_TOOL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9-_]{0,63}$")


def _bad(message: str) -> RequestError:
    return RequestError(400, "invalid_request_error", message)


def validate_chat(body: dict[str, Any], context_length: int, thinking: bool, flavor: Flavor) -> None:
    """Reject what Moonshot rejects, with its messages. vLLM only checks the shape."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise _bad("Invalid request: messages must be a non-empty list of objects")
    if flavor == "vllm":
        return
    choice = body.get("tool_choice")
    if choice is not None and choice not in ("auto", "none"):
        raise _bad(f"Invalid request: tool_choice {compact(choice)} is not supported, use 'auto' or 'none'")
    _validate_tools(body.get("tools"))
    temperature = body.get("temperature")
    if temperature is not None and (not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2):
        raise _bad(f"Invalid request: temperature {temperature} is out of range, it must be in [0, 2]")
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise _bad(f"Invalid request: max_tokens {max_tokens} must be at least 1")
    seen_ids: set[str] = set()
    for index, msg in enumerate(messages):
        role = msg.get("role")
        if role == "assistant" and msg.get("tool_calls"):
            if thinking and "reasoning_content" not in msg:
                raise _bad(
                    "thinking is enabled but reasoning_content is missing in assistant tool call "
                    f"message at index {index}"
                )
            if msg.get("content") == "":
                raise _bad("text content is empty")
            seen_ids.update(str(c.get("id")) for c in msg["tool_calls"] if isinstance(c, dict))
        elif role == "tool" and msg.get("tool_call_id") not in seen_ids:
            raise _bad(f"Invalid request: tool_call_id {msg.get('tool_call_id')} is not found")
    tokens = estimate_tokens(prompt_text(messages, body.get("tools")))
    if tokens + (max_tokens or 0) > context_length:
        raise _bad(f"Invalid request: Your request exceeded model token limit: {context_length}")


def _validate_tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _bad("Invalid request: tools must be a list")
    for tool in tools:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict):
            raise _bad("Invalid request: each tool needs a function object")
        name = fn.get("name")
        if tool.get("type") == "builtin_function":
            if name != "$web_search":
                raise _bad(f"Invalid request: unknown builtin function {name}")
            continue
        if tool.get("type") != "function":
            raise _bad(f"Invalid request: tool type {tool.get('type')} is not supported")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise _bad(f"Invalid request: function name is invalid, must match ^[a-zA-Z_][a-zA-Z0-9-_]{{0,63}}$, got {name}")
        params = fn.get("parameters")
        if params is not None and (not isinstance(params, dict) or params.get("type") != "object"):
            raise _bad(f"Invalid request: function {name} parameters must have an object root (\"type\": \"object\")")


def declares_web_search(body: dict[str, Any]) -> bool:
    return any(
        isinstance(t, dict) and t.get("type") == "builtin_function" and (t.get("function") or {}).get("name") == "$web_search"
        for t in body.get("tools") or ()
    )


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


class Encoder:
    """Builds the bytes of one response (one completion id).

    Delta chunks share everything but the delta, so the fixed parts are
    serialised once: an 800k-character stream is 200k chunks.
    """

    def __init__(self, flavor: Flavor, model: str) -> None:
        self.flavor = flavor
        self.model = model
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

    @staticmethod
    def event(payload: str) -> bytes:
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

    def finish(self, reason: str, usage: Usage) -> bytes:
        if self.flavor == "vllm":
            return self._chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": reason, "stop_reason": None}])
        return self._chunk([{"index": 0, "delta": {}, "finish_reason": reason, "usage": usage.moonshot()}])

    def usage_chunk(self, usage: Usage) -> bytes:
        return self._chunk([], usage=usage.openai())

    def stream(
        self, reasoning: str, content: str, calls: list[WireCall], chunk_chars: int
    ) -> Iterator[tuple[str, bytes, int]]:
        """Yields (kind, event bytes, text chars) up to, not including, the finish chunk.

        kind is "meta" for the role chunk and "text" for everything a fault may cut.
        Order is Kimi's: all reasoning, then content, then tool calls.
        """
        yield "meta", self.delta({"role": "assistant", "content": ""}), 0
        for piece in split_text(reasoning, chunk_chars):
            yield "text", self.delta({self.reasoning_field: piece}), len(piece)
        for piece in split_text(content, chunk_chars):
            yield "text", self.delta({"content": piece}), len(piece)
        for i, call in enumerate(calls):
            first = {"index": i, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
            yield "text", self.delta({"tool_calls": [first]}), 0
            for piece in split_text(call.arguments, chunk_chars):
                yield "text", self.delta({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}), len(piece)

    def completion(
        self, reasoning: str, content: str, calls: list[WireCall], finish: str | None, usage: Usage, thinking: bool
    ) -> dict[str, Any]:
        """A non-streamed chat.completion."""
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if thinking:
            message[self.reasoning_field] = reasoning
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


DONE = b"data: [DONE]\n\n"

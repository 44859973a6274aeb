"""What the Moonshot API rejects (a 400 `invalid_request_error`), model by model (SPEC §7).

The rules read the lineup in `.wire` (`ServedModel`: thinking type, efforts, fixed
temperatures, tool_choice) and answer with the messages in `MESSAGES`, so tests
and docs can cite one table. The vLLM flavour checks only the request's shape.
Everything here is linear in the body and touches each message once: a 1.6 MB,
400k-token K3 conversation validates in milliseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .wire import WEB_SEARCH_NEEDS_THINKING_OFF, Flavor, RequestError, ServedModel, compact

# str.format templates; the keys are stable names for tests.
MESSAGES: dict[str, str] = {
    "messages": "Invalid request: messages must be a non-empty list of objects",
    "thinking_object": 'invalid thinking: must be an object like {{"type": "enabled"}} or {{"type": "disabled"}}',
    "thinking_type": 'invalid thinking type {value}: must be "enabled" or "disabled"',
    "thinking_unsupported": "thinking is not supported for this model",
    "thinking_always_on": "invalid thinking: only type=enabled is allowed for this model",
    "keep": 'invalid thinking.keep {value}: only "all" is allowed',
    "effort_unsupported": "reasoning effort is not supported for this model",
    "effort_thinking_off": "reasoning effort is not supported when thinking is disabled",
    "effort_invalid": "invalid reasoning effort {value}: valid efforts for this model are {valid}",
    # `{value}` is formatted with :g, so 1.0 reads "1" as in Moonshot's message.
    "temperature_only": "invalid temperature: only {value} is allowed for this model",
    "temperature_only_thinking_on": "invalid temperature: only {value} is allowed for this model when thinking is enabled",
    "temperature_only_thinking_off": "invalid temperature: only {value} is allowed for this model when thinking is disabled",
    "cache_options_unsupported": "prompt_cache_options is not supported for this model",
    "cache_ttl": 'invalid prompt_cache_options.ttl {value}: must be "5m" or "1h"',
    "temperature_range": "Invalid request: temperature {value} is out of range, it must be in [0, 2]",
    "tool_choice": "Invalid request: tool_choice {value} is not supported, use 'auto' or 'none'",
    "tool_choice_required": "Invalid request: tool_choice {value} is not supported, use 'auto', 'none' or 'required'",
    "web_search_thinking": "$web_search is not supported when thinking is enabled; disable thinking",
    "web_search_undeclared": "Invalid request: $web_search is called but not declared in tools",
    "max_tokens": "Invalid request: max_tokens {value} must be at least 1",
    "reasoning_missing": "thinking is enabled but reasoning_content is missing in assistant tool call message at index {index}",
    "empty_content": "text content is empty",
    "tool_call_id": "Invalid request: tool_call_id {value} is not found",
    "context": "Invalid request: Your request exceeded model token limit: {limit}",
    "tools_list": "Invalid request: tools must be a list",
    "tool_function": "Invalid request: each tool needs a function object",
    "builtin_unknown": "Invalid request: unknown builtin function {value}",
    "tool_type": "Invalid request: tool type {value} is not supported",
    "tool_name": "Invalid request: function name is invalid, must match ^[a-zA-Z_][a-zA-Z0-9-_]{{0,63}}$, got {value}",
    "tool_parameters": 'Invalid request: function {value} parameters must have an object root ("type": "object")',
}

_TOOL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9-_]{0,63}$")


def bad(key: str, **values: Any) -> RequestError:
    return RequestError(400, "invalid_request_error", MESSAGES[key].format(**values))


@dataclass(frozen=True)
class ThinkingRequest:
    """How a request thinks: `enabled`, and `keep_all` (preserved thinking, ``keep: "all"``)."""

    enabled: bool
    keep_all: bool = False


def check_thinking(model: ServedModel, body: dict[str, Any], flavor: Flavor) -> ThinkingRequest:
    """Read (and, on Moonshot, validate) the thinking switch, effort and keep."""
    thinking = body.get("thinking")
    if flavor == "vllm":  # always thinks; no Kimi validation
        return ThinkingRequest(model.thinking != "no")
    present = thinking is not None  # `null` reads as absent; `{}` is an object without a type
    if present and not isinstance(thinking, dict):
        raise bad("thinking_object")
    thinking = thinking if present else {}
    if present and model.thinking == "no":
        raise bad("thinking_unsupported")
    if present and thinking.get("type") not in ("enabled", "disabled"):
        raise bad("thinking_type", value=compact(thinking.get("type")))
    enabled = model.thinking == "only" or (model.thinking == "both" and thinking.get("type") != "disabled")
    if model.thinking == "only" and thinking.get("type") == "disabled":
        raise bad("thinking_always_on")
    if "keep" in thinking and thinking["keep"] != "all":
        raise bad("keep", value=compact(thinking["keep"]))
    for effort in (thinking.get("effort"), body.get("reasoning_effort")):
        if effort is None:
            continue
        if model.efforts is None:
            raise bad("effort_unsupported")
        if not enabled:
            raise bad("effort_thinking_off")
        if effort not in model.efforts.valid:
            raise bad("effort_invalid", value=compact(effort), valid=", ".join(model.efforts.valid))
    return ThinkingRequest(enabled, keep_all=thinking.get("keep") == "all")


def _check_temperature(model: ServedModel, temperature: Any, thinking: bool) -> None:
    if temperature is None:  # leaving it out is always fine: the server picks the model's value
        return
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise bad("temperature_range", value=compact(temperature))
    fixed = model.temperature_thinking if thinking else model.temperature_instant
    if fixed is not None:
        if temperature != fixed:
            key = "temperature_only" if model.thinking != "both" else (
                "temperature_only_thinking_on" if thinking else "temperature_only_thinking_off")
            raise bad(key, value=f"{fixed:g}")
    elif not 0 <= temperature <= 2:
        raise bad("temperature_range", value=temperature)


def declares_web_search(body: dict[str, Any]) -> bool:
    return any(
        isinstance(t, dict) and t.get("type") == "builtin_function" and (t.get("function") or {}).get("name") == "$web_search"
        for t in body.get("tools") or ()
    )


def check_messages_shape(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise bad("messages")
    return messages


def validate_chat(model: ServedModel, body: dict[str, Any], thinking: ThinkingRequest, prompt_tokens: int) -> None:
    """Reject what Moonshot rejects, with its messages (run after `check_thinking`)."""
    messages = body["messages"]
    _check_temperature(model, body.get("temperature"), thinking.enabled)
    choice = body.get("tool_choice")
    if choice is not None and choice not in ("auto", "none") and not (model.tool_choice_required and choice == "required"):
        raise bad("tool_choice_required" if model.tool_choice_required else "tool_choice", value=compact(choice))
    _validate_tools(body.get("tools"))
    _check_cache_options(model, body)
    if (WEB_SEARCH_NEEDS_THINKING_OFF and model.thinking == "both" and thinking.enabled
            and declares_web_search(body)):
        raise bad("web_search_thinking")
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise bad("max_tokens", value=max_tokens)
    seen_ids: set[str] = set()
    for index, msg in enumerate(messages):
        role = msg.get("role")
        if role == "assistant" and msg.get("tool_calls"):
            if thinking.enabled and "reasoning_content" not in msg:
                raise bad("reasoning_missing", index=index)
            if msg.get("content") == "":
                raise bad("empty_content")
            seen_ids.update(str(c.get("id")) for c in msg["tool_calls"] if isinstance(c, dict))
        elif role == "tool" and msg.get("tool_call_id") not in seen_ids:
            raise bad("tool_call_id", value=msg.get("tool_call_id"))
    if prompt_tokens + (max_tokens or 0) > model.context_length:
        raise bad("context", limit=model.context_length)


def _check_cache_options(model: ServedModel, body: dict[str, Any]) -> None:
    """`prompt_cache_options` (K3 family): a TTL of 5 minutes (the default) or 1 hour."""
    if "prompt_cache_options" not in body:
        return
    if not model.cache_options:
        raise bad("cache_options_unsupported")
    options = body["prompt_cache_options"]
    ttl = options.get("ttl", "5m") if isinstance(options, dict) else options
    if ttl not in ("5m", "1h"):
        raise bad("cache_ttl", value=compact(ttl))


def _validate_tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise bad("tools_list")
    for tool in tools:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict):
            raise bad("tool_function")
        name = fn.get("name")
        if tool.get("type") == "builtin_function":
            if name != "$web_search":
                raise bad("builtin_unknown", value=name)
            continue
        if tool.get("type") != "function":
            raise bad("tool_type", value=tool.get("type"))
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise bad("tool_name", value=name)
        params = fn.get("parameters")
        if params is not None and (not isinstance(params, dict) or params.get("type") != "object"):
            raise bad("tool_parameters", value=name)


_RC_KEY = len('"reasoning_content":,')


def dropped_reasoning_chars(messages: list[dict[str, Any]], keep_all: bool) -> int:
    """Characters of the compact messages JSON the model never sees.

    Without ``thinking.keep: "all"`` Moonshot drops the reasoning of earlier turns
    (assistant messages before the last user message) from the prompt, and keeps it
    only inside the current turn's tool loop, where it is required. So prompt_tokens
    leave it out, and ``keep: "all"`` (preserved thinking) counts it. Serialising just
    those strings is cheap next to the one dump of the whole body.
    """
    if keep_all:
        return 0
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    return sum(
        _RC_KEY + len(compact(m["reasoning_content"]))
        for m in messages[:last_user]
        if m.get("role") == "assistant" and "reasoning_content" in m
    )

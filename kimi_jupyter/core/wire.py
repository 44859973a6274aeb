"""What is sent to the model: the mirror of `stream.py`, which reads what comes back.

Every Kimi rule about outbound requests lives here as a pure function, because
Moonshot answers 400 when one is broken and that should be caught by a unit
test, not by a user (SPEC §7):

- temperature is sent only when the user gave one, and only a value the model
  accepts (K3 takes 1 only; K2.6 1.0 with thinking, 0.6 without);
- the thinking switch and preserved thinking go in `thinking` on the switchable
  K2 models (Moonshot: `keep: "all"` with thinking on, for agent loops); a model
  that always thinks gets no `thinking` object; effort is the top-level
  `reasoning_effort` (K3); vLLM and SGLang switch with `chat_template_kwargs`;
- every assistant message keeps `reasoning_content`, `""` included, and a
  tool-call message has no `content` rather than an empty one;
- `$web_search` is one builtin declaration whose tool reply echoes the
  arguments unchanged.

`check()` turns a request the model would refuse into an `OptionError` before
anything is sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from .catalog import CATALOG, ModelInfo
from .errors import OptionError

if TYPE_CHECKING:
    from .settings import Settings
    from .stream import ToolCall, Turn

WEB_SEARCH = "$web_search"
WEB_SEARCH_TOOL: dict[str, Any] = {"type": "builtin_function", "function": {"name": WEB_SEARCH}}


@dataclass(frozen=True)
class Plan:
    """What one cell will send: decided once, before the first request."""

    thinking: bool  # the model reasons in this cell
    send_thinking: bool  # the request carries a thinking switch at all
    effort: str | None
    temperature: float | None
    notices: tuple[str, ...] = ()


def _switchable() -> str:
    names = [m.id for m in CATALOG.values() if m.thinking == "switchable"]
    return ", ".join(names) or "none known"


def check(info: ModelInfo, settings: "Settings", *, moonshot: bool = True) -> Plan:
    """Decide thinking, effort and temperature for `info`, or raise OptionError saying what it accepts.

    Only Moonshot's API (and servers that list Moonshot's model fields) gets
    Moonshot's rules; a vLLM or SGLang server is sent what the user asked for.
    """
    notices: list[str] = []
    want_thinking = settings.thinking
    if info.thinking == "only" and not want_thinking:
        if "thinking" in settings.explicit:
            raise OptionError(
                f"{info.id} always thinks, so --no-thinking would be refused. "
                f"Models that can switch thinking off: {_switchable()}."
            )
        want_thinking = True  # `Kimi.thinking = False` is sent only where it can be
    if info.thinking == "none":
        want_thinking = False
    thinking = want_thinking

    effort = settings.effort
    if effort is not None:
        explicit = "effort" in settings.explicit
        problem = None
        if not thinking:
            problem = (
                f"{info.id} does not think, so it takes no --effort."
                if info.thinking == "none"
                else "--effort needs thinking on (drop --no-thinking)."
            )
        elif info.efforts is not None and effort not in info.efforts:
            problem = (
                f"{info.id} takes no --effort."
                if not info.efforts
                else f"{info.id} accepts --effort {' | '.join(info.efforts)}, not {effort!r}."
            )
        if problem is not None:
            if explicit:
                raise OptionError(problem)
            notices.append(f"`Kimi.effort = {effort!r}` is not sent: {problem}")
            effort = None

    temperature = settings.temperature
    if temperature is not None:
        if not 0.0 <= temperature <= 2.0:
            raise OptionError(f"-t/--temperature must be between 0 and 2 (got {temperature}).")
        if moonshot:
            fixed = info.temperature_thinking if thinking else info.temperature_instant
            if fixed is not None and temperature != fixed:
                raise OptionError(
                    f"{info.id} accepts only temperature {fixed:g}{_temperature_modes(info, thinking)}. "
                    "Leave -t out (and `Kimi.temperature` unset) to use the model's own value."
                )
    # A model that always thinks takes no switch (K3 answers a disabled one with 400
    # "invalid thinking: only type=enabled is allowed"); an unknown one gets it only to turn it off.
    send_thinking = info.thinking == "switchable" or (info.thinking == "unknown" and not thinking)
    return Plan(thinking, send_thinking, effort, temperature, tuple(notices))


def _temperature_modes(info: ModelInfo, thinking: bool) -> str:
    if info.thinking != "switchable":
        return ""
    if thinking:
        other = f" ({info.temperature_instant:g} with --no-thinking)" if info.temperature_instant else ""
        return " with thinking on" + other
    other = f" ({info.temperature_thinking:g} with thinking on)" if info.temperature_thinking else ""
    return " with thinking off" + other


def request_body(
    info: ModelInfo,
    settings: "Settings",
    plan: Plan,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None = None,
    json_mode: bool = False,
    moonshot: bool = True,
    max_tokens: int | None = None,
) -> dict[str, Any]:
    """The JSON body of one streamed chat request, flat (the client sends it as is).

    `max_tokens`: this request's, when less room is left in the window than
    `settings.max_tokens` (`context_window.check`).
    """
    body: dict[str, Any] = {"model": info.id, "messages": messages, "stream": True}
    # Moonshot deprecated max_tokens for max_completion_tokens (both are honoured);
    # older vLLM and SGLang releases know only max_tokens.
    body["max_completion_tokens" if moonshot else "max_tokens"] = max_tokens or settings.max_tokens
    # Moonshot reports usage in the finish chunk anyway; vLLM/SGLang only when asked.
    body["stream_options"] = {"include_usage": True}
    if plan.temperature is not None:
        body["temperature"] = plan.temperature
    if moonshot:
        if plan.send_thinking:
            thinking: dict[str, Any] = {"type": "enabled" if plan.thinking else "disabled"}
            if plan.thinking and settings.keep_thinking:
                thinking["keep"] = "all"
            body["thinking"] = thinking
    elif not plan.thinking and info.thinking != "none":
        # Kimi's chat template on vLLM/SGLang switches thinking with this kwarg.
        body["chat_template_kwargs"] = {"thinking": False}
    if plan.thinking and plan.effort:
        body["reasoning_effort"] = plan.effort
    if moonshot and info.cache_options and settings.cache_ttl:
        # K3 family: the prompt-cache TTL ("5m" is the server's default; "1h" writes cost 2x miss).
        body["prompt_cache_options"] = {"ttl": settings.cache_ttl}
    if tools:
        body["tools"] = tools
    if json_mode:
        body["response_format"] = {"type": "json_object"}
    return body


def encode_body(body: dict[str, Any], messages_json: Sequence[bytes] | None = None) -> tuple[bytes, ...]:
    """The request body as JSON, in parts to send one after another (`b"".join` them for one `bytes`).

    `messages_json`: `body["messages"]` already encoded, the UTF-8 JSON between the
    array's brackets (`Conversation.encoded()`, kept from when each message was
    appended), itself in parts. Then only the few other fields are encoded per
    request, and the history goes out as the buffers it is kept in: re-encoding
    (or even copying) a history that can be megabytes long on every step made a
    tool loop's overhead grow with the conversation.
    """
    if messages_json is None:
        return (json.dumps(body, ensure_ascii=False).encode(),)
    rest = json.dumps({k: v for k, v in body.items() if k != "messages"}, ensure_ascii=False).encode()
    joiner = b", " if rest != b"{}" else b""
    return (rest[:-1] + joiner + b'"messages": [', *messages_json, b"]}")


def tool_call_wire(call: "ToolCall") -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def assistant_message(turn: "Turn") -> dict[str, Any]:
    """The assistant message kept in the history.

    `reasoning_content` is kept on every assistant message, `""` included: without it
    a tool-call turn fails with 400 "thinking is enabled but reasoning_content is
    missing". `content` is left out of a tool-call message rather than sent empty
    (400 "text content is empty").
    """
    msg: dict[str, Any] = {"role": "assistant"}
    if turn.content or not turn.tool_calls:
        msg["content"] = turn.content
    msg["reasoning_content"] = turn.reasoning
    if turn.tool_calls:
        msg["tool_calls"] = [tool_call_wire(tc) for tc in turn.tool_calls]
    return msg


def partial_message(turn: "Turn") -> dict[str, Any] | None:
    """After a failed stream: what arrived, as a plain answer the next request accepts.

    A half-streamed tool call can't be answered, so it is dropped; None when nothing
    arrived (the cell is then rolled back instead).
    """
    if not (turn.reasoning or turn.content):
        return None
    return {"role": "assistant", "content": turn.content or "(cut short)", "reasoning_content": turn.reasoning}


def tool_message(call: "ToolCall", text: str, images: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """A tool reply. Images (base64 PNG) go as image parts, for vision models only."""
    msg: dict[str, Any] = {"role": "tool", "tool_call_id": call.id, "name": call.name}
    if images:
        parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
        parts += [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}} for png in images]
        msg["content"] = parts
    else:
        msg["content"] = text
    return msg


def web_search_reply(call: "ToolCall") -> dict[str, Any]:
    """Kimi runs `$web_search` itself; the reply echoes the call's arguments unchanged."""
    return tool_message(call, call.arguments)

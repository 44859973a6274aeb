"""core/wire.py: each Moonshot rule about what is sent, checked without a server (SPEC §7)."""

import json

import pytest
from kimi_jupyter.core.errors import OptionError

from kimi_jupyter.core import catalog

from kimi_jupyter.core import wire
from kimi_jupyter.core.settings import Kimi, resolve
from kimi_jupyter.core.stream import ToolCall, Turn

MOONSHOT = "https://api.moonshot.ai/v1"


def settings(**kw):
    return resolve(Kimi(), env={}, **kw)


# A model that never reasons, as Moonshot's listing describes one (moonshot-v1-* were the
# last on the platform; they closed on 2026-08-31). Other servers still serve such models.
PLAIN = {"plain-8k": {"id": "plain-8k", "context_length": 8_192, "supports_thinking_type": "no",
                      "supports_reasoning": False}}


def body(model="kimi-k2.6", **kw):
    s = settings(model=model, **kw)
    info = catalog.resolve(MOONSHOT, model, PLAIN)
    plan = wire.check(info, s, moonshot=info.moonshot)
    return wire.request_body(info, s, plan, [{"role": "user", "content": "hi"}], moonshot=info.moonshot), plan


def test_default_k26_body_thinks_keeps_reasoning_and_sends_no_temperature():
    b, plan = body()
    assert "temperature" not in b
    assert b["thinking"] == {"type": "enabled", "keep": "all"}
    assert b["max_completion_tokens"] == 32_000 and "max_tokens" not in b
    assert b["stream"] is True and b["stream_options"] == {"include_usage": True}
    assert plan.notices == ()


def test_k3_sends_no_temperature_and_refuses_what_it_would_400():
    b, _ = body("kimi-k3")
    assert "temperature" not in b and "thinking" not in b  # it always thinks: no switch to send
    with pytest.raises(OptionError, match="only temperature 1"):
        body("kimi-k3", temperature=0.7)
    with pytest.raises(OptionError, match="always thinks.*kimi-k2.6"):
        body("kimi-k3", thinking=False)
    with pytest.raises(OptionError, match="low | high | max"):
        body("kimi-k3", effort="extreme")
    b, _ = body("kimi-k3", temperature=1.0, effort="max")
    assert b["temperature"] == 1.0 and b["reasoning_effort"] == "max"


def test_k26_temperature_follows_the_thinking_switch():
    with pytest.raises(OptionError, match="only temperature 1 with thinking on.*0.6 with --no-thinking"):
        body(temperature=0.6)
    with pytest.raises(OptionError, match="only temperature 0.6 with thinking off"):
        body(temperature=1.0, thinking=False)
    b, _ = body(temperature=0.6, thinking=False)
    assert b["temperature"] == 0.6 and b["thinking"] == {"type": "disabled"}
    with pytest.raises(OptionError, match="between 0 and 2"):
        body("plain-8k", temperature=3)


def test_effort_only_from_the_models_valid_efforts():
    b, _ = body("kimi-k3", effort="low")
    assert b["reasoning_effort"] == "low" and "thinking" not in b
    with pytest.raises(OptionError, match="kimi-k2.6 takes no --effort"):
        body(effort="high")
    with pytest.raises(OptionError, match="needs thinking on"):
        body(effort="low", thinking=False)
    with pytest.raises(OptionError, match="does not think"):
        body("plain-8k", effort="low")
    with pytest.raises(OptionError, match="takes no --effort"):
        body("kimi-k2.7-code", effort="low")


def test_session_wide_settings_the_model_cant_take_are_not_sent():
    cfg = Kimi(thinking=False, effort="max")
    s = resolve(cfg, model="kimi-k3", env={})
    info = catalog.resolve(MOONSHOT, "kimi-k3")
    plan = wire.check(info, s)
    assert plan.thinking is True and plan.effort == "max"  # K3 takes max; off isn't sent to it
    assert "thinking" not in wire.request_body(info, s, plan, [])
    s = resolve(cfg, model="kimi-k2.6", env={})
    plan = wire.check(catalog.resolve(MOONSHOT, "kimi-k2.6"), s)
    assert plan.thinking is False and plan.effort is None and "not sent" in plan.notices[0]


def test_non_thinking_models_get_no_thinking_field():
    b, _ = body("plain-8k")
    assert "thinking" not in b
    b, _ = body("plain-8k", thinking=False)  # harmless: nothing to switch off
    assert "thinking" not in b


def test_web_search_keeps_thinking_and_echoes_arguments():
    # kimi-k2.6 searches with thinking on (Moonshot's docs, 2026-08): nothing switches it off.
    b, plan = body()
    assert b["thinking"] == {"type": "enabled", "keep": "all"} and plan.notices == ()
    assert wire.WEB_SEARCH_TOOL == {"type": "builtin_function", "function": {"name": "$web_search"}}
    call = ToolCall("$web_search:0", "$web_search", '{"search_result": {"search_id": "x"}}')
    reply = wire.web_search_reply(call)
    assert reply["content"] == call.arguments and reply["name"] == "$web_search"


def test_self_hosted_dialect_uses_chat_template_kwargs_and_reasoning_effort():
    s = settings(model="moonshotai/Kimi-K2.6", base_url="http://gpu:8000/v1", thinking=False, temperature=0.3)
    info = catalog.resolve("http://gpu:8000/v1", "moonshotai/Kimi-K2.6")
    plan = wire.check(info, s, moonshot=False)
    b = wire.request_body(info, s, plan, [], moonshot=False)
    assert b["chat_template_kwargs"] == {"thinking": False} and "thinking" not in b
    assert b["temperature"] == 0.3 and b["max_tokens"] == 32_000
    s = settings(model="m", base_url="http://gpu:8000/v1", effort="high")
    plan = wire.check(catalog.resolve("http://gpu:8000/v1", "m"), s, moonshot=False)
    assert wire.request_body(catalog.ModelInfo("m"), s, plan, [], moonshot=False)["reasoning_effort"] == "high"


def test_assistant_message_keeps_reasoning_and_omits_empty_content_on_tool_calls():
    turn = Turn(reasoning="", content="", tool_calls=[ToolCall("python:0", "python", '{"code": "1"}')])
    msg = wire.assistant_message(turn)
    assert msg["reasoning_content"] == "" and "content" not in msg
    assert msg["tool_calls"][0] == {"id": "python:0", "type": "function",
                                    "function": {"name": "python", "arguments": '{"code": "1"}'}}
    plain = wire.assistant_message(Turn(reasoning="r", content="answer"))
    assert plain == {"role": "assistant", "content": "answer", "reasoning_content": "r"}
    assert wire.assistant_message(Turn())["content"] == ""  # a plain answer always has content


def test_partial_and_tool_messages():
    assert wire.partial_message(Turn()) is None
    half = Turn(reasoning="thinking", tool_calls=[ToolCall("python:0", "python", '{"co')])
    assert wire.partial_message(half) == {"role": "assistant", "content": "(cut short)",
                                          "reasoning_content": "thinking"}
    call = ToolCall("python:0", "python", "{}")
    assert wire.tool_message(call, "No output") == {"role": "tool", "tool_call_id": "python:0",
                                                     "name": "python", "content": "No output"}
    msg = wire.tool_message(call, "1 figure", ["iVBOR"])
    assert msg["content"][0] == {"type": "text", "text": "1 figure"}
    assert msg["content"][1]["image_url"]["url"] == "data:image/png;base64,iVBOR"


def _sent(parts):
    import json

    assert all(isinstance(p, bytes) for p in parts)
    return json.loads(b"".join(parts))


@pytest.mark.parametrize("tail", [1 << 20, 40])
def test_encode_body_splices_the_kept_message_json(monkeypatch, tail):
    from kimi_jupyter.core.conversation import Conversation, EncodedMessages

    # tail=40: every message seals a chunk of its own, so the body is many parts.
    monkeypatch.setattr(EncodedMessages, "TAIL", tail)
    conv = Conversation()
    assert _sent(wire.encode_body({"model": "m", "messages": []}, conv.encoded())) == {"model": "m", "messages": []}
    for m in ({"role": "user", "content": "héllo {\"json\": [1, 2]}"},
              {"role": "assistant", "content": "", "reasoning_content": "ok",
               "tool_calls": [{"id": "python:0", "type": "function", "function": {"name": "python", "arguments": "{}"}}]},
              {"role": "tool", "tool_call_id": "python:0", "name": "python", "content": "No output"},
              {"role": "user", "content": "短い"}):
        conv.append(m)
    body = {"model": "kimi-k2.6", "messages": conv.messages, "stream": True, "tools": [{"type": "function"}]}

    assert len(conv.encoded()) == (1 if tail > 1000 else 4)
    assert _sent(wire.encode_body(body, conv.encoded())) == body
    assert _sent(wire.encode_body(body)) == body
    assert _sent(wire.encode_body({"messages": conv.messages}, conv.encoded())) == {"messages": conv.messages}
    for mark in (3, 1, 0):  # the kept JSON follows the messages back, across sealed parts too
        conv.rollback(mark)
        assert _sent(wire.encode_body({"model": "m", "messages": conv.messages}, conv.encoded()))["messages"] == conv.messages
        assert conv.size_chars() == len(json.dumps(conv.messages, ensure_ascii=False))
    conv.append({"role": "user", "content": "again"})
    assert _sent(wire.encode_body({"messages": conv.messages}, conv.encoded()))["messages"] == [{"role": "user", "content": "again"}]


def test_the_1h_cache_ttl_goes_only_to_the_k3_family():
    b, _ = body("kimi-k3")
    assert "prompt_cache_options" not in b  # off by default: the server's 5 minutes
    b, _ = body("kimi-k3.1-pro", cache_ttl="1h")
    assert b["prompt_cache_options"] == {"ttl": "1h"}
    b, _ = body("kimi-k2.6", cache_ttl="1h")
    assert "prompt_cache_options" not in b  # K2.6 bills no writes and takes no options


def test_k31_pro_refuses_a_temperature_and_an_effort_it_would_400():
    with pytest.raises(OptionError, match="only temperature 1"):
        body("kimi-k3.1-pro", temperature=0.5)
    with pytest.raises(OptionError, match="low | high | max"):
        body("kimi-k3.1-pro", effort="medium")
    b, _ = body("kimi-k3.1-pro", effort="low")
    assert b["reasoning_effort"] == "low" and "thinking" not in b and "temperature" not in b

"""The loopback Kimi server, driven over real HTTP with the openai SDK and urllib."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import openai
import pytest
from openai import OpenAI

from kimi_jupyter.testing import Fault, KimiServer, Scenario, ToolCallSpec, Turn, long_reasoning_scenario
from kimi_jupyter.testing.pytest_plugin import API_KEY  # the fixtures come from the pytest11 entry point
from kimi_jupyter.testing.wire import compact

PY_TOOL = {
    "type": "function",
    "function": {
        "name": "python",
        "description": "Run Python in the user's kernel.",
        "parameters": {"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]},
    },
}
WEB_SEARCH = {"type": "builtin_function", "function": {"name": "$web_search"}}
MODEL = "kimi-k2-thinking"


def sdk(srv: KimiServer, base_url: str | None = None) -> OpenAI:
    # max_retries=0: the SDK's own retries would hide the faults under test.
    return OpenAI(api_key=API_KEY, base_url=base_url or srv.base_url, max_retries=0, timeout=10)


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def call(url: str, body: Any = None, key: str | None = API_KEY, method: str | None = None):
    """(status, headers, raw bytes) of one request; HTTP errors are returned, not raised."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method or ("POST" if body is not None else "GET"))
    req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def sse(raw: bytes) -> tuple[list[dict[str, Any]], bool]:
    """Decoded `data:` payloads of an SSE body, and whether it ended with [DONE]."""
    events = [e for e in raw.decode().split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    done = bool(events) and events[-1] == "data: [DONE]"
    return [json.loads(e[6:]) for e in events if e != "data: [DONE]"], done


def stream_chat(srv: KimiServer, body: dict[str, Any], base_url: str | None = None):
    status, _, raw = call((base_url or srv.base_url) + "/chat/completions", {"model": MODEL, "stream": True, **body})
    assert status == 200, raw
    return sse(raw)


def deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in chunks if c["choices"]]


# ------------------------------------------------------------------ streaming format
def test_moonshot_stream_shape(kimi_server: KimiServer) -> None:
    chunks, done = stream_chat(kimi_server, {"messages": user("Tell me about quantum entanglement")})
    assert done
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1 and re.fullmatch(r"chatcmpl-[0-9a-f]{24}", ids.pop())
    assert all(c["object"] == "chat.completion.chunk" and c["system_fingerprint"].startswith("fpv0_") for c in chunks)
    assert all("usage" not in c for c in chunks)  # Moonshot puts usage inside the choice
    ds = deltas(chunks)
    assert ds[0] == {"role": "assistant", "content": ""}
    kinds = ["r" if "reasoning_content" in d else "c" for d in ds[1:-1]]
    assert kinds.count("r") > 50 and "c" in kinds
    assert kinds == sorted(kinds, key=lambda k: k != "r"), "all reasoning must precede content"
    assert all(len(d.get("reasoning_content", d.get("content", ""))) <= 4 for d in ds[1:-1])
    content = "".join(d.get("content", "") for d in ds)
    assert content.startswith("## Quantum entanglement") and "```python" in content and "\n- " in content
    finish = chunks[-1]["choices"][0]
    assert finish["delta"] == {} and finish["finish_reason"] == "stop"
    usage = finish["usage"]
    reasoning = "".join(d.get("reasoning_content", "") for d in ds)
    assert usage["completion_tokens"] == len(reasoning + content) // 4
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["cached_tokens"] == 0
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])


def test_sdk_sees_usage_in_choice_and_chunk_usage_none(kimi_server: KimiServer) -> None:
    stream = sdk(kimi_server).chat.completions.create(model=MODEL, messages=user("hello loopback"), stream=True)
    chunks = list(stream)
    assert all(c.usage is None for c in chunks)
    reasoning = "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content", "") for c in chunks)
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "hello loopback" in reasoning and content.startswith("You said:\n\n> hello loopback")
    usage = chunks[-1].choices[0].model_extra["usage"]
    assert set(usage) == {"prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens"}


def test_tool_call_deltas(kimi_server: KimiServer) -> None:
    body = {"messages": user("Show me gradient descent"), "tools": [PY_TOOL]}
    chunks, done = stream_chat(kimi_server, body)
    assert done and chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    calls = [d["tool_calls"][0] for d in deltas(chunks) if "tool_calls" in d]
    assert calls[0] == {"index": 0, "id": "python:0", "type": "function",
                        "function": {"name": "python", "arguments": ""}}
    assert len(calls) > 10
    assert all(set(c) == {"index", "function"} and set(c["function"]) == {"arguments"} for c in calls[1:])
    code = json.loads("".join(c["function"]["arguments"] for c in calls))["code"]
    assert "lr = 0.1" in code and "history" in code and "range(25)" in code and "plt.show" not in code
    # Tool calls come after all text.
    ds = deltas(chunks)
    first_call = next(i for i, d in enumerate(ds) if "tool_calls" in d)
    assert all("tool_calls" in d for d in ds[first_call:-1])


def test_tool_loop_advances_and_templates(kimi_server: KimiServer) -> None:
    client = sdk(kimi_server)
    messages: list[dict[str, Any]] = user("run gradient descent please")
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=[PY_TOOL])
    msg = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls" and msg.tool_calls[0].id == "python:0"
    assert msg.model_extra["reasoning_content"].startswith("The user wants to see gradient descent")
    assert first.usage.model_extra["cached_tokens"] == 0
    messages += [
        {"role": "assistant", "reasoning_content": msg.model_extra["reasoning_content"],
         "tool_calls": [tc.model_dump(exclude_none=True) for tc in msg.tool_calls]},
        {"role": "tool", "tool_call_id": "python:0", "content": "final x = 0.015111\nfinal loss = 0.000228"},
    ]
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=[PY_TOOL])
    assert second.choices[0].finish_reason == "stop"
    assert "The run printed:\n\n```\nfinal x = 0.015111\nfinal loss = 0.000228\n```" in second.choices[0].message.content
    assert second.usage.model_extra["cached_tokens"] > 0


def test_parallel_calls_and_ids_count_across_conversation(kimi_server: KimiServer) -> None:
    chunks, _ = stream_chat(kimi_server, {"messages": user("run two in parallel"), "tools": [PY_TOOL]})
    starts = [d["tool_calls"][0] for d in deltas(chunks) if "tool_calls" in d and "id" in d["tool_calls"][0]]
    assert [(s["index"], s["id"]) for s in starts] == [(0, "python:0"), (1, "python:1")]
    # In the loop300 script, ids continue from the number of earlier calls.
    history = user("please run 300 steps")
    for i in range(3):
        history += [{"role": "assistant", "reasoning_content": "", "tool_calls": [
            {"id": f"python:{i}", "type": "function", "function": {"name": "python", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": f"python:{i}", "content": "No output"}]
    reply = sdk(kimi_server).chat.completions.create(model=MODEL, messages=history, tools=[PY_TOOL])
    assert reply.choices[0].message.tool_calls[0].id == "python:3"


def test_loop300_ends_with_step_count(kimi_server: KimiServer) -> None:
    history = user("run 300 steps")
    history += [{"role": "assistant", "reasoning_content": "", "content": "x"}] * 300
    reply = sdk(kimi_server).chat.completions.create(model=MODEL, messages=history, tools=[PY_TOOL])
    assert reply.choices[0].message.content == "Ran 300 steps."


# ------------------------------------------------------------------ vLLM flavour
def test_vllm_flavour(kimi_server: KimiServer) -> None:
    body = {"messages": user("think about gradient descent"), "tools": [PY_TOOL],
            "stream_options": {"include_usage": True}}
    chunks, done = stream_chat(kimi_server, body, base_url=kimi_server.vllm_base_url)
    assert done
    ds = deltas(chunks)
    assert any("reasoning" in d for d in ds) and not any("reasoning_content" in d for d in ds)
    assert "usage" not in chunks[-2]["choices"][0] and chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    final = chunks[-1]
    assert final["choices"] == [] and final["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}
    assert final["usage"]["total_tokens"] == final["usage"]["prompt_tokens"] + final["usage"]["completion_tokens"]
    assert next(d["tool_calls"][0]["id"] for d in ds if "tool_calls" in d) == "functions.python:0"
    # Without include_usage there is no usage at all; and no reasoning_content validation.
    history = user("hi") + [{"role": "assistant", "content": "", "tool_calls": [
        {"id": "x:0", "type": "function", "function": {"name": "python", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "x:0", "content": "ok"}]
    chunks, done = stream_chat(kimi_server, {"messages": history}, base_url=kimi_server.vllm_base_url)
    assert done and all("usage" not in c and "usage" not in c["choices"][0] for c in chunks)


# ------------------------------------------------------------------ errors and validation
def test_auth(kimi_server: KimiServer) -> None:
    url = kimi_server.base_url + "/chat/completions"
    for key in (None, "sk-wrong"):
        status, _, raw = call(url, {"model": MODEL, "messages": user("hi")}, key=key)
        assert status == 401
        assert json.loads(raw) == {"error": {"type": "invalid_authentication_error", "message": "Invalid Authentication"}}
    assert call(kimi_server.base_url + "/models", key="nope")[0] == 401
    with pytest.raises(openai.AuthenticationError):
        OpenAI(api_key="bad", base_url=kimi_server.base_url, max_retries=0).models.list()


def test_not_found(kimi_server: KimiServer) -> None:
    status, _, raw = call(kimi_server.base_url + "/chat/completions", {"model": "moonshot-v1-8k", "messages": user("hi")})
    assert status == 404
    assert json.loads(raw)["error"] == {"type": "resource_not_found_error",
                                        "message": "Not found the model moonshot-v1-8k or Permission denied"}
    with pytest.raises(openai.NotFoundError):
        sdk(kimi_server).chat.completions.create(model="kimi-k1", messages=user("hi"))
    status, _, raw = call(kimi_server.base_url + "/nope")
    assert status == 404 and "error" in json.loads(raw)


def _tc(i: int = 0) -> dict[str, Any]:
    return {"id": f"python:{i}", "type": "function", "function": {"name": "python", "arguments": "{}"}}


BAD_REQUESTS = [
    ({"messages": user("a") + [{"role": "assistant", "content": "x", "tool_calls": [_tc()]},
                               {"role": "tool", "tool_call_id": "python:0", "content": "ok"}]},
     "thinking is enabled but reasoning_content is missing in assistant tool call message at index 1"),
    ({"messages": user("a") + [{"role": "assistant", "content": "", "reasoning_content": "", "tool_calls": [_tc()]}]},
     "text content is empty"),
    ({"messages": user("a"), "tools": [PY_TOOL], "tool_choice": "required"}, "tool_choice"),
    ({"messages": user("a"), "tools": [{"type": "function", "function": {"name": "run code"}}]}, "function name"),
    ({"messages": user("a"), "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}]},
     "object"),
    ({"messages": user("a"), "temperature": 2.5}, "temperature"),
    ({"messages": user("a"), "max_tokens": 0}, "max_tokens"),
    ({"messages": user("a") + [{"role": "tool", "tool_call_id": "python:9", "content": "?"}]}, "tool_call_id"),
    ({"messages": user("a"), "max_tokens": 262_144},
     "Invalid request: Your request exceeded model token limit: 262144"),
]


@pytest.mark.parametrize(("body", "message"), BAD_REQUESTS)
def test_validation_400(kimi_server: KimiServer, body: dict[str, Any], message: str) -> None:
    status, _, raw = call(kimi_server.base_url + "/chat/completions", {"model": MODEL, **body})
    error = json.loads(raw)["error"]
    assert status == 400 and error["type"] == "invalid_request_error" and message in error["message"]


def test_valid_history_passes(kimi_server: KimiServer) -> None:
    ok = user("a") + [{"role": "assistant", "reasoning_content": "", "tool_calls": [_tc()]},
                      {"role": "tool", "tool_call_id": "python:0", "content": "ok"}]
    tools = [PY_TOOL, WEB_SEARCH]
    assert call(kimi_server.base_url + "/chat/completions", {"model": MODEL, "messages": ok, "tools": tools})[0] == 200
    # Non-thinking models don't need reasoning_content, and emit none.
    no_reasoning = [{k: v for k, v in m.items() if k != "reasoning_content"} for m in ok]
    chunks, _ = stream_chat(kimi_server, {"model": "kimi-k2-0905-preview", "messages": no_reasoning})
    assert not any("reasoning_content" in d for d in deltas(chunks))


def test_web_search_needs_declaration(kimi_server: KimiServer) -> None:
    url = kimi_server.base_url + "/chat/completions"
    status, _, raw = call(url, {"model": MODEL, "messages": user("search the web for kimi"), "tools": [PY_TOOL]})
    assert status == 400 and "$web_search" in json.loads(raw)["error"]["message"]
    reply = sdk(kimi_server).chat.completions.create(
        model=MODEL, messages=user("search the web for kimi"), tools=[WEB_SEARCH])
    tool_call = reply.choices[0].message.tool_calls[0]
    assert tool_call.function.name == "$web_search"
    assert json.loads(tool_call.function.arguments)["search_result"] == {"search_id": "loopback-1"}


def test_no_tool_calls_when_no_tools_offered(kimi_server: KimiServer) -> None:
    reply = sdk(kimi_server).chat.completions.create(model=MODEL, messages=user("gradient descent"))
    assert reply.choices[0].finish_reason == "stop" and not reply.choices[0].message.tool_calls
    assert reply.choices[0].message.content


# ------------------------------------------------------------------ prefix cache
def test_prefix_cache(kimi_server: KimiServer) -> None:
    client = sdk(kimi_server)
    system = {"role": "system", "content": "You are a careful assistant. " * 40}
    first = [system, *user("hello there")]
    r1 = client.chat.completions.create(model=MODEL, messages=first)
    assert r1.usage.model_extra["cached_tokens"] == 0
    extended = first + [{"role": "assistant", "content": r1.choices[0].message.content,
                         "reasoning_content": r1.choices[0].message.model_extra["reasoning_content"]},
                        *user("and again")]
    r2 = client.chat.completions.create(model=MODEL, messages=extended)
    assert r2.usage.model_extra["cached_tokens"] == (len(compact(first)) - 1) // 4
    assert r2.usage.model_extra["cached_tokens"] > 0.5 * r2.usage.prompt_tokens
    rewritten = [{"role": "system", "content": "Changed. " + system["content"]}, *extended[1:]]
    r3 = client.chat.completions.create(model=MODEL, messages=rewritten)
    assert r3.usage.model_extra["cached_tokens"] < 10
    # Cache entries are per model.
    r4 = client.chat.completions.create(model="kimi-k2-turbo-preview", messages=extended)
    assert r4.usage.model_extra["cached_tokens"] == 0


# ------------------------------------------------------------------ faults
def test_rate_limit_then_success_and_reset(kimi_server: KimiServer) -> None:
    client = sdk(kimi_server)
    prompt = user("[[scenario:rate_limit]] hi")
    for _ in range(2):
        with pytest.raises(openai.RateLimitError) as err:
            client.chat.completions.create(model=MODEL, messages=prompt, stream=True)
        assert err.value.body["type"] == "rate_limit_reached_error"
        assert "please try again after 1 seconds" in err.value.body["message"]
    assert "went through" in client.chat.completions.create(model=MODEL, messages=prompt).choices[0].message.content
    kimi_server.reset()
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model=MODEL, messages=prompt)


def test_http_faults(kimi_server: KimiServer) -> None:
    url = kimi_server.base_url + "/chat/completions"
    status, headers, raw = call(url, {"model": MODEL, "messages": user("[[scenario:retry_after_header]]")})
    assert status == 503 and headers["Retry-After"] == "1"
    assert call(url, {"model": MODEL, "messages": user("[[scenario:retry_after_header]]")})[0] == 200
    for name, code, kind in [("overloaded", 429, "engine_overloaded_error"), ("quota", 429, "exceeded_current_quota_error"),
                             ("server_error", 500, "server_error"), ("content_filter", 400, "content_filter")]:
        status, headers, raw = call(url, {"model": MODEL, "messages": user(f"[[scenario:{name}]]")})
        assert (status, json.loads(raw)["error"]["type"]) == (code, kind)
        assert "Retry-After" not in headers
    assert call(url, {"model": MODEL, "messages": user("[[scenario:quota]]")})[0] == 429  # times=99


def test_drop_midstream_raises_on_client(kimi_server: KimiServer) -> None:
    stream = sdk(kimi_server).chat.completions.create(
        model=MODEL, messages=user("[[scenario:drop_midstream]]"), stream=True)
    got: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            got.append((chunk.choices[0].delta.model_extra or {}).get("reasoning_content", ""))
    assert 300 <= len("".join(got)) < 400
    kimi_server.reset()  # the fault hits once (times=1) per reset
    with pytest.raises(http.client.IncompleteRead):  # raw: an incomplete chunked body
        call(kimi_server.base_url + "/chat/completions",
             {"model": MODEL, "stream": True, "messages": user("[[scenario:drop_midstream]]")})
    kimi_server.reset()
    with pytest.raises(openai.APIConnectionError):  # non-streamed: a truncated body
        sdk(kimi_server).chat.completions.create(model=MODEL, messages=user("[[scenario:drop_midstream]]"))


def test_no_finish(kimi_server: KimiServer) -> None:
    chunks, done = stream_chat(kimi_server, {"messages": user("[[scenario:no_finish]]")})
    assert not done and all(c["choices"][0]["finish_reason"] is None for c in chunks)
    assert any("content" in d and d["content"] for d in deltas(chunks))
    chunks = list(sdk(kimi_server).chat.completions.create(
        model=MODEL, messages=user("[[scenario:no_finish]]"), stream=True))  # second time: succeeds
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_refuse_then_success(kimi_server: KimiServer) -> None:
    client = sdk(kimi_server)
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model=MODEL, messages=user("[[scenario:refuse]]"))
    assert client.chat.completions.create(model=MODEL, messages=user("[[scenario:refuse]]")).choices[0].message.content


def test_finish_reasons(kimi_server: KimiServer) -> None:
    client = sdk(kimi_server)
    length = client.chat.completions.create(model=MODEL, messages=user("[[scenario:length]]"))
    assert length.choices[0].finish_reason == "length" and length.choices[0].message.content.endswith("not")
    only = client.chat.completions.create(model=MODEL, messages=user("[[scenario:reasoning_only]]"))
    assert only.choices[0].finish_reason == "stop" and only.choices[0].message.content == ""
    assert len(only.choices[0].message.model_extra["reasoning_content"]) > 600


def test_stall_and_pacing(kimi_server: KimiServer) -> None:
    kimi_server.add_scenario(Scenario("stall_short", [Turn(content="abcdefgh" * 10,
                                                           fault=Fault("stall", after_chars=20, seconds=0.4))]))
    kimi_server.add_scenario(Scenario("paced", [Turn(reasoning="r" * 1000, content="c" * 1000)], cps=1000))
    t0 = time.monotonic()
    chunks, done = stream_chat(kimi_server, {"messages": user("[[scenario:stall_short]]")})
    assert done and time.monotonic() - t0 >= 0.4
    assert "".join(d.get("content", "") for d in deltas(chunks)) == "abcdefgh" * 10
    t0 = time.monotonic()
    stream = sdk(kimi_server).chat.completions.create(model=MODEL, messages=user("[[scenario:paced]]"), stream=True)
    arrivals = [time.monotonic() - t0 for _ in stream]
    assert arrivals[-1] >= 1.5 and arrivals[1] < 0.5  # paced, but the first token shows at once


def test_client_disconnect_leaves_server_working(kimi_server: KimiServer) -> None:
    kimi_server.add_scenario(Scenario("slowish", [Turn(reasoning="z" * 4000)], cps=400))
    stream = sdk(kimi_server).chat.completions.create(model=MODEL, messages=user("[[scenario:slowish]]"), stream=True)
    next(iter(stream))
    stream.close()
    assert sdk(kimi_server).chat.completions.create(model=MODEL, messages=user("hi")).choices[0].message.content


# ------------------------------------------------------------------ scenarios
def test_recall_templating(kimi_server: KimiServer) -> None:
    history = user("What is 2 + 2?") + [{"role": "assistant", "content": "4", "reasoning_content": "easy"}]
    history += user("What was my first question?")
    reply = sdk(kimi_server).chat.completions.create(model=MODEL, messages=history)
    assert reply.choices[0].message.content == "Your first question was: What is 2 + 2?"


def test_selection(kimi_server: KimiServer) -> None:
    client = sdk(kimi_server)

    def answer(text: Any) -> str:
        return client.chat.completions.create(model=MODEL, messages=user(text)).choices[0].message.content

    assert answer("[[scenario:json_answer]] explain quantum entanglement") == '{"name": "kimi", "params_b": 1000, "moe": true}'
    assert answer("Please give it to me AS JSON") == '{"name": "kimi", "params_b": 1000, "moe": true}'
    assert "```python\ndef " in answer("write a function for moving averages")
    assert answer("nothing special").startswith("You said:\n\n> nothing special")
    assert answer("[[scenario:no_such_scenario]] hi").startswith("You said:")
    parts = [{"type": "text", "text": "explain"}, {"type": "text", "text": "quantum entanglement"}]
    assert answer(parts).startswith("## Quantum entanglement")
    # Added scenarios win over built-ins, by match and by name.
    kimi_server.add_scenario(Scenario("mine", [Turn(content="custom $model step $step")], match="entanglement"))
    kimi_server.add_scenario(Scenario("json_answer", [Turn(content="[]")]))
    assert answer("quantum entanglement") == f"custom {MODEL} step 0"
    assert answer("[[scenario:json_answer]]") == "[]"
    assert answer("as json").startswith("You said:")  # the replacement has no `match`
    assert kimi_server.requests[-1]["messages"] == user("as json")


def test_custom_tool_scenario_and_past_the_end(kimi_server: KimiServer) -> None:
    kimi_server.add_scenario(Scenario("bad", [
        Turn(tool_calls=[ToolCallSpec("python", '{"code": ')]),
        Turn(content="saw: $last_tool_output"),
    ], match="^broken$"))
    client = sdk(kimi_server)
    history = user("broken")
    first = client.chat.completions.create(model=MODEL, messages=history, tools=[PY_TOOL])
    assert first.choices[0].message.tool_calls[0].function.arguments == '{"code": '
    history += [{"role": "assistant", "reasoning_content": "", "tool_calls": [_tc()]},
                {"role": "tool", "tool_call_id": "python:0", "content": "JSONDecodeError"}]
    assert client.chat.completions.create(model=MODEL, messages=history, tools=[PY_TOOL]).choices[0].message.content \
        == "saw: JSONDecodeError"
    history += [{"role": "assistant", "reasoning_content": "", "content": "saw it"}, {"role": "tool", "tool_call_id": "python:0", "content": "x"}]
    past = client.chat.completions.create(model=MODEL, messages=history, tools=[PY_TOOL])
    assert past.choices[0].finish_reason == "stop" and past.choices[0].message.content == "saw: x"


def test_long_reasoning_helper(kimi_server: KimiServer) -> None:
    kimi_server.add_scenario(long_reasoning_scenario("long10k", 10_000, cps=None))
    chunks, done = stream_chat(kimi_server, {"messages": user("[[scenario:long10k]]")})
    reasoning = "".join(d.get("reasoning_content", "") for d in deltas(chunks))
    assert done and len(reasoning) == 10_000 and len(set(reasoning.split(". "))) > 10
    assert kimi_server.scenarios["long_reasoning"].cps == 4000
    assert len(kimi_server.scenarios["long_reasoning"].turns[0].reasoning) == 40_000


# ------------------------------------------------------------------ other endpoints
def test_models_estimate_balance(kimi_server: KimiServer) -> None:
    models = sdk(kimi_server).models.list().data
    assert {m.id for m in models} == {"kimi-k2-thinking", "kimi-k2-thinking-turbo", "kimi-k2-0905-preview",
                                      "kimi-k2-turbo-preview", "kimi-k2.5"}
    assert all(m.owned_by == "moonshot" and m.model_extra["context_length"] == 262144 for m in models)
    messages = user("count my tokens please, there are a few of them")
    status, _, raw = call(kimi_server.base_url + "/tokenizers/estimate-token-count", {"model": MODEL, "messages": messages})
    assert status == 200
    assert json.loads(raw) == {"code": 0, "data": {"total_tokens": len(compact(messages)) // 4}, "scode": "0x0", "status": True}
    status, _, raw = call(kimi_server.base_url + "/users/me/balance")
    assert json.loads(raw)["data"]["available_balance"] == 49.5
    status, _, raw = call(kimi_server.vllm_base_url + "/models")
    assert status == 200 and "moonshotai/Kimi-K2-Thinking" in {m["id"] for m in json.loads(raw)["data"]}


def test_session_fixture_and_context_manager(kimi_server_session: KimiServer) -> None:
    assert sdk(kimi_server_session).models.list().data
    with KimiServer(api_key=None) as srv:  # api_key None: any key is accepted
        assert call(srv.base_url + "/models", key="whatever")[0] == 200
    with pytest.raises(OSError):
        call(srv.base_url + "/models")


def test_cli_prints_url_and_stops_on_ctrl_c() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimi_jupyter.testing.server", "--port", "0", "--flavor", "vllm"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    try:
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/vllm/v1", url)
        assert call(url + "/models")[0] == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=5) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()

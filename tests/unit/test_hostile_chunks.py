"""Chunks and text a hostile or broken server can send: each field checked, text made
encodable, the history kept valid (issue 24 #11, #12). Pure code, no server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kimi_jupyter.core.client import iter_chunks
from kimi_jupyter.core.conversation import Conversation, EncodedMessages
from kimi_jupyter.core.errors import MalformedStream, StreamEndedEarly
from kimi_jupyter.core.stream import StreamFolder, check_chunk, encodable


def _delta(**delta: Any) -> dict[str, Any]:
    return {"id": "c1", "model": "kimi-k2.6", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}


def _call(**fields: Any) -> dict[str, Any]:
    return _delta(tool_calls=[{"index": 0, "id": "t0", "function": {"name": "python", "arguments": "{}"}, **fields}])


BAD = [
    (_delta(reasoning_content=12345), "choices[0].delta.reasoning_content` is a number"),
    (_delta(reasoning=["a"]), "choices[0].delta.reasoning` is a list"),
    (_delta(content=["a", "b"]), "choices[0].delta.content` is a list"),
    (_delta(content={"text": "a"}), "choices[0].delta.content` is an object"),
    (_delta(tool_calls={"index": 0}), "choices[0].delta.tool_calls` is an object"),
    (_delta(tool_calls=["x"]), "choices[0].delta.tool_calls[0]` is text"),
    (_call(index="1"), "tool_calls[0].index` is text"),
    (_call(index=True), "tool_calls[0].index` is a boolean"),
    (_call(id=7), "tool_calls[0].id` is a number"),
    (_call(function="python"), "tool_calls[0].function` is text"),
    (_call(function={"name": 1}), "function.name` is a number"),
    (_call(function={"name": "python", "arguments": {"code": "1"}}), "function.arguments` is an object"),
    ({"choices": "none"}, "`choices` is text"),
    ({"choices": [None]}, "`choices[0]` is a NoneType"),
    ({"choices": [{"index": "0", "delta": {}}]}, "choices[0].index` is text"),
    ({"choices": [{"index": 0, "delta": "hi"}]}, "choices[0].delta` is text"),
    ({"choices": [{"index": 0, "delta": {}, "finish_reason": 1}]}, "finish_reason` is a number"),
    ({"choices": [{"index": 0, "delta": {}, "usage": [1]}]}, "choices[0].usage` is a list"),
    ({"choices": [], "usage": "lots"}, "`usage` is text"),
    ({"id": 5, "choices": []}, "`id` is a number"),
    ({"model": ["m"], "choices": []}, "`model` is a list"),
    ([1, 2], "a list, not an object"),
]


@pytest.mark.parametrize("chunk, what", BAD)
def test_a_malformed_chunk_is_one_clear_error_and_what_arrived_is_kept(chunk, what):
    seen: list[str] = []
    folder = StreamFolder(on_reasoning=seen.append)
    folder.feed(_delta(reasoning_content="Thinking so far."))
    with pytest.raises(MalformedStream) as info:
        folder.feed(chunk)
    assert isinstance(info.value, StreamEndedEarly)  # the agent keeps the partial reply
    message = str(info.value)
    assert message.startswith("The server sent a malformed chunk (") and what in message, message
    turn = folder.turn()  # the folder is as it was before the bad chunk
    assert turn.reasoning == "Thinking so far." and seen == ["Thinking so far."] and turn.tool_calls == []


def test_the_request_id_is_added_where_known():
    err = MalformedStream("a malformed chunk (x)")
    err.request_id = "req-1"
    assert str(err).endswith("[Msh-Request-Id req-1]")


@pytest.mark.parametrize("chunk", [
    {"choices": [{"index": 0, "delta": None, "finish_reason": "stop"}]},
    {"choices": [{"delta": {"reasoning_content": None, "reasoning": "vLLM"}}], "usage": None},
    {"choices": None, "usage": {"prompt_tokens": 1}},
    _call(index=None, id=None),
    {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
])
def test_well_formed_chunks_with_nulls_and_missing_fields_pass(chunk):
    check_chunk(chunk)
    folder = StreamFolder()
    folder.feed(chunk)
    folder.turn()


def test_lone_surrogates_become_replacement_characters_where_text_enters():
    folder = StreamFolder()
    folder.feed(json.loads('{"choices":[{"index":0,"delta":{"reasoning_content":"why \\ud800","content":"answer \\udfff end",'
                           '"tool_calls":[{"index":0,"id":"t\\udc00","function":{"name":"py\\udfffthon","arguments":"{\\"a\\": \\"\\udfff\\"}"}}]}}]}'))
    turn = folder.turn()
    assert turn.reasoning == "why \ufffd" and turn.content == "answer \ufffd end"
    (call,) = turn.tool_calls
    assert (call.id, call.name) == ("t\ufffd", "py\ufffdthon") and json.loads(call.arguments) == {"a": "\ufffd"}
    for text in (turn.reasoning, turn.content, call.arguments):
        text.encode("utf-8")
    # A well-formed pair (an emoji) is one character already, and stays.
    assert encodable(json.loads('"\\ud83d\\ude00"')) == "\U0001F600"


class _Body:
    def __init__(self, *parts: bytes) -> None:
        self.parts = parts

    def iter_bytes(self):
        return iter(self.parts)


@pytest.mark.parametrize("payload, what", [
    (b"{not json", "not JSON"), (b'"text"', "a JSON string"), (b"[1]", "a JSON array"), (b"12", "a JSON number"),
])
def test_a_payload_that_is_not_a_json_object_is_malformed(payload, what):
    chunks = iter_chunks(_Body(b'data: {"choices": []}\n\n', b"data: " + payload + b"\n\n"))
    assert next(chunks) == {"choices": []}
    with pytest.raises(MalformedStream, match=what):
        next(chunks)


def test_a_message_with_a_lone_surrogate_is_appended_encodable_and_whole():
    conv = Conversation()
    conv.append({"role": "user", "content": "hi"})
    conv.append({"role": "assistant", "content": "answer \udfff end", "tool_calls": [
        {"id": "t", "function": {"name": "python", "arguments": "\ud800"}}]})
    conv.append({"role": "user", "content": "next"})
    sent = json.loads(b"[" + b"".join(conv.encoded()) + b"]")  # the next request's history: valid JSON
    assert sent == conv.messages
    assert conv.messages[1]["content"] == "answer \ufffd end"
    assert conv.messages[1]["tool_calls"][0]["function"]["arguments"] == "\ufffd"


def test_a_conversation_built_from_messages_with_a_lone_surrogate_is_valid():
    conv = Conversation([{"role": "user", "content": "\udfff"}])
    assert json.loads(b"[" + b"".join(conv.encoded()) + b"]") == [{"role": "user", "content": "\ufffd"}]


def test_appending_json_that_cannot_be_encoded_changes_nothing():
    enc = EncodedMessages()
    enc.append('{"a": 1}')
    with pytest.raises(UnicodeEncodeError):
        enc.append('{"b": "\udfff"}')
    enc.append('{"c": 3}')
    assert json.loads(b"[" + b"".join(enc.parts()) + b"]") == [{"a": 1}, {"c": 3}]
    assert enc.chars == len('[{"a": 1}, {"c": 3}]')


def test_a_huge_or_odd_server_error_message_is_one_short_message():
    from types import SimpleNamespace

    from kimi_jupyter.core.server_errors import error_for, stream_error

    settings = SimpleNamespace(all_secrets=lambda: ("sk-x",), api_key="sk-x")  # what error_for reads
    err = error_for(400, "invalid_request_error", "bad " * 100_000, settings, "req-9")
    text = str(err)
    assert len(text) < 1500 and "characters cut" in text and text.count("\n") <= 1
    # An in-stream error whose `error` is not an object still maps to a message.
    assert (stream_error("overloaded").type, stream_error("overloaded").message) == ("", "overloaded")
    assert stream_error({"type": 5, "message": ["x"]}).type == ""


def test_a_model_listing_past_16_mb_is_not_read_whole(monkeypatch):
    """A server that answers `GET /models` with an endless body gets no more than the cap read."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from kimi_jupyter.core import client as client_mod
    from kimi_jupyter.core.session import Session

    monkeypatch.setattr(client_mod, "MAX_JSON_BYTES", 1 << 20, raising=False)  # 1 MB here, to keep the test small
    sent = []

    class Endless(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            piece = b"x" * 65536
            try:
                self.wfile.write(b'{"data": "')
                for _ in range(16 * 50):  # up to 50 MB, unless the client stops reading first
                    self.wfile.write(piece)
                    sent.append(len(piece))
            except OSError:
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.delenv("MOONSHOT_API_KEY", raising=False)
        monkeypatch.setenv("KIMI_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}/v1")
        monkeypatch.setenv("KIMI_API_KEY", "sk-test")
        settings = Session().settings()
        assert client_mod.KimiClient(settings).model_listing() is None  # advice only: the cell goes on
    finally:
        server.shutdown()
        server.server_close()
    thread.join(timeout=30)
    assert sum(sent) < 40 * 2**20  # the client hung up near the cap, long before the 50 MB end

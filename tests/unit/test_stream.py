"""stream.fold: pure folding of Kimi and vLLM chunk dicts into a Turn."""

import json
from pathlib import Path

from kimi_jupyter.core import wire
from kimi_jupyter.core.client import iter_chunks
from kimi_jupyter.core.stream import StreamFolder, Turn, Usage, fold


def chunk(delta=None, finish=None, usage=None, top_usage=None, choices=True):
    c = {"id": "chatcmpl-abc", "model": "kimi-k2.6"}
    if choices:
        choice = {"index": 0, "delta": delta or {}, "finish_reason": finish}
        if usage:
            choice["usage"] = usage
        c["choices"] = [choice]
    else:
        c["choices"] = []
    if top_usage:
        c["usage"] = top_usage
    return c


def test_moonshot_stream_with_usage_in_choice():
    chunks = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"reasoning_content": "Let me "}),
        chunk({"reasoning_content": "think."}),
        chunk({"content": "Hello"}),
        chunk({"content": " world"}),
        chunk({}, "stop", usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "cached_tokens": 8}),
    ]
    turn = fold(chunks)
    assert turn.reasoning == "Let me think."
    assert turn.content == "Hello world"
    assert turn.finish_reason == "stop"
    assert turn.usage == Usage(10, 5, 15, 8)
    assert turn.id == "chatcmpl-abc"


def test_vllm_stream_reasoning_field_and_top_level_usage():
    chunks = [
        chunk({"reasoning": "hmm"}),
        chunk({"content": "ok"}, "stop"),
        chunk(choices=False, top_usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5,
                                        "prompt_tokens_details": {"cached_tokens": 1}}),
    ]
    turn = fold(chunks)
    assert (turn.reasoning, turn.content) == ("hmm", "ok")
    assert turn.usage == Usage(3, 2, 5, 1)


def test_tool_call_deltas_are_assembled_by_index():
    chunks = [
        chunk({"tool_calls": [{"index": 0, "id": "python:0", "type": "function",
                               "function": {"name": "python", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"code": '}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "python:1", "type": "function",
                               "function": {"name": "python", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"1+1"}'}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"code": "2"}'}}]}),
        chunk({}, "tool_calls"),
    ]
    seen = []
    folder = StreamFolder(on_tool_call=lambda c: seen.append((c.id, c.name)))
    for c in chunks:
        folder.feed(c)
    turn = folder.turn()
    assert [(c.id, c.name, c.arguments) for c in turn.tool_calls] == [
        ("python:0", "python", '{"code": "1+1"}'),
        ("python:1", "python", '{"code": "2"}'),
    ]
    assert seen == [("python:0", "python"), ("python:1", "python")]


def test_hooks_receive_deltas_not_accumulated_text():
    got = []
    folder = StreamFolder(on_reasoning=got.append, on_content=got.append)
    for text in ["a", "b", "c"]:
        folder.feed(chunk({"reasoning_content": text}))
    folder.feed(chunk({"content": "d"}))
    assert got == ["a", "b", "c", "d"]


def test_assistant_message_keeps_reasoning_and_omits_empty_content_on_tool_calls():
    turn = fold([
        chunk({"reasoning_content": "plan"}),
        chunk({"tool_calls": [{"index": 0, "id": "python:0", "type": "function",
                               "function": {"name": "python", "arguments": "{}"}}]}),
        chunk({}, "tool_calls"),
    ])
    msg = wire.assistant_message(turn)  # the history message is wire.py's job
    assert "content" not in msg
    assert msg["reasoning_content"] == "plan"
    assert msg["tool_calls"][0]["function"] == {"name": "python", "arguments": "{}"}
    plain = wire.assistant_message(Turn(content="hi"))
    assert plain == {"role": "assistant", "content": "hi", "reasoning_content": ""}


def test_missing_finish_reason_is_visible():
    turn = fold([chunk({"reasoning_content": "x"})])
    assert turn.finish_reason is None and turn.usage is None


def test_folding_is_linear_in_text_length():
    # 200k one-character deltas: a quadratic accumulator would take minutes here.
    folder = StreamFolder()
    c = chunk({"reasoning_content": "x"})
    for _ in range(200_000):
        folder.feed(c)
    assert len(folder.turn().reasoning) == 200_000


# ---------------------------------------------------------------- usage merging and real recordings
FIXTURES = Path(__file__).parent / "fixtures" / "streams"


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def test_trailing_top_level_usage_with_fewer_fields_keeps_cached_and_reasoning_tokens():
    base = {"id": "chatcmpl-x", "model": "kimi-k2.6"}
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"reasoning_content": "hm"}}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "usage": {
            "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120, "cached_tokens": 80,
            "completion_tokens_details": {"reasoning_tokens": 15}}}]},
        {**base, "choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}},
    ]
    assert fold(chunks).usage == Usage(100, 20, 120, 80, 15)


def test_real_kimi_k3_stream_folds_reasoning_content_and_merged_usage():
    rec = _fixture("kimi_k3_reasoning_usage_excerpt.json")
    turn = fold(rec["chunks"])
    assert turn.model == "kimi-k3" and turn.finish_reason == "stop"
    assert turn.reasoning and turn.content and not turn.tool_calls
    assert turn.usage == Usage(92, 1331, 1423, 92, 983)


def test_real_kosong_finish_chunk_usage_in_the_choice():
    turn = fold(_fixture("kosong_k2_turbo_finish_usage.json")["chunks"])
    assert turn.usage == Usage(8, 11, 19, 8, 0) and turn.finish_reason == "stop"


def test_real_moonshot_tool_call_deltas_fold_into_one_call_per_index():
    turn = fold(_fixture("moonpalace_v1_tool_calls_n2.json")["chunks"])  # two choices: index 0 is ours
    assert [(c.id, c.name) for c in turn.tool_calls] == [("search:0", "search")]
    assert turn.tool_calls[0].arguments.startswith('{\n    "query": "Context Cachin')
    assert turn.finish_reason == "tool_calls"


class _FakeResponse:
    """An HTTP response's body as the network would cut it: bytes in small pieces."""

    def __init__(self, raw: str, size: int = 7) -> None:
        self.raw, self.size = raw.encode("utf-8"), size

    def iter_bytes(self):
        for i in range(0, len(self.raw), self.size):
            yield self.raw[i : i + self.size]


def test_sse_decoder_ignores_comments_ids_blank_data_and_joins_multiline_data():
    raw = (
        ": keep-alive\n\n"
        "event: message\nid: 1\ndata: {\"choices\": [{\"index\": 0,\n"
        "data: \"delta\": {\"content\": \"Hel\"}}]}\n\n"
        "data:\n\n"
        "retry: 100\r\ndata: {\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"lo\"},"
        " \"finish_reason\": \"stop\"}]}\r\n\r\n"
        "data: [DONE]\n\n"
        "data: {\"never\": 1}\n\n"
    )
    chunks = list(iter_chunks(_FakeResponse(raw)))
    assert fold(chunks).content == "Hello" and len(chunks) == 2

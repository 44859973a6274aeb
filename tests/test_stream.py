"""stream.fold: pure folding of Kimi and vLLM chunk dicts into a Turn."""

from kimi_jupyter.stream import StreamFolder, Turn, Usage, fold


def chunk(delta=None, finish=None, usage=None, top_usage=None, choices=True):
    c = {"id": "chatcmpl-abc", "model": "kimi-k2-thinking"}
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
    msg = turn.to_message()
    assert "content" not in msg
    assert msg["reasoning_content"] == "plan"
    assert msg["tool_calls"][0]["function"] == {"name": "python", "arguments": "{}"}
    plain = Turn(content="hi").to_message()
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

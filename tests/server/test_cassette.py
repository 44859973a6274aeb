"""Cassettes: the file format, redaction, matching, and the replay server over real HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kimi_jupyter.core import cassette as cas
from kimi_jupyter.api import chat
from kimi_jupyter.core.client import KimiClient
from kimi_jupyter.core.errors import StreamEndedEarly
from kimi_jupyter.core.session import Session
from kimi_jupyter.testing import KimiServer, Scenario, ScriptedTurn
from kimi_jupyter.testing import player as pl
from kimi_jupyter.testing import replay as replay_mod
from kimi_jupyter.testing.pytest_plugin import API_KEY
from kimi_jupyter.views.base import RecordingView

KEY = "sk-live-0123456789abcdef"


def _chunk(reasoning: str = "", content: str = "", finish: str | None = None) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if reasoning:
        delta["reasoning_content"] = reasoning
    if content:
        delta["content"] = content
    return {"id": "chatcmpl-1", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _body(*messages: dict[str, Any], model: str = "kimi-k2.6") -> dict[str, Any]:
    return {"model": model, "messages": list(messages), "stream": True}


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def _record(path: Path, exchanges: list[tuple], secrets=()) -> Path:
    """Write exchanges through a Recorder: (body, chunks or None, status, error body[, "interrupted"])."""
    rec = cas.Recorder(path, secrets)
    for body, chunks, status, error, *interrupted in exchanges:
        if chunks is not None:
            stream = rec.stream(body, {"content-type": "text/event-stream"}, iter(chunks), 0.0)
            if interrupted:
                next(stream)
                stream.close()  # the user stopped the cell after the first chunk
            else:
                list(stream)
        else:
            rec.error(body, status, {"content-type": "application/json"}, error)
    rec.close()
    return path


# ---------------------------------------------------------------- the file
def test_the_file_holds_requests_chunks_and_times_and_never_a_key_or_authorization(tmp_path):
    path = tmp_path / "c.jsonl"
    secret = 'pa"ss\\word-42'  # a Kimi.secrets value JSON has to escape
    rec = cas.Recorder(path, [KEY])
    rec.listing({"object": "list", "data": [{"id": "kimi-k2.6"}]})
    assert not path.exists()  # created at the first exchange, not at start
    headers = {"content-type": "text/event-stream", "msh-request-id": "abc123", "authorization": f"Bearer {KEY}",
               "set-cookie": "session=1"}
    body = _body(_user(f"my key is {KEY} and my password {secret}"))
    chunks = [_chunk(reasoning="Thinking."), _chunk(content=f"You said {KEY}."), _chunk(finish="stop")]
    assert list(rec.stream(body, headers, iter(chunks), 0.0, secrets=[secret])) == chunks  # passed through as is
    rec.error(_body(_user("again")), 429, {"retry-after": "2", "content-type": "application/json"},
              {"error": {"type": "rate_limit_reached_error", "message": "slow down"}})
    rec.close()
    text = path.read_text(encoding="utf-8")
    assert KEY not in text and "authorization" not in text.lower() and "set-cookie" not in text
    assert "pa\\\"ss\\\\word-42" not in text and "[redacted]" in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["cassette"] == "kimi-jupyter" and lines[0]["version"] == cas.VERSION
    assert [x["path"] for x in lines[1:]] == ["/models", "/chat/completions", "/chat/completions"]
    chat_line = lines[2]
    assert chat_line["request"]["model"] == "kimi-k2.6" and chat_line["complete"] is True
    assert chat_line["headers"] == {"content-type": "text/event-stream", "msh-request-id": "abc123"}
    assert [e["data"] for e in chat_line["events"]][0] == chunks[0]
    assert all(isinstance(e["t"], float) for e in chat_line["events"])
    assert lines[3]["status"] == 429 and lines[3]["headers"]["retry-after"] == "2"
    loaded = cas.read(path)
    assert len(loaded.chats) == 2 and loaded.listing is not None and loaded.listing.body["data"][0]["id"] == "kimi-k2.6"


def test_a_stream_stopped_early_is_written_incomplete_and_nothing_after_stop(tmp_path):
    path = tmp_path / "c.jsonl"
    rec = cas.Recorder(path)
    stream = rec.stream(_body(_user("hi")), {}, iter([_chunk(content="a"), _chunk(content="b")]), 0.0)
    next(stream)
    stream.close()  # the cell was interrupted
    late = rec.stream(_body(_user("late")), {}, iter([_chunk(content="c")]), 0.0)
    next(late)
    rec.close()
    list(late)  # finishes after `%kimi record stop`: not written
    (chat_line,) = [json.loads(x) for x in path.read_text().splitlines()[1:]]
    assert chat_line["complete"] is False and len(chat_line["events"]) == 1


def test_answers_from_a_replay_are_not_recorded_and_create_no_file(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text("precious\n")
    rec = cas.Recorder(path)
    rec.listing({"data": []})
    replayed = {cas.REPLAY_HEADER: "cassette"}
    assert list(rec.stream(_body(_user("hi")), replayed, iter([_chunk(content="x")]), 0.0)) == [_chunk(content="x")]
    rec.error(_body(_user("hi")), 404, replayed, {"error": {}})
    rec.close()
    assert path.read_text() == "precious\n" and rec.written == 0 and rec.skipped == 2


@pytest.mark.parametrize("text, message", [
    ("", "is empty"),
    ("hello\n", "line 1"),
    ('{"something": "else"}\n', "not a kimi-jupyter cassette"),
    ('{"cassette": "kimi-jupyter", "version": 99}\n', "version 99"),
    ('{"cassette": "kimi-jupyter", "version": 1}\n{"path": "/models"}\n', "line 2"),
])
def test_a_bad_file_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(cas.CassetteError, match=message):
        cas.read(path)
    with pytest.raises(cas.CassetteError, match="Cannot read"):
        cas.read(tmp_path / "missing.jsonl")


def test_check_path(tmp_path):
    assert cas.check_path(str(tmp_path / "x.jsonl")) == tmp_path / "x.jsonl"
    for bad, message in [("", "Usage"), (str(tmp_path), "is a folder"), (str(tmp_path / "no" / "x.jsonl"), "does not exist")]:
        with pytest.raises(ValueError, match=message):
            cas.check_path(bad)


# ---------------------------------------------------------------- matching
def _tool_turn(output: str, reasoning: str = "I'll run it.") -> list[dict[str, Any]]:
    call = {"id": "python:0", "type": "function", "function": {"name": "python", "arguments": '{"code": "t()"}'}}
    return [
        _user("Time it."),
        {"role": "assistant", "reasoning_content": reasoning, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "python:0", "content": output},
    ]


def test_the_canonical_form_drops_what_differs_between_runs():
    key = pl.match_key
    # Timings and addresses in tool output, the reasoning echo, argument spacing: the same request.
    a = _tool_turn("took 0.0123 s, obj at 0x7f3a2b")
    b = _tool_turn("took 1.5 s, obj at 0x55d0ee", reasoning="")
    b[1]["tool_calls"][0]["function"]["arguments"] = '{"code":"t()"}'
    assert key(_body(*a)) == key(_body(*b))
    assert key(_body(*a)) == key(_body(*a, model="kimi-k3"))  # the model is not part of the match
    # What the user wrote, the tool call ids and the words of the output are.
    assert key(_body(_user("Use 3 steps."))) != key(_body(_user("Use 4 steps.")))
    c = _tool_turn("took 0.0123 s, obj at 0x7f3a2b")
    c[2]["tool_call_id"] = c[1]["tool_calls"][0]["id"] = "python:1"
    assert key(_body(*a)) != key(_body(*c))
    assert key(_body(*a)) != key(_body(*_tool_turn("failed after 0.01 s")))
    # Figures sent to a vision model are images, whatever their bytes.
    img = [{"type": "text", "text": "[figure 1]"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}}]
    img2 = [img[0], {"type": "image_url", "image_url": {"url": "data:image/png;base64,BBB"}}]
    assert key(_body(*_tool_turn(img))) == key(_body(*_tool_turn(img2)))  # type: ignore[arg-type]


def _cassette(tmp_path, exchanges) -> pl.Player:
    return pl.Player(cas.read(_record(tmp_path / "c.jsonl", exchanges)))


def test_the_same_request_gets_its_recorded_answers_in_order_then_again(tmp_path):
    q = _body(_user("Roll a die."))
    error = {"error": {"type": "rate_limit_reached_error", "message": "try again after 1 seconds"}}
    player = _cassette(tmp_path, [
        (q, None, 429, error),
        (q, [_chunk(content="4"), _chunk(finish="stop")], 200, None),
        (q, [_chunk(content="2"), _chunk(finish="stop")], 200, None),
    ])
    served = [player.take(q) for _ in range(4)]
    assert [s.status for s in served] == [429, 200, 200, 429]
    assert served[1].events[0].data["choices"][0]["delta"]["content"] == "4"
    assert served[2].events[0].data["choices"][0]["delta"]["content"] == "2"


def test_false_starts_are_skipped_when_the_same_request_also_succeeded(tmp_path):
    q = _body(_user("Explain."))
    bad = {"error": {"type": "invalid_authentication_error", "message": "Invalid Authentication"}}
    good = [_chunk(content="Sure."), _chunk(finish="stop")]
    player = _cassette(tmp_path, [
        (q, None, 401, bad),  # the teacher's wrong key
        (q, good, 200, None, "interrupted"),
        (q, good, 200, None),
        (_body(_user("Only fails.")), None, 400, {"error": {"type": "content_filter", "message": "high risk"}}),
    ])
    assert len(player.cassette.chats) == 4 and not player.cassette.chats[1].complete
    assert player.take(q).succeeded() and player.take(q).succeeded()
    assert player.take(_body(_user("Only fails."))).status == 400  # no success: the failure is the recording


def test_no_match_names_the_nearest_recorded_prompt(tmp_path):
    player = _cassette(tmp_path, [
        (_body(_user("Explain quantum entanglement.")), [_chunk(finish="stop")], 200, None),
        (_body(_user("Plot a sine wave.")), [_chunk(finish="stop")], 200, None),
    ])
    with pytest.raises(pl.NoMatch) as err:
        player.take(_body(_user("Explain quantum entanglement to a child.")))
    assert 'Nearest recorded prompt: "Explain quantum entanglement."' in str(err.value)
    assert "2 recorded requests" in str(err.value)
    # The prompt is there but the conversation before it isn't: say where it parts.
    with pytest.raises(pl.NoMatch, match=r"differs at message 0 \(user\)"):
        player.take(_body(_user("Something else first."), {"role": "assistant", "content": "ok"},
                          _user("Plot a sine wave.")))


def test_parse_pace():
    assert pl.parse_pace("original") == pl.Pace(original=True)
    assert pl.parse_pace("200") == pl.Pace(cps=200.0)
    assert pl.parse_pace("0") == pl.Pace()
    for bad in ("fast", "-1", "nan"):
        with pytest.raises(ValueError, match="--pace"):
            pl.parse_pace(bad)


# ---------------------------------------------------------------- the replay server
def _post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _session_against(server: KimiServer, monkeypatch: pytest.MonkeyPatch, key: str | None) -> Session:
    monkeypatch.delenv("MOONSHOT_API_KEY", raising=False)
    monkeypatch.delenv("KIMI_MODEL", raising=False)
    monkeypatch.setenv("KIMI_BASE_URL", server.base_url)
    if key:
        monkeypatch.setenv("KIMI_API_KEY", key)
    else:
        monkeypatch.delenv("KIMI_API_KEY", raising=False)
    return Session()


def test_recorded_with_a_key_replayed_over_http_with_none(tmp_path, monkeypatch):
    path = tmp_path / "c.jsonl"
    slow = Scenario("slow_story", [ScriptedTurn(reasoning="r" * 600, content="A short story.")], match="story", cps=3000)
    with KimiServer(api_key=API_KEY, scenarios=[slow]) as live:
        session = _session_against(live, monkeypatch, API_KEY)
        session.start_recording(str(path))
        recorded = chat("Tell me a story.", session=session, view=RecordingView())
        session.stop_recording()
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    # The chunk gaps are in the file, for `--pace original`: offsets from the request start, in order.
    times = [e["t"] for e in lines[-1]["events"]]
    assert len(times) > 3 and times == sorted(times) and times[-1] > times[0]

    with KimiServer(replay=path) as server:
        # The model listing comes from the recording, and no key is needed for anything.
        with urllib.request.urlopen(f"{server.base_url}/models", timeout=30) as resp:
            assert json.load(resp) == lines[1]["body"] and resp.headers[cas.REPLAY_HEADER]
        session = _session_against(server, monkeypatch, None)
        replayed = chat("Tell me a story.", session=session, view=RecordingView())
        assert replayed.content == recorded.content and replayed.reasoning == recorded.reasoning
        assert replayed.usage == recorded.usage and replayed.request_ids == recorded.request_ids
        assert replayed.replay and not recorded.replay and replayed.footer().endswith("· offline replay")
        assert set(server.keys_seen) <= {"no-key", ""}
        # A request the cassette doesn't hold: Moonshot's error shape, naming the nearest prompt.
        status, headers, raw = _post(f"{server.base_url}/chat/completions", _body(_user("Tell me a joke.")))
        assert status == 404 and headers.get(cas.REPLAY_HEADER)
        error = json.loads(raw)["error"]
        assert error["type"] == "resource_not_found_error"
        assert 'Nearest recorded prompt: "Tell me a story."' in error["message"]
        # What a cassette doesn't record (the token estimate) is still answered, keyless.
        status, headers, raw = _post(f"{server.base_url}/tokenizers/estimate-token-count",
                                     {"model": "kimi-k2.6", "messages": [_user("Tell me a story.")]})
        assert status == 200 and json.loads(raw)["data"]["total_tokens"] > 0 and headers.get("Msh-Request-Id")


def test_a_replay_binds_to_loopback_only(tmp_path):
    path = _record(tmp_path / "c.jsonl", [(_body(_user("hi")), [_chunk(finish="stop")], 200, None)])
    with pytest.raises(ValueError, match="loopback only"):
        KimiServer(replay=path, host="0.0.0.0")


def test_a_stream_recorded_incomplete_ends_the_same_way(tmp_path, monkeypatch):
    path = tmp_path / "c.jsonl"
    rec = cas.Recorder(path)
    stream = rec.stream(_body(_user("hi")), {}, iter([_chunk(content="Half an ans"), _chunk(content="wer")]), 0.0)
    next(stream)
    stream.close()
    rec.close()
    with KimiServer(replay=path) as server:
        client = KimiClient(_session_against(server, monkeypatch, None).settings())
        got: list[dict] = []
        with pytest.raises(StreamEndedEarly):
            client.stream(_body(_user("hi")), got.append)
        assert [c["choices"][0]["delta"].get("content") for c in got] == ["Half an ans"]


class _FakeClock:
    """Stands in for `time` in the replay module: records the sleeps instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


@pytest.mark.parametrize("pace, expected", [(pl.Pace(original=True), [0.5, 1.5]), (pl.Pace(), [])])
def test_pace_original_keeps_the_recorded_gaps_and_0_has_none(tmp_path, monkeypatch, pace, expected):
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in [
        {"cassette": "kimi-jupyter", "version": 1},
        {"method": "POST", "path": "/chat/completions", "request": _body(_user("hi")), "status": 200,
         "headers": {}, "complete": True, "events": [
             {"t": 0.0, "data": _chunk(content="a")}, {"t": 0.5, "data": _chunk(content="b")},
             {"t": 2.0, "data": _chunk(finish="stop")}]},
    ]) + "\n")
    clock = _FakeClock()
    monkeypatch.setattr(replay_mod, "time", clock)
    with KimiServer(replay=path, original_timing=pace.original) as server:
        status, _, raw = _post(f"{server.base_url}/chat/completions", _body(_user("hi")))
    assert status == 200 and raw.decode().count("data: ") == 4  # three events and [DONE]
    assert clock.sleeps == expected


def test_server_cli_errors_are_one_line(tmp_path, capsys):
    from kimi_jupyter.testing.server import main

    (tmp_path / "bad.jsonl").write_text("nope\n")
    assert main(["--replay", str(tmp_path / "bad.jsonl")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kimi-loopback: ") and "line 1" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["--pace", "original"])
    assert "needs --replay" in capsys.readouterr().err

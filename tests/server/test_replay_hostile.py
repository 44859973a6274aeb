"""A cassette is untrusted input: the replay server sends only checked headers and never
a redirect (issue 24 #9), and every recorded model listing is replayed in order (issue 25)."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from kimi_jupyter.core import cassette as cas
from kimi_jupyter.testing import KimiServer

HEADER = {"cassette": "kimi-jupyter", "version": 1}
BODY = {"model": "kimi-k2.6", "messages": [{"role": "user", "content": "hi"}], "stream": True}
CHUNK = {"id": "c1", "choices": [{"index": 0, "delta": {"content": "Hello."}, "finish_reason": "stop"}]}


def _cassette(path: Path, *exchanges: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in (HEADER, *exchanges)), encoding="utf-8")
    return path


def _request(server: KimiServer, method: str, endpoint: str, body: Any = None) -> tuple[int, list[tuple[str, str]], bytes]:
    url = urlsplit(server.base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, url.path + endpoint, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        conn.close()


HOSTILE_HEADERS = {
    "content-type": "text/event-stream\r\nX-Injected: from-content-type",
    "msh-request-id": "abc\r\nSet-Cookie: session=stolen",
    "location": "http://evil.example/steal",
    "x-evil": "1",
    "retry-after": "1\r\nX-Injected: from-retry-after",
}


@pytest.mark.parametrize("streamed", [True, False])
def test_recorded_headers_are_never_sent_as_written(tmp_path, streamed):
    exchange: dict[str, Any] = {"method": "POST", "path": "/chat/completions", "request": BODY, "status": 200,
                                "headers": HOSTILE_HEADERS}
    if streamed:
        exchange.update(events=[{"t": 0.0, "data": CHUNK}], complete=True)
    else:
        exchange["body"] = {"id": "c1", "choices": []}
    path = _cassette(tmp_path / "evil.jsonl", exchange)
    with KimiServer(replay=path) as server:
        status, headers, raw = _request(server, "POST", "/chat/completions", BODY)
    names = [name.lower() for name, _ in headers]
    assert status == 200 and raw
    for bad in ("x-injected", "set-cookie", "location", "x-evil", "retry-after", "msh-request-id"):
        assert bad not in names, headers
    content_type = dict((k.lower(), v) for k, v in headers)["content-type"]
    assert content_type == ("text/event-stream; charset=utf-8" if streamed else "application/json; charset=utf-8")


def test_well_formed_recorded_headers_are_replayed():
    got = cas.replay_headers({"content-type": "text/event-stream", "x-trace-id": "trace-42",
                              "retry-after": "2"}, streamed=True)
    assert got == {"Content-Type": "text/event-stream", "Msh-Request-Id": "trace-42", "Retry-After": "2"}
    # A JSON content type on a stream (or the reverse) is not what a replay sends.
    assert cas.replay_headers({"content-type": "text/html"}, streamed=False) == {
        "Content-Type": "application/json; charset=utf-8"}


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308, 100, 204, 0])
def test_a_cassette_holding_a_redirect_is_refused_with_one_clear_line(tmp_path, status):
    path = _cassette(tmp_path / "redirect.jsonl", {
        "method": "POST", "path": "/chat/completions", "request": BODY, "status": status,
        "headers": {"location": "http://127.0.0.1:9/collect"}, "body": {}})
    with pytest.raises(cas.CassetteError, match=rf"line 2: .*status {status} is never replayed"):
        KimiServer(replay=path)


def test_every_model_listing_is_recorded_and_replayed_in_order(tmp_path):
    path = tmp_path / "c.jsonl"
    rec = cas.Recorder(path)
    first = {"object": "list", "data": [{"id": "kimi-k2.6"}]}
    second = {"object": "list", "data": [{"id": "kimi-k2.6"}, {"id": "kimi-k3"}]}
    rec.listing(first)
    rec.listing(second)
    list(rec.stream(BODY, {"content-type": "text/event-stream"}, iter([CHUNK]), 0.0))
    rec.close()
    loaded = cas.read(path)
    assert [e.body for e in loaded.listings] == [first, second]
    with KimiServer(replay=path) as server:
        served = [json.loads(_request(server, "GET", "/models")[2]) for _ in range(3)]
    assert served == [first, second, first]  # in recorded order, then again


def test_listings_fetched_from_a_replay_server_are_not_recorded(tmp_path):
    path = tmp_path / "c.jsonl"
    rec = cas.Recorder(path)
    rec.listing({"data": [{"id": "from-the-replay"}]})
    list(rec.stream(BODY, {cas.REPLAY_HEADER: "cassette"}, iter([CHUNK]), 0.0))
    rec.listing({"data": [{"id": "live"}]})
    list(rec.stream(BODY, {"content-type": "text/event-stream"}, iter([CHUNK]), 0.0))
    rec.close()
    assert [e.body for e in cas.read(path).listings] == [{"data": [{"id": "live"}]}]


def test_an_event_that_is_not_an_object_is_a_clear_cassette_error(tmp_path):
    path = _cassette(tmp_path / "odd.jsonl", {"method": "POST", "path": "/chat/completions", "request": BODY,
                                              "status": 200, "events": [{"t": 0, "data": ["not", "a", "chunk"]}]})
    with pytest.raises(cas.CassetteError, match="line 2: .*not a JSON object"):
        cas.read(path)


def test_pacing_a_replay_reads_malformed_chunks_without_failing():
    from kimi_jupyter.testing.player import chunk_chars

    assert chunk_chars({"choices": "x"}) == 0
    assert chunk_chars({"choices": [None, {"delta": "x"}, {"delta": {"content": 5, "tool_calls": [1]}}]}) == 0
    assert chunk_chars({"choices": [{"delta": {"content": "abc", "tool_calls": [{"function": {"arguments": "{}"}}]}}]}) == 5


def test_each_listing_fetched_while_recording_is_written_and_a_replays_is_not(tmp_path, monkeypatch):
    from kimi_jupyter.core.client import KimiClient
    from kimi_jupyter.core.session import Session
    from kimi_jupyter.testing.pytest_plugin import API_KEY

    def session_at(server: KimiServer, key: str | None) -> Session:
        monkeypatch.delenv("MOONSHOT_API_KEY", raising=False)
        monkeypatch.setenv("KIMI_BASE_URL", server.base_url)
        if key:
            monkeypatch.setenv("KIMI_API_KEY", key)
        else:
            monkeypatch.delenv("KIMI_API_KEY", raising=False)
        return Session()

    path = tmp_path / "listings.jsonl"
    with KimiServer(api_key=API_KEY) as live:
        session = session_at(live, API_KEY)
        session.start_recording(str(path))
        for _ in range(2):  # e.g. `%kimi models` twice: no chat in between, nor after
            assert KimiClient(session.settings(), recorder=session.recorder).model_listing()
        session.stop_recording()
    assert len(cas.read(path).listings) == 2

    again = tmp_path / "again.jsonl"
    with KimiServer(replay=path) as server:
        session = session_at(server, None)
        session.start_recording(str(again))
        assert KimiClient(session.settings(), recorder=session.recorder).model_listing()
        session.stop_recording()
    assert not again.exists()  # a replay's listing is not recorded

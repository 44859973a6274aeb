"""sse.SSEDecoder: the event-stream framing rules, and the bound on one event's size."""

from __future__ import annotations

import pytest

from kimi_jupyter.core.sse import EventTooLarge, SSEDecoder

STREAM = (
    b": keep-alive\r\n\r\n"
    b"event: message\nid: 1\ndata: {\"a\": 1}\n\n"
    b"data: first line\r\ndata:second line\r\n\r\n"
    b"data: cr only\r\r"
    b"retry: 10\nid: 2\n\n"  # no data: not an event
    b"data\n\n"  # a field name alone: one empty data line
    b"data: caf\xc3\xa9\n\n"
    b"data: [DONE]\n\n"
)
EVENTS = ['{"a": 1}', "first line\nsecond line", "cr only", "", "café", "[DONE]"]


def test_whole_stream():
    assert SSEDecoder().feed(STREAM) == EVENTS


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_any_split_of_the_bytes_gives_the_same_events(size):
    # A CR LF split across two reads is one line end, not a line end and a blank line.
    decoder = SSEDecoder()
    got = [e for i in range(0, len(STREAM), size) for e in decoder.feed(STREAM[i:i + size])]
    assert got == EVENTS


def test_an_unfinished_last_event_is_dropped():
    assert list(SSEDecoder().iter_events([b"data: done\n\n", b"data: half"])) == ["done"]


def test_a_line_with_no_end_stops_at_the_limit_holding_no_more_than_it():
    decoder = SSEDecoder(max_event_bytes=1000)
    assert decoder.feed(b"data: ok\n\ndata: ") == ["ok"]
    with pytest.raises(EventTooLarge, match="larger than"):
        for _ in range(100):
            decoder.feed(b"x" * 64)
            assert len(decoder._line) <= 1000  # never more than the limit is held


def test_an_event_of_many_lines_counts_them_all():
    decoder = SSEDecoder(max_event_bytes=1000)
    with pytest.raises(EventTooLarge):
        decoder.feed(b"data: " + b"y" * 100 + b"\n" * 1)  # fine so far
        for _ in range(20):
            decoder.feed(b"data: " + b"y" * 100 + b"\n")


def test_events_under_the_limit_one_after_another_are_fine():
    decoder = SSEDecoder(max_event_bytes=1000)
    for _ in range(50):
        assert decoder.feed(b"data: " + b"z" * 900 + b"\n\n") == ["z" * 900]


def test_invalid_utf8_is_replaced_not_raised():
    assert SSEDecoder().feed(b"data: \xff ok\n\n") == ["\ufffd ok"]

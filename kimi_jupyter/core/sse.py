"""Server-sent events, decoded with a bound on how much one event may hold.

Pure code (bytes in, `data` strings out), so the framing rules can be tested on
their own. It follows the WHATWG event-stream rules a chat stream uses: lines
end in CR LF, LF or CR (a CR LF split across two reads is one line end), a line
starting with ``:`` is a comment, ``data:`` lines are joined with ``\\n``, a
blank line dispatches the event, and an event with no ``data:`` line is none.
``event:``, ``id:`` and ``retry:`` are read past: a chat completion stream
carries everything in its data.

Why not the openai SDK's decoder: it keeps a line or event of any size. A
server (or a proxy) that sends 1.5 GB with no newline took a kernel to 6 GB
while the cell still showed "Thinking…". Here a line or an event past
`MAX_EVENT_BYTES` stops the decoder with `EventTooLarge`, holding at most that
much, and the client ends the reply with one clear message.
"""

from __future__ import annotations

import re
from typing import Iterable, Iterator

# Far above any real chunk (a chat chunk is tens of bytes to a few KB; a whole
# tool call's arguments in one chunk is well under a megabyte), far below trouble.
MAX_EVENT_BYTES = 16 * 1024 * 1024

_EOL = re.compile(rb"\r\n|\r|\n")


class EventTooLarge(ValueError):
    """A line or an event grew past the decoder's limit before it ended."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"an event larger than {limit / 2**20:g} MB")


class SSEDecoder:
    """Incremental: `feed` bytes as they arrive, get the events they complete."""

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self._line = bytearray()  # the unfinished line
        self._data: list[bytes] = []  # the `data:` values of the unfinished event
        self._size = 0  # their bytes, newlines between them counted
        self._after_cr = False  # the last read ended in CR: a leading LF is its pair, not a blank line

    def feed(self, chunk: bytes) -> list[str]:
        """The `data` of each event `chunk` completes. Raises `EventTooLarge`."""
        events: list[str] = []
        start = 1 if self._after_cr and chunk[:1] == b"\n" else 0
        self._after_cr = False
        for end in _EOL.finditer(chunk, start):
            if self._line:
                self._line += chunk[start:end.start()]
                line = bytes(self._line)
                self._line.clear()
            else:
                line = chunk[start:end.start()]
            self._check(len(line))
            self._take(line, events)
            start = end.end()
            self._after_cr = end.group() == b"\r" and start == len(chunk)
        if start < len(chunk):
            self._check(len(self._line) + len(chunk) - start)
            self._line += chunk[start:]
        return events

    def iter_events(self, chunks: Iterable[bytes]) -> Iterator[str]:
        """Every event of a byte stream. An unfinished last event is dropped (the spec's rule)."""
        for chunk in chunks:
            yield from self.feed(chunk)

    def _check(self, line_bytes: int) -> None:
        if self._size + line_bytes > self.max_event_bytes:
            self._line.clear()
            self._data.clear()
            raise EventTooLarge(self.max_event_bytes)

    def _take(self, line: bytes, events: list[str]) -> None:
        if not line:
            if self._data:
                events.append(b"\n".join(self._data).decode("utf-8", "replace"))
            self._data, self._size = [], 0
            return
        if line[:1] == b":":
            return  # a comment (keep-alives)
        name, colon, value = line.partition(b":")
        if name != b"data":
            return
        if colon and value[:1] == b" ":
            value = value[1:]
        self._size += len(value) + (1 if self._data else 0)
        self._data.append(value)

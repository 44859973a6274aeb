"""A chunked HTTP response body with pacing: the loopback server's one way of streaming.

Shared by the scripted handler and cassette replay, so both pace and frame a
stream the same way (and neither has to import the other).
"""

from __future__ import annotations

import time
from typing import BinaryIO


class ChunkedWriter:
    """Chunked response body with pacing: coalesces events, sleeps to hold `cps`."""

    def __init__(self, wfile: BinaryIO, cps: float | None) -> None:
        self._wfile = wfile
        self._buf: list[bytes] = []
        self._size = 0
        self.cps = cps
        self.chars = 0
        self._t0 = time.monotonic()

    def write(self, data: bytes, chars: int = 0) -> None:
        self._buf.append(data)
        self._size += len(data)
        self.chars += chars
        if self.cps:
            delay = self._t0 + self.chars / self.cps - time.monotonic()
            if delay > 0:
                self.flush()
                time.sleep(delay)
                return
        if self._size >= 32768:  # unpaced: few large writes, not one syscall per token
            self.flush()

    def flush(self) -> None:
        if self._buf:
            data = b"".join(self._buf)
            self._buf.clear()
            self._size = 0
            self._wfile.write(b"%x\r\n%b\r\n" % (len(data), data))

    def stall(self, seconds: float) -> None:
        self.flush()
        time.sleep(seconds)
        self._t0 += seconds

    def end(self) -> None:
        self.flush()
        self._wfile.write(b"0\r\n\r\n")

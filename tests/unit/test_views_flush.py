"""Our displays wait on ipykernel's IO thread only for a stream that holds unsent text."""

from __future__ import annotations

import sys
from typing import Any

import IPython
import pytest

from kimi_jupyter.views import notebook


class FakeStream:
    """ipykernel's OutStream as far as flushing goes: `_flush_pending` is set by a write."""

    def __init__(self, pending: bool) -> None:
        self._flush_pending = pending
        self.flushes = 0

    def write(self, text: str) -> int:
        self._flush_pending = True
        return len(text)

    def flush(self) -> None:
        self.flushes += 1
        self._flush_pending = False


class FakePublisher:
    """ipykernel's ZMQDisplayPublisher: flushes both streams before each display."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def _flush_streams(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()

    def publish(self, data: Any, metadata: Any = None, **kwargs: Any) -> None:
        self._flush_streams()
        self.sent.append(data)


class FakeShell:
    def __init__(self) -> None:
        self.display_pub = FakePublisher()


def fake_streams(monkeypatch: pytest.MonkeyPatch) -> tuple[FakeStream, FakeStream]:
    # Set in the test's body: pytest puts its own capture back in sys.stdout between phases.
    out, err = FakeStream(False), FakeStream(False)
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    return out, err


def test_flush_pending_flushes_only_streams_with_text(monkeypatch: pytest.MonkeyPatch) -> None:
    out, err = fake_streams(monkeypatch)
    notebook.flush_pending()
    assert (out.flushes, err.flushes) == (0, 0)
    out.write("x")
    notebook.flush_pending()
    assert (out.flushes, err.flushes) == (1, 0)


def test_flush_pending_flushes_a_stream_it_cannot_read(monkeypatch: pytest.MonkeyPatch) -> None:
    class Plain:
        flushes = 0

        def flush(self) -> None:
            self.flushes += 1

    plain = Plain()
    monkeypatch.setattr(sys, "stdout", plain)
    monkeypatch.setattr(sys, "stderr", plain)
    notebook.flush_pending()
    assert plain.flushes == 2  # no `_flush_pending`: flushed as ipykernel would


def test_lean_flush_swaps_the_publisher_flush_only_while_ours_go_out(monkeypatch: pytest.MonkeyPatch) -> None:
    out, err = fake_streams(monkeypatch)
    shell = FakeShell()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    pub = shell.display_pub
    with notebook._lean_flush():
        pub.publish({"text/plain": "a"})  # nothing pending: no flush
        out.write("text")
        pub.publish({"text/plain": "b"})  # stdout pending: flushed first
    assert (out.flushes, err.flushes) == (1, 0)
    assert "_flush_streams" not in vars(pub)  # the method is back
    pub.publish({"text/plain": "c"})  # someone else's display: ipykernel's own behaviour
    assert (out.flushes, err.flushes) == (2, 1)

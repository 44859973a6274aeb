"""Capping tool output for the model, streaming buffers, error text and the tee (no kernel)."""

from __future__ import annotations

import base64
import random
import re
import sys
import types
from typing import Any

import pytest

from kimi_jupyter.tools import ToolOutput, cap_output
from kimi_jupyter.tools.capture import OutputTee
from kimi_jupyter.core.tool_output import HeadTailBuffer, cap_parts, cut_marker, format_error, png_size

MARKER = re.compile(r"\n\.\.\. \[([\d,]+) characters cut\] \.\.\.\n")


def split(result: str) -> tuple[str, int, str]:
    m = MARKER.search(result)
    assert m, result
    return result[: m.start()], int(m.group(1).replace(",", "")), result[m.end():]


def test_tool_output_defaults() -> None:
    out = ToolOutput(text="x")
    assert (out.ok, out.images, out.declined, out.interrupted) == (True, [], False, False)
    assert ToolOutput("a").images is not ToolOutput("b").images


@pytest.mark.parametrize("text", ["", "short", "a" * 100])
def test_no_cut_when_it_fits(text: str) -> None:
    assert cap_output(text, 100) == text


def test_marker_format() -> None:
    assert cut_marker(12345) == "\n... [12,345 characters cut] ...\n"
    assert cut_marker(5) == "\n... [5 characters cut] ...\n"


def test_head_and_tail_with_exact_count() -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(10_000))  # no newlines to snap to
    result = cap_output(text, 1000)
    head, cut, tail = split(result)
    assert head == text[:500] and tail == text[-500:]
    assert cut == 9000
    assert len(result) == 1000 + len(cut_marker(9000))


def test_odd_limit_keeps_limit_characters() -> None:
    text = "x" * 50
    head, cut, tail = split(cap_output(text, 7))
    assert (len(head), cut, len(tail)) == (4, 43, 3)


@pytest.mark.parametrize("limit", [0, -5])
def test_zero_or_negative_limit_leaves_only_the_marker(limit: int) -> None:
    assert cap_output("abcdef", limit) == cut_marker(6)


def test_limit_one() -> None:
    assert cap_output("abcdef", 1) == "a" + cut_marker(5)


def test_one_over_the_limit() -> None:
    head, cut, tail = split(cap_output("abcdefghijk", 10))
    assert head + tail == "abcdeghijk" and cut == 1


def test_cuts_snap_to_line_breaks() -> None:
    lines = [f"line {i:04d} " + "." * 30 for i in range(1000)]
    text = "\n".join(lines) + "\n"
    result = cap_output(text, 2000)
    head, cut, tail = split(result)
    assert head.endswith("\n") and head.startswith("line 0000")
    assert tail.startswith("line ") and tail.endswith("\n")
    assert len(head) + cut + len(tail) == len(text)
    assert len(result) <= 2000 + len(cut_marker(cut))
    # Whole lines only, so the model never sees half a line at the cut.
    assert all(line in lines for line in (head + tail).splitlines())


def test_cap_parts_counts_what_a_buffer_dropped() -> None:
    result = cap_parts("H" * 10, 1000, "T" * 10, 10)
    head, cut, tail = split(result)
    assert head == "H" * 5 and tail == "T" * 5 and cut == 1010
    # Even when the parts alone would fit, dropped text is reported.
    assert split(cap_parts("ab", 3, "cd", 100)) == ("ab", 3, "cd")


@pytest.mark.parametrize("seed", range(5))
def test_head_tail_buffer_matches_capping_the_full_text(seed: int) -> None:
    rng = random.Random(seed)
    limit = rng.choice([10, 100, 1000])
    buf = HeadTailBuffer(limit)
    chunks = ["".join(rng.choice("ab\n") for _ in range(rng.randint(0, 300)))
              for _ in range(rng.randint(1, 200))]
    for chunk in chunks:
        buf.write(chunk)
    full = "".join(chunks)
    assert buf.total == len(full)
    assert len(buf.head) + buf.omitted + len(buf.tail) == len(full)
    assert len(buf.head) <= limit and len(buf.tail) <= 2 * limit + 300
    assert cap_parts(buf.head, buf.omitted, buf.tail, limit) == cap_output(full, limit)


def test_head_tail_buffer_memory_stays_bounded() -> None:
    buf = HeadTailBuffer(100)
    for _ in range(10_000):
        buf.write("z" * 1000)
    assert len(buf.head) == 100 and len(buf.tail) <= 200
    assert buf.omitted == 10_000_000 - 100 - len(buf.tail)


def _png(width: int, height: int) -> str:
    raw = (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + width.to_bytes(4, "big")
           + height.to_bytes(4, "big") + b"\x08\x06\x00\x00\x00" + b"\x00" * 40)
    return base64.b64encode(raw).decode()


def test_png_size() -> None:
    assert png_size(_png(640, 480)) == (640, 480)
    assert png_size(base64.b64encode(b"GIF89a" + b"\x00" * 40).decode()) is None
    assert png_size("not base64!") is None
    assert png_size("") is None


def test_format_error_is_short_and_ends_with_type_and_message() -> None:
    def recurse(n: int) -> None:
        if n == 0:
            raise ValueError("deep")
        recurse(n - 1)

    try:
        recurse(20)
    except ValueError as e:
        text = format_error(e, limit=3)
    lines = text.splitlines()
    assert lines[0] == "Traceback (most recent call last, 3 of 22 frames):"
    assert lines[-1] == "ValueError: deep"
    assert text.count("in recurse") == 3 and 'raise ValueError("deep")' in text

    try:
        compile("x = (", "<cell>", "exec")
    except SyntaxError as e:
        text = format_error(e, skip=lambda f: True)  # drop all machinery frames
    assert not text.startswith("Traceback") and text.endswith("SyntaxError: '(' was never closed")


def test_format_error_skips_leading_frames_and_chains() -> None:
    def machinery() -> None:
        user_code()

    def user_code() -> None:
        try:
            {}["k"]
        except KeyError:
            raise RuntimeError("wrapped") from None

    try:
        machinery()
    except RuntimeError as e:
        text = format_error(e, skip=lambda f: f.name in ("machinery", "test_format_error_skips_leading_frames_and_chains"))
    assert "in machinery" not in text and "in user_code" in text
    assert "KeyError" not in text and text.endswith("RuntimeError: wrapped")


# ---------------------------------------------------------------------- the tee


class _PlainPub:
    """A display publisher like IPython's base one: prints text/plain."""

    def publish(self, data: dict, metadata: Any = None, **kwargs: Any) -> None:
        print(data.get("text/plain", ""))


class _HookPub:
    """A display publisher like ipykernel's: hooks see the message before it is sent."""

    def __init__(self) -> None:
        self.hooks: list[Any] = []
        self.sent: list[dict] = []

    def register_hook(self, hook: Any) -> None:
        self.hooks.append(hook)

    def unregister_hook(self, hook: Any) -> bool:
        self.hooks.remove(hook)
        return True

    def publish(self, data: dict) -> None:
        msg: dict | None = {"msg_type": "display_data", "content": {"data": data}}
        for hook in self.hooks:
            msg = hook(msg)
            if msg is None:
                return
        self.sent.append(msg)


def test_tee_records_and_still_shows(capsys: pytest.CaptureFixture[str]) -> None:
    pub = _HookPub()
    shell = types.SimpleNamespace(display_pub=pub)
    write_before = sys.stdout.write
    with OutputTee(shell, limit=1000) as tee:
        print("out 1")
        print("err 1", file=sys.stderr)
        pub.publish({"image/png": _png(10, 20), "text/plain": "<Figure>"})
        pub.publish({"text/plain": "<IPython.core.display.HTML object>", "text/html": "<i>x</i>"})
        pub.publish({"application/x-thing": {}})
        print("out 2")
    assert sys.stdout.write == write_before and pub.hooks == []
    assert tee.buffer.head == ("out 1\nerr 1\n[figure 1: 10x20 px, displayed to the user]\n"
                               "[HTML displayed to the user]\n<i>x</i>\n"
                               "[application/x-thing output displayed to the user]\nout 2\n")
    assert tee.images == [_png(10, 20)]
    assert len(pub.sent) == 3  # the hook let every display through
    seen = capsys.readouterr()
    assert seen.out == "out 1\nout 2\n" and seen.err == "err 1\n"
    print("after")  # no longer recorded
    assert "after" not in tee.buffer.head


def test_tee_with_plain_publisher_does_not_double_count(capsys: pytest.CaptureFixture[str]) -> None:
    pub = _PlainPub()
    shell = types.SimpleNamespace(display_pub=pub)
    with OutputTee(shell, limit=1000) as tee:
        pub.publish({"text/plain": "42", "image/png": base64.b64decode(_png(3, 4))})
        pub.publish({"text/plain": "hello"})
    # The printed text/plain is not recorded a second time through stdout.
    assert tee.buffer.head == "[figure 1: 3x4 px, displayed to the user]\nhello\n"
    assert tee.images == [_png(3, 4)]
    assert capsys.readouterr().out == "42\nhello\n"
    assert "publish" not in vars(pub)


def test_tee_echo_cap(capsys: pytest.CaptureFixture[str]) -> None:
    shell = types.SimpleNamespace()
    with OutputTee(shell, limit=100, max_echo=10) as tee:
        sys.stdout.write("0123456789abc")
        sys.stdout.write("more")
    seen = capsys.readouterr()
    assert seen.out == "0123456789"
    assert "7 more characters of output were not shown" in seen.err
    assert tee.buffer.head == "0123456789abcmore"


def test_tee_echoes_no_escape_however_the_writes_are_split(capsys: pytest.CaptureFixture[str]) -> None:
    page = "a\x1b]52;c;eA==\x07b\x1b[1A\x1b[2Kc\u202ed\x1b[31me\x1b[0m\r\n"
    with OutputTee(types.SimpleNamespace(), limit=1000) as tee:
        for ch in page:
            sys.stdout.write(ch)
        sys.stdout.write("\x1b]0;never ends")  # flushed at the end: its text, not its ESC ]
    # Printed colour goes too: between a key's pieces it would keep the redactor from matching.
    assert capsys.readouterr().out == "abcde\r\n0;never ends"
    assert tee.buffer.head == "abcde\r\n0;never ends"  # the model's copy
    assert tee.outputs[0]["text"] == "abcde\r\n0;never ends"  # what the user saw, for the export


def test_a_key_split_by_colour_is_redacted_wherever_it_shows(capsys: pytest.CaptureFixture[str]) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    key = "sk-colour-0123456789abcdefghijklmnopqrstuv"
    hidden = key[:14] + "\x1b[1m" + key[14:28] + "\x1b[22m" + key[28:]
    shell = InteractiveShell.instance()
    with OutputTee(shell, limit=10000, secrets=(key,)) as tee:
        sys.stdout.write(hidden + "\n")
    shown = capsys.readouterr().out
    assert shown == "[redacted]\n" and tee.buffer.head == "[redacted]\n"
    # Whole texts keep their colour, unless it hides a key: then they lose it.
    from kimi_jupyter.tools.capture import _shown

    assert _shown("\x1b[31mred\x1b[0m " + key[:10], (key,)) == "\x1b[31mred\x1b[0m " + key[:10]
    assert _shown("x = " + hidden, (key,)) == "x = [redacted]"


def test_a_key_split_by_an_escape_the_filter_drops_is_still_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    # The filter runs before the redactor: an erase-line between the halves would otherwise
    # keep each half from matching, and then vanish from the echo, showing the key whole.
    key = "sk-split-0123456789abcdefghijklmnopqrstuv"
    half = len(key) // 2
    with OutputTee(types.SimpleNamespace(), limit=1000, secrets=(key,)) as tee:
        sys.stdout.write(key[:half] + "\x1b[2K" + key[half:] + "\n")
    shown = capsys.readouterr().out
    assert key not in shown and key[:half] not in shown and "[redacted]" in shown
    assert key not in tee.buffer.head and key not in tee.outputs[0]["text"]

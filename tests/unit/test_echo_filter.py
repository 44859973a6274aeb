"""`EchoFilter`: what model code prints reaches no terminal as an escape, however it is split."""

from __future__ import annotations

import re

import pytest

from kimi_jupyter.core.echo_filter import MAX_HELD, EchoFilter, filter_text, without_colour

RED, RESET = "\x1b[31m", "\x1b[0m"
# Every kind of sequence and control the filter drops, among words that must all survive.
HOSTILE = (
    "alpha\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07 beta\x1b]0;owned title\x1b\\ gamma"
    "\x1b]8;;https://evil.example/\x1b\\link\x1b]8;;\x1b\\ delta\x1b[1A\x1b[2K\x1b[?25l"
    "\x1bPq#0;2;0;0;0\x1b\\ eps\x1b_apc\x9c zeta\x1bX sos\x07 eta\x1b^pm\x07 theta"
    "\x9d0;c1 title\x9c iota\x9b2J kappa\x1bc\x1b7\x1b(B lambda\x08\x00\x7f\x85"
    f"\u202etxt.exe\u202c mu {RED}red{RESET} nu\r\n 50%\r100%\n"
)
WORDS = ("alpha", "beta", "gamma", "link", "delta", "eps", "zeta", "eta", "theta", "iota",
         "kappa", "lambda", "txt.exe", "mu", "red", "nu", "50%", "100%")
EXPECTED = f"alpha beta gammalink delta eps zeta eta theta iota kappa lambdatxt.exe mu {RED}red{RESET} nu\r\n 50%\r100%\n"
# After filtering, the only ESC left starts an SGR; no other control but \t \n \r, no bidi.
UNSAFE = re.compile("(?!\x1b\\[[0-9;:]*m)\x1b|[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _pieces(text: str, cuts: list[int]) -> str:
    f = EchoFilter()
    bounds = [0, *cuts, len(text)]
    out = "".join(f.feed(text[a:b]) for a, b in zip(bounds, bounds[1:]))
    return out + f.flush()


def test_every_escape_and_control_goes_and_text_colour_and_cr_stay():
    out = filter_text(HOSTILE)
    assert out == EXPECTED
    assert not UNSAFE.search(out)


@pytest.mark.parametrize("cut", range(len(HOSTILE) + 1))
def test_a_split_at_any_index_gives_the_same_text(cut):
    assert _pieces(HOSTILE, [cut]) == EXPECTED


def test_one_character_at_a_time_gives_the_same_text():
    assert _pieces(HOSTILE, list(range(1, len(HOSTILE)))) == EXPECTED


def test_only_an_incomplete_sequence_is_held_back():
    f = EchoFilter()
    assert f.feed("shown now \x1b]52;c;ZXZp") == "shown now "
    assert f.held == "\x1b]52;c;ZXZp"
    assert f.feed("bA==\x07 and the rest") == " and the rest"
    assert f.held == ""
    assert f.feed("colour \x1b[3") == "colour "
    assert f.feed("1mred") == "\x1b[31mred"
    assert f.feed("tail\x1b") == "tail"
    assert f.feed("[2Kgone") == "gone"


def test_sgr_with_a_private_marker_or_intermediates_is_not_colour():
    assert filter_text("a\x1b[>4;2mb\x1b[1 mc\x9b31md") == "abcd"
    assert filter_text("\x1b[38;2;255;0;0mX\x1b[38:5:9mY\x1b[m") == "\x1b[38;2;255;0;0mX\x1b[38:5:9mY\x1b[m"


def test_a_sequence_that_never_ends_is_given_up_on_and_holds_nothing_for_long():
    f = EchoFilter()
    shown = f.feed("before \x1b]0;")
    for _ in range(3 * MAX_HELD):
        shown += f.feed("x")
        assert len(f.held) <= MAX_HELD + 1
    # Past the cap the introducer is dropped and the body shows as text: nothing is swallowed.
    assert f.held == ""
    assert shown == "before 0;" + "x" * (3 * MAX_HELD)
    assert f.feed("\x07after") == "after"  # the late terminator is a lone control now
    f = EchoFilter()
    out = f.feed("\x1b[" + "1;" * MAX_HELD) + f.feed("1mtext") + f.flush()
    assert not UNSAFE.search(out) and out.endswith("text")


def test_flush_gives_up_on_what_was_held():
    f = EchoFilter()
    assert f.feed("see \x1b]52;c;tail") == "see "
    assert f.flush() == "52;c;tail"  # no terminator came: the body is text, its ESC ] is not
    f = EchoFilter()
    assert f.feed("x\x1b[12") + f.flush() == "x"  # an unfinished CSI holds no text
    f = EchoFilter()
    assert f.feed("y\x1b") + f.flush() == "y"
    assert f.flush() == ""


def test_a_control_string_broken_by_another_escape_shows_its_body_as_text():
    assert filter_text("a\x1b]0;body\x1b[2Kb") == "a0;bodyb"
    assert filter_text("a\x1b]0;bo\x85dy\x1b[31mb") == "a0;body\x1b[31mb"


def test_ordinary_output_passes_unchanged():
    text = "Épreuve ✓ 数据\ttab\nLine\r\nProgress 10%\rProgress 99%\n"
    assert filter_text(text) == text
    f = EchoFilter()
    assert "".join(f.feed(ch) for ch in text) == text  # nothing held, shown live


def test_without_colour_is_exact_on_filter_output():
    assert without_colour(filter_text(HOSTILE)) == EXPECTED.replace(RED, "").replace(RESET, "")


def test_every_pair_of_split_points_gives_the_same_text():
    n = len(HOSTILE)
    wrong = [(a, b) for a in range(1, n) for b in range(a, n) if _pieces(HOSTILE, [a, b]) != EXPECTED]
    assert wrong == []

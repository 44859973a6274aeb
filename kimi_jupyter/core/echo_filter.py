"""What model code prints, made safe for a terminal as it streams (SPEC §3, §9).

The python tool echoes model code's stdout and stderr live, and jupyter console or
qtconsole write that stream text to the user's terminal as it is. Code that prints a
file or a web page (``print(open("page.html").read())``) must not pass that page's
escapes on: OSC 52 writes the clipboard, OSC 8 makes links, OSC 0 sets the title,
cursor moves and erase-line can overwrite what the approval prompt showed.

`sanitize.plain` is for text shown whole; printed output needs more, and less:

* more: it arrives in pieces (``sys.stdout.write`` of one character at a time), so a
  sequence cut between two writes must still be removed whole. `EchoFilter` holds back
  only a sequence that is not complete yet, and at most `MAX_HELD` characters of it;
* less: what ordinary programs print stays. ``\\r`` is kept (pip's and tqdm's progress
  bars redraw their line with it; it cannot leave the line), and so is SGR colour
  (``ESC [ … m``: JupyterLab renders it, terminals show colours, tracebacks use it).

Everything else goes: OSC, DCS, SOS, PM and APC strings (either terminator), every
CSI but SGR, two-character and intermediate ESC sequences, the 8-bit C1 forms, every
other C0/C1 control and DEL, and the bidi embeddings, overrides and isolates
(U+202A-202E, U+2066-2069) that reorder what is shown. Pure code: no IPython.
"""

from __future__ import annotations

import re

#: The longest incomplete sequence held back. Longer, it is given up on (see
#: `EchoFilter.feed`), so one that never ends holds neither output nor memory for long.
MAX_HELD = 4096

# Where plain text stops: ESC, every C0 control but \t \n \r, DEL, C1, bidi controls.
_SPECIAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Control strings (OSC, DCS, SOS, PM, APC): introducer, body, BEL / ESC \ / ST.
_STRING = re.compile(r"(\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])([^\x07\x1b\x9c]*)(\x07|\x1b\\|\x9c|\x1b)?")
# CSI: introducer, parameter bytes, intermediate bytes, then the final byte (if any yet).
_CSI = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*([@-~])?")
# Any other ESC sequence: intermediates, then a final byte (if any yet).
_ESC = re.compile(r"\x1b[ -/]*([0-~])?")
#: SGR colour: the one sequence kept. No private marker (``ESC [ > 4 m`` is not colour).
SGR = re.compile(r"\x1b\[[0-9;:]*m")


class EchoFilter:
    """Filters a stream that arrives in pieces: `feed` each piece, `flush` at the end.

    What `feed` returns is safe to write to a terminal, and only complete sequences are
    in it (so `without_colour` on it is exact). A sequence still open at the end of a
    piece is held back until the next piece completes it, up to `MAX_HELD` characters;
    past that, or at `flush`, it is given up on: a control string loses its introducer
    and its body is shown as text (so no printed text is swallowed), an unfinished CSI
    or ESC sequence (parameters, no text) is dropped.
    """

    def __init__(self, max_held: int = MAX_HELD) -> None:
        self._max_held = max_held
        self._held = ""

    @property
    def held(self) -> str:
        return self._held

    def feed(self, text: str) -> str:
        buf, self._held = self._held + text, ""
        out: list[str] = []
        pos = 0
        while True:
            special = _SPECIAL.search(buf, pos)
            if special is None:
                out.append(buf[pos:])
                break
            out.append(buf[pos:special.start()])
            pos = special.start()
            end, keep, complete = _sequence_at(buf, pos)
            if not complete:
                if len(buf) - pos <= self._max_held:
                    self._held = buf[pos:]  # may still complete in the next piece
                    break
                end, keep = _give_up(buf, pos)
            out.append(keep)
            pos = end
        return "".join(out)

    def flush(self) -> str:
        """What was held back, given up on: nothing more will come to complete it."""
        out: list[str] = []
        while self._held:  # each round gives up on one introducer at least
            rest, self._held = self._held, ""
            end, keep = _give_up(rest, 0)
            out += (keep, self.feed(rest[end:]))
        return "".join(out)


def filter_text(text: str) -> str:
    """``text`` filtered as if printed in one piece and the stream then ended."""
    f = EchoFilter()
    return f.feed(text) + f.flush()


def without_colour(text: str) -> str:
    """`EchoFilter` output without its SGR colour sequences (for the model, colour is noise)."""
    return SGR.sub("", text)


def _sequence_at(buf: str, pos: int) -> tuple[int, str, bool]:
    """The special character at ``pos``: (where to go on, what to show, complete?).

    Incomplete means the buffer ended inside a sequence that may still finish.
    """
    ch = buf[pos]
    if ch not in "\x1b\x90\x98\x9b\x9d\x9e\x9f":
        return pos + 1, "", True  # a lone control or bidi character: dropped
    m = _STRING.match(buf, pos)
    if m is not None:
        terminator = m.group(3)
        if terminator is None or (terminator == "\x1b" and m.end() == len(buf)):
            return pos, "", False  # the body (or ESC of ESC \) reached the end of the piece
        if terminator == "\x1b":  # ESC, but not ESC \: a malformed string, its body is text
            return m.start(3), _SPECIAL.sub("", m.group(2)), True
        return m.end(), "", True
    m = _CSI.match(buf, pos)
    if m is not None:
        if m.group(1) is None:
            # Ended by the piece (wait) or by a byte no CSI has (drop what came so far).
            return m.end(), "", m.end() < len(buf)
        return m.end(), m.group(0) if SGR.fullmatch(m.group(0)) else "", True
    m = _ESC.match(buf, pos)
    assert m is not None  # ESC matches it on its own
    return m.end(), "", m.group(1) is not None or m.end() < len(buf)


def _give_up(buf: str, pos: int) -> tuple[int, str]:
    """An incomplete sequence at ``pos`` that will not be completed: (where to go on, what to show)."""
    m = _STRING.match(buf, pos)
    if m is not None:  # the body goes out as text, and needs no second pass: it holds no ESC
        return m.start(2) + len(m.group(2)), _SPECIAL.sub("", m.group(2))
    m = _CSI.match(buf, pos) or _ESC.match(buf, pos)
    assert m is not None
    return m.end(), ""


__all__ = ["MAX_HELD", "SGR", "EchoFilter", "filter_text", "without_colour"]

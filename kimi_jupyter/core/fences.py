"""Code blocks in model markdown, found by CommonMark's rules (markdown-it), not by a regex.

Model text decides where its code starts and ends, and everything that reads it must
agree with the renderer the user looks at: a fence that the renderer still sees open
must not be taken as closed here, or code "breaks out" (SPEC §3, §9: model output
is untrusted). Three hand-written readers (a regex for `-f code`, `startswith("```")`
for JSON answers, a line toggle for the live view) each had their own idea of a
fence, and each got some of CommonMark wrong: a closing fence must be at least as long
as the opening one and made of the same character; a fence may be indented up to three
spaces (or sit in a list or a quote); an unclosed fence runs to the end; a backtick
fence's info string holds no backtick ("```x```" is inline code). So the fences come
from markdown-it's block parser, the same configured parser `sanitize` renders with.

Writing a fence around text is `sanitize.fence` (a fence longer than any backtick run in it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from . import sanitize

_NEWLINE = re.compile(r"\r\n?|\n")  # markdown-it's line breaks (it normalizes them to "\n")
# A line that may close a fence: markdown-it decides, this only says when to ask it.
_CLOSER = re.compile(r"[ \t>]*(`{3,}|~{3,})[ \t]*")
_JSON_LANGS = ("json",)


@dataclass(frozen=True)
class CodeBlock:
    """A fenced or indented code block, as the renderer sees it."""

    code: str  # the content, each line ended by "\n", container indentation and quote markers removed
    info: str  # the info string, unescaped and stripped ("python title=x"); "" if none
    lang: str  # its first word, as the renderer's `language-` class ("python")
    start: int  # first line (0-based): the opening fence, for a fenced block
    end: int  # the line after the block: after the closing fence, when it has one
    fenced: bool
    closed: bool  # has its closing fence (an unclosed fence runs to the end of its container)


def code_blocks(text: str) -> list[CodeBlock]:
    """Every code block in ``text`` (in lists and quotes too), in order."""
    return [_block(token) for token in _block_tokens(text) if token.type in ("fence", "code_block")]


def load_json(text: str) -> Any:
    """``json.loads`` of a JSON answer, or of the fenced block a model wrapped it in.

    The answer is parsed as it is first (what JSON mode returns: no markdown parse on
    the common path); when that fails, the first ```json block, or else the first
    fenced block, is parsed instead. Raises ValueError like ``json.loads``.
    """
    try:
        return json.loads(text)
    except ValueError:
        fenced = [block for block in code_blocks(text) if block.fenced]
        if not fenced:
            raise
    chosen = next((b for b in fenced if b.lang.lower() in _JSON_LANGS), fenced[0])
    return json.loads(chosen.code)


def split_paragraphs(text: str) -> tuple[str, str]:
    """Split streamed markdown into (finished blocks, unfinished tail).

    A block ends at a blank line outside a fenced code block, so that code with
    blank lines is never rendered half-way; only complete lines count.
    """
    cut = BlockSplitter().cut(text)
    return text[:cut], text[cut:]


class _Open:
    """The unclosed fence the text ends in: what its closing fence could look like."""

    def __init__(self, marker: str, column: int) -> None:
        self.char, self.length, self.column = marker[0], len(marker), column

    def may_close(self, line: str) -> bool:
        # A closing fence is indented at most 3 spaces past its container's content,
        # which starts at or before the opening fence's column: no real one is skipped.
        m = _CLOSER.fullmatch(line)
        return bool(m and m.group(1)[0] == self.char and len(m.group(1)) >= self.length
                    and m.start(1) <= self.column + 3)


class BlockSplitter:
    """`split_paragraphs` for a text that grows at its end, in linear time.

    The live view asks after every streamed newline. Parsing the whole unfinished
    text each time would be quadratic in a long code block, so markdown-it parses
    the text since the last cut only when a cut may have become possible: at a
    blank line while the text doesn't end inside a fence, or at a line that may
    close the open fence. Cuts always come from markdown-it; the cheap line test
    only decides when to ask. A fence that ends without a closing fence (its list
    item ended) is noticed at the latest once the text has doubled since the last
    parse, so the parsing stays linear overall.
    """

    def __init__(self) -> None:
        self._scanned = 0  # the complete lines before this offset have been looked at
        self._open: _Open | None = None  # the fence the text ended in, at the last parse
        self._parsed = 0  # the length of the text kept at the last parse

    def cut(self, text: str) -> int:
        """Where the finished blocks of ``text`` end (0: none are).

        ``text`` is the last call's text minus what it cut, plus what arrived since.
        """
        end = text.rfind("\n", self._scanned) + 1
        if end <= self._scanned:
            return 0
        lines = _NEWLINE.split(text[self._scanned : end])[:-1]
        self._scanned = end
        if self._open is None:
            ask = any(not line.strip(" \t") for line in lines)
        else:
            ask = any(map(self._open.may_close, lines)) or end >= 2 * self._parsed
        if not ask:
            return 0
        cut = self._parse(text[:end])
        self._scanned -= cut
        self._parsed = end - cut
        return cut

    def _parse(self, text: str) -> int:
        """The cut after the last blank line outside a fence; notes the fence left open."""
        fences = [t for t in _block_tokens(text) if t.type == "fence"]
        starts = [0] + [m.end() for m in _NEWLINE.finditer(text)]  # each line's offset, and the end
        in_fence = [False] * len(starts)
        for token in fences:
            first, after = token.map
            in_fence[first:after] = [True] * (after - first)
        cut = 0
        for i in range(len(starts) - 1):
            if not in_fence[i] and not text[starts[i] : starts[i + 1]].strip(" \t\r\n"):
                cut = starts[i + 1]
        self._open = None
        for token in fences:
            if token.map[1] == len(starts) - 1 and not _block(token).closed:  # it runs to the end
                opener = text[starts[token.map[0]] : starts[token.map[0] + 1]]
                self._open = _Open(token.markup, opener.find(token.markup[0]))
        return cut


def _block(token: Any) -> CodeBlock:
    from markdown_it.common.utils import unescapeAll

    fenced = token.type == "fence"
    info = unescapeAll(token.info).strip() if fenced else ""
    start, end = token.map
    # markdown-it's content is one "\n"-ended line per line between the fences.
    closed = not fenced or token.content.count("\n") == end - start - 2
    return CodeBlock(token.content, info, info.split(maxsplit=1)[0] if info else "", start, end, fenced, closed)


def _block_tokens(text: str) -> list[Any]:
    """markdown-it's block tokens (no inline parse: fences are block structure)."""
    md = sanitize.markdown_parser()
    src = _NEWLINE.sub("\n", text).replace("\0", "\ufffd")  # markdown-it's own normalization
    if not src.endswith("\n"):  # CommonMark ignores a final newline; with it, each line ends in one
        src += "\n"
    tokens: list[Any] = []
    md.block.parse(src, md, {}, tokens)
    return tokens


__all__ = ["BlockSplitter", "CodeBlock", "code_blocks", "load_json", "split_paragraphs"]

"""Code fences read by CommonMark's rules (issue 25): `-f code`, fenced JSON answers, the
live view's paragraphs, and the fences `%kimi fix` writes around the user's cell.

The cases marked "old:" are ones the hand-written readers (a regex, `startswith("```")`,
a line toggle) got wrong: there, the code a user saw rendered as one block was cut, or
text after a fence was taken as code.
"""

from __future__ import annotations

import linecache
import sys

import pytest
from markdown_it import MarkdownIt

from kimi_jupyter.core import fences
from kimi_jupyter.core.agent import _parse_json
from kimi_jupyter.api import extract_code
from kimi_jupyter.batch.schema import SchemaError, parse_json
from kimi_jupyter.core.fences import BlockSplitter, code_blocks
from kimi_jupyter.views.base import RecordingView
from kimi_jupyter.views.widget import split_paragraphs


def _blocks(text: str) -> list[tuple[str, str, bool]]:
    return [(b.lang, b.code, b.closed) for b in code_blocks(text)]


# ---------------------------------------------------------------- CommonMark's rules
def test_an_unclosed_fence_runs_to_the_end() -> None:
    assert _blocks("Here:\n\n```python\nx = 1\n\nmore") == [("python", "x = 1\n\nmore\n", False)]
    assert _blocks("```\n") == [("", "", False)]


def test_a_closing_fence_is_as_long_as_the_opening_and_of_its_character() -> None:
    text = "````md\n```\nnot the end\n~~~~\n````\nafter"
    assert _blocks(text) == [("md", "```\nnot the end\n~~~~\n", True)]
    assert _blocks("~~~\n```\n~~~~~\nafter") == [("", "```\n", True)]  # a longer closer closes
    assert _blocks("```\nx\n``` python\n```\n") == [("", "x\n``` python\n", True)]  # a closer holds no info


def test_a_fence_is_indented_at_most_three_spaces() -> None:
    # Its content loses up to as many spaces as the opening fence had.
    assert _blocks("   ```py\n   a\n     b\n   ```\n") == [("py", "a\n  b\n", True)]
    (block,) = code_blocks("    ```py\n    a\n")  # four: indented code, backticks and all
    assert (block.fenced, block.code) == (False, "```py\na\n")


def test_the_info_string_and_its_first_word() -> None:
    (block,) = code_blocks("```python title=x &amp; y\nprint(1)\n```")
    assert (block.lang, block.info, block.code) == ("python", "python title=x & y", "print(1)\n")
    assert code_blocks("```py``` is inline code, not a fence\n") == []  # backtick info holds no backtick
    assert _blocks("~~~ a`b\nx\n~~~") == [("a`b", "x\n", True)]  # a tilde fence's may


def test_fences_in_lists_and_quotes_lose_their_container() -> None:
    text = "1. Save it:\n\n   ```python\n   def f():\n       return 1\n   ```\n\n> ~~~sh\n> ls\n> ~~~\n"
    assert _blocks(text) == [("python", "def f():\n    return 1\n", True), ("sh", "ls\n", True)]
    blocks = code_blocks(text)
    assert [(b.start, b.end) for b in blocks] == [(2, 6), (7, 10)]


def test_crlf_and_cr_line_breaks() -> None:
    assert _blocks("```python\r\nx = 1\r\n```\r\nafter\r\n") == [("python", "x = 1\n", True)]
    assert _blocks("```\rx\r```\r") == [("", "x\n", True)]


# ---------------------------------------------------------------- -f code
@pytest.mark.parametrize("answer, code", [
    # old: a closer longer than the opener was not seen, so the whole answer came back
    ("Run:\n\n`````python\nx = 1\n``````\nThen look.", "x = 1"),
    # old: an unclosed fence (an answer cut at max_tokens) gave back the prose and the fence line
    ("Here is the start:\n\n```python\ndef f():\n    return 1\n", "def f():\n    return 1"),
    # old: a fence in a list item or a quote was missed
    ("1. Save it:\n\n   ```python\n   def f():\n       return 1\n   ```\n2. Run it.", "def f():\n    return 1"),
    ("> ```python\n> x = 1\n> ```", "x = 1"),
    # old: with CRLF line breaks no closing fence matched
    ("```python\r\nx = 1\r\n```\r\n", "x = 1"),
    # old: inline ```x``` at a line's start opened a "fence" that swallowed the real one
    ("```x``` does that.\n\n```python\ny = 2\n```\n", "y = 2"),
    ("~~~python\ns = '''\n```\n'''\n~~~\n", "s = '''\n```\n'''"),
    # kept: Python blocks first, then every block, then the whole text
    ("```sh\npip install x\n```\n\n```python\nimport x\n```\n\n```py\nx.go()\n```", "import x\n\nx.go()"),
    ("```sh\nls\n```\n\n```\npwd\n```", "ls\n\npwd"),
    ("  just text  \n", "just text"),
    # kept: bare code is all code, though markdown reads its indented line after a blank as a block
    ("def f():\n    x = 1\n\n    return x\n", "def f():\n    x = 1\n\n    return x"),
])
def test_format_code_takes_the_blocks_the_user_sees(answer: str, code: str) -> None:
    assert extract_code(answer) == code


# ---------------------------------------------------------------- fenced JSON answers
@pytest.mark.parametrize("answer", [
    '{"a": [1, "```"]}',
    '```json\n{"a": [1, "```"]}\n```',
    '~~~json\n{"a": [1, "```"]}\n~~~',  # old: only backticks were unwrapped
    '```json\n{"a": [1, "```"]}\n```\nThat is the object.',  # old: the prose after it stayed
    'Here you go:\n\n```JSON\n{"a": [1, "```"]}\n```',  # old: a sentence before it
    '```text\nnot this\n```\n\n```json\n{"a": [1, "```"]}\n```',  # the json block, not the first
])
def test_a_json_answer_may_come_fenced(answer: str) -> None:
    assert parse_json(answer) == {"a": [1, "```"]}
    view = RecordingView()
    assert _parse_json(answer, view) == {"a": [1, "```"]}
    assert view.events == []


def test_an_answer_that_is_not_json_is_one_clear_error() -> None:
    for answer in ("positive", "```json\n{oops}\n```", "```\n"):
        with pytest.raises(SchemaError, match="not valid JSON"):
            parse_json(answer)
        view = RecordingView()
        assert _parse_json(answer, view) is None
        assert [name for name, _ in view.events] == ["notice"]


# ---------------------------------------------------------------- the live view's paragraphs
@pytest.mark.parametrize("text, done", [
    ("One.\n\nTwo", "One.\n\n"),
    ("```\nopen\n\nstill code\n", ""),
    # old: the toggle left the fence at a shorter or other fence line, and cut the code there
    ("````\n```\n\ncode\n````\n\nafter", "````\n```\n\ncode\n````\n\n"),
    ("~~~\n```\n\nx\n~~~\n\nnext\n", "~~~\n```\n\nx\n~~~\n\n"),
    ("```\nx\n``` python\n\ny\n```\n\nz", "```\nx\n``` python\n\ny\n```\n\n"),
    # old: inline ```x``` or indented backticks "opened" a fence, and nothing after was rendered
    ("```x``` is inline\n\nnext\n\nlast", "```x``` is inline\n\nnext\n\n"),
    ("    ```\n    indented code\n\nnext\n\nlast", "    ```\n    indented code\n\nnext\n\n"),
])
def test_a_paragraph_ends_at_a_blank_line_outside_a_fence(text: str, done: str) -> None:
    assert split_paragraphs(text) == (done, text[len(done):])


ANSWER = (
    "Intro with `code`.\nSecond line.\n\n"
    "````markdown\nAn unclosed fence, shown in a fence:\n\n```python\nx = 1\n\nstill inside\n````\n\n"
    "1. First step:\n\n   ```python\n   def f():\n\n       return 1\n   ```\n\n2. Second step.\n\n"
    "> ~~~\n> quoted\n>\n> ~~~\n\n"
    "~~~ py\nunclosed = True\n\nto the end\n"
)


def _stream(text: str, size: int, splitter: BlockSplitter | None = None) -> list[str]:
    """What the live view renders: the pieces a splitter cuts as `size`-character deltas arrive."""
    splitter = splitter or BlockSplitter()
    pieces, tail = [], ""
    for i in range(0, len(text), size):
        tail += text[i : i + size]
        cut = splitter.cut(tail)
        if cut:
            pieces.append(tail[:cut])
            tail = tail[cut:]
    return pieces + [tail]


def _stream_whole(text: str, size: int) -> list[str]:
    """The same, asking `split_paragraphs` about the whole tail at every delta."""
    pieces, tail = [], ""
    for i in range(0, len(text), size):
        tail += text[i : i + size]
        done, tail = split_paragraphs(tail)
        if done:
            pieces.append(done)
    return pieces + [tail]


@pytest.mark.parametrize("size", [1, 2, 7, 40, len(ANSWER)])
def test_streamed_cuts_are_the_whole_text_rules(size: int) -> None:
    pieces = _stream(ANSWER, size)
    assert pieces == _stream_whole(ANSWER, size)
    assert "".join(pieces) == ANSWER
    md = MarkdownIt("commonmark")
    for piece in pieces[:-1]:  # each finished piece renders its fences whole
        whole = [t.content for t in md.parse(ANSWER) if t.type == "fence"]
        assert all(t.content in whole for t in md.parse(piece) if t.type == "fence"), piece


def test_a_fence_ended_by_its_list_item_is_cut_after_all() -> None:
    # No closing fence: the list item ends it. The cheap line test can't see that; a
    # parse once the text has doubled does, and the paragraphs after it are cut again.
    text = "- a\n  ```\n  code\n\nnot in the list\n\n" + "More text.\n\n" * 20
    pieces = _stream(text, 3)
    assert "".join(pieces) == text and pieces[-1] == ""
    assert pieces[0].startswith("- a\n  ```\n  code\n\nnot in the list\n\n") and len(pieces) > 15, pieces


def test_streaming_parses_each_character_a_bounded_number_of_times(monkeypatch: pytest.MonkeyPatch) -> None:
    # A 3,000-line code block with blank lines, line by line: asking markdown-it about the
    # whole unfinished tail at every line would parse ~4,500 times the text.
    parsed: list[int] = []
    real = fences._block_tokens
    monkeypatch.setattr(fences, "_block_tokens", lambda text: parsed.append(len(text)) or real(text))
    body = "".join(f"x{i} = {i}\n" + ("\n" if i % 3 == 0 else "") for i in range(3000))
    text = "Intro.\n\n```python\n" + body + "```\n\nAfter.\n\n" + "A paragraph.\n\n" * 200
    pieces = _stream(text, 9)
    assert "".join(pieces) == text and len(pieces) > 200
    assert sum(parsed) <= 4 * len(text), (sum(parsed), len(text))


def test_the_live_reply_renders_code_whole() -> None:
    from kimi_jupyter.views.live import LiveReply

    reply = LiveReply("Thinking")
    rendered: list[str] = []
    reply._render = rendered.append
    try:
        for i in range(0, len(ANSWER), 5):
            reply.content(ANSWER[i : i + 5])
        reply.finish_answer()
        assert "".join(rendered) == ANSWER
        # old: the line toggle left the fence at ```python and cut the block at the blank line
        assert "````markdown\nAn unclosed fence, shown in a fence:\n\n```python\nx = 1\n\nstill inside\n````\n\n" in rendered
        assert rendered[-1] == "~~~ py\nunclosed = True\n\nto the end\n"
        reply.reset("Thinking")  # a new reply starts with a fresh splitter
        rendered.clear()
        reply.content("New.\n\nAnd more")
        assert rendered == ["New.\n\n"]
    finally:
        reply.close()


# ---------------------------------------------------------------- %kimi fix writes fences that hold
def test_the_fix_prompt_keeps_a_cell_and_traceback_with_backticks_in_their_fences(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from kimi_jupyter.ipython.fix import fix_prompt

    filename = "<ipython-input-7-fences>"  # how IPython names a cell, so fix finds its source
    cell = 'doc = """\n```\n# not the end of the cell\n"""\nraise ValueError("bad ``` in " + doc)'
    monkeypatch.setitem(linecache.cache, filename, (len(cell), None, cell.splitlines(keepends=True), filename))
    with pytest.raises(ValueError) as raised:
        exec(compile(cell, filename, "exec"), {})
    monkeypatch.setattr(sys, "last_exc", raised.value, raising=False)
    monkeypatch.setattr(sys, "last_value", raised.value, raising=False)
    prompt = fix_prompt()
    assert prompt is not None
    tokens = MarkdownIt("commonmark").parse(prompt)
    shown = [(t.info, t.content) for t in tokens if t.type == "fence"]
    assert len(shown) == 2, shown  # old: the cell's ``` closed its fence and opened another
    assert shown[0] == ("python", cell + "\n")
    assert shown[1][1].startswith("Traceback")
    assert shown[1][1].endswith('ValueError: bad ``` in \n```\n# not the end of the cell\n')
    paragraphs = [t.content for t in tokens if t.type == "inline"]
    assert paragraphs[-1] == "The traceback:"  # nothing after the last fence is outside it

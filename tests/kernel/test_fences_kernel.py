"""Fences in a real kernel (issue 25): `%kimi fix` sends the user's cell and traceback in
fences that hold whatever backticks they contain, and `-f code` puts below the code the
user saw rendered, from a fence inside a numbered list."""

from __future__ import annotations

from markdown_it import MarkdownIt

from kimi_jupyter.testing import Scenario, ScriptedTurn

CELL = 'doc = """\n```\nnot the end of the cell\n"""\nraise ValueError("bad ``` here")'
LIST_ANSWER = "1. Define it:\n\n   ```python\n   def add(a, b):\n       return a + b\n   ```\n\n2. Call `add(1, 2)`."


def test_kimi_fix_keeps_backticks_in_the_cell_and_traceback_inside_their_fences(kernel, kimi_server):
    assert not kernel.execute(CELL).ok
    kernel.run("%kimi fix")
    prompt = [m for m in kimi_server.requests[-1]["messages"] if m["role"] == "user"][-1]["content"]
    tokens = MarkdownIt("commonmark").parse(prompt)
    shown = [(t.info, t.content) for t in tokens if t.type == "fence"]
    # The old bare ``` fences ended at the cell's own ``` line: the rest of the cell, and
    # the traceback's fence, were read inside out.
    assert [info for info, _ in shown] == ["python", ""], shown
    assert shown[0][1] == CELL + "\n"
    assert shown[1][1].startswith("Traceback") and shown[1][1].endswith("ValueError: bad ``` here\n")


def test_format_code_takes_a_fence_inside_a_numbered_list(kernel, kimi_server):
    kimi_server.add_scenario(Scenario("numbered_code", [ScriptedTurn(reasoning="Two steps.", content=LIST_ANSWER)],
                                      match=r"in numbered steps"))
    run = kernel.execute("%%kimi -f code -n\nShow me an add function in numbered steps")
    assert run.ok, run.text
    (below,) = [p for p in run.payloads if p["source"] == "set_next_input"]
    # The old regex wanted the fence at the line's start: it put the whole answer below.
    assert below["text"] == "def add(a, b):\n    return a + b"

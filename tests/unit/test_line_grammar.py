"""`%kimi` line grammar: a line is a subcommand only when the whole line is one (issue 25 #3)."""

from __future__ import annotations

import pytest

from kimi_jupyter.ipython.commands import SUBCOMMANDS, parse_line


@pytest.mark.parametrize("line, expected", [
    ("reset", ("reset", [])),
    ("history", ("history", [])),
    ("export out.ipynb", ("export", ["out.ipynb"])),
    ("export", ("export", [])),  # the handler then says how to give the path
    ("record stop", ("record", ["stop"])),
    ("record /tmp/a.jsonl", ("record", ["/tmp/a.jsonl"])),
    ("reset the index of a pandas DataFrame: how", (None, "reset the index of a pandas DataFrame: how".split())),
    ("history of the roman empire", (None, ["history", "of", "the", "roman", "empire"])),
    ("models compared: which is best?", (None, ["models", "compared:", "which", "is", "best?"])),
    ("usage of numpy.where", (None, ["usage", "of", "numpy.where"])),
    ("fix this loop", (None, ["fix", "this", "loop"])),
    ("export my data to csv", (None, ["export", "my", "data", "to", "csv"])),
    ("what is a DataFrame", (None, ["what", "is", "a", "DataFrame"])),
    ("ask reset", (None, ["reset"])),
    ("ask", (None, [])),
])
def test_parse_line(line, expected):
    assert parse_line(line.split()) == expected


def test_every_subcommand_alone_is_the_command_and_with_a_sentence_a_question():
    for name in SUBCOMMANDS:
        assert parse_line([name]) == (name, [])
        assert parse_line([name, "the", "whole", "thing", "please"])[0] is None


@pytest.mark.parametrize("lines, expected", [
    (["%kimi what is a DataFrame?\n"], ["get_ipython().run_line_magic('kimi', 'what is a DataFrame?')\n"]),
    (["x = 1\n", "  %kimi why 'this'?"], ["x = 1\n", "  get_ipython().run_line_magic('kimi', \"why 'this'?\")"]),
    (["%kimi?\n"], ["%kimi?\n"]),  # IPython's help for the magic
    (["%kimi??\n"], ["%kimi??\n"]),
    (["%kimi reset\n"], ["%kimi reset\n"]),
    (["df?\n"], ["df?\n"]),
    (["%%kimi\n", "%kimi what?\n"], ["%%kimi\n", "%kimi what?\n"]),  # a cell magic's body is its own
])
def test_question_mark_lines_are_questions_not_help(lines, expected):
    from kimi_jupyter.ipython.magics import keep_question_marks

    assert keep_question_marks(lines) == expected

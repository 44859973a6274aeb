"""`%kimi` lines in a real kernel: a question that starts with a subcommand's word asks (issue 25 #3)."""

from __future__ import annotations

from conftest import output_text, run_notebook


def _users(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


def test_a_question_starting_with_a_subcommand_word_is_asked_not_run(kimi_kernel_env, tmp_path):
    export = tmp_path / "conv.ipynb"
    nb = run_notebook([
        "%load_ext kimi_jupyter",
        "%%kimi\nfirst question",
        "%kimi reset the index of a pandas DataFrame: how",
        "%kimi history of the roman empire, briefly",
        "%kimi ask usage",
        "%kimi what does  -n  do in %%kimi?",  # an option's name inside a question is text; `?` isn't help
        "%kimi export",
        f"%kimi export {export}",
        "%kimi reset",
        "%kimi fresh start",
    ], tmp_path)
    requests = kimi_kernel_env.requests
    assert [_users(r)[-1] for r in requests] == [
        "first question", "reset the index of a pandas DataFrame: how", "history of the roman empire, briefly",
        "usage", "what does  -n  do in %%kimi?", "fresh start",
    ]
    # The conversation was kept through the questions, and only the bare `reset` wiped it.
    assert _users(requests[3]) == ["first question", "reset the index of a pandas DataFrame: how",
                                   "history of the roman empire, briefly", "usage"]
    assert len(_users(requests[4])) == 5  # `-n` in the question started nothing new
    assert _users(requests[5]) == ["fresh start"]
    assert "Started a new conversation" not in output_text(nb.cells[2])
    assert "UsageError: Usage: %kimi export PATH.ipynb" in output_text(nb.cells[6])
    assert export.exists() and "Wrote 5 exchanges" in output_text(nb.cells[7])
    assert "Started a new conversation (forgot 10 messages)" in output_text(nb.cells[8])


def test_help_says_how_lines_are_read(kimi_kernel_env, tmp_path):
    nb = run_notebook(["%load_ext kimi_jupyter", "%kimi help"], tmp_path)
    text = output_text(nb.cells[1])
    assert "only when the" in text and "%kimi ask WORDS" in text


def test_quoted_option_values_lose_their_quotes(kimi_kernel_env, tmp_path):
    run_notebook(["%load_ext kimi_jupyter", '%%kimi -s "Be brief, please."\nhi',
                  "%kimi -n -s 'Answer in French.' what is {1+1}?"], tmp_path)
    systems = [[m["content"] for m in r["messages"] if m["role"] == "system"] for r in kimi_kernel_env.requests]
    assert systems == [["Be brief, please."], ["Answer in French."]]
    assert [m["content"] for m in kimi_kernel_env.requests[1]["messages"] if m["role"] == "user"] == ["what is {1+1}?"]

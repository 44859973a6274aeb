"""Tutor mode in real kernels: the instructor's notes and the hint rung reach the model, never the student."""

from __future__ import annotations

import json

import nbformat
from conftest import make_notebook, output_text, run_notebook

from kimi_jupyter.testing.kernel import notebook_client

GOAL = "GOAL-understand-loop-termination"
SECRET = "SECRET-do-not-reveal-the-decrement"
SOLUTION = "SOLUTION-n-minus-equals-one"
TUTOR_MD = f"""# Exercise 3: loops

Learning goals: {GOAL}

Do not reveal: {SECRET}

Reference solution:

    while n > 0:
        n -= 1  # {SOLUTION}
"""
MARKERS = (GOAL, SECRET, SOLUTION)


def _footers(cell) -> list[str]:
    return [o["data"]["text/plain"] for o in cell.outputs
            if o.get("metadata", {}).get("kimi_jupyter", {}).get("part") == "footer"]


def _tool_names(body) -> list[str]:
    return [t["function"]["name"] for t in body.get("tools") or () if t.get("type") == "function"]


def test_notes_and_rung_reach_the_model_and_never_the_student(kimi_kernel_env, tmp_path):
    (tmp_path / "TUTOR.md").write_text(TUTOR_MD, encoding="utf-8")
    nb = run_notebook(
        [
            "%load_ext kimi_jupyter",
            "def countdown(n):\n    while n > 0:\n        print(n)",
            "%%kimi --tutor -o first\nWhy does my loop never end?",
            "%%kimi --tutor\nI still don't see it.",
            "%kimi hint",
            "%kimi hint",
            "%kimi hint",
            "%kimi history",
            "print(first.messages, first.content, first.footer())",
            "%kimi export exported.ipynb",
            "%%kimi --tutor --new\nA new exercise: why is my list empty?",
        ],
        tmp_path, timeout=120,
    )
    cells = nb.cells
    for cell in cells:
        assert not [o for o in cell.outputs if o["output_type"] == "error"], (cell.source, output_text(cell))
    # The footer climbs the ladder, one rung a cell, and stays on the last; --new starts over.
    rungs = [_footers(c) for c in (cells[2], cells[3], cells[4], cells[5], cells[6], cells[10])]
    for footers, n in zip(rungs, (1, 2, 3, 4, 4, 1)):
        assert len(footers) == 1 and footers[0].endswith(f"hint {n} of 4"), footers

    requests = kimi_kernel_env.requests
    assert len(requests) == 6
    for body, n in zip(requests, (1, 2, 3, 4, 4, 1)):
        first, last = body["messages"][0], body["messages"][-1]
        # The notes go first, as a system message, in every request...
        assert first["role"] == "system" and all(m in first["content"] for m in MARKERS)
        # ...and the rung after the student's question.
        assert last["role"] == "system" and f"hint {n} of 4" in last["content"]
        assert body["messages"][-2]["role"] == "user"
        # The code tool is off (the notes don't allow it); the read-only tools stay on.
        names = _tool_names(body)
        assert "python" not in names and {"inspect_variable", "list_variables"} <= set(names), names
    # The hidden messages are sent, not kept: each request holds the notes once, not once per cell.
    assert sum(m["role"] == "system" for m in requests[4]["messages"]) == 2
    assert "I'm still stuck" in requests[2]["messages"][-2]["content"]  # `%kimi hint` asked for more

    # Nothing the student sees holds the notes: outputs, history, the Result, the export, the saved file.
    saved = (tmp_path / "executed.ipynb").read_text(encoding="utf-8")
    exported = (tmp_path / "exported.ipynb").read_text(encoding="utf-8")
    for text in (saved, exported, output_text(cells[7]), output_text(cells[8])):
        for marker in MARKERS:
            assert marker not in text
    assert "hint 1 of 4" in output_text(cells[8])  # the Result's own footer says the rung too


def test_the_code_tool_is_off_unless_the_notes_allow_it(kimi_kernel_env, tmp_path):
    (tmp_path / "TUTOR.md").write_text(TUTOR_MD, encoding="utf-8")
    nb = run_notebook(
        [
            "%load_ext kimi_jupyter",
            # The model calls the code tool anyway: the call is refused, nothing runs in the kernel.
            "%%kimi --tutor -y\nLet the two tool calls share state.",
            "print('shared_value' in globals())",
            # Without tutor mode the same request may run code.
            "%%kimi -y --new\nLet the two tool calls share state.",
            "print(shared_value)",
        ],
        tmp_path, timeout=120,
    )
    tutored, check, plain, value = nb.cells[1:]
    assert "code tool is off in tutor mode" in json.dumps(kimi_kernel_env.requests[1]["messages"])
    assert output_text(check).strip() == "False"
    assert "python" in _tool_names(kimi_kernel_env.requests[-1])
    assert output_text(value).strip() == "41"


def test_notes_from_notebook_metadata_can_allow_the_code_tool(kimi_kernel_env, tmp_path, monkeypatch):
    nb = make_notebook(["%load_ext kimi_jupyter", "%config Kimi.tutor = True", "%%kimi\nWhy is my sum wrong?"])
    nb.metadata["kimi_jupyter"] = {"tutor": {"goals": [GOAL], "do_not_reveal": SECRET, "solution": SOLUTION,
                                             "code_tool": True}}
    path = tmp_path / "exercise.ipynb"
    nbformat.write(nb, path)
    # What Jupyter Server tells a notebook's kernel: its path, relative to the server's root.
    monkeypatch.setenv("JPY_SESSION_NAME", "exercise.ipynb")
    notebook_client(nb, tmp_path, timeout=120).execute()
    (body,) = kimi_kernel_env.requests
    assert all(m in body["messages"][0]["content"] for m in MARKERS)
    assert "python" in _tool_names(body)  # the metadata allows it
    assert _footers(nb.cells[2])[0].endswith("hint 1 of 4")
    for marker in MARKERS:
        assert marker not in json.dumps([c.outputs for c in nb.cells])

"""Hostile servers, odd model output and careless exports (issue 24 #8-#13), in real kernels."""

from __future__ import annotations

import json

import nbformat

from kimi_jupyter.testing import Fault, Scenario, ScriptedTurn, ToolCallSpec

from conftest import make_notebook, output_text, run_notebook

# Model code that leaves a mark in the working directory if it ever runs.
MARK_CODE = "open('model_code_ran.txt', 'w').write('ran')"


def test_export_keeps_declined_code_as_text_so_run_all_does_not_run_it(kimi_kernel_env, tmp_path):
    from kimi_jupyter.testing.kernel import notebook_client

    kimi_kernel_env.add_scenario(Scenario("leave_a_mark", [
        ScriptedTurn(reasoning="I'll leave a mark.", tool_calls=[ToolCallSpec("python", json.dumps({"code": MARK_CODE}))]),
        ScriptedTurn(reasoning="It was not run.", content="I could not run it."),
    ]))
    export = tmp_path / "conv.ipynb"
    # Headless (nbclient has no stdin): the code can't be asked about, so it is not run.
    nb = make_notebook(["%load_ext kimi_jupyter", "%%kimi\n[[scenario:leave_a_mark]] go", f"%kimi export {export}"])
    notebook_client(nb, tmp_path, timeout=60, allow_errors=True).execute()
    assert "not run" in output_text(nb.cells[1]).lower()
    assert not (tmp_path / "model_code_ran.txt").exists()

    exported = nbformat.read(export, as_version=4)
    assert all(MARK_CODE not in c.source for c in exported.cells if c.cell_type == "code")
    (declined,) = [c for c in exported.cells if MARK_CODE in c.source]
    assert declined.cell_type == "markdown" and "not run" in declined.source
    assert declined.metadata["kimi_jupyter"]["declined"] is True

    # Run All on the export, as a reader would: the declined code stays text.
    notebook_client(exported, tmp_path, timeout=60).execute()
    assert not (tmp_path / "model_code_ran.txt").exists()


def test_export_keeps_code_the_user_refused_as_text(kimi_kernel_env, tmp_path):
    from kimi_jupyter.testing.kernel import Kernel

    kimi_kernel_env.add_scenario(Scenario("leave_a_mark", [
        ScriptedTurn(reasoning="I'll leave a mark.", tool_calls=[ToolCallSpec("python", json.dumps({"code": MARK_CODE}))]),
        ScriptedTurn(reasoning="It was not run.", content="I could not run it."),
    ]))
    export = tmp_path / "conv.ipynb"
    with Kernel() as kernel:
        kernel.run(f"import os; os.chdir({str(tmp_path)!r})\n%load_ext kimi_jupyter")
        run = kernel.execute("%%kimi\n[[scenario:leave_a_mark]] go", answers=["n"])
        assert run.ok and run.prompts, run.text  # the user was asked, and said no
        kernel.run(f"%kimi export {export}")
    assert not (tmp_path / "model_code_ran.txt").exists()
    exported = nbformat.read(export, as_version=4)
    (declined,) = [c for c in exported.cells if MARK_CODE in c.source]
    assert declined.cell_type == "markdown" and "not run" in declined.source
    assert "The user declined" in declined.source  # what the model was told is kept beside it


# ---------------------------------------------------------------- hostile streams
def _errors(cell) -> list[str]:
    return [f"{o['ename']}: {o['evalue']}" for o in cell.outputs if o["output_type"] == "error"]


BEFORE = "I looked at the data first. " * 3  # arrives, and must stay, before the bad part


def _raw(name: str, payload: str) -> Scenario:
    return Scenario(name, [ScriptedTurn(reasoning=BEFORE, content="The rest of the answer.",
                                        fault=Fault("raw_event", payload=payload, after_chars=len(BEFORE), times=99))])


MALFORMED = {
    "number_reasoning": '{"choices":[{"index":0,"delta":{"reasoning_content":12345}}]}',
    "list_content": '{"choices":[{"index":0,"delta":{"content":["a","b"]}}]}',
    "string_index": '{"choices":[{"index":0,"delta":{"tool_calls":['
                    '{"index":0,"id":"c0","type":"function","function":{"name":"python","arguments":"{}"}},'
                    '{"index":"1","id":"c1","type":"function","function":{"name":"python","arguments":"{}"}}]}}]}',
}


def test_malformed_chunks_are_one_clear_line_and_what_arrived_is_kept(kimi_kernel_env, tmp_path):
    for name, payload in MALFORMED.items():
        kimi_kernel_env.add_scenario(_raw(name, payload))
    cells = ["%load_ext kimi_jupyter"]
    for name in MALFORMED:
        cells += [f"%%kimi -n\n[[scenario:{name}]] go", "%%kimi\nWhat was my first question?"]
    nb = run_notebook(cells + ["print('kernel alive')"], tmp_path)
    for i, name in enumerate(MALFORMED):
        cell, follow = nb.cells[1 + 2 * i], nb.cells[2 + 2 * i]
        errors = _errors(cell)
        assert len(errors) == 1 and "the server sent a malformed chunk" in errors[0].lower(), (name, errors)
        assert "Msh-Request-Id" in errors[0], errors  # what support needs, where the server sent one
        text = output_text(cell)
        assert "Traceback" not in text and "TypeError" not in text, (name, text)
        assert "I looked at the data first." in text, name  # what arrived before is kept
        assert "go" in output_text(follow) and not _errors(follow), name  # the history is still valid
    assert output_text(nb.cells[-1]).strip() == "kernel alive"


SURROGATE = '{"choices":[{"index":0,"delta":{"content":"answer \\udfff end"}}]}'


def test_a_lone_surrogate_is_replaced_and_the_conversation_stays_valid(kimi_kernel_env, tmp_path):
    kimi_kernel_env.add_scenario(_raw("surrogate", SURROGATE))
    nb = run_notebook([
        "%load_ext kimi_jupyter",
        "%%kimi -o r\n[[scenario:surrogate]] go",
        "print(ascii(r.content))",
        "%%kimi\nWhat was my first question?",
        # chat() (terminal IPython and scripts) keeps its own conversation: the same holds there.
        "import kimi_jupyter\nc = kimi_jupyter.chat('[[scenario:surrogate]] again', new=True)\n"
        "print(ascii(c.content))\nprint(kimi_jupyter.chat('What was my first question?').content)",
    ], tmp_path)
    for cell in nb.cells[1:]:
        assert not _errors(cell), output_text(cell)
    assert "answer \ufffd end" in output_text(nb.cells[1])
    assert output_text(nb.cells[2]).strip() == ascii("answer \ufffd endThe rest of the answer.")
    assert "Your first question was: [[scenario:surrogate]] go" in output_text(nb.cells[3])
    last = output_text(nb.cells[4])
    assert ascii("answer \ufffd endThe rest of the answer.") in last, last
    assert "Your first question was: [[scenario:surrogate]] again" in last


def test_an_endless_sse_line_is_cut_at_16_mb_with_one_clear_message(kimi_kernel_env, tmp_path):
    kimi_kernel_env.add_scenario(Scenario("endless", [ScriptedTurn(
        reasoning=BEFORE, content="never shown",
        fault=Fault("endless_line", size=20 * 2**20, after_chars=len(BEFORE)))]))
    nb = run_notebook(["%load_ext kimi_jupyter", "%%kimi\n[[scenario:endless]] go", "print('kernel alive')"],
                      tmp_path)
    errors = _errors(nb.cells[1])
    assert len(errors) == 1 and "larger than 16 MB" in errors[0], errors
    text = output_text(nb.cells[1])
    assert "I looked at the data first." in text and "Traceback" not in text
    assert output_text(nb.cells[2]).strip() == "kernel alive"


# ---------------------------------------------------------------- read-only tools
HOSTILE_SETUP = '''
import pandas as pd
calls = []
class Hostile:
    @property
    def __class__(self):
        calls.append("__class__")
        return Hostile
    def __lt__(self, other):
        calls.append("__lt__")
        return id(self) < id(other)
    def __hash__(self):
        calls.append("__hash__")
        return 1
    def __eq__(self, other):
        calls.append("__eq__")
        return self is other
    def __repr__(self):
        return "Hostile()"
class MyFrame(pd.DataFrame):
    def head(self, n=5):
        calls.append("MyFrame.head")
        return super().head(n)
hostile = Hostile()
keyed = {Hostile(): 1, Hostile(): 2}
frame = MyFrame({"a": [1, 2]})
_token = "tok-private-4242"
calls.clear()
'''


def test_read_only_tools_run_none_of_the_users_dunders_and_hide_private_names(kimi_kernel_env, tmp_path):
    calls = [ToolCallSpec("list_variables", "{}")] + [
        ToolCallSpec("inspect_variable", json.dumps({"name": n})) for n in ("hostile", "keyed", "frame", "_token")]
    kimi_kernel_env.add_scenario(Scenario("peek", [
        ScriptedTurn(reasoning="Let me look at the user's variables.", tool_calls=calls),
        ScriptedTurn(reasoning="Done looking.", content="I looked."),
    ]))
    # No -y: read-only tools run without asking, and headless there is no one to ask anyway.
    nb = run_notebook(["%load_ext kimi_jupyter", HOSTILE_SETUP, "%%kimi\n[[scenario:peek]] go", "print(calls)"],
                      tmp_path)
    assert output_text(nb.cells[3]).strip() == "[]"  # no __class__, __lt__, __hash__, __eq__, head()
    tool_messages = [m for m in kimi_kernel_env.requests[-1]["messages"] if m["role"] == "tool"]
    listing, hostile, keyed, frame, token = (m["content"] for m in tool_messages)
    assert "hostile: " in listing and "_token" not in listing
    assert "Hostile()" in hostile and "Hostile()" in keyed
    assert "head(5):" not in frame  # a subclass is described by its repr, not the library path
    assert "tok-private-4242" not in token and "private name" in token

"""The saved notebook holds only outputs that show something, each with its provenance
(issue 25 #4, SPEC §3): a reply's live output is replaced by its first static bundle,
never left behind emptied. Checked on the file nbclient saves, in real kernels, for the
widget view (short replies that never get the widget and slow ones that do) and the
static view, with thinking on and off.
"""

from __future__ import annotations

import json

import pytest

from kimi_jupyter.testing import Scenario, ScriptedTurn, ToolCallSpec

from conftest import run_notebook


def _py(code: str) -> ToolCallSpec:
    return ToolCallSpec("python", json.dumps({"code": code}))


def six_step_loop() -> Scenario:
    """Six tool steps and an answer: fast and slow replies, with and without reasoning or text."""
    slow = "Let me think this through carefully before the next step. " * 30  # ~1.8k chars at 1000/s
    return Scenario("six_steps", [
        ScriptedTurn(reasoning="Step one.", tool_calls=[_py("n = 1")]),
        ScriptedTurn(reasoning=slow, tool_calls=[_py("n += 1")], cps=1000),
        ScriptedTurn(tool_calls=[_py("n += 1")]),  # no reasoning, no text: a bare tool call
        ScriptedTurn(content="Some text before the call.", tool_calls=[_py("print('n is', n)")]),
        ScriptedTurn(reasoning="Step five.", content="More text.\n\n" + slow, tool_calls=[_py("n += 1")], cps=1000),
        ScriptedTurn(reasoning="Step six.", tool_calls=[_py("n += 1")]),
        ScriptedTurn(reasoning="All done.", content="Ran $step steps; **n** is 5."),
    ], match=r"six steps please")


def _shows_something(out: dict) -> bool:
    if out["output_type"] == "stream":
        return bool(out["text"].strip())
    return any(str(value).strip() for value in out.get("data", {}).values())


def check_saved(cell: dict) -> list[str]:
    """Each output shows something, and each display carries `kimi_jupyter` metadata."""
    parts = []
    for out in cell["outputs"]:
        assert _shows_something(out), f"an empty output was saved: {out}"
        if out["output_type"] in ("display_data", "execute_result"):
            meta = out.get("metadata", {}).get("kimi_jupyter")
            assert meta and meta.get("part"), f"an output without kimi_jupyter metadata: {out}"
            parts.append(meta["part"])
    assert "live" not in parts, parts
    return parts


@pytest.mark.parametrize("view", ["widget", "static"])
def test_a_six_step_loop_saves_no_empty_output(kimi_kernel_env, tmp_path, view):
    kimi_kernel_env.add_scenario(six_step_loop())
    nb = run_notebook(["%load_ext kimi_jupyter", f"%config Kimi.view = '{view}'",
                       "%%kimi -y\nsix steps please"], tmp_path, timeout=120)
    cell = nb.cells[2]
    parts = check_saved(cell)
    # In order: each reply's reasoning (or, for a reply without any, its summary line) where
    # its live output was, then its answer, its code; the footer last.
    assert parts[:2] == ["reasoning", "code"], parts
    assert parts.count("reasoning") == 5 and parts.count("code") == 6 and parts.count("answer") == 3, parts
    assert parts.count("status") == 2, parts  # the two replies without reasoning
    assert parts[-2:] == ["answer", "footer"], parts
    text = "".join(out.get("text", "") for out in cell["outputs"] if out["output_type"] == "stream")
    assert "n is 3" in text
    answer = cell["outputs"][-2]
    assert "**n** is 5" in answer["data"]["text/plain"] and "<strong>n</strong> is 5" in answer["data"]["text/markdown"]
    assert "Reply · " in json.dumps(cell["outputs"], ensure_ascii=False)
    # Read as text only (jupyter console, a text/plain reader of the file): each reasoning that
    # did not stream live once, in order, though the outputs that replaced the live ones were updates.
    plain = "".join(out["text"] if out["output_type"] == "stream" else out["data"].get("text/plain", "") + "\n"
                    for out in cell["outputs"])
    # (A reply slowed by a busy machine may get the widget and stream instead: then it's not here.)
    assert plain.count("All done.") <= 1 and plain.count("Ran 6 steps") == 1, plain
    for earlier, later in [("Step one.", "Step six."), ("Step six.", "All done.")]:
        assert plain.count(earlier) <= 1, plain
        assert earlier not in plain or plain.index(earlier) < plain.index(later), plain


@pytest.mark.parametrize("view", ["widget", "static"])
def test_many_steps_leave_one_output_per_part(kimi_kernel_env, tmp_path, view):
    nb = run_notebook(["%load_ext kimi_jupyter", f"%config Kimi.view = '{view}'",
                       "%%kimi -y --max-steps 40\nrun 300 steps"], tmp_path, timeout=180)
    parts = check_saved(nb.cells[2])
    # Reasoning and code per step; the 41st reply's reasoning, whose call the step limit stops,
    # then the note that says so, and the footer.
    assert parts == ["reasoning", "code"] * 40 + ["reasoning", "notice", "footer"], parts


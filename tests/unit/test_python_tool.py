"""The built-in python tool and the registry, in a real kernel (nbclient) and in-process.

One notebook holds most checks so only one kernel starts; each test reads its cells.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from conftest import ANSI, outputs_with, run_notebook

from kimi_jupyter.tools import ToolContext, ToolRegistry

SETUP = r'''
import json, dataclasses, sys
from kimi_jupyter.tools import ToolContext, default_registry, tool

ctx = ToolContext(shell=get_ipython(), auto_run=True)

def run(code, ctx=ctx, name="python", raw=None):
    out = default_registry.call(name, raw if raw is not None else json.dumps({"code": code}), ctx)
    sys.stdout.flush()
    record = dataclasses.asdict(out)
    # The nbformat outputs can be as big as what was printed: report their kinds only.
    record["outputs"] = [o["output_type"] for o in record["outputs"]]
    print("\n<<TOOL>>" + json.dumps(record) + "<<END>>")
    return out
'''

CELLS = {
    "setup": SETUP,
    "basic": "c0 = get_ipython().execution_count\n"
             "run(\"a = 21\\nprint('hello from model')\\na * 2\")\n"
             "print('SAME_COUNT', get_ipython().execution_count == c0)",
    "persist": "run('b = a + 1\\nb')",
    "user_sees": "print('B_IS', b)",
    "figure": "run(\"import matplotlib.pyplot as plt\\nplt.figure(figsize=(4, 3), dpi=50)\\n"
              "plt.plot([1, 3, 2])\\nplt.title('t');\")",
    "error": "run(\"def f():\\n    raise ValueError('boom')\\nx = 1\\nf()\")",
    "syntax": "run('x = (')",
    "alive": "print('ALIVE', a)",
    "huge": "ctx.max_output = 2000\nrun(\"print('x' * 10_000_000)\\nprint('THE END')\")\nctx.max_output = 8000",
    "after_huge": "print('STILL', 1 + 1)",
    "no_stdin": "ctx2 = ToolContext(shell=get_ipython())\n"
                "run('never_defined = 1', ctx=ctx2)\n"
                "run('never_defined = 2', ctx=ctx2)\n"
                "print('DEFINED', 'never_defined' in globals())",
    "magic": "run('%time 1 + 1')",
    "await": "run('import asyncio\\nawait asyncio.sleep(0.01)\\nawaited = 7\\nawaited')",
    "await_interrupt": "run('import os, signal, asyncio\\n'\n"
                       "    'asyncio.get_running_loop().call_later(0.1, os.kill, os.getpid(), signal.SIGINT)\\n'\n"
                       "    'await asyncio.sleep(5)\\nnot_reached2 = 1')\n"
                       "print('REACHED2', 'not_reached2' in globals())",
    "kernel_await": "import asyncio\nawait asyncio.sleep(0)\nprint('KERNEL_AWAIT', awaited)",
    "bad_repr": "run(\"class Bad:\\n    def __repr__(self):\\n        raise RuntimeError('no repr')\\nBad()\")",
    "interrupt": "run('import os, signal, time\\nos.kill(os.getpid(), signal.SIGINT)\\ntime.sleep(5)\\n"
                 "not_reached = 1')\nprint('REACHED', 'not_reached' in globals())",
    "display": "run(\"from IPython.display import display, HTML\\ndisplay(HTML('<b>bold</b>'))\\n"
               "display({'k': 1})\")",
    "user_tool": "@tool\n"
                 "def add(x: int, y: float = 1.5) -> float:\n"
                 "    '''Add two numbers.'''\n"
                 "    print('ADD CALLED')\n"
                 "    return x + y\n"
                 "run(None, name='add', raw='{\"x\": 2}')\n"
                 "run(None, name='add', raw='{bad json')\n"
                 "run(None, name='nope', raw='{}')\n"
                 "run(None, name='add', raw='{\"y\": \"s\", \"z\": 1}')",
}
NAMES = list(CELLS)


@pytest.fixture(scope="module")
def nb(tmp_path_factory: pytest.TempPathFactory) -> Any:
    mp = pytest.MonkeyPatch()
    mp.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    try:
        return run_notebook(list(CELLS.values()), tmp_path_factory.mktemp("pytool"),
                            timeout=60, allow_errors=False)
    finally:
        mp.undo()


def cell(nb: Any, name: str) -> Any:
    return nb.cells[NAMES.index(name)]


def streams(c: Any, name: str | None = None) -> str:
    return ANSI.sub("", "".join(o["text"] for o in c.outputs if o["output_type"] == "stream"
                                and (name is None or o["name"] == name)))


def tool_outputs(c: Any) -> list[dict[str, Any]]:
    return [json.loads(m) for m in re.findall(r"<<TOOL>>(.*?)<<END>>", streams(c, "stdout"))]


def test_stdout_last_expression_and_state(nb: Any) -> None:
    c = cell(nb, "basic")
    (out,) = tool_outputs(c)
    assert out["ok"] and out["text"] == "hello from model\nOut: 42"
    assert out["outputs"] == ["stream", "execute_result"]  # what the user saw, for export
    # The user sees the print live and the value as an ordinary Out.
    assert "hello from model" in streams(c)
    assert any(o["data"]["text/plain"] == "42" for o in outputs_with(c, "text/plain")
               if o["output_type"] == "execute_result")
    assert "SAME_COUNT True" in streams(c)
    (out,) = tool_outputs(cell(nb, "persist"))
    assert out["text"] == "Out: 22"
    assert "B_IS 22" in streams(cell(nb, "user_sees"))


def test_figure_shown_inline_and_reported(nb: Any) -> None:
    c = cell(nb, "figure")
    (out,) = tool_outputs(c)
    assert out["ok"]
    assert re.fullmatch(r"\[figure 1: \d+x\d+ px, displayed to the user\]", out["text"])
    assert len(out["images"]) == 1 and out["images"][0].startswith("iVBOR")
    assert out["outputs"] == ["display_data"]
    assert outputs_with(c, "image/png"), "the figure was not displayed in the cell"


def test_error_gives_type_message_and_short_traceback(nb: Any) -> None:
    (out,) = tool_outputs(cell(nb, "error"))
    assert not out["ok"] and not out["interrupted"]
    assert out["outputs"][-1] == "error"
    text = out["text"]
    assert text.endswith("ValueError: boom")
    assert "Traceback (most recent call last)" in text and "in f" in text
    assert "raise ValueError('boom')" in text
    assert "interactiveshell.py" not in text  # IPython's own frames are dropped
    # The user got the full traceback as an error output, but the cell itself succeeded
    # (allow_errors=False would have raised otherwise).
    assert any(o["output_type"] == "error" for o in cell(nb, "error").outputs)
    (out,) = tool_outputs(cell(nb, "syntax"))
    assert not out["ok"] and "SyntaxError" in out["text"] and "Traceback" not in out["text"]
    assert "ALIVE 21" in streams(cell(nb, "alive"))


def test_huge_output_is_capped_for_model_and_user(nb: Any) -> None:
    c = cell(nb, "huge")
    (out,) = tool_outputs(c)
    text = out["text"]
    assert out["ok"]
    assert "characters cut; the kernel keeps the first and last" in text
    assert "`_kimi_out[" in text and text.rstrip().endswith("THE END")
    assert len(text) < 2000 + 250
    marker = re.search(r"\n\.\.\. \[([\d,]+) characters cut;.*?\] \.\.\.\n", text)
    cut = int(marker.group(1).replace(",", ""))
    # Exact count: everything printed ("x"*1e7 + "\nTHE END\n", final newline stripped).
    assert cut + len(text) - len(marker.group(0)) == 10_000_000 + len("\nTHE END")
    # The user saw at most the echo budget, and a note saying how much was held back.
    shown = streams(c)
    assert 1_000_000 <= len(shown) < 1_100_000
    assert "more characters of output were not shown here" in streams(c, "stderr")
    assert "STILL 2" in streams(cell(nb, "after_huge"))


def test_no_stdin_declines_and_tells_the_user(nb: Any) -> None:
    c = cell(nb, "no_stdin")
    first, second = tool_outputs(c)
    for out in (first, second):
        assert out["declined"] and not out["ok"]
        assert "NOT run" in out["text"] and "-y" in out["text"]
    assert "DEFINED False" in streams(c)
    hint = streams(c, "stderr")
    assert "%%kimi -y" in hint and "Kimi.auto_run" in hint
    assert hint.count("not run") == 1  # told once per cell, not per attempt


def test_magics_and_top_level_await(nb: Any) -> None:
    (out,) = tool_outputs(cell(nb, "magic"))
    assert out["ok"] and "Wall time" in out["text"] and out["text"].endswith("Out: 2")
    (out,) = tool_outputs(cell(nb, "await"))
    assert out["ok"] and out["text"] == "Out: 7", out["text"]
    c = cell(nb, "await_interrupt")
    (out,) = tool_outputs(c)
    assert out["interrupted"] and "REACHED2 False" in streams(c)
    # The kernel's own event loop still works for the user's next cell.
    assert "KERNEL_AWAIT 7" in streams(cell(nb, "kernel_await"))


def test_broken_repr_does_not_fail_the_outer_cell(nb: Any) -> None:
    (out,) = tool_outputs(cell(nb, "bad_repr"))
    assert "repr failed: RuntimeError: no repr" in out["text"]


def test_kernel_interrupt_stops(nb: Any) -> None:
    c = cell(nb, "interrupt")
    (out,) = tool_outputs(c)
    assert out["interrupted"] and not out["ok"] and out["text"] == "Interrupted by the user."
    assert "REACHED False" in streams(c)


def test_rich_displays_reported(nb: Any) -> None:
    (out,) = tool_outputs(cell(nb, "display"))
    assert "[HTML displayed to the user]\n<b>bold</b>" in out["text"]
    assert "{'k': 1}" in out["text"]


def test_user_tool_and_tool_errors(nb: Any) -> None:
    c = cell(nb, "user_tool")
    ok, bad_json, unknown, bad_args = tool_outputs(c)
    assert ok["ok"] and ok["text"] == "3.5"
    assert "ADD CALLED" in streams(c)
    assert not bad_json["ok"] and bad_json["text"].startswith("Error: arguments are not valid JSON")
    assert not unknown["ok"] and unknown["text"] == (
        "Error: unknown tool 'nope'. Available tools: "
        "python, list_variables, inspect_variable, notebook_history, add")
    assert not bad_args["ok"]
    for word in ("missing required argument(s): 'x'", "unknown argument(s): 'z'", "'y' must be a number"):
        assert word in bad_args["text"]


# ---------------------------------------------------------------- in-process (no kernel)


def _run(code: str, ctx: ToolContext) -> Any:
    return ToolRegistry().call("python", json.dumps({"code": code}), ctx)


def test_plain_shell_runs_code_with_await_and_echo_cap(capsys: pytest.CaptureFixture[str]) -> None:
    ctx = ToolContext(auto_run=True, max_echo=50)
    out = _run("import asyncio\nawait asyncio.sleep(0)\nprint('z' * 200)\nzz = 5\nzz", ctx)
    assert out.ok and out.text == "z" * 200 + "\nOut: 5"
    assert ctx.shell is not None and ctx.shell.user_ns["zz"] == 5
    seen = capsys.readouterr()
    assert "z" * 50 in seen.out and "z" * 51 not in seen.out
    # 150 z's and the newline, plus the terminal shell's own "Out[n]: 5" line.
    assert re.search(r"\[kimi-jupyter: 1\d\d more characters of output were not shown", seen.err)


def test_approval_answers() -> None:
    answers = ["n", "no, use numpy instead", "y", "all"]
    prompts: list[str] = []
    shown: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return answers.pop(0)

    ctx = ToolContext(ask=ask, show_code=shown.append)
    out = _run("approved = 1", ctx)
    assert out.declined and out.text == "The user declined to run this code."
    out = _run("approved = 2", ctx)
    assert out.declined and out.text.endswith("Their instruction instead: no, use numpy instead")
    from IPython.core.interactiveshell import InteractiveShell

    assert "approved" not in InteractiveShell.instance().user_ns
    assert _run("approved = 3\napproved", ctx).text == "Out: 3"
    assert _run("approved = 4\napproved", ctx).text == "Out: 4" and ctx.auto_run
    assert _run("approved = 5\napproved", ctx).text == "Out: 5"
    assert len(prompts) == 4 and prompts[0].startswith("Run it? [y]es / [n]o / [a]ll in this cell / all in this [s]ession")
    assert shown == [f"approved = {i}" + ("\napproved" if i > 2 else "") for i in range(1, 6)]


def test_session_answer_calls_allow_session() -> None:
    allowed: list[bool] = []
    ctx = ToolContext(ask=lambda prompt: "s", allow_session=lambda: allowed.append(True))
    assert _run("sess = 1\nsess", ctx).text == "Out: 1"
    assert ctx.auto_run and allowed == [True]


def test_decision_from_caller_is_not_parsed() -> None:
    from kimi_jupyter.tools.approval import Decision

    # A widget callback can't ask a person: it answers with a Decision, not a magic string.
    ctx = ToolContext(ask=lambda prompt: Decision.refuse("auto-run is off in the chat panel"))
    out = _run("never = 1", ctx)
    assert out.declined and out.text.endswith("auto-run is off in the chat panel")


@pytest.mark.parametrize(
    "typed, run, scope, feedback",
    [("y", True, "once", ""), ("YES", True, "once", ""), ("a", True, "cell", ""), ("s", True, "session", ""),
     ("session", True, "session", ""), ("", False, "once", ""), ("n", False, "once", ""),
     (" use the sample file instead ", False, "once", "use the sample file instead")],
)
def test_parse_answer(typed: str, run: bool, scope: str, feedback: str) -> None:
    from kimi_jupyter.tools.approval import parse_answer

    d = parse_answer(typed)
    assert (d.run, d.scope, d.feedback) == (run, scope, feedback)


def test_eof_on_input_is_no_stdin(capsys: pytest.CaptureFixture[str]) -> None:
    def ask(prompt: str) -> str:
        raise EOFError

    ctx = ToolContext(ask=ask)
    out = _run("nope = 1", ctx)
    assert out.declined and ctx.no_stdin and "%%kimi -y" in capsys.readouterr().err


def test_interrupt_in_prompt_is_reported() -> None:
    def ask(prompt: str) -> str:
        raise KeyboardInterrupt

    out = _run("1", ToolContext(ask=ask))
    assert out.interrupted and not out.ok


def test_bad_python_arguments() -> None:
    reg = ToolRegistry()
    ctx = ToolContext(auto_run=True)
    assert "missing required argument 'code'" in reg.call("python", "{}", ctx).text
    assert "'code' must be a string" in reg.call("python", '{"code": 1}', ctx).text
    assert "must be a JSON object" in reg.call("python", "[1]", ctx).text
    out = reg.call("python", '{"code": "print(1)\n", "language": "py"}', ctx)  # raw newline, extra key
    assert out.ok and out.text == "1"
    out = reg.call("python", '{"code": "   "}', ctx)
    assert out.ok and out.text == "No output"
    out = reg.call("python", '{"code": "print(1)"}', ctx)
    assert out.ok and out.text == "1"
    assert reg.call("$web_search", '{"q": 1}', ctx).text == '{"q": 1}'

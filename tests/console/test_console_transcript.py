"""`%%kimi` in a real `jupyter console` (issue 25 #6): a text-only frontend reads the reasoning,
then the answer, each once, nothing run together. It prints every stream and every
display's text/plain and ignores display updates and widgets, so what the live widget
streams must not reach it twice, and what replaces the live output must still reach it.
"""

from __future__ import annotations

import json
import re

import pytest

from kimi_jupyter.testing import Scenario, ScriptedTurn, ToolCallSpec
from kimi_jupyter.testing.pytest_plugin import kernel_env

pytest.importorskip("pexpect")
pytest.importorskip("jupyter_console")

from .driver import JupyterConsole, visible  # noqa: E402

# The reasoning ends mid-line ("…Done"), as the model's often does.
REASONING = ("First I recall what entanglement means for two particles. "
             "Then I find a plain way to say it for someone at a terminal. ") * 4 + "Done"
ANSWER_1 = "Entangled particles share one quantum state, however far apart they are."
ANSWER_2 = "Measuring one tells you at once what a measurement of the other will show."
ANSWER = f"{ANSWER_1}\n\n{ANSWER_2}\n"
# After the console printed it: nothing a terminal acts on but SGR colour, \t, \n and \r.
UNSAFE = re.compile("(?!\x1b\\[[0-9;:]*m)\x1b|[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
LABEL = re.compile(r"^Reasoning · [\d.]+ s · [\d,]+ tokens$", re.M)


@pytest.mark.parametrize("paced", [False, True], ids=["fast", "streamed"])
def test_console_reads_reasoning_then_answer_once(kimi_server, tmp_path, paced):
    # Paced, the reply lasts long enough (> 1 s) to get the live widget, whose reasoning
    # streams to the console as it arrives; fast, it never does.
    kimi_server.add_scenario(Scenario("console", [ScriptedTurn(reasoning=REASONING, content=ANSWER)],
                                      match=r"entanglement for the console", cps=250 if paced else None))
    with JupyterConsole(kernel_env(kimi_server), tmp_path) as console:
        console.run("%load_ext kimi_jupyter")
        # `%%kimi` + body, typed on one line (the simple prompt sends each line as a cell).
        out = visible(console.run("get_ipython().run_cell_magic('kimi', '', 'Explain entanglement for the console.')",
                                  timeout=90))
    assert len(kimi_server.requests) == 1, out
    assert out.count(REASONING) == 1, out
    assert out.count(ANSWER_1) == 1 and out.count(ANSWER_2) == 1, out
    assert out.index(REASONING) < out.index(ANSWER_1) < out.index(ANSWER_2), out
    # Nothing runs into the reasoning's last line, and the answer starts a line of its own.
    assert REASONING + "\n" in out and "\n" + ANSWER_1 in out, out
    assert len(LABEL.findall(out)) <= 1, out  # the summary line, if shown, once and on its own line
    assert "kimi-k2.6 · " in out[out.index(ANSWER_2):], out  # the footer, last


def test_console_shows_our_errors_as_one_line_of_plain_text(kimi_server, tmp_path):
    # Another extension's custom exception handler, installed after ours loads, does not
    # turn our one-line errors back into tracebacks; server text reaches the terminal as text.
    with JupyterConsole(kernel_env(kimi_server), tmp_path) as console:
        console.run("%load_ext kimi_jupyter")
        console.run("get_ipython().set_custom_exc((ZeroDivisionError,), lambda *a, **k: print('other handler'))")
        quota = console.run("get_ipython().run_cell_magic('kimi', '-n', '[[scenario:quota]] Tell me about quota.')")
        hostile = console.run("from kimi_jupyter.core.errors import APIError; "
                              "raise APIError(500, 'server_error', 'Internal\\x1b]52;c;aGk=\\x07 error\\rhidden')")
        other = console.run("1/0")
    out = visible(quota)
    assert "QuotaError: Kimi API error 429 (exceeded_current_quota_error)" in out, out
    assert "Traceback" not in out and "httpx" not in out and "----" not in out, out
    shown = hostile[hostile.index("APIError: Kimi"):]  # after the echo of the typed line
    assert shown.startswith("APIError: Kimi API error 500 (server_error): Internal error\r\nhidden"), hostile
    assert "\x1b]52" not in shown and "aGk=" not in shown and "\x07" not in shown, hostile
    assert "Traceback" not in visible(hostile), hostile
    assert "other handler" in visible(other), other


def test_console_gets_what_model_code_prints_without_its_escapes(kimi_server, tmp_path):
    # A page printed by model code, cut into writes mid-sequence: the terminal must not get its
    # clipboard write, title, cursor-up + erase-line or bidi override (nor colour); \r stays.
    pieces = ["page \x1b]52;c;Y2xpcGJvYXJk", "\x07 one \x1b[", "1A\x1b[2", "K two \x1b]0;owned ",
              "title\x1b", "\\ three \u202etxt.exe\u202c \x1b[3", "2mgreen\x1b[0m 10%\r", "100%\n"]
    code = f"import sys\nfor p in {pieces!r}:\n    sys.stdout.write(p)\n    sys.stdout.flush()\n"
    kimi_server.add_scenario(Scenario("console_print", [
        ScriptedTurn(reasoning="Print it.", tool_calls=[ToolCallSpec("python", json.dumps({"code": code}))]),
        ScriptedTurn(content="Printed."),
    ]))
    with JupyterConsole(kernel_env(kimi_server), tmp_path) as console:
        console.run("%load_ext kimi_jupyter")
        out = console.run("get_ipython().run_cell_magic('kimi', '-y', '[[scenario:console_print]] go')", timeout=90)
    shown = out[out.index("\npage "):]  # after the typed line and the code shown to the user
    assert UNSAFE.findall(shown) == [], shown
    assert "owned" not in shown and "Y2xpcGJvYXJk" not in shown, shown
    assert " green 10%\r100%" in shown and "\x1b[32m" not in shown, shown  # printed colour goes too
    assert all(word in visible(shown) for word in ("page", "one", "two", "three", "txt.exe", "Printed.")), shown

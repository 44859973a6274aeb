"""The chat panel without a browser: its send rules alone, then in a real kernel.

The browser test (tests/browser/test_chat_panel.py) clicks the real buttons; this
one drives `ChatPanel.ask()` in a jupyter_client kernel against the loopback
server, to check what a frontend can't show reliably: the shared conversation,
errors as notes, refusals, and code approval without stdin.
"""

from __future__ import annotations

import json

import pytest

from kimi_jupyter.views.send_gate import CellTracker, SendGate
from kimi_jupyter.testing.kernel import Kernel
from kimi_jupyter.testing.pytest_plugin import kernel_env

# ---------------------------------------------------------------- the send rules


def test_gate_refuses_while_a_reply_runs():
    gate = SendGate()
    assert gate.try_start(sent=100.0, from_browser=True) is None
    assert "still replying" in gate.try_start(sent=100.1)
    assert "still replying" in gate.refusal(from_browser=False)  # ask() from code too
    gate.end()
    assert gate.refusal(from_browser=False) is None


def test_gate_refuses_a_press_made_during_the_reply_and_handled_after_it():
    gate = SendGate()
    # The browser clock is 100 s ahead of the kernel's and messages take ~5 ms.
    assert gate.refusal(sent=1100.000, now=1000.005) is None  # learns the offset
    gate.last_end = 1010.0  # a reply ended at kernel time 1010
    # A press sent at browser time 1102 (kernel ~1002, mid-reply) and handled at 1010.1:
    assert "pressed while Kimi was still replying" in gate.refusal(sent=1102.0, now=1010.1)
    # A press sent after the reply ended goes through.
    assert gate.refusal(sent=1110.2, now=1010.21) is None


def test_gate_refuses_while_a_cell_runs_but_not_for_code():
    cells = CellTracker()
    gate = SendGate(cells)
    cells.pre()
    assert "A cell is running" in gate.refusal(sent=None)
    assert gate.refusal(from_browser=False) is None  # panel.ask() from the running cell itself
    cells.post()
    assert gate.refusal(sent=None) is None
    # Pressed during that cell, handled after it: refused, and the text stays in the box.
    gate.observe(50.0, now=50.001)
    cells.last_end = 60.0
    assert "while a cell was running" in gate.refusal(sent=55.0, now=60.01)


# ---------------------------------------------------------------- in a real kernel


@pytest.fixture
def kernel(kimi_server):
    k = Kernel(kernel_env(kimi_server))
    k.run("%load_ext kimi_jupyter\nfrom kimi_jupyter.views.chat_panel import ChatPanel\npanel = ChatPanel()")
    k.run(
        "def notes():\n"
        "    return [c.value for c in panel._items.children if 'kimi-chat-note' in c._dom_classes]\n"
    )
    try:
        yield k
    finally:
        k.close()


def test_panel_shares_the_conversation_with_kimi_cells(kernel, kimi_server):
    assert kernel.value("panel.ask('Tell me about tides.').content") != ""
    second = kernel.value("panel.ask('What was my first question?').content")
    assert second == "Your first question was: Tell me about tides."
    # A %%kimi cell continues the same conversation...
    out = kernel.run("%%kimi --no-tools\nWhat was my first question?")
    assert "Your first question was: Tell me about tides." in out
    # ...and the panel shows the session's usage, shared with the cells.
    assert "Session: 2 replies" in kernel.value("panel._usage.value")
    kernel.run("panel._usage.value = panel._usage_html()")
    assert "Session: 3 replies" in kernel.value("panel._usage.value")
    assert kernel.value("len(panel.session.transcript)") == 3  # `%kimi export` sees the panel's turns
    assert kernel.value("panel._repr_mimebundle_()['text/plain']").startswith("Kimi chat panel")
    assert kernel.value("panel._model.value") == "kimi-k2.6"
    assert "kimi-k2.6" in kernel.value("list(panel._model.options)")


def test_panel_shows_errors_as_notes_and_keeps_working(kernel, kimi_server):
    assert kernel.value("panel.ask('[[scenario:quota]] hello') is None")
    notes = kernel.value("notes()")
    assert any("exceeded_current_quota_error" in n for n in notes), notes
    assert not any("Traceback" in n for n in notes)
    assert kernel.value("panel.busy") is False
    assert kernel.value("panel._prompt.disabled") is False
    assert kernel.value("panel.ask('Are you still there?') is not None")


def test_a_press_sends_the_text_it_carries_even_if_the_typed_value_lags(kernel, kimi_server):
    # The browser's value syncs are throttled, so a press can arrive while the kernel still
    # holds the first characters typed: the question sent is the press's text, whole.
    kernel.run("panel._prompt.value = 'Tell me ab'")
    # A widget message is handled outside any cell; this one is delivered from a cell, which
    # the gate would refuse (a cell is running), so it is told of no cells.
    kernel.run("panel._gate.cells = None")
    kernel.run("panel._prompt._on_msg(panel._prompt, {'event': 'submit', 'text': 'Tell me about tides.'}, [])")
    assert [m for m in kimi_server.requests[-1]["messages"] if m["role"] == "user"][-1]["content"] == (
        "Tell me about tides.")
    shown = kernel.value("[c.value for c in panel._items.children if 'kimi-chat-user' in c._dom_classes]")
    assert len(shown) == 1 and "Tell me about tides." in shown[0]


def test_a_send_during_a_reply_is_refused_not_queued(kernel, kimi_server):
    # A tool that tries to send from inside the reply (as a re-entrant handler would).
    kernel.run(
        "import kimi_jupyter\n"
        "@kimi_jupyter.tool\n"
        "def get_weather(city: str, unit: str = 'celsius') -> str:\n"
        "    '''Weather for a city.'''\n"
        "    return repr(panel.ask('nested question'))\n"
    )
    result = kernel.value("panel.ask('What is the weather in Paris?').content")
    assert "None" in result  # the nested ask() returned None: refused
    assert any("still replying" in n for n in kernel.value("notes()"))
    assert not any("nested question" in json.dumps(body) for body in kimi_server.requests)


def test_code_runs_only_with_auto_run(kernel, kimi_server):
    kernel.run("panel._auto.value = False")
    kernel.value("panel.ask('Visualize gradient descent') is not None")  # returns: never waits for stdin
    assert any("auto-run is off" in n for n in kernel.value("notes()"))
    assert kernel.value("'history' in globals()") is False
    tool_messages = [m for m in kimi_server.requests[-1]["messages"] if m["role"] == "tool"]
    assert "auto-run is off in the chat panel" in tool_messages[-1]["content"]

    kernel.run("%kimi reset")
    kernel.run("panel._auto.value = True")
    kernel.value("panel.ask('Visualize gradient descent') is not None")
    assert kernel.value("'history' in globals()") is True  # the model's code ran in the user namespace



def test_panel_transcript_holds_no_live_html_from_the_model(kernel, kimi_server):
    from test_security_kernel import OWN, attack_scenario, check_outputs, problems

    kimi_server.add_scenario(attack_scenario())
    sent: list[dict] = []  # every rich output the panel's reply sent to the browser

    def hook(msg: dict) -> None:
        if msg["msg_type"] in ("display_data", "update_display_data", "execute_result"):
            sent.append({"data": msg["content"].get("data", {})})
        if msg["msg_type"] == "comm_msg":  # ipywidgets.HTML values: labels, notes, the footer
            value = msg["content"].get("data", {}).get("state", {}).get("value")
            if isinstance(value, str) and "<" in value:
                sent.append({"widget_html": value})

    reply = kernel.kc.execute_interactive("r = panel.ask('[[scenario:attack]] go')", timeout=60, output_hook=hook)
    assert reply["content"]["status"] == "ok"
    assert "alert('answer')" in kernel.value("r.content")
    assert any("kimi-md" in o.get("data", {}).get("text/markdown", "") for o in sent)  # the answer went out
    check_outputs([o for o in sent if "data" in o])
    ours = ("tag <b>", "tag <code>", "tag <span>")  # the panel's own chrome, styled inline
    for o in sent:
        if "widget_html" in o:
            found = problems(o["widget_html"])
            assert [p for p in found if p not in OWN + ours and not p.startswith("attribute style=")] == [], found


def test_the_panel_follows_the_default_to_its_successor_and_shows_it(kimi_server):
    """Issue 23: the panel sent its dropdown's model as if the user had named it, so once
    kimi-k2.6 closed every Send failed with a 404. Untouched, the dropdown is the default:
    the reply comes from the successor, and the dropdown then shows that model."""
    kimi_server.retire("kimi-k2.6")
    k = Kernel(kernel_env(kimi_server))
    try:
        k.run("%load_ext kimi_jupyter\nfrom kimi_jupyter.views.chat_panel import ChatPanel\npanel = ChatPanel()")
        assert k.value("panel._model.value") == "kimi-k2.6"
        assert k.value("panel.ask('Tell me about tides.').model") == "kimi-k3"
        assert k.value("panel._model.value") == "kimi-k3"
        # A model picked in the dropdown is named: it is sent as it is, and not swapped.
        k.run("panel._model.value = 'kimi-k3.1-pro'")
        assert k.value("panel.ask('Tell me about tides.').model") == "kimi-k3.1-pro"
        assert [r["model"] for r in kimi_server.requests] == ["kimi-k3", "kimi-k3.1-pro"]
    finally:
        k.close()

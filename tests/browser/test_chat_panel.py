"""The chat panel in JupyterLab: type, send, watch the reply stream, ask a follow-up
that depends on the first question, and check that a Send pressed while Kimi is
replying is refused visibly rather than queued."""

from __future__ import annotations

import re

import pytest

from .checks import record_metric
from .harness import cell, expect, open_notebook, run_and_wait, run_cell, screenshot, wait_cell_done, write_notebook
from kimi_jupyter.testing import RequestState, Scenario, ScriptedTurn
from kimi_jupyter.testing.texts import long_text

pytestmark = pytest.mark.browser

QUESTION = "Explain tides, please."
FOLLOW_UP = "What was my first question?"
ANSWER = "## Tides\n\nThe Moon's gravity pulls the oceans into two bulges.\n\nSo most coasts get two tides a day.\n"

_PANEL = """
(root) => {
  const q = (s) => root.querySelector(s);
  const box = q('.kimi-chat-reasoning-scroll');
  const pre = q('.kimi-chat-reasoning .widget-output pre');
  return {
    status: q('.kimi-chat-status').textContent,
    sendDisabled: q('.kimi-chat-send').disabled,
    promptDisabled: q('.kimi-chat-prompt input').disabled,
    reasoning: pre ? pre.textContent.length : 0,
    answer: !!q('.kimi-chat-answer .jp-OutputArea-output'),
    scroll: box ? [Math.round(box.scrollTop), box.scrollHeight, box.clientHeight] : null,
  };
}
"""

# True once the reasoning's length differs from `n`, or the answer has arrived.
_CHANGED = """
([root, n]) => {
  if (root.querySelector('.kimi-chat-answer .jp-OutputArea-output')) return true;
  const pre = root.querySelector('.kimi-chat-reasoning .widget-output pre');
  return (pre ? pre.textContent.length : 0) !== n;
}
"""


def _last_user_messages(kimi, start: int) -> list[str]:
    """The last user message of every request the loopback server got since `start`, in order."""
    return [RequestState.from_messages(body.get("messages", [])).last_user for body in list(kimi.requests)[start:]]


def test_chat_panel_streams_and_follows_up(lab_page, lab_server, browser_kimi):
    page = lab_page
    browser_kimi.add_scenario(
        Scenario("panel_tides", [ScriptedTurn(reasoning=long_text(2400), content=ANSWER)], match=r"explain tides", cps=800)
    )
    name = write_notebook(lab_server.root, "panel.ipynb", [
        "%load_ext kimi_jupyter",
        "from kimi_jupyter.views.chat_panel import ChatPanel\npanel = ChatPanel()\npanel",
        "%%kimi\nWhat was my first question?",
        # Runs until the test releases it (a file), so Send is surely pressed while it runs.
        "import pathlib, time\nwhile not pathlib.Path('release-cell').exists():\n    time.sleep(0.05)",
    ])
    start = len(browser_kimi.requests)  # the server is shared by the browser tests
    open_notebook(page, lab_server, name)
    run_and_wait(page, 0)
    run_and_wait(page, 1)
    root = cell(page, 1).locator(".kimi-chat")
    prompt = root.locator(".kimi-chat-prompt input")
    prompt.click()
    # Typed at full speed and sent at once: the question must arrive whole, though the
    # box's value syncs to the kernel throttled (one in flight, the rest wait for idle)
    # while a press goes out at once. The press carries the text the box shows.
    prompt.press_sequentially(QUESTION, delay=0)

    # Send, and a second press in the same instant (a double click): the second one
    # leaves the browser before it hears that Send is disabled. It must be refused.
    page.evaluate("(b) => { b.click(); b.click(); }", root.locator(".kimi-chat-send").element_handle())

    handle = root.element_handle()
    seen = []
    shown = None  # the reasoning's length last read
    while True:  # each time the reasoning grows (or the answer arrives), read the panel
        page.wait_for_function(_CHANGED, arg=[handle, shown], timeout=30_000)
        state = page.evaluate(_PANEL, handle)
        if state["answer"]:
            break
        if state["reasoning"] and state["reasoning"] != shown:
            seen.append(state)
            if len(seen) == 2:
                screenshot(page, "chat-panel-streaming")
        shown = state["reasoning"]
    assert len(seen) >= 2, f"the panel's reasoning did not stream: {seen}; sent: {_last_user_messages(browser_kimi, start)}"
    assert [s["reasoning"] for s in seen] == sorted({s["reasoning"] for s in seen})
    for state in seen:  # while it streams: a visible busy state, input off
        assert "Kimi is replying" in state["status"], state
        assert state["sendDisabled"] and state["promptDisabled"], state
    overflowing = [s["scroll"] for s in seen if s["scroll"] and s["scroll"][1] > s["scroll"][2] + 5]
    for top, _height, _client in overflowing:  # column-reverse: 0 means scrolled to the newest text
        assert abs(top) <= 2, f"the reasoning box does not follow the newest text: {overflowing}"

    answer = root.locator(".kimi-chat-answer").first
    # Rendered output is read through `expect`, which waits for the state it checks.
    expect(answer.locator("h2")).to_have_text(re.compile(r"^\s*Tides"))
    page.wait_for_function("(b) => !b.disabled", arg=root.locator(".kimi-chat-send").element_handle())
    refused = root.locator(".kimi-chat-refused")
    expect(refused).to_contain_text(re.compile("nothing was sent|not sent"))
    assert _last_user_messages(browser_kimi, start) == [QUESTION], "a truncated question, or the second press, was sent"
    expect(prompt).to_have_value("")  # cleared once sent, and not refilled by a late value sync
    expect(root.locator(".kimi-chat-reasoning").first.locator(".jupyter-widget-Collapse-header")).to_have_text(
        re.compile(r"^Reasoning ·")
    )

    # The follow-up depends on the first question; Enter sends it.
    prompt.click()
    prompt.press_sequentially(FOLLOW_UP, delay=0)
    prompt.press("Enter")
    page.wait_for_function(
        "(r) => r.querySelectorAll('.kimi-chat-answer').length >= 2 && "
        "r.querySelectorAll('.kimi-chat-answer')[1].textContent.includes('Your first question was')",
        arg=handle,
    )
    expect(root.locator(".kimi-chat-answer").nth(1)).to_contain_text(QUESTION)
    assert _last_user_messages(browser_kimi, start) == [QUESTION, FOLLOW_UP]
    page.wait_for_function("(b) => !b.disabled", arg=root.locator(".kimi-chat-send").element_handle())
    expect(root.locator(".kimi-chat-usage")).to_contain_text("Session: 2 replies")
    expect(root.locator(".kimi-chat-footer")).to_have_count(2)
    assert root.locator(".kimi-chat-error").count() == 0
    screenshot(page, "chat-panel", root)

    # The panel and %%kimi share one conversation.
    run_and_wait(page, 2)
    expect(cell(page, 2).locator(".jp-Cell-outputArea")).to_contain_text(f"Your first question was: {QUESTION}")

    # Send while an ordinary cell runs: refused visibly (whether the kernel queued the
    # click until the cell ended, or handled it at once in a subshell), and the text stays.
    n_refused = refused.count()
    run_cell(page, 3)
    page.wait_for_function("(c) => c.querySelector('.jp-InputArea-prompt').textContent.includes('*')",
                           arg=cell(page, 3).element_handle())
    prompt.click()
    prompt.press_sequentially("Not while a cell runs", delay=10)
    root.locator(".kimi-chat-send").click()
    (lab_server.root / "release-cell").touch()  # the press has left the browser: let the cell end
    wait_cell_done(page, 3)
    page.wait_for_function("([r, n]) => r.querySelectorAll('.kimi-chat-refused').length > n", arg=[handle, n_refused])
    expect(refused.last).to_contain_text(re.compile("cell was running|A cell is running"))
    assert prompt.input_value() == "Not while a cell runs"
    assert not any("Not while a cell runs" in str(body) for body in browser_kimi.requests)
    record_metric("chat_panel", {"refusals": refused.all_inner_texts(),
                                 "reasoning_lengths_seen": [s["reasoning"] for s in seen],
                                 "reasoning_box_scroll": [s["scroll"] for s in seen]})
    assert not page.kimi_errors, page.kimi_errors


def test_chat_panel_in_notebook7_sends_the_whole_question(nb7_page, notebook_server, browser_kimi):
    """The prompt row is an anywidget: its frontend (shipped in anywidget's wheel) loads in
    Notebook 7's shell too, offline, and a question typed fast and sent with Enter arrives whole."""
    page = nb7_page
    question = "In Notebook 7: why are there two tides a day?"
    browser_kimi.add_scenario(
        Scenario("panel_nb7", [ScriptedTurn(content="Two bulges, one on each side of the Earth.")],
                 match=r"in notebook 7: why")
    )
    name = write_notebook(notebook_server.root, "panel_nb7.ipynb", [
        "%load_ext kimi_jupyter\nfrom kimi_jupyter.views.chat_panel import ChatPanel\nChatPanel()",
    ])
    start = len(browser_kimi.requests)
    open_notebook(page, notebook_server, name)
    run_and_wait(page, 0)
    root = cell(page, 0).locator(".kimi-chat")
    prompt = root.locator(".kimi-chat-prompt input")
    prompt.click()
    prompt.press_sequentially(question, delay=0)
    prompt.press("Enter")
    expect(root.locator(".kimi-chat-answer").first).to_contain_text("Two bulges")
    assert _last_user_messages(browser_kimi, start) == [question]
    expect(prompt).to_have_value("")
    page.wait_for_function("(b) => !b.disabled", arg=root.locator(".kimi-chat-send").element_handle())
    assert page.locator("#jp-NotebookLogo").count() == 1  # Notebook 7's shell, not Lab's
    # Notebook 7.6 itself throws this one while loading its settings, even for an empty notebook
    # (its shortcuts plugin; see checks.check_live_streaming); any other error counts.
    errors = [e for e in page.kimi_errors if e != "Cannot read properties of undefined (reading 'schema')"]
    assert not errors, errors

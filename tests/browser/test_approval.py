"""Approving model code in JupyterLab, as a user does it: the kernel asks on stdin and
JupyterLab shows its input box in the `%%kimi` cell, under the code the model wants to run.

Two answers are driven through the real box (type, Enter):
- words instead of y/n: the code must not run, and the words must reach the model as the
  user's instruction (checked in the loopback server's last request);
- `s`: the code runs (the plot appears), and so does the next cell's code, without a prompt.

The built-in `gradient_descent` scenario makes one `python` call whose code defines
`history` and draws a figure, so "did it run" is visible in the kernel and on the page.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from .harness import cell, expect, open_notebook, run_and_wait, run_cell, screenshot, wait_cell_done, write_notebook
from kimi_jupyter.testing import RequestState
from kimi_jupyter.tools.approval import APPROVAL_PROMPT

pytestmark = pytest.mark.browser

TASK = "%%kimi\nVisualize gradient descent."
FEEDBACK = "no, use a smaller learning rate"
STDIN = ".jp-Stdin-input"
FOOTER = "kimi-k2.6 ·"
# What the scenario's code prints when it runs (its source only has `{x:.6f}`).
RAN = re.compile(r"final x = \d+\.\d{6}")


def _wait_for_prompt(page: Any, index: int, timeout: float = 90_000) -> Any:
    """The cell's stdin box, once the kernel asks (the model's reply streams first)."""
    box = cell(page, index).locator(STDIN)
    box.wait_for(state="visible", timeout=timeout)
    return box


def _prompt_text(page: Any, index: int) -> str:
    """The question JupyterLab shows next to the input box (`.jp-Stdin-prompt`)."""
    return cell(page, index).locator(".jp-Stdin-prompt").inner_text()


def _answer(page: Any, box: Any, text: str) -> None:
    box.click()
    box.press_sequentially(text, delay=10)
    box.press("Enter")


def _tool_messages(body: dict[str, Any]) -> list[str]:
    """The text of each tool message (a result with a figure is a list of content parts)."""
    texts = []
    for m in body.get("messages", []):
        if m.get("role") != "tool":
            continue
        content = m.get("content") or ""
        if isinstance(content, list):
            content = "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
        texts.append(content)
    return texts


def _code_is_above_prompt(page: Any, index: int) -> bool:
    """The "Kimi runs Python" block comes before the stdin box in the cell's output (DOM order)."""
    return page.evaluate(
        """(c) => {
            const stdin = c.querySelector('.jp-Stdin-input');
            const code = Array.from(c.querySelectorAll('.jp-OutputArea-output'))
                .find(el => el.textContent.includes('Kimi runs Python'));
            return !!(stdin && code &&
                      (code.compareDocumentPosition(stdin) & Node.DOCUMENT_POSITION_FOLLOWING));
        }""",
        cell(page, index).element_handle(),
    )


def _visible_output(page: Any, index: int) -> Any:
    return cell(page, index).locator(".jp-Cell-outputArea")


def _check_shown_before_answer(page: Any, index: int) -> None:
    """What the user sees while the kernel waits: the question, and the code it is about."""
    prompt = _prompt_text(page, index)
    # JupyterLab shows the prompt as given; input() drops nothing but the trailing
    # space may be trimmed by the layout, so compare without it.
    assert prompt.strip() == APPROVAL_PROMPT.strip(), f"the stdin prompt is not the approval question: {prompt!r}"
    # The code's display reaches the page before the input request, but JupyterLab renders
    # markdown asynchronously while it shows the input box at once: wait for the render.
    out = _visible_output(page, index)
    expect(out).to_contain_text("Kimi runs Python", timeout=10_000)  # the model's code, before the question
    expect(out).to_contain_text("history.append(x)")  # the code block shows the model's code
    assert _code_is_above_prompt(page, index), "the code is not above the approval box"
    assert _visible_output(page, index).locator("img").count() == 0, "a plot appeared before the user answered"


def test_lab_approval_feedback_refuses_and_reaches_the_model(lab_page, lab_server, browser_kimi):
    page = lab_page
    name = write_notebook(lab_server.root, "approve-feedback.ipynb", [
        "%load_ext kimi_jupyter",
        TASK,
        "print('history' in globals())",
    ])
    open_notebook(page, lab_server, name)
    run_and_wait(page, 0)
    del page.kimi_errors[:]  # errors while Jupyter loads are its own; the test checks from here
    n_before = len(browser_kimi.requests)

    run_cell(page, 1)
    box = _wait_for_prompt(page, 1)
    _check_shown_before_answer(page, 1)
    shot = screenshot(page, "lab-approval-prompt", cell(page, 1))
    assert shot.stat().st_size > 0
    # While the question waits, the kernel is busy and the model has been asked exactly once.
    assert len(browser_kimi.requests) == n_before + 1

    _answer(page, box, FEEDBACK)
    wait_cell_done(page, 1, timeout=90_000)

    assert len(browser_kimi.requests) == n_before + 2, "the refusal did not go back to the model"
    last = browser_kimi.requests[-1]
    tools = _tool_messages(last)
    assert tools, f"the last request has no tool message: {json.dumps(last)[:800]}"
    assert f"Their instruction instead: {FEEDBACK}" in tools[-1], tools[-1]
    assert RequestState.from_messages(last["messages"]).last_user.strip() == "Visualize gradient descent."

    out = _visible_output(page, 1)
    # JupyterLab hides the answered box and removes it 0.5 s later.
    out.locator(STDIN).wait_for(state="detached", timeout=10_000)
    # Markdown renders asynchronously after the cell is done: wait for what is checked,
    # and look for what must be absent only once the last output (the footer) is there.
    expect(out).to_contain_text("Kimi runs Python")  # the code the user refused is still on the page
    # The echoed answer stays in the cell (JupyterLab keeps "prompt answer" as stdin text).
    expect(out).to_contain_text(FEEDBACK)
    expect(out).to_contain_text("Gradient descent converged")  # the final answer
    expect(out).to_contain_text(FOOTER)
    assert out.locator("img").count() == 0, "a plot is in the cell: the refused code ran"
    assert not RAN.search(out.inner_text()), "the refused code printed its result"
    expect(out.locator(".jupyter-widgets")).to_have_count(0)  # the live widget is gone

    # The kernel still works, and the refused code left nothing behind.
    run_and_wait(page, 2)
    expect(_visible_output(page, 2)).to_have_text(re.compile(r"^\s*False\s*$"))
    assert not page.kimi_errors, page.kimi_errors


def test_lab_approval_session_runs_this_and_later_cells(lab_page, lab_server, browser_kimi):
    page = lab_page
    name = write_notebook(lab_server.root, "approve-session.ipynb", [
        "%load_ext kimi_jupyter",
        TASK,
        TASK,
        "print(len(history))",
    ])
    open_notebook(page, lab_server, name)
    run_and_wait(page, 0)
    del page.kimi_errors[:]

    run_cell(page, 1)
    box = _wait_for_prompt(page, 1)
    _check_shown_before_answer(page, 1)
    _answer(page, box, "s")
    wait_cell_done(page, 1, timeout=90_000)
    out = _visible_output(page, 1)
    img = out.locator("img").first
    img.wait_for(state="visible")
    assert img.get_attribute("src").startswith("data:image/png;base64,")
    expect(out).to_contain_text(RAN)  # the approved code printed its result
    tools = _tool_messages(browser_kimi.requests[-1])
    assert tools and RAN.search(tools[-1]), tools

    # The next %%kimi cell: its code runs with no question at all. An observer notes
    # a stdin box even if it came and went; a box that stays fails at once, not by timeout.
    target = cell(page, 2).element_handle()
    page.evaluate(
        """(c) => {
            window.__kimiStdinSeen = false;
            new MutationObserver(() => {
                if (c.querySelector('.jp-Stdin-input')) window.__kimiStdinSeen = true;
            }).observe(c, {childList: true, subtree: true});
        }""",
        target,
    )
    run_cell(page, 2)
    page.wait_for_function(
        """(c) => window.__kimiStdinSeen ||
                  /\\[\\d+\\]/.test(c.querySelector('.jp-InputArea-prompt').textContent)""",
        arg=target,
        timeout=90_000,
    )
    assert page.evaluate("() => window.__kimiStdinSeen") is False, (
        f"the second cell asked for approval after `s`: {_prompt_text(page, 2)!r}"
    )
    out2 = _visible_output(page, 2)
    out2.locator("img").first.wait_for(state="visible")
    expect(out2).to_contain_text("Kimi runs Python")
    expect(out2).to_contain_text(RAN)
    expect(out2).to_contain_text(FOOTER)
    assert APPROVAL_PROMPT.strip() not in out2.inner_text()

    run_and_wait(page, 3)
    expect(_visible_output(page, 3)).to_have_text(re.compile(r"^\s*26\s*$"))
    assert not page.kimi_errors, page.kimi_errors

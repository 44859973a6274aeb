"""The live-streaming check, shared by the JupyterLab and Notebook 7 tests.

It reads the DOM the way a user looks at the page: the reasoning text inside the
widget's accordion, the accordion's title (the status line), then the static
outputs that replace the widget when the cell ends.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from .harness import ARTIFACTS, cell, expect, open_notebook, run_and_wait, run_cell, screenshot, wait_cell_done, write_notebook
from kimi_jupyter.testing import Scenario, ScriptedTurn
from kimi_jupyter.testing.texts import long_text

PACED_MATCH = r"think out loud for the browser"
PACED_PROMPT = "Please think out loud for the browser test, then answer."
PACED_REASONING = long_text(6000)
PACED_ANSWER = (
    "## Paced answer heading\n\n"
    "The reasoning above streamed at a steady pace; this answer is **markdown**.\n\n"
    "- one point\n- another point\n"
)
PACED_CPS = 800  # 6,000 characters: about 7.5 s of thinking

STATUS = re.compile(r"Thinking · (\d+) s · ([\d,]+) tokens")

# Installed before the %%kimi cell runs: notes (on the page's clock, as epoch ms) when
# the first reasoning text appears in the cell, and when the answer starts.
_OBSERVE = """
(cell) => {
  const st = window.__kimiStream = {widget: null, first: null, answer: null};
  const now = () => performance.timeOrigin + performance.now();
  const obs = new MutationObserver(() => {
    if (st.widget === null && cell.querySelector('.jupyter-widget-Accordion')) st.widget = now();
    if (st.first === null) {
      // The first token shows in the light "Thinking… <token>" text output, or,
      // once the reply has lasted, in the widget's reasoning area.
      const pre = cell.querySelector('.jupyter-widget-Accordion .widget-output pre');
      const early = Array.from(cell.querySelectorAll('.jp-OutputArea-output pre'))
        .some(p => p.textContent.startsWith('Thinking… ') && p.textContent.length > 'Thinking… '.length);
      if ((pre && pre.textContent.length > 0) || early) st.first = now();
    }
    if (st.answer === null && cell.querySelector('.widget-vbox > .widget-output .jp-OutputArea-output')) {
      st.answer = now();
    }
    if (st.first !== null && st.answer !== null) obs.disconnect();
  });
  obs.observe(cell, {childList: true, subtree: true, characterData: true});
}
"""

_SNAPSHOT = r"""
(cell) => {
  const pre = cell.querySelector('.jupyter-widget-Accordion .widget-output pre');
  const title = cell.querySelector('.jupyter-widget-Accordion .jupyter-widget-Collapse-header');
  const box = cell.querySelector('.jupyter-widget-Accordion .widget-output');
  return {
    // How far down the reasoning box is scrolled: does the view follow the newest text?
    scroll: box ? [Math.round(box.scrollTop), box.scrollHeight, box.clientHeight] : null,
    reasoning: pre ? pre.textContent : '',
    // Word-boundary wrapping: JupyterLab's default for stream text is break-all ("ph / rase").
    wrap: pre ? [getComputedStyle(pre).wordBreak, getComputedStyle(pre).overflowWrap] : null,
    title: title ? title.textContent : '',
    answer: !!cell.querySelector('.widget-vbox > .widget-output .jp-OutputArea-output'),
    // The cell ended (the widget was replaced by the static outputs).
    done: !!cell.querySelector('details.kimi-reasoning') || /\[\d+\]/.test(cell.querySelector('.jp-InputArea-prompt').textContent),
    t: performance.timeOrigin + performance.now(),
  };
}
"""


def paced_scenario() -> Scenario:
    return Scenario(
        "browser_paced", [ScriptedTurn(reasoning=PACED_REASONING, content=PACED_ANSWER)], match=PACED_MATCH, cps=PACED_CPS
    )


def record_metric(key: str, value: Any) -> None:
    """Collect measured figures in test-artifacts/browser-metrics.json (for the PR note)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "browser-metrics.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    data[key] = value
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


def check_live_streaming(page: Any, server: Any, kimi: Any, label: str) -> dict[str, Any]:
    """Run a paced %%kimi cell and check the live widget, then the static outputs.

    Returns the measured figures (first-token latency and the snapshots).
    """
    kimi.add_scenario(paced_scenario())
    name = write_notebook(server.root, f"stream-{label}.ipynb", ["%load_ext kimi_jupyter", f"%%kimi\n{PACED_PROMPT}"])
    open_notebook(page, server, name)
    run_and_wait(page, 0)
    # Errors the page threw while loading are Jupyter's own (Notebook 7.6 throws one while
    # loading settings, even for an empty notebook); the test checks what happens from here.
    load_errors = list(getattr(page, "kimi_errors", []))
    del page.kimi_errors[:]

    target = cell(page, 1).element_handle()
    page.evaluate(_OBSERVE, target)
    n_before = len(kimi.requests)
    pressed = time.time()
    run_cell(page, 1)

    # Snapshots of the reasoning while it grows, before the answer starts.
    snapshots: list[dict[str, Any]] = []
    shot_taken = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        snap = page.evaluate(_SNAPSHOT, target)
        if snap["answer"] or snap["done"]:
            break
        if snap["reasoning"] and (not snapshots or len(snap["reasoning"]) != len(snapshots[-1]["reasoning"])):
            snapshots.append(snap)
            if len(snapshots) == 3 and not shot_taken:
                screenshot(page, f"{label}-reasoning-midstream")
                shot_taken = True
        time.sleep(0.6)
    lengths = [len(s["reasoning"]) for s in snapshots]
    assert len(snapshots) >= 3, f"saw the reasoning only {len(snapshots)} times before the answer: {lengths}"
    assert lengths == sorted(set(lengths)), f"the reasoning did not grow steadily: {lengths}"
    for snap in snapshots:  # what was shown is a prefix of the reasoning, never a garbled copy
        assert PACED_REASONING.startswith(snap["reasoning"]), "the live reasoning is not the streamed text"
    statuses = [STATUS.search(s["title"]) for s in snapshots]
    assert all(statuses), f"the accordion title is not a status line: {[s['title'] for s in snapshots]}"
    seconds = [int(m.group(1)) for m in statuses]
    tokens = [int(m.group(2).replace(",", "")) for m in statuses]
    assert max(seconds) >= 1 and max(tokens) > 0, f"elapsed time and tokens don't move: {seconds} {tokens}"
    assert all(s["wrap"] == ["normal", "anywhere"] for s in snapshots), [s["wrap"] for s in snapshots]

    wait_cell_done(page, 1, timeout=60_000)
    stream = page.evaluate("() => window.__kimiStream")
    arrivals = kimi.requests.times[n_before:]
    assert arrivals, "the server got no request"
    assert stream["first"] is not None, "the first reasoning token never appeared in the DOM"
    assert stream["answer"] is not None and stream["first"] < stream["answer"], "the first token came after the end"
    # The server starts sending the reasoning as soon as the request arrives (its
    # pacing sleeps *after* each write), so arrival time = first token sent.
    latency_ms = stream["first"] - arrivals[0] * 1000

    # The static outputs render asynchronously (markdown in Notebook 7 and Lab alike), even
    # after the cell shows its execution count: wait for each state checked (expect retries).
    out = cell(page, 1).locator(".jp-Cell-outputArea")
    details = out.locator("details.kimi-reasoning")
    expect(details).to_have_count(1)
    expect(details.locator("summary")).to_contain_text("Reasoning")
    expect(details).to_contain_text(PACED_REASONING[:300])
    expect(out.locator(".jp-RenderedMarkdown h2")).to_have_text(re.compile(r"^\s*Paced answer heading"))
    expect(out.locator(".jp-RenderedMarkdown strong").first).to_have_text("markdown")
    expect(out).to_contain_text("kimi-k2.6 ·")  # the footer, the last output
    expect(out.locator(".jupyter-widgets")).to_have_count(0)  # the live widget is gone
    screenshot(page, f"{label}-finished-cell", cell(page, 1))

    figures = {
        "first_token_latency_ms": round(latency_ms, 1),
        "shift_enter_to_request_ms": round((arrivals[0] - pressed) * 1000, 1),
        "shift_enter_to_first_token_ms": round(stream["first"] - pressed * 1000, 1),
        "shift_enter_to_widget_ms": round(stream["widget"] - pressed * 1000, 1) if stream["widget"] else None,
        "reasoning_lengths_seen": lengths,
        "status_titles_seen": [s["title"] for s in snapshots],
        "reasoning_box_scroll_top_height_client": [s["scroll"] for s in snapshots],
        "page_errors_while_loading": load_errors,
    }
    record_metric(f"{label}_streaming", figures)
    print(f"[{label}] first token in the DOM {latency_ms:.0f} ms after the server sent it; snapshots {lengths}")
    return figures

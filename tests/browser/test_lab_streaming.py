"""`%%kimi` in JupyterLab, seen in a real Chromium: live reasoning, static outputs, a plot,
and how the page copes with a 160k-character reasoning stream.

Timings are measured and written to test-artifacts/browser-metrics.json; the tests
assert behaviour only (ARCHITECTURE.md: tests check behaviour, never timings).
"""

from __future__ import annotations

import statistics
import time

import pytest

from .checks import check_live_streaming, record_metric
from .harness import cell, expect, open_notebook, run_and_wait, run_cell, screenshot, wait_cell_done, write_notebook
from kimi_jupyter.testing import long_reasoning_scenario

pytestmark = pytest.mark.browser


def test_lab_live_reasoning_then_static_output(lab_page, lab_server, browser_kimi):
    figures = check_live_streaming(lab_page, lab_server, browser_kimi, "lab")
    assert figures["first_token_latency_ms"] > -50  # clocks agree: same machine
    assert not lab_page.kimi_errors, lab_page.kimi_errors


def test_lab_gradient_descent_plot(lab_page, lab_server):
    name = write_notebook(lab_server.root, "gd.ipynb", ["%load_ext kimi_jupyter", "%%kimi -y\nVisualize gradient descent"])
    open_notebook(lab_page, lab_server, name)
    run_and_wait(lab_page, 0)
    run_and_wait(lab_page, 1, timeout=90_000)
    out = cell(lab_page, 1).locator(".jp-Cell-outputArea")
    img = out.locator("img").first
    img.wait_for(state="visible")
    assert img.get_attribute("src").startswith("data:image/png;base64,")
    # A decoded image has its natural size (visible can come first).
    lab_page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=img.element_handle())
    size = img.evaluate("el => [el.naturalWidth, el.naturalHeight]")
    assert size[0] > 100 and size[1] > 100, f"the plot is too small to be a figure: {size}"
    # Reasoning, the code, the figure, the answer, the footer: markdown renders asynchronously
    # after the cell is done, so wait for the states checked (expect retries).
    expect(out).to_contain_text("Kimi runs Python")
    expect(out).to_contain_text("kimi-k2.6 ·")  # the footer, the last output
    assert out.locator("details.kimi-reasoning").count() >= 2  # one per model reply
    expect(out.locator(".jupyter-widgets")).to_have_count(0)
    img.scroll_into_view_if_needed()
    screenshot(lab_page, "lab-gradient-descent-plot")


# Installed before the 160k cell runs. It measures, on the page:
# - frame gaps: a requestAnimationFrame loop (a blocked main thread shows as a long gap);
# - long tasks (> 50 ms of uninterrupted main-thread work);
# - per DOM update of the cell: the reasoning's length then, the time since the last
#   websocket message (Jupyter's handling of it, up to the DOM change) and the time
#   from the DOM change to the next painted frame (style, layout, paint).
_PERF = """
(cell) => {
  const m = window.__perf = {gaps: [], longtasks: [], updates: [], running: true};
  let last = null;
  const loop = (t) => { if (last !== null) m.gaps.push(t - last); last = t; if (m.running) requestAnimationFrame(loop); };
  requestAnimationFrame(loop);
  new PerformanceObserver((list) => { for (const e of list.getEntries()) m.longtasks.push(e.duration); })
    .observe({type: 'longtask'});
  new MutationObserver(() => {
    const t0 = performance.now();
    // The reasoning may span several Outputs (a fresh one every ~20k characters).
    let len = 0;
    for (const pre of cell.querySelectorAll('.jupyter-widget-Accordion .widget-output pre')) len += pre.textContent.length;
    const u = {len: len, ws: window.__kimiWsLast ? t0 - window.__kimiWsLast : null};
    m.updates.push(u);
    requestAnimationFrame(() => setTimeout(() => { u.frame = performance.now() - t0; }, 0));
  }).observe(cell, {childList: true, subtree: true, characterData: true});
}
"""

# Before the page loads: note when each websocket message arrives, before Jupyter handles it.
_WS_HOOK = """
(() => {
  const Orig = window.WebSocket;
  class Timed extends Orig {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', () => { window.__kimiWsLast = performance.now(); });
    }
  }
  window.WebSocket = Timed;
})();
"""


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {
        "n": len(values),
        "median": round(statistics.median(ordered), 1),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
        "max": round(ordered[-1], 1),
    }


def test_lab_stays_responsive_under_160k_reasoning(lab_page, lab_server, browser_kimi):
    chars, cps = 160_000, 16_000  # ten seconds of text
    browser_kimi.add_scenario(long_reasoning_scenario("browser_160k", chars, cps=cps, match=r"think about 160k"))
    name = write_notebook(lab_server.root, "long.ipynb", ["%load_ext kimi_jupyter", "%%kimi\nPlease think about 160k characters."])
    lab_page.add_init_script(_WS_HOOK)
    open_notebook(lab_page, lab_server, name)
    run_and_wait(lab_page, 0)
    target = cell(lab_page, 1).element_handle()
    lab_page.evaluate(_PERF, target)
    started = time.monotonic()
    run_cell(lab_page, 1)
    # While it streams, the page must still answer: a round trip into the page's main thread.
    probes = []
    while True:
        t0 = time.monotonic()
        done = lab_page.evaluate(
            "(cell) => /\\[\\d+\\]/.test(cell.querySelector('.jp-InputArea-prompt').textContent)", target
        )
        probes.append((time.monotonic() - t0) * 1000)
        if done or time.monotonic() - started > 120:
            break
        time.sleep(0.25)
    wait_cell_done(lab_page, 1, timeout=10_000)
    streamed_s = time.monotonic() - started
    perf = lab_page.evaluate("() => { window.__perf.running = false; return window.__perf; }")
    out = cell(lab_page, 1).locator(".jp-Cell-outputArea")
    expect(out.locator("details.kimi-reasoning")).to_have_count(1)
    assert len(out.locator("details.kimi-reasoning").text_content()) >= chars
    assert perf["gaps"], "no animation frames were recorded"

    gaps = perf["gaps"]
    updates = [u for u in perf["updates"] if u.get("frame") is not None and u["len"] > 0]
    half = chars // 2
    early = [u for u in updates if u["len"] < half]
    late = [u for u in updates if u["len"] >= half]
    figures = {
        "chars": chars,
        "cps": cps,
        "cell_seconds": round(streamed_s, 1),
        "frame_gap_ms": _summary(gaps),
        "frames_over_50ms": sum(g > 50 for g in gaps),
        "frames_over_100ms": sum(g > 100 for g in gaps),
        "long_tasks_ms": _summary(perf["longtasks"]),
        "long_task_total_ms": round(sum(perf["longtasks"]), 1),
        "reasoning_updates": len(updates),
        "dom_update_to_next_frame_ms": _summary([u["frame"] for u in updates]),
        "dom_update_to_next_frame_ms_first_half": _summary([u["frame"] for u in early]),
        "dom_update_to_next_frame_ms_second_half": _summary([u["frame"] for u in late]),
        "ws_message_to_dom_update_ms": _summary([u["ws"] for u in updates if u["ws"] is not None]),
        "page_round_trip_ms": _summary(probes),
        # Each update as [reasoning characters on the page, ms to the next frame], to see how cost grows.
        "updates": [[u["len"], round(u["frame"], 1)] for u in updates],
    }
    record_metric("lab_160k_reasoning", figures)
    print(f"[lab 160k] {figures}")

"""Frontend traffic: iopub bytes and messages per second while `%%kimi` streams paced
reasoning of 10k, 40k and 160k characters into the live widget view (real kernel).

Every iopub message of the cell is counted as it would travel to the browser (header,
parent header, metadata, content, buffers; the same count as tests/test_traffic.py),
including the static outputs that replace the widget at the end. The baseline, in the
same kernel on the same stream, is the naive live view: an `ipywidgets.HTML` whose whole
`value` is resent ten times a second (NAIVE_VIEW below, ~20 lines).

Bytes per character depend on the pace: each iopub message carries ~500 bytes of
headers, so the slower the text arrives, the more the headers weigh. The main pace is
4,000 chars/s (as in tests/test_traffic.py); a slow row at a realistic model speed shows
the other end.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .common import Cell, Kernel, Row, Section, bench_server, kimi_env, log, median, msg_bytes, pick, ratio

SIZES = {
    "full": {"lengths": [10_000, 40_000, 160_000], "cps": 4_000, "slow": [(2_000, 400), (10_000, 400)], "runs": 3},
    "quick": {"lengths": [10_000, 40_000], "cps": 4_000, "slow": [(2_000, 400)], "runs": 1},
    "tiny": {"lengths": [1_000], "cps": 10_000, "slow": [], "runs": 1},
}
# Targets for iopub bytes / text by reply size: the fixed cost of a reply (its
# messages' headers, the footer, the answer) weighs more on a short one.
TARGET_BYTES = {2_000: 5.0, 10_000: 3.0, 40_000: 2.5}
TARGET_RATE = 30.0

NAIVE_VIEW = '''
import html as _html, time as _time
import ipywidgets as _w
from IPython.display import display as _display
from kimi_jupyter.views.base import BaseView as _BaseView

class NaiveView(_BaseView):
    """The naive live view: resend the whole text as HTML.value ten times a second."""

    def on_step_start(self, step, model):
        self.parts, self.last = [], 0.0
        self.html = _w.HTML()
        _display(self.html)

    def _show(self):
        self.html.value = "<pre>" + _html.escape("".join(self.parts)) + "</pre>"

    def on_reasoning(self, delta):
        self.parts.append(delta)
        now = _time.monotonic()
        if now - self.last >= 0.1:
            self.last = now
            self._show()

    on_content = on_reasoning

    def on_step_end(self, turn, elapsed_s):
        self._show()
'''


def _prompt(chars: int, cps: float) -> str:
    # The unit ends the pattern, so "10000 at 400" doesn't also match "10000 at 4000".
    return f"traffic benchmark {chars} at {int(cps)} chars/s"


def _stats(cell: Cell, chars: int) -> dict[str, Any]:
    by_type: Counter[str] = Counter()
    count_by_type: Counter[str] = Counter()
    for _, msg in cell.messages:
        by_type[msg["msg_type"]] += msg_bytes(msg)
        count_by_type[msg["msg_type"]] += 1
    times = [t for t, _ in cell.messages]
    # Busiest one-second window (a sliding window over receive times).
    peak, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - 1.0:
            j += 1
        peak = max(peak, i - j + 1)
    total = cell.bytes
    return {
        "chars": chars, "bytes": total, "messages": len(cell.messages), "seconds": cell.seconds,
        "bytes_per_char": total / chars, "messages_per_s": len(cell.messages) / cell.seconds,
        "peak_messages_in_1s": peak, "bytes_by_type": dict(by_type), "messages_by_type": dict(count_by_type),
    }


# The warm-up reply streams for longer than the widget view waits before showing its
# widget (~1 s, views/widget.py), so it opens the pooled widgets outside the counts.
WARM_UP = (3000, 2000)


def measure(size: str = "full", runs: int | None = None, peer: bool = True) -> Section:
    from kimi_jupyter.testing import long_reasoning_scenario

    cfg = pick(size, SIZES)
    runs = runs or cfg["runs"]
    cps = cfg["cps"]
    streams = [(n, cps) for n in cfg["lengths"]] + list(cfg["slow"])
    scenarios = [long_reasoning_scenario(f"bench_traffic_{n}_{int(c)}", n, cps=c, match=_prompt(n, c))
                 for n, c in [*streams, WARM_UP]]
    section = Section("traffic", f"Frontend traffic: paced streams through the %%kimi widget view")
    server = bench_server(scenarios=scenarios)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    try:
        with Kernel(env=kimi_env(server)) as k:
            k.run("%load_ext kimi_jupyter\nimport kimi_jupyter, ipywidgets")
            k.run(NAIVE_VIEW)
            # First-use imports and the live widgets, outside the counts: a reply long enough
            # to get the widget opens its comms, which later cells reuse (the first cell of
            # a kernel pays ~12 kB for them once).
            k.run(f"%%kimi -n\n{_prompt(*WARM_UP)}")
            k.run('_ = kimi_jupyter.chat("warm up", new=True, view=NaiveView())')
            for i in range(runs):
                for n, c in streams:
                    key = f"{n}@{int(c)}"
                    res = results.setdefault(key, {"kimi": [], "naive": []})
                    timeout = n / c + 120
                    log(f"traffic: run {i + 1}/{runs}: {n:,} chars at {int(c):,} chars/s ({n / c:.0f} s), kimi then naive")
                    cell = k.run(f"%%kimi -n\n{_prompt(n, c)}", timeout=timeout)
                    res["kimi"].append(_stats(cell, n))
                    if (n, c) in cfg["slow"]:
                        continue  # the slow pace is a sensitivity check of our view only
                    cell = k.run(f'_ = kimi_jupyter.chat({_prompt(n, c)!r}, new=True, view=NaiveView())',
                                 timeout=timeout)
                    res["naive"].append(_stats(cell, n))
    finally:
        server.stop()

    for n, c in streams:
        res = results[f"{n}@{int(c)}"]
        label = f"{n // 1000}k chars at {int(c):,}/s"
        kb = median(r["bytes_per_char"] for r in res["kimi"])
        kr = median(r["messages_per_s"] for r in res["kimi"])
        nb = median(r["bytes_per_char"] for r in res["naive"])
        nr = median(r["messages_per_s"] for r in res["naive"])
        peak = max(r["peak_messages_in_1s"] for r in res["kimi"])
        slow = (n, c) in cfg["slow"]
        target = next((t for size, t in sorted(TARGET_BYTES.items(), reverse=True) if n >= size), 5.0)
        section.rows.append(Row(f"{label}: iopub bytes / text", kb, "×", None if slow else "naive HTML.value 10/s",
                                nb, ratio(kb, nb), f"< {target:g}×", kb < target,
                                note="realistic model pace" if slow else ""))
        section.rows.append(Row(f"{label}: iopub messages / s", kr, "msg/s", None if slow else "naive HTML.value 10/s",
                                nr, ratio(kr, nr), f"≤ {TARGET_RATE:g}/s", kr <= TARGET_RATE,
                                note=f"busiest second: {peak}"))
    section.details.update(config=cfg, runs=results)
    return section

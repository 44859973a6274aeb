"""Tool loop: `%%kimi -y --max-steps 300` running 300 steps of a trivial python tool (the
loopback server's built-in `loop300` scenario) in a real kernel, with the widget view.

- Per-step overhead: the cell's wall time minus the server's own time (request arrival to
  response end, summed over requests), divided by the number of requests. It covers the
  client (request building, SDK, SSE parsing), the view (widgets per step), the tool run
  and the kernel's messaging.
- Cache hit rate: `sum(cached_tokens) / sum(prompt_tokens)` from the cell's
  `Result.usage` (`-o`). The server emulates Moonshot's automatic prefix cache.
- Memory: the kernel's RSS, sampled every 20 ms from outside with psutil and tagged with
  the step the server has reached. Growth per step is the least-squares slope of RSS over
  the last 80% of steps, next to how much the conversation grows per step (the request
  body's size, from the server).
"""

from __future__ import annotations

import json
from typing import Any

from .common import Kernel, Row, Sampler, Section, bench_server, kimi_env, log, median, pick, ratio, slope

SIZES = {
    "full": {"steps": 300, "runs": 3},
    "quick": {"steps": 100, "runs": 1},
    "tiny": {"steps": 5, "runs": 1},
}
TARGET_STEP_MS = 10.0
TARGET_HIT = 0.90
RESULT_EXPR = "(_bench_res.usage.prompt_tokens, _bench_res.usage.cached_tokens, _bench_res.steps, " \
              "_bench_res.requests, len(json.dumps(_bench_res.messages)), _bench_res.finish_reason)"


def _scenario(steps: int) -> tuple[Any, str]:
    """The built-in loop300 for 300 steps; the same script with another count otherwise."""
    from kimi_jupyter.testing import Scenario, ToolCallSpec, ScriptedTurn

    if steps == 300:
        return None, "run 300 steps"
    code = json.dumps({"code": "counter = globals().get('counter', 0) + 1"})
    scenario = Scenario(f"bench_loop{steps}", [
        ScriptedTurn(reasoning="Next step.", tool_calls=[ToolCallSpec("python", code)], repeat=steps),
        ScriptedTurn(reasoning="All steps are done.", content="Ran $step steps."),
    ], match=rf"run {steps} bench steps")
    return scenario, f"run {steps} bench steps"


def _one_run(server: Any, steps: int, prompt: str) -> dict[str, Any]:
    with Kernel(env=kimi_env(server)) as k:
        k.run("%load_ext kimi_jupyter\nimport json, ipywidgets")
        k.run("%%kimi -n -y --max-steps 2\nrun 2 bench steps")  # first-use imports, first widgets
        rss_before = k.rss()
        before = len(server.records)
        with Sampler(lambda: (k.rss(), len(server.records) - before)) as sampler:
            cell = k.run(f"%%kimi -n -y --max-steps {steps} -o _bench_res\n{prompt}", timeout=1800,
                         user_expressions={"r": RESULT_EXPR})
        prompt_tokens, cached, done_steps, requests, conv_chars, finish = cell.expr("r")
    recs = server.records[before:]
    server_s = sum(r["t_end"] - r["t_arrive"] for r in recs)
    samples = [(s, rss) for _, (rss, s) in sampler.samples if s >= 1]
    start = max(1, int(steps * 0.2))
    tail = [(s, rss) for s, rss in samples if s >= start]
    rss_slope = slope([float(s) for s, _ in tail], [float(r) for _, r in tail]) if len(tail) > 2 else None
    # Kernel-side time between one response's end and the next request: it should not grow with the step.
    gaps = [(b["t_arrive"] - a["t_end"]) * 1000 for a, b in zip(recs, recs[1:])]
    tenth = max(1, len(gaps) // 10)
    body = [r["body_bytes"] for r in recs]
    conv_growth = (body[-1] - body[0]) / (len(body) - 1) if len(body) > 1 else None
    return {
        "steps": done_steps, "requests": requests, "finish_reason": finish,
        "cell_s": cell.seconds, "server_s": server_s,
        "overhead_ms_per_step": (cell.seconds - server_s) / max(requests, 1) * 1000,
        "server_ms_per_request": server_s / max(len(recs), 1) * 1000,
        "prompt_tokens": prompt_tokens, "cached_tokens": cached, "hit_rate": cached / prompt_tokens if prompt_tokens else None,
        "rss_before_mb": rss_before / 2**20,
        "rss_peak_mb": max((r for _, r in samples), default=rss_before) / 2**20,
        "rss_growth_bytes_per_step": rss_slope,
        "conversation_growth_bytes_per_step": conv_growth,
        "conversation_json_chars": conv_chars,
        "request_body_bytes_first_last": [body[0], body[-1]] if body else None,
        "gap_ms_first_10pct": median(gaps[:tenth]), "gap_ms_last_10pct": median(gaps[-tenth:]),
        "iopub_bytes_per_step": cell.bytes / max(done_steps, 1),
        "iopub_messages_per_step": len(cell.messages) / max(done_steps, 1),
    }


def measure(size: str = "full", runs: int | None = None, peer: bool = True) -> Section:
    cfg = pick(size, SIZES)
    runs = runs or cfg["runs"]
    steps = cfg["steps"]
    scenario, prompt = _scenario(steps)
    warm, _ = _scenario(2)
    section = Section("toolloop", f"Tool loop: {steps} steps of a trivial python tool (%%kimi -y, widget view)")
    server = bench_server(scenarios=[s for s in (scenario, warm) if s is not None])
    results = []
    try:
        for i in range(runs):
            log(f"toolloop: run {i + 1}/{runs}: {steps} steps in a fresh kernel")
            results.append(_one_run(server, steps, prompt))
    finally:
        server.stop()

    over = median(r["overhead_ms_per_step"] for r in results)
    srv_ms = median(r["server_ms_per_request"] for r in results)
    hit = median(r["hit_rate"] for r in results)
    peak = median(r["rss_peak_mb"] for r in results)
    before = median(r["rss_before_mb"] for r in results)
    growth = median(r["rss_growth_bytes_per_step"] for r in results)
    conv = median(r["conversation_growth_bytes_per_step"] for r in results)
    done = results[0]["steps"]
    first_gap = median(r["gap_ms_first_10pct"] for r in results) or 0.0
    last_gap = median(r["gap_ms_last_10pct"] for r in results) or 0.0
    section.rows.append(Row("overhead per step beyond the server", over, "ms", "server's own time per request", srv_ms,
                            ratio(over, srv_ms), f"< {TARGET_STEP_MS:g} ms", over is not None and over < TARGET_STEP_MS,
                            note=f"{done} steps; between requests: {first_gap:.0f} ms early, {last_gap:.0f} ms late"))
    section.rows.append(Row("prompt-cache hit rate", hit * 100 if hit is not None else None, "%", None, None, None,
                            f"> {TARGET_HIT * 100:g}%", hit is not None and hit > TARGET_HIT))
    section.rows.append(Row("kernel peak RSS", peak, "MB", "RSS before the cell", before, ratio(peak, before),
                            None, None))
    growth_ratio = ratio(growth, conv)
    section.rows.append(Row("RSS growth per step", (growth or 0) / 1024, "KiB", "conversation growth per step (JSON)",
                            (conv or 0) / 1024, growth_ratio, "≈ the conversation's own",
                            None, note="judged in the report: Python dicts cost a few × their JSON"))
    section.details.update(config=cfg, runs=results)
    return section

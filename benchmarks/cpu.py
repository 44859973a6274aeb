"""Kernel CPU: `%%kimi` consuming an unpaced 800k-character reasoning stream, against a
bare loop over the openai SDK stream on the same server, in the same real kernel.

CPU is the kernel process's user + system time (all threads: the main thread, and
ipykernel's IOPub thread that sends what the view writes), read with psutil around each
cell. The server runs in this process, so its work is not counted. Three contenders,
interleaved, after a warm-up that pays the first-use imports:

- `%%kimi -n` with its default view in a kernel (the live widget, then static outputs);
- kimi's core alone: `kimi_jupyter.chat(..., view=BaseView())` (client + fold, no display);
- the baseline: `client.chat.completions.create(stream=True)`, iterating the chunks and
  reading `delta.reasoning_content` via `model_extra` (text collected, nothing shown).
"""

from __future__ import annotations

from typing import Any

from .common import API_KEY, MODEL, Kernel, Row, Section, bench_server, kimi_env, log, median, pick, ratio

SIZES = {
    "full": {"chars": 800_000, "runs": 3},
    "quick": {"chars": 200_000, "runs": 2},
    "tiny": {"chars": 20_000, "runs": 1},
}
TARGET_RATIO = 1.3
PROMPT = "cpu benchmark: think a lot."

SDK_SETUP = """
from openai import OpenAI as _OpenAI
from kimi_jupyter.views.base import BaseView as _BaseView
import kimi_jupyter, ipywidgets
_bench_client = _OpenAI(api_key={key!r}, base_url={url!r}, max_retries=0)

def _bench_sdk(prompt):
    parts = []
    for chunk in _bench_client.chat.completions.create(
            model={model!r}, messages=[{{"role": "user", "content": prompt}}], stream=True):
        if chunk.choices:
            delta = chunk.choices[0].delta
            text = (delta.model_extra or {{}}).get("reasoning_content")
            if text:
                parts.append(text)
            if delta.content:
                parts.append(delta.content)
    return "".join(parts)
"""

CONTENDERS = {
    "kimi": "%%kimi -n\n{prompt}",
    "core": "_ = kimi_jupyter.chat({prompt!r}, new=True, view=_BaseView())",
    "sdk": "_ = _bench_sdk({prompt!r})",
}

# IPython 9 keeps every stdout write of a cell in history_manager.outputs (for %history -o).
HISTORY_PROBE = (
    "sum(len(s) for outs in get_ipython().history_manager.outputs.values() for o in outs "
    "for s in o.bundle.get('stream', [])) if hasattr(get_ipython().history_manager, 'outputs') else 0"
)


def measure(size: str = "full", runs: int | None = None, peer: bool = True) -> Section:
    from kimi_jupyter.testing import long_reasoning_scenario

    cfg = pick(size, SIZES)
    runs = runs or cfg["runs"]
    scenarios = [long_reasoning_scenario("bench_cpu", cfg["chars"], cps=None, match=r"cpu benchmark"),
                 long_reasoning_scenario("bench_cpu_warm", 2_000, cps=None, match=r"cpu warm up")]
    section = Section("cpu", f"Kernel CPU: unpaced {cfg['chars']:,}-character stream")
    server = bench_server(scenarios=scenarios)
    res: dict[str, list[dict[str, float]]] = {name: [] for name in CONTENDERS}
    try:
        with Kernel(env=kimi_env(server)) as k:
            k.run("%load_ext kimi_jupyter")
            k.run(SDK_SETUP.format(key=API_KEY, url=server.base_url, model=MODEL))
            for code in CONTENDERS.values():  # first-use imports and the first widget
                k.run(code.format(prompt="cpu warm up"))
            history_before = k.run("pass", user_expressions={"h": HISTORY_PROBE}).expr("h")
            for i in range(runs):
                log(f"cpu: run {i + 1}/{runs}: {cfg['chars']:,} chars unpaced through %%kimi, kimi core, bare SDK")
                for name, code in CONTENDERS.items():
                    cpu0 = k.cpu_seconds()
                    cell = k.run(code.format(prompt=PROMPT), timeout=600)
                    res[name].append({"cpu_s": k.cpu_seconds() - cpu0, "wall_s": cell.seconds})
            history_after = k.run("pass", user_expressions={"h": HISTORY_PROBE}).expr("h")
    finally:
        server.stop()

    kimi, core, sdk = (median(r["cpu_s"] for r in res[n]) for n in ("kimi", "core", "sdk"))
    walls = {n: median(r["wall_s"] for r in res[n]) for n in res}
    r_kimi = ratio(kimi, sdk)
    section.rows.append(Row("%%kimi (widget view): kernel CPU", kimi, "s", "bare openai SDK loop", sdk, r_kimi,
                            f"≤ {TARGET_RATIO:g}×", r_kimi is not None and r_kimi <= TARGET_RATIO,
                            note=f"wall {walls['kimi']:.2f} s vs {walls['sdk']:.2f} s"))
    section.rows.append(Row("kimi core, no view: kernel CPU", core, "s", "bare openai SDK loop", sdk, ratio(core, sdk),
                            None, None, note=f"wall {walls['core']:.2f} s"))
    section.details.update(config=cfg, runs=res, chunks=cfg["chars"] // 4,
                           ipython_history_stream_chars_kept=history_after - history_before)
    return section

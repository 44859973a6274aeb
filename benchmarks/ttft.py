"""Time to first visible token: from the server sending its first reasoning chunk to the
frontend receiving the iopub message that shows it (real kernel, jupyter_client).

The server's timestamp comes from a hook on the loopback handler's socket writer (the
moment the first text event is written). The frontend's is when this process, acting as
the frontend, receives the iopub message; both are `time.perf_counter()` in this process.

Three contenders on the same paced stream (~20 s of reasoning, then a short answer):
- `%%kimi` (widget view in a real kernel);
- the floor: a bare openai SDK loop in the same kernel that prints each delta,
  flushing the first one (no view at all);
- jupyter-ai-magics `%%ai` through its OpenAI-compatible provider (`openai-chat-custom`,
  `openai_api_base` = the loopback server). It makes a non-streamed request and shows
  the answer only when the whole reply is in (it never shows the reasoning). The
  loopback server answers non-streamed requests at once, so the benchmark's handler
  holds such a reply back for as long as the paced stream takes: the model generates at
  the same speed either way. Its "first chunk" time is when that wait starts.
"""

from __future__ import annotations

import json
from typing import Any

from . import peer as peer_mod
from .common import API_KEY, MODEL, Cell, Kernel, Row, Section, bench_server, kimi_env, log, median, pick, ratio

SIZES = {
    "full": {"chars": 40_000, "cps": 2_000, "runs": 5, "peer_runs": 3},
    "quick": {"chars": 6_000, "cps": 2_000, "runs": 3, "peer_runs": 1},
    "tiny": {"chars": 400, "cps": 4_000, "runs": 1, "peer_runs": 0},
}
TARGET_MS = 100.0
PROMPT = "ttft benchmark: think it over, then answer."
_VISIBLE = ("stream", "display_data", "update_display_data", "execute_result", "comm_msg")


def _shown_text(msg: dict[str, Any]) -> str:
    c = msg["content"]
    kind = msg["msg_type"]
    if kind == "stream":
        return c.get("text", "")
    if kind == "comm_msg":
        return json.dumps(c.get("data", {}), ensure_ascii=False)
    return " ".join(str(v) for v in (c.get("data") or {}).values())


def first_visible(cell: Cell, needle: str) -> float | None:
    """Receive time of the first iopub message that shows `needle`."""
    for t, msg in cell.messages:
        if msg["msg_type"] in _VISIBLE and needle in _shown_text(msg):
            return t
    return None


def _timed(kernel: Kernel, server: Any, code: str, needle: str, timeout: float) -> dict[str, Any]:
    before = len(server.records)
    cell = kernel.run(code, timeout=timeout)
    recs = server.records[before:]
    if not recs or recs[0]["t_first_text"] is None:
        raise RuntimeError(f"the server saw no streamed text for {code[:40]!r}")
    t_server = recs[0]["t_first_text"]
    t_seen = first_visible(cell, needle)
    return {
        "ttft_ms": None if t_seen is None else (t_seen - t_server) * 1000,
        "request_after_send_ms": (recs[0]["t_arrive"] - cell.t_sent) * 1000,
        "cell_s": cell.seconds,
    }


SDK_SETUP = """
from openai import OpenAI as _OpenAI
_bench_client = _OpenAI(api_key={key!r}, base_url={url!r}, max_retries=0)
"""
SDK_PRINT = """
_first = True
for _ch in _bench_client.chat.completions.create(
        model={model!r}, messages=[{{"role": "user", "content": {prompt!r}}}], stream=True):
    if _ch.choices:
        _d = _ch.choices[0].delta
        _t = (_d.model_extra or {{}}).get("reasoning_content") or _d.content
        if _t:
            print(_t, end="", flush=_first)
            _first = False
"""


def _kimi_runs(server: Any, cfg: dict[str, Any], reasoning: str, runs: int) -> dict[str, list[dict[str, Any]]]:
    needle = reasoning[:4]  # the first chunk (the scenario sends 4 characters a chunk)
    timeout = cfg["chars"] / cfg["cps"] + 120
    out: dict[str, list[dict[str, Any]]] = {"kimi": [], "sdk": []}
    with Kernel(env=kimi_env(server)) as k:
        k.run("%load_ext kimi_jupyter\nimport ipywidgets")
        k.run(SDK_SETUP.format(key=API_KEY, url=server.base_url))
        for i in range(runs):
            log(f"ttft: run {i + 1}/{runs}: %%kimi, then the bare SDK loop ({cfg['chars'] / cfg['cps']:.0f} s each)")
            out["kimi"].append(_timed(k, server, f"%%kimi -n\n{PROMPT}", needle, timeout))
            out["sdk"].append(_timed(k, server, SDK_PRINT.format(model=MODEL, prompt=PROMPT), needle, timeout))
    return out


# jupyter-ai-magics: the OpenAI-compatible provider, pointed at the loopback server.
# Its magic splits the line on single spaces, so the JSON has none and no shell quoting.
PEER_CELL = '%%ai openai-chat-custom:{model} -f markdown -m {{"openai_api_base":"{url}"}}\n{prompt}'


def _peer_runs(server: Any, cfg: dict[str, Any], answer: str, runs: int, py: Any) -> list[dict[str, Any]]:
    env = dict(kimi_env(server), OPENAI_API_KEY=API_KEY)
    timeout = cfg["chars"] / cfg["cps"] + 180
    out = []
    with Kernel(env=env, python=str(py)) as k:
        k.run("%load_ext jupyter_ai_magics")
        for i in range(runs):
            log(f"ttft: run {i + 1}/{runs}: jupyter-ai %%ai ({cfg['chars'] / cfg['cps']:.0f} s)")
            cell = PEER_CELL.format(model=MODEL, url=server.base_url, prompt=PROMPT)
            out.append(_timed(k, server, cell, answer[:40], timeout))
    return out


def measure(size: str = "full", runs: int | None = None, peer: bool = True) -> Section:
    from kimi_jupyter.testing import long_reasoning_scenario

    cfg = pick(size, SIZES)
    runs = runs or cfg["runs"]
    scenario = long_reasoning_scenario("bench_ttft", cfg["chars"], cps=cfg["cps"], match=r"ttft benchmark")
    reasoning = scenario.turns[0].reasoning
    answer = scenario.turns[0].content.replace("$chars", f"{cfg['chars']:,}")
    section = Section("ttft", f"Time to first visible token ({cfg['chars']:,} chars at {cfg['cps']:,} chars/s, "
                              f"{cfg['chars'] / cfg['cps']:.0f} s stream)")
    server = bench_server(nonstream_cps=cfg["cps"], scenarios=[scenario])
    try:
        res = _kimi_runs(server, cfg, reasoning, runs)
        kimi = median(r["ttft_ms"] for r in res["kimi"])
        sdk = median(r["ttft_ms"] for r in res["sdk"])
        section.rows.append(Row("%%kimi: first reasoning token on iopub", kimi, "ms",
                                "bare SDK loop + print (floor)", sdk, ratio(kimi, sdk), f"< {TARGET_MS:g} ms",
                                kimi is not None and kimi < TARGET_MS,
                                note=f"cold (first cell) {res['kimi'][0]['ttft_ms']:.1f} ms"))
        section.details.update(runs=res, config=cfg)
        peer_py, desc = peer_mod.ensure(install=peer) if peer and cfg["peer_runs"] else (None, "not measured")
        section.details["peer"] = desc
        if peer_py is None:
            section.rows.append(Row("jupyter-ai %%ai: first answer text on iopub", None, "ms", "%%kimi", kimi,
                                    None, None, None, note=desc))
            return section
        try:
            peer_res = _peer_runs(server, cfg, answer, min(runs, cfg["peer_runs"]), peer_py)
        except Exception as exc:  # noqa: BLE001 - the peer failing must not lose our figures
            section.rows.append(Row("jupyter-ai %%ai: first answer text on iopub", None, "ms", "%%kimi", kimi,
                                    None, None, None, note=f"not measured: {type(exc).__name__}: {str(exc)[:200]}"))
            return section
        ai = median(r["ttft_ms"] for r in peer_res)
        section.rows.append(Row("jupyter-ai %%ai: first answer text on iopub", ai, "ms", "%%kimi", kimi,
                                ratio(ai, kimi), None, None,
                                note=f"{desc}; non-streamed: nothing shows until the whole reply is in"))
        section.details["peer_runs"] = peer_res
    finally:
        server.stop()
    return section

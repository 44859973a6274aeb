"""Many prompts (issue 26): `kimi_jupyter.map` over 1,000 prompts in a real kernel, against the
loopback server enforcing tier 1 (50 concurrent, 200 per minute) with a realistic latency.

- Wall time, next to the least time the limits allow (`limits.time_bound`: concurrency ×
  latency rounds, or the RPM windows), and next to a plain for-loop of `chat()` measured on
  a few items in the same kernel and scaled to the same count.
- Items lost: items without an answer, and requests the server saw more than once.
- Resume: the kernel is killed once half the items are in the cache; a new kernel runs the
  same call, and the server counts what it was sent (it must be exactly the missing items).
- Kernel CPU per item, next to one `chat()` call's CPU in the same kernel.
- Memory at 10k items: the kernel's RSS growth per item while the Results are held, next to
  the size of one item's record (its strings and numbers), so growth beyond the Result shows.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from .common import API_KEY, Kernel, Row, Section, kimi_env, log, ratio, pick

SIZES = {
    "full": {"items": 1000, "latency_s": 2.0, "serial": 8, "memory_items": 10_000},
    "quick": {"items": 300, "latency_s": 1.0, "serial": 4, "memory_items": 2_000},
    "tiny": {"items": 12, "latency_s": 0.05, "serial": 2, "memory_items": 40},
}
TARGET_WALL = 1.15
TEMPLATE = "Label this review: {item}"
_SETUP = "%load_ext kimi_jupyter\nimport kimi_jupyter, time, gc\nfrom kimi_jupyter.views.base import BaseView"


def _items(n: int, tag: str) -> str:
    return f"[f'{tag} review number {{i}}' for i in range({n})]"


def _server(tier: int | None, latency_s: float) -> Any:
    from kimi_jupyter.testing.server import KimiServer

    return KimiServer(api_key=API_KEY, tier=tier, latency_s=latency_s).start()


def _server_any_key(latency_s: float) -> Any:
    from kimi_jupyter.testing.server import KimiServer

    return KimiServer(api_key=None, latency_s=latency_s).start()


def _timed(server: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    """Tier 1, realistic latency: wall time, loss, CPU per item; then the serial chat() baseline."""
    from kimi_jupyter.batch.limits import time_bound, tier

    n, latency = cfg["items"], cfg["latency_s"]
    limits = tier(1)
    # Another server, same latency, no tier (any key; it gets none): the warm-up and the chat()
    # loop go there, since requests to the timed one would count in its minute (the loop, run
    # after the map, would wait out the minute the map had filled).
    other = _server_any_key(latency)
    with tempfile.TemporaryDirectory() as cache, Kernel(env=kimi_env(server)) as k:
        k.run(_SETUP + "\n%config Kimi.tier = 1")
        k.run(f"kimi_jupyter.map(['warm up'], cache=False, base_url={other.base_url!r})")  # imports, first widget
        server.limits.admitted = server.limits.rejected = 0
        sent_before = len(server.requests)
        cpu0 = k.cpu_seconds()
        cell = k.run(f"t0 = time.perf_counter()\nr = kimi_jupyter.map({_items(n, 'timed')}, {TEMPLATE!r}, "
                     f"cache={cache!r})\nwall = time.perf_counter() - t0", timeout=3600,
                     user_expressions={"x": "(wall, sum(x.ok for x in r), len(r))"})
        cpu = k.cpu_seconds() - cpu0
        wall, done, total = cell.expr("x")
        bodies = [str(b["messages"]) for b in server.requests[sent_before:]]
        rejected = server.limits.rejected
        serial_n = cfg["serial"]
        cpu1 = k.cpu_seconds()
        cell = k.run(f"t0 = time.perf_counter()\nfor p in {_items(serial_n, 'serial')}:\n"
                     f"    kimi_jupyter.chat({TEMPLATE!r}.format(item=p), new=True, tools=False, view=BaseView(), "
                     f"base_url={other.base_url!r})\n"
                     "swall = time.perf_counter() - t0", timeout=600, user_expressions={"s": "swall"})
        serial_cpu = (k.cpu_seconds() - cpu1) / serial_n
        serial_wall = cell.expr("s") / serial_n
    other.stop()
    return {
        "wall_s": wall, "bound_s": time_bound(n, limits.concurrency, limits.rpm, latency), "done": done,
        "lost": total - done, "duplicates": len(bodies) - len(set(bodies)), "sent": len(bodies),
        "rejected_429": rejected, "cpu_ms_per_item": cpu / n * 1000, "serial_s_per_item": serial_wall,
        "serial_cpu_ms_per_item": serial_cpu * 1000, "serial_projected_s": serial_wall * n,
    }


def _resume(cfg: dict[str, Any]) -> dict[str, Any]:
    """Kill the kernel at 50%, restart, run the same call: what the server is sent is what is missing."""
    n = cfg["items"]
    server = _server(None, cfg["latency_s"])  # no tier: resuming doesn't depend on the limits
    try:
        with tempfile.TemporaryDirectory() as cache:
            call = f"r = kimi_jupyter.map({_items(n, 'resume')}, {TEMPLATE!r}, cache={cache!r}, progress=False)"
            k = Kernel(env=kimi_env(server))
            try:
                k.run(_SETUP + "\n%config Kimi.tier = 5")
                k.kc.execute(call)  # not waited for: killed half-way
                deadline = time.monotonic() + 3600
                while _lines(cache) < n // 2 and time.monotonic() < deadline:
                    time.sleep(0.02)
            finally:
                k.shutdown()  # a hard kill, mid-run
            while server.limits.in_flight and time.monotonic() < deadline:
                time.sleep(0.02)  # requests the dead kernel left behind end at the server
            kept = _lines(cache)
            before = len(server.requests)
            with Kernel(env=kimi_env(server)) as k2:
                k2.run(_SETUP + "\n%config Kimi.tier = 5")
                cell = k2.run(call, timeout=3600, user_expressions={"x": "(sum(x.ok for x in r), len(r))"})
                done, total = cell.expr("x")
            resent = len(server.requests) - before
    finally:
        server.stop()
    return {"kept": kept, "missing": n - kept, "sent_on_resume": resent, "done_after_resume": done,
            "total": total}


def _memory(cfg: dict[str, Any]) -> dict[str, Any]:
    """RSS growth per item while the Results are held, at a small and the large count."""
    n = cfg["memory_items"]
    server = _server(None, 0.0)
    out: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory() as cache, Kernel(env=kimi_env(server)) as k:
            k.run(_SETUP + "\n%config Kimi.tier = 5\nimport sys")
            k.run("kimi_jupyter.map(['warm up'], cache=False, progress=False)")
            for count in (max(2, n // 10), n):
                k.run("r = None; gc.collect()")
                rss0 = k.rss()
                cell = k.run(f"r = kimi_jupyter.map({_items(count, f'mem{count}')}, {TEMPLATE!r}, cache={cache!r}, "
                             "progress=False)\ngc.collect()", timeout=3600,
                             user_expressions={"size": _RESULT_SIZE})
                out[count] = {"rss_per_item": (k.rss() - rss0) / count, "result_bytes": cell.expr("size")}
    finally:
        server.stop()
    return out


# One item's record, deep: the object, its strings and its usage (what the Results must hold).
_RESULT_SIZE = ("(lambda x: sys.getsizeof(x) + sys.getsizeof(x.__dict__) + sum(sys.getsizeof(v) for v in "
                "x.__dict__.values() if isinstance(v, (str, int, float))) + sys.getsizeof(x.usage) "
                "+ sys.getsizeof(x.usage.__dict__))(r[len(r) // 2])")


def _lines(folder: str) -> int:
    return sum(len(p.read_text().splitlines()) for p in Path(folder).glob("*.jsonl"))


def measure(size: str = "full", runs: int | None = None, peer: bool = True) -> Section:
    cfg = pick(size, SIZES)
    n = cfg["items"]
    section = Section("map", f"Many prompts: kimi_jupyter.map over {n:,} prompts at tier-1 limits, "
                             f"{cfg['latency_s']:g} s latency")
    server = _server(1, cfg["latency_s"])
    try:
        log(f"map: {n} prompts at tier 1 in a kernel (and {cfg['serial']} through a chat() loop)")
        timed = _timed(server, cfg)
    finally:
        server.stop()
    log("map: kill at 50% and resume")
    resume = _resume(cfg)
    log(f"map: memory at {cfg['memory_items']:,} items")
    memory = _memory(cfg)

    wall_ratio = ratio(timed["wall_s"], timed["bound_s"])
    section.rows.append(Row("wall time", timed["wall_s"], "s", "bound set by the tier's limits", timed["bound_s"],
                            wall_ratio, f"≤ {TARGET_WALL}×", wall_ratio is not None and wall_ratio <= TARGET_WALL,
                            note=f"{timed['rejected_429']} 429s from the server"))
    section.rows.append(Row(f"a chat() loop over the {n:,} items (projected)", timed["serial_projected_s"], "s",
                            "map's wall time", timed["wall_s"], ratio(timed["serial_projected_s"], timed["wall_s"]),
                            None, None, note=f"measured on {cfg['serial']} items: "
                                             f"{timed['serial_s_per_item']:.2f} s each"))
    section.rows.append(Row("items lost", timed["lost"] + timed["duplicates"], "", None, None, None, "0",
                            timed["lost"] + timed["duplicates"] == 0,
                            note=f"{timed['done']:,} answered, {timed['sent']:,} requests, "
                                 f"{timed['duplicates']} sent twice"))
    resume_ratio = ratio(resume["sent_on_resume"], resume["missing"])
    section.rows.append(Row("sent on resume after a kill at 50%", resume["sent_on_resume"], "requests",
                            "items missing from the cache", resume["missing"], resume_ratio, "= missing",
                            resume["sent_on_resume"] == resume["missing"] and resume["done_after_resume"] == n,
                            note=f"{resume['kept']:,} kept through the kill"))
    section.rows.append(Row("kernel CPU per item", timed["cpu_ms_per_item"], "ms", "one chat() call",
                            timed["serial_cpu_ms_per_item"], ratio(timed["cpu_ms_per_item"],
                                                                   timed["serial_cpu_ms_per_item"]), None, None))
    small, large = sorted(memory)
    per_item = memory[large]["rss_per_item"]
    record = memory[large]["result_bytes"]
    section.rows.append(Row(f"RSS per item at {large:,} items", per_item / 1024, "KiB", "one item's record",
                            record / 1024, ratio(per_item, record), "≈ its Result", None,
                            note=f"at {small:,} items: {memory[small]['rss_per_item'] / 1024:.1f} KiB per item"))
    section.details.update(config=cfg, timed=timed, resume=resume,
                           memory={str(k): v for k, v in memory.items()})
    return section

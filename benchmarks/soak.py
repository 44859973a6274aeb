"""Soak: a long session in one real kernel (`%%kimi` cells with the widget view).

- Growing conversation: N cells, each adding a few KB to the conversation (a long
  prompt, reasoning and an answer). The kernel's RSS is read after every cell; bytes
  per cell early (cells 10%..35%) and late (the last 25%) are least-squares slopes,
  next to how much the conversation's JSON grows per cell. Kept `Result`s that deep-copied
  the history made the late figure grow with the cell number (quadratic memory);
  flat is the target.
- Short cells: M short cells in one kernel (a plain answer; every other cell one python
  tool step; every tenth cell streams long enough to get the live widget). Before and
  after: RSS, the conversation's JSON size, live ipywidgets (`Widget` instances),
  comms in the comm manager, and threads (`threading.active_count()`): no growth beyond
  the history itself, no leaked comm or thread.
- Plain cells: the same number of plain cells (``pass`` and a comment, a source as short
  as a short ``%%kimi`` cell's) in another kernel set up the same way (kimi loaded and
  warmed up). IPython keeps per-cell bookkeeping of its own (input history, a
  ``linecache`` entry per compiled cell); this baseline is that cost, so the report
  gives kimi's growth per cell beyond a plain cell's next to the raw figure.
"""

from __future__ import annotations

from typing import Any

from .common import Kernel, Row, Section, bench_server, kimi_env, log, median, pick, ratio, slope

SIZES = {
    "full": {"grow_cells": 200, "short_cells": 1000},
    "quick": {"grow_cells": 200, "short_cells": 1000},
    "tiny": {"grow_cells": 10, "short_cells": 10},
}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
GROW_TEXT = "Here is more context about the data set and what I want from it. " * 15  # ~1 KB per prompt
# `ipywidgets.widgets.widget._instances` is private, kept here on purpose (issue 25): it is
# every widget the kernel holds, which is what a leak check counts. Its only public door,
# `Widget.widgets`, is deprecated and warns; the comm count beside it is public. Checked on
# ipywidgets 8.1.9 (8.0 had no `_instances`: `Widget._active_widgets` was the registry); a benchmark,
# so it fails loudly, not wrongly, where ipywidgets moves it.
STATE_EXPR = (
    "(__import__('psutil').Process().memory_info().rss, "
    "len(__import__('json').dumps(__import__('kimi_jupyter.core.session', fromlist=['x']).default_session()"
    ".conversation.messages)), "
    "len(__import__('ipywidgets').widgets.widget._instances), "
    "len(__import__('comm').get_comm_manager().comms), "
    "__import__('threading').active_count(), "
    "len(__import__('kimi_jupyter.core.session', fromlist=['x']).default_session().results))"
)


# What the allocator keeps after a collection: glibc's malloc holds on to freed memory
# (about half of the short cells' raw RSS growth here), which is not a leak; trimming
# it shows what the cells actually retain. A no-op where there is no glibc.
TRIM = ("import gc as _g, ctypes as _c, ctypes.util as _u; _g.collect()\n"
        "try:\n    _c.CDLL(_u.find_library('c') or 'libc.so.6').malloc_trim(0)\n"
        "except (OSError, AttributeError):\n    pass\ndel _g, _c, _u")


def _trimmed_rss(k: Kernel) -> int:
    k.run(TRIM)
    return int(k.run("pass", user_expressions={"r": STATE_EXPR}).expr("r")[0])


def _scenarios() -> list[Any]:
    from kimi_jupyter.testing import Scenario, ToolCallSpec, ScriptedTurn

    code = '{"code": "soak_n = globals().get(\'soak_n\', 0) + 1"}'
    return [
        Scenario("soak_grow", [ScriptedTurn(reasoning="Reading the new context carefully. " * 30,
                                    content="Noted; the data set now has these properties: " + "ok. " * 200)],
                 match=r"^soak grow"),
        Scenario("soak_tool", [ScriptedTurn(reasoning="One quick step.", tool_calls=[ToolCallSpec("python", code)]),
                               ScriptedTurn(reasoning="Done.", content="Counted.")], match=r"^soak tool"),
        # ~1.4 s: longer than the widget view waits (~1 s after the first token) before it
        # shows the live widget; a shorter reply never gets one.
        Scenario("soak_live", [ScriptedTurn(reasoning="Thinking this one through, slowly. " * 6, content="Done.")],
                 match=r"^soak live", cps=150),
        Scenario("soak_short", [ScriptedTurn(reasoning="Short.", content="OK.")], match=r"^soak short"),
    ]


def _state(k: Kernel) -> dict[str, int]:
    cell = k.run("pass", user_expressions={"s": STATE_EXPR})
    rss, conv, widgets, comms, threads, results = cell.expr("s")
    return {"rss": rss, "conversation_json": conv, "widgets": widgets, "comms": comms, "threads": threads,
            "results": results}


def _grow(server: Any, cells: int) -> dict[str, Any]:
    with Kernel(env=kimi_env(server)) as k:
        k.run("%load_ext kimi_jupyter\nimport ipywidgets, psutil, comm")
        k.run("%%kimi -n\nsoak short warm-up")
        start = _state(k)
        rss: list[int] = []
        for i in range(cells):
            k.run(f"%%kimi\nsoak grow {i}: {GROW_TEXT}")
            rss.append(k.rss())
        end = _state(k)
    xs = list(range(cells))
    a, b = max(1, cells // 10), max(3, cells * 35 // 100)
    c = max(0, cells - max(3, cells // 4))
    early = slope([float(x) for x in xs[a:b]], [float(r) for r in rss[a:b]])
    late = slope([float(x) for x in xs[c:]], [float(r) for r in rss[c:]])
    conv_per_cell = (end["conversation_json"] - start["conversation_json"]) / cells
    return {"cells": cells, "rss_bytes_per_cell_early": early, "rss_bytes_per_cell_late": late,
            "conversation_bytes_per_cell": conv_per_cell, "start": start, "end": end,
            "rss_every_10": rss[::10]}


def _cells(server: Any, cells: int, kimi: bool) -> dict[str, Any]:
    """`cells` short cells in one warmed-up kernel: `%%kimi -y` cells, or (`kimi=False`)
    plain `pass` cells as the baseline."""
    with Kernel(env=kimi_env(server)) as k:
        k.run("%load_ext kimi_jupyter\nimport ipywidgets, psutil, comm")
        for warm in ("soak short warm-up", "soak tool warm-up", "soak live warm-up"):
            k.run(f"%%kimi -y\n{warm}")
        start = _state(k)
        start_trimmed = _trimmed_rss(k)
        live = 0  # cells whose reply showed the live widget: the live view was exercised
        for i in range(cells):
            if not kimi:
                k.run(f"pass  # soak plain {i}")
                continue
            kind = "live" if i % 10 == 9 else "tool" if i % 2 else "short"
            cell = k.run(f"%%kimi -y\nsoak {kind} {i}")
            live += any(WIDGET_VIEW in m["content"].get("data", {}) for _, m in cell.messages)
            if i % 100 == 99:
                log(f"soak: short cells {i + 1}/{cells}")
        end = _state(k)
        end_trimmed = _trimmed_rss(k)
    return {"cells": cells, "start": start, "end": end, "cells_with_widget": live,
            "rss_growth_bytes_per_cell": (end["rss"] - start["rss"]) / cells,
            "retained_bytes_per_cell": (end_trimmed - start_trimmed) / cells,
            "conversation_bytes_per_cell": (end["conversation_json"] - start["conversation_json"]) / cells}


def measure(size: str = "full", runs: int | None = None, peer: bool = True) -> Section:
    cfg = pick(size, SIZES)
    section = Section("soak", f"Soak: {cfg['grow_cells']} cells of a growing conversation, then "
                              f"{cfg['short_cells']:,} short cells, each in one kernel")
    server = bench_server(scenarios=_scenarios())
    server.record_request = lambda body: None  # type: ignore[method-assign]  # a long session: keep nothing
    try:
        log(f"soak: {cfg['grow_cells']} growing cells in one kernel")
        grow = _grow(server, cfg["grow_cells"])
        log(f"soak: {cfg['short_cells']} short cells in one kernel")
        short = _cells(server, cfg["short_cells"], kimi=True)
        log(f"soak: {cfg['short_cells']} plain cells in one kernel (baseline)")
        plain = _cells(server, cfg["short_cells"], kimi=False)
    finally:
        server.stop()

    early, late = grow["rss_bytes_per_cell_early"], grow["rss_bytes_per_cell_late"]
    conv = grow["conversation_bytes_per_cell"]
    late_ratio = ratio(late, early)
    section.rows.append(Row(
        "RSS per cell, late (growing conversation)", (late or 0) / 1024, "KiB", "early in the same kernel",
        (early or 0) / 1024, late_ratio, "late ≈ early (no quadratic growth)",
        late is not None and early is not None and late < 2 * max(early, conv),
        note=f"conversation JSON grows {conv / 1024:.1f} KiB per cell; "
             f"{grow['end']['results']} Results kept; cells {grow['cells']}"))
    s0, s1 = short["start"], short["end"]
    growth = short["rss_growth_bytes_per_cell"]
    section.rows.append(Row(
        f"RSS growth per short cell ({short['cells']:,} cells)", growth / 1024, "KiB",
        "conversation growth per cell (JSON)", short["conversation_bytes_per_cell"] / 1024,
        ratio(growth, short["conversation_bytes_per_cell"]), "≈ the history's own", None,
        note=f"RSS {s0['rss'] / 2**20:.1f} → {s1['rss'] / 2**20:.1f} MB; conversation "
             f"{s0['conversation_json'] / 1024:.0f} → {s1['conversation_json'] / 1024:.0f} KiB of JSON; "
             "judged in the report: Python objects cost a few × their JSON"))
    base = plain["rss_growth_bytes_per_cell"]
    beyond = growth - base
    section.rows.append(Row(
        f"RSS growth per short cell beyond a plain cell ({short['cells']:,} cells)", beyond / 1024, "KiB",
        "conversation growth per cell (JSON)", short["conversation_bytes_per_cell"] / 1024,
        ratio(beyond, short["conversation_bytes_per_cell"]), "≈ the history's own", None,
        note=f"raw {growth / 1024:.2f} KiB − plain cell {base / 1024:.2f} KiB ({plain['cells']:,} cells of "
             f"`pass`, RSS {plain['start']['rss'] / 2**20:.1f} → {plain['end']['rss'] / 2**20:.1f} MB): "
             "IPython's own per-cell bookkeeping taken out; after gc + malloc_trim, kimi "
             f"{short['retained_bytes_per_cell'] / 1024:.2f} vs plain {plain['retained_bytes_per_cell'] / 1024:.2f} "
             "KiB per cell retained"))
    for key, label in (("widgets", "live ipywidgets"), ("comms", "open comms"), ("threads", "threads")):
        section.rows.append(Row(
            f"{label}, end of the short cells", float(s1[key]), "", "at the start", float(s0[key]),
            ratio(s1[key], s0[key]) if s0[key] else None, "no growth", s1[key] <= s0[key],
            note=f"{s0[key]} → {s1[key]} over {short['cells']:,} cells"
                 + (f" ({short['cells_with_widget']:,} cells showed the live widget)" if key == "widgets" else "")))
    section.details.update(config=cfg, grow=grow, short=short, plain=plain)
    return section

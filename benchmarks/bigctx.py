"""Big context: a tool loop on `kimi-k3` over a conversation of up to a million tokens
(~4 MB of history), through the loopback server, in this process (`kimi_jupyter.chat`
with a `BaseView`: the client alone, no frontend).

- Per-step overhead: the loop's wall time minus the server's own time (request arrival
  to response end, summed over its chat and tokenizer requests), divided by the
  requests. It covers everything the client does per step: the context check,
  building and encoding the body, HTTP, SSE parsing, the tool run, and the `Result`
  snapshot at the end. How many tokenizer round trips the client chose to make (and the
  server's time answering them) is reported beside it. The server runs in this
  process, so its threads share the GIL with the client's.
  Baseline: the same loop over a 10k-token conversation in the same run.
- Client CPU per step: `time.thread_time()` of the thread running the cell, which the
  server's threads don't touch: what the client itself computes, including the
  kernel's work of sending the body over the socket. That copy is timed alone too (the
  body's parts written to a loopback socket another thread drains), and the client's
  CPU beyond it is the figure held to the target: sending 4 MB must cost what it costs.
- The pieces, timed one by one at each size (median of repeats): `wire.request_body`,
  `Conversation.estimate_tokens`, the context check once a count is known, encoding
  the body (`wire.encode_body` over the messages' kept JSON), the `Result` snapshot,
  and for comparison what the previous code did per step (a tokenizer round trip past
  half the window; the SDK's `openapi_dumps` of the whole body) and per cell (a deep copy).
- Growth: each figure at 1×, 4×, 16× (and ~100×) the smallest conversation.
"""

from __future__ import annotations

import copy
import json
import statistics
import time
import tracemalloc
from typing import Any, Callable

from .common import API_KEY, Row, Section, bench_server, ended, log, median, pick, ratio
from .toolloop import _scenario

MODEL_ID = "kimi-k3"
SIZES = {
    # conversation sizes in (estimated) tokens: 1×, 4×, 16×, and the million-token one
    "full": {"tokens": [10_000, 40_000, 160_000, 1_000_000], "steps": 8, "runs": 3},
    "quick": {"tokens": [10_000, 40_000, 160_000, 1_000_000], "steps": 5, "runs": 1},
    "tiny": {"tokens": [1_000, 4_000, 16_000, 64_000], "steps": 2, "runs": 1},
}
TARGET_GROWTH = 2.0


def history(tokens: int) -> list[dict[str, Any]]:
    """A well-formed K3 conversation of about `tokens` tokens (4 characters a token).

    Rounds of: a user question, an assistant tool call with its reasoning, the tool's
    output, and an answer. Tool-call ids follow the server's K3 numbering
    (`python_<n>`), so the calls the server makes next don't collide with them.
    """
    target = tokens * 4
    messages: list[dict[str, Any]] = []
    chars, i = 2, 0
    while chars < target:
        call_id = f"python_{i}"
        code = json.dumps({"code": f"rows_{i} = df[df.x > {i}]\nrows_{i}.describe()"})
        for m in (
            {"role": "user", "content": f"Question {i}: what does the data say about group {i}? " * 6},
            {"role": "assistant", "reasoning_content": f"Group {i}: filter, then summarise. " * 24,
             "tool_calls": [{"id": call_id, "type": "function", "function": {"name": "python", "arguments": code}}]},
            {"role": "tool", "tool_call_id": call_id, "name": "python",
             "content": "".join(f"{k:>6}  {i * k % 97:>8.3f}\n" for k in range(40))},
            {"role": "assistant", "reasoning_content": "The summary shows it. " * 10,
             "content": f"Group {i} has the expected spread; nothing stands out. " * 5},
        ):
            messages.append(m)
            chars += len(json.dumps(m, ensure_ascii=False)) + 2
            if chars >= target:
                break
        i += 1
    if messages[-1]["role"] == "assistant" and "tool_calls" in messages[-1]:
        messages.pop()  # never end on an unanswered call
    return messages


def _timed(fn: Callable[[], Any], budget_s: float = 0.3, max_reps: int = 200) -> float:
    """Median seconds of `fn` over as many repeats as fit in `budget_s` (at least 3)."""
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 3 or (len(times) < max_reps and time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _traced_bytes(fn: Callable[[], Any]) -> int:
    """Bytes still allocated by what `fn` returns (tracemalloc)."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        kept = fn()
        size = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    del kept
    return size


def _session(server: Any, messages: list[dict[str, Any]]) -> Any:
    from kimi_jupyter.core.conversation import Conversation
    from kimi_jupyter.core.session import Session

    session = Session()
    session.config.api_key, session.config.base_url = API_KEY, server.base_url
    session.config.model = MODEL_ID
    session.conversation = Conversation(messages=list(messages))  # the dicts are shared, never edited
    return session


class _CountTokenizer:
    """Counts (and times) the client's calls to the server's tokenizer during a run."""

    def __init__(self) -> None:
        from kimi_jupyter.core.client import KimiClient

        self.cls = KimiClient
        self.original = KimiClient.estimate_tokens
        self.calls = 0
        self.seconds = 0.0

    def __enter__(self) -> "_CountTokenizer":
        outer = self

        def estimate_tokens(client: Any, *args: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return outer.original(client, *args)
            finally:
                outer.calls += 1
                outer.seconds += time.perf_counter() - t0

        self.cls.estimate_tokens = estimate_tokens  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self.cls.estimate_tokens = self.original  # type: ignore[method-assign]


def _loop(server: Any, messages: list[dict[str, Any]], steps: int, prompt: str) -> dict[str, Any]:
    """One tool loop of `steps` steps over `messages`: client overhead per request."""
    from kimi_jupyter import chat
    from kimi_jupyter.views.base import BaseView

    session = _session(server, messages)
    before, tok_before = len(server.records), len(server.tokenizer_records)
    with _CountTokenizer() as tok:
        t0, cpu0 = time.perf_counter(), time.thread_time()
        result = chat(prompt, yes=True, max_steps=steps, view=BaseView(), session=session)
        wall, cpu = time.perf_counter() - t0, time.thread_time() - cpu0
    recs = ended(server.records[before:])
    tok_server_s = sum(r["t_end"] - r["t_arrive"] for r in server.tokenizer_records[tok_before:])
    server_s = sum(r["t_end"] - r["t_arrive"] for r in recs)
    requests = max(result.requests, 1)
    return {
        "requests": result.requests, "steps": result.steps, "finish_reason": result.finish_reason,
        "wall_s": wall, "server_s": server_s, "tokenizer_server_s": tok_server_s,
        "overhead_ms_per_step": (wall - server_s - tok_server_s) / requests * 1000,
        "client_cpu_ms_per_step": cpu / requests * 1000,
        "server_ms_per_request": server_s / max(len(recs), 1) * 1000,
        "tokenizer_calls": tok.calls, "tokenizer_ms": tok.seconds * 1000,
        "body_bytes_last": recs[-1]["body_bytes"] if recs else None,
        "prompt_tokens_first": result.usage.prompt_tokens // max(result.requests, 1),
    }


def _pieces(server: Any, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Each per-step piece of client work, timed alone on this conversation."""
    # Private on purpose (issue 25): the baseline is the SDK's own encoder of a request body,
    # which is what we replaced; no public name exposes it (checked on openai 3.63.0).
    from openai._utils._json import openapi_dumps

    from kimi_jupyter.core import wire
    from kimi_jupyter.core import context_window as window
    from kimi_jupyter.core.client import KimiClient
    from kimi_jupyter.tools import default_registry
    from kimi_jupyter.views.base import BaseView

    session = _session(server, messages)
    conv = session.conversation
    settings = session.settings(auto_run=True)
    info = session.model_info(settings)
    plan = wire.check(info, settings, moonshot=info.moonshot)
    tools = default_registry.schemas(python=True, web_search=False)
    client = KimiClient(settings)
    view = BaseView()

    def body() -> dict[str, Any]:
        return wire.request_body(info, settings, plan, conv.messages, tools=tools, moonshot=info.moonshot)

    payload = body()
    encoded = wire.encode_body(payload, conv.encoded())
    past_half = conv.estimate_tokens() >= info.context_window // 2
    with _CountTokenizer() as tok:
        window.check(session.conversation, settings, info, client)  # the first check of a cell: may ask once
        first_calls = tok.calls
        check_s = _timed(lambda: window.check(session.conversation, settings, info, client), budget_s=0.2)
        steady_calls = tok.calls - first_calls
    # What the previous code did on every step past half the window: a tokenizer round trip.
    old_check_s = _timed(lambda: client.estimate_tokens(conv.messages), budget_s=0.5, max_reps=5) if past_half else 0.0
    return {
        "messages": len(conv.messages), "history_bytes": len(json.dumps(conv.messages, ensure_ascii=False).encode()),
        "body_bytes": sum(map(len, encoded)), "estimate_tokens": conv.estimate_tokens(), "past_half_window": past_half,
        "request_body_us": _timed(body) * 1e6,
        "estimate_tokens_us": _timed(conv.estimate_tokens) * 1e6,
        "check_context_us": check_s * 1e6, "check_context_tokenizer_calls_first": first_calls,
        "check_context_tokenizer_calls_steady": steady_calls,
        "old_check_context_ms": old_check_s * 1000,
        "encode_body_ms": _timed(lambda: wire.encode_body(payload, conv.encoded()), budget_s=0.5, max_reps=20) * 1000,
        # What the previous code sent: the history joined into one `bytes`, then spliced into the body.
        "old_one_bytes_ms": _timed(lambda: b"".join(wire.encode_body(payload, (b"".join(conv.encoded()),))),
                                   budget_s=0.5, max_reps=20) * 1000,
        "old_sdk_json_encode_ms": _timed(lambda: openapi_dumps(payload), budget_s=0.5, max_reps=20) * 1000,
        "send_body_cpu_ms": _send_cpu_ms(encoded),
        "snapshot_us": _timed(conv.snapshot) * 1e6,
        "snapshot_bytes": _traced_bytes(conv.snapshot),
        "old_deepcopy_ms": _timed(lambda: copy.deepcopy(conv.messages), budget_s=0.3, max_reps=5) * 1000,
        "old_deepcopy_bytes": _traced_bytes(lambda: copy.deepcopy(conv.messages)),
    }


def _send_cpu_ms(parts: tuple[bytes, ...], reps: int = 5) -> float:
    """Thread CPU of writing `parts` to a loopback TCP socket that another thread drains.

    The kernel's copy of the body into the socket, which any client sending it pays
    (and which `time.thread_time()` charges to the sending thread): the part of the
    client's CPU per step that has to grow with the history.
    """
    import socket
    import threading

    total = sum(map(len, parts))
    cpu: list[float] = []

    def drain(receiver: socket.socket) -> None:
        got = 0
        while got < total:
            data = receiver.recv(1 << 20)
            if not data:
                return
            got += len(data)

    with socket.create_server(("127.0.0.1", 0)) as listener, \
            socket.create_connection(listener.getsockname()) as sender, listener.accept()[0] as receiver:
        for _ in range(reps):
            reader = threading.Thread(target=drain, args=(receiver,), daemon=True)
            reader.start()
            try:
                t0 = time.thread_time()
                for part in parts:
                    sender.sendall(part)
                cpu.append(time.thread_time() - t0)
            finally:
                reader.join(timeout=10)
    return statistics.median(cpu) * 1000


def _growth(values: list[float | None], labels: list[str]) -> str:
    first = values[0]
    parts = []
    for label, v in zip(labels, values):
        if v is None:
            continue
        rel = f" ({v / first:.1f}×)" if first else ""
        parts.append(f"{label}: {v:.3g}{rel}")
    return ", ".join(parts)


def measure(size: str = "full", runs: int | None = None, peer: bool = True) -> Section:
    cfg = pick(size, SIZES)
    runs = runs or cfg["runs"]
    sizes: list[int] = cfg["tokens"]
    steps = cfg["steps"]
    scenario, prompt = _scenario(steps)
    warm, _ = _scenario(1)
    section = Section("bigctx", f"Big context: {steps}-step tool loops on {MODEL_ID} over "
                                f"{', '.join(f'{t:,}' for t in sizes)}-token conversations (client only)")
    server = bench_server(scenarios=[s for s in (scenario, warm) if s is not None])
    # The server would keep every parsed multi-MB body; the benchmark never reads them.
    server.record_request = lambda body: None  # type: ignore[method-assign]
    loops: dict[int, list[dict[str, Any]]] = {}
    pieces: dict[int, dict[str, Any]] = {}
    try:
        # First use: imports, the SDK client, IPython's shell for the python tool, a connection.
        _loop(server, history(sizes[0]), 1, _scenario(1)[1])
        for tokens in sizes:
            messages = history(tokens)
            log(f"bigctx: {tokens:,} tokens ({len(messages):,} messages): pieces")
            pieces[tokens] = _pieces(server, messages)
            loops[tokens] = []
            for i in range(runs):
                log(f"bigctx: {tokens:,} tokens: loop {i + 1}/{runs} ({steps} steps)")
                loops[tokens].append(_loop(server, messages, steps, prompt))
            del messages
    finally:
        server.stop()

    labels = [f"{t // sizes[0]}×" for t in sizes]
    small, big = sizes[0], sizes[-1]
    over = [median(r["overhead_ms_per_step"] for r in loops[t]) for t in sizes]
    cpu = [median(r["client_cpu_ms_per_step"] for r in loops[t]) for t in sizes]
    tok_server_ms = median(r["tokenizer_server_s"] * 1000 for r in loops[big])
    srv = [median(r["server_ms_per_request"] for r in loops[t]) for t in sizes]
    growth = ratio(over[-1], over[0])
    tok_calls = median(r["tokenizer_calls"] for r in loops[big])
    reqs = median(r["requests"] for r in loops[big])
    p_small, p_big = pieces[small], pieces[big]
    # What is left once encoding the body (timed alone) is taken out: HTTP and the rest.
    rest = [o - pieces[t]["encode_body_ms"] if o is not None else None for o, t in zip(over, sizes)]
    section.rows.append(Row(
        f"overhead per step beyond the server, {big:,} tokens", over[-1], "ms",
        f"the same at {small:,} tokens", over[0], growth, f"< {TARGET_GROWTH:g}× the {small:,}-token figure",
        growth is not None and growth < TARGET_GROWTH,
        note=f"ms/step at {_growth(over, labels)}; server ms/request {_growth(srv, labels)}; "
             f"tokenizer calls at {big:,}: {tok_calls:g} in {reqs:g} requests ({tok_server_ms:.0f} ms of "
             f"the server's, subtracted like its chat time); without encoding the body: {_growth(rest, labels)}"))
    send = [pieces[t]["send_body_cpu_ms"] for t in sizes]
    section.rows.append(Row(
        f"client thread CPU per step, {big:,} tokens", cpu[-1], "ms", f"the same at {small:,} tokens", cpu[0],
        ratio(cpu[-1], cpu[0]), None, None,
        note=f"time.thread_time() of the thread running the cell: what the client itself computes, "
             f"including the kernel's copy of the body into the socket; ms/step at {_growth(cpu, labels)}; "
             f"that copy alone (the body written to a loopback socket): {_growth(send, labels)}"))
    beyond = [c - s if c is not None else None for c, s in zip(cpu, send)]
    beyond_growth = ratio(beyond[-1], beyond[0])
    section.rows.append(Row(
        f"client thread CPU per step beyond sending the body, {big:,} tokens", beyond[-1], "ms",
        f"the same at {small:,} tokens", beyond[0], beyond_growth, f"< {TARGET_GROWTH:g}× the {small:,}-token figure",
        beyond_growth is not None and beyond_growth < TARGET_GROWTH,
        note=f"the row above minus the socket copy of a {p_big['body_bytes'] / 2**20:.1f} MB body, which any "
             f"client pays; ms/step at {_growth(beyond, labels)}"))

    def piece_row(figure: str, key: str, unit: str, target: str | None = None, met: bool | None = None,
                  note: str = "") -> None:
        vals = [pieces[t][key] for t in sizes]
        section.rows.append(Row(figure, p_big[key], unit, f"at {small:,} tokens", p_small[key],
                                ratio(p_big[key], p_small[key]), target, met,
                                note=(note + "; " if note else "") + f"growth {_growth(vals, labels)}"))

    flat = TARGET_GROWTH * 1.5  # sub-microsecond timings are noisy: "flat" is within 3×
    piece_row("wire.request_body", "request_body_us", "µs", "O(1): flat",
              p_big["request_body_us"] < flat * p_small["request_body_us"])
    piece_row("Conversation.estimate_tokens", "estimate_tokens_us", "µs", "O(1): flat",
              p_big["estimate_tokens_us"] < flat * p_small["estimate_tokens_us"])
    piece_row("context check, per step", "check_context_us", "µs", "no tokenizer call per step",
              p_big["check_context_tokenizer_calls_steady"] == 0,
              note=f"at {big:,} tokens: {p_big['check_context_tokenizer_calls_first']} tokenizer call(s) on a "
                   f"cell's first check, {p_big['check_context_tokenizer_calls_steady']} on later ones; before: one "
                   f"round trip per step past half the window = {p_big['old_check_context_ms']:.1f} ms/step")
    piece_row("encoding the body (wire.encode_body)", "encode_body_ms", "ms", None, None,
              note=f"{p_big['body_bytes'] / 2**20:.1f} MB body, sent as the parts each message's JSON is kept in "
                   f"since it was appended; joined into one bytes as before: {p_big['old_one_bytes_ms']:.1f} ms; "
                   f"the SDK's openapi_dumps of it all: {p_big['old_sdk_json_encode_ms']:.1f} ms")
    piece_row("Result snapshot, per cell", "snapshot_us", "µs", "O(1): flat",
              p_big["snapshot_us"] < flat * p_small["snapshot_us"],
              note=f"before: a deep copy, {p_big['old_deepcopy_ms']:.1f} ms")
    section.rows.append(Row(
        f"memory kept per Result at {big:,} tokens", p_big["snapshot_bytes"] / 1024, "KiB",
        "before: deep copy", p_big["old_deepcopy_bytes"] / 1024,
        ratio(p_big["snapshot_bytes"], p_big["old_deepcopy_bytes"]), "≪ a copy of the history",
        p_big["snapshot_bytes"] * 10 < p_big["old_deepcopy_bytes"],
        note=f"history {p_big['history_bytes'] / 2**20:.2f} MB of JSON in {p_big['messages']:,} messages"))
    section.details.update(config=cfg, loops={str(k): v for k, v in loops.items()},
                           pieces={str(k): v for k, v in pieces.items()})
    return section

"""The live widgets are reused across cells, and long reasoning is split into Outputs.

A real kernel (jupyter_client) runs two `%%kimi` cells whose replies last long
enough to get the live widget. The first cell opens the widgets' comms; the second
must open and close none (each widget is a comm_open and a comm_close, ~16
messages per cell otherwise), show the same widget, and leave its live output
empty with every Output it wrote to emptied for the next reply. The reasoning,
longer than `CHUNK_CHARS`, streams into a fresh Output every ~20k characters, cut
at line breaks, so the browser never re-renders one ever-growing block.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from kimi_jupyter.testing import long_reasoning_scenario
from kimi_jupyter.testing.kernel import Kernel
from kimi_jupyter.testing.pytest_plugin import loopback_env
from kimi_jupyter.testing.texts import long_text
from kimi_jupyter.views.live import CHUNK_CHARS

CHARS = 45_000
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def captured(messages: list[dict[str, Any]]) -> tuple[list[tuple[str, str]], set[str]]:
    """The stream text each Output captured, in order ((comm_id, text) runs), and the Outputs emptied.

    Follows the Output protocol as a frontend does: a comm update setting `msg_id`
    starts capturing this cell's outputs into that widget, `msg_id = ""` stops it.
    """
    runs: list[tuple[str, str]] = []
    emptied: set[str] = set()
    current = None
    for msg in messages:
        content = msg["content"]
        if msg["msg_type"] == "comm_msg":
            state = content["data"].get("state", {})
            if "msg_id" in state:
                current = content["comm_id"] if state["msg_id"] else None
            if state.get("outputs") == []:
                emptied.add(content["comm_id"])
        elif msg["msg_type"] == "stream" and current is not None:
            if runs and runs[-1][0] == current:
                runs[-1] = (current, runs[-1][1] + content["text"])
            else:
                runs.append((current, content["text"]))
    return runs, emptied


def live_displays(messages: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each display_id's bundles in order (the live output's forms)."""
    forms: dict[str, list[dict[str, Any]]] = {}
    for msg in messages:
        if msg["msg_type"] in ("display_data", "update_display_data"):
            display_id = msg["content"].get("transient", {}).get("display_id")
            if display_id:
                forms.setdefault(display_id, []).append(msg["content"]["data"])
    return forms


def test_second_cell_reuses_the_widgets_and_long_reasoning_is_chunked(kimi_server):
    # ~1.8 s of thinking: long enough for the widget (it replaces the text placeholder after ~1 s).
    kimi_server.add_scenario(long_reasoning_scenario("reuse", CHARS, cps=25_000, match=r"think for reuse"))
    reasoning = long_text(CHARS)
    with Kernel(env=dict(os.environ, **loopback_env(kimi_server))) as k:
        k.run("%load_ext kimi_jupyter\nimport ipywidgets")
        cells = []
        for _ in range(2):
            run = k.execute("%%kimi\nPlease think for reuse.", timeout=120)
            assert run.ok, run.text
            cells.append(run.messages)

    kinds = [Counter(m["msg_type"] for m in msgs) for msgs in cells]
    assert kinds[0]["comm_open"] > 0, "the first cell should have opened the live widgets"
    assert kinds[1]["comm_open"] == 0, f"the second cell opened {kinds[1]['comm_open']} new comms"
    assert kinds[0]["comm_close"] == kinds[1]["comm_close"] == 0

    models = []
    for msgs in cells:
        forms = [f for f in live_displays(msgs).values() if any(WIDGET_VIEW in b for b in f)]
        assert len(forms) == 1, "one live output per reply"
        bundles = forms[0]
        assert bundles[0] == {"text/plain": "Thinking…"}  # something at once, before any token
        assert bundles[1]["text/plain"].startswith("Thinking… ")  # then the first token, as text
        # It ends as the reply's reasoning, not emptied: the saved notebook keeps no empty output.
        assert "<details" in bundles[-1]["text/html"] and bundles[-1]["text/plain"].startswith("\x1b[2mReasoning · ")
        models.append(next(b[WIDGET_VIEW]["model_id"] for b in bundles if WIDGET_VIEW in b))
        # The saved notebook keeps the reasoning in the static block.
        assert any("<details" in m["content"].get("data", {}).get("text/html", "") for m in msgs)

        runs, emptied = captured(msgs)
        reasoning_runs = runs  # the answer's tail is the tail Output's state, never a stream
        # The streamed reasoning ends its line, for the text-only frontends that print it.
        assert "".join(text for _, text in reasoning_runs) == reasoning + ("" if reasoning.endswith("\n") else "\n")
        chunk_ids = [comm for comm, _ in reasoning_runs]
        assert len(chunk_ids) == len(set(chunk_ids)) >= CHARS // CHUNK_CHARS, chunk_ids
        for _, text in reasoning_runs[:-1]:
            assert CHUNK_CHARS <= len(text) < 2 * CHUNK_CHARS and text.endswith("\n"), len(text)
        # The first token was shown as text; the widget's first stream message carries it with
        # the text that followed (the deltas before the widget go as one batch, not token by token).
        first_stream = next(m["content"]["text"] for m in msgs if m["msg_type"] == "stream")
        token = bundles[1]["text/plain"].removeprefix("Thinking… ")
        assert first_stream.startswith(token) and len(first_stream) > len(token), first_stream[:80]
        # The answer (~100 characters in a few ms) showed its first token at once, as the tail
        # Output's state (text-only frontends, which print streams, don't get it twice); the rest
        # was still batching when the reply ended: the static answer carries it.
        (meta, answer), = [(m["content"]["metadata"]["kimi_jupyter"], m["content"]["data"]["text/plain"]) for m in msgs
                           if m["content"].get("metadata", {}).get("kimi_jupyter", {}).get("part") == "answer"]
        # Its text/plain leads with the reasoning's summary line, for text-only frontends.
        assert answer[:meta["lead"]].startswith("\x1b[2mReasoning · ")
        answer = answer[meta["lead"]:]
        tails = [(m["content"]["comm_id"], o["text"]) for m in msgs if m["msg_type"] == "comm_msg"
                 for o in m["content"]["data"].get("state", {}).get("outputs") or []]
        assert len(tails) == 1 and answer.startswith(tails[0][1]) and len(tails[0][1]) < len(answer), tails
        assert not any(answer[:20] in m["content"]["text"] for m in msgs if m["msg_type"] == "stream")
        # Every Output written to is emptied before the cell ends, ready for the next reply.
        assert {comm for comm, _ in runs} | {tails[0][0]} <= emptied
    assert models[0] == models[1], "the second cell should show the same widget"


def test_a_short_reply_never_gets_the_widget(kimi_server):
    # 0.15 s of thinking: the first token shows as text, and the reply is over before a
    # widget would be worth its messages.
    kimi_server.add_scenario(long_reasoning_scenario("short", 3_000, cps=20_000, match=r"think briefly"))
    with Kernel(env=dict(os.environ, **loopback_env(kimi_server))) as k:
        k.run("%load_ext kimi_jupyter\nimport ipywidgets")
        run = k.execute("%%kimi\nPlease think briefly.", timeout=120)
        assert run.ok, run.text
    kinds = Counter(m["msg_type"] for m in run.messages)
    assert kinds["comm_open"] == kinds["comm_msg"] == 0, kinds
    (forms,) = live_displays(run.messages).values()
    assert forms[0] == {"text/plain": "Thinking…"} and forms[1]["text/plain"].startswith("Thinking… ")
    assert "<details" in forms[-1]["text/html"]  # replaced by the reasoning, not left empty


def test_outputs_synced_from_the_browser_are_not_echoed_back():
    """The browser sends an Output's captured outputs to the kernel after the cell;
    ipywidgets 8 would echo them to every frontend again (the whole reasoning once more)."""
    from kimi_jupyter.views.live import LiveReply

    reply = LiveReply("Thinking")
    try:
        sent: list[dict] = []
        out = reply.reasoning_out
        out._send = lambda msg, buffers=None: sent.append(msg)
        out._handle_msg({"content": {"data": {"method": "update", "state": {
            "outputs": [{"output_type": "stream", "name": "stdout", "text": "x" * 1000}]}, "buffer_paths": []}},
                         "buffers": []})
        assert out.outputs[0]["text"] == "x" * 1000  # the kernel took the state
        assert sent == [], sent  # and sent nothing back
    finally:
        reply.close()


def test_a_step_that_ends_in_a_tool_call_streams_all_its_reasoning(kimi_server):
    # ~1.7 s of thinking, then a tool call: the widget shows at ~1 s and the last ~2,000
    # characters are still batching when the step ends. They must still go out as stream
    # text before the widget is emptied: jupyter console and qtconsole print the stream, and
    # the static reasoning's text/plain then holds only its summary line.
    from kimi_jupyter.testing import Scenario, ScriptedTurn, ToolCallSpec

    reasoning = long_text(5_000)
    kimi_server.add_scenario(Scenario("reason_then_call", [
        ScriptedTurn(reasoning=reasoning, tool_calls=[ToolCallSpec("python", '{"code": "x = 1"}')]),
        ScriptedTurn(reasoning="Done.", content="Set x."),
    ], match=r"reason, then call", cps=3_000))
    with Kernel(env=dict(os.environ, **loopback_env(kimi_server))) as k:
        k.run("%load_ext kimi_jupyter\nimport ipywidgets")
        run = k.execute("%%kimi -y\nPlease reason, then call a tool.", timeout=120)
        assert run.ok, run.text
    assert any(WIDGET_VIEW in m["content"].get("data", {}) for m in run.messages), "the widget was not shown"
    runs, _ = captured(run.messages)
    assert "".join(text for _, text in runs) == reasoning + ("" if reasoning.endswith("\n") else "\n")
    statics = [m["content"]["data"] for m in run.messages if m["msg_type"] in ("display_data", "update_display_data")
               and m["content"]["metadata"].get("kimi_jupyter", {}).get("part") == "reasoning"]
    (first,) = [data for data in statics if reasoning[-200:] in data["text/html"]]
    assert reasoning[:100] not in first["text/plain"]  # the summary line only: the stream carried the text

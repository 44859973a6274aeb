"""One request path (issue 14): the magic, `chat()` and the panel mean the same; what a user
sees when an option is wrong; the spending cap and provenance (issue 12), in real kernels."""

from __future__ import annotations

import re

import pytest
from conftest import output_text, run_notebook


def _last_user(body: dict) -> str:
    return [m for m in body["messages"] if m["role"] == "user"][-1]["content"]


def test_chat_format_code_puts_the_same_cell_below_as_the_magic(kernel, kimi_server):
    magic = kernel.execute("%%kimi -f code -n\nwrite a function for a moving average")
    chat = kernel.execute(
        "import kimi_jupyter\n"
        "r = kimi_jupyter.chat('write a function for a moving average', format='code', new=True)"
    )
    assert magic.ok and chat.ok, (magic.text, chat.text)
    (from_magic,) = [p for p in magic.payloads if p["source"] == "set_next_input"]
    (from_chat,) = [p for p in chat.payloads if p["source"] == "set_next_input"]
    assert from_magic["text"] == from_chat["text"]
    assert from_magic["text"].startswith("def moving_average(") and "```" not in from_magic["text"]


def test_no_interpolate_sends_dollar_and_braces_as_written(kernel, kimi_server):
    kernel.run("x = 5")
    kernel.run("%kimi --no-interpolate -n Echo $x and {x}")
    kernel.run("%kimi -n Echo $x and {x}")
    kernel.run("m = 'kimi-k3'")
    kernel.run("%%kimi -n -m $m\nEcho $x")  # option values still get IPython's expansion
    sent = [_last_user(b) for b in kimi_server.requests]
    # IPython's own `$x` expansion never runs on the prompt (@no_var_expand); `{x}` is ours,
    # and off on request.
    assert sent == ["Echo $x and {x}", "Echo $x and 5", "Echo $x"]
    assert kimi_server.requests[-1]["model"] == "kimi-k3"


@pytest.mark.parametrize(
    "cell, message",
    [
        ("%%kimi -f yaml\nhi", "-f/--format must be one of markdown, code, json, text (got 'yaml')."),
        ("%%kimi --max-steps abc\nhi", "argument --max-steps: invalid int value: 'abc'"),
        ("%%kimi --max-cost -1\nhi", "--max-cost must be more than 0 (got -1.0)."),
        ("%%kimi --max-steps -2\nhi", "--max-steps must be 0 or more (got -2)."),  # the trait's own rule
        ("%%kimi -t 3\nhi", "-t/--temperature must be between 0 and 2, or None (got 3.0)."),
        ("%%kimi -o 1x\nhi", "-o/--out needs a variable name (got '1x')."),
        ("%%kimi --base-url ftp://x\nhi", "--base-url needs an http(s) URL"),
        ("%%kimi\n   ", "The cell is empty"),
    ],
)
def test_a_mistake_is_one_line_that_points_to_the_help(kernel, kimi_server, cell, message):
    run = kernel.execute(cell)
    assert not run.ok
    # IPython shows a UsageError as one stderr line, no traceback.
    shown = run.text.strip()
    assert shown.startswith("UsageError: ") and "\n" not in shown, shown
    assert message in shown and shown.endswith("See `%%kimi?` for the options.")
    assert not kimi_server.requests  # nothing was sent
    assert kernel.run("1 + 1")  # the kernel goes on


def test_a_bad_setting_is_refused_when_set(kernel):
    run = kernel.execute("%config Kimi.max_steps = -1")
    assert "Kimi.max_steps must be 0 or more (got -1)" in run.text
    assert kernel.value("get_ipython().find_magic('kimi').__self__.session.config.max_steps") == 50
    run = kernel.execute("%config Kimi.temperature = 3.0")
    assert "Kimi.temperature must be between 0 and 2" in run.text


def test_max_cost_stops_a_long_loop_with_a_note_and_the_next_cell_works(kimi_kernel_env, tmp_path):
    nb = run_notebook(
        [
            "%load_ext kimi_jupyter",
            "%%kimi -y --max-tokens 16000 --max-cost 0.08 -o r\nrun 300 steps",
            "print(r.finish_reason, r.steps, r.requests, r.cost_usd <= 0.08)",
            "%%kimi -o after\nWhat was my first question?",
            "print(after.finish_reason)",
        ],
        tmp_path,
        timeout=180,
    )
    note = output_text(nb.cells[1])
    assert "past its cap of $0.0800" in note and "spent so far" in note and "--max-cost" in note
    reason, steps, requests, within = output_text(nb.cells[2]).split()
    assert reason == "max_cost" and within == "True"
    assert 1 <= int(steps) < 40 and int(requests) == int(steps)  # stopped well before the 300
    # The history stayed valid: the loopback server enforces Moonshot's rules, and answered.
    assert output_text(nb.cells[4]).strip() == "stop"
    assert "Your first question was: run 300 steps" in output_text(nb.cells[3])
    footer = nb.cells[1].outputs[-1]["metadata"]["kimi_jupyter"]
    assert footer["part"] == "footer" and footer["finish_reason"] == "max_cost"


def test_every_output_carries_its_part_and_provenance(kimi_kernel_env, tmp_path):
    nb = run_notebook(["%load_ext kimi_jupyter", "%%kimi -y\nVisualize gradient descent."], tmp_path)
    cell = nb.cells[1]
    def part(o: dict) -> str | None:
        return o.get("metadata", {}).get("kimi_jupyter", {}).get("part")

    # Each reply's live output was replaced by its reasoning: none is left behind, emptied.
    assert not [o for o in cell.outputs if part(o) == "live"]
    assert all(part(o) for o in cell.outputs if o["output_type"] == "display_data")
    ours = [o for o in cell.outputs
            if o["output_type"] == "display_data" and part(o) not in ("live", "tool_output")]
    parts = [o["metadata"]["kimi_jupyter"]["part"] for o in ours]
    assert parts[:2] == ["reasoning", "code"] and parts[-2:] == ["answer", "footer"], parts
    from kimi_jupyter import __version__

    for out in ours:
        meta = out["metadata"]["kimi_jupyter"]
        assert meta["version"] == __version__ and meta["model"] == "kimi-k2.6", meta
    code = ours[1]["metadata"]["kimi_jupyter"]
    assert code["model_written"] is True
    figures = [o for o in cell.outputs if "image/png" in o.get("data", {})]
    assert figures and all(o["metadata"]["kimi_jupyter"] == {"part": "tool_output", "model_written": True}
                           for o in figures)
    reasoning = ours[0]["metadata"]["kimi_jupyter"]
    assert reasoning["usage"]["completion_tokens"] > 0 and reasoning["response_id"].startswith("chatcmpl-")
    footer = ours[-1]["metadata"]["kimi_jupyter"]
    assert footer["tool_result_tokens"] > 0 and footer["request_ids"]
    assert re.search(r"1 tool call \(~[\d,]+ tokens of results\)", ours[-1]["data"]["text/plain"])


def test_text_only_frontends_see_the_reasoning_itself(kernel):
    """jupyter console, qtconsole and Emacs print `stream` and `display_data` text/plain, and
    ignore `update_display_data`: they must get the reasoning itself, dimmed, not just a summary."""
    from kimi_jupyter.testing import texts

    run = kernel.execute("%%kimi\nExplain quantum entanglement.")
    # What jupyter console prints, in order: streams as they come, each new display's text/plain
    # on its own line(s); updates are ignored.
    printed = "".join(m["content"]["text"] if m["msg_type"] == "stream" else m["content"]["data"].get("text/plain", "") + "\n"
                      for m in run.messages if m["msg_type"] in ("stream", "display_data"))
    assert printed.count("\x1b[2mReasoning · ") == 1, printed
    reasoning = printed[printed.index("\x1b[2mReasoning · "):]
    assert reasoning.index(texts.MARKDOWN_REASONING[:200]) < reasoning.index("\x1b[0m")  # dimmed
    assert printed.count(texts.MARKDOWN_REASONING[:200]) == 1 and printed.count(texts.MARKDOWN_CONTENT[:100]) == 1
    assert reasoning.index("\x1b[0m") < reasoning.index(texts.MARKDOWN_CONTENT[:100])  # and the answer after it


def test_panel_and_magic_share_the_spending_cap_path(kernel, kimi_server):
    """The chat panel goes through the same `api.run`: a Kimi.max_cost_usd set once applies there too."""
    kernel.run("%config Kimi.max_cost_usd = 0.0001\nfrom kimi_jupyter import ChatPanel\npanel = ChatPanel()")
    kernel.run("r = panel.ask('Explain quantum entanglement.')")
    notes = kernel.value("[c.value for c in panel._items.children if 'kimi-chat-note' in c._dom_classes]")
    assert any("past its cap" in n for n in notes), notes
    assert not kimi_server.requests  # the cap stopped it before anything was sent

"""The agent loop, fast: in-process against the loopback server, events checked with a RecordingView.

No kernel and no frontend: what the loop does (requests, tool calls, limits, failures) is
checked from the events a view receives and the requests the server got. The same
behaviours are checked in real kernels elsewhere; these run in well under a second each.
"""

from __future__ import annotations

import pytest

from kimi_jupyter.api import chat
from kimi_jupyter.core.errors import StreamEndedEarly
from kimi_jupyter.core.session import Session
from kimi_jupyter.testing.pytest_plugin import API_KEY
from kimi_jupyter.views import RecordingView


@pytest.fixture
def session(kimi_server) -> Session:
    s = Session()
    s.config.api_key, s.config.base_url = API_KEY, kimi_server.base_url
    return s


def test_a_plain_answer_streams_reasoning_then_content(session):
    view = RecordingView()
    result = chat("Explain quantum entanglement.", session=session, view=view)
    names = view.names()
    assert names[0] == "step_start" and names[-1] == "finish"
    assert names.index("reasoning") < names.index("content") < names.index("step_end")
    assert "".join(p for n, p in view.events if n == "content") == result.content
    assert result.finish_reason == "stop" and result.requests == 1 and result.usage.reasoning_tokens > 0


def test_the_tool_loop_runs_code_and_feeds_the_output_back(session, kimi_server):
    view = RecordingView()
    result = chat("Let the two tool calls share state.", session=session, view=view, yes=True, new=True)
    assert [n for n in view.names() if n in ("tool_start", "code")] == ["tool_start", "code"] * 2
    assert result.steps == 2 and result.requests == 3
    assert "42" in result.content  # the second call printed shared_value + 1
    tool_messages = [m for m in kimi_server.requests[-1]["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in tool_messages] == ["No output", "42"]
    assert result.tool_result_tokens == sum(len(m["content"]) // 4 for m in tool_messages)


def test_the_step_limit_stops_with_a_note_and_every_call_gets_an_answer(session, kimi_server):
    view = RecordingView()
    result = chat("run 300 steps", session=session, view=view, yes=True, max_steps=3)
    notes = [p for n, p in view.events if n == "notice"]
    assert result.steps == 3 and any("the limit is 3" in n for n in notes)
    # The history stays valid: the next cell is accepted by a server that enforces Moonshot's rules.
    assert chat("What was my first question?", session=session, view=RecordingView()).finish_reason == "stop"


def test_max_cost_refuses_a_request_that_could_pass_the_cap_and_sends_nothing(session, kimi_server):
    view = RecordingView()
    result = chat("Explain quantum entanglement.", session=session, view=view, max_cost=0.001)
    assert result.finish_reason == "max_cost" and result.requests == 0 and not kimi_server.requests
    (note,) = [p for n, p in view.events if n == "notice"]
    assert "past its cap of $0.0010" in note and "spent so far: $0.0000" in note
    assert session.conversation.messages == []  # nothing sent: the prompt is not kept


def test_max_cost_is_not_enforced_where_prices_are_unknown(session, kimi_server):
    view = RecordingView()
    result = chat("hello", session=session, view=view, max_cost=0.001, base_url=kimi_server.vllm_base_url,
                  model="moonshotai/Kimi-K2.6")
    assert result.finish_reason == "stop" and result.cost_usd is None
    assert any("not enforced" in p for n, p in view.events if n == "notice")


def test_a_dropped_stream_keeps_what_arrived_on_the_error(session):
    view = RecordingView()
    with pytest.raises(StreamEndedEarly) as caught:
        chat("[[scenario:drop_midstream]] go", session=session, view=view)
    partial = caught.value.result
    assert partial is not None and partial.reasoning and partial.finish_reason == "error"
    shown = "".join(p for n, p in view.events if n == "reasoning")
    assert shown == partial.reasoning  # nothing the user saw is lost


def test_unknown_options_are_a_usage_error_in_ipython_and_a_value_error_in_a_script(session):
    import subprocess
    import sys

    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    InteractiveShell.instance()  # under IPython: its one-line UsageError
    with pytest.raises(UsageError, match="Unknown option fomat; options are: .*format"):
        chat("hi", session=session, fomat="code")
    # A plain script (no IPython running) gets the OptionError, a ValueError, as it is.
    code = ("import kimi_jupyter\ntry:\n    kimi_jupyter.chat('hi', fomat='code')\n"
            "except ValueError as e:\n    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("OptionError Unknown option fomat"), out


def test_a_tool_loop_reuses_one_connection(session, kimi_server):
    """Each response is read to its end, so its connection goes back to the pool: a new
    connection per step would cost a TCP (and, against Moonshot, a TLS) handshake each time."""
    before = kimi_server.connections_opened
    result = chat("run 300 steps", session=session, view=RecordingView(), yes=True, max_steps=5)
    assert result.requests == 6
    assert kimi_server.connections_opened - before == 1


def test_replies_prompt_tokens_stand_in_for_the_tokenizer(session, kimi_server, monkeypatch):
    """Near the window the context check wants an exact count. Each reply's
    `prompt_tokens` is the server's count of exactly what was sent, so only a cell
    that starts on a conversation no reply has counted yet asks the tokenizer."""
    from kimi_jupyter.core.client import KimiClient

    from kimi_jupyter.testing.wire import ServedModel

    # A small window, as moonshot-v1-8k had before it closed (2026-08-31).
    kimi_server.models["moonshot"]["small-8k"] = ServedModel("small-8k", 1712102400, 8_192, "no")
    calls = []
    original = KimiClient.estimate_tokens
    monkeypatch.setattr(KimiClient, "estimate_tokens", lambda self, *a: calls.append(1) or original(self, *a))
    for i in range(8):  # ~4.6k tokens: past half of the 8,192 window
        session.conversation.append({"role": "user", "content": f"note {i}: " + "lorem ipsum " * 190})
        session.conversation.append({"role": "assistant", "content": "noted"})
    first = chat("run 300 steps", session=session, view=RecordingView(), yes=True, max_steps=3, model="small-8k")
    assert first.requests == 4 and len(calls) == 1
    second = chat("run 300 steps", session=session, view=RecordingView(), yes=True, max_steps=2, model="small-8k")
    assert second.requests == 3 and len(calls) == 1  # the replies kept the count exact
    # Every request asked for the room left (max_tokens is 32,000 here), so the server
    # took them all: 8,192 is less than the prompt plus 32,000.
    sent = [r["max_completion_tokens"] for r in kimi_server.requests[-7:]]
    assert all(1_000 < m < 8_192 - 4_000 for m in sent) and sent == sorted(sent, reverse=True)


def test_a_context_overflow_from_the_server_says_how_to_go_on(session):
    """Where the count was off and the server still refuses, the 400 becomes one message
    with the way out, and the cell is rolled back so the next one works."""
    from kimi_jupyter.core.errors import ContextOverflowError
    from kimi_jupyter.testing import KimiServer
    from kimi_jupyter.testing.scenarios import Fault, Scenario, ScriptedTurn

    refusal = Fault("http_error", status=400, type="invalid_request_error",
                    message="Invalid request: Your request exceeded model token limit: 262144")
    with KimiServer(api_key="sk-test", scenarios=[Scenario("full", [ScriptedTurn(content="x", fault=refusal)])]) as server:
        session.config.api_key, session.config.base_url = "sk-test", server.base_url
        with pytest.raises(ContextOverflowError, match="token limit") as caught:
            chat("[[scenario:full]] go", session=session, view=RecordingView())
    assert "--new" in str(caught.value) and "tokens" in str(caught.value)
    assert session.conversation.messages == []


def test_a_many_step_cell_keeps_its_reasoning_once(session):
    result = chat("Let the two tool calls share state.", session=session, view=RecordingView(), yes=True, new=True)
    held = [m["reasoning_content"] for m in session.conversation.messages if m.get("reasoning_content")]
    assert len(held) == 3 and result.reasoning == "\n\n".join(held)
    # The Result holds the conversation's own strings, not a joined copy of them.
    assert all(any(part is h for h in held) for part in result._reasoning if part)


def test_a_default_that_closes_mid_session_moves_to_its_successor_after_one_404(session, kimi_server):
    """The listing was cached while kimi-k2.6 was served; it closes; the next cell's 404
    makes the session ask again and continue on kimi-k3, in the same conversation."""
    first = chat("Explain quantum entanglement.", session=session, view=RecordingView())
    assert first.model == "kimi-k2.6"
    kimi_server.retire("kimi-k2.6")
    view = RecordingView()
    second = chat("Explain quantum entanglement.", session=session, view=view)
    assert second.model == "kimi-k3" and second.requests == 1 and second.content
    assert [r["model"] for r in kimi_server.requests] == ["kimi-k2.6", "kimi-k2.6", "kimi-k3"]
    # The same conversation went on: the first answer is in what kimi-k3 was sent.
    sent = kimi_server.requests[-1]["messages"]
    assert sent[0] == kimi_server.requests[0]["messages"][0] and sent[1]["content"] == first.content
    notes = [p for n, p in view.events if n == "notice"]
    assert any("kimi-k2.6 is no longer served" in str(n) and "kimi-k3" in str(n) for n in notes)
    third = chat("Explain quantum entanglement.", session=session, view=RecordingView())
    assert third.model == "kimi-k3" and kimi_server.requests[-1]["model"] == "kimi-k3"  # no second 404


def test_a_named_model_that_closes_mid_session_is_a_clear_error(session, kimi_server):
    from kimi_jupyter.core.errors import ModelNotFoundError

    chat("Explain quantum entanglement.", session=session, view=RecordingView(), model="kimi-k2.6")
    kimi_server.retire("kimi-k2.6")
    with pytest.raises(ModelNotFoundError, match="kimi-k2.6"):
        chat("Explain quantum entanglement.", session=session, view=RecordingView(), model="kimi-k2.6")
    assert [r["model"] for r in kimi_server.requests] == ["kimi-k2.6", "kimi-k2.6"]

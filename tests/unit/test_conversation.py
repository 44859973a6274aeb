import json

from kimi_jupyter.core.conversation import Conversation


def test_running_size_matches_the_serialized_conversation():
    conv = Conversation()
    assert abs(conv.size_chars() - len(json.dumps(conv.messages, ensure_ascii=False))) <= 2
    for i in range(50):
        conv.append({"role": "user", "content": f"question {i} — ü"})
        conv.append({"role": "assistant", "content": "x" * i, "reasoning_content": "r"})
        exact = len(json.dumps(conv.messages, ensure_ascii=False))
        assert abs(conv.size_chars() - exact) <= 2
    mark = conv.mark()
    conv.append({"role": "user", "content": "y" * 10_000})
    assert conv.estimate_tokens() > 2_500
    conv.rollback(mark)
    assert abs(conv.size_chars() - len(json.dumps(conv.messages, ensure_ascii=False))) <= 2
    conv.reset()
    assert conv.messages == [] and conv.size_chars() == 2


def test_a_second_reply_on_the_same_session_is_refused_while_one_runs(kimi_server):
    import threading

    import pytest

    from kimi_jupyter import chat
    from kimi_jupyter.core.errors import Busy
    from kimi_jupyter.core.session import Session
    from kimi_jupyter.testing import Scenario, ScriptedTurn
    from kimi_jupyter.testing.pytest_plugin import API_KEY
    from kimi_jupyter.views import RecordingView

    kimi_server.add_scenario(Scenario("steady", [ScriptedTurn(reasoning="thinking " * 80, content="ok")], cps=500))
    session = Session()
    session.config.api_key, session.config.base_url = API_KEY, kimi_server.base_url
    started = threading.Event()

    class Slow(RecordingView):
        def on_reasoning(self, delta):
            started.set()
            super().on_reasoning(delta)

    worker = threading.Thread(
        target=chat, args=("[[scenario:steady]] take your time",), kwargs={"session": session, "view": Slow()}
    )
    worker.start()
    assert started.wait(10)
    with pytest.raises(Busy, match="already replying"):
        chat("hello", session=session, view=RecordingView())
    worker.join(30)
    assert chat("hello", session=session, view=RecordingView()).content  # free again


def test_a_new_system_prompt_is_sent_once_and_then_stays_in_force():
    from kimi_jupyter.core.agent import Agent, Request
    from kimi_jupyter.core.session import Session
    from kimi_jupyter.testing import KimiServer
    from kimi_jupyter.views.base import RecordingView

    with KimiServer(api_key="sk-sys") as srv:
        session = Session()
        session.logins[srv.base_url] = "sk-sys"
        settings = session.settings(base_url=srv.base_url)
        for system in ("A", "B", "B", None):
            Agent(session, RecordingView()).run(Request("[[scenario:echo]] hi", settings, system=system, tools=False))
    systems = [m["content"] for m in srv.requests[-1]["messages"] if m["role"] == "system"]
    assert systems == ["A", "B"]  # -s B after -s A: appended once, not on every later cell


def test_a_later_cell_does_not_change_an_earlier_results_messages(kimi_server):
    from kimi_jupyter import chat
    from kimi_jupyter.core.session import Session
    from kimi_jupyter.testing.pytest_plugin import API_KEY
    from kimi_jupyter.views import RecordingView

    session = Session()
    session.config.api_key, session.config.base_url = API_KEY, kimi_server.base_url
    first = chat("[[scenario:echo]] first", session=session, view=RecordingView())
    before = json.dumps(first.messages)
    n = len(first.messages)
    second = chat("[[scenario:echo]] second", session=session, view=RecordingView())
    assert len(first.messages) == n and json.dumps(first.messages) == before
    assert len(second.messages) > n and list(second.messages[:n]) == list(first.messages)
    assert first.messages[-2]["content"] == "[[scenario:echo]] first"  # list-like: index, slice, len
    session.reset()
    assert json.dumps(first.messages) == before  # a reset doesn't empty an earlier Result either


def test_a_snapshot_shares_the_messages_and_never_changes():
    import pytest

    conv = Conversation()
    msg = {"role": "user", "content": "hi"}
    conv.append(msg)
    snap = conv.snapshot()
    conv.append({"role": "assistant", "content": "hello", "reasoning_content": ""})
    assert snap == [msg] and snap == (msg,) and len(snap) == 1 and snap[0] is msg and snap[-1] is msg
    assert list(snap) == [msg] and snap[:5] == (msg,)
    with pytest.raises(IndexError):
        snap[1]
    import copy
    import pickle

    assert list(copy.deepcopy(snap)) == [msg] and copy.deepcopy(snap)[0] is not msg
    assert list(pickle.loads(pickle.dumps(snap))) == [msg]  # the first message only, not the whole list
    two = conv.snapshot()
    conv.rollback(1)  # below a snapshot: the conversation moves to a new list
    conv.append({"role": "user", "content": "again"})
    assert [m["content"] for m in two] == ["hi", "hello"] and len(snap) == 1
    three = conv.snapshot()
    conv.reset()
    assert [m["content"] for m in three] == ["hi", "again"] and conv.messages == [] and conv.size_chars() == 2


class _Tokenizer:
    """Counts the conversations the client asks the server's tokenizer about."""

    def __init__(self, answer=None):
        self.calls = 0
        self.answer = answer

    def estimate_tokens(self, messages, messages_json=None):
        self.calls += 1
        return self.answer(messages) if self.answer else None


def _session_with(chars):
    from kimi_jupyter.core.session import Session

    session = Session()
    session.conversation.append({"role": "user", "content": "x" * chars})
    return session


def _check(session, client, window=100_000, max_tokens=1000):
    from dataclasses import replace

    from kimi_jupyter.core import context_window
    from kimi_jupyter.core.catalog import CATALOG

    info = replace(CATALOG["kimi-k3"], context_window=window)
    settings = session.settings(model="kimi-k3", max_tokens=max_tokens)
    return context_window.check(session.conversation, settings, info, client)


def test_the_exact_count_is_asked_once_then_extrapolated_not_on_every_step():
    import pytest

    from kimi_jupyter.core.errors import PromptTooLarge

    session = _session_with(240_000)  # ~60k tokens: past half of a 100k window
    client = _Tokenizer(answer=lambda msgs: sum(len(m["content"]) for m in msgs) // 5)
    _check(session, client)
    assert client.calls == 1
    for _ in range(200):  # a tool loop adding ~10 tokens a step
        session.conversation.append({"role": "tool", "tool_call_id": "t", "content": "ok"})
        _check(session, client)
    assert client.calls == 1
    exact = session.conversation.best_tokens()
    assert 48_000 <= exact <= 48_000 + 200 * 15  # the server's count plus the estimate since
    # After 1/32 of the window more, it asks again.
    session.conversation.append({"role": "user", "content": "y" * 16_000})
    _check(session, client)
    assert client.calls == 2
    # A rollback below the counted messages forgets the count.
    session.conversation.rollback(1)
    _check(session, client)
    assert client.calls == 3
    # Near the window, a refusal is confirmed with an exact count, never extrapolated.
    client.answer = lambda msgs: 98_000
    session.conversation.append({"role": "user", "content": "z" * 40_000})
    _check(session, client)
    assert client.calls == 4
    session.conversation.append({"role": "user", "content": "w" * 9_000})  # +2,250: extrapolated 100,250
    client.answer = lambda msgs: 99_500
    room = _check(session, client)  # the server says it fits: no refusal, a shorter reply
    assert client.calls == 5 and room.tokens == 99_500 and room.max_tokens == 500
    session.conversation.append({"role": "user", "content": "v" * 4_000})
    client.answer = lambda msgs: 100_200
    with pytest.raises(PromptTooLarge, match="100,200"):
        _check(session, client)
    assert client.calls == 6


def test_a_server_without_a_tokenizer_is_not_asked_on_every_step():
    session = _session_with(240_000)
    client = _Tokenizer()  # like vLLM: no such endpoint
    for _ in range(50):
        session.conversation.append({"role": "tool", "tool_call_id": "t", "content": "ok"})
        _check(session, client)
    assert client.calls == 1
    assert session.conversation.best_tokens() == session.conversation.estimate_tokens()


def test_a_reply_gets_the_room_left_in_the_window_not_a_400():
    """Moonshot refuses prompt + max_tokens past the window ("exceeded model token
    limit"): the request asks for what fits instead."""
    session = _session_with(4_000)  # ~1k tokens
    client = _Tokenizer(answer=lambda msgs: 1_000)
    room = _check(session, client, window=8_192, max_tokens=32_000)
    assert (room.tokens, room.max_tokens) == (1_000, 7_192) and client.calls == 1
    assert not room.cut(session.settings(max_tokens=32_000))  # a small window, not a full conversation
    room = _check(session, client, window=262_144, max_tokens=32_000)  # far from the window: no count needed
    assert room.max_tokens == 32_000 and client.calls == 1
    # Past 1/32 of the window appended since, it counts again; what was appended after the
    # last exact count is only estimated, so room is left for it twice over.
    client.answer = lambda msgs: sum(len(m["content"]) for m in msgs) // 4
    session.conversation.append({"role": "user", "content": "y" * 8_000})
    room = _check(session, client, window=8_192, max_tokens=32_000)
    assert client.calls == 2 and (room.tokens, room.max_tokens) == (3_000, 5_192)
    session.conversation.append({"role": "user", "content": "z" * 400})
    room = _check(session, client, window=8_192, max_tokens=32_000)
    since = session.conversation.tokens_since_exact()
    assert client.calls == 2 and since >= 100 and room.max_tokens == 8_192 - 3_000 - 2 * since
    assert not room.cut(session.settings(max_tokens=32_000))  # more than half the window is left
    session.conversation.append({"role": "user", "content": "w" * 8_000})
    room = _check(session, client, window=8_192, max_tokens=32_000)
    assert room.max_tokens < 4_096 and room.cut(session.settings(max_tokens=32_000))  # now the user is told

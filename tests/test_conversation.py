import json

from kimi_jupyter.conversation import Conversation


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
    from kimi_jupyter.errors import Busy
    from kimi_jupyter.session import Session
    from kimi_jupyter.testing import Scenario, Turn
    from kimi_jupyter.testing.pytest_plugin import API_KEY
    from kimi_jupyter.views import RecordingView

    kimi_server.add_scenario(Scenario("steady", [Turn(reasoning="thinking " * 80, content="ok")], cps=500))
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
    from kimi_jupyter.agent import Agent, Request
    from kimi_jupyter.session import Session
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

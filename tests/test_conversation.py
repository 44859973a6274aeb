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

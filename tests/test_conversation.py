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

"""Tutor mode's pure parts: where the notes come from, the ladder, and the hidden messages on the wire."""

from __future__ import annotations

import json

from kimi_jupyter import tutor
from kimi_jupyter.core.conversation import Conversation


def test_hidden_messages_frame_the_conversation_in_the_encoded_body():
    conv = Conversation()
    conv.append({"role": "user", "content": "Why does my loop never end?"})
    conv.append({"role": "assistant", "content": "Look at n.", "reasoning_content": ""})
    conv.append({"role": "user", "content": "Still stuck \u00e9"})
    before, after = tutor.messages(tutor.Notes("goals: loops", "TUTOR.md"), 2)
    messages, parts = conv.framed(before, after)
    assert json.loads(b"[" + b"".join(parts) + b"]") == messages
    assert messages == [*before, *conv.messages, *after]
    assert len(conv.messages) == 3  # never kept in the conversation
    assert "hint 2 of 4" in after[0]["content"] and "goals: loops" in before[0]["content"]
    empty = Conversation()
    for b, a in ((before, after), (before, ()), ((), after)):
        messages, parts = empty.framed(b, a)
        assert json.loads(b"[" + b"".join(parts) + b"]") == messages == [*b, *a]


def test_notes_come_from_metadata_first_then_tutor_md(tmp_path, monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert tutor.find_notes({}, tmp_path) is None
    (tmp_path / "TUTOR.md").write_text("Goals: recursion.\n\n- Code tool: allowed\n", encoding="utf-8")
    notes = tutor.find_notes({}, tmp_path)
    assert notes is not None and notes.source == "TUTOR.md" and notes.code_tool
    (tmp_path / "TUTOR.md").write_text("Goals: recursion. The code tool: never.\n", encoding="utf-8")
    assert not tutor.find_notes({}, tmp_path).code_tool
    nb = tmp_path / "ex.ipynb"
    nb.write_text(json.dumps({"metadata": {"kimi_jupyter": {"tutor": {"goals": ["a", "b"], "solution": "s"}}},
                              "cells": []}), encoding="utf-8")
    notes = tutor.find_notes({"__session__": "course/ex.ipynb"}, tmp_path)
    assert notes.source == "notebook metadata" and "- a\n- b" in notes.text and "Reference solution" in notes.text
    assert not notes.code_tool


def test_the_ladder_climbs_and_stays_on_the_last_rung():
    rung, seen = 0, []
    for _ in range(6):
        rung = tutor.next_rung(rung)
        seen.append(tutor.label(rung))
    assert seen == ["hint 1 of 4", "hint 2 of 4", "hint 3 of 4", "hint 4 of 4", "hint 4 of 4", "hint 4 of 4"]
    assert "different" in tutor.messages(None, 4)[1][0]["content"]

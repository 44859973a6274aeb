"""`%kimi replay lesson.jsonl`: a shipped lesson replays on Run All in a real kernel, with no key and no server."""

from __future__ import annotations

import pytest
from conftest import output_text, run_notebook

from kimi_jupyter.api import chat
from kimi_jupyter.core.result import REPLAY_LABEL
from kimi_jupyter.core.session import Session
from kimi_jupyter.testing.pytest_plugin import API_KEY
from kimi_jupyter.testing.server import KimiServer
from kimi_jupyter.views.base import RecordingView

PROMPTS = ["Explain quantum entanglement.", "What was my first question?"]


def _footer(cell):
    (footer,) = [o for o in cell.outputs if o.get("metadata", {}).get("kimi_jupyter", {}).get("part") == "footer"]
    return footer


@pytest.fixture
def lesson(tmp_path, monkeypatch):
    """A teacher's lesson, recorded once against the loopback server with a key; then no key anywhere."""
    path = tmp_path / "lesson.jsonl"
    for name in ("MOONSHOT_API_KEY", "MOONSHOT_BASE_URL", "KIMI_MODEL"):
        monkeypatch.delenv(name, raising=False)
    with KimiServer(api_key=API_KEY) as live:
        monkeypatch.setenv("KIMI_API_KEY", API_KEY)
        monkeypatch.setenv("KIMI_BASE_URL", live.base_url)
        session = Session()
        session.start_recording(str(path))
        answers = [chat(p, session=session, view=RecordingView()).content for p in PROMPTS]
        session.stop_recording()
    monkeypatch.delenv("KIMI_API_KEY")
    monkeypatch.delenv("KIMI_BASE_URL")
    return path, answers


def test_a_lesson_replays_on_run_all_with_no_key(lesson, tmp_path):
    path, answers = lesson
    nb = run_notebook(
        ["%load_ext kimi_jupyter", f"%kimi replay {path.name}",
         *(f"%%kimi\n{p}" for p in PROMPTS), "%%kimi\nExplain quantum tunnelling, please."],
        tmp_path, timeout=120,
    )
    assert "Replaying lesson.jsonl (2 recorded requests)" in output_text(nb.cells[1])
    for cell, answer in zip(nb.cells[2:4], answers):
        text = output_text(cell)
        assert not [o for o in cell.outputs if o["output_type"] == "error"], text
        assert answer.splitlines()[0] in text
        footer = _footer(cell)
        assert footer["metadata"]["kimi_jupyter"]["offline_replay"] is True
        assert footer["data"]["text/plain"].endswith(f" · {REPLAY_LABEL}")
    # The cell the lesson doesn't hold: one line naming the nearest recorded prompt, no traceback.
    (error,) = [o for o in nb.cells[4].outputs if o["output_type"] == "error"]
    assert error["ename"] == "NotInLesson"
    assert 'Nearest recorded prompt: "Explain quantum entanglement."' in error["evalue"]
    assert "\n" not in error["evalue"] and "Traceback" not in output_text(nb.cells[4])
    assert "MissingKey" not in output_text(nb.cells[4])


def test_live_fallback_sends_only_the_missing_cell_to_the_live_api(lesson, tmp_path, monkeypatch):
    path, answers = lesson
    with KimiServer(api_key="sk-live-teacher") as live:
        monkeypatch.setenv("KIMI_API_KEY", "sk-live-teacher")
        monkeypatch.setenv("KIMI_BASE_URL", live.base_url)
        nb = run_notebook(
            ["%load_ext kimi_jupyter", f"%kimi replay {path.name} --live-fallback",
             f"%%kimi\n{PROMPTS[0]}", "%%kimi\nExplain quantum tunnelling, please.", "%kimi replay stop"],
            tmp_path, timeout=120,
        )
        sent = [m["content"] for body in live.requests for m in body["messages"] if m["role"] == "user"]
    assert answers[0].splitlines()[0] in output_text(nb.cells[2])
    assert _footer(nb.cells[2])["data"]["text/plain"].endswith(REPLAY_LABEL)
    live_cell = nb.cells[3]
    assert not [o for o in live_cell.outputs if o["output_type"] == "error"], output_text(live_cell)
    assert "answered live" in output_text(live_cell)
    assert REPLAY_LABEL not in _footer(live_cell)["data"]["text/plain"]
    assert "Explain quantum tunnelling, please." in sent and "Explain quantum entanglement." in sent
    assert len(live.requests) == 1  # the recorded cell never reached the live API
    assert "Stopped replaying lesson.jsonl" in output_text(nb.cells[4])


def test_live_fallback_without_a_key_says_so(lesson, tmp_path):
    path, _ = lesson
    nb = run_notebook(
        ["%load_ext kimi_jupyter", f"%kimi replay {path.name} --live-fallback", "%%kimi\nSomething else entirely."],
        tmp_path, timeout=120,
    )
    (error,) = [o for o in nb.cells[2].outputs if o["output_type"] == "error"]
    assert error["ename"] == "NotInLesson" and "Nearest recorded prompt" in error["evalue"]
    assert "found no key" in error["evalue"]


def test_replay_needs_a_cassette(tmp_path):
    (tmp_path / "notes.jsonl").write_text('{"not": "a cassette"}\n', encoding="utf-8")
    nb = run_notebook(["%load_ext kimi_jupyter", "%kimi replay", "%kimi replay missing.jsonl",
                       "%kimi replay notes.jsonl", "%kimi replay stop"], tmp_path)
    usage, missing, wrong, stop = (output_text(c) for c in nb.cells[1:])
    assert "UsageError: Usage: %kimi replay PATH.jsonl" in usage
    assert "Cannot read the cassette" in missing and "Traceback" not in missing
    assert "not a kimi-jupyter cassette" in wrong
    assert "No replay is running." in stop

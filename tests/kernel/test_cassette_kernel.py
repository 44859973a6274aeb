"""Cassettes in real kernels: record a notebook against the loopback server, replay it with no key."""

from __future__ import annotations

import copy
import json
import re

from conftest import output_text, run_notebook

from kimi_jupyter.core.result import REPLAY_LABEL
from kimi_jupyter.testing.pytest_plugin import API_KEY
from kimi_jupyter.testing.server import KimiServer

QUESTIONS = [
    "%%kimi --no-thinking\nWhat is a cassette?",  # a plain answer, no reasoning
    "%%kimi\nExplain quantum entanglement.",  # reasoning, then a markdown answer
    "%%kimi -y\nLet the two tool calls share state.",  # two tool calls run in the kernel
    "%%kimi -n\n[[scenario:rate_limit]] Tell me about rate limits.",  # a 429 twice, then the answer
    "print(shared_value)",
]
_SECONDS = re.compile(r"\d+(?:\.\d+)? s\b")
_WIDGET = "application/vnd.jupyter.widget-view+json"


def _comparable(cell) -> list[dict]:
    """A cell's saved outputs without what may differ between runs: times, widget ids, the replay label."""
    outs = []
    for out in copy.deepcopy(cell.outputs):
        meta = out.get("metadata", {}).get("kimi_jupyter")
        if isinstance(meta, dict):
            meta.pop("elapsed_s", None)
            meta.pop("offline_replay", None)
        data = out.get("data", {})
        data.pop(_WIDGET, None)
        text = json.dumps(out, sort_keys=True, ensure_ascii=False).replace(f" · {REPLAY_LABEL}", "")
        outs.append(json.loads(_SECONDS.sub("# s", text)))
    return outs


def test_a_recorded_notebook_replays_identically_with_no_key(kimi_kernel_env, tmp_path, monkeypatch):
    cassette = tmp_path / "lesson.jsonl"
    (tmp_path / "rec").mkdir()
    (tmp_path / "play").mkdir()
    recorded = run_notebook(
        ["%load_ext kimi_jupyter", f"%kimi record {cassette}", *QUESTIONS, "%kimi record stop"],
        tmp_path / "rec", timeout=180,
    )
    assert "never written" in output_text(recorded.cells[1])
    assert "requests (and 1 model listing) written to" in output_text(recorded.cells[-1])
    for cell in recorded.cells[2:7]:
        assert not [o for o in cell.outputs if o["output_type"] == "error"], output_text(cell)
    assert "Retrying in" in output_text(recorded.cells[5])
    kimi_kernel_env.stop()  # from here on, only the cassette answers

    text = cassette.read_text(encoding="utf-8")
    assert API_KEY not in text and "authorization" not in text.lower()
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["cassette"] == "kimi-jupyter"
    assert any(x.get("path") == "/models" for x in lines[1:])  # so the replay resolves models the same
    chats = [x for x in lines[1:] if x.get("path") == "/chat/completions"]
    assert [x["status"] for x in chats].count(429) == 2
    assert all(x["request"]["messages"] and x["request"]["model"] for x in chats)

    with KimiServer(replay=cassette) as replay:
        monkeypatch.setenv("KIMI_BASE_URL", replay.base_url)
        monkeypatch.delenv("KIMI_API_KEY")  # the replay needs no key
        replayed = run_notebook(
            ["%load_ext kimi_jupyter", f"%kimi record {cassette}", *QUESTIONS, "%kimi record stop",
             "%%kimi\nExplain quantum entanglement to a child."],
            tmp_path / "play", timeout=180,
        )
        keys = set(replay.keys_seen)
    assert API_KEY not in keys

    for before, after in zip(recorded.cells[2:7], replayed.cells[2:7]):
        assert _comparable(after) == _comparable(before), before.source
    # Every answer says it is a replay, in its footer and the footer's provenance.
    for cell in replayed.cells[2:6]:
        (footer,) = [o for o in cell.outputs if o.get("metadata", {}).get("kimi_jupyter", {}).get("part") == "footer"]
        assert footer["metadata"]["kimi_jupyter"]["offline_replay"] is True, cell.source
        assert footer["data"]["text/plain"].endswith(f" · {REPLAY_LABEL}")
    for cell in recorded.cells[2:6]:
        assert REPLAY_LABEL not in output_text(cell)
    assert "Retrying in" in output_text(replayed.cells[5])  # the recorded 429s replay too
    # A replay isn't recorded again: the notebook's own `%kimi record` left the cassette as it was.
    assert cassette.read_text(encoding="utf-8") == text
    assert "not recorded again" in output_text(replayed.cells[7])
    # A prompt the cassette doesn't hold: one clear error naming the nearest recorded prompt.
    miss = output_text(replayed.cells[8])
    assert "resource_not_found_error" in miss and 'Nearest recorded prompt: "Explain quantum entanglement."' in miss
    assert "Traceback" not in miss and "is not available at" not in miss  # no model advice for a cassette miss


def test_record_needs_a_path_it_can_write(kimi_kernel_env, tmp_path):
    nb = run_notebook(
        [
            "%load_ext kimi_jupyter",
            "%kimi record",
            f"%kimi record {tmp_path / 'no-such-folder' / 'x.jsonl'}",
            f"%kimi record {tmp_path}",
            "%kimi record stop",
        ],
        tmp_path,
    )
    usage, missing, folder, stop = (output_text(c) for c in nb.cells[1:])
    assert "UsageError: Usage: %kimi record PATH.jsonl" in usage
    assert "does not exist" in missing and "UsageError" in missing and "Traceback" not in missing
    assert "is a folder" in folder
    assert "No recording is running." in stop


def test_demo_runs_a_notebook_against_its_cassette(tmp_path, monkeypatch):
    import nbformat

    from conftest import make_notebook

    from kimi_jupyter.api import chat
    from kimi_jupyter.demo import main as demo_main
    from kimi_jupyter.core.session import Session
    from kimi_jupyter.views.base import RecordingView

    cassette = tmp_path / "lesson.jsonl"
    for name in ("MOONSHOT_API_KEY", "MOONSHOT_BASE_URL", "KIMI_MODEL", "KIMI_DEMO_VLLM_URL"):
        monkeypatch.setenv(name, "")  # restored after the test: the demo sets the kernels' environment
    with KimiServer(api_key=API_KEY) as live:  # the teacher's session, recorded from Python
        monkeypatch.setenv("KIMI_API_KEY", API_KEY)
        monkeypatch.setenv("KIMI_BASE_URL", live.base_url)
        session = Session()
        session.start_recording(str(cassette))
        first = chat("Explain quantum entanglement.", session=session, view=RecordingView())
        chat("What was my first question?", session=session, view=RecordingView())
        session.stop_recording()
    notebook = tmp_path / "lesson.ipynb"
    nbformat.write(make_notebook(["%load_ext kimi_jupyter", "%%kimi\nExplain quantum entanglement.",
                                  "%%kimi\nWhat was my first question?"]), notebook)

    out = tmp_path / "out"
    assert demo_main(["--cassette", str(cassette), "--out", str(out), "--quiet", "--pace", "0", str(notebook)]) == 0
    nb = nbformat.read(out / "lesson.ipynb", as_version=4)
    assert "replayed from a cassette (lesson.jsonl)" in nb.cells[0].source
    answer, recall = output_text(nb.cells[2]), output_text(nb.cells[3])
    assert first.content.splitlines()[0] in answer
    assert "Your first question was: Explain quantum entanglement." in recall
    for text in (answer, recall):
        assert text.count(REPLAY_LABEL) == 1  # said once: the demo doesn't label a replay twice
    assert (out / "lesson.html").exists()

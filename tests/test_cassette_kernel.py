"""Cassettes in real kernels: record a notebook against the loopback server, replay it with no key."""

from __future__ import annotations

import copy
import json
import re

from conftest import output_text, run_notebook

from kimi_jupyter.result import REPLAY_LABEL
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
    assert "requests written to" in output_text(recorded.cells[-1])
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
    # Every answer says it is a replay, in the footer and its metadata.
    for cell in replayed.cells[2:6]:
        metas = [o["metadata"]["kimi_jupyter"] for o in cell.outputs
                 if "kimi_jupyter" in o.get("metadata", {}) and "elapsed_s" in o["metadata"]["kimi_jupyter"]]
        assert metas and all(m.get("offline_replay") for m in metas), cell.source
        assert REPLAY_LABEL in output_text(cell)
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

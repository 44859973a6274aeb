"""`kimi_jupyter.map` and `%%kimi --map` in real kernels against the loopback server (issue 26).

Each test drives a kernel the way a user does: a notebook run headless
(nbclient) for what the saved file shows, or one kernel cell by cell
(jupyter_client) where the test must restart or interrupt it.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from conftest import output_text, run_notebook

from kimi_jupyter.batch.limits import Tier
from kimi_jupyter.testing import KimiServer, Scenario, ScriptedTurn, ToolCallSpec
from kimi_jupyter.testing.kernel import Kernel
from kimi_jupyter.testing.pytest_plugin import API_KEY, kernel_env

WIDGET = "application/vnd.jupyter.widget-view+json"


def _user(body: dict) -> str:
    return [m for m in body["messages"] if m["role"] == "user"][-1]["content"]


def _sent(server: KimiServer) -> list[str]:
    return [_user(b) for b in server.requests]


def _lines(folder: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in folder.glob("*.jsonl"))


def _wait_for(check, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def server():
    """A server per test, with a tier and latency the test may change while it runs."""
    with KimiServer(api_key=API_KEY) as srv:
        yield srv


@pytest.fixture
def kernel(server):
    with Kernel(kernel_env(server)) as k:
        k.run("%load_ext kimi_jupyter\nimport kimi_jupyter")
        yield k


def test_list_template_dataframe_and_magic_in_a_saved_notebook(kimi_kernel_env, tmp_path):
    cache = tmp_path / "cache"
    nb = run_notebook([
        "%load_ext kimi_jupyter",
        f"import kimi_jupyter, pandas as pd\nCACHE = {str(cache)!r}",
        "r1 = kimi_jupyter.map(['Say alpha', 'Say beta', 'Say gamma'], cache=CACHE)\n"
        "print([('> ' + p) in r.content for r, p in zip(r1, ['Say alpha', 'Say beta', 'Say gamma'])])",
        "r2 = kimi_jupyter.map((n * n for n in range(4)), 'Square number {item}', cache=CACHE)\n"
        "print([r.key for r in r2], ['Square number 9' in r.content for r in r2])",
        "df = pd.DataFrame({'review': ['Loved it', 'Broke in a day'], 'stars': [5, 1]}, index=['a17', 'b42'])\n"
        "r3 = kimi_jupyter.map(df, 'Classify: {review} ({stars} stars) {\"json\": true}', cache=CACHE)\n"
        "t = r3.to_pandas()\nprint(list(t.index), list(t.columns)[:3], t['error'].isna().all())",
        "reviews = ['Great value', 'Too loud']\ntopic = 'headphones'",
        "%%kimi --map reviews -o labels\nLabel this {topic} review: {item}",
        "print(type(labels).__name__, [r.ok for r in labels], labels[1].key)",
        "labels",
    ], tmp_path, timeout=120)
    sent = _sent(kimi_kernel_env)
    assert sent[:3] == ["Say alpha", "Say beta", "Say gamma"] or sorted(sent[:3]) == ["Say alpha", "Say beta",
                                                                                         "Say gamma"]
    assert "[True, True, True]" in output_text(nb.cells[2])  # input order kept whatever order they finished in
    assert "[0, 1, 2, 3] [False, False, False, True]" in output_text(nb.cells[3])
    assert {"Square number 0", "Square number 9", "Classify: Loved it (5 stars) {\"json\": true}",
            "Label this headphones review: Great value", "Label this headphones review: Too loud"} <= set(sent)
    assert "['a17', 'b42'] ['content', 'parsed', 'model'] True" in output_text(nb.cells[4])
    assert "Results [True, True] 1" in output_text(nb.cells[7])
    assert "2 items · 2 done · 0 failed" in output_text(nb.cells[8])
    for cell in (nb.cells[2], nb.cells[6]):
        text = output_text(cell)
        # The saved notebook keeps the summary line, not a widget it can't show without a kernel.
        assert "Kimi map: " in text and " done · 0 failed" in text, text
        assert not any(WIDGET in o.get("data", {}) for o in cell.outputs)
    assert len(sent) == 3 + 4 + 2 + 2  # each item once


def test_item_failures_stay_in_their_items(kimi_kernel_env, tmp_path):
    kimi_kernel_env.add_scenario(Scenario("rate_good", [ScriptedTurn(content='{"label": "positive", "score": 0.9}')],
                                          match=r"^Rate: good"))
    kimi_kernel_env.add_scenario(Scenario("rate_odd", [ScriptedTurn(content='{"label": "maybe", "score": 2}')],
                                          match=r"^Rate: odd"))
    nb = run_notebook([
        "%load_ext kimi_jupyter",
        "import kimi_jupyter, pydantic, typing\n"
        "class Label(pydantic.BaseModel):\n"
        "    label: typing.Literal['positive', 'negative']\n"
        "    score: float = pydantic.Field(ge=0, le=1)",
        f"r = kimi_jupyter.map(['good one', 'odd one', '[[scenario:content_filter]] bad one', 'good two'], "
        f"'Rate: {{item}}', format='json', schema=Label, cache={str(tmp_path / 'c')!r})\n"
        "for x in r: print(x.key, x.ok, type(x.parsed).__name__, x.error)",
        "print(repr(r))",
        f"r2 = kimi_jupyter.map(['good one', 'odd one'], 'Rate: {{item}}', format='json', schema=Label, "
        f"cache={str(tmp_path / 'c')!r})\n"
        "print([x.error is None for x in r2], [x.cached for x in r2])",
        "schema = {'type': 'object', 'properties': {'label': {'enum': ['positive', 'negative']}}, 'required': ['label']}\n"
        f"r3 = kimi_jupyter.map(['odd one'], 'Rate: {{item}}', format='json', schema=schema, cache=False)\n"
        "print(r3[0].error)",
    ], tmp_path, timeout=120)
    lines = [line for line in output_text(nb.cells[2]).strip().splitlines() if line[:1].isdigit()]
    assert lines[0] == "0 True Label None"
    assert lines[1] == "1 False NoneType schema: label: Input should be 'positive' or 'negative' (+1 more)"
    assert lines[2].startswith("2 False NoneType Kimi API error 400 (content_filter)") and "high risk" in lines[2]
    assert lines[3] == "3 True Label None"
    assert "4 items · 2 done · 2 failed" in output_text(nb.cells[3])
    # The answer that failed the schema was paid for: the same call checks it again, and doesn't ask again.
    assert "[True, False] [True, True]" in output_text(nb.cells[4])
    # A JSON schema dict works the same way (a new schema is a new prompt: the model is told the shape).
    assert "schema: label: 'maybe' is not one of ['positive', 'negative']" in output_text(nb.cells[5])
    assert sum(1 for s in _sent(kimi_kernel_env) if s == "Rate: odd one") == 2
    # The content filter was not retried (a 400), and not cached: the next run asks again.
    assert sum(1 for s in _sent(kimi_kernel_env) if "bad one" in s) == 1


def test_a_429_storm_slows_the_whole_pool(server, kernel, tmp_path):
    # The account is tier "2 at once", but the notebook claims tier 5: the server answers the
    # excess with Moonshot's 429 "try again after 1 seconds".
    server.limits.tier = Tier(9, concurrency=2, rpm=10_000, tpm=None, top_up_usd=0)
    server.limits.latency_s = 0.3
    kernel.run("%config Kimi.tier = 5")
    out = kernel.run(f"r = kimi_jupyter.map([f'Item {{i}}' for i in range(16)], 'Say {{item}}', concurrency=8, "
                     f"cache={str(tmp_path)!r}, progress=False)\nprint(repr(r))", timeout=180)
    assert "16 items · 16 done · 0 failed" in out
    assert server.limits.admitted == 16
    # A pool whose workers each back off alone keeps 6 of 8 requests bouncing every round;
    # this one pauses together and halves, so far fewer 429s than items.
    assert 1 <= server.limits.rejected < 16, server.limits.rejected


def test_quota_error_stops_the_batch_at_once(server, kernel, tmp_path):
    out = kernel.execute(f"r = kimi_jupyter.map(['[[scenario:quota]] a'] + [f'b{{i}}' for i in range(30)], "
                         f"concurrency=1, cache={str(tmp_path)!r}, progress=False)")
    assert not out.ok
    assert "QuotaError" in out.text and "billing" in out.text and "the batch stopped after 0 of 31 items" in out.text
    assert "Traceback" not in out.text
    assert len(server.requests) == 1  # nothing more was sent
    assert kernel.run("print('kernel alive')").strip() == "kernel alive"


def test_max_cost_stops_before_the_cap_and_the_rerun_sends_only_the_rest(server, kernel, tmp_path):
    call = (f"r = kimi_jupyter.map([f'Price item {{i}}' for i in range(12)], max_tokens=1000, concurrency=2, "
            f"cache={str(tmp_path)!r}, progress=False, max_cost=CAP)")
    run = kernel.execute(call.replace("CAP", "0.008") + "\nprint(repr(r)); print('SPENT', sum(x.cost_usd or 0 for x in r))")
    assert run.ok, run.text
    text = run.text
    assert "stopped: max_cost" in text and "not run" in text
    assert "higher max_cost" in text  # says how to go on
    spent = float(text.split("SPENT ")[1].split()[0])
    assert 0 < spent <= 0.008
    first = len(server.requests)
    assert 0 < first < 12
    again = kernel.execute(call.replace("CAP", "1.0") + "\nprint(repr(r))")
    assert again.ok and "12 items · 12 done" in again.text
    assert len(server.requests) == 12  # only the missing ones were sent
    assert f"{first} from cache" in again.text


def test_resume_after_a_kernel_restart_sends_only_what_is_missing(server, tmp_path):
    items = [f"Resume item {i}" for i in range(8)]
    with Kernel(kernel_env(server)) as k:
        k.run(f"import kimi_jupyter\nr = kimi_jupyter.map({items[:5]!r}, cache={str(tmp_path)!r}, progress=False)")
    assert len(server.requests) == 5
    with Kernel(kernel_env(server)) as k:  # a new kernel: nothing in memory, the cache on disk
        out = k.run(f"import kimi_jupyter\nr = kimi_jupyter.map({items!r}, cache={str(tmp_path)!r}, progress=False)\n"
                    "print(repr(r)); print([x.cached for x in r])")
    assert "8 items · 8 done · 0 failed · 5 from cache" in out
    assert "[True, True, True, True, True, False, False, False]" in out
    assert sorted(_sent(server)[5:]) == items[5:]


def test_an_interrupt_keeps_what_finished_and_the_rerun_sends_the_rest(server, kernel, tmp_path):
    server.limits.latency_s = 0.5
    call = (f"r = kimi_jupyter.map([f'Slow item {{i}}' for i in range(40)], concurrency=2, "
            f"cache={str(tmp_path)!r}, progress=False)")
    runs = []
    worker = threading.Thread(target=lambda: runs.append(kernel.execute(call, timeout=120)))
    worker.start()
    _wait_for(lambda: _lines(tmp_path) >= 4, "four finished items in the cache")
    kernel.km.interrupt_kernel()
    worker.join(60)
    (run,) = runs
    assert not run.ok
    assert "Stopped by the user" in run.text and "of 40 items" in run.text and "Run the same call again" in run.text
    assert "Traceback" not in run.text
    _wait_for(lambda: server.limits.in_flight == 0, "the requests in flight to end")
    kept = _lines(tmp_path)
    sent_before = len(server.requests)
    assert 4 <= kept < 40
    server.limits.latency_s = 0.0
    again = kernel.run(call + "\nprint(repr(r))", timeout=120)
    assert "40 items · 40 done · 0 failed" in again and f"{kept} from cache" in again
    assert len(server.requests) - sent_before == 40 - kept  # exactly the missing items


def test_batch_api_end_to_end_with_a_kernel_restart_while_it_runs(server, tmp_path):
    items = [f"Batch item {i}" for i in range(5)] + ["[[scenario:content_filter]] risky"]
    call = (f"import kimi_jupyter\nr = kimi_jupyter.map({items!r}, mode='batch', cache={str(tmp_path)!r}, "
            "poll_interval=0.05, progress=False EXTRA)")
    server.batches.hold()  # the batch stays in_progress until released
    with Kernel(kernel_env(server)) as k:
        out = k.run(call.replace("EXTRA", ", wait=False") + "\nprint(repr(r)); print(r.batch_id)")
    assert "stopped: batch in progress" in out
    (batch,) = server.batches.all()
    # The server validates a batch on its own thread before it runs: wait for that state.
    _wait_for(lambda: batch.status == "in_progress", "the batch to be in progress")
    assert batch.id in out
    saved = json.loads(next(tmp_path.glob("*.batches.json")).read_text())
    assert [b["id"] for b in saved] == [batch.id]  # the id is kept on disk, for the next kernel
    uploaded = server.files.get(batch.input_file_id).data.decode().splitlines()
    assert len(uploaded) == 6 and all(json.loads(line)["body"].get("stream") is None for line in uploaded)
    assert not server.requests  # nothing went online
    server.batches.release()
    with Kernel(kernel_env(server)) as k:  # the kernel was restarted while the batch ran
        out = k.run(call.replace("EXTRA", "") + "\nfor x in r: print(x.ok, x.error)\nprint(repr(r))", timeout=120)
    assert batch.status == "completed"
    assert "6 items · 5 done · 1 failed" in out
    assert "False Kimi API error 400 (content_filter)" in out and "high risk" in out
    assert len(server.batches.all()) == 1 and len(server.requests) == 6  # collected, not sent again
    assert {batch.input_file_id, batch.output_file_id, batch.error_file_id} <= set(server.files.deleted)
    assert not json.loads(next(tmp_path.glob("*.batches.json")).read_text())
    assert not [f for f in server.files.all() if f.purpose == "batch"]


def test_batch_cancel_and_status(server, kernel, tmp_path):
    server.batches.hold()
    kernel.run(f"r = kimi_jupyter.map(['c1', 'c2'], 'Cancel {{item}}', mode='batch', wait=False, "
               f"cache={str(tmp_path)!r}, progress=False)")
    (batch,) = server.batches.all()
    out = kernel.run(f"s = kimi_jupyter.batch_status(cache={str(tmp_path)!r}, cancel=True)")
    assert f"{batch.id}: cancelling" in out
    _wait_for(lambda: batch.status == "cancelled", "the batch to be cancelled")
    out = kernel.run(f"s = kimi_jupyter.batch_status(cache={str(tmp_path)!r})")
    assert "cancelled" in out and "collected into the cache" in out
    out = kernel.run(f"kimi_jupyter.batch_status(cache={str(tmp_path)!r})")
    assert "No Batch API jobs waiting" in out
    assert not server.requests


def test_tools_run_one_item_at_a_time_and_only_when_approved(server, kernel):
    code = json.dumps({"code": "ran_by_map = globals().get('ran_by_map', []) + ['$last_user']"})
    server.add_scenario(Scenario("map_tool", [
        ScriptedTurn(reasoning="I'll run it.", tool_calls=[ToolCallSpec("python", code)]),
        ScriptedTurn(content="Tool said: $last_tool_output"),
    ], match=r"^Use a tool for"))
    run = kernel.execute("r = kimi_jupyter.map(['a', 'b', 'c'], 'Use a tool for {item}', tools=True, cache=False, "
                         "progress=False)\nprint([x.ok for x in r])", answers=["n", "s"])
    assert run.ok, run.text
    assert len(run.prompts) == 2  # asked for a, refused; asked for b, "all in this session"; c not asked
    assert kernel.value("ran_by_map") == ["Use a tool for b", "Use a tool for c"]
    assert "[True, True, True]" in run.text
    # Without tools (the default) nothing is offered, so nothing can run.
    kernel.run("r = kimi_jupyter.map(['d'], 'Use a tool for {item}', cache=False, progress=False)")
    assert "tools" not in server.requests[-1]

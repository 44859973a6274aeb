"""The pure parts of `kimi_jupyter.map` (issue 26): items and templates, the pacer, the cache,
schema checks and Results. The whole feature is driven in real kernels in
tests/kernel/test_map_kernel.py; these pin the rules each part keeps."""

from __future__ import annotations

import json
import threading
import time

import pandas as pd
import pytest
from kimi_jupyter.core.errors import OptionError
from pydantic import BaseModel

from kimi_jupyter.batch.cache import Cache, body_key
from kimi_jupyter.batch.items import prepare
from kimi_jupyter.batch.limits import TIERS, Pacer, Stopped, time_bound
from kimi_jupyter.batch.results import ItemResult, Results
from kimi_jupyter.batch.schema import SchemaError, check, validator
from kimi_jupyter.core.stream import Usage


# ---------------------------------------------------------------- items
def test_lists_templates_series_and_frames_keep_input_order_and_labels():
    assert [(i.key, i.prompt) for i in prepare(["a", "b"], None)] == [(0, "a"), (1, "b")]
    assert [i.prompt for i in prepare(iter(range(3)), "n={item}")] == ["n=0", "n=1", "n=2"]
    series = pd.Series(["x", "y"], index=["r1", "r2"])
    assert [(i.key, i.prompt) for i in prepare(series, "Say {item} ({index})")] == [
        ("r1", "Say x (r1)"), ("r2", "Say y (r2)")]
    frame = pd.DataFrame({"review": ["good", "bad"], "stars": [5, 1]}, index=[10, 20])
    items = prepare(frame, 'Rate {review} ({stars}) as {"label": ...}')
    # Braces that name no column (JSON in the template) stay exactly as written.
    assert [(i.key, i.prompt) for i in items] == [(10, 'Rate good (5) as {"label": ...}'),
                                                 (20, 'Rate bad (1) as {"label": ...}')]


@pytest.mark.parametrize("items, prompt, message", [
    ("one prompt", None, "not one string"),
    ([1, 2], None, "give a template"),
    (["a"], "Same prompt for all", "names no `{item}`"),
    (pd.DataFrame({"review": ["x"]}), None, "needs a template naming its columns"),
    (pd.DataFrame({"review": ["x"]}), "Rate {text}", "names none of the DataFrame's columns (review)"),
    (42, "x {item}", "needs a list"),
])
def test_mistakes_are_one_line_usage_errors(items, prompt, message):
    with pytest.raises(OptionError, match=None) as info:
        prepare(items, prompt)
    assert message in str(info.value) and "\n" not in str(info.value)


# ---------------------------------------------------------------- limits
def test_the_pacer_holds_concurrency_and_wakes_waiters_on_release():
    pacer = Pacer(concurrency=2, rpm=None)
    pacer.acquire()
    pacer.acquire()
    got = threading.Event()
    waiter = threading.Thread(target=lambda: (pacer.acquire(), got.set()))
    waiter.start()
    assert not got.wait(0.2) and pacer.in_flight == 2
    pacer.release()
    assert got.wait(5) and pacer.in_flight == 2
    waiter.join()


def test_the_pacer_keeps_within_the_rpm_window():
    pacer = Pacer(concurrency=10, rpm=3, window_s=0.4)
    started = []
    for _ in range(5):
        pacer.acquire()
        started.append(time.monotonic())
        pacer.release()
    # Never more than 3 sends inside any window (plus the pacer's slack).
    for i in range(len(started) - 3):
        assert started[i + 3] - started[i] >= 0.4


def test_a_refused_request_leaves_the_rpm_window():
    pacer = Pacer(concurrency=10, rpm=2, window_s=60)
    pacer.acquire()
    refused = pacer.acquire()
    pacer.release()
    pacer.release()
    pacer.forget(refused)  # the server said 429: it didn't count there, so it doesn't here
    got = threading.Event()
    waiter = threading.Thread(target=lambda: (pacer.acquire(), got.set()), daemon=True)
    waiter.start()
    assert got.wait(5)  # without forget(), this would wait a whole minute
    pacer.close()


def test_pools_on_one_server_share_its_minute():
    """A second map() within a minute counts the first one's requests, as the server does
    (a fresh window per call sent one request too many, and the 429 paused the pool a minute)."""
    first = Pacer(concurrency=10, rpm=2, window_s=60, account="http://127.0.0.1:9:shared-test")
    first.acquire()
    first.acquire()
    first.release()
    first.release()
    second = Pacer(concurrency=10, rpm=2, window_s=60, account="http://127.0.0.1:9:shared-test")
    got = threading.Event()
    threading.Thread(target=lambda: _catch(lambda: (second.acquire(), got.set()), []), daemon=True).start()
    assert not got.wait(0.3)  # the minute is full
    second.close()
    other = Pacer(concurrency=10, rpm=2, window_s=60, account="http://127.0.0.1:10:other")
    other.acquire()  # another server's minute is its own


def test_a_pause_holds_every_worker_and_close_wakes_them_with_stopped():
    pacer = Pacer(concurrency=5, rpm=None)
    pacer.pause(30)
    assert pacer.pauses == 1 and pacer.paused_for() > 29
    pacer.pause(1)  # a shorter pause doesn't cut a longer one short
    assert pacer.pauses == 1 and pacer.paused_for() > 29
    errors = []
    waiter = threading.Thread(target=lambda: _catch(pacer.acquire, errors))
    waiter.start()
    pacer.close()
    waiter.join(5)
    assert not waiter.is_alive() and errors == ["Stopped"]


def _catch(fn, errors):
    try:
        fn()
    except Stopped:
        errors.append("Stopped")


def test_time_bound_is_the_slower_of_concurrency_and_rpm():
    tier1 = TIERS[1]
    assert (tier1.concurrency, tier1.rpm) == (50, 200)
    assert time_bound(1000, 50, 200, 2.0) == pytest.approx(4 * 60 + 2.0)  # RPM bound
    assert time_bound(100, 50, 10_000, 2.0) == pytest.approx(4.0)  # two rounds of 50
    assert time_bound(1, 50, 200, 2.0) == pytest.approx(2.0)


# ---------------------------------------------------------------- cache
def test_the_cache_appends_one_line_per_item_and_survives_a_cut_line(tmp_path):
    cache = Cache(tmp_path, "http://127.0.0.1:1/v1", "kimi-k2.6")
    cache.put("k1", {"content": "one"})
    cache.put("k2", {"content": "two"})
    with open(cache.path, "a", encoding="utf-8") as f:
        f.write('{"key": "k3", "content": "cut sh')  # a crash mid-write
    again = Cache(tmp_path, "http://127.0.0.1:1/v1", "kimi-k2.6")
    assert again.get("k1")["content"] == "one" and again.get("k2")["content"] == "two"
    assert again.get("k3") is None  # asked again, not lost in a broken file
    assert Cache(tmp_path, "http://127.0.0.1:1/v1", "kimi-k3").get("k1") is None  # another model, another file
    assert Cache(None, "http://x/v1", "m").get("k1") is None


def test_the_key_is_the_body_without_its_streaming_fields():
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 10}
    assert body_key({**body, "stream": True, "stream_options": {"include_usage": True}}) == body_key(body)
    assert body_key({**body, "max_completion_tokens": 11}) != body_key(body)
    assert body_key(dict(reversed(list(body.items())))) == body_key(body)


# ---------------------------------------------------------------- schema
class Label(BaseModel):
    label: str
    score: float


def test_json_answers_are_parsed_and_checked():
    assert check('{"a": 1}', None) == {"a": 1}
    assert check('```json\n{"a": 1}\n```', None) == {"a": 1}
    assert check('{"label": "x", "score": 0.5}', validator(Label)) == Label(label="x", score=0.5)
    with pytest.raises(SchemaError, match="schema: score: Field required"):
        check('{"label": "x"}', validator(Label))
    with pytest.raises(SchemaError, match="not valid JSON"):
        check("positive", None)
    as_dict = validator({"type": "object", "required": ["label"]})
    with pytest.raises(SchemaError, match="'label' is a required property"):
        check("{}", as_dict)
    with pytest.raises(TypeError):
        validator("not a schema")


# ---------------------------------------------------------------- results
def test_results_summarize_and_make_a_table():
    results = Results([
        ItemResult("a", "p1", content="x", usage=Usage(10, 5, 15), cost_usd=0.25),
        ItemResult("b", "p2", error="Kimi API error 400 (content_filter): high risk"),
        ItemResult("c", "p3", error="not run: max_cost"),
        ItemResult("d", "p4", content="y", usage=Usage(10, 5, 15), cost_usd=0.5, cached=True),
    ], elapsed_s=1.5)
    summary = results.summary()
    assert (summary.done, summary.failed, summary.not_run, summary.cached) == (2, 1, 1, 1)
    assert summary.cost_usd == 0.25  # the cached answer was paid for before, not now
    assert "2 done · 1 failed · 1 not run · 1 from cache" in repr(results)
    table = results.to_pandas()
    assert list(table.index) == ["a", "b", "c", "d"]
    assert table.loc["b", "error"].startswith("Kimi API error 400")


def test_results_html_shows_model_text_as_text():
    html = Results([ItemResult("k", "p", content="<script>alert(1)</script><img src=https://x/y>")])._repr_html_()
    assert "<script>" not in html and "<img" not in html and "&lt;script&gt;" in html
    json.dumps(Results([]).summary().line())


# ---------------------------------------------------------------- the pool's answer to a 429
def _pause_over(pacer) -> None:
    """Wait until the pool's pause is over (so the next 429 starts a new one)."""
    deadline = time.monotonic() + 30
    while pacer.paused_for() > 0:
        assert time.monotonic() < deadline, "the pause never ended"
        time.sleep(0.005)


def test_a_per_minute_429_widens_the_window_and_a_concurrency_429_halves_the_pool():
    """Halving on an RPM 429 left a tier-1 run of 1,000 items at a few requests at once
    (1.26× the limits' bound in the benchmark); only "too many at once" means fewer at once."""
    from types import SimpleNamespace

    from kimi_jupyter.batch.pool import Pool
    from kimi_jupyter.batch.progress import Counts, Progress
    from kimi_jupyter.core.errors import RateLimitError

    job = SimpleNamespace(max_retries=5, max_cost=None, settings=None)
    pool = Pool(job, [(None, None)] * 8, [], concurrency=8, rpm=200, tpm=None, progress=Progress(), counts=Counts())
    rpm = "Your account org-x request reached organization max RPM: 200, please try again after 1 seconds"
    pool._slow_down(0.01, RateLimitError(429, "rate_limit_reached_error", rpm))
    assert pool.pacer.concurrency == 8 and pool.pacer.slack_s == 1.0 and pool.pacer.pauses == 1
    _pause_over(pool.pacer)
    busy = "Your account org-x request reached organization max concurrency: 6, please try again after 1 seconds"
    pool._slow_down(0.01, RateLimitError(429, "rate_limit_reached_error", busy))
    # One below the limit the server named (not half): a freed slot reaches the server a moment late.
    assert pool.pacer.concurrency == 5 and pool.max_concurrency == 5
    overloaded = "The engine is currently overloaded, please try again later"
    _pause_over(pool.pacer)  # a new pause: this 429 halves (one halving per pause)
    pool._slow_down(0.01, RateLimitError(429, "engine_overloaded_error", overloaded))
    assert pool.pacer.concurrency == 2  # no limit named: halve

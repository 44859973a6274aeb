"""The loopback server's Files and Batch APIs, tier limits and latency, over real HTTP with the openai SDK."""

from __future__ import annotations

import json
import threading
import time

import openai
import pytest
from openai import OpenAI

from kimi_jupyter.batch.limits import Tier
from kimi_jupyter.testing import KimiServer
from kimi_jupyter.testing.pytest_plugin import API_KEY

MODEL = "kimi-k2.6"


@pytest.fixture
def client(kimi_server):
    return OpenAI(api_key=API_KEY, base_url=kimi_server.base_url, max_retries=0)


def _line(custom_id: str, prompt: str, model: str = MODEL) -> str:
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
                       "body": {"model": model, "messages": [{"role": "user", "content": prompt}],
                                "max_completion_tokens": 2000}})


def _upload(client: OpenAI, lines: list[str]):
    return client.files.create(file=("in.jsonl", ("\n".join(lines) + "\n").encode()), purpose="batch")


def _until(client: OpenAI, batch_id: str, statuses: tuple[str, ...]):
    deadline = time.monotonic() + 30
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in statuses or time.monotonic() > deadline:
            return batch
        time.sleep(0.02)


def test_files_upload_list_content_and_delete(client):
    uploaded = _upload(client, [_line("a", "hi")])
    assert uploaded.purpose == "batch" and uploaded.bytes > 0 and uploaded.id.startswith("file-")
    assert [f.id for f in client.files.list().data] == [uploaded.id]
    assert json.loads(client.files.content(uploaded.id).text)["custom_id"] == "a"
    assert client.files.delete(uploaded.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)
    with pytest.raises(openai.BadRequestError, match="Invalid purpose"):
        client.files.create(file=("x.jsonl", b"{}"), purpose="fine-tune")


def test_a_batch_runs_to_completed_with_output_and_error_files(client, kimi_server):
    uploaded = _upload(client, [_line("ok1", "Say one"), _line("bad", "[[scenario:content_filter]] no"),
                                _line("ok2", "Say two")])
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                  completion_window="24h")
    assert batch.status == "validating" and batch.request_counts.total == 0
    done = _until(client, batch.id, ("completed", "failed"))
    assert done.status == "completed"
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (3, 2, 1)
    assert done.completed_at and done.in_progress_at and done.finalizing_at
    output = [json.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
    assert sorted(x["custom_id"] for x in output) == ["ok1", "ok2"]
    answer = output[0]["response"]
    assert answer["status_code"] == 200 and answer["request_id"]
    assert answer["body"]["choices"][0]["message"]["content"] and answer["body"]["usage"]["prompt_tokens"] > 0
    (error,) = [json.loads(x) for x in client.files.content(done.error_file_id).text.splitlines()]
    assert error["custom_id"] == "bad" and error["response"]["status_code"] == 400
    assert error["response"]["body"]["error"]["type"] == "content_filter"
    # The batch's requests went through the chat endpoint, not streamed and not rate-limited.
    assert len(kimi_server.requests) == 3 and not any(b.get("stream") for b in kimi_server.requests)


@pytest.mark.parametrize("lines, code", [
    ([_line("a", "x"), _line("a", "y")], "duplicate_custom_id"),
    ([_line("a", "x"), _line("b", "y", model="kimi-k3")], "mixed_models"),
    (["not json"], "invalid_json_line"),
])
def test_a_bad_input_file_fails_the_batch_with_its_reason(client, lines, code):
    batch = client.batches.create(input_file_id=_upload(client, lines).id, endpoint="/v1/chat/completions",
                                  completion_window="24h")
    failed = _until(client, batch.id, ("failed", "completed"))
    assert failed.status == "failed" and failed.errors.data[0].code == code


def test_window_and_endpoint_are_checked_when_the_batch_is_created(client):
    uploaded = _upload(client, [_line("a", "x")])
    with pytest.raises(openai.BadRequestError, match="between 12h and 7d"):
        client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="1h")
    with pytest.raises(openai.BadRequestError, match="only /v1/chat/completions"):
        client.batches.create(input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h")


def test_cancel_and_expire(client, kimi_server):
    kimi_server.batches.hold()
    first = client.batches.create(input_file_id=_upload(client, [_line("a", "x")]).id,
                                  endpoint="/v1/chat/completions", completion_window="7d")
    assert _until(client, first.id, ("in_progress",)).status == "in_progress"
    assert client.batches.cancel(first.id).status == "cancelling"
    assert _until(client, first.id, ("cancelled",)).status == "cancelled"
    second = client.batches.create(input_file_id=_upload(client, [_line("b", "x"), _line("c", "y")]).id,
                                   endpoint="/v1/chat/completions", completion_window="12h")
    _until(client, second.id, ("in_progress",))
    kimi_server.batches.expire(second.id)
    expired = _until(client, second.id, ("expired",))
    assert expired.status == "expired" and expired.output_file_id is None
    errors = [json.loads(x) for x in client.files.content(expired.error_file_id).text.splitlines()]
    assert sorted(e["custom_id"] for e in errors) == ["b", "c"] and errors[0]["error"]["code"] == "batch_expired"
    assert not kimi_server.requests  # held: nothing ran


def test_the_tier_limits_answer_with_moonshots_429():
    with KimiServer(api_key=API_KEY, tier=Tier(9, 1, 2, None, 0), latency_s=0.5) as srv:
        client = OpenAI(api_key=API_KEY, base_url=srv.base_url, max_retries=0)
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        errors: list[str] = []
        started = threading.Event()

        def slow() -> None:
            started.set()
            client.chat.completions.create(**body)

        first = threading.Thread(target=slow)
        first.start()
        started.wait()
        while srv.limits.in_flight == 0:  # the first request holds the one slot during its latency
            time.sleep(0.005)
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(**body)
        errors.append(str(info.value))
        assert info.value.body["type"] == "rate_limit_reached_error"
        first.join()
        client.chat.completions.create(**body)  # the second of two requests a minute
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(**body)  # the third is over the RPM
        errors.append(str(info.value))
    assert "request reached organization max concurrency: 1, please try again after 1 seconds" in errors[0]
    assert "max RPM: 2, please try again after" in errors[1]
    assert srv.limits.rejected == 2 and srv.limits.admitted == 2 and srv.limits.peak_in_flight == 1


def test_the_command_line_picks_the_tier(tmp_path):
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "kimi_jupyter.testing.server", "--port", "0", "--tier", "0",
                             "--latency", "0", "--api-key", API_KEY], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        url = proc.stdout.readline().strip()
        client = OpenAI(api_key=API_KEY, base_url=url, max_retries=0)
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(3):  # tier 0: 3 requests a minute
            client.chat.completions.create(**body)
        with pytest.raises(openai.RateLimitError, match="max RPM: 3"):
            client.chat.completions.create(**body)
    finally:
        proc.terminate()
        proc.wait(10)

"""`mode="batch"`: Moonshot's Batch API (`/v1/files` + `/v1/batches`, SPEC §7) for jobs past the rate limits.

The missing items' request bodies (the same `wire.request_body` the online pool
sends, not streamed) go up as one JSONL file with `purpose="batch"`, each line's
`custom_id` the item's cache key. The batch id is saved beside the cache file at
once, so after an interrupt or a kernel restart the same `map(...)` call (or
`batch_status()`) finds the job, polls it, and downloads its output and error
files into the cache: answers land in their items, errors in theirs. Files are
deleted on the server once collected (accounts have a file quota).

Cost is shown at the online prices: Moonshot's own pricing pages, as checked
for this release, name no batch price, and a discount reported only by third
parties is not one to show.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..core import catalog
from ..core.catalog import ModelInfo
from ..core.errors import ConnectError, KimiError
from ..core.session import Session, default_session
from ..core.settings import Settings
from ..core.stream import Usage
from .cache import Cache, all_batch_files
from .items import Item
from .job import Job
from .pool import from_entry, not_run
from .progress import Counts, Progress
from .results import ItemResult

ENDPOINT = "/v1/chat/completions"
TERMINAL = ("completed", "failed", "expired", "cancelled")
PRICE_NOTE = ("Batch costs are shown at online prices: Moonshot's pricing pages name no batch price "
              "that kimi-jupyter could cite.")


@dataclass
class BatchOutcome:
    stopped: str | None = None
    batch_id: str | None = None


def _api(settings: Settings, call: Callable[[Any], Any]) -> Any:
    """One Files/Batches call through the project's one HTTP client, with its error mapping."""
    import openai

    from ..core.client import _make_client
    from ..core.server_errors import map_status_error

    try:
        return call(_make_client(settings))
    except openai.APIStatusError as exc:
        raise map_status_error(exc, settings) from None
    except openai.APIConnectionError:
        raise ConnectError(f"Could not reach {settings.base_url}.") from None


def submit(job: Job, pending: list[tuple[Item, str]], window: str) -> dict[str, Any]:
    """Upload the JSONL and create the batch; the job is saved in the cache folder before returning."""
    lines = [json.dumps({"custom_id": key, "method": "POST", "url": ENDPOINT, "body": job.body(item, stream=False)},
                        ensure_ascii=False) for item, key in pending]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    settings = job.settings
    uploaded = _api(settings, lambda c: c.files.create(file=("kimi-map.jsonl", data), purpose="batch"))
    created = _api(settings, lambda c: c.batches.create(
        input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window=window,
        metadata={"client": "kimi-jupyter map"}))
    record = {"id": created.id, "input_file_id": uploaded.id, "keys": [key for _, key in pending],
              "model": job.info.id, "base_url": settings.base_url, "created": round(time.time(), 3),
              "status": created.status}
    job.cache.save_batches(job.cache.batches() + [record])
    return record


def collect(settings: Settings, info: ModelInfo, cache: Cache, record: dict[str, Any], batch: Any) -> dict[str, str]:
    """Download a finished batch's output into the cache; return {key: error} for the items that failed."""
    errors: dict[str, str] = {}
    if batch.output_file_id:
        for line in _lines(settings, batch.output_file_id):
            response = line.get("response") or {}
            body = response.get("body") or {}
            if response.get("status_code") == 200 and body.get("choices"):
                cache.put(str(line.get("custom_id")), _entry(body, info, response.get("request_id")))
            else:
                errors[str(line.get("custom_id"))] = _error_text(line)
    if batch.error_file_id:
        for line in _lines(settings, batch.error_file_id):
            errors[str(line.get("custom_id"))] = _error_text(line)
    for file_id in (record.get("input_file_id"), batch.output_file_id, batch.error_file_id):
        if file_id:
            try:
                _api(settings, lambda c, f=file_id: c.files.delete(f))
            except KimiError:
                pass  # collected already; a file left behind only counts against the file quota
    cache.save_batches([r for r in cache.batches() if r.get("id") != record.get("id")])
    return errors


def _lines(settings: Settings, file_id: str) -> list[dict[str, Any]]:
    text = _api(settings, lambda c: c.files.content(file_id).text)
    out = []
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict):
            out.append(line)
    return out


def _entry(body: dict[str, Any], info: ModelInfo, request_id: str | None) -> dict[str, Any]:
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    usage = Usage.from_wire(body.get("usage") or choice.get("usage")) or Usage()
    return {
        "content": message.get("content") or "", "reasoning": message.get("reasoning_content") or "",
        "model": body.get("model") or info.id,
        "usage": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                  "total_tokens": usage.total_tokens, "cached_tokens": usage.cached_tokens,
                  "reasoning_tokens": usage.reasoning_tokens},
        "cost_usd": catalog.cost_usd(info, usage), "request_id": request_id,
        "finish_reason": choice.get("finish_reason"), "via": "batch", "t": round(time.time(), 3),
    }


def _error_text(line: dict[str, Any]) -> str:
    error = line.get("error")
    if isinstance(error, dict):
        return f"batch: {error.get('code') or 'error'}: {error.get('message') or ''}".strip()
    response = line.get("response") or {}
    inner = (response.get("body") or {}).get("error") or {}
    status = response.get("status_code")
    return f"Kimi API error {status} ({inner.get('type') or 'error'}): {inner.get('message') or ''}".strip()


def run_batch(job: Job, pending: list[tuple[Item, str]], slots: list[ItemResult | None], counts: Counts,
              bar: Progress, *, wait: bool, poll_interval: float, window: str) -> BatchOutcome:
    """Submit what no saved job covers, then poll every job of these items until it ends (or `wait=False`)."""
    needed = {key for _, key in pending}
    records = [r for r in job.cache.batches() if needed & set(r.get("keys") or ())]
    covered = set().union(*(set(r["keys"]) for r in records)) if records else set()
    uncovered = [(item, key) for item, key in pending if key not in covered]
    if uncovered:
        records.append(submit(job, uncovered, window))
    base_done, base_failed = counts.done, counts.failed
    errors: dict[str, str] = {}
    outcome = BatchOutcome(batch_id=records[-1]["id"] if records else None)
    ended: dict[str, str] = {}
    polls = 0
    try:
        while True:
            progress_done = progress_failed = 0
            for record in records:
                if record["id"] in ended:
                    continue
                batch = _api(job.settings, lambda c, r=record: c.batches.retrieve(r["id"]))
                rc = batch.request_counts
                progress_done += getattr(rc, "completed", 0) or 0
                progress_failed += getattr(rc, "failed", 0) or 0
                if batch.status in TERMINAL:
                    errors.update(collect(job.settings, job.info, job.cache, record, batch))
                    ended[record["id"]] = batch.status
            counts.done, counts.failed = base_done + progress_done, base_failed + progress_failed
            counts.in_flight = len(records) - len(ended)
            bar.refresh(counts)
            if len(ended) == len(records):
                break
            if not wait:
                from ..core.sanitize import plain

                running = ", ".join(plain(str(r["id"])) for r in records if r["id"] not in ended)
                outcome.stopped = f"batch in progress: {running}"
                break
            # From half a second up to `poll_interval`: a small job is collected within
            # seconds, and a long one isn't asked about every second for hours.
            time.sleep(min(poll_interval, 0.5 * 2 ** polls))
            polls += 1
    except KeyboardInterrupt:
        outcome.stopped = ("interrupted: the batch goes on at the server; run the same call again, "
                           "or `kimi_jupyter.batch_status()`, to collect it")
    job.cache._entries = None  # re-read: the collected answers were appended
    for item, key in pending:
        entry = job.cache.get(key)
        if entry is not None:
            slots[item.position] = from_entry(item, entry, job, cached=False)
        elif key in errors:
            slots[item.position] = ItemResult(key=item.key, prompt=item.prompt, error=errors[key], model=job.info.id)
        elif ended:
            status = next(iter(ended.values()))
            slots[item.position] = not_run(item, f"batch {status}")
    return outcome


def batch_status(*, cache: Any = None, cancel: bool = False, session: Session | None = None) -> list[dict[str, Any]]:
    """The Batch API jobs `map(mode="batch")` started and hasn't collected yet, polled now.

    A finished job is downloaded into its cache file, so the next `map(...)` call
    returns its answers at once. `cancel=True` cancels the ones still running.
    """
    session = session or default_session()
    out = []
    for path in all_batch_files(None if cache in (None, True) else cache):
        for record in json.loads(path.read_text(encoding="utf-8")):
            settings = session.settings(base_url=record["base_url"], model=record["model"])
            batch = _api(settings, lambda c, r=record: c.batches.retrieve(r["id"]))
            if cancel and batch.status in ("validating", "in_progress"):
                batch = _api(settings, lambda c, r=record: c.batches.cancel(r["id"]))
            rc = batch.request_counts
            row = {"id": batch.id, "status": batch.status, "total": getattr(rc, "total", 0),
                   "completed": getattr(rc, "completed", 0), "failed": getattr(rc, "failed", 0),
                   "items": len(record.get("keys") or ()), "cache": str(path.with_suffix("").with_suffix(".jsonl"))}
            if batch.status in TERMINAL:
                info = session.model_info(settings)
                file_cache = Cache(None, settings.base_url, record["model"])
                file_cache.path = path.with_suffix("").with_suffix(".jsonl")
                row["errors"] = len(collect(settings, info, file_cache, record, batch))
                row["collected"] = True
            out.append(row)
    from ..core.sanitize import plain

    for row in out:  # ids and statuses are the server's text: no escape sequences reach a terminal
        print(plain(f"{row['id']}: {row['status']} · {row['completed']}/{row['total']} done, {row['failed']} failed"
                    + (" · collected into the cache" if row.get("collected") else "")))
    if not out:
        print("No Batch API jobs waiting to be collected.")
    return out

"""The online pool: each item one independent conversation through `Agent.run`, within the limits.

Workers are threads (the work is waiting on HTTP). Each item gets its own
`Session` sharing the user's settings, logins and model listing, and a fresh
conversation, so no history is shared and the session's one-reply-at-a-time
lock isn't contended. Retries live here rather than in each request
(`max_retries=0` per item): a 429 pauses the whole pool through the shared
`Pacer` and halves its concurrency, so one worker's 429 isn't followed by
forty more.

A quota, auth or permission error, or an unknown model, stops the batch at once
(every other item would fail the same way); any other failure is that item's
error. An interrupt (■) stops new requests, cuts the streams in flight at
their next chunk, and keeps every finished item (in the cache too).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from ..core import catalog
from ..core.client import RetryPolicy, _retry_hint
from ..core.errors import (
    AuthenticationError,
    ConnectError,
    KimiError,
    MissingKeyError,
    ModelNotFoundError,
    PermissionDeniedError,
    QuotaError,
    RateLimitError,
)
from ..core.session import Session
from ..core.stream import Usage
from ..views.base import BaseView
from .items import Item
from .job import Job
from .limits import Pacer, Stopped
from .progress import Counts, Progress
from .results import NOT_RUN, ItemResult
from .schema import SchemaError, check

# Moonshot's 429 names the limit: "...reached organization max RPM: 200, please try again after 1 seconds"
# (also TPM, TPD); "max concurrency" and "engine overloaded" are about how many run at once.
_PER_MINUTE = re.compile(r"\b(RPM|TPM|TPD)\b")
_MAX_CONCURRENCY = re.compile(r"max (?:organization )?concurrency:? (\d+)", re.I)
# Errors that would hit every item alike: the batch stops at the first.
FATAL = (QuotaError, AuthenticationError, PermissionDeniedError, ModelNotFoundError, MissingKeyError)
_REFRESH_S = 0.25  # progress redraws, whatever the rate items finish at


class _Cut(KeyboardInterrupt):
    """Raised inside a worker's stream callback to stop its request (the client closes the stream)."""


class _ItemView(BaseView):
    """What the agent reports for one item: nothing is shown, but a stop cuts the stream."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop

    def on_reasoning(self, delta: str) -> None:
        if self.stop.is_set():
            raise _Cut()

    on_content = on_reasoning


@dataclass
class Outcome:
    """What the pool returns: a result per item (None: never reached) and why it stopped early."""

    results: list[ItemResult | None]
    stopped: str | None = None
    fatal: KimiError | None = None
    interrupted: bool = False
    pauses: int = 0


@dataclass
class _State:
    counts: Counts
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)  # spent or reserved changed (max_cost waits on it)
    spent: float = 0.0  # USD of what finished
    reserved: float = 0.0  # the cost bound of what is in flight
    stopped: str | None = None
    fatal: KimiError | None = None
    next_index: int = 0
    streak: int = 0  # successes since the last 429, to raise concurrency again slowly
    failures: int = 0

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)


def from_entry(item: Item, entry: dict[str, Any], job: Job, cached: bool) -> ItemResult:
    """An ItemResult from a cache line (or a Batch API output line made into one)."""
    usage = Usage(**{k: int(v) for k, v in (entry.get("usage") or {}).items() if k in Usage.__dataclass_fields__})
    result = ItemResult(
        key=item.key, prompt=item.prompt, content=str(entry.get("content") or ""), model=str(entry.get("model") or ""),
        usage=usage, cost_usd=entry.get("cost_usd"), request_id=entry.get("request_id"),
        finish_reason=entry.get("finish_reason"), cached=cached, reasoning=str(entry.get("reasoning") or ""),
    )
    return validate(result, job)


def validate(result: ItemResult, job: Job) -> ItemResult:
    if job.json and result.error is None:
        try:
            result.parsed = check(result.content, job.validate)
        except SchemaError as exc:
            result.error = str(exc)  # the answer stays: it was paid for, and shows what went wrong
    return result


def entry_of(result: Any, request_id: str | None) -> dict[str, Any]:
    u = result.usage
    return {
        "content": result.content, "reasoning": result.reasoning, "model": result.model,
        "usage": {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                  "total_tokens": u.total_tokens, "cached_tokens": u.cached_tokens,
                  "reasoning_tokens": u.reasoning_tokens},
        "cost_usd": result.cost_usd, "request_id": request_id, "finish_reason": result.finish_reason,
        "t": round(time.time(), 3),
    }


class Pool:
    def __init__(self, job: Job, pending: list[tuple[Item, str]], slots: list[ItemResult | None], *,
                 concurrency: int, rpm: int | None, tpm: int | None, progress: Progress, counts: Counts,
                 shell: Any = None, ask: Callable[[str], str] | None = None) -> None:
        self.job = job
        self.pending = pending
        self.slots = slots
        from ..core.settings import origin

        self.pacer = Pacer(min(concurrency, max(1, len(pending))), rpm, tpm,
                           account=origin(job.settings.base_url) if job.settings is not None else None)
        self.max_concurrency = self.pacer.concurrency
        self.progress = progress
        self.state = _State(counts)
        self.stop = threading.Event()
        self.shell = shell
        self.ask = ask
        self.policy = RetryPolicy(max_retries=job.max_retries)
        self._bound = self._cost_bound()
        self._live = 0
        self._all_done = threading.Event()

    # -- the calling thread -----------------------------------------------------------
    def run(self) -> Outcome:
        if self.job.tools:
            # Model code runs in the user's kernel and asks for approval on stdin: one item
            # at a time, in this thread, exactly as `%%kimi` would.
            self._work_inline()
            return self._outcome(False)
        threads = [threading.Thread(target=self._work, name=f"kimi-map-{i}", daemon=True)
                   for i in range(min(self.max_concurrency, len(self.pending)))]
        self._live = len(threads)
        for t in threads:
            t.start()
        interrupted = False
        try:
            while not self._all_done.wait(_REFRESH_S):
                self._draw()
        except KeyboardInterrupt:
            interrupted = True
            self._halt("interrupted")
            # Streams in flight are cut at their next chunk; a request still waiting for its
            # first byte is left to finish on its own (its answer still lands in the cache).
            deadline = time.monotonic() + 2.0
            for t in threads:
                t.join(max(0.0, deadline - time.monotonic()))
        self._draw()
        return self._outcome(interrupted)

    def _outcome(self, interrupted: bool) -> Outcome:
        with self.state.lock:
            return Outcome(list(self.slots), self.state.stopped, self.state.fatal, interrupted, self.pacer.pauses)

    def _draw(self) -> None:
        with self.state.lock:
            self.state.counts.in_flight = self.pacer.in_flight
            self.state.counts.paused_s = self.pacer.paused_for()
        self.progress.refresh(self.state.counts)

    def _halt(self, why: str) -> None:
        with self.state.lock:
            if self.state.stopped is None:
                self.state.stopped = why
        self.stop.set()
        self.pacer.close()

    # -- workers --------------------------------------------------------------------
    def _take(self) -> tuple[Item, str] | None:
        with self.state.lock:
            if self.stop.is_set() or self.state.next_index >= len(self.pending):
                return None
            pair = self.pending[self.state.next_index]
            self.state.next_index += 1
            return pair

    def _work(self) -> None:
        try:
            while (pair := self._take()) is not None:
                try:
                    self._one(*pair)
                except Stopped:
                    return
        except Exception as exc:  # noqa: BLE001 - a bug must stop the batch with a message, not kill a thread
            self._fatal(KimiError(f"kimi_jupyter.map stopped on an unexpected error: {type(exc).__name__}: {exc}"))
        finally:
            with self.state.lock:
                self._live -= 1
                if self._live == 0:
                    self._all_done.set()  # wakes the calling thread at once, not at its next redraw

    def _work_inline(self) -> None:
        try:
            while (pair := self._take()) is not None:
                self._one(*pair)
                self._draw()
        except Stopped:
            pass
        except KeyboardInterrupt:
            self._halt("interrupted")

    def _one(self, item: Item, key: str) -> None:
        attempt = 0
        while True:
            if not self._reserve(item):
                return
            try:
                sent_at = self.pacer.acquire(self.job.prompt_tokens(item))
            except Stopped:
                self._unreserve()
                raise
            try:
                result, request_id = self._send(item)
            except _Cut:
                return
            except KimiError as exc:
                if isinstance(exc, FATAL):
                    self._fatal(exc)
                    raise Stopped() from None
                if exc.retryable and attempt < self.policy.max_retries and not self.stop.is_set():
                    delay = self.policy.delay(attempt, _retry_hint(exc))
                    attempt += 1
                    if isinstance(exc, (RateLimitError, ConnectError)):
                        # Refused, or never connected: the server didn't count it in its minute.
                        self.pacer.forget(sent_at)
                    if isinstance(exc, RateLimitError):
                        self._slow_down(delay, exc)
                    elif self.stop.wait(delay):
                        raise Stopped() from None
                    continue
                if getattr(exc, "result", None) is not None and exc.result.finish_reason == "interrupted":
                    return  # cut by an interrupt: not an error of this item
                self._finish(item, ItemResult(key=item.key, prompt=item.prompt, error=str(exc),
                                              request_id=getattr(exc, "request_id", None),
                                              model=self.job.info.id), None)
                return
            else:
                # Counted as spent before its reservation is given back, so a concurrent
                # max_cost check never sees it in neither.
                out = validate(self._item_result(item, result, request_id), self.job)
                self._finish(item, out, (key, result, request_id))
                return
            finally:
                self.pacer.release()
                self._unreserve()

    def _send(self, item: Item) -> tuple[Any, str | None]:
        from ..core.agent import Agent, Request
        from ..tools import default_registry

        parent = self.job.session
        # Each item is its own conversation, but shares what the session knows of the server
        # (its listing, models that closed) and the one-per-session notices already given.
        session = Session(config=parent.config, logins=parent.logins, listings=parent.listings,
                          recorder=parent.recorder, closed=parent.closed, told=parent.told)
        session.auto_run = parent.auto_run
        # Each item is a conversation of its own, with the job's system prompt (its schema note included).
        options = replace(self.job.options, system=self.job.system, new=True, tools=self.job.tools)
        request = Request.build(item.prompt, options, self.job.settings)
        if self.job.tools:
            from ..tools.mcp import tool_providers
            from ..views import pick_view

            view = pick_view(self.job.settings.view, self.shell, self.job.options.format)
            # The parent session's MCP servers, started once for the whole map (not once per item).
            agent = Agent(session, view, default_registry, self.shell, ask=self.ask,
                          providers=tool_providers(parent))
        else:
            agent = Agent(session, _ItemView(self.stop), None, None)
        try:
            result = agent.run(request)
        finally:
            # An `s` (all in this session) answered for one item holds for the rest, as in `%%kimi`.
            parent.auto_run = parent.auto_run or session.auto_run
        return result, (result.request_ids[-1] if result.request_ids else None)

    def _item_result(self, item: Item, result: Any, request_id: str | None) -> ItemResult:
        return ItemResult(key=item.key, prompt=item.prompt, content=result.content, model=result.model,
                          usage=result.usage, cost_usd=result.cost_usd, request_id=request_id,
                          finish_reason=result.finish_reason, reasoning=result.reasoning)

    def _finish(self, item: Item, out: ItemResult, paid: tuple[str, Any, str | None] | None) -> None:
        if paid is not None:
            key, result, request_id = paid
            self.job.cache.put(key, entry_of(result, request_id))  # as it lands: never paid for twice
        st = self.state
        with st.lock:
            self.slots[item.position] = out
            c = st.counts
            if out.ok:
                c.done += 1
            else:
                c.failed += 1
            if paid is not None:
                c.usage = c.usage + out.usage
                if out.cost_usd is None:
                    c.cost_usd = None
                elif c.cost_usd is not None:
                    c.cost_usd += out.cost_usd
                st.spent += out.cost_usd or 0.0
                parent = self.job.session
                parent.usage = parent.usage + out.usage
                if out.cost_usd is not None:
                    parent.cost_usd += out.cost_usd
                st.streak += 1
                if st.streak >= self.pacer.concurrency and self.pacer.concurrency < self.max_concurrency:
                    self.pacer.concurrency += 1  # additive increase after a 429 halved it
                    st.streak = 0

    def _fatal(self, exc: KimiError) -> None:
        with self.state.lock:
            if self.state.fatal is None:
                self.state.fatal = exc
        self._halt("error")

    def _slow_down(self, delay: float, exc: RateLimitError) -> None:
        """A 429: the whole pool waits. Too many at once (or an overloaded engine): it runs
        fewer at once from now on. Too many a minute: the RPM window was counted short of
        the server's, so it leaves more room; fewer at once would only idle the pool."""
        text = exc.server_message or ""
        per_minute = _PER_MINUTE.search(text) is not None
        stated = _MAX_CONCURRENCY.search(text)
        with self.state.lock:
            self.state.streak = 0
            if per_minute:
                self.pacer.widen()
            elif stated is not None:
                # The server said its limit: keep one below it from now on. One below, because
                # a slot freed at the end of a reply is freed at the server a moment later, so a
                # pool exactly at the limit meets a 429 now and then.
                ceiling = max(1, int(stated.group(1)) - 1)
                self.max_concurrency = min(self.max_concurrency, ceiling)
                self.pacer.concurrency = min(self.pacer.concurrency, ceiling)
            elif self.pacer.paused_for() <= 0:  # one halving per pause, not one per rejected worker
                self.pacer.concurrency = max(1, self.pacer.concurrency // 2)
        self.pacer.pause(delay)

    # -- max_cost ---------------------------------------------------------------------
    def _cost_bound(self) -> float | None:
        if self.job.max_cost is None:
            return None
        tokens = max((self.job.prompt_tokens(i) for i, _ in self.pending), default=0)
        return catalog.request_cost_bound(self.job.info, tokens, 0.0, self.job.settings.max_tokens)

    def _reserve(self, item: Item) -> bool:
        """False (and the batch stops) when this request could take the batch past max_cost."""
        cap, bound = self.job.max_cost, self._bound
        if cap is None or bound is None:
            return True
        st = self.state
        with st.changed:
            while True:
                if self.stop.is_set():
                    return False
                if st.spent + bound > cap:  # even with nothing else in flight, it could pass the cap
                    if st.stopped is None:
                        st.stopped = (f"max_cost: item {item.position + 1} could cost up to ${bound:.4f}, which "
                                      f"with ${st.spent:.4f} spent would pass max_cost=${cap:.4f}")
                    self.stop.set()
                    st.changed.notify_all()
                    return False
                if st.spent + st.reserved + bound <= cap:
                    st.reserved += bound
                    return True
                # It fits once what is in flight has landed (most answers cost far less than
                # their bound): wait for that rather than risk the cap.
                st.changed.wait(0.5)

    def _unreserve(self) -> None:
        if self.job.max_cost is not None and self._bound is not None:
            with self.state.changed:
                self.state.reserved = max(0.0, self.state.reserved - self._bound)
                self.state.changed.notify_all()


def not_run(item: Item, why: str) -> ItemResult:
    return ItemResult(key=item.key, prompt=item.prompt, error=f"{NOT_RUN}: {why}")

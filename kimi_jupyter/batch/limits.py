"""The account's rate limits (SPEC §7) and a pacer that keeps a pool of workers inside them.

Moonshot limits each account by its tier: concurrent requests, requests per
minute (RPM) and tokens per minute (TPM). A pool that ignores them gets 429s,
and a pool whose workers each back off on their own keeps hammering the server
with the ones that didn't hear the 429 yet. So one `Pacer` is shared by every
worker: it hands out request slots (concurrency), spaces them within the RPM
and TPM windows, and when any worker hears "try again after N seconds" the
whole pool pauses, not just that worker.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Tier:
    """One rate-limit tier: concurrency, requests and tokens per minute (None: unlimited)."""

    level: int
    concurrency: int
    rpm: int
    tpm: int | None
    top_up_usd: float


# Moonshot's table, by cumulative top-up (SPEC §7, checked 2026-12-06).
TIERS: dict[int, Tier] = {
    0: Tier(0, 1, 3, 500_000, 1),
    1: Tier(1, 50, 200, 2_000_000, 10),
    2: Tier(2, 100, 500, 3_000_000, 20),
    3: Tier(3, 200, 5_000, 3_000_000, 100),
    4: Tier(4, 400, 5_000, 4_000_000, 1_000),
    5: Tier(5, 1_000, 10_000, 5_000_000, 3_000),
}
WINDOW_S = 60.0  # RPM and TPM are per minute
# A pool of threads in the user's kernel: past this many, more threads add memory and
# scheduling cost, not throughput (a higher tier is still paced by its RPM).
MAX_WORKERS = 64
# Slack on the RPM window: a request is counted when it leaves here, and by the server
# a little later, when it arrives. A burst that arrived late at a busy server can still
# meet a 429 at the window's edge; then the pool widens its slack (`widen`).
_SLACK_S = 0.5
_MAX_SLACK_S = 5.0


def tier(level: int) -> Tier:
    """The tier's limits, or ValueError naming the tiers there are."""
    if level not in TIERS:
        raise ValueError(f"Kimi.tier must be one of {', '.join(map(str, TIERS))} (got {level}).")
    return TIERS[level]


@dataclass
class _Window:
    """An account's requests (and tokens) of the last minute, as this kernel sent them.

    Shared by every pool on the same server, so a second `map` call within a minute of
    the first counts the first one's requests, as the server does."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: deque[float] = field(default_factory=deque)
    tokens: deque[tuple[float, int]] = field(default_factory=deque)


_windows: dict[str, _Window] = {}
_windows_lock = threading.Lock()


def _window(account: str | None) -> _Window:
    if account is None:
        return _Window()
    with _windows_lock:
        return _windows.setdefault(account, _Window())


class Stopped(Exception):
    """The pacer was closed (interrupt, a fatal error, max_cost) while a worker waited."""


class Pacer:
    """Request slots for a pool of workers, within concurrency, RPM and TPM, with pool-wide pauses.

    `acquire(tokens)` blocks until a request may start and counts it; `release()`
    gives its concurrency slot back. `pause(seconds)` holds every worker's next
    request until then (a 429's "try again after N s"). `close()` wakes every
    waiting worker with `Stopped`.
    """

    def __init__(self, concurrency: int, rpm: int | None, tpm: int | None = None, window_s: float = WINDOW_S,
                 account: str | None = None) -> None:
        """`account`: the server (its origin) whose per-minute window this pool shares with
        earlier pools; None for a window of its own."""
        self.concurrency = max(1, concurrency)
        self.rpm = rpm
        self.tpm = tpm
        self.window_s = window_s
        window = _window(account)
        self._cond = threading.Condition(window.lock)
        self._in_flight = 0
        self._sent = window.sent  # send times within the window
        self._tokens = window.tokens
        self._paused_until = 0.0
        self._closed = False
        self.slack_s = _SLACK_S
        self.pauses = 0  # how many times the pool paused (for the summary and tests)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def acquire(self, tokens: int = 0) -> float:
        """Wait for a slot; returns the send time it was counted at (for `forget`)."""
        with self._cond:
            while True:
                if self._closed:
                    raise Stopped()
                wait = self._wait_s(tokens, time.monotonic())
                if wait <= 0:
                    now = time.monotonic()
                    self._in_flight += 1
                    self._sent.append(now)
                    if self.tpm is not None and tokens:
                        self._tokens.append((now, tokens))
                    return now
                # Woken early by release()/pause()/close(); otherwise re-checked when the wait is over.
                self._cond.wait(timeout=min(wait, 1.0) if wait != float("inf") else 1.0)

    def _wait_s(self, tokens: int, now: float) -> float:
        if now < self._paused_until:
            return self._paused_until - now
        if self._in_flight >= self.concurrency:
            return float("inf")
        horizon = now - self.window_s - self.slack_s
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()
        while self._tokens and self._tokens[0][0] <= horizon:
            self._tokens.popleft()
        if self.rpm is not None and len(self._sent) >= self.rpm:
            return self._sent[0] - horizon
        if self.tpm is not None and tokens and self._tokens:
            used = sum(n for _, n in self._tokens)
            if used + tokens > self.tpm:
                return self._tokens[0][0] - horizon
        return 0.0

    def release(self) -> None:
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            self._cond.notify_all()

    def pause(self, seconds: float) -> None:
        """Hold the whole pool for `seconds` from now (a longer pause already set wins)."""
        with self._cond:
            until = time.monotonic() + max(0.0, seconds)
            if until > self._paused_until:
                self._paused_until = until
                self.pauses += 1
            self._cond.notify_all()

    def forget(self, sent_at: float) -> None:
        """A request the server refused with a 429 didn't count there: don't count it here.

        Counting it would leave one request of every refused one for the next window, and
        a run of N items would spill over into one more window for a single 429."""
        with self._cond:
            try:
                self._sent.remove(sent_at)
            except ValueError:
                pass  # already out of the window
            self._cond.notify_all()

    def widen(self) -> None:
        """The server counted more requests in its window than we did: leave more room."""
        with self._cond:
            self.slack_s = min(_MAX_SLACK_S, self.slack_s + 0.5)

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - time.monotonic())

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def time_bound(items: int, concurrency: int, rpm: int | None, latency_s: float, window_s: float = WINDOW_S) -> float:
    """The least wall time `items` requests of `latency_s` each can take within the limits.

    Concurrency alone: ceil(items / concurrency) rounds of latency. RPM alone: the
    last request can't leave before floor((items - 1) / rpm) windows have passed.
    """
    rounds = -(-items // max(1, concurrency))
    by_concurrency = rounds * latency_s
    by_rpm = (((items - 1) // rpm) * window_s + latency_s) if rpm else 0.0
    return max(by_concurrency, by_rpm)

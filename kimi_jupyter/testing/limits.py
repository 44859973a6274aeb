"""The loopback server's account limits: a rate-limit tier (concurrency, RPM) and a per-request latency.

Moonshot answers a request past the account's tier with 429
`rate_limit_reached_error` and a message ending "please try again after N
seconds" (it sends no Retry-After), so that is what this sends too. Latency is
spent inside the concurrency slot, like a real model's time to answer, so a
client that ignores its tier runs into the limit exactly as it would online.
Batch API requests (`.batches`) are not subject to the tier, as on the real API.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from contextlib import contextmanager
from typing import Iterator

from ..batch.limits import WINDOW_S, Tier, tier as tier_of
from .wire import RequestError


class Limits:
    """`tier`: a tier number (SPEC §7), a `Tier`, or None for no limits. `latency_s`: added to each chat request."""

    def __init__(self, tier: int | Tier | None = None, latency_s: float = 0.0, window_s: float = WINDOW_S) -> None:
        self.tier = tier_of(tier) if isinstance(tier, int) else tier
        self.latency_s = latency_s
        self.window_s = window_s
        self._lock = threading.Lock()
        self._in_flight = 0
        self._arrivals: deque[float] = deque()
        self.rejected = 0  # 429s sent for the tier (tests and benchmarks read it)
        self.admitted = 0
        self.peak_in_flight = 0

    @property
    def in_flight(self) -> int:
        """Chat requests being answered now."""
        with self._lock:
            return self._in_flight

    @contextmanager
    def admit(self, exempt: bool = False) -> Iterator[None]:
        """Hold a concurrency slot for the whole response, or raise the tier's 429.

        `exempt`: a Batch API job's own request, which neither the tier nor the latency applies to."""
        if exempt:
            yield
            return
        self._enter()
        try:
            if self.latency_s > 0:
                time.sleep(self.latency_s)
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def _enter(self) -> None:
        tier = self.tier
        now = time.monotonic()
        with self._lock:
            if tier is not None:
                while self._arrivals and self._arrivals[0] <= now - self.window_s:
                    self._arrivals.popleft()
                if self._in_flight >= tier.concurrency:
                    self.rejected += 1
                    raise _limited(f"max concurrency: {tier.concurrency}", 1)
                if len(self._arrivals) >= tier.rpm:
                    self.rejected += 1
                    wait = self._arrivals[0] + self.window_s - now
                    raise _limited(f"max RPM: {tier.rpm}", max(1, math.ceil(wait)))
                self._arrivals.append(now)
            self._in_flight += 1
            self.admitted += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)


def _limited(what: str, seconds: int) -> RequestError:
    return RequestError(
        429, "rate_limit_reached_error",
        f"Your account org-loopback<ak-loopback> request reached organization {what}, "
        f"please try again after {seconds} seconds",
    )

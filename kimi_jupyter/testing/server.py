"""A loopback HTTP server that imitates Moonshot's Kimi API (and a vLLM/SGLang server).

Stdlib only, so it starts in a few milliseconds from a pytest fixture and runs
anywhere the package is installed::

    python -m kimi_jupyter.testing.server --port 8765     # prints the base URL

`KimiServer` holds the state (scenarios, fault counters, recorded requests and
response ids, the prefix cache); `.handler` speaks HTTP; `.wire` knows the lineup
and the byte format; `.rules` knows what Moonshot refuses.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
import threading
from collections import deque
from typing import Any, Iterable

from ..core.cassette import CassetteError, read
from .player import Pace, Player, parse_pace

from ..batch.limits import Tier
from .batches import Batches
from .files import FileStore
from .handler import LoopbackHTTPServer
from .limits import Limits
from .scenarios import Fault, Scenario, builtin_scenarios
from .wire import MOONSHOT_MODELS, VLLM_MODELS, Flavor, ServedModel, common_prefix_len

_CACHE_DEPTH = 64  # earlier prompts remembered per (key, model) for the prefix cache
_REQUEST_IDS = 1000  # Msh-Request-Ids remembered, newest last


class KimiServer:
    """The loopback Kimi API. `start()` serves from a daemon thread; also a context manager.

    `api_key=None` accepts any non-empty key. `default_cps` paces streams (characters
    per second) for scenarios and turns that don't set their own pace.

    `replay=PATH` serves a cassette (`%kimi record`) instead of the scenarios: any
    key or none is accepted, requests are matched by their messages, and streams
    keep the recorded timing with `original_timing=True`, else follow `default_cps`
    (None: as fast as possible). It binds to loopback only: a cassette holds a
    whole conversation. A bad cassette raises `cassette.CassetteError`.

    `tier` (0-5, SPEC §7) enforces that rate-limit tier's concurrency and RPM with
    Moonshot's 429s, and `latency_s` delays every chat answer (`.limits`). `/v1/files`
    and `/v1/batches` are served too (`.files`, `.batches`; `batch_step_s` paces a
    batch's validating and finalizing).
    """

    def __init__(
        self,
        api_key: str | None = "sk-test",
        port: int = 0,
        default_cps: float | None = None,
        *,
        host: str = "127.0.0.1",
        scenarios: Iterable[Scenario] = (),
        builtins: bool = True,
        verbose: bool = False,
        handler: type | None = None,
        vllm_api_key: str | None = None,
        replay: str | os.PathLike[str] | None = None,
        original_timing: bool = False,
        retire: Iterable[str] = (),
        models: Iterable[ServedModel] = (),
        cache_writes: bool = False,
        tier: int | Tier | None = None,
        latency_s: float = 0.0,
        batch_step_s: float = 0.05,
    ) -> None:
        if replay is not None and host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"A replay server binds to loopback only (127.0.0.1), not {host!r}.")
        self.player: Player | None = Player(read(replay)) if replay is not None else None
        self.pace = Pace(original=original_timing, cps=default_cps)
        self.api_key = api_key
        # The vLLM flavour checks a key only when given one, like `vllm serve --api-key`.
        self.vllm_api_key = vllm_api_key
        # The bearer keys received ("" for none), newest last, so tests can check where
        # keys went; capped like request_ids, so a long-running server doesn't grow.
        self.keys_seen: deque[str] = deque(maxlen=_REQUEST_IDS)
        self.host = host
        self.default_cps = default_cps
        self.verbose = verbose
        # A subclass of `handler.Handler` (the benchmarks time requests with one).
        self._handler = handler
        self.requests: list[dict[str, Any]] = []  # chat bodies, in arrival order
        self.connections_opened = 0  # TCP connections accepted (a client that reuses them opens few)
        # The Msh-Request-Id of every Moonshot-flavour response sent (errors and /models
        # included), newest last; a client's error message can be matched against it.
        self.request_ids: deque[str] = deque(maxlen=_REQUEST_IDS)
        # The lineup, per instance: `models` adds to Moonshot's (a test's small-window model),
        # and `retire` closes ids the way Moonshot closes them: unlisted, then 404.
        self.models: dict[Flavor, dict[str, ServedModel]] = {
            "moonshot": {m.id: m for m in (*MOONSHOT_MODELS, *models)},
            "vllm": {m.id: m for m in VLLM_MODELS},
        }
        # Report prompt-cache writes in usage (`cache_write_tokens`) for the K3 family.
        self.cache_writes = cache_writes
        self._port = port
        self._lock = threading.Lock()
        for model_id in retire:
            self.retire(model_id)
        self._builtin = {s.name: s for s in builtin_scenarios()} if builtins else {}
        self._custom: dict[str, Scenario] = {}
        self._fault_hits: dict[tuple[str, int], int] = {}
        self._cache: dict[tuple[str, str, str], deque[str]] = {}
        self._conns: set[socket.socket] = set()
        self._httpd: LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None
        # The account's rate-limit tier and a per-request latency (.limits; None: no limits),
        # and the Files and Batch APIs (.files, .batches).
        self.limits = Limits(tier, latency_s)
        self.files = FileStore()
        self.batches = Batches(self, step_s=batch_step_s)
        for scenario in scenarios:
            self.add_scenario(scenario)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> "KimiServer":
        if self._httpd is None:
            self._httpd = LoopbackHTTPServer((self.host, self._port), self, self._handler)
            self._port = self._httpd.server_address[1]
            # A short poll interval keeps stop() (function-scoped fixtures) fast.
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                name=f"kimi-loopback:{self._port}", daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        # Keep-alive and paced-stream threads would otherwise linger on open sockets.
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=2)

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C in a foreground `main()`)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def __enter__(self) -> "KimiServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._port}/v1"

    @property
    def vllm_base_url(self) -> str:
        return f"http://{self.host}:{self._port}/vllm/v1"

    def __repr__(self) -> str:
        state = "running" if self._httpd else "stopped"
        if self.player is not None:
            return f"<KimiServer {self.base_url} {state}, replaying {self.player.cassette.path.name}>"
        return f"<KimiServer {self.base_url} {state}, {len(self.scenarios)} scenarios>"

    # ------------------------------------------------------------ scenarios and state
    def add_scenario(self, scenario: Scenario) -> None:
        """Register (or replace by name). Added scenarios are matched before built-ins."""
        with self._lock:
            self._custom[scenario.name] = scenario

    @property
    def scenarios(self) -> dict[str, Scenario]:
        """All scenarios by name (a copy); added ones shadow built-ins."""
        with self._lock:
            return {**self._builtin, **self._custom}

    def ordered_scenarios(self) -> list[Scenario]:
        """Matching order: added scenarios first, then the built-ins."""
        with self._lock:
            custom = list(self._custom.values())
        return custom + [s for s in self._builtin.values() if s.name not in {c.name for c in custom}]

    def record_key(self, key: str) -> None:
        with self._lock:
            self.keys_seen.append(key)

    def reset(self) -> None:
        """Forget recorded requests and response ids, fault counters and the prefix cache."""
        with self._lock:
            self.requests.clear()
            self.request_ids.clear()
            self.keys_seen.clear()
            self._fault_hits.clear()
            self._cache.clear()

    # ------------------------------------------------------------ what the request handler reports
    # Public, so a handler subclass (the benchmarks' timing handler) uses the same calls.
    def track_connection(self, conn: socket.socket) -> None:
        """An open client connection, shut down by `stop()` so no thread lingers on it."""
        with self._lock:
            self._conns.add(conn)
            self.connections_opened += 1

    def untrack_connection(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.discard(conn)

    def retire(self, model_id: str) -> None:
        """Close a model, as Moonshot does on its closing date: gone from /v1/models, and 404.
        ValueError for an id this server doesn't serve (a typo would otherwise prove nothing)."""
        with self._lock:
            if model_id not in self.models["moonshot"]:
                raise ValueError(f"{model_id!r} is not served here; served: {', '.join(self.models['moonshot'])}")
            del self.models["moonshot"][model_id]

    def record_request(self, body: dict[str, Any]) -> None:
        """A chat request body, for `requests` (tests read what was sent)."""
        with self._lock:
            self.requests.append(body)

    def note_request_id(self, request_id: str) -> None:
        with self._lock:
            self.request_ids.append(request_id)

    def take_fault(self, key: tuple[str, int], fault: Fault) -> bool:
        """True while this turn's fault still has hits left."""
        with self._lock:
            hits = self._fault_hits.get(key, 0)
            if hits >= fault.times:
                return False
            self._fault_hits[key] = hits + 1
            return True

    def cached_tokens(self, key: str, flavor: str, model: str, messages_json: str) -> int:
        """Prefix-cache emulation: longest common prefix with an earlier prompt, in tokens."""
        with self._lock:
            history = self._cache.setdefault((key, flavor, model), deque(maxlen=_CACHE_DEPTH))
            earlier = list(history)
            history.append(messages_json)
        best = max((common_prefix_len(messages_json, h) for h in earlier), default=0)
        return best // 4


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kimi_jupyter.testing.server",
        description="Serve an offline imitation of Moonshot's Kimi API on loopback.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: pick a free one)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--api-key", default="sk-test-loopback", help="bearer key clients must send")
    parser.add_argument("--pace", type=_pace, default=None, metavar="CPS",
                        help="default pacing in characters per second, 0 for none (default: as fast as "
                        "possible); with --replay also 'original': the recorded timing")
    parser.add_argument("--replay", metavar="PATH",
                        help="serve a cassette recorded with `%%kimi record PATH` (any key or none is accepted)")
    parser.add_argument("--flavor", choices=("moonshot", "vllm"), default="moonshot",
                        help="which base URL to print; both are always served")
    parser.add_argument("--retire", action="append", default=[], metavar="MODEL",
                        help="close MODEL (unlisted, then 404), as on its closing date; repeatable, "
                        "e.g. --retire kimi-k2.6")
    parser.add_argument("--cache-writes", action="store_true",
                        help="report prompt-cache writes in usage (cache_write_tokens) for the K3 family")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument("--tier", type=int, choices=range(6), default=None, metavar="0-5",
                        help="enforce this Moonshot rate-limit tier (concurrency, RPM) with 429s (default: no limits)")
    parser.add_argument("--latency", type=float, default=0.0, metavar="S",
                        help="seconds each chat request waits before its answer starts (default 0)")
    args = parser.parse_args(argv)
    pace: Pace = args.pace or Pace()
    if pace.original and not args.replay:
        parser.error("--pace original needs --replay PATH (scripted scenarios have no recorded timing)")
    try:
        srv = KimiServer(api_key=args.api_key, port=args.port, default_cps=pace.cps, host=args.host,
                         verbose=args.verbose, replay=args.replay, original_timing=pace.original,
                         retire=args.retire, cache_writes=args.cache_writes,
                         tier=args.tier, latency_s=args.latency).start()
    except (CassetteError, ValueError) as exc:  # a bad cassette, or --replay with a public --host
        print(f"kimi-loopback: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # one line, no traceback: this is a usage problem, not a bug
        if exc.errno == errno.EADDRINUSE:
            print(f"kimi-loopback: port {args.port} is in use; pick another with --port N "
                  "or --port 0 for a free one", file=sys.stderr)
        else:
            print(f"kimi-loopback: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(srv.vllm_base_url if args.flavor == "vllm" else srv.base_url, flush=True)
    if srv.player is not None:
        print(f"Replaying {srv.player.cassette.path} ({len(srv.player)} recorded requests, pace: {pace}); "
              "any key or none is accepted; Ctrl-C to stop.", file=sys.stderr, flush=True)
    else:
        print(f"Kimi loopback server ({args.flavor}); API key {args.api_key!r}; Ctrl-C to stop.",
              file=sys.stderr, flush=True)
    try:
        srv.wait()
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
    return 0


def _pace(text: str) -> Pace:
    try:
        return parse_pace(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


if __name__ == "__main__":
    sys.exit(main())

"""Cassettes: a session's requests and streamed responses, recorded once and replayed exactly.

A teacher records a real session with a real key (`%kimi record PATH`); students
and CI replay it with no key (`kimi-jupyter server --replay PATH`). This module is
the pure part: the file format, the writer and the reader. The client feeds the
writer (`client.py`), the session owns the active one (`session.py`), and the
loopback server serves a reader (`testing/player.py` matches requests,
`testing/replay.py` answers them).

File format (JSON lines, UTF-8)
-------------------------------
The first line is a header::

    {"cassette": "kimi-jupyter", "version": 1, "recorded_with": "0.1.0", "started": "2026-12-02T16:50:00Z"}

Every further line is one HTTP exchange, in the order the responses finished::

    {"method": "POST", "path": "/chat/completions",
     "request": {...the JSON body as sent: model, messages, tools, thinking...},
     "status": 200, "headers": {"content-type": "text/event-stream", "msh-request-id": "..."},
     "events": [{"t": 0.412, "data": {...one SSE `data:` payload...}}, ...],
     "complete": true}

`t` is seconds since the request was sent (so `--pace original` can keep the
model's rhythm, time to first token included). `complete` is false when the
stream stopped early (a dropped connection, an interrupted cell, an error event).
An error answer has `"body": {"error": {...}}` instead of `events`; the model
listing is `{"method": "GET", "path": "/models", "status": 200, "body": {...}}`.
Only an allow-list of response headers is kept (`KEPT_HEADERS`); request headers,
and so `Authorization`, are never written. Every `GET /models` answer is an
exchange of its own, in order; a replay serves them in that order.

A cassette is untrusted input to the replay server (anyone can hand one to a
student): a replay sends back only `replay_headers`, each value checked, so a
recorded header can't inject others, and a status other than 200 or an error
(4xx, 5xx) is refused when the file is read, so a redirect is never replayed. Each line is passed through
`errors.redact_all` with every key and `Kimi.secrets` value as a last line of
defence, so a secret that reached a prompt or a tool output is not written either.

How a replayed request finds its recorded answer is `testing/player.py`.

Responses from a replay server carry `REPLAY_HEADER`; the client marks such
answers "offline replay" in their footers, and the recorder never records them
(and creates no file for them), so running a notebook that contains its own
`%kimi record` cell against its cassette leaves the cassette as it was.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from .errors import redact_all
from .server_errors import REQUEST_ID

FORMAT = "kimi-jupyter"
VERSION = 1
REPLAY_HEADER = "X-Kimi-Replay"
# Response headers worth keeping: what the client reads. Nothing else is written.
KEPT_HEADERS = ("content-type", "msh-request-id", "x-msh-request-id", "x-trace-id", "retry-after")
# What a replayed header value may look like: a media type with an optional charset, a
# request id, a number of seconds. Nothing with a CR, LF or other control character.
_CONTENT_TYPE = re.compile(r"[a-z]+/[a-z0-9.+-]+(?:; ?charset=[a-z0-9_-]+)?", re.I)
_SECONDS = re.compile(r"\d{1,6}(?:\.\d{1,3})?")
_REQUEST_ID_NAMES = ("msh-request-id", "x-msh-request-id", "x-trace-id")
# Error types a client retries (the same request comes again, so the recording is part of the sequence).
_RETRIED_TYPES = {"rate_limit_reached_error", "engine_overloaded_error", "server_error"}


class CassetteError(ValueError):
    """A file that is not a readable cassette; the message names the file and line."""


# ---------------------------------------------------------------- values
@dataclass
class Event:
    t: float  # seconds since the request was sent
    data: dict[str, Any]


@dataclass
class Exchange:
    """One recorded request and its response."""

    method: str
    path: str  # relative to the base URL: "/chat/completions", "/models"
    status: int
    request: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    events: list[Event] | None = None  # a streamed answer
    body: Any = None  # a JSON answer (errors, the model listing)
    complete: bool = True

    @property
    def streamed(self) -> bool:
        return self.events is not None

    def retried(self) -> bool:
        """Whether the client sends the same request again after this answer."""
        if self.status == 200:
            return any(_error_type(e.data) in _RETRIED_TYPES for e in self.events or ())
        return (self.status == 429 and _error_type(self.body) != "exceeded_current_quota_error") or self.status >= 500

    def succeeded(self) -> bool:
        return self.status == 200 and self.complete

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "path": self.path}
        if self.request is not None:
            out["request"] = self.request
        out.update(status=self.status, headers=self.headers)
        if self.events is not None:
            out["events"] = [{"t": e.t, "data": e.data} for e in self.events]
            out["complete"] = self.complete
        else:
            out["body"] = self.body
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "Exchange":
        events = obj.get("events")
        status = int(obj["status"])
        if status != 200 and not 400 <= status <= 599:
            # A 3xx would send the client's conversation (and key) wherever `location` says.
            raise ValueError(f"status {status} is never replayed: a cassette holds answers (200) "
                             "and errors (4xx, 5xx), not redirects or other statuses")
        return cls(
            method=str(obj.get("method", "POST")),
            path=str(obj["path"]),
            status=status,
            request=obj.get("request"),
            headers={str(k).lower(): str(v) for k, v in (obj.get("headers") or {}).items()},
            events=None if events is None else [_event(e) for e in events],
            body=obj.get("body"),
            complete=bool(obj.get("complete", True)),
        )


def _event(obj: Any) -> Event:
    """One recorded chunk; its `data` must be a JSON object (what a chat stream sends)."""
    data = obj["data"]
    if not isinstance(data, dict):
        raise ValueError(f"an event's data is a {type(data).__name__}, not a JSON object")
    return Event(float(obj["t"]), data)


def _error_type(obj: Any) -> str:
    if isinstance(obj, dict) and isinstance(obj.get("error"), dict):
        return str(obj["error"].get("type") or "")
    return ""


@dataclass
class Cassette:
    path: Path
    header: dict[str, Any]
    exchanges: list[Exchange]

    @property
    def chats(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.path == "/chat/completions" and e.request is not None]

    @property
    def listings(self) -> list[Exchange]:
        """Every model listing recorded, in order (a replay serves them in turn)."""
        return [e for e in self.exchanges if e.path == "/models"]

    @property
    def listing(self) -> Exchange | None:
        """The last model listing recorded."""
        listings = self.listings
        return listings[-1] if listings else None


# ---------------------------------------------------------------- reading
def read(path: str | os.PathLike[str]) -> Cassette:
    """Load a cassette; `CassetteError` (one line, with the line number) if it isn't one."""
    p = Path(path).expanduser()
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CassetteError(f"Cannot read the cassette {p}: {exc.strerror or exc}.") from None
    except UnicodeDecodeError:
        raise CassetteError(f"{p} is not a cassette (not UTF-8 text).") from None
    if not lines:
        raise CassetteError(f"{p} is empty: nothing was recorded to it.")
    exchanges: list[Exchange] = []
    header: dict[str, Any] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if n == 1:
                if not isinstance(obj, dict) or obj.get("cassette") != FORMAT:
                    raise CassetteError(f"{p} is not a kimi-jupyter cassette (its first line has no "
                                        f'"cassette": "{FORMAT}" header).')
                if int(obj.get("version", 0)) > VERSION:
                    raise CassetteError(f"{p} is a version {obj['version']} cassette; this kimi-jupyter "
                                        f"reads version {VERSION}. Upgrade kimi-jupyter.")
                header = obj
                continue
            exchanges.append(Exchange.from_json(obj))
        except CassetteError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise CassetteError(f"{p}, line {n}: not a cassette record ({type(exc).__name__}: {exc}).") from None
    return Cassette(p, header, exchanges)


# ---------------------------------------------------------------- recording
def check_path(path: str) -> Path:
    """Where a recording may go; ValueError with one clear line if it can't."""
    if not path or not path.strip():
        raise ValueError("Usage: %kimi record PATH.jsonl (start) or %kimi record stop")
    p = Path(path.strip()).expanduser().absolute()
    if p.is_dir():
        raise ValueError(f"{p} is a folder; give a file name, e.g. {p / 'session.jsonl'}")
    if not p.parent.is_dir():
        raise ValueError(f"Cannot record to {p}: the folder {p.parent} does not exist.")
    if not os.access(p.parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise ValueError(f"Cannot record to {p}: not writable.")
    return p


def _escaped(secrets: Iterable[str]) -> set[str]:
    """Each secret as it would appear inside a JSON string too (quotes, backslashes escaped)."""
    out = set()
    for s in secrets:
        if s:
            out.add(s)
            out.add(json.dumps(s, ensure_ascii=False)[1:-1])
    return out


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: str(headers[name]) for name in KEPT_HEADERS if headers.get(name)}


def replay_headers(headers: Mapping[str, str], streamed: bool) -> dict[str, str]:
    """The only headers a replay sends from a recording, each checked: the content type,
    `Msh-Request-Id` (from whichever request-id header was recorded) and `Retry-After`.

    A value that doesn't look like what its header holds is dropped (the content type
    falls back to the usual one), so a crafted cassette can't inject a header with a
    CR/LF, nor send a `Location`, `Set-Cookie` or anything else.
    """
    default = "text/event-stream; charset=utf-8" if streamed else "application/json; charset=utf-8"
    ctype = str(headers.get("content-type") or "")
    wanted = "text/event-stream" if streamed else "application/json"
    ok = _CONTENT_TYPE.fullmatch(ctype) is not None and ctype.lower().startswith(wanted)
    out = {"Content-Type": ctype if ok else default}
    for name in _REQUEST_ID_NAMES:
        value = str(headers.get(name) or "")
        if REQUEST_ID.fullmatch(value):
            out["Msh-Request-Id"] = value
            break
    retry = str(headers.get("retry-after") or "")
    if _SECONDS.fullmatch(retry):
        out["Retry-After"] = retry
    return out


def is_replay(headers: Mapping[str, str] | None) -> bool:
    return bool(headers is not None and headers.get(REPLAY_HEADER))


class Recorder:
    """Writes a session's exchanges to a cassette file until `close()`.

    The file is created (or replaced) at the first exchange worth writing, not at
    start: a session that only talks to a replay server writes nothing. Thread-safe.
    """

    def __init__(self, path: Path, secrets: Iterable[str] = ()) -> None:
        from .._version import __version__

        self.path = path
        self.written = 0  # exchanges written
        self.listings_written = 0  # of which `GET /models` listings
        self.skipped = 0  # answers from a replay server, not recorded
        self._secrets = set(secrets)
        self._header = {"cassette": FORMAT, "version": VERSION, "recorded_with": __version__,
                        "started": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        # Listings wait for the next exchange worth writing (see `listing`).
        self._pending_listings: list[Exchange] = []
        self._file: Any = None
        self._closed = False
        self.failure: str | None = None  # why writing stopped early, if it did
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return not self._closed

    # -- what the client calls
    def stream(
        self, body: Mapping[str, Any], headers: Mapping[str, str], chunks: Iterator[dict[str, Any]],
        started: float, secrets: Iterable[str] = (),
    ) -> Iterator[dict[str, Any]]:
        """Pass `chunks` through, recording each with its time; written when the stream ends or is closed."""
        if is_replay(headers):
            self._skip()
            yield from chunks
            return
        exchange = Exchange("POST", "/chat/completions", 200, dict(body), kept_headers(headers), [], complete=False)
        try:
            for chunk in chunks:
                exchange.events.append(Event(round(time.monotonic() - started, 3), chunk))  # type: ignore[union-attr]
                yield chunk
            exchange.complete = True
        finally:
            self._write(exchange, secrets)

    def error(self, body: Mapping[str, Any], status: int, headers: Mapping[str, str], payload: Any,
              secrets: Iterable[str] = ()) -> None:
        """An error answer to a chat request."""
        if is_replay(headers):
            self._skip()
            return
        self._write(Exchange("POST", "/chat/completions", status, dict(body), kept_headers(headers), body=payload),
                    secrets)

    def listing(self, payload: Any, secrets: Iterable[str] = (), headers: Mapping[str, str] | None = None) -> None:
        """A `GET /v1/models` answer: every one is recorded, in order.

        With the answer's `headers`, a replay server's listing is skipped and a live one
        written at once. Without them it can't be told apart, so it waits for the next
        chat exchange: written with a live one, dropped with a replayed one (`_skip`).
        """
        exchange = Exchange("GET", "/models", 200, body=payload)
        if headers is None:
            self._secrets.update(secrets)
            with self._lock:
                self._pending_listings.append(exchange)
        elif not is_replay(headers):
            self._write(exchange, secrets)

    def _skip(self) -> None:
        """An answer from a replay server: not recorded, nor the listings it came with."""
        with self._lock:
            self.skipped += 1
            self._pending_listings.clear()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._file is not None:
                self._file.close()
                self._file = None

    # -- the file
    def _write(self, exchange: Exchange, secrets: Iterable[str]) -> None:
        self._secrets.update(secrets)
        hidden = _escaped(self._secrets)
        with self._lock:
            if self._closed:
                return  # a stream that outlived `%kimi record stop`
            lines = []
            if self._file is None:
                lines.append(self._header)
            lines.extend(e.to_json() for e in self._pending_listings)
            self._pending_listings.clear()
            lines.append(exchange.to_json())
            text = "".join(
                redact_all(json.dumps(obj, ensure_ascii=False, separators=(",", ":")), hidden) + "\n" for obj in lines
            )
            try:
                if self._file is None:
                    self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
                self._file.write(text)
                self._file.flush()
            except OSError as exc:
                # A full disk must not break the cell: stop recording, and say so at `%kimi record stop`.
                self.failure = f"{type(exc).__name__}: {exc.strerror or exc}"
                self._closed = True
                return
            self.written += 1
            if exchange.path == "/models":
                self.listings_written += 1

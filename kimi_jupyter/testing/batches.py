"""`/v1/batches` of the loopback server: a batch's life from validating to completed, faithfully.

A batch reads a `purpose="batch"` JSONL of `/v1/chat/completions` requests,
checks it (one model per file, unique `custom_id`s, the endpoint), then runs
each request against this same server's chat endpoint, so the scenarios,
faults and model rules answer exactly as they do online, without the tier's
rate limits (the Batch API has its own queue). Answers with status 200 go to
the output file, the others to the error file; `request_counts` follows along.

Statuses: validating → in_progress → finalizing → completed; failed (a bad
input file), expired (past its window, or `expire(id)`), cancelling →
cancelled. `hold()` keeps new batches in_progress until `release()`, so a test
can restart a kernel while a batch is known to be running.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from .files import FileStore
from .protocols import RouteHandler
from .wire import RequestError

ENDPOINT = "/v1/chat/completions"
BATCH_HEADER = "X-Loopback-Batch"  # a batch's own requests skip the tier's rate limits
_WINDOW = re.compile(r"^(\d+)\s*([hd])$")


def window_seconds(text: Any) -> int:
    """`completion_window`: 12h to 7d (SPEC §7), as seconds; RequestError outside that."""
    match = _WINDOW.match(str(text or "").strip())
    seconds = int(match.group(1)) * (3600 if match.group(2) == "h" else 86400) if match else 0
    if not 12 * 3600 <= seconds <= 7 * 86400:
        raise RequestError(400, "invalid_request_error",
                           f"Invalid completion_window {text!r}: it must be between 12h and 7d")
    return seconds


@dataclass
class Batch:
    id: str
    input_file_id: str
    completion_window: str
    key: str = field(repr=False)
    metadata: dict[str, Any] | None = None
    status: str = "validating"
    created_at: int = field(default_factory=lambda: int(time.time()))
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: dict[str, Any] | None = None
    total: int = 0
    completed: int = 0
    failed: int = 0
    times: dict[str, int] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    expire: threading.Event = field(default_factory=threading.Event, repr=False)

    def object(self) -> dict[str, Any]:
        return {
            "id": self.id, "object": "batch", "endpoint": ENDPOINT, "errors": self.errors,
            "input_file_id": self.input_file_id, "completion_window": self.completion_window,
            "status": self.status, "output_file_id": self.output_file_id, "error_file_id": self.error_file_id,
            "created_at": self.created_at, "metadata": self.metadata,
            "request_counts": {"total": self.total, "completed": self.completed, "failed": self.failed},
            **{f"{name}_at": self.times.get(name) for name in (
                "in_progress", "expires", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled")},
        }

    def set(self, status: str) -> None:
        self.status = status
        self.times[status] = int(time.time())


class BatchHost(Protocol):
    """What `Batches` needs from its server: the file store (a batch's input, output and error
    files) and the base URL its requests go to."""

    @property
    def files(self) -> FileStore: ...

    @property
    def base_url(self) -> str: ...


class Batches:
    """The server's batches; each runs in its own daemon thread."""

    def __init__(self, server: BatchHost, step_s: float = 0.05) -> None:
        self.server = server
        self.step_s = step_s  # time spent in validating and finalizing
        self._batches: dict[str, Batch] = {}
        self._lock = threading.Lock()
        self._go = threading.Event()
        self._go.set()

    def hold(self) -> None:
        """Batches created from now on stay in_progress (having run nothing) until `release()`."""
        self._go.clear()

    def release(self) -> None:
        self._go.set()

    def expire(self, batch_id: str) -> None:
        self.get(batch_id).expire.set()

    def get(self, batch_id: str) -> Batch:
        with self._lock:
            batch = self._batches.get(batch_id)
        if batch is None:
            raise RequestError(404, "resource_not_found_error", f"batch {batch_id} not found")
        return batch

    def all(self) -> list[Batch]:
        with self._lock:
            return list(self._batches.values())

    def create(self, body: dict[str, Any], key: str) -> Batch:
        if body.get("endpoint") != ENDPOINT:
            raise RequestError(400, "invalid_request_error", f"Invalid endpoint {body.get('endpoint')!r}: "
                                                              f"only {ENDPOINT} is supported")
        window_seconds(body.get("completion_window"))
        file = self.server.files.get(str(body.get("input_file_id")))
        if file.purpose != "batch":
            raise RequestError(400, "invalid_request_error", f"file {file.id} was not uploaded with purpose 'batch'")
        batch = Batch(f"batch_{uuid.uuid4().hex[:24]}", file.id, str(body["completion_window"]), key,
                      body.get("metadata"))
        with self._lock:
            self._batches[batch.id] = batch
        threading.Thread(target=self._run, args=(batch, file.data), name=f"loopback-{batch.id}", daemon=True).start()
        return batch

    # -- the life of one batch -------------------------------------------------------
    def _run(self, batch: Batch, data: bytes) -> None:
        time.sleep(self.step_s)
        lines, problem = _validate(data)
        if problem is not None:
            batch.errors = {"object": "list", "data": [problem]}
            batch.set("failed")
            return
        batch.total = len(lines)
        batch.set("in_progress")
        out: list[str] = []
        err: list[str] = []
        while not self._go.wait(0.05):
            if batch.cancel.is_set() or batch.expire.is_set():
                break
        for request in lines:
            if batch.cancel.is_set() or batch.expire.is_set():
                break
            status, answer, request_id = self._send(request["body"], batch.key)
            line = {"id": f"batch_req_{uuid.uuid4().hex[:24]}", "custom_id": request["custom_id"],
                    "response": {"status_code": status, "request_id": request_id, "body": answer}, "error": None}
            if status == 200:
                out.append(json.dumps(line))
                batch.completed += 1
            else:
                err.append(json.dumps(line))
                batch.failed += 1
        if batch.expire.is_set():
            done = {json.loads(x)["custom_id"] for x in out + err}
            for request in lines:  # what never ran is reported as expired, in the error file
                if request["custom_id"] not in done:
                    err.append(json.dumps({"id": f"batch_req_{uuid.uuid4().hex[:24]}",
                                           "custom_id": request["custom_id"], "response": None,
                                           "error": {"code": "batch_expired",
                                                     "message": "This request could not be executed before the "
                                                                "completion window expired."}}))
        final = "expired" if batch.expire.is_set() else "cancelled" if batch.cancel.is_set() else "completed"
        if final == "completed":
            batch.set("finalizing")
            time.sleep(self.step_s)
        files = self.server.files
        if out:
            batch.output_file_id = files.add(f"{batch.id}_output.jsonl", "batch_output",
                                             ("\n".join(out) + "\n").encode()).id
        if err:
            batch.error_file_id = files.add(f"{batch.id}_error.jsonl", "batch_output",
                                            ("\n".join(err) + "\n").encode()).id
        batch.set(final)

    def _send(self, body: dict[str, Any], key: str) -> tuple[int, Any, str | None]:
        """One request of the batch, through this server's own chat endpoint (not streamed)."""
        data = json.dumps({**body, "stream": False}).encode()
        request = urllib.request.Request(
            self.server.base_url + "/chat/completions", data=data, method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}", BATCH_HEADER: "1"})
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                return response.status, json.loads(response.read()), response.headers.get("Msh-Request-Id")
        except urllib.error.HTTPError as exc:
            try:
                answer = json.loads(exc.read())
            except ValueError:
                answer = {"error": {"type": "server_error", "message": "bad answer"}}
            return exc.code, answer, exc.headers.get("Msh-Request-Id")


def _validate(data: bytes) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    lines: list[dict[str, Any]] = []
    seen: set[str] = set()
    models: set[str] = set()
    for number, text in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        if not text.strip():
            continue
        try:
            request = json.loads(text)
        except ValueError:
            return [], {"code": "invalid_json_line", "message": "This line is not valid JSON.", "line": number}
        custom_id = request.get("custom_id") if isinstance(request, dict) else None
        if not isinstance(custom_id, str) or not custom_id:
            return [], {"code": "missing_required_parameter", "message": "custom_id is missing.", "line": number}
        if custom_id in seen:
            return [], {"code": "duplicate_custom_id", "message": f"custom_id {custom_id} is duplicated.",
                        "line": number}
        if request.get("method") != "POST" or request.get("url") != ENDPOINT:
            return [], {"code": "invalid_url", "message": f"Each line must POST to {ENDPOINT}.", "line": number}
        body = request.get("body")
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return [], {"code": "invalid_request", "message": "body.model is missing.", "line": number}
        models.add(body["model"])
        if len(models) > 1:
            return [], {"code": "mixed_models", "message": "A batch file may use only one model.", "line": number}
        seen.add(custom_id)
        lines.append(request)
    if not lines:
        return [], {"code": "empty_file", "message": "The input file has no requests.", "line": None}
    return lines, None


class HasBatches(Protocol):
    """What the batches routes need from the server: its batches."""

    @property
    def batches(self) -> Batches: ...


# -- endpoints ---------------------------------------------------------------------------
def create(h: RouteHandler[HasBatches], flavor: str, key: str, raw: bytes) -> None:
    h._send_json(200, h.server.kimi.batches.create(h._json_body(raw), key).object())


def listing(h: RouteHandler[HasBatches], flavor: str, key: str, raw: bytes) -> None:
    data = [b.object() for b in reversed(h.server.kimi.batches.all())]
    h._send_json(200, {"object": "list", "data": data, "has_more": False})


def retrieve(h: RouteHandler[HasBatches], flavor: str, key: str, raw: bytes, batch_id: str) -> None:
    h._send_json(200, h.server.kimi.batches.get(batch_id).object())


def cancel(h: RouteHandler[HasBatches], flavor: str, key: str, raw: bytes, batch_id: str) -> None:
    batch = h.server.kimi.batches.get(batch_id)
    if batch.status in ("validating", "in_progress"):
        batch.cancel.set()
        batch.set("cancelling")
    elif batch.status not in ("cancelling", "cancelled"):
        raise RequestError(400, "invalid_request_error", f"batch {batch_id} is {batch.status} and can't be cancelled")
    h._send_json(200, batch.object())


Route = Callable[..., None]


def route(command: str, parts: list[str]) -> tuple[Route, tuple[str, ...]] | None:
    if not parts:
        return {"POST": (create, ()), "GET": (listing, ())}.get(command)
    if len(parts) == 1 and command == "GET":
        return retrieve, (parts[0],)
    if len(parts) == 2 and parts[1] == "cancel" and command == "POST":
        return cancel, (parts[0],)
    return None

"""`/v1/files` of the loopback server: upload (multipart, as the openai SDK sends it), list, get, content, delete.

Moonshot's Files API is OpenAI-compatible. `purpose="batch"` files hold the
JSONL a batch reads; the batch's output and error files are made here too
(`purpose="batch_output"`). `purpose="file-extract"` files answer `content`
with their text. Files live in memory, per server.
"""

from __future__ import annotations

import email.parser
import email.policy
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from .protocols import RouteHandler
from .wire import RequestError

PURPOSES = ("batch", "file-extract", "batch_output")
MAX_BYTES = 100 * 1024 * 1024  # Moonshot's per-file cap for batch input


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes = field(repr=False)
    created_at: int = field(default_factory=lambda: int(time.time()))

    def object(self) -> dict[str, Any]:
        return {"id": self.id, "object": "file", "bytes": len(self.data), "created_at": self.created_at,
                "filename": self.filename, "purpose": self.purpose, "status": "ok", "status_details": ""}


class FileStore:
    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}
        self._lock = threading.Lock()
        self.deleted: list[str] = []  # ids deleted, newest last (tests check clean-up)

    def add(self, filename: str, purpose: str, data: bytes) -> StoredFile:
        f = StoredFile(f"file-{uuid.uuid4().hex[:24]}", filename, purpose, data)
        with self._lock:
            self._files[f.id] = f
        return f

    def get(self, file_id: str) -> StoredFile:
        with self._lock:
            f = self._files.get(file_id)
        if f is None:
            raise RequestError(404, "resource_not_found_error", f"file {file_id} not found")
        return f

    def delete(self, file_id: str) -> None:
        self.get(file_id)
        with self._lock:
            self._files.pop(file_id, None)
            self.deleted.append(file_id)

    def all(self) -> list[StoredFile]:
        with self._lock:
            return list(self._files.values())


class HasFiles(Protocol):
    """What the files routes need from the server: its file store."""

    @property
    def files(self) -> FileStore: ...


def parse_multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """{field: (filename, bytes)} of a multipart/form-data body."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise RequestError(400, "invalid_request_error", "Invalid request: upload a file as multipart/form-data")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw)
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return fields


# -- endpoints: (handler, flavor, key, raw, *path params) -----------------------------------
def upload(h: RouteHandler[HasFiles], flavor: str, key: str, raw: bytes) -> None:
    fields = parse_multipart(h.headers.get("Content-Type", ""), raw)
    purpose = (fields.get("purpose") or (None, b""))[1].decode("utf-8", "replace").strip()
    if purpose not in ("batch", "file-extract"):
        raise RequestError(400, "invalid_request_error", f"Invalid purpose: {purpose!r}; use 'batch' or 'file-extract'")
    if "file" not in fields:
        raise RequestError(400, "invalid_request_error", "Invalid request: no file in the upload")
    filename, data = fields["file"]
    if len(data) > MAX_BYTES:
        raise RequestError(400, "invalid_request_error", "file too large: a batch file may be at most 100 MB")
    stored = h.server.kimi.files.add(filename or "upload", purpose, data)
    h._send_json(200, stored.object())


def listing(h: RouteHandler[HasFiles], flavor: str, key: str, raw: bytes) -> None:
    h._send_json(200, {"object": "list", "data": [f.object() for f in h.server.kimi.files.all()]})


def retrieve(h: RouteHandler[HasFiles], flavor: str, key: str, raw: bytes, file_id: str) -> None:
    h._send_json(200, h.server.kimi.files.get(file_id).object())


def content(h: RouteHandler[HasFiles], flavor: str, key: str, raw: bytes, file_id: str) -> None:
    f = h.server.kimi.files.get(file_id)
    h.send_response(200)
    h.send_header("Content-Type", "application/octet-stream")
    h.send_header("Content-Length", str(len(f.data)))
    h.end_headers()
    h.wfile.write(f.data)


def delete(h: RouteHandler[HasFiles], flavor: str, key: str, raw: bytes, file_id: str) -> None:
    h.server.kimi.files.delete(file_id)
    h._send_json(200, {"id": file_id, "object": "file", "deleted": True})


Route = Callable[..., None]


def route(command: str, parts: list[str]) -> tuple[Route, tuple[str, ...]] | None:
    """The endpoint for `/v1/files...` split into parts after `files`, and its path parameters."""
    if not parts:
        return {"POST": (upload, ()), "GET": (listing, ())}.get(command)
    if len(parts) == 1:
        return {"GET": (retrieve, (parts[0],)), "DELETE": (delete, (parts[0],))}.get(command)
    if len(parts) == 2 and parts[1] == "content" and command == "GET":
        return content, (parts[0],)
    return None

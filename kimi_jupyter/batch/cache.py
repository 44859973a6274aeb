"""The resumable cache: append-only JSONL, one line per finished item, keyed by a hash of its request body.

Every answer is written the moment it lands, so an interrupt, a crash or a
kernel restart loses only what was in flight, and the same `map(...)` call
afterwards sends only what is missing: nothing is paid for twice. The key is a
hash of the request body as it goes on the wire (model, messages, thinking,
max tokens, response format...), so changing any of them asks again, while an
online answer and a Batch API answer to the same body are the same entry.

Where: `cache=` a folder, else `KIMI_MAP_CACHE`, else `~/.cache/kimi-jupyter/map`
(`$XDG_CACHE_HOME` respected). One file per server and model, so lines of
unrelated jobs never have to be read. Keys and Authorization never enter a body,
so they never reach the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any, Iterator

from ..core.settings import origin

_STREAM_ONLY = ("stream", "stream_options")
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def default_folder() -> Path:
    env = os.environ.get("KIMI_MAP_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kimi-jupyter" / "map"


def body_key(body: dict[str, Any]) -> str:
    """sha256 of the body without its streaming fields: online and batch requests share a key."""
    plain = {k: v for k, v in body.items() if k not in _STREAM_ONLY}
    text = json.dumps(plain, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _lock(path: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path, threading.Lock())


class Cache:
    """One JSONL file of finished items; `None` folder means no cache (nothing kept)."""

    def __init__(self, folder: str | os.PathLike[str] | None, base_url: str, model: str) -> None:
        self.path: Path | None = None
        if folder is not None:
            root = Path(folder).expanduser()
            name = hashlib.sha256(f"{origin(base_url)} {model}".encode()).hexdigest()[:16]
            safe_model = "".join(c if c.isalnum() or c in "-._" else "_" for c in model)[:40]
            self.path = root / f"{safe_model}-{name}.jsonl"
        self._entries: dict[str, dict[str, Any]] | None = None

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def entries(self) -> dict[str, dict[str, Any]]:
        """Every finished item in the file by key (the last line for a key wins)."""
        if self._entries is None:
            self._entries = dict(self._read())
        return self._entries

    def _read(self) -> Iterator[tuple[str, dict[str, Any]]]:
        if self.path is None or not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a crash: that item is simply asked again
                if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                    yield entry["key"], entry

    def get(self, key: str) -> dict[str, Any] | None:
        return self.entries().get(key) if self.enabled else None

    def put(self, key: str, entry: dict[str, Any]) -> None:
        """Append one finished item: one write of one whole line, flushed at once."""
        if self.path is None:
            return
        entry = {"key": key, **entry}
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"
        with _lock(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
            # Not added to `_entries`: that is read once, before sending, and the answer is
            # in the caller's Results already (keeping it twice would double a run's memory).

    # -- the Batch API job kept beside the answers --------------------------------
    @property
    def batch_path(self) -> Path | None:
        return None if self.path is None else self.path.with_suffix(".batches.json")

    def batches(self) -> list[dict[str, Any]]:
        """The Batch API jobs started from this file's requests and not yet collected."""
        path = self.batch_path
        if path is None or not path.exists():
            return []
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            return []
        return [b for b in data if isinstance(b, dict)] if isinstance(data, list) else []

    def save_batches(self, jobs: list[dict[str, Any]]) -> None:
        path = self.batch_path
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(jobs, indent=1), encoding="utf-8")
        tmp.replace(path)  # never a half-written job list, even after a crash


def all_batch_files(folder: str | os.PathLike[str] | None = None) -> list[Path]:
    root = Path(folder).expanduser() if folder is not None else default_folder()
    return sorted(root.glob("*.batches.json")) if root.exists() else []

"""Which recorded answer a replayed request gets: cassette matching, and the pace of a replay.

A replayed request is matched by its messages, in a canonical form that keeps
what identifies the conversation and drops what legitimately differs between runs:

- user and system messages: their text, exactly (images as `[image]`);
- assistant messages: the content and the tool calls (id, name, and arguments
  re-serialised as canonical JSON). Both come from the recording, so they match.
  `reasoning_content` is left out: it too is the recording's own text, echoed
  back or not depending on the thinking settings, and tells nothing new;
- tool messages: the `tool_call_id` and the output with every number replaced
  by `#` and hex addresses by `0x#`, since code the model runs prints timings,
  memory addresses and elapsed seconds that change from run to run; images in
  tool outputs (figures sent to vision models) become `[image]`;
- the model, tools and sampling settings are not part of the match.

Requests with the same canonical messages are answered in recorded order, and
the sequence starts over when it runs out, so rerunning a notebook against the
same server replays it again. A recorded answer the client would not retry
(a 400, an interrupted stream) is left out when the same request also has a
successful recording: that was the teacher's false start, not the lesson.
A request with no match gets `NoMatch`, whose message names the nearest
recorded prompt (difflib ratio on the last user message). Model listings are
served the same way: each recorded one in turn, then again.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..core.cassette import Cassette, Exchange

_HEX = re.compile(r"0x[0-9a-fA-F]+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def text_of(content: Any) -> str:
    """A message's text; image parts as `[image]`."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                parts.append(str(part.get("text", "")))
            elif isinstance(part, dict):
                parts.append(f"[{str(part.get('type', 'part')).replace('_url', '')}]")
            else:
                parts.append(str(part))
        return "\n".join(parts)
    return str(content)


def loosen(text: str) -> str:
    """Tool output without what changes between runs: numbers and memory addresses."""
    return _NUMBER.sub("#", _HEX.sub("0x#", text)).strip()


def _arguments(raw: Any) -> str:
    try:
        return json.dumps(json.loads(raw), sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(raw or "")


def canonical_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a message that identifies a conversation (see the module docstring)."""
    role = str(message.get("role", ""))
    out: dict[str, Any] = {"role": role}
    text = text_of(message.get("content")).strip()
    if role == "tool":
        text = loosen(text)
        out["tool_call_id"] = message.get("tool_call_id")
    if text:
        out["content"] = text
    if message.get("name"):
        out["name"] = message["name"]
    calls = [
        [tc.get("id"), (tc.get("function") or {}).get("name"), _arguments((tc.get("function") or {}).get("arguments"))]
        for tc in message.get("tool_calls") or ()
        if isinstance(tc, dict)
    ]
    if calls:
        out["tool_calls"] = calls
    return out


def canonical(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [canonical_message(m) for m in messages if isinstance(m, Mapping)]


def match_key(body: Mapping[str, Any]) -> str:
    return json.dumps(canonical(body.get("messages") or ()), sort_keys=True, ensure_ascii=False)


def last_user(messages: Iterable[Mapping[str, Any]]) -> str:
    users = [m for m in messages if isinstance(m, Mapping) and m.get("role") == "user"]
    return text_of(users[-1].get("content")) if users else ""


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class NoMatch(LookupError):
    """No recorded request has these messages; `str()` names the nearest recorded prompt."""


class Player:
    """Answers requests from a cassette. Thread-safe: the server is threaded."""

    def __init__(self, cassette: Cassette) -> None:
        self.cassette = cassette
        self._lock = threading.Lock()
        self._queues: dict[str, list[Exchange]] = {}
        self._next: dict[str, int] = {}
        self._listings = cassette.listings
        self._next_listing = 0
        for ex in cassette.chats:
            self._queues.setdefault(match_key(ex.request or {}), []).append(ex)
        for key, queue in self._queues.items():
            if any(ex.succeeded() for ex in queue):
                # False starts (a 400, an interrupted stream) before the answer that worked.
                self._queues[key] = [ex for ex in queue if ex.succeeded() or ex.retried()]

    def __len__(self) -> int:
        return len(self.cassette.chats)

    def has(self, key: str) -> bool:
        """Whether requests with this `match_key` have a recorded answer (nothing is taken)."""
        with self._lock:
            return bool(self._queues.get(key))

    def take(self, body: Mapping[str, Any]) -> Exchange:
        """The recorded answer to `body`: the next of its sequence. Raises `NoMatch`."""
        key = match_key(body)
        with self._lock:
            queue = self._queues.get(key)
            if not queue:
                raise NoMatch(self.explain(body))
            i = self._next.get(key, 0) % len(queue)
            self._next[key] = i + 1
            return queue[i]

    def take_listing(self) -> Exchange | None:
        """The next recorded model listing, in recorded order (then again); None if none was recorded."""
        with self._lock:
            if not self._listings:
                return None
            listing = self._listings[self._next_listing % len(self._listings)]
            self._next_listing += 1
            return listing

    def explain(self, body: Mapping[str, Any]) -> str:
        """Why nothing matched: the nearest recorded prompt, and where the conversation differs."""
        from difflib import SequenceMatcher

        messages = [m for m in body.get("messages") or () if isinstance(m, Mapping)]
        prompt = last_user(messages)
        recorded = self.cassette.chats
        head = f"No request in the cassette {self.cassette.path.name} matches this conversation"
        if not recorded:
            return f"{head}: it holds no chat requests."
        scored = [
            (SequenceMatcher(None, prompt, last_user(ex.request.get("messages") or ())).ratio(), i)
            for i, ex in enumerate(recorded) if ex.request is not None
        ]
        best, index = max(scored)
        nearest_prompt = last_user((recorded[index].request or {}).get("messages") or ())
        if nearest_prompt != prompt:
            return (f"{head} ({len(recorded)} recorded requests). Nearest recorded prompt: "
                    f"\"{_short(nearest_prompt)}\" (similarity {best:.2f}); this prompt: \"{_short(prompt)}\".")
        # The prompt was recorded: say where this conversation parts from the closest recording of it.
        mine = canonical(messages)
        same = [canonical((ex.request or {}).get("messages") or ()) for ex in recorded
                if last_user((ex.request or {}).get("messages") or ()) == prompt]
        theirs = max(same, key=lambda other: _common_prefix(mine, other))
        at = _common_prefix(mine, theirs)
        role = mine[at]["role"] if at < len(mine) else theirs[at]["role"] if at < len(theirs) else "?"
        return (f"{head}. The prompt \"{_short(prompt)}\" was recorded, but the conversation differs at "
                f"message {at} ({role}): {len(mine)} messages sent, {len(theirs)} in the recording. "
                "Run the notebook from the top, in the order it was recorded.")


def _common_prefix(a: list[Any], b: list[Any]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def chunk_chars(chunk: Mapping[str, Any]) -> int:
    """Characters of text a chunk shows (for pacing a replay in characters per second)."""
    n = 0
    choices = chunk.get("choices")
    for choice in choices if isinstance(choices, list) else ():  # a cassette can hold anything
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            continue
        for name in ("reasoning_content", "reasoning", "content"):
            if isinstance(delta.get(name), str):
                n += len(delta[name])
        calls = delta.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            fn = call.get("function") if isinstance(call, dict) else None
            args = fn.get("arguments") if isinstance(fn, dict) else None
            n += len(args) if isinstance(args, str) else 0
    return n


@dataclass(frozen=True)
class Pace:
    """How a replay streams: the recorded timing, N characters per second, or at once."""

    original: bool = False
    cps: float | None = None

    def __str__(self) -> str:
        return "original" if self.original else (f"{self.cps:g} characters/s" if self.cps else "as fast as possible")


def parse_pace(text: str) -> Pace:
    """`original`, a number of characters per second, or `0` (no pacing). ValueError otherwise."""
    text = str(text).strip().lower()
    if text == "original":
        return Pace(original=True)
    try:
        cps = float(text)
    except ValueError:
        raise ValueError(f"--pace must be 'original', characters per second, or 0 (got {text!r})") from None
    if cps < 0 or cps != cps:
        raise ValueError(f"--pace must be 0 or more (got {text!r})")
    return Pace(cps=cps or None)



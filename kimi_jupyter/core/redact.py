"""Redaction: keys and `Kimi.secrets` values never shown, saved, logged or sent to the model.

One set of rules serves every path (tool output, displays, `Out[]`, tracebacks,
prompts, `%kimi fix`, exports, cassettes), so a path can't be "almost" redacted:

- `redact_text` masks each secret, and a few obvious encodings of it that model
  code could produce without meaning harm (reversed, hex, base64 at any of its
  three alignments, the escaped forms `repr` and JSON give). A model told
  "print the key backwards" must not get it either.
- A long enough piece of a secret's start or end (at least half of it, and at
  least `MIN_PARTIAL` characters) is masked too: output capped to size, or
  `print(key[:-1])`, must not show most of a key because it isn't all of it.
- `StreamRedactor` does the same over a stream written in pieces. Redacting each
  `write` alone misses `for ch in key: sys.stdout.write(ch)`; the stream
  redactor holds back the shortest tail that could still grow into a secret and
  releases it once it can't (or when the call ends).
- `redact_data` masks every text value of a display's mime bundle (`text/plain`,
  `text/html`, `application/json`, …), leaving binary images alone.

Pure code, no IPython: tested on its own.
"""

from __future__ import annotations

import base64
import json
import re
from functools import lru_cache
from typing import Any, Iterable

REDACTED = "[redacted]"
# Shorter values would mask ordinary words ("True", "data").
MIN_SECRET = 4
# Transforms of a short secret are short strings that turn up by chance in hex
# dumps and base64 images; only longer secrets (every real key) get them.
MIN_TRANSFORMED = 8
# The shortest start or end of a secret masked on its own (see `variants`).
MIN_PARTIAL = 10
# Mime types whose values are base64 binaries: masking inside them only breaks the image.
_BINARY_MIMES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp")


def _base64_fragments(raw: bytes) -> set[str]:
    """The part of any base64 text that encodes `raw`, at each of the three byte alignments.

    Base64 maps 3 bytes to 4 characters, so the secret's encoding depends on where it
    starts in the data (its offset mod 3). Character i carries bits [6i, 6i+6); only the
    characters whose bits all come from the secret are the same in every text that
    holds it at that alignment.
    """
    out: set[str] = set()
    n = len(raw)
    for k in range(3):
        encoded = base64.b64encode(b"\0" * k + raw).decode("ascii")
        start, end = (8 * k + 5) // 6, (8 * (k + n)) // 6
        fragment = encoded[start:end]
        if len(fragment) >= MIN_TRANSFORMED:
            out.add(fragment)
            out.add(fragment.replace("+", "-").replace("/", "_"))  # the URL-safe alphabet
    return out


def variants(secret: str) -> set[str]:
    """The secret and the forms of it that are masked too."""
    out = {secret}
    out.add(repr(secret)[1:-1])  # a string's repr, as `Out[]` shows it
    out.add(json.dumps(secret)[1:-1])  # inside JSON
    if len(secret) >= MIN_TRANSFORMED:
        raw = secret.encode("utf-8", "surrogatepass")
        out.add(secret[::-1])
        out.add(raw.hex())
        out.add(raw.hex().upper())
        out |= _base64_fragments(raw)
    # Starts and ends of the secret: what a cut (a capped output, a repr's "…") leaves.
    for length in range(max(MIN_PARTIAL, (len(secret) + 1) // 2), len(secret)):
        out.add(secret[:length])
        out.add(secret[-length:])
    return {v for v in out if len(v) >= MIN_SECRET}


@lru_cache(maxsize=32)
def _compiled(secrets: tuple[str, ...]) -> tuple[re.Pattern[str] | None, tuple[str, ...]]:
    forms: set[str] = set()
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET:
            forms |= variants(secret)
    ordered = tuple(sorted(forms, key=lambda s: (-len(s), s)))
    if not ordered:
        return None, ()
    return re.compile(_trie_regex(ordered)), ordered


def _trie_regex(words: Iterable[str]) -> str:
    """One regex matching any of `words`, longest first, as a trie.

    A flat `a|b|c…` alternation tries every word at every position; a secret brings
    a hundred forms, and model code may print megabytes. The trie tests one
    character per step, and its greedy optional groups make the longest word win,
    so a secret that contains another is masked whole.
    """
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def walk(node: dict[str, dict]) -> str:
        branches = [re.escape(ch) + walk(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return walk(trie)


def _key(secrets: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({s for s in secrets if isinstance(s, str) and s}))


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret, and every variant of it, replaced by `[redacted]`."""
    if not text:
        return text
    pattern, _ = _compiled(_key(secrets))
    return pattern.sub(REDACTED, text) if pattern is not None else text


def redact_value(value: Any, secrets: Iterable[str]) -> Any:
    """Strings anywhere inside JSON-like data (dict keys too), redacted; other values as they are."""
    key = _key(secrets)
    if not key:
        return value
    if isinstance(value, str):
        return redact_text(value, key)
    if isinstance(value, dict):
        return {redact_value(k, key): redact_value(v, key) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v, key) for v in value)
    return value


def redact_data(data: dict[str, Any], secrets: Iterable[str]) -> dict[str, Any]:
    """A display's mime bundle with every text value redacted (binary images left alone)."""
    key = _key(secrets)
    if not key:
        return data
    return {mime: value if mime in _BINARY_MIMES else redact_value(value, key) for mime, value in data.items()}


def redact_output(output: dict[str, Any], secrets: Iterable[str]) -> dict[str, Any]:
    """One nbformat output (stream, display, result or error) with its text redacted."""
    key = _key(secrets)
    if not key:
        return output
    out = dict(output)
    if isinstance(out.get("data"), dict):
        out["data"] = redact_data(out["data"], key)
    for name in ("text", "evalue", "traceback"):
        if name in out:
            out[name] = redact_value(out[name], key)
    return out


class StreamRedactor:
    """Redacts a stream that arrives in pieces: `feed` each piece, `flush` at the end.

    What `feed` returns is safe to show, and the same as redacting the whole stream at
    once: any tail that could still grow into a secret (or a longer variant of one) is
    held back, unredacted, until the next piece says which; a match that starts before
    it is final. Ordinary output is held back only when it ends with the first
    characters of a secret's form, so it still shows live.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = _key(secrets)
        self._pattern, self._forms = _compiled(self._secrets)
        # Every proper start of a form: a tail of the stream in here may still grow into one.
        self._starts = {f[:n] for f in self._forms for n in range(1, len(f))}
        self._longest = max((len(f) for f in self._forms), default=0)
        self._held = ""

    @property
    def held(self) -> str:
        return self._held

    def feed(self, text: str) -> str:
        if self._pattern is None:
            return text
        buf = self._held + text
        cut = self._hold_start(buf)
        out: list[str] = []
        pos = 0
        for match in self._pattern.finditer(buf):
            if match.start() >= cut:
                break
            out += (buf[pos:match.start()], REDACTED)
            pos = match.end()
            cut = max(cut, pos)  # a final match that runs into the held part is emitted whole
        out.append(buf[pos:cut])
        self._held = buf[cut:]
        return "".join(out)

    def flush(self) -> str:
        """The held-back tail, redacted: nothing more will come to complete a secret."""
        rest, self._held = self._held, ""
        return self._pattern.sub(REDACTED, rest) if self._pattern is not None else rest

    def _hold_start(self, buf: str) -> int:
        """Where the longest tail of `buf` that is a proper prefix of a form starts (else its end).

        A form cut by the end of `buf` starts within its last `longest - 1` characters.
        """
        for i in range(max(0, len(buf) - self._longest + 1), len(buf)):
            if buf[i:] in self._starts:
                return i
        return len(buf)


__all__ = ["REDACTED", "StreamRedactor", "redact_data", "redact_output", "redact_text", "redact_value", "variants"]

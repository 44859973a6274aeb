"""HTTP to the model: the openai SDK with `base_url`, and the retry policy.

The SDK does the request, auth and status handling; the SSE body is decoded by
`sse.py` (spec-complete: comments, `event:`/`id:` lines, blank and multi-line
`data:`; and bounded, unlike the SDK's decoder) into plain JSON dicts rather than
the SDK's per-chunk pydantic models, which keeps the hot path cheap and lets
`stream.py` stay pure. The body comes from `wire.py` ready to send.

Retries live here and only here. A request is retried only before any text
arrives: once text has been shown, restarting silently would replace what the
user saw. An error event inside a 200 stream is mapped by its type exactly like
the same error as an HTTP status (`server_errors`), so a quota error is not retried either way.
"""

from __future__ import annotations

import json
import random
import re
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from .cassette import is_replay
from .errors import (
    APIError,
    ConnectError,
    KimiError,
    MalformedStream,
    ModelNotFoundError,
    RateLimitError,
    StreamEndedEarly,
    redact_all,
)
from .server_errors import StreamError, error_for, map_status_error, request_id_of, stream_error
from .settings import Settings
from .sse import EventTooLarge, SSEDecoder

if TYPE_CHECKING:
    from .cassette import Recorder

_clients: dict[tuple[str, str, float], Any] = {}
_AFTER = re.compile(r"try again after (\d+(?:\.\d+)?) ?s", re.I)
RetryHook = Callable[[float, str], None]
def _make_client(settings: Settings) -> Any:
    from openai import OpenAI  # heavy: imported on first use only

    key = settings.require_key()
    cache_key = (settings.base_url, key, settings.timeout)
    client = _clients.get(cache_key)
    if client is None:
        # max_retries=0: the SDK's silent retries would hide the wait from the user.
        client = OpenAI(api_key=key, base_url=settings.base_url, max_retries=0, timeout=settings.timeout)
        _clients[cache_key] = client
    return client


@dataclass
class RetryPolicy:
    max_retries: int = 5
    base_s: float = 1.0
    cap_s: float = 60.0

    def delay(self, attempt: int, hint: float | None) -> float:
        if hint is not None:
            return min(max(hint, 0.0), self.cap_s * 5)
        return min(self.cap_s, self.base_s * 2**attempt) * (0.75 + random.random() / 2)


def _retry_hint(err: Exception) -> float | None:
    """Seconds the server asked us to wait: Retry-After, or Moonshot's text."""
    response = getattr(err, "response", None)
    if response is not None:
        value = response.headers.get("retry-after")
        if value:
            try:
                return float(value)
            except ValueError:
                pass
    match = _AFTER.search(str(getattr(err, "server_message", "")) or str(err))
    return float(match.group(1)) if match else None


def _has_text(chunk: dict[str, Any]) -> bool:
    """Whether a chunk shows the user something (the opening role chunk does not).

    Read before `stream.check_chunk` has seen the chunk, so nothing here assumes a
    type: a malformed chunk is the folder's to report.
    """
    choices = chunk.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict) and any(
                delta.get(k) for k in ("content", "reasoning_content", "reasoning", "tool_calls")):
            return True
    return False


def iter_chunks(http_response: Any) -> Iterator[dict[str, Any]]:
    """Decoded `data:` payloads of an SSE response, up to `[DONE]`.

    `sse.SSEDecoder` does the framing (the WHATWG event-stream rules), over the raw
    bytes of the SDK's own HTTP response, and bounds an event's size: a server that
    sends a line with no end gets `MalformedStream` at 16 MB, not all of the kernel's
    memory. Empty `data:` events (keep-alives) are skipped. A payload that is not a
    JSON object is `MalformedStream` too.

    After `[DONE]` the rest of the body (the chunked encoding's last chunk) is read
    too: a response read to its end leaves its connection to the pool, while one
    abandoned at `[DONE]` is closed, and every step of a tool loop would then pay
    for a new connection (and, against Moonshot, a new TLS handshake).
    """
    events = SSEDecoder().iter_events(http_response.iter_bytes())
    try:
        for event in events:
            data = event.strip()
            if not data:
                continue
            if data == "[DONE]":
                for _ in events:  # drain: normally nothing is left but the end of the body
                    pass
                return
            try:
                chunk = json.loads(data)
            except ValueError:
                raise MalformedStream("a malformed chunk (not JSON)") from None
            if not isinstance(chunk, dict):
                raise MalformedStream(f"a malformed chunk (a JSON {_json_kind(chunk)}, not an object)")
            yield chunk
    except EventTooLarge as exc:
        raise MalformedStream(f"{exc} with no end (no blank line or newline), so the stream was cut") from None


def _json_kind(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


class KimiClient:
    """Streams requests for one cell into a callback, with the retry policy applied."""

    def __init__(
        self,
        settings: Settings,
        recorder: "Recorder | None" = None,
        listing: "Callable[[], dict[str, dict[str, Any]] | None] | None" = None,
    ) -> None:
        self.settings = settings
        # The session's cached `/v1/models` (asked once per host and session); without
        # one, a "model not found" asks the server itself.
        self._listing = listing
        self.policy = RetryPolicy(max_retries=settings.max_retries)
        self.request_ids: list[str] = []  # Moonshot's Msh-Request-Id of each response, for support
        self.recorder = recorder  # `%kimi record`: every exchange goes to the cassette too
        self.replayed = False  # an answer came from a cassette replay server (footers say so)

    def _chunks(self, body: dict[str, Any], response: Any, started: float) -> Iterator[dict[str, Any]]:
        """The response's chunks, through the session's recorder when one is running."""
        chunks = iter_chunks(response)
        if self.recorder is None:
            return chunks
        return self.recorder.stream(body, response.headers, chunks, started, self.settings.all_secrets())

    def stream(
        self,
        body: dict[str, Any],
        on_chunk: Callable[[dict[str, Any]], None],
        on_retry: RetryHook | None = None,
        messages_json: Sequence[bytes] | None = None,
    ) -> None:
        """Send `body` and feed every chunk to `on_chunk` until the stream ends.

        `messages_json`: `body["messages"]` already encoded (see `wire.encode_body`). Raises our own error types. KeyboardInterrupt
        propagates after the HTTP stream is closed.
        """
        import openai

        from .wire import encode_body

        client = _make_client(self.settings)
        # Sent as bytes through the SDK's own `post` (auth, headers, status errors), so
        # neither the SDK's typed arguments (`maybe_transform` walks every message) nor
        # its JSON encoder re-encode the whole history on each step of a tool loop.
        content = encode_body(body, messages_json)
        attempt = 0
        while True:
            shown = False
            request_id: str | None = None
            started = time.monotonic()
            advise_model = True
            try:
                with _post_stream(client, content) as response, \
                        closing(self._chunks(body, response, started)) as chunks:
                    request_id = request_id_of(response.headers)
                    if request_id:
                        self.request_ids.append(request_id)
                    self.replayed = self.replayed or is_replay(response.headers)
                    try:
                        for chunk in chunks:
                            if "error" in chunk and not chunk.get("choices"):
                                raise stream_error(chunk.get("error"))
                            shown = shown or _has_text(chunk)
                            on_chunk(chunk)
                    except MalformedStream as exc:
                        exc.request_id = request_id  # what support asks for, where the server sent it
                        raise
                    except (KimiError, KeyboardInterrupt, StreamError):
                        raise
                    except Exception as exc:  # noqa: BLE001 - httpx read errors, bad JSON: stream broke
                        raise StreamEndedEarly(
                            f"The stream ended early ({type(exc).__name__}: "
                            f"{redact_all(str(exc), self.settings.all_secrets())})."
                        ) from None
                return
            except openai.APIStatusError as exc:
                error: KimiError = map_status_error(exc, self.settings)
                hint = _retry_hint(exc)
                if self.recorder is not None:
                    self.recorder.error(body, exc.status_code, exc.response.headers, _json_or_text(exc.response),
                                        self.settings.all_secrets())
                # A replay server's 404 is about the cassette, not the model: no model advice.
                advise_model = not is_replay(exc.response.headers)
            except openai.APIConnectionError as exc:
                if shown:
                    raise StreamEndedEarly("The connection dropped mid-stream.") from None
                reason = "timed out" if isinstance(exc, openai.APITimeoutError) else "connection failed"
                error = ConnectError(f"Could not reach {self.settings.base_url}: {reason}.")
                hint = None
            except StreamError as exc:
                error = error_for(0, exc.type, exc.message, self.settings, request_id)
                if shown and error.retryable:
                    raise StreamEndedEarly(f"The server reported an error mid-stream: {error}") from None
                hint = _retry_hint(error)
            if isinstance(error, ModelNotFoundError) and advise_model:
                raise self._explain_missing_model(error)
            if not error.retryable or attempt >= self.policy.max_retries:
                if error.retryable:
                    error.args = (
                        f"{error} (gave up after {attempt} retries; `Kimi.max_retries` is {self.policy.max_retries})",
                    )
                raise error
            delay = self.policy.delay(attempt, hint)
            attempt += 1
            if on_retry:
                on_retry(delay, _reason(error))
            time.sleep(delay)

    def _explain_missing_model(self, error: ModelNotFoundError) -> ModelNotFoundError:
        from .catalog import RETIRED, live_thinking_models, pick_successor

        model, url = self.settings.model, self.settings.base_url
        listing = self._listing() if self._listing is not None else self.model_listing()
        hint = f"The model '{model}' is not available at {url}."
        retired = RETIRED.get(model)
        if retired is not None:
            now = pick_successor(model, listing) or retired.successor
            hint += f" Moonshot retired it on {retired.date}; use {now} instead."
        if listing:
            thinking = live_thinking_models(listing)
            if thinking:
                hint += f" Thinking models this server lists: {', '.join(sorted(thinking))}."
            hint += f" All models: {', '.join(sorted(listing))}."
        hint += ' Pick one with `%%kimi -m NAME` or `%config Kimi.model = "NAME"`.'
        err = ModelNotFoundError(error.status, error.type, error.server_message, hint)
        err.request_id = error.request_id
        return err

    def estimate_tokens(self, messages: list[dict[str, Any]], messages_json: Sequence[bytes] | None = None) -> int | None:
        """Moonshot's own count for a conversation, or None where the endpoint doesn't exist.

        `messages_json`: the messages already encoded (`Conversation.encoded()`).
        """
        from .wire import encode_body

        client = _make_client(self.settings)
        content = encode_body({"model": self.settings.model, "messages": messages}, messages_json)
        try:
            reply = client.post(
                "/tokenizers/estimate-token-count", cast_to=object, content=content,
                options={"headers": _json_headers(content)},
            )
            return int(reply["data"]["total_tokens"])
        except Exception:  # noqa: BLE001 - vLLM and others have no such endpoint
            return None

    def model_listing(self) -> dict[str, dict[str, Any]] | None:
        """`GET /v1/models` as {id: entry}; None where the server has none (it is only advice).

        A short timeout: a server that can't list its models in a few seconds
        shouldn't hold up the request itself.
        """
        client = _make_client(self.settings)
        try:
            reply, headers = _get_json(client.with_options(timeout=min(self.settings.timeout, 10.0)), "/models")
            if self.recorder is not None:
                self.recorder.listing(reply, self.settings.all_secrets(), headers)
            return {str(m["id"]): m for m in reply.get("data", []) if isinstance(m, dict) and "id" in m}
        except Exception:  # noqa: BLE001 - a listing is a nicety: the catalog decides without it
            return None


# A JSON answer (the model listing) is read up to this size: a server can't fill the kernel's memory.
MAX_JSON_BYTES = 16 * 1024 * 1024


def _get_json(client: Any, path: str) -> tuple[Any, Any]:
    """GET `path`: (its decoded JSON, the response headers), reading at most
    `MAX_JSON_BYTES` of it (ValueError past that)."""
    import openai

    stream = client.get(path, cast_to=object, stream=True, stream_cls=openai.Stream[object])
    body = bytearray()
    try:
        for part in stream.response.iter_bytes():
            body += part
            if len(body) > MAX_JSON_BYTES:
                raise ValueError(f"{path}: the answer is larger than {MAX_JSON_BYTES // 2**20} MB")
    finally:
        stream.response.close()
    return json.loads(body), stream.response.headers


@contextmanager
def _post_stream(client: Any, content: tuple[bytes, ...]) -> Iterator[Any]:
    """POST a chat request body and yield the raw streaming HTTP response, closed after."""
    import openai

    stream = client.post(
        "/chat/completions", cast_to=object, content=content, options={"headers": _json_headers(content)},
        stream=True, stream_cls=openai.Stream[object],
    )
    try:
        yield stream.response
    finally:
        stream.response.close()


def _json_headers(content: tuple[bytes, ...]) -> dict[str, str]:
    # A body given in parts would go out with chunked transfer encoding unless its
    # length is stated; a Content-Length is what every server takes.
    return {"Content-Type": "application/json", "Content-Length": str(sum(map(len, content)))}


def _json_or_text(response: Any) -> Any:
    """An error answer's body for the cassette: its JSON, or its text."""
    try:
        return response.json()
    except Exception:  # noqa: BLE001 - not JSON (a proxy's HTML page): keep the text
        return response.text


def _reason(error: KimiError) -> str:
    """A few words for the "retrying in N s (…)" line."""
    if isinstance(error, RateLimitError):
        return "engine overloaded" if error.type == "engine_overloaded_error" else "rate limit"
    if isinstance(error, APIError):
        return f"server error {error.status}"
    return "connection failed"

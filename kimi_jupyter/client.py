"""HTTP to the model: the openai SDK with `base_url`, error mapping and the retry policy.

The SDK does the request, auth and status handling; we read the SSE body
ourselves as plain JSON dicts (`with_streaming_response`), which keeps the hot
path free of per-chunk pydantic models and lets `stream.py` stay pure.

Retries live here and only here. A request is retried only before its first
byte arrives: once text has been shown, restarting silently would replace what
the user saw.
"""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from .config import Settings, is_moonshot
from .errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConnectError,
    ContextOverflowError,
    KimiError,
    ModelNotFoundError,
    PermissionDeniedError,
    QuotaError,
    RateLimitError,
    ServerError,
    StreamEndedEarly,
    redact,
)

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


def _error_fields(err: Any) -> tuple[str, str]:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return str(inner.get("type") or inner.get("code") or ""), str(inner.get("message") or "")
        return "", str(inner)
    return "", getattr(err, "message", "") or str(err)


def map_status_error(err: Any, settings: Settings) -> APIError:
    """Turn an openai APIStatusError into one of ours with a what-to-do hint."""
    status = int(getattr(err, "status_code", 0) or 0)
    type_, message = _error_fields(err)
    message = redact(message, settings.api_key)
    if status == 429 and type_ == "exceeded_current_quota_error":
        return QuotaError(status, type_, message, "Your account is out of quota: check your plan and billing.")
    if status == 429:
        return RateLimitError(status, type_, message)
    if status >= 500:
        return ServerError(status, type_, message)
    if status == 401:
        return AuthenticationError(
            status, type_, message, "Check your API key: `%kimi login`, or MOONSHOT_API_KEY / KIMI_API_KEY."
        )
    if status == 403:
        return PermissionDeniedError(status, type_, message, "This key may not use this model or endpoint.")
    if status == 404:
        return ModelNotFoundError(status, type_, message)
    if "token limit" in message or "context length" in message.lower():
        return ContextOverflowError(status, type_, message)
    if type_ == "content_filter":
        return BadRequestError(status, type_, message, "Rephrase the prompt and try again.")
    return BadRequestError(status, type_, message)


def _iter_sse(response: Any) -> Iterator[dict[str, Any]]:
    """Decode `data:` lines; stop at [DONE]. Mid-stream error events become APIError."""
    for line in response.iter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        chunk = json.loads(data)
        if "error" in chunk and not chunk.get("choices"):
            err = chunk["error"] or {}
            raise ServerError(500, str(err.get("type", "")), str(err.get("message", "")))
        yield chunk


class KimiClient:
    """Streams one request into a callback, with the retry policy applied."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.policy = RetryPolicy(max_retries=settings.max_retries)

    def body(self, messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": messages,
            "temperature": self.settings.temperature,
            "max_tokens": self.settings.max_tokens,
            "stream": True,
        }
        if not is_moonshot(self.settings.base_url):
            # vLLM/SGLang only report usage when asked; Moonshot puts it in the choice anyway.
            body["stream_options"] = {"include_usage": True}
        body.update({k: v for k, v in extra.items() if v is not None})
        return body

    def stream(
        self,
        body: dict[str, Any],
        on_chunk: Callable[[dict[str, Any]], None],
        on_retry: RetryHook | None = None,
    ) -> None:
        """Send `body` and feed every chunk to `on_chunk` until the stream ends.

        Raises our own error types. KeyboardInterrupt propagates after the HTTP
        stream is closed (the `with` block closes it).
        """
        import openai

        client = _make_client(self.settings)
        # Everything but the model goes in `extra_body`, which the SDK sends as
        # is. Passed as typed arguments, the SDK walks the whole message list on
        # every request (`maybe_transform`): ~0.3 s a request by step 300 of a
        # tool loop, quadratic over the loop.
        payload = dict(body)
        payload.update(payload.pop("extra_body", None) or {})
        model = payload.pop("model")
        attempt = 0
        while True:
            received = 0
            try:
                with client.chat.completions.with_streaming_response.create(
                    model=model, messages=[], stream=True, extra_body=payload
                ) as response:
                    try:
                        for chunk in _iter_sse(response):
                            received += 1
                            on_chunk(chunk)
                    except (KimiError, KeyboardInterrupt):
                        raise
                    except Exception as exc:  # noqa: BLE001 - httpx read errors, bad JSON: stream broke
                        raise StreamEndedEarly(
                            f"The stream ended early ({type(exc).__name__}: {redact(str(exc), self.settings.api_key)})."
                        ) from None
                return
            except openai.APIStatusError as exc:
                error: KimiError = map_status_error(exc, self.settings)
                hint = _retry_hint(exc)
            except openai.APIConnectionError as exc:
                if received:
                    raise StreamEndedEarly("The connection dropped mid-stream.") from None
                reason = "timed out" if isinstance(exc, openai.APITimeoutError) else "connection failed"
                error = ConnectError(f"Could not reach {self.settings.base_url}: {reason}.")
                hint = None
            except ServerError as exc:
                if received:
                    raise StreamEndedEarly(f"The server reported an error mid-stream: {exc}") from None
                error, hint = exc, None
            if isinstance(error, ModelNotFoundError):
                raise self._explain_missing_model(error)
            if not error.retryable or attempt >= self.policy.max_retries:
                if error.retryable:
                    error.args = (f"{error} (gave up after {attempt} retries; `Kimi.max_retries` is {self.policy.max_retries})",)
                raise error
            delay = self.policy.delay(attempt, hint)
            attempt += 1
            if on_retry:
                on_retry(delay, _reason(error))
            time.sleep(delay)

    def _explain_missing_model(self, error: ModelNotFoundError) -> ModelNotFoundError:
        available = self.list_models()
        hint = f"The model '{self.settings.model}' is not available at {self.settings.base_url}."
        if available:
            hint += f" Available models: {', '.join(available)}."
        hint += " Pick one with `%%kimi -m NAME` or `%config Kimi.model = \"NAME\"`."
        return ModelNotFoundError(error.status, error.type, error.server_message, hint)

    def estimate_tokens(self, messages: list[dict[str, Any]]) -> int | None:
        """Moonshot's own count for a conversation, or None where the endpoint doesn't exist."""
        client = _make_client(self.settings)
        try:
            reply = client.post(
                "/tokenizers/estimate-token-count",
                body={"model": self.settings.model, "messages": messages},
                cast_to=object,
            )
            return int(reply["data"]["total_tokens"])
        except Exception:  # noqa: BLE001 - vLLM and others have no such endpoint
            return None

    def list_models(self) -> list[str]:
        client = _make_client(self.settings)
        try:
            return sorted(m.id for m in client.models.list().data)
        except Exception:  # noqa: BLE001 - a listing is a nicety inside an error message
            return []


def _reason(error: KimiError) -> str:
    """A few words for the "retrying in N s (…)" line."""
    if isinstance(error, RateLimitError):
        return "engine overloaded" if error.type == "engine_overloaded_error" else "rate limit"
    if isinstance(error, APIError):
        return f"server error {error.status}"
    return "connection failed"

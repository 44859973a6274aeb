"""A server's refusal as one of the project's errors, with what the user can do about it.

Two ways in, one mapping: an HTTP error status (the SDK's `APIStatusError`, or a Files/Batches
call) and an error event inside a 200 stream, whose type alone says what it is. Everything a
server sends here is untrusted text: the message is redacted and capped, and a request id is
taken only when it looks like one.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ContextOverflowError,
    ModelNotFoundError,
    PermissionDeniedError,
    QuotaError,
    RateLimitError,
    ServerError,
    redact_all,
)

if TYPE_CHECKING:
    from .settings import Settings

# What a request id looks like: server text goes into messages, footers and cassettes, so
# anything else (spaces, markup, control characters) is not taken as one.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# In-stream error events carry only a type; these are the statuses the same errors have over HTTP.
_STATUS_OF_TYPE = {
    "exceeded_current_quota_error": 429,
    "rate_limit_reached_error": 429,
    "engine_overloaded_error": 429,
    "invalid_authentication_error": 401,
    "incorrect_api_key_error": 401,
    "permission_denied_error": 403,
    "resource_not_found_error": 404,
    "invalid_request_error": 400,
    "content_filter": 400,
    "server_error": 500,
}


def _error_fields(err: Any) -> tuple[str, str]:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return str(inner.get("type") or inner.get("code") or ""), str(inner.get("message") or "")
        return "", str(inner)
    return "", getattr(err, "message", "") or str(err)


def _no_key_hint(settings: Settings) -> str:
    return (
        f"kimi-jupyter sent no key to {settings.base_url}: keys from MOONSHOT_API_KEY, KIMI_API_KEY and a "
        "plain `%kimi login` go only to Moonshot's API. To give this server a key: "
        f"`%kimi login --base-url {settings.base_url}`, or `Kimi.api_key` together with `Kimi.base_url`, "
        "or KIMI_API_KEY together with KIMI_BASE_URL."
    )


def error_for(status: int, type_: str, message: str, settings: Settings, request_id: str | None = None) -> APIError:
    """One of our errors, with a what-to-do hint, for an HTTP status or an in-stream error type."""
    message = _capped_message(redact_all(message, settings.all_secrets()))
    if not status:
        status = _STATUS_OF_TYPE.get(type_, 500)
    err: APIError
    if status == 429 and type_ == "exceeded_current_quota_error":
        err = QuotaError(status, type_, message, "Your account is out of quota: check your plan and billing.")
    elif status == 402:
        # Payment Required: a budget or balance is used up (the classroom gateway's per-student
        # budget, a prepaid proxy). The server's message says which; retrying cannot help, and
        # `map` stops (FATAL) rather than sending every remaining item into the same refusal.
        err = QuotaError(status, type_, message)
    elif status == 429:
        err = RateLimitError(status, type_, message)
    elif status >= 500:
        err = ServerError(status, type_, message)
    elif status == 401:
        hint = (
            _no_key_hint(settings)
            if settings.api_key is None
            else "Check your API key: `%kimi login`, or MOONSHOT_API_KEY / KIMI_API_KEY. "
            "Keys of platform.moonshot.ai and platform.moonshot.cn are not interchangeable."
        )
        err = AuthenticationError(status, type_, message, hint)
    elif status == 403:
        err = PermissionDeniedError(status, type_, message, "This key may not use this model or endpoint.")
    elif status == 404:
        err = ModelNotFoundError(status, type_, message)
    elif "token limit" in message or "context length" in message.lower():
        err = ContextOverflowError(status, type_, message)
    elif type_ == "content_filter":
        err = BadRequestError(status, type_, message, "Rephrase the prompt and try again.")
    else:
        err = BadRequestError(status, type_, message)
    err.request_id = request_id
    return err


# A server's error message is shown as one message: a page of HTML or megabytes of text isn't one.
MAX_SERVER_MESSAGE = 1000


def _capped_message(message: str) -> str:
    if len(message) <= MAX_SERVER_MESSAGE:
        return message
    return f"{message[:MAX_SERVER_MESSAGE]}… ({len(message) - MAX_SERVER_MESSAGE:,} more characters cut)"


def map_status_error(err: Any, settings: Settings) -> APIError:
    """Turn an openai APIStatusError into one of ours."""
    status = int(getattr(err, "status_code", 0) or 0)
    type_, message = _error_fields(err)
    response = getattr(err, "response", None)
    request_id = request_id_of(response.headers) if response is not None else None
    return error_for(status, type_, message, settings, request_id)


def request_id_of(headers: Any) -> str | None:
    """Moonshot's `Msh-Request-Id` (what its support asks for), or the trace ids other gateways send.

    Server text goes into error messages, footers and metadata: only a value that
    looks like an id is taken (no spaces, markup or control characters).
    """
    for name in ("msh-request-id", "x-msh-request-id", "x-trace-id"):
        value = headers.get(name)
        if value and REQUEST_ID.fullmatch(str(value)):
            return str(value)
    return None


class StreamError(Exception):
    """An error event inside a 200 stream (`data: {"error": …}`)."""

    def __init__(self, type_: str, message: str) -> None:
        self.type, self.message = type_, message


def stream_error(err: Any) -> StreamError:
    """The error event's type and message; a bare string is the message (some gateways send that)."""
    if isinstance(err, dict):
        type_, message = err.get("type") or err.get("code") or "", err.get("message") or ""
        return StreamError(type_ if isinstance(type_, str) else "", message if isinstance(message, str) else str(message))
    return StreamError("", err if isinstance(err, str) else "")

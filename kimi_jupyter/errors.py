"""The project's own exception types.

Every error a user can meet carries one short message that says what the
server said and what to do about it, so the magic can show it without a
traceback through openai or httpx internals.
"""

from __future__ import annotations

from typing import Any, Iterable


class KimiError(Exception):
    """Base class. `str(err)` is the complete user-facing message.

    `result` is the cell's partial Result when the error ended a cell, so nothing
    that was shown is lost to a script (`except KimiError as e: e.result`).
    """

    retryable = False
    result: Any = None


class MissingKeyError(KimiError):
    def __init__(self) -> None:
        super().__init__(
            "No Moonshot API key. Run `%kimi login`, or set the MOONSHOT_API_KEY "
            "(or KIMI_API_KEY) environment variable before starting Jupyter, "
            "or set `c.Kimi.api_key` in ipython_config.py. "
            "(Don't use `%env` for keys: it echoes them into the saved notebook.)"
        )


class APIError(KimiError):
    """An HTTP error answer from the server."""

    def __init__(self, status: int, type_: str, server_message: str, hint: str = "") -> None:
        self.status = status
        self.type = type_
        self.server_message = server_message
        self.hint = hint
        self._request_id: str | None = None
        super().__init__(self._text())

    def _text(self) -> str:
        text = f"Kimi API error {self.status}"
        if self.type:
            text += f" ({self.type})"
        text += f": {self.server_message}" if self.server_message else ""
        if self._request_id:
            # What Moonshot support asks for when a request went wrong.
            text += f" [Msh-Request-Id {self._request_id}]"
        if self.hint:
            text += f"\n{self.hint}"
        return text

    @property
    def request_id(self) -> str | None:
        return self._request_id

    @request_id.setter
    def request_id(self, value: str | None) -> None:
        self._request_id = value
        self.args = (self._text(),)


class RateLimitError(APIError):
    retryable = True


class ServerError(APIError):
    retryable = True


class QuotaError(APIError):
    pass


class AuthenticationError(APIError):
    pass


class PermissionDeniedError(APIError):
    pass


class BadRequestError(APIError):
    pass


class ContextOverflowError(BadRequestError):
    pass


class ModelNotFoundError(APIError):
    pass


class ConnectError(KimiError):
    """Could not connect, or the connection broke before the first byte."""

    retryable = True


class StreamEndedEarly(KimiError):
    """The stream stopped mid-way. What had arrived is kept and shown."""


class PromptTooLarge(KimiError):
    pass


class Interrupted(KimiError):
    """The user pressed ■ (kernel interrupt). What was shown is kept."""


class Busy(KimiError):
    def __init__(self) -> None:
        super().__init__(
            "Kimi is already replying in this kernel (in the chat panel or another cell). "
            "Wait for that reply to finish, then run this again."
        )


REDACTED = "[redacted]"


def redact(text: str, secret: str | None) -> str:
    """Remove a secret from text that may end up on screen or in a log."""
    if secret and len(secret) >= 4 and secret in text:
        text = text.replace(secret, REDACTED)
    return text


def redact_all(text: str, secrets: Iterable[str]) -> str:
    """`redact` for each secret, longest first (so a key containing another is masked whole)."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = redact(text, secret)
    return text


def mask(secret: str | None) -> str:
    if not secret:
        return "(not set)"
    return f"{secret[:3]}…{secret[-2:]}" if len(secret) > 12 else "…"

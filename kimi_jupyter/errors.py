"""The project's own exception types.

Every error a user can meet carries one short message that says what the
server said and what to do about it, so the magic can show it without a
traceback through openai or httpx internals.
"""

from __future__ import annotations


class KimiError(Exception):
    """Base class. `str(err)` is the complete user-facing message."""

    retryable = False


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
        text = f"Kimi API error {status}"
        if type_:
            text += f" ({type_})"
        text += f": {server_message}" if server_message else ""
        if hint:
            text += f"\n{hint}"
        super().__init__(text)


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


class Busy(KimiError):
    def __init__(self) -> None:
        super().__init__(
            "Kimi is already replying in this kernel (in the chat panel or another cell). "
            "Wait for that reply to finish, then run this again."
        )


def redact(text: str, secret: str | None) -> str:
    """Remove a secret from text that may end up on screen or in a log."""
    if secret and len(secret) >= 4 and secret in text:
        text = text.replace(secret, mask(secret))
    return text


def mask(secret: str | None) -> str:
    if not secret:
        return "(not set)"
    return f"{secret[:3]}…{secret[-2:]}" if len(secret) > 12 else "…"

"""The project's own exception types.

Every error a user can meet carries one short message that says what the
server said and what to do about it, so the magic can show it without a
traceback through openai or httpx internals.
"""

from __future__ import annotations

from typing import Any, Iterable

from .redact import REDACTED, redact_text  # noqa: F401  (REDACTED: re-exported)
from .sanitize import plain


class KimiError(Exception):
    """Base class. `str(err)` is the complete user-facing message.

    `result` is the cell's partial Result when the error ended a cell, so nothing
    that was shown is lost to a script (`except KimiError as e: e.result`).
    """

    retryable = False
    result: Any = None

    def __str__(self) -> str:
        # The message quotes server text (errors, `Msh-Request-Id`): no escapes reach a
        # terminal, wherever it is printed (the error output's `evalue` is this text too).
        return plain(super().__str__())

    def _render_traceback_(self) -> list[str]:
        """What IPython shows for this error instead of a traceback: ``Name: message``.

        IPython's public hook for exceptions that format themselves (`showtraceback`
        calls it, in terminal IPython and in ipykernel alike). Unlike a custom exception
        handler (one per shell), another extension cannot displace it.
        The saved error output keeps `ename` (the class name) and `evalue` (`str(self)`).
        """
        return [f"{type(self).__name__}: {self}"]


class OptionError(ValueError):
    """A request the user must change before it can be sent: a bad option, or a setting the
    model refuses (SPEC §7), caught before anything is sent. One line, pointing to the help.

    Not a `KimiError` (nothing failed; there is no partial result). `ipython/usage.py` shows
    it as IPython's `UsageError`, a message with no traceback; a plain script sees a ValueError.
    """


class MissingKeyError(KimiError):
    def __init__(self) -> None:
        super().__init__(
            "No Moonshot API key. Run `%kimi login`, or set the MOONSHOT_API_KEY "
            "(or KIMI_API_KEY) environment variable before starting Jupyter, "
            "or set `c.Kimi.api_key` in ipython_config.py. "
            "(Don't use `%env` for keys: it echoes them into the saved notebook.)"
        )


class _QuotesRequestId:
    """An error whose message quotes the server's `Msh-Request-Id` (what Moonshot support
    asks for), which is often learned after the error is made: setting it rewrites the message."""

    _request_id: str | None

    def _text(self) -> str:
        raise NotImplementedError

    @property
    def request_id(self) -> str | None:
        return self._request_id

    @request_id.setter
    def request_id(self, value: str | None) -> None:
        self._request_id = value
        self.args = (self._text(),)


class APIError(_QuotesRequestId, KimiError):
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


class MalformedStream(_QuotesRequestId, StreamEndedEarly):
    """The server sent something no chat stream holds: a chunk whose fields have the
    wrong types, a payload that is not a JSON object, an event too large to keep.

    The reply stops there, as one line (never a traceback); what arrived before is
    kept. `what` says what was wrong; the request id is added where it is known.
    """

    def __init__(self, what: str, request_id: str | None = None) -> None:
        self.what = what
        self._request_id = request_id
        super().__init__(self._text())

    def _text(self) -> str:
        text = f"The server sent {self.what}. The reply stopped there; what arrived before it is kept."
        if self._request_id:
            text += f" [Msh-Request-Id {self._request_id}]"
        return text



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


def redact(text: str, secret: str | None) -> str:
    """Remove a secret (and its obvious encodings, see `kimi_jupyter.core.redact`) from text that may be shown or sent."""
    return redact_all(text, (secret,) if secret else ())


def redact_all(text: str, secrets: Iterable[str]) -> str:
    """Every secret and its variants masked: the one rule of `kimi_jupyter.core.redact` (longest first)."""
    return redact_text(text, secrets)


def mask(secret: str | None) -> str:
    if not secret:
        return "(not set)"
    return f"{secret[:3]}…{secret[-2:]}" if len(secret) > 12 else "…"

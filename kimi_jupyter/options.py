"""`Options`: what one request asks for, validated once.

`%%kimi` (from its parsed arguments), `kimi_jupyter.chat(**options)` and the
chat panel all build an `Options` and hand it to `api.run`, so an option means
the same thing everywhere and is checked in one place. A mistake is a one-line
`UsageError` that points to `%%kimi?`, never a traceback.

What the *model* accepts (temperature, effort, thinking) depends on the model
and the server, so that is checked later, once the model is resolved
(`wire.check`); here only the shape of each value is checked.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from IPython.core.error import UsageError

FORMATS = ("markdown", "code", "json", "text")
SEE_HELP = "See `%%kimi?` for the options."


def usage_error(message: str) -> UsageError:
    """A user's mistake: one line, and where to read more."""
    return UsageError(f"{message} {SEE_HELP}")


@dataclass(frozen=True)
class Options:
    """One request's options. Field names are `chat()`'s keyword arguments.

    Prompt interpolation (`{name}`, `--no-interpolate`) is the magic's own
    business: from Python, an f-string does that job.

    None means "not given here": the session's settings decide (`Kimi.*`, the
    environment, the defaults; SPEC §1).
    """

    model: str | None = None
    new: bool = False  # start a new conversation
    yes: bool | None = None  # run model-written code without asking (None: Kimi.auto_run)
    tools: bool = True  # offer tools (False: plain chat)
    max_steps: int | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    thinking: bool | None = None  # False: --no-thinking
    effort: str | None = None
    system: str | None = None
    format: str = "markdown"  # markdown | code | json | text
    web_search: bool = False
    base_url: str | None = None
    max_cost: float | None = None  # USD for this cell's loop
    out: str | None = None  # store the Result in the user namespace under this name
    tutor: bool | None = None  # hints, not answers (None: Kimi.tutor)

    def __post_init__(self) -> None:
        fmt = (self.format or "markdown").lower()
        if fmt not in FORMATS:
            raise usage_error(f"-f/--format must be one of {', '.join(FORMATS)} (got {self.format!r}).")
        object.__setattr__(self, "format", fmt)
        if self.effort is not None:
            object.__setattr__(self, "effort", self.effort.strip().lower() or None)
        _at_least("--max-steps", self.max_steps, 0)
        _at_least("--max-tokens", self.max_tokens, 1)
        if self.max_cost is not None and not self.max_cost > 0:
            raise usage_error(f"--max-cost must be a positive number of US dollars (got {self.max_cost}).")
        if self.temperature is not None and not 0.0 <= self.temperature <= 2.0:
            raise usage_error(f"-t/--temperature must be between 0 and 2 (got {self.temperature}).")
        if self.out is not None and not self.out.isidentifier():
            raise usage_error(f"-o/--out needs a variable name (got {self.out!r}).")
        if self.base_url is not None:
            parts = urlsplit(self.base_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise usage_error(f"--base-url needs an http(s) URL, like http://localhost:8000/v1 (got {self.base_url!r}).")

    @classmethod
    def create(cls, **given: Any) -> "Options":
        """`Options(**given)`, with an unknown name as a UsageError that lists the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(given) - known)
        if unknown:
            raise usage_error(f"Unknown option {', '.join(unknown)}; options are: {', '.join(sorted(known))}.")
        return cls(**given)

    @classmethod
    def from_magic(cls, args: Any) -> "Options":
        """From `%%kimi`'s parsed arguments (`magic_arguments`)."""
        return cls(
            model=args.model,
            new=args.new,
            yes=True if args.yes else None,
            tools=not args.no_tools,
            max_steps=args.max_steps,
            max_tokens=args.max_tokens,
            temperature=args.temperature,
            thinking=False if args.no_thinking else None,
            effort=args.effort,
            system=args.system,
            format=args.format,
            web_search=args.web_search,
            base_url=args.base_url,
            max_cost=args.max_cost,
            out=args.out,
            tutor=True if getattr(args, "tutor", False) else None,
        )

    def settings_overrides(self) -> dict[str, Any]:
        """The options that override a session setting (`Settings` fields), where given."""
        return {
            "base_url": self.base_url,
            "model": self.model,
            "auto_run": self.yes,
            "max_steps": self.max_steps,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "thinking": self.thinking,
            "effort": self.effort,
            "max_cost_usd": self.max_cost,
            "tutor": self.tutor,
        }


def _at_least(name: str, value: int | None, minimum: int) -> None:
    if value is not None and value < minimum:
        raise usage_error(f"{name} must be at least {minimum} (got {value}).")

"""`Options`: what one request asks for, validated once.

`%%kimi` (from its parsed arguments), `kimi_jupyter.chat(**options)` and the
chat panel all build an `Options` and hand it to `api.run`, so an option means
the same thing everywhere and is checked in one place. A mistake is a one-line
`OptionError` that points to `%%kimi?`, never a traceback.

An option that overrides a setting is checked by that setting's own `Kimi` trait
validator (`settings.checked`), so a per-cell `--max-steps -1` and a session-wide
`%config Kimi.max_steps = -1` are refused by one rule, named for what the user typed.
What the *model* accepts (temperature, effort, thinking) depends on the model
and the server, so that is checked later, once the model is resolved (`wire.check`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from .errors import OptionError

FORMATS = ("markdown", "code", "json", "text")
# Each option that overrides a session setting: (how the user wrote it, the Kimi trait /
# Settings field that owns its rules). A new per-cell setting is its trait plus a line here.
SETTINGS: dict[str, tuple[str, str]] = {
    "model": ("-m/--model", "model"),
    "yes": ("-y/--yes", "auto_run"),
    "max_steps": ("--max-steps", "max_steps"),
    "max_tokens": ("--max-tokens", "max_tokens"),
    "temperature": ("-t/--temperature", "temperature"),
    "thinking": ("--no-thinking", "thinking"),
    "effort": ("--effort", "effort"),
    "base_url": ("--base-url", "base_url"),
    "max_cost": ("--max-cost", "max_cost_usd"),
    "tutor": ("--tutor", "tutor"),
}
SEE_HELP = "See `%%kimi?` for the options."


def usage_error(message: str) -> OptionError:
    """A user's mistake: one line, and where to read more."""
    return OptionError(f"{message} {SEE_HELP}")


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
        if self.out is not None and not self.out.isidentifier():
            raise usage_error(f"-o/--out needs a variable name (got {self.out!r}).")
        from traitlets import TraitError

        from .settings import checked

        for name, (flag, trait) in SETTINGS.items():
            value = getattr(self, name)
            if value is None:
                continue
            try:
                object.__setattr__(self, name, checked(trait, value))
            except TraitError as exc:  # the trait's own message, named as the user wrote it
                text = str(exc)
                raise usage_error(text.replace(f"Kimi.{trait}", flag) if f"Kimi.{trait}" in text
                                  else f"{flag}: {text}") from None

    @classmethod
    def create(cls, **given: Any) -> "Options":
        """`Options(**given)`, with an unknown name as an OptionError that lists the known ones."""
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
        """The options that override a session setting, by `Settings` field (None: not given)."""
        return {trait: getattr(self, name) for name, (_, trait) in SETTINGS.items()}

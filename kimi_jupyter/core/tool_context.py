"""The per-cell state a tool call runs with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Literal, Protocol

if TYPE_CHECKING:
    from .tool_output import ToolOutput

DEFAULT_MAX_OUTPUT = 8000
# About what jupyter_server lets through in one go before it starts dropping stream
# data (1 MB/s averaged over 3 s); beyond this the user would see "IOPub data rate
# exceeded" instead of output, so the echo stops and a note says how much was held back.
DEFAULT_MAX_ECHO = 1_000_000
# Seconds one call of model code may run (`Kimi.tool_timeout`).
DEFAULT_TOOL_TIMEOUT = 600.0

Scope = Literal["once", "cell", "session"]


@dataclass(frozen=True)
class Decision:
    """The user's answer to one approval question (asked by ``approval.approve``)."""

    run: bool
    scope: Scope = "once"  # with run: this call, every call in the cell, or the session
    feedback: str = ""  # a refusal's own words, passed to the model as the user's instruction
    reason: str = ""  # why nothing was asked (e.g. auto-run is off in the chat panel)

    @classmethod
    def refuse(cls, reason: str) -> "Decision":
        """A refusal decided by the caller, not typed by the user."""
        return cls(run=False, reason=reason)


@dataclass
class ToolContext:
    """Settings and shared state for the tool calls of one ``%%kimi`` cell.

    The agent creates one per cell and passes the same object to every call, because the
    tools mutate it: answering "all" sets ``auto_run``, and a missing stdin is remembered
    in ``no_stdin`` so the user is told once and the model is not asked again.
    """

    shell: Any | None = None
    """IPython shell to run code in; None means ``get_ipython()``, or a new
    ``InteractiveShell.instance()`` when running from a plain script."""
    auto_run: bool = False
    """Run model code without asking (``-y`` / ``Kimi.auto_run``)."""
    max_output: int = DEFAULT_MAX_OUTPUT
    """Cap on the text returned to the model (``Kimi.max_tool_output``)."""
    ask: "Callable[[str], str | Decision] | None" = None
    """Asks for approval: returns the user's answer (parsed by ``approval.parse_answer``)
    or a ready ``Decision``; None means ``builtins.input``."""
    allow_session: Callable[[], None] | None = None
    """Called when the user answers ``s``: the session runs tool calls without asking from now on."""
    show_code: Callable[[str], None] | None = None
    """Called with the code before approval and before it runs, so the view can show it."""
    max_echo: int | None = DEFAULT_MAX_ECHO
    """Characters of stdout/stderr echoed to the user per call; None means no limit."""
    secrets: tuple[str, ...] = ()
    """Keys and `Kimi.secrets`, redacted from what model code prints, before it is shown or sent."""
    timeout: float | None = DEFAULT_TOOL_TIMEOUT
    """Seconds one call of model code (or a read-only kernel tool) may run before it is
    stopped (`Kimi.tool_timeout`); None or 0 means no limit."""
    no_stdin: bool = False
    """Set by the python tool once it finds there is no stdin to ask for approval."""
    providers: tuple[Any, ...] = ()
    """More tools, from outside the registry (MCP servers): each has ``schemas(ctx)``,
    ``owns(name)`` and ``call(name, arguments, ctx) -> ToolOutput``."""
    notice: Callable[[str], None] | None = None
    """Shows the user a note that stays in the cell (a tool's server failed); None: stderr."""
    trust_tool_output: bool = False
    """`Kimi.trust_tool_output`: `auto_run` (and `a`/`s`) also cover code written after untrusted text."""
    untrusted: str | None = None
    """What untrusted text entered this cell's conversation most recently ("a `$web_search`
    result", "the file data.csv"), or None. While set, model code (the python tool and MCP
    tools that are not read-only) is asked about again, naming it (`approval.approve`)."""
    untrusted_allowed: bool = False
    """The user answered `a` or `s` to a question that named `untrusted`: the rest of the
    cell runs without asking again, until new untrusted text arrives."""

    def read_untrusted(self, source: str) -> None:
        """Note that untrusted text (named by `source`) just entered the conversation."""
        self.untrusted = source
        self.untrusted_allowed = False


class Tools(Protocol):
    """What the agent needs from a set of tools (`tools.ToolRegistry` is the one in use).

    A protocol, so the agent loop in `core/` never imports the tools that run code in the
    user's kernel: it only asks for their schemas and calls them by name.
    """

    def schemas(self, *, python: bool = True, web_search: bool = False,
                ctx: ToolContext | None = None) -> list[dict[str, Any]]: ...

    def call(self, name: str, arguments: str, ctx: ToolContext) -> "ToolOutput": ...

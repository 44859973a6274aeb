"""Asking the user before a tool changes anything: one path for model code and MCP tools.

The question is asked on stdin (`input()` works in JupyterLab, Notebook 7 and
VS Code while a cell runs). The answers (SPEC §4):

- `y` runs this call, `a` every call in this cell, `s` every call in this session;
- `n` (or nothing) refuses;
- anything else refuses *with an instruction*: the user's words go to the model
  ("use the sample file instead"), the way kimi-cli's "Reject, tell the model
  what to do instead" works.

`-y`, `Kimi.auto_run` and earlier `a`/`s` answers skip the question, except for a call
made after untrusted text entered the cell (a web search, a non-read-only MCP result, a
file or URL a tool read: `ToolContext.untrusted`): that is asked again, naming the
source, unless `Kimi.trust_tool_output` is on; headless it is refused.

A caller that cannot ask a person (the chat panel's widget callback, a script
with a policy) passes an `ask` that returns a `Decision` directly, so no magic
strings travel through the answer parser.
"""

from __future__ import annotations

import builtins
import sys

from ..core.sanitize import plain

# Decision lives beside ToolContext (whose `ask` returns one), so neither module imports the
# other's; it is still imported from here.
from ..core.tool_context import Decision, ToolContext
from ..core.tool_output import ToolOutput

APPROVAL_PROMPT = (
    "Run it? [y]es / [n]o / [a]ll in this cell / all in this [s]ession — "
    "or type what Kimi should do instead: "
)
NO_STDIN_TO_MODEL = (
    "The code was NOT run: automatic execution is off and this session has no way to ask "
    "the user for approval (no stdin, e.g. a headless notebook run). Do not try to run "
    "code again in this reply; answer without running code, and tell the user they can "
    "allow it with `%%kimi -y` or `%config Kimi.auto_run = True`."
)
NO_STDIN_TO_USER = (
    "kimi-jupyter: the model's code was not run because this kernel cannot ask for "
    "approval (no stdin). To let it run code, use `%%kimi -y` or "
    "`%config Kimi.auto_run = True`.\n"
)


def parse_answer(answer: str | None) -> Decision:
    """Turn what the user typed into a Decision."""
    reply = (answer or "").strip()
    word = reply.lower()
    if word in ("y", "yes"):
        return Decision(True)
    if word in ("a", "all"):
        return Decision(True, "cell")
    if word in ("s", "session"):
        return Decision(True, "session")
    if word in ("", "n", "no"):
        return Decision(False)
    return Decision(False, feedback=reply)


def refusal_text(decision: Decision, what: str = "this code") -> str:
    """What the model is told when a call was not run: exactly what, and why."""
    if decision.reason:
        return f"The user's settings did not allow running {what}: {decision.reason}"
    text = f"The user declined to run {what}."
    if decision.feedback:
        text += f" Their instruction instead: {decision.feedback}"
    return text


def approve(ctx: ToolContext, what: str = "this code") -> ToolOutput | None:
    """None when the call may run; otherwise the ToolOutput telling the model why not.

    `ctx.auto_run` (from `-y`, `Kimi.auto_run`, or an earlier `a`/`s`) skips the
    question, except after untrusted text entered the cell (`ctx.untrusted`): then the
    question is asked again, naming what was read, unless `Kimi.trust_tool_output` is on
    or the user already answered `a`/`s` to such a question. A kernel without stdin is
    told once per cell, and the model is told not to try again.
    """
    source = after_untrusted(ctx)
    if ctx.auto_run and source is None:
        return None
    if ctx.no_stdin:
        return ToolOutput(text=_no_stdin_to_model(what, source), ok=False, declined=True)
    ask = ctx.ask or builtins.input
    try:
        answer = ask(APPROVAL_PROMPT if source is None else f"{written_after(source, what)}\n{APPROVAL_PROMPT}")
    except (EOFError, *_stdin_errors()):
        ctx.no_stdin = True
        sys.stderr.write(_no_stdin_to_user(what, source))
        return ToolOutput(text=_no_stdin_to_model(what, source), ok=False, declined=True)
    decision = answer if isinstance(answer, Decision) else parse_answer(answer)
    if decision.run:
        if decision.scope in ("cell", "session"):
            ctx.auto_run = True
            # Asked with the source named: the user's `a`/`s` covers the rest of the cell,
            # until new untrusted text arrives (`ToolContext.read_untrusted`).
            ctx.untrusted_allowed = ctx.untrusted_allowed or source is not None
        if decision.scope == "session" and ctx.allow_session is not None:
            ctx.allow_session()
        return None
    return ToolOutput(text=refusal_text(decision, what), ok=False, declined=True)


def after_untrusted(ctx: ToolContext) -> str | None:
    """What untrusted text this call was written after, when that calls for a fresh question."""
    if ctx.untrusted is None or ctx.trust_tool_output or ctx.untrusted_allowed:
        return None
    return ctx.untrusted


def written_after(source: str, what: str = "this code") -> str:
    """The line put before the approval question (and into refusals) after untrusted text."""
    subject = "This code was written" if what == "this code" else f"This call of {what} was made"
    return (f"{subject} after reading {plain(source)}: text that can carry instructions "
            "for the model, so it needs your approval again.")


def _no_stdin_to_model(what: str, source: str | None = None) -> str:
    """The model's copy of the no-stdin refusal, naming what was not run (code or a tool)."""
    if source is not None:
        subject = "The code" if what == "this code" else f"{what[0].upper()}{what[1:]}"
        made = "it was written" if what == "this code" else "the call was made"
        return (f"{subject} was NOT run: {made} after reading {plain(source)} in this cell. "
                "Text like that can carry instructions, so the user must approve such a call "
                "even when automatic approval is on, and this session has no way to ask the user "
                "(no stdin, e.g. a headless notebook run). Do not call it again in this reply; "
                "answer without it, and tell the user they can allow it by running the cell "
                "where they can answer, or with `%config Kimi.trust_tool_output = True`.")
    if what == "this code":
        return NO_STDIN_TO_MODEL
    return (f"{what[0].upper()}{what[1:]} was NOT run: it needs the user's approval, automatic "
            "approval is off and this session has no way to ask the user (no stdin, e.g. a "
            "headless notebook run). Do not call it again in this reply; answer without it, and "
            "tell the user they can allow it with `%%kimi -y` or `%config Kimi.auto_run = True`.")


def _no_stdin_to_user(what: str, source: str | None) -> str:
    if source is not None:
        subject = "the model's code" if what == "this code" else what
        made = "it was written" if what == "this code" else "the call was made"
        return (f"kimi-jupyter: {plain(subject)} was not run: {made} after reading "
                f"{plain(source)}, which needs your approval even with `-y`, and this kernel "
                "cannot ask (no stdin). To let such code run without asking, use "
                "`%config Kimi.trust_tool_output = True` together with `-y`.\n")
    if what == "this code":
        return NO_STDIN_TO_USER
    return (f"kimi-jupyter: {plain(what)} was not run because this kernel cannot ask for "
            "approval (no stdin). To allow it, use `%%kimi -y` or `%config Kimi.auto_run = True`.\n")


def _stdin_errors() -> tuple[type[BaseException], ...]:
    try:
        from IPython.core.error import StdinNotImplementedError
    except ImportError:
        return ()
    return (StdinNotImplementedError,)


__all__ = ["APPROVAL_PROMPT", "Decision", "after_untrusted", "approve", "parse_answer",
           "refusal_text", "written_after"]

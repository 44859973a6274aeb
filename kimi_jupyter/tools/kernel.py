"""Read-only kernel tools: let the model look at the user's kernel without running code.

``list_variables``, ``inspect_variable`` and ``notebook_history`` are offered next to the
``python`` tool and run without asking (SPEC §4), so they must be safe to run unasked:

- They change nothing: no assignment in the namespace, no history entry, no output in
  the cell (stdout/stderr are swallowed and warnings silenced while they run).
- They run no code of the user's beyond library methods of well-known types (pandas,
  numpy, polars, only when already imported) and reprs. A repr is user code, so it is
  wrapped: one that raises becomes a note, one that returns megabytes is cut, and the
  tool call as a whole runs under ``Kimi.tool_timeout``. ``len`` and sizes are taken only
  for built-in types, whose ``__len__`` cannot be user code.
- Everything they return is capped (``ctx.max_output``).

The model-facing signatures are the plain functions ``list_variables()``,
``inspect_variable(name)`` and ``notebook_history(n)``; their schemas come from
``schema.build_spec``, the same path as a user's ``@tool``. The work is done by
``variables_report``, ``describe_variable`` and ``history_report``, which take the shell
explicitly so the registry can pass the cell's shell.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import io
import warnings
from typing import Any, Callable, Iterator

from ..core.tool_context import ToolContext
from ..core.tool_output import ToolOutput, cap_output
from .describe import describe, first_line, is_code, join_capped, summary_line, type_name
from .history import history_report

# How many variables list_variables shows before saying how many more there are.
MAX_LISTED = 200
# IPython's own names, for shells without `user_ns_hidden` (real shells have it).
_IPYTHON_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython"})


class KernelToolError(Exception):
    """A problem the model should fix (an unknown name): sent back as a tool error."""


# ================================================================ model-facing functions


def list_variables() -> str:
    """List the user's variables in the live kernel: name, type, shape or length, size and a short preview of the value.

    Read-only and runs without asking the user: it changes nothing and runs no code.
    Modules, functions, classes, IPython's own names and names starting with "_" are left
    out. Use it first to see what data the user has loaded; then use inspect_variable
    for details of one variable.
    """
    return variables_report(_current_shell())


def inspect_variable(name: str) -> str:
    """Describe one variable of the user's kernel in detail, without changing it.

    A pandas or polars DataFrame: shape, column dtypes, missing counts, head and a numeric
    summary. A numpy array: shape, dtype and min/max/mean/std. A function or class: its
    signature, docstring and source. Anything else: type, length and a capped repr.
    Read-only and runs without asking the user.

    Args:
        name: The variable's name in the user's namespace, e.g. "df".
    """
    return describe_variable(_current_shell(), name)


def notebook_history(n: int = 5) -> str:
    """The last n cells the user ran in this notebook: their source, their text output and errors, and the last error with its traceback.

    Read-only and runs without asking the user. Use it to see what the user did before
    asking you, or why their last cell failed.

    Args:
        n: How many of the most recent cells to show (1 to 50).
    """
    return history_report(_current_shell(), n)


READ_ONLY_TOOLS: dict[str, Callable[..., str]] = {
    "list_variables": list_variables,
    "inspect_variable": inspect_variable,
    "notebook_history": notebook_history,
}


def _current_shell() -> Any:
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("no IPython shell is running")
    return shell


# ================================================================ registry glue


@functools.lru_cache(maxsize=1)
def specs() -> dict[str, Any]:
    """The ToolSpecs of the read-only tools, built once from the functions above."""
    from .schema import build_spec

    return {name: build_spec(fn) for name, fn in READ_ONLY_TOOLS.items()}


def schemas() -> list[dict[str, Any]]:
    """The read-only tools' entries for the OpenAI ``tools`` parameter."""
    return [spec.openai_schema() for spec in specs().values()]


def call_read_only(name: str, arguments: dict[str, Any], ctx: ToolContext, shell: Any) -> ToolOutput:
    """Run one read-only tool for the model. Never raises for anything the model sent."""
    from .coerce import ArgumentError, bind_arguments
    from .timeout import ToolTimeout, format_seconds, time_limit

    impl = _IMPLS[name]
    try:
        args, kwargs = bind_arguments(specs()[name], arguments)
    except ArgumentError as e:
        return _failed(f"Error: {e}", ctx)
    try:
        with _silenced(), time_limit(ctx.timeout):
            text = impl(shell, *args, **kwargs)
    except KeyboardInterrupt:
        return ToolOutput(text="Interrupted by the user.", ok=False, interrupted=True)
    except ToolTimeout as e:
        return _failed(f"Error: {name} took longer than {format_seconds(e.seconds)} "
                       "(Kimi.tool_timeout) and was stopped.", ctx)
    except KernelToolError as e:
        return _failed(f"Error: {e}", ctx)
    except Exception as e:  # noqa: BLE001 - a library method failed; the loop goes on
        return _failed(f"Error: {name} failed: {type(e).__name__}: {first_line(str(e))}", ctx)
    return ToolOutput(text=cap_output(text, ctx.max_output) if text else "No output")


def _failed(text: str, ctx: ToolContext) -> ToolOutput:
    return ToolOutput(text=cap_output(text, ctx.max_output), ok=False)


@contextlib.contextmanager
def _silenced() -> Iterator[None]:
    """Nothing a library prints or warns while we look may reach the user's cell."""
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        yield


# ================================================================ list_variables


def user_variables(shell: Any) -> list[tuple[str, Any]]:
    """The user's data variables, in definition order.

    Left out, as ``%who`` does: private names and whatever IPython put in the namespace
    itself (``In``, ``Out``, ``exit``, ``get_ipython``...). Also left out: modules,
    functions, classes and typing constructs, which are code rather than data.
    """
    return [(k, v) for k, v in _visible_names(shell) if not is_code(v)]


def _visible_names(shell: Any) -> list[tuple[str, Any]]:
    """The names both tools may show: the one rule for `list_variables` and `inspect_variable`."""
    namespace = shell.user_ns
    hidden = getattr(shell, "user_ns_hidden", None) or {}
    return [(name, value) for name, value in list(namespace.items()) if _is_visible(name, value, hidden)]


_MISSING = object()


def _is_visible(name: Any, value: Any, hidden: Any) -> bool:
    """Not private (`_x`, `__x`, IPython's `_i3`, `_oh`), not what IPython put there itself."""
    if type(name) is not str or name.startswith("_"):  # `type`: a key is the user's object too
        return False
    if hidden.get(name, _MISSING) is value:
        return False
    return bool(hidden) or name not in _IPYTHON_NAMES


def variables_report(shell: Any) -> str:
    """``list_variables`` for a given shell: one line per variable."""
    variables = user_variables(shell)
    if not variables:
        return "No user variables are defined in the kernel yet."
    lines = [f"{len(variables)} user variable{'s' if len(variables) != 1 else ''} "
             "(name: type, shape or length, size, preview):"]
    for name, value in variables[:MAX_LISTED]:
        lines.append(summary_line(name, value))
    if len(variables) > MAX_LISTED:
        lines.append(f"... and {len(variables) - MAX_LISTED:,} more (not listed).")
    return "\n".join(lines)


# ================================================================ inspect_variable


def describe_variable(shell: Any, name: str) -> str:
    """``inspect_variable`` for a given shell."""
    name = (name or "").strip()
    namespace = shell.user_ns
    value = namespace.get(name, _MISSING) if name else _MISSING
    hidden = getattr(shell, "user_ns_hidden", None) or {}
    if value is _MISSING or not _is_visible(name, value, hidden):
        # A private or IPython name is not the user's data: the same rule as list_variables,
        # so the model can't read what the listing hides (e.g. `_secret`, `_oh`).
        raise KernelToolError(_unknown_name(shell, name))
    return f"{name}: {type_name(value)}\n" + describe(value)


def _unknown_name(shell: Any, name: str) -> str:
    names = [k for k, _ in _visible_names(shell)]
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.6)
    text = f"no variable named {name!r} in the kernel."
    if name.startswith("_"):
        text = f"{name!r} is a private name; the tools show only the user's public variables."
    if close:
        text += " Close names: " + ", ".join(close) + "."
    elif names:
        text += " Defined names include: " + join_capped(names[:20], len(names)) + "."
    else:
        text += " No user variables are defined yet."
    return text + " Call list_variables() to see them all."


_IMPLS: dict[str, Callable[..., str]] = {
    "list_variables": variables_report,
    "inspect_variable": describe_variable,
    "notebook_history": history_report,
}

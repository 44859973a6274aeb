"""The tools the model may call: the built-in ``python`` tool plus the user's ``@tool``s.

``ToolRegistry.call`` is the one entry point the agent loop uses. It never raises for
anything the model sent (bad JSON, unknown tool, wrong arguments, a failing tool): each
becomes a ``ToolOutput`` with ``ok=False`` whose text tells the model what to fix, so the
loop goes on.

Interrupts: a ``KeyboardInterrupt`` while a tool runs (model code, the approval prompt,
or a user tool function) is returned as ``ToolOutput(interrupted=True)``, never raised, so
the agent has one thing to check. A ``KeyboardInterrupt`` outside that window (while
parsing JSON, say) propagates as usual.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import sys
import threading
from typing import Any, Callable, TypeVar, overload

from ..core.stream import CODE_TOOL
from ..core.tool_context import ToolContext
from ..core.tool_output import NO_OUTPUT, ToolOutput, cap_output, format_error
from .coerce import ArgumentError, bind_arguments
from .kernel import READ_ONLY_TOOLS as _READ_ONLY
from .reads import reporting_to, watch_reads, watching
from .schema import ToolSpec, build_spec

F = TypeVar("F", bound=Callable[..., Any])

PYTHON_TOOL = CODE_TOOL
# The read-only kernel tools, offered with python and run without asking.
READ_ONLY_TOOLS = tuple(_READ_ONLY)
RESERVED = (PYTHON_TOOL, *READ_ONLY_TOOLS)
WEB_SEARCH_TOOL = "$web_search"
_REGISTRY_FILE = os.path.abspath(__file__)


class ToolRegistry:
    """User tools by name, in registration order."""

    def __init__(self) -> None:
        self._tools: dict[str, ToolSpec] = {}

    def register(self, fn: F, *, name: str | None = None, description: str | None = None) -> F:
        """Add ``fn`` as a tool and return it unchanged.

        Registering a name again replaces the old tool, because re-running a notebook cell
        that defines a tool should just update it.
        """
        spec = build_spec(fn, name=name, description=description)
        if spec.name in RESERVED:
            raise ValueError(f"the tool name {spec.name!r} is reserved for a built-in tool; "
                             "pass name='...' to choose another")
        self._tools[spec.name] = spec
        return fn

    def unregister(self, name: str) -> None:
        """Remove a user tool; unknown names are ignored."""
        self._tools.pop(name, None)

    def names(self) -> list[str]:
        """Every name ``call`` accepts: ``python`` and the read-only tools first, then the user tools."""
        return [*RESERVED, *self._tools]

    def spec(self, name: str) -> ToolSpec | None:
        return self._tools.get(name)

    def schemas(self, *, python: bool = True, web_search: bool = False,
                ctx: ToolContext | None = None) -> list[dict[str, Any]]:
        """The OpenAI ``tools`` parameter: python and the read-only kernel tools, user tools,
        the tools of ``ctx.providers`` (MCP servers), then ``$web_search``."""
        from .python import PYTHON_SCHEMA

        out: list[dict[str, Any]] = []
        if python:
            from .kernel import schemas as read_only_schemas

            out += [PYTHON_SCHEMA, *read_only_schemas()]
        out.extend(spec.openai_schema() for spec in self._tools.values())
        for provider in ctx.providers if ctx is not None else ():
            out.extend(provider.schemas(ctx))
        if web_search:
            from ..core.wire import WEB_SEARCH_TOOL as declaration

            out.append(declaration)
        return out

    def call(self, name: str, arguments: str, ctx: ToolContext) -> ToolOutput:
        """Run one tool call from the model and return what goes back to it."""
        if name == WEB_SEARCH_TOOL:
            # Kimi runs the search itself; the reply must echo the arguments unchanged.
            return ToolOutput(text=arguments)
        provider = None  # python, the read-only tools and the user's tools come first; then MCP servers' tools
        if name not in RESERVED and name not in self._tools:
            provider = next((p for p in ctx.providers if p.owns(name)), None)
            if provider is None:
                return _error(f"Error: unknown tool {name!r}. Available tools: "
                              + ", ".join(self.names()), ctx)
        parsed = _parse_arguments(arguments, name, ctx)
        if isinstance(parsed, ToolOutput):
            return parsed
        if provider is not None:
            return provider.call(name, parsed, ctx)
        if name == PYTHON_TOOL:
            from .python import run_python

            # Extra keys (say "language") are ignored: rejecting them would cost the
            # model a step for nothing.
            code = parsed.get("code")
            if not isinstance(code, str):
                what = ("'code' must be a string" if "code" in parsed else
                        "missing required argument 'code'")
                return _error(f"Error: invalid arguments for tool 'python': {what}. "
                              'Send {"code": "<python source>"}.', ctx)
            return run_python(code, ctx)
        if name in READ_ONLY_TOOLS:
            from .kernel import call_read_only
            from .python import _get_shell

            # No approval: these tools only read (SPEC §4).
            return call_read_only(name, parsed, ctx, _get_shell(ctx))
        return self._call_user_tool(self._tools[name], parsed, ctx)

    def _call_user_tool(self, spec: ToolSpec, arguments: dict[str, Any],
                        ctx: ToolContext) -> ToolOutput:
        try:
            args, kwargs = bind_arguments(spec, arguments)
        except ArgumentError as e:
            return _error(f"Error: {e}", ctx)
        reads = None
        try:
            # A tool that reads a file or a URL returns untrusted text (`tools.reads`).
            with watch_reads() as reads:
                value = _invoke(spec.fn, args, kwargs)
        except KeyboardInterrupt:
            return ToolOutput(text="Interrupted by the user.", ok=False, interrupted=True)
        except Exception as e:
            tb = format_error(e, limit=3, skip=lambda f: os.path.abspath(f.filename) == _REGISTRY_FILE)
            summary = f"Error: {type(e).__name__}: {e}"
            return _error(summary + "\n" + tb, ctx)
        finally:
            if reads is not None and reads.source is not None:
                ctx.read_untrusted(f"{reads.source} (read by the tool `{spec.name}`)")
        text = format_return(value)
        if len(text) > ctx.max_output:
            return ToolOutput(text=_cap_and_keep(text, ctx))
        return ToolOutput(text=text or NO_OUTPUT)


def _cap_and_keep(text: str, ctx: ToolContext) -> str:
    """Cap a long tool result; where a kernel is running, keep all of it there for the model."""
    shell = ctx.shell  # the cell's shell; a script without one gets the capped text only
    if shell is None:
        return cap_output(text, ctx.max_output)
    from .keep import keep_full_text, kept_note

    expression, complete = keep_full_text(shell, text, 0, "")
    return cap_output(text, ctx.max_output, kept_note(expression, complete))


def _error(text: str, ctx: ToolContext) -> ToolOutput:
    return ToolOutput(text=cap_output(text, ctx.max_output), ok=False)


class ArgumentsError(ValueError):
    """Tool arguments that cannot be used as sent; the message says why, for the model."""

    def __init__(self, message: str, duplicate: str | None = None) -> None:
        super().__init__(message)
        self.duplicate = duplicate  # the repeated key, when that is the reason


class _RepeatedKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`object_pairs_hook` that refuses a key given twice in one object, at any depth.

    `json.loads` would keep the last value silently, so the user could be shown
    `"path": "notes.txt"` and the tool be handed the second `"path"`.
    """
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _RepeatedKey(key)
        out[key] = value
    return out


def loads_arguments(arguments: str) -> Any:
    """Parse a tool call's JSON arguments; raises `ArgumentsError` with a message for the model.

    ``strict=False`` accepts raw newlines/tabs inside strings, which models emit in code.
    A repeated key in any object is refused: what the user approves must be all of what runs.
    """
    try:
        return json.loads(arguments, strict=False, object_pairs_hook=_unique_keys)
    except _RepeatedKey as e:
        key = e.key if len(e.key) <= 80 else e.key[:80] + "…"
        raise ArgumentsError(
            f"Error: the arguments give the key {key!r} more than once. The call was NOT run: a "
            "repeated key is ambiguous (the user is shown one value while the tool could get "
            "another). Send the call again with each key once.", duplicate=e.key) from None
    except json.JSONDecodeError as e:
        shown = arguments if len(arguments) <= 200 else arguments[:200] + "..."
        raise ArgumentsError(f"Error: arguments are not valid JSON: {e}. Received: {shown}\n"
                             "Send the arguments as one JSON object.") from None
    except RecursionError:  # nested thousands deep
        raise ArgumentsError("Error: the arguments are nested too deeply. "
                             "Send the arguments as one flat JSON object.") from None


def _parse_arguments(arguments: str | dict | None, name: str, ctx: ToolContext) -> dict[str, Any] | ToolOutput:
    """The arguments as a dict, or the ToolOutput telling the model why the call was not run.

    Used for every tool (python, the read-only tools, user tools, MCP tools), so no tool
    sees arguments that were not all shown.
    """
    if isinstance(arguments, dict):  # tolerate callers that already parsed them
        return arguments
    if arguments is None or not arguments.strip():
        return {}  # some servers send "" for a call without arguments
    try:
        value = loads_arguments(arguments)
    except ArgumentsError as e:
        if e.duplicate is not None:
            _tell_user(ctx, f"Kimi's call to `{name}` was not run: its arguments give the key "
                            f"{e.duplicate[:80]!r} more than once, so what was shown may not be "
                            "what would run. The model was told to send it again.")
        return ToolOutput(text=str(e), ok=False)
    if not isinstance(value, dict):
        return ToolOutput(text="Error: arguments must be a JSON object, got "
                               f"{type(value).__name__}.", ok=False)
    return value


def _tell_user(ctx: ToolContext, text: str) -> None:
    from ..core.sanitize import plain

    if ctx.notice is not None:
        ctx.notice(text)
    else:
        sys.stderr.write(f"kimi-jupyter: {plain(text)}\n")


def _invoke(fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
    result = fn(*args, **kwargs)
    if inspect.isawaitable(result):
        result = _run_awaitable(result)
    return result


def _run_awaitable(aw: Any) -> Any:
    """Run an async tool to completion from sync code.

    Inside a kernel the main thread's event loop is busy running the %%kimi cell, so the
    coroutine gets a fresh loop in a worker thread instead.
    """
    import asyncio

    async def main() -> Any:
        return await aw

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    box: dict[str, Any] = {}
    reads = watching()  # what the tool reads in the worker thread counts as read by this call

    def worker() -> None:
        try:
            with reporting_to(reads):
                box["value"] = asyncio.run(main())
        except BaseException as e:  # re-raised in the caller's thread
            box["error"] = e

    t = threading.Thread(target=worker, name="kimi-async-tool", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def format_return(value: Any) -> str:
    """A tool's return value as text: strings as is, the rest as JSON, else repr."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=_to_json, ensure_ascii=False)
    except (TypeError, ValueError):  # circular references, mostly
        return repr(value)


def _to_json(obj: Any) -> Any:
    """Fallback for json.dumps: structured where cheap, else the object's str()."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    for method in ("model_dump", "tolist"):  # pydantic models; numpy arrays and scalars
        fn = getattr(obj, method, None)
        if callable(fn):
            try:
                return fn()
            except Exception:
                break
    return str(obj)  # dates, paths, DataFrames (as their text table)...


default_registry = ToolRegistry()


@overload
def tool(fn: F, *, name: str | None = None, description: str | None = None) -> F: ...
@overload
def tool(fn: None = None, *, name: str | None = None,
         description: str | None = None) -> Callable[[F], F]: ...
def tool(fn: Any = None, *, name: str | None = None, description: str | None = None) -> Any:
    """Register a function as a tool the model can call, on ``default_registry``.

    Use as ``@tool`` or ``@tool(name="x", description="...")``. The JSON schema comes
    from the signature, type hints and docstring; the function is returned unchanged.
    """
    if fn is None:
        return lambda f: default_registry.register(f, name=name, description=description)
    return default_registry.register(fn, name=name, description=description)

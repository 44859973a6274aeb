"""The built-in ``python`` tool: run model-written code in the user's live kernel.

The code goes through ``shell.run_cell`` so it behaves exactly like a cell the user typed:
same namespace, ``%`` magics, the last expression shown as ``Out``, and matplotlib figures
displayed inline without ``plt.show()`` (matplotlib-inline flushes them on
``post_execute``, which the synchronous ``run_cell`` fires). Everything it prints or
displays appears live in the ``%%kimi`` cell's output; a bounded copy goes to the model.

State of the outer ``%%kimi`` cell is protected: ``store_history=False`` leaves
``execution_count`` and ``In`` alone, and the displayhook's pending result, ipykernel's
"last traceback" bookkeeping and ``sys.last_*`` (used by ``%debug`` and ``%tb``) are
restored afterwards, so a model error never marks the user's cell as failed and
``%debug`` still refers to the user's own last exception. Like any cell, the last
expression's value does update ``_``, ``__`` and ``Out[n]`` (n = the ``%%kimi`` cell).
"""

from __future__ import annotations

import os
import sys
import traceback
from contextlib import contextmanager
from typing import Any, Iterator

from .. import _compat
from ..core.redact import redact_output, redact_text
from ..core.tool_context import ToolContext
from ..core.tool_output import NO_OUTPUT, ToolOutput, cap_output, cap_parts, format_error, is_capped
from . import timeout as _timeout_module
from .approval import approve
from .capture import OutputTee
from .keep import KEEP_CHARS, keep_full_text, kept_note
from .reads import watch_reads
from .timeout import ToolTimeout, format_seconds, time_limit

PYTHON_DESCRIPTION = (
    "Run Python code in the user's live Jupyter kernel (IPython), as if the user ran a "
    "cell. Variables, imports and functions persist between calls and are shared with the "
    "user's notebook, so you can use data the user already loaded. IPython `%` magics and "
    "`!` shell commands work. The value of the last expression is returned (like a "
    "notebook's Out[]), along with stdout, stderr and any error with a short traceback. "
    "Matplotlib figures are displayed inline to the user automatically (no plt.show() "
    "needed) and you get a note for each. Long output is cut in the middle, so print "
    "summaries rather than whole datasets; the cut marker names a kernel variable holding "
    "the full text, if you need a slice of it. Each call has a time limit. To look at the "
    "user's variables or recent cells, prefer the read-only tools (list_variables, "
    "inspect_variable, notebook_history): they change nothing and need no approval."
)

PYTHON_SCHEMA: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "python",
        "description": PYTHON_DESCRIPTION,
        "parameters": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "The Python code to run."},
            },
            "required": ["code"],
        },
    },
}

INTERRUPTED = "Interrupted by the user."
_TIMEOUT_FILE = os.path.abspath(_timeout_module.__file__)


def run_python(code: str, ctx: ToolContext) -> ToolOutput:
    """Ask for approval if needed, run ``code`` in the kernel, and report back.

    Never raises for anything the code does. A KeyboardInterrupt, during the approval
    prompt or the code, comes back as ``ToolOutput(interrupted=True)``; running past
    ``ctx.timeout`` stops this call only, and the model is told so.
    """
    if not code.strip():
        return ToolOutput(text=NO_OUTPUT)  # nothing to approve or run
    tee: OutputTee | None = None
    try:
        if ctx.show_code is not None:
            ctx.show_code(code)
        refusal = approve(ctx)
        if refusal is not None:
            return refusal
        shell = _get_shell(ctx)
        tee = OutputTee(shell, limit=ctx.max_output, max_echo=ctx.max_echo, secrets=ctx.secrets,
                        keep=KEEP_CHARS)
        # The time limit is innermost: it is disarmed before anything is restored.
        # A file or URL the code reads makes what it prints untrusted (`reads`).
        with _preserve_shell_state(shell), _async_runner_for(shell, code), \
                _semicolon_quiet(shell, code), tee, _noting_reads(ctx), time_limit(ctx.timeout):
            result = shell.run_cell(code, store_history=False, silent=False)
    except KeyboardInterrupt:
        return ToolOutput(text=INTERRUPTED, ok=False, interrupted=True)
    except ToolTimeout as e:
        # Fired outside the code itself (in IPython's own post-run steps): same outcome.
        assert tee is not None  # the limit is only armed once the tee exists
        return _reply(ctx, shell, tee, None, e)
    if result is None:  # IPython failed before it could even build a result
        return ToolOutput(text="Error: IPython could not run the code.", ok=False)

    error = result.error_before_exec if result.error_before_exec is not None else result.error_in_exec
    if isinstance(error, KeyboardInterrupt):
        return ToolOutput(text=INTERRUPTED, ok=False, interrupted=True, images=tee.images)
    return _reply(ctx, shell, tee, result.result, error)


@contextmanager
def _noting_reads(ctx: ToolContext) -> Iterator[None]:
    """Note in `ctx` when the code read a file or a URL, however the call ends."""
    with watch_reads() as reads:
        try:
            yield
        finally:
            if reads.source is not None:
                ctx.read_untrusted(reads.source)


def _reply(ctx: ToolContext, shell: Any, tee: OutputTee, value: Any,
           error: BaseException | None) -> ToolOutput:
    """What the model gets: the capped output, then the Out value, the error or the timeout."""
    extra: list[str] = []
    if value is not None:
        # Redacted before the cap, so a cut can't leave half a key behind.
        extra.append("Out: " + cap_output(redact_text(_safe_repr(value), ctx.secrets), ctx.max_output))
    if isinstance(error, ToolTimeout):
        extra.append(_timeout_text(error))
    elif error is not None:
        extra.append(format_error(error, limit=5, skip=_is_ipython_frame))
    head, omitted, tail = tee.buffer.head, tee.buffer.omitted, tee.buffer.tail
    rest = redact_text("\n".join(extra), ctx.secrets)  # the error message may quote a key
    last_printed = tail or head
    if rest and last_printed and not last_printed.endswith("\n"):
        rest = "\n" + rest  # e.g. after print(..., end="")
    note = ""
    if is_capped(head, omitted, tail + rest, ctx.max_output):
        # The model sees head and tail only; the whole text stays in the kernel for it.
        expression, complete = keep_full_text(shell, head, omitted, (tail + rest).rstrip("\n"))
        note = kept_note(expression, complete)
    text = cap_parts(head, omitted, tail + rest, ctx.max_output, note).strip("\n")
    # The tee's records are redacted as they were shown; the Out value and the error too.
    outputs = tee.outputs + [redact_output(o, ctx.secrets) for o in _result_outputs(shell, value, error)]
    return ToolOutput(text=text or NO_OUTPUT, ok=error is None, images=tee.images, outputs=outputs)


def _timeout_text(error: ToolTimeout) -> str:
    """Tell the model the call timed out, where, and that its earlier work is kept."""
    where = ""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if not _is_ipython_frame(f) and os.path.abspath(f.filename) != _TIMEOUT_FILE]
    if frames and frames[-1].line:
        where = f" It was stopped at line {frames[-1].lineno}: `{frames[-1].line.strip()}`."
    seconds = format_seconds(error.seconds)
    return (f"Timed out: the code ran longer than {seconds} (Kimi.tool_timeout) and was "
            f"interrupted.{where} Variables assigned before the interruption persist in the "
            "kernel. Make the work smaller or faster (a sample, fewer iterations), or ask the "
            "user to raise the limit with `%config Kimi.tool_timeout = SECONDS`.")


def _result_outputs(shell: Any, value: Any, error: BaseException | None) -> list[dict[str, Any]]:
    """The `Out` value and the error as nbformat outputs, for `%kimi export`.

    ipykernel publishes both outside the display publisher, so the tee can't see them.
    """
    outputs: list[dict[str, Any]] = []
    if value is not None:
        try:
            data, metadata = shell.display_formatter.format(value)
        except Exception:  # noqa: BLE001 - a broken repr must not break the tool
            data, metadata = {"text/plain": _safe_repr(value)}, {}
        outputs.append({"output_type": "execute_result", "data": data, "metadata": metadata,
                        "execution_count": None})
    if error is not None:
        outputs.append({
            "output_type": "error",
            "ename": type(error).__name__,
            "evalue": str(error),
            "traceback": format_error(error, limit=5, skip=_is_ipython_frame).splitlines(),
        })
    return outputs


# ------------------------------------------------------------------ shell


def _get_shell(ctx: ToolContext) -> Any:
    if ctx.shell is None:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is None:  # plain Python script: a private shell, reused across calls
            from IPython.core.interactiveshell import InteractiveShell

            shell = InteractiveShell.instance()
        ctx.shell = shell
    return ctx.shell


_SHELL_ATTRS = ("last_execution_succeeded", "last_execution_result")
_SYS_ATTRS = ("last_type", "last_value", "last_traceback", "last_exc")
_MISSING = object()


@contextmanager
def _preserve_shell_state(shell: Any) -> Iterator[None]:
    hook = getattr(shell, "displayhook", None)
    exec_result = getattr(hook, "exec_result", _MISSING)
    shell_saved = {a: getattr(shell, a, _MISSING) for a in _SHELL_ATTRS}
    kernel_saved = _compat.kernel_error_state(shell)  # the outer cell's reply must not carry the model's error
    sys_saved = {a: getattr(sys, a, _MISSING) for a in _SYS_ATTRS}
    try:
        yield
    finally:
        _compat.restore_kernel_error_state(shell, kernel_saved)
        if exec_result is not _MISSING:
            # The outer cell's ExecutionResult: without this its Out value would be lost.
            hook.exec_result = exec_result
        for name, value in shell_saved.items():
            if value is not _MISSING:
                setattr(shell, name, value)
        for name, value in sys_saved.items():
            if value is _MISSING:
                if hasattr(sys, name):
                    delattr(sys, name)
            else:
                setattr(sys, name, value)


@contextmanager
def _semicolon_quiet(shell: Any, code: str) -> Iterator[None]:
    """Let a trailing ``;`` hide the last value, as in a cell the user runs.

    IPython decides this from the last *stored* input, which is the %%kimi cell itself
    (the model's code is not stored in history), so point it at the model's code.
    """
    hook = getattr(shell, "displayhook", None)
    check = getattr(type(hook), "semicolon_at_end_of_expression", None)
    if hook is None or check is None:
        yield
        return
    had_own = "quiet" in vars(hook)
    original = hook.quiet

    def quiet() -> bool:
        try:
            return bool(check(shell.transform_cell(code)))
        except Exception:  # tokenizing odd input must not break the display
            return False

    hook.quiet = quiet
    try:
        yield
    finally:
        if had_own:
            hook.quiet = original
        else:
            del hook.quiet


@contextmanager
def _async_runner_for(shell: Any, code: str) -> Iterator[None]:
    """Make top-level ``await`` work even though the kernel's loop is busy.

    Inside ipykernel the %%kimi cell runs on the kernel's asyncio loop, so IPython's
    runner (``loop.run_until_complete``) would fail with "This event loop is already
    running". For such code only, run it on a fresh private loop in this thread. Objects
    tied to the kernel's loop can't be awaited there, and tasks still pending when the
    code ends are cancelled.
    """
    if not _needs_fresh_loop(shell, code):
        yield
        return
    previous = shell.loop_runner
    shell.loop_runner = _fresh_loop_runner
    try:
        yield
    finally:
        shell.loop_runner = previous


def _needs_fresh_loop(shell: Any, code: str) -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False  # no loop running: IPython's own runner works
    # IPython's own asyncio runner, by the public name `%autoawait asyncio` uses.
    asyncio_runner = (getattr(shell, "loop_runner_map", None) or {}).get("asyncio", (None,))[0]
    if asyncio_runner is None or getattr(shell, "loop_runner", None) is not asyncio_runner:
        return False  # trio/curio or a custom runner: leave it to the user's choice
    try:
        transformed = shell.transform_cell(code)
    except Exception:
        return False  # run_cell will report the problem
    try:
        return bool(shell.should_run_async(code, transformed_cell=transformed,
                                           preprocessing_exc_tuple=None))
    except TypeError:  # IPython < 8.?: no keyword arguments
        return bool(shell.should_run_async(code))


def _fresh_loop_runner(coro: Any) -> Any:
    import asyncio

    outer = asyncio._get_running_loop()
    loop = asyncio.new_event_loop()
    asyncio._set_running_loop(None)  # let the new loop run in this thread for a moment
    try:
        return loop.run_until_complete(coro)
    finally:
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
            asyncio._set_running_loop(outer)


# ------------------------------------------------------------------ text for the model


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as e:  # a broken __repr__ must not break the tool
        return f"<{type(value).__name__} object; repr failed: {type(e).__name__}: {e}>"


def _ipython_dir() -> str:
    import IPython

    return os.path.dirname(os.path.abspath(IPython.__file__)) + os.sep


def _is_ipython_frame(frame: Any) -> bool:
    """Leading frames inside IPython (run_code's exec) are noise for the model."""
    return os.path.abspath(frame.filename).startswith(_ipython_dir())

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
import inspect
import io
import os
import re
import reprlib
import sys
import types
import warnings
from typing import Any, Callable, Iterator

from .context import ToolContext
from .output import ToolOutput, cap_output, format_error

# How many variables list_variables shows before saying how many more there are.
MAX_LISTED = 200
# A numpy array bigger than this gets no summary statistics (they would scan it all).
MAX_STATS_ELEMENTS = 10_000_000
# A DataFrame bigger than this (cells) gets no missing counts or describe().
MAX_SCAN_CELLS = 50_000_000
# Columns of a DataFrame listed one per line.
MAX_COLUMNS = 50
# Per-cell caps in notebook_history: source and outputs.
MAX_SOURCE = 2000
MAX_CELL_OUTPUT = 1500
MAX_HISTORY = 50

# IPython's own names, for shells without `user_ns_hidden` (real shells have it).
_IPYTHON_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython"})
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_SIZED_BUILTINS = (str, bytes, bytearray, list, tuple, dict, set, frozenset, range)
_SCALARS = (int, float, complex, bool, str, bytes, bytearray)


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
    from .schema import ArgumentError, bind_arguments
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
        return _failed(f"Error: {name} failed: {type(e).__name__}: {_first_line(str(e))}", ctx)
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
    return [(k, v) for k, v in _visible_names(shell) if not _is_code(v)]


def _visible_names(shell: Any) -> list[tuple[str, Any]]:
    namespace = shell.user_ns
    hidden = getattr(shell, "user_ns_hidden", None) or {}
    missing = object()
    out = []
    for name, value in list(namespace.items()):
        if not isinstance(name, str) or name.startswith("_"):
            continue
        if hidden.get(name, missing) is value:
            continue
        if not hidden and name in _IPYTHON_NAMES:
            continue
        out.append((name, value))
    return out


def _is_code(value: Any) -> bool:
    if isinstance(value, (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType,
                          types.MethodType, types.BuiltinMethodType, functools.partial)):
        return True
    module = _type_module(value)
    return module in ("typing", "typing_extensions") or (module == "numpy" and type(value).__name__ == "ufunc")


def variables_report(shell: Any) -> str:
    """``list_variables`` for a given shell: one line per variable."""
    variables = user_variables(shell)
    if not variables:
        return "No user variables are defined in the kernel yet."
    lines = [f"{len(variables)} user variable{'s' if len(variables) != 1 else ''} "
             "(name: type, shape or length, size, preview):"]
    for name, value in variables[:MAX_LISTED]:
        lines.append(_variable_line(name, value))
    if len(variables) > MAX_LISTED:
        lines.append(f"... and {len(variables) - MAX_LISTED:,} more (not listed).")
    return "\n".join(lines)


def _variable_line(name: str, value: Any) -> str:
    try:
        parts = [type_name(value)]
        kind = _library_kind(value)
        suffix = ""
        if kind in ("pandas.DataFrame", "polars.DataFrame"):
            rows, cols = value.shape
            parts.append(f"{rows:,} rows x {cols:,} columns")
            columns = [str(c) for c in list(value.columns)[:20]]
            suffix = "; columns: " + _join_capped(columns, cols)
        elif kind in ("pandas.Series", "polars.Series"):
            parts += [f"length {len(value):,}", f"dtype {value.dtype}"]
        elif kind == "numpy.ndarray":
            parts += [f"shape {tuple(value.shape)}", str(value.dtype)]
            if value.size <= 10:
                suffix = " = " + _one_line(_numpy_preview(value, threshold=10), 100)
        else:
            if type(value) in _SIZED_BUILTINS:
                parts.append(f"length {len(value):,}")
            suffix = " = " + _one_line(capped_repr(value, 100), 100)
        size = size_in_bytes(value)
        if size is not None:
            parts.append(format_bytes(size))
        return f"{name}: " + ", ".join(parts) + suffix
    except Exception as e:  # noqa: BLE001 - one odd object must not hide the others
        return f"{name}: {type_name(value)} (could not describe: {type(e).__name__})"


# ================================================================ inspect_variable


def describe_variable(shell: Any, name: str) -> str:
    """``inspect_variable`` for a given shell."""
    name = (name or "").strip()
    namespace = shell.user_ns
    if not name or name not in namespace:
        raise KernelToolError(_unknown_name(shell, name))
    value = namespace[name]
    kind = _library_kind(value)
    describe = {
        "pandas.DataFrame": _describe_pandas_frame,
        "pandas.Series": _describe_pandas_series,
        "numpy.ndarray": _describe_array,
        "polars.DataFrame": _describe_polars_frame,
        "polars.Series": _describe_polars_series,
    }.get(kind or "")
    if describe is None:
        if isinstance(value, types.ModuleType):
            describe = _describe_module
        elif callable(value) and isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType,
                                                    types.MethodType, types.BuiltinMethodType,
                                                    functools.partial)):
            describe = _describe_callable
        else:
            describe = _describe_object
    return f"{name}: {type_name(value)}\n" + describe(value)


def _unknown_name(shell: Any, name: str) -> str:
    names = [k for k, _ in _visible_names(shell)]
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.6)
    text = f"no variable named {name!r} in the kernel."
    if close:
        text += " Close names: " + ", ".join(close) + "."
    elif names:
        text += " Defined names include: " + _join_capped(names[:20], len(names)) + "."
    else:
        text += " No user variables are defined yet."
    return text + " Call list_variables() to see them all."


def _describe_pandas_frame(df: Any) -> str:
    rows, cols = df.shape
    lines = [f"shape: ({rows:,}, {cols:,}) - {rows:,} rows x {cols:,} columns",
             f"memory: {format_bytes(int(df.memory_usage(index=True, deep=False).sum()))} (shallow)",
             "index: " + _one_line(capped_repr(df.index, 200), 200)]
    scan = rows * cols <= MAX_SCAN_CELLS
    missing = df.isna().sum() if scan else None
    lines.append("columns (name: dtype, missing):" if scan else
                 f"columns (name: dtype; missing counts skipped: more than {MAX_SCAN_CELLS:,} cells):")
    for i, (col, dtype) in enumerate(df.dtypes.items()):
        if i == MAX_COLUMNS:
            lines.append(f"  ... and {cols - MAX_COLUMNS:,} more columns")
            break
        miss = f", {int(missing.iloc[i]):,} missing" if missing is not None else ""
        lines.append(f"  {_one_line(str(col), 80)}: {dtype}{miss}")
    lines.append("head(5):")
    lines.append(cap_output(df.head(5).to_string(max_cols=20, max_colwidth=50), 3000))
    if scan:
        numeric = df.select_dtypes("number")
        if numeric.shape[1]:
            summary = numeric.iloc[:, :20].describe().T
            lines.append("numeric summary:")
            lines.append(cap_output(summary.to_string(float_format=_fmt_float), 3000))
    return "\n".join(lines)


def _describe_pandas_series(s: Any) -> str:
    lines = [f"length: {len(s):,}", f"dtype: {s.dtype}", f"name: {_one_line(str(s.name), 80)}",
             f"memory: {format_bytes(int(s.memory_usage(index=True, deep=False)))} (shallow)"]
    if len(s) <= MAX_SCAN_CELLS:
        lines.append(f"missing: {int(s.isna().sum()):,}")
        import pandas as pd

        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype) and s.notna().any():
            lines.append("min: {} max: {} mean: {} std: {}".format(
                *(_fmt_float(float(v)) for v in (s.min(), s.max(), s.mean(), s.std()))))
    lines.append("head(5):")
    lines.append(cap_output(s.head(5).to_string(max_rows=5), 2000))
    return "\n".join(lines)


def _describe_array(a: Any) -> str:
    import numpy as np

    lines = [f"shape: {tuple(a.shape)}", f"dtype: {a.dtype}", f"size: {a.size:,} elements",
             f"memory: {format_bytes(int(a.nbytes))}"]
    numeric = np.issubdtype(a.dtype, np.number) and not np.issubdtype(a.dtype, np.complexfloating)
    if (numeric or a.dtype == np.bool_) and a.size > MAX_STATS_ELEMENTS:
        lines.append(f"statistics skipped: more than {MAX_STATS_ELEMENTS:,} elements "
                     "(compute them with code on a slice)")
    elif a.dtype == np.bool_ and a.size:
        true = int(np.count_nonzero(a))
        lines.append(f"True: {true:,} ({100 * true / a.size:.1f}%), False: {a.size - true:,}")
    elif numeric and a.size:
        nans = int(np.isnan(a).sum()) if np.issubdtype(a.dtype, np.floating) else 0
        if nans == a.size:
            lines.append(f"all {nans:,} values are NaN")
        else:
            stats = (np.nanmin(a), np.nanmax(a), np.nanmean(a), np.nanstd(a))
            lines.append("min: {} max: {} mean: {} std: {}".format(*(_fmt_float(float(v)) for v in stats)))
            if nans:
                lines.append(f"NaN: {nans:,}")
    lines.append("values:")
    lines.append(cap_output(_numpy_preview(a, threshold=100), 2000))
    return "\n".join(lines)


def _numpy_preview(a: Any, threshold: int) -> str:
    import numpy as np

    return np.array2string(a, threshold=threshold, edgeitems=3, max_line_width=120)


def _describe_polars_frame(df: Any) -> str:
    rows, cols = df.shape
    lines = [f"shape: ({rows:,}, {cols:,}) - {rows:,} rows x {cols:,} columns",
             f"memory: {format_bytes(int(df.estimated_size()))} (estimated)"]
    nulls = df.null_count().row(0) if rows * cols <= MAX_SCAN_CELLS else None
    lines.append("columns (name: dtype, missing):")
    for i, (col, dtype) in enumerate(df.schema.items()):
        if i == MAX_COLUMNS:
            lines.append(f"  ... and {cols - MAX_COLUMNS:,} more columns")
            break
        miss = f", {int(nulls[i]):,} missing" if nulls is not None else ""
        lines.append(f"  {_one_line(str(col), 80)}: {dtype}{miss}")
    lines.append("head(5):")
    lines.append(cap_output(str(df.head(5)), 3000))
    return "\n".join(lines)


def _describe_polars_series(s: Any) -> str:
    lines = [f"length: {len(s):,}", f"dtype: {s.dtype}", f"name: {_one_line(str(s.name), 80)}",
             f"missing: {int(s.null_count()):,}", "head(5):", cap_output(str(s.head(5)), 2000)]
    return "\n".join(lines)


def _describe_callable(fn: Any) -> str:
    lines = []
    try:
        lines.append(f"signature: {getattr(fn, '__name__', 'function')}{inspect.signature(fn)}")
    except (TypeError, ValueError):
        lines.append("signature: (not available)")
    where = _defined_at(fn)
    if where:
        lines.append(f"defined at: {where}")
    doc = inspect.getdoc(fn)
    lines.append("docstring:\n" + cap_output(doc, 3000) if doc else "docstring: (none)")
    source = _source(fn)
    if source:
        lines.append("source:\n" + cap_output(source, 3000))
    return "\n".join(lines)


def _defined_at(fn: Any) -> str:
    try:
        path = inspect.getsourcefile(fn) or inspect.getfile(fn)
        line = inspect.getsourcelines(fn)[1]
    except (TypeError, OSError):
        return ""
    return f"{path}:{line}"


def _source(fn: Any) -> str:
    """The source of a function or class the user defined (a notebook cell or their own file)."""
    if not isinstance(fn, (types.FunctionType, type)):
        return ""
    try:
        path = inspect.getsourcefile(fn) or ""
        if "site-packages" in path or path.startswith(os.path.dirname(os.__file__)):
            return ""  # library code: the signature and docstring say enough
        return inspect.getsource(fn)
    except (TypeError, OSError):
        return ""


def _describe_module(module: Any) -> str:
    attrs = vars(module)  # no module __getattr__ is called
    lines = [f"module: {attrs.get('__name__', '?')}"]
    if attrs.get("__file__"):
        lines.append(f"file: {attrs['__file__']}")
    if isinstance(attrs.get("__version__"), str):
        lines.append(f"version: {attrs['__version__']}")
    doc = attrs.get("__doc__")
    if isinstance(doc, str) and doc.strip():
        lines.append("docstring:\n" + cap_output(inspect.cleandoc(doc), 600))
    return "\n".join(lines)


def _describe_object(value: Any) -> str:
    lines = []
    if type(value) in _SIZED_BUILTINS:
        lines.append(f"length: {len(value):,}")
    size = size_in_bytes(value)
    if size is not None:
        lines.append(f"memory: {format_bytes(size)}")
    if isinstance(value, dict) and type(value) is dict:
        lines.append("keys: " + _one_line(capped_repr(list(value)[:50], 1000), 1000))
    lines.append("repr:\n" + capped_repr(value, 2000, items=50))
    return "\n".join(lines)


# ================================================================ notebook_history


def history_report(shell: Any, n: int = 5) -> str:
    """``notebook_history`` for a given shell."""
    n = max(1, min(int(n), MAX_HISTORY))
    manager = getattr(shell, "history_manager", None)
    sources = list(getattr(manager, "input_hist_raw", None) or shell.user_ns.get("In") or [""])
    last = len(sources) - 1
    if last >= 1 and _running_cell(shell) == last:
        last -= 1  # the %%kimi cell asking is running: the model already has its prompt
    first = max(1, last - n + 1)
    blocks = []
    for i in range(first, last + 1):
        blocks.append(_cell_block(shell, manager, i, sources[i]))
    if not blocks:
        blocks.append("No cells have run yet.")
    error = _last_error(shell, manager)
    blocks.append(error or "No error has been raised in this session.")
    return "\n\n".join(blocks)


def _running_cell(shell: Any) -> int | None:
    """The execution count of the cell running now, if any (the displayhook knows it)."""
    result = getattr(getattr(shell, "displayhook", None), "exec_result", None)
    count = getattr(result, "execution_count", None)
    return count if isinstance(count, int) else None


def _cell_block(shell: Any, manager: Any, i: int, source: str) -> str:
    lines = [f"In [{i}]:", cap_output(str(source).strip("\n"), MAX_SOURCE) or "(empty)"]
    output = _cell_output(shell, manager, i)
    if output:
        lines += [f"Output [{i}]:", cap_output(output, MAX_CELL_OUTPUT)]
    stored = getattr(manager, "exceptions", {}).get(i) if manager is not None else None
    if isinstance(stored, dict) and stored.get("ename"):
        lines.append(f"Error [{i}]: {stored['ename']}: {_first_line(str(stored.get('evalue', '')))}")
    return "\n".join(lines)


def _cell_output(shell: Any, manager: Any, i: int) -> str:
    """The text a cell produced: IPython >= 9 keeps it per cell; older ones keep the Out value."""
    recorded = getattr(manager, "outputs", None)
    if isinstance(recorded, dict) and recorded.get(i):
        parts = []
        for out in recorded[i]:
            bundle = getattr(out, "bundle", {}) or {}
            kind = getattr(out, "output_type", "")
            if kind in ("out_stream", "err_stream"):
                parts.append("".join(bundle.get("stream", [])))
                continue
            text = bundle.get("text/plain")
            if isinstance(text, list):
                text = "".join(text)
            if isinstance(text, str) and text and not _is_default_repr(text):
                parts.append(text if text.endswith("\n") else text + "\n")
            else:
                parts.append(f"[{', '.join(sorted(bundle)) or 'empty'} output]\n")
        return _ANSI.sub("", "".join(parts)).rstrip("\n")
    reprs = getattr(manager, "output_hist_reprs", None)
    if isinstance(reprs, dict) and isinstance(reprs.get(i), str):
        return reprs[i]  # already formatted by IPython: no repr is run again
    out = shell.user_ns.get("Out")
    if isinstance(out, dict) and i in out:
        return capped_repr(out[i], MAX_CELL_OUTPUT)
    return ""


def _last_error(shell: Any, manager: Any) -> str:
    """The user's last exception with a short traceback.

    The live exception object (``sys.last_exc`` / ``sys.last_value``) gives the cleanest
    traceback; IPython >= 9 also stores each cell's formatted traceback, and ipykernel
    keeps the last one on the shell, for when the object is gone.
    """
    stored = getattr(manager, "exceptions", None) if manager is not None else None
    cell = max(stored) if isinstance(stored, dict) and stored else None
    where = f" (In [{cell}])" if cell is not None else ""
    exc = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    if isinstance(exc, BaseException):
        return f"Last error{where}:\n" + cap_output(format_error(exc, limit=5, skip=_is_ipython_frame), 3000)
    lines: list[str] = []
    if cell is not None:
        lines = [str(x) for x in stored[cell].get("traceback", [])]
    if not lines:
        lines = [str(x) for x in (getattr(shell, "_last_traceback", None) or [])]
    if not lines:
        return ""
    text = _ANSI.sub("", "\n".join(lines)).strip("\n")
    return f"Last error{where}:\n" + cap_output(text, 3000)


def _ipython_dir() -> str:
    import IPython

    return os.path.dirname(os.path.abspath(IPython.__file__)) + os.sep


def _is_ipython_frame(frame: Any) -> bool:
    return os.path.abspath(frame.filename).startswith(_ipython_dir())


# ================================================================ small helpers


def _type_module(value: Any) -> str:
    return (getattr(type(value), "__module__", "") or "").split(".")[0]


def type_name(value: Any) -> str:
    """``int``, ``numpy.ndarray``, ``pandas.DataFrame``, ``mymodule.Thing``: never calls user code."""
    cls = type(value)
    module = getattr(cls, "__module__", "") or ""
    qual = getattr(cls, "__qualname__", cls.__name__)
    if module in ("builtins", "__main__", ""):
        return qual
    top = module.split(".")[0]
    if top in ("numpy", "pandas", "polars"):
        return f"{top}.{qual}"
    return f"{module}.{qual}"


def _library_kind(value: Any) -> str | None:
    """Which well-known library type ``value`` is, checked without importing anything."""
    top = _type_module(value)
    if top not in ("numpy", "pandas", "polars"):
        return None
    lib = sys.modules.get(top)
    if lib is None:
        return None
    names = {"numpy": ("ndarray",), "pandas": ("DataFrame", "Series"), "polars": ("DataFrame", "Series")}[top]
    for cls_name in names:
        cls = getattr(lib, cls_name, None)
        if isinstance(cls, type) and isinstance(value, cls):
            return f"{top}.{cls_name}"
    return None


def size_in_bytes(value: Any) -> int | None:
    """Memory used, where it is cheap and means something; None otherwise."""
    kind = _library_kind(value)
    try:
        if kind == "numpy.ndarray":
            return int(value.nbytes)
        if kind == "pandas.DataFrame":
            return int(value.memory_usage(index=True, deep=False).sum())
        if kind == "pandas.Series":
            return int(value.memory_usage(index=True, deep=False))
        if kind in ("polars.DataFrame", "polars.Series"):
            return int(value.estimated_size())
    except Exception:  # noqa: BLE001 - a size is a nicety
        return None
    if type(value) in _SCALARS:
        return sys.getsizeof(value)  # a built-in's own __sizeof__, not user code
    return None


def format_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def capped_repr(value: Any, limit: int, items: int = 20) -> str:
    """A repr that cannot flood or fail: containers are shortened as they are walked
    (reprlib), a user's ``__repr__`` that returns megabytes is cut, one that raises is a note."""
    r = reprlib.Repr()
    r.maxlevel = 3
    r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdeque = r.maxarray = items
    r.maxdict = items
    r.maxstring = r.maxother = r.maxlong = max(limit, 20)
    try:
        text = r.repr(value)
    except Exception as e:  # noqa: BLE001
        return f"<{type_name(value)} object; repr failed: {type(e).__name__}>"
    if text.startswith("<") and " instance at 0x" in text and r.maxother:
        # reprlib's stand-in when the object's own __repr__ raised.
        return f"<{type_name(value)} object; repr failed>"
    return text if len(text) <= limit else text[:limit] + "…"


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_line(text: str) -> str:
    return _one_line(text.strip().splitlines()[0] if text.strip() else "", 300)


def _join_capped(names: list[str], total: int) -> str:
    text = ", ".join(_one_line(n, 40) for n in names)
    return text + (f", ... ({total - len(names):,} more)" if total > len(names) else "")


def _fmt_float(v: float) -> str:
    return f"{v:.6g}"


def _is_default_repr(text: str) -> bool:
    t = text.strip()
    return t.startswith("<") and t.endswith(">") and (" object" in t or " at 0x" in t)


_IMPLS: dict[str, Callable[..., str]] = {
    "list_variables": variables_report,
    "inspect_variable": describe_variable,
    "notebook_history": history_report,
}

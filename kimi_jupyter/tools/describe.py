"""Describing a value of the user's for the model, without running the user's code.

`inspect_variable` and `list_variables` (`kernel.py`) show what a value is: a pandas
or polars frame's shape, dtypes, head and missing counts; a numpy array's shape,
dtype and summary statistics; a function's signature and docstring; otherwise a
capped repr. Only library methods of well-known types run, and a repr (user code)
is wrapped: one that raises becomes a note, one that returns megabytes is cut.

What runs no user code, and how (a user's object can define any dunder):
- types are asked of `type(value)`, never `isinstance(value, …)`, which falls back to
  the object's own `__class__` (a property can run anything);
- a library type counts only when it is exactly the real class (`type(v) is
  pandas.DataFrame`), and its methods are taken from that class
  (`pandas.DataFrame.head(v, 5)`): a subclass, or an instance attribute that shadows a
  method, is the user's code, so such an object gets a capped repr;
- containers are walked only when they are exactly built-in ones, and in their own
  order: reprlib would sort a dict's or set's items (the keys' `__lt__`) and picks its
  container code by the type's *name*, so a user class called `dict` would be walked.
"""

from __future__ import annotations

import builtins
import functools
import inspect
import itertools
import os
import reprlib
import sys
import types
from typing import Any

from ..core.tool_output import cap_output

# A numpy array bigger than this gets no summary statistics (they would scan it all).
MAX_STATS_ELEMENTS = 10_000_000
# A DataFrame bigger than this (cells) gets no missing counts or describe().
MAX_SCAN_CELLS = 50_000_000
# Columns of a DataFrame listed one per line.
MAX_COLUMNS = 50
_SIZED_BUILTINS = (str, bytes, bytearray, list, tuple, dict, set, frozenset, range)
_SCALARS = (int, float, complex, bool, str, bytes, bytearray)


# Code, not data (list_variables leaves these out); checked on `type(value)`.
_CODE_TYPES = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType,
               types.MethodType, types.BuiltinMethodType, functools.partial)


def _is_a(value: Any, classes: type | tuple[type, ...]) -> bool:
    """`isinstance` without asking the object: its real type's MRO only, never `__class__`."""
    return issubclass(type(value), classes)


def describe(value: Any) -> str:
    """What `inspect_variable` says about a value (after its name and type)."""
    kind = _library_kind(value)
    describe = {
        "pandas.DataFrame": _describe_pandas_frame,
        "pandas.Series": _describe_pandas_series,
        "numpy.ndarray": _describe_array,
        "polars.DataFrame": _describe_polars_frame,
        "polars.Series": _describe_polars_series,
    }.get(kind or "")
    if describe is None:
        if _is_a(value, types.ModuleType):
            describe = _describe_module
        elif _is_a(value, _CODE_TYPES):
            describe = _describe_callable
        else:
            describe = _describe_object
    return describe(value)


def is_code(value: Any) -> bool:
    """Modules, functions, classes and typing constructs: code, not data."""
    if _is_a(value, _CODE_TYPES):
        return True
    module = _type_module(value)
    return module in ("typing", "typing_extensions") or (module == "numpy" and type(value).__name__ == "ufunc")


def summary_line(name: str, value: Any) -> str:
    """One `list_variables` line: type, shape or length, size, a short preview."""
    try:
        parts = [type_name(value)]
        kind = _library_kind(value)
        suffix = ""
        # `kind` is set only for exactly the library's class (see `_library_kind`), whose
        # properties (data descriptors) can't be shadowed by the instance; `len` uses the type.
        if kind in ("pandas.DataFrame", "polars.DataFrame"):
            rows, cols = value.shape
            parts.append(f"{rows:,} rows x {cols:,} columns")
            columns = [str(c) for c in list(value.columns)[:20]]
            suffix = "; columns: " + join_capped(columns, cols)
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


def _describe_pandas_frame(df: Any) -> str:
    # Methods from the class, not the object: an instance attribute can shadow a method.
    # What they return is pandas' own new object, safe to use as usual.
    DataFrame = type(df)
    rows, cols = df.shape
    lines = [f"shape: ({rows:,}, {cols:,}) - {rows:,} rows x {cols:,} columns",
             f"memory: {format_bytes(int(DataFrame.memory_usage(df, index=True, deep=False).sum()))} (shallow)",
             "index: " + _one_line(capped_repr(df.index, 200), 200)]
    scan = rows * cols <= MAX_SCAN_CELLS
    missing = DataFrame.isna(df).sum() if scan else None
    lines.append("columns (name: dtype, missing):" if scan else
                 f"columns (name: dtype; missing counts skipped: more than {MAX_SCAN_CELLS:,} cells):")
    lines += _column_lines(list(df.dtypes.items()), None if missing is None else list(missing))
    lines.append("head(5):")
    lines.append(cap_output(DataFrame.head(df, 5).to_string(max_cols=20, max_colwidth=50), 3000))
    if scan:
        numeric = DataFrame.select_dtypes(df, "number")
        if numeric.shape[1]:
            summary = numeric.iloc[:, :20].describe().T
            lines.append("numeric summary:")
            lines.append(cap_output(summary.to_string(float_format=_fmt_float), 3000))
    return "\n".join(lines)


def _describe_pandas_series(s: Any) -> str:
    Series = type(s)  # methods from the class (see `_describe_pandas_frame`)
    lines = [f"length: {len(s):,}", f"dtype: {s.dtype}", f"name: {_one_line(str(s.name), 80)}",
             f"memory: {format_bytes(int(Series.memory_usage(s, index=True, deep=False)))} (shallow)"]
    if len(s) <= MAX_SCAN_CELLS:
        lines.append(f"missing: {int(Series.isna(s).sum()):,}")
        import pandas as pd

        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype) and Series.notna(s).any():
            lines.append("min: {} max: {} mean: {} std: {}".format(
                *(_fmt_float(float(v)) for v in (Series.min(s), Series.max(s), Series.mean(s), Series.std(s)))))
    lines.append("head(5):")
    lines.append(cap_output(Series.head(s, 5).to_string(max_rows=5), 2000))
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


def _column_lines(columns: list[tuple[Any, Any]], missing: list[Any] | None) -> list[str]:
    """One line per column (name: dtype, missing), at most MAX_COLUMNS of them."""
    lines = []
    for i, (col, dtype) in enumerate(columns):
        if i == MAX_COLUMNS:
            lines.append(f"  ... and {len(columns) - MAX_COLUMNS:,} more columns")
            break
        miss = f", {int(missing[i]):,} missing" if missing is not None else ""
        lines.append(f"  {_one_line(str(col), 80)}: {dtype}{miss}")
    return lines


def _describe_polars_frame(df: Any) -> str:
    DataFrame = type(df)  # methods from the class (see `_describe_pandas_frame`)
    rows, cols = df.shape
    lines = [f"shape: ({rows:,}, {cols:,}) - {rows:,} rows x {cols:,} columns",
             f"memory: {format_bytes(int(DataFrame.estimated_size(df)))} (estimated)"]
    nulls = DataFrame.null_count(df).row(0) if rows * cols <= MAX_SCAN_CELLS else None
    lines.append("columns (name: dtype, missing):")
    lines += _column_lines(list(df.schema.items()), None if nulls is None else list(nulls))
    lines.append("head(5):")
    lines.append(cap_output(str(DataFrame.head(df, 5)), 3000))
    return "\n".join(lines)


def _describe_polars_series(s: Any) -> str:
    Series = type(s)  # methods from the class (see `_describe_pandas_frame`)
    lines = [f"length: {len(s):,}", f"dtype: {s.dtype}", f"name: {_one_line(str(s.name), 80)}",
             f"missing: {int(Series.null_count(s)):,}", "head(5):", cap_output(str(Series.head(s, 5)), 2000)]
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
    if not _is_a(fn, (types.FunctionType, type)):
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
    if type(attrs.get("__version__")) is str:
        lines.append(f"version: {attrs['__version__']}")
    doc = attrs.get("__doc__")
    if type(doc) is str and doc.strip():
        lines.append("docstring:\n" + cap_output(inspect.cleandoc(doc), 600))
    return "\n".join(lines)


def _describe_object(value: Any) -> str:
    lines = []
    if type(value) in _SIZED_BUILTINS:
        lines.append(f"length: {len(value):,}")
    size = size_in_bytes(value)
    if size is not None:
        lines.append(f"memory: {format_bytes(size)}")
    if type(value) is dict:
        lines.append("keys: " + _one_line(capped_repr(list(value)[:50], 1000), 1000))
    lines.append("repr:\n" + capped_repr(value, 2000, items=50))
    return "\n".join(lines)


# ================================================================ notebook_history


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
    # Exactly the real classes: a subclass can override any method we would call. numpy's
    # own memmap (a file-backed ndarray) is numpy's code, so it counts as an ndarray.
    names = {"numpy": (("ndarray", "ndarray"), ("memmap", "ndarray")),
             "pandas": (("DataFrame", "DataFrame"), ("Series", "Series")),
             "polars": (("DataFrame", "DataFrame"), ("Series", "Series"))}[top]
    for cls_name, kind in names:
        if type(value) is vars(lib).get(cls_name):
            return f"{top}.{kind}"
    return None


def size_in_bytes(value: Any) -> int | None:
    """Memory used, where it is cheap and means something; None otherwise."""
    kind = _library_kind(value)
    cls = type(value)  # the library's own class when `kind` is set: methods come from it
    try:
        if kind == "numpy.ndarray":
            return int(value.nbytes)
        if kind == "pandas.DataFrame":
            return int(cls.memory_usage(value, index=True, deep=False).sum())
        if kind == "pandas.Series":
            return int(cls.memory_usage(value, index=True, deep=False))
        if kind in ("polars.DataFrame", "polars.Series"):
            return int(cls.estimated_size(value))
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


class _Repr(reprlib.Repr):
    """reprlib that walks only exact built-in containers, in their own order.

    reprlib picks its container code by the type's *name* (a user class named
    `dict` would be walked, its `__len__` and `__getitem__` called), sorts dict keys
    and set items (their `__lt__`), looks a dict's values up by key (`__hash__`,
    `__eq__`), and names a failed repr by `x.__class__`. Here none of that runs:
    only a user object's own `__repr__` does, and its text is cut.
    """

    def repr1(self, x: Any, level: int) -> str:
        kind = type(x)
        if kind is dict:
            return self._dict(x, level)
        if kind is list:
            return self._repr_iterable(x, level, "[", "]", self.maxlist)
        if kind is tuple:
            return self._repr_iterable(x, level, "(", ")", self.maxtuple, ",")
        if kind is set:
            return self._repr_iterable(x, level, "{", "}", self.maxset) if x else "set()"
        if kind is frozenset:
            return self._repr_iterable(x, level, "frozenset({", "})", self.maxfrozenset) if x else "frozenset()"
        if kind is str:
            return self.repr_str(x, level)
        if kind is int:
            return self.repr_int(x, level)
        return self.repr_instance(x, level)

    def _dict(self, x: dict, level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{" + self.fillvalue + "}"
        pieces = [f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}"
                  for k, v in itertools.islice(x.items(), self.maxdict)]
        if len(x) > self.maxdict:
            pieces.append(self.fillvalue)
        return "{" + ", ".join(pieces) + "}"

    def repr_instance(self, x: Any, level: int) -> str:
        try:
            text = builtins.repr(x)
        except Exception:  # noqa: BLE001 - a user's __repr__ that raises is a note
            return f"<{type_name(x)} object; repr failed>"
        if type(text) is not str:
            return f"<{type_name(x)} object; repr failed>"
        if len(text) > self.maxother:
            i = max(0, (self.maxother - 3) // 2)
            j = max(0, self.maxother - 3 - i)
            text = text[:i] + self.fillvalue + text[len(text) - j:]
        return text


def capped_repr(value: Any, limit: int, items: int = 20) -> str:
    """A repr that cannot flood or fail: containers are shortened as they are walked
    (`_Repr`), a user's ``__repr__`` that returns megabytes is cut, one that raises is a note."""
    r = _Repr()
    r.maxlevel = 3
    r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdeque = r.maxarray = items
    r.maxdict = items
    r.maxstring = r.maxother = r.maxlong = max(limit, 20)
    try:
        text = r.repr(value)
    except Exception as e:  # noqa: BLE001 - e.g. RecursionError on a deeply nested value
        return f"<{type_name(value)} object; repr failed: {type(e).__name__}>"
    return text if len(text) <= limit else text[:limit] + "…"


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def first_line(text: str) -> str:
    return _one_line(text.strip().splitlines()[0] if text.strip() else "", 300)


def join_capped(names: list[str], total: int) -> str:
    text = ", ".join(_one_line(n, 40) for n in names)
    return text + (f", ... ({total - len(names):,} more)" if total > len(names) else "")


def _fmt_float(v: float) -> str:
    return f"{v:.6g}"


def is_default_repr(text: str) -> bool:
    t = text.strip()
    return t.startswith("<") and t.endswith(">") and (" object" in t or " at 0x" in t)

"""Check the model's JSON values against a parameter's annotation, converting where the
JSON form differs from the Python one (int → float, list → tuple/set, value → Enum,
object → dataclass). Anything else that does not fit raises ArgumentError, whose message
is written for the model: it names the argument, the expected type and what it got.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import enum
import inspect
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

_EMPTY = inspect.Parameter.empty


class ArgumentError(ValueError):
    """The model's arguments don't fit the function; the message goes back to the model."""


def is_none(tp: Any) -> bool:
    return tp is None or tp is type(None)


def is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def type_hints(obj: Any) -> dict[str, Any]:
    """Resolved annotations of a function or class, ``return`` excluded if unresolvable.

    ``typing.get_type_hints`` fails as a whole if any one string annotation can't be
    evaluated (typically a class local to a function under ``from __future__ import
    annotations``). Then resolve each one alone, using the closure too, so only a
    parameter that really can't be resolved is an error, and it is named.
    """
    try:
        return typing.get_type_hints(obj, include_extras=True)
    except Exception:
        pass
    ns: dict[str, Any] = dict(getattr(obj, "__globals__", None) or
                              vars(__import__("sys").modules.get(obj.__module__, object())))
    code, closure = getattr(obj, "__code__", None), getattr(obj, "__closure__", None)
    if code is not None and closure:
        for name, cell in zip(code.co_freevars, closure):
            try:
                ns[name] = cell.cell_contents
            except ValueError:  # cell not filled yet
                pass
    hints: dict[str, Any] = {}
    for name, ann in getattr(obj, "__annotations__", {}).items():
        if isinstance(ann, str):
            try:
                ann = eval(ann, ns)  # noqa: S307 - the user's own annotation text
            except Exception as e:
                if name == "return":
                    continue  # the return type is not part of the schema
                raise ValueError(f"parameter '{name}': cannot resolve the annotation "
                                 f"{ann!r}: {e}") from e
        hints[name] = ann
    return hints


def _got(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _fail(where: str, expected: str, value: Any) -> ArgumentError:
    return ArgumentError(f"argument '{where}' must be {expected}, got {_got(value)}")


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Return ``value`` converted to fit ``tp``, or raise ArgumentError."""
    if tp is _EMPTY or tp is Any or tp is object:
        return value
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is typing.Annotated:
        return coerce(value, args[0], where)
    if is_none(tp):
        if value is not None:
            raise _fail(where, "null", value)
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(where, "a boolean", value)
        return value
    if tp is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(where, "an integer", value)
        return value
    if tp is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _fail(where, "a number", value)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(where, "a string", value)
        return value
    if origin in (Union, types.UnionType):
        if value is None and any(is_none(a) for a in args):
            return None
        rest = [a for a in args if not is_none(a)]
        if len(rest) == 1:  # Optional[T]: T's own message is the most precise
            return coerce(value, rest[0], where)
        for a in rest:
            try:
                return coerce(value, a, where)
            except ArgumentError:
                pass
        names = ", ".join("null" if is_none(a) else getattr(a, "__name__", repr(a)) for a in args)
        raise _fail(where, f"one of ({names})", value)
    if origin is Literal:
        if not any(type(a) is type(value) and a == value for a in args):
            raise _fail(where, "one of " + ", ".join(repr(a) for a in args), value)
        return value
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _coerce_enum(value, tp, where)
    container = origin or tp
    if container in (list, tuple, set, frozenset) or container in (
        cabc.Sequence, cabc.MutableSequence, cabc.Set, cabc.MutableSet, cabc.Iterable,
        cabc.Collection,
    ):
        return _coerce_array(value, container, args, where)
    if container in (dict, cabc.Mapping, cabc.MutableMapping):
        if not isinstance(value, dict):
            raise _fail(where, "an object", value)
        if len(args) == 2:
            return {k: coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _coerce_dataclass(value, tp, where)
    if is_typeddict(tp):
        if not isinstance(value, dict):
            raise _fail(where, "an object", value)
        hints = type_hints(tp)
        missing = [k for k in tp.__required_keys__ if k not in value]
        if missing:
            raise ArgumentError(f"argument '{where}' is missing key(s): {', '.join(missing)}")
        return {k: coerce(v, hints[k], f"{where}.{k}") if k in hints else v
                for k, v in value.items()}
    # Unknown annotations were rejected at registration; pass the value through.
    return value


def _coerce_enum(value: Any, tp: type[enum.Enum], where: str) -> enum.Enum:
    try:
        return tp(value)
    except ValueError:
        pass
    if isinstance(value, str) and value in tp.__members__:
        return tp[value]  # models sometimes send the member name instead of its value
    allowed = ", ".join(repr(m.value) for m in tp)
    raise _fail(where, f"one of {allowed}", value)


def _coerce_array(value: Any, container: Any, args: tuple, where: str) -> Any:
    if not isinstance(value, list):
        raise _fail(where, "an array", value)
    if container is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        if len(value) != len(args):
            raise ArgumentError(
                f"argument '{where}' must have exactly {len(args)} items, got {len(value)}"
            )
        return tuple(coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    items = [coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)] if args else value
    if container is tuple:
        return tuple(items)
    if container in (set, cabc.Set, cabc.MutableSet):
        return set(items)
    if container is frozenset:
        return frozenset(items)
    return list(items)


def _coerce_dataclass(value: Any, tp: type, where: str) -> Any:
    if not isinstance(value, dict):
        raise _fail(where, f"an object ({tp.__name__})", value)
    hints = type_hints(tp)
    fields = {f.name: f for f in dataclasses.fields(tp) if f.init}
    unknown = [k for k in value if k not in fields]
    missing = [
        n for n, f in fields.items()
        if n not in value and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if unknown or missing:
        parts = []
        if missing:
            parts.append("missing key(s): " + ", ".join(missing))
        if unknown:
            parts.append("unknown key(s): " + ", ".join(unknown))
        raise ArgumentError(f"argument '{where}' ({tp.__name__}) has " + "; ".join(parts))
    kwargs = {k: coerce(v, hints.get(k, _EMPTY), f"{where}.{k}") for k, v in value.items()}
    try:
        return tp(**kwargs)
    except Exception as e:  # __post_init__ validation, for example
        raise ArgumentError(f"argument '{where}' ({tp.__name__}): {type(e).__name__}: {e}") from e

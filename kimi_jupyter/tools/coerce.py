"""Check the model's arguments for a user tool and convert them to what the function takes.

The pydantic model ``schema.build_spec`` made from the signature does the checking, in
strict mode on the arguments as JSON: a JSON value becomes the Python type the parameter
names (int → float, array → tuple/set, a value or a member's name → Enum, object →
dataclass), but nothing is guessed from a value of another JSON type: ``"3"`` is not an int,
``3.0`` not an int either, ``"true"`` and ``1`` not booleans. A model that quotes a number
gets a tool error saying so and sends it again, instead of a function that runs on a value
the schema never offered. This module turns pydantic's ``ValidationError`` into one
``ArgumentError`` written for the model: every problem at once, each naming the argument,
what was expected and what it got.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .schema import ToolSpec


class ArgumentError(ValueError):
    """The model's arguments don't fit the function; the message goes back to the model."""


_EXPECTED = {
    **dict.fromkeys(("int_type", "int_parsing", "int_from_float", "int_parsing_size"),
                    "an integer"),
    **dict.fromkeys(("float_type", "float_parsing", "finite_number"), "a number"),
    **dict.fromkeys(("bool_type", "bool_parsing"), "a boolean"),
    "string_type": "a string",
    **dict.fromkeys(("list_type", "tuple_type", "set_type", "frozen_set_type", "iterable_type"),
                    "an array"),
    **dict.fromkeys(("dict_type", "dataclass_type", "model_type", "model_attributes_type"),
                    "an object"),
    "none_required": "null",
}
_UNKNOWN = ("extra_forbidden", "unexpected_keyword_argument")


def bind_arguments(spec: ToolSpec, arguments: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Check and convert the model's arguments; return ``(args, kwargs)`` for the call."""
    from pydantic import ValidationError

    given = dict(arguments)
    defaulted = set()
    for p in spec.params:
        if p.name in given and given[p.name] is None and p.has_default and (
                p.default is None or not p.accepts_none):
            # Models often send null for "not given"; `n: int = None` is common too.
            del given[p.name]
            defaulted.add(p.name)
    try:
        # JSON mode, not Python mode: strict Python mode would refuse a list for a tuple or a
        # dict for a dataclass, which is all JSON can send. The arguments came as JSON.
        model = spec.model.model_validate_json(json.dumps(given), strict=True)
    except ValidationError as e:
        problems = _problems(e.errors(), given, [p.name for p in spec.params])
        raise ArgumentError(f"invalid arguments for tool '{spec.name}': "
                            + "; ".join(problems)) from e
    chosen = defaulted | {spec.params[int(f[1:])].name for f in model.model_fields_set}
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for i, p in enumerate(spec.params):
        if p.positional_only:
            # Positional-only parameters must be filled in order, defaults included.
            args.append(getattr(model, f"p{i}"))
        elif p.name in chosen:
            kwargs[p.name] = getattr(model, f"p{i}")
    return args, kwargs


def _problems(errors: list[dict[str, Any]], given: dict[str, Any], names: list[str]) -> list[str]:
    missing: list[str] = []
    unknown: list[str] = []
    grouped: dict[tuple, list[str]] = {}  # (argument path, kind) -> keys, or union members
    other: dict[Any, str] = {}  # insertion-ordered; a union's entry is rewritten in place
    for err in errors:
        kind, loc = err["type"], err["loc"]
        last = loc[-1:] if kind == "missing" else ()  # a missing key is not in the input
        path, value, tags = _walk(given, loc[:len(loc) - len(last)])
        where = _where(path)
        if tags:  # a union: every member failed; name them all, as one problem
            members = grouped.setdefault((where, "union"), [])
            members.extend(t for t in tags if t not in members)
            other[(where, "union")] = (f"argument '{where}' must be one of "
                                       f"({', '.join(members)}), got {_got(value)}")
        elif kind == "missing" and not path:
            missing.append(f"'{last[0]}'")
        elif kind in _UNKNOWN and len(path) == 1:
            unknown.append(f"'{path[0]}'")
        elif kind == "missing" or kind in _UNKNOWN:  # inside an object or a tuple
            if kind == "missing":
                parent, key = where, last[0]
                what = "is missing item(s)" if isinstance(key, int) else "is missing key(s)"
            else:
                parent, key, what = _where(path[:-1]), path[-1], "has unknown key(s)"
            keys = grouped.setdefault((parent, what), [])
            keys.append(f"[{key}]" if isinstance(key, int) else str(key))
            other[(parent, what)] = f"argument '{parent}' {what}: {', '.join(keys)}"
        else:
            other[len(other)] = _describe(kind, where, value, err)
    problems = []
    if missing:
        problems.append("missing required argument(s): " + ", ".join(missing))
    if unknown:
        problems.append("unknown argument(s): " + ", ".join(unknown)
                        + f" (accepted: {', '.join(names) or 'none'})")
    return problems + list(other.values())


def _walk(given: Any, loc: tuple) -> tuple[list[Any], Any, list[str]]:
    """Split pydantic's ``loc`` into the path through the input and union member tags."""
    path: list[Any] = []
    tags: list[str] = []
    value = given
    for part in loc:
        if isinstance(value, dict) and part in value or (
                isinstance(value, list) and isinstance(part, int) and part < len(value)):
            path.append(part)
            value = value[part]
        elif isinstance(part, str):  # not in the input: the union member pydantic tried
            # "function-before[<validator>, enum[Color]]" -> "Color"
            tag = re.sub(r"^function-\w+\[.*, (.*)\]$", r"\1", part)
            tags.append(re.sub(r"^enum\[(.*)\]$", r"\1", tag))
    return path, value, tags


def _where(path: list[Any]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _describe(kind: str, where: str, value: Any, err: dict[str, Any]) -> str:
    ctx = err.get("ctx") or {}
    if kind in _EXPECTED:
        return f"argument '{where}' must be {_EXPECTED[kind]}, got {_got(value)}"
    if kind in ("enum", "literal_error"):
        allowed = str(ctx.get("expected", "")).replace(" or ", ", ")
        return f"argument '{where}' must be one of {allowed}, got {_got(value)}"
    if kind in ("too_long", "too_short") and "actual_length" in ctx:
        bound = (f"at most {ctx['max_length']}" if kind == "too_long"
                 else f"at least {ctx['min_length']}")
        return f"argument '{where}' must have {bound} items, got {ctx['actual_length']}"
    return f"argument '{where}': {err['msg']}, got {_got(value)}"


def _got(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"

"""Turn a typed Python function into an OpenAI/Kimi tool schema, and check the model's
arguments against it before the function is called.

Unsupported annotations raise ``ValueError`` at registration, naming the parameter:
a schema that silently accepts anything would let the model send values the function
cannot use, and the user would only find out from a confusing error mid-conversation.
Parameters with *no* annotation (or ``Any``) are allowed and accept any JSON value.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import enum
import inspect
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Union, get_args, get_origin

from .coerce import ArgumentError, coerce, is_none as _is_none, is_typeddict as _is_typeddict
from .coerce import type_hints as _type_hints
from .docstrings import parse_docstring

NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9\-_]{0,63}$")

_EMPTY = inspect.Parameter.empty
_JSON_TYPES: dict[type, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}
_ARRAYS = {list, tuple, set, frozenset, cabc.Sequence, cabc.MutableSequence, cabc.Set,
           cabc.MutableSet, cabc.Iterable, cabc.Collection}
_MAPPINGS = {dict, cabc.Mapping, cabc.MutableMapping}


def validate_name(name: str) -> str:
    """Check a tool name against Kimi's rule; raise ValueError explaining it otherwise."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError(
            f"invalid tool name {name!r}: names must match ^[a-zA-Z_][a-zA-Z0-9-_]{{0,63}}$ "
            "(start with a letter or underscore; then letters, digits, '-' or '_'; at most "
            "64 characters). Pass name='...' to choose another."
        )
    return name


@dataclass
class Param:
    """One parameter of a tool function, as needed to validate a call."""

    name: str
    annotation: Any
    required: bool
    default: Any
    positional_only: bool


@dataclass
class ToolSpec:
    """A registered user tool: the function plus the schema the model sees."""

    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., Any]
    params: list[Param] = field(default_factory=list)

    def openai_schema(self) -> dict[str, Any]:
        function: dict[str, Any] = {"name": self.name}
        if self.description:
            function["description"] = self.description
        function["parameters"] = self.parameters
        return {"type": "function", "function": function}


# --------------------------------------------------------------------------- schema




def _json_type_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return None


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    kinds = {_json_type_of(v) for v in values}
    if len(kinds) == 1 and None not in kinds:
        schema["type"] = kinds.pop()
    schema["enum"] = values
    return schema


def _nullable(inner: dict[str, Any]) -> dict[str, Any]:
    if not inner:
        return inner
    if isinstance(inner.get("type"), str) and "enum" not in inner:
        return {**inner, "type": [inner["type"], "null"]}
    return {"anyOf": [inner, {"type": "null"}]}






def type_schema(tp: Any, where: str) -> dict[str, Any]:
    """JSON schema for one annotation; ``where`` names the parameter in errors."""
    if tp is _EMPTY or tp is Any or tp is object:
        return {}
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is typing.Annotated:
        schema = dict(type_schema(args[0], where))
        text = next((m for m in args[1:] if isinstance(m, str)), None)
        if text:
            schema["description"] = text
        return schema
    if _is_none(tp):
        return {"type": "null"}
    if tp in _JSON_TYPES:
        return {"type": _JSON_TYPES[tp]}
    if origin in (Union, types.UnionType):
        rest = [a for a in args if not _is_none(a)]
        inner = (type_schema(rest[0], where) if len(rest) == 1
                 else {"anyOf": [type_schema(a, where) for a in rest]})
        return _nullable(inner) if len(rest) < len(args) else inner
    if origin is Literal:
        return _enum_schema(list(args))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_schema([m.value for m in tp])
    if tp in _ARRAYS or origin in _ARRAYS:
        return _array_schema(tp, origin, args, where)
    if tp in _MAPPINGS or origin in _MAPPINGS:
        if args and args[0] not in (str, Any):
            raise ValueError(f"parameter '{where}': dict keys must be str for JSON, got {tp!r}")
        schema = {"type": "object"}
        if len(args) == 2 and args[1] is not Any:
            schema["additionalProperties"] = type_schema(args[1], f"{where}[value]")
        return schema
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _dataclass_schema(tp, where)
    if _is_typeddict(tp):
        hints = _type_hints(tp)
        return {
            "type": "object",
            "properties": {k: type_schema(v, f"{where}.{k}") for k, v in hints.items()},
            "required": [k for k in hints if k in tp.__required_keys__],
        }
    raise ValueError(
        f"parameter '{where}': unsupported type annotation {tp!r}. Use str, int, float, bool, "
        "list[...], dict[str, ...], Literal[...], an Enum, a dataclass, a TypedDict, "
        "Optional[...], or no annotation to accept any JSON value."
    )


def _array_schema(tp: Any, origin: Any, args: tuple, where: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array"}
    if (origin or tp) is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        # Fixed-length tuple: say the length; give items only if they share a type.
        schemas = [type_schema(a, f"{where}[{i}]") for i, a in enumerate(args)]
        if all(s == schemas[0] for s in schemas):
            schema["items"] = schemas[0]
        schema["minItems"] = schema["maxItems"] = len(args)
        return schema
    if args:
        schema["items"] = type_schema(args[0], f"{where}[]")
    if (origin or tp) in (set, frozenset, cabc.Set, cabc.MutableSet):
        schema["uniqueItems"] = True
    return schema


def _dataclass_schema(tp: type, where: str) -> dict[str, Any]:
    hints = _type_hints(tp)
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(tp):
        if not f.init:
            continue
        props[f.name] = type_schema(hints.get(f.name, _EMPTY), f"{where}.{f.name}")
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    schema: dict[str, Any] = {"type": "object", "properties": props, "required": required}
    doc = parse_docstring(tp.__doc__)[0]
    # dataclasses invent a docstring from the signature; it tells the model nothing.
    if doc and not doc.startswith(f"{tp.__name__}("):
        schema["description"] = doc
    return schema


def _json_default(value: Any) -> tuple[bool, Any]:
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None or isinstance(value, (str, bool, int, float)):
        return True, value
    if isinstance(value, (list, tuple)) and all(_json_default(v)[0] for v in value):
        return True, [_json_default(v)[1] for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) and _json_default(v)[0]
                                       for k, v in value.items()):
        return True, {k: _json_default(v)[1] for k, v in value.items()}
    return False, None  # e.g. an object: leave "default" out rather than misdescribe it


def build_spec(fn: Callable[..., Any], *, name: str | None = None,
               description: str | None = None) -> ToolSpec:
    """Build a ToolSpec from ``fn``'s signature, type hints and docstring."""
    if not callable(fn):
        raise TypeError(f"a tool must be callable, got {fn!r}")
    name = name if name is not None else getattr(fn, "__name__", None)
    if name is None:
        raise ValueError(f"{fn!r} has no __name__; pass name='...'")
    validate_name(name)
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError) as e:
        raise ValueError(f"cannot read the signature of tool '{name}': {e}") from e
    plain = inspect.isfunction(fn) or inspect.ismethod(fn) or isinstance(fn, type)
    hints = _type_hints(fn if plain else getattr(fn, "__call__", fn))  # callable objects
    doc_text, doc_params = parse_docstring(inspect.getdoc(fn))

    props: dict[str, Any] = {}
    required: list[str] = []
    params: list[Param] = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            star = "*" if p.kind is p.VAR_POSITIONAL else "**"
            raise ValueError(
                f"tool '{name}': {star}{p.name} is not supported; the model passes named "
                "arguments, so list each parameter explicitly"
            )
        ann = hints.get(p.name, _EMPTY)
        schema_ann = ann
        if p.default is None and _is_optional(ann):
            # `x: int | None = None` is just "an optional int" to the model.
            schema_ann = _strip_none(ann)
        schema = type_schema(schema_ann, p.name)
        if p.name in doc_params and doc_params[p.name] and "description" not in schema:
            schema = {**schema, "description": doc_params[p.name]}
        if p.default is _EMPTY:
            required.append(p.name)
        else:
            ok, value = _json_default(p.default)
            if ok:
                schema = {**schema, "default": value}
        props[p.name] = schema
        params.append(Param(p.name, ann, p.default is _EMPTY,
                            p.default, p.kind is p.POSITIONAL_ONLY))

    if description is None:
        description = doc_text
    parameters = {"type": "object", "properties": props, "required": required}
    return ToolSpec(name=name, description=description, parameters=parameters, fn=fn,
                    params=params)


def _accepts_none(tp: Any) -> bool:
    return tp is _EMPTY or tp is Any or tp is object or _is_none(tp) or _is_optional(tp)


def _is_optional(tp: Any) -> bool:
    if get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    return get_origin(tp) in (Union, types.UnionType) and any(_is_none(a) for a in get_args(tp))


def _strip_none(tp: Any) -> Any:
    if get_origin(tp) is typing.Annotated:
        base, *meta = get_args(tp)
        return typing.Annotated[(_strip_none(base), *meta)]
    rest = tuple(a for a in get_args(tp) if not _is_none(a))
    return rest[0] if len(rest) == 1 else Union[rest]


# ------------------------------------------------------------------- validating calls

def bind_arguments(spec: ToolSpec, arguments: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Check and convert the model's arguments; return ``(args, kwargs)`` for the call.

    Every problem is reported at once, so the model can fix its call in one retry.
    """
    known = {p.name for p in spec.params}
    missing = [p.name for p in spec.params if p.required and p.name not in arguments]
    unknown = [k for k in arguments if k not in known]
    problems: list[str] = []
    if missing:
        problems.append("missing required argument(s): " + ", ".join(f"'{m}'" for m in missing))
    if unknown:
        accepted = ", ".join(p.name for p in spec.params) or "none"
        problems.append("unknown argument(s): " + ", ".join(f"'{u}'" for u in unknown)
                        + f" (accepted: {accepted})")
    values: dict[str, Any] = {}
    for p in spec.params:
        if p.name in arguments:
            if arguments[p.name] is None and (p.default is None or not p.required):
                # Models often send null for "not given"; `n: int = None` is common too.
                if p.default is None or not _accepts_none(p.annotation):
                    values[p.name] = p.default
                    continue
            try:
                values[p.name] = coerce(arguments[p.name], p.annotation, p.name)
            except ArgumentError as e:
                problems.append(str(e))
    if problems:
        raise ArgumentError(f"invalid arguments for tool '{spec.name}': " + "; ".join(problems))

    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for p in spec.params:
        if p.positional_only:
            # Positional-only parameters must be filled in order, defaults included.
            args.append(values.get(p.name, p.default))
        elif p.name in values:
            kwargs[p.name] = values[p.name]
    return args, kwargs

"""Turn a typed Python function into an OpenAI/Kimi tool schema.

pydantic does the work: ``build_spec`` makes a model from the signature (one field per
parameter, aliased to its name), asks it for a JSON schema, and tidies that into what Kimi
accepts; the same model later checks the model's arguments (``coerce.bind_arguments``).
pydantic is imported here, inside functions, so ``%load_ext kimi_jupyter`` stays light.

Kimi accepts "Moonshot Flavored JSON Schema" (github.com/MoonshotAI/walle, docs/mfjs-spec.md):
``$ref`` only into root ``$defs``, no ``prefixItems``/``const``/``allOf``, no ``type`` beside
``anyOf``. So refs are inlined (recursive types keep root ``$defs``), tuples become ``items``
plus ``minItems``/``maxItems``, and ``const`` becomes a one-value ``enum``.

Unsupported annotations raise ``ValueError`` at registration, naming the parameter: a schema
that silently accepts anything would let the model send values the function cannot use.
Parameters with *no* annotation (or ``Any``) are allowed and accept any JSON value.
"""

from __future__ import annotations

import collections.abc as cabc
import enum
import functools
import inspect
import re
import sys
import types
import typing
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Union, get_args, get_origin

from .docstrings import parse_docstring

NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9\-_]{0,63}$")

_EMPTY = inspect.Parameter.empty
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
    """What ``bind_arguments`` needs to know about one parameter beyond the pydantic model."""

    name: str
    has_default: bool
    default: Any
    positional_only: bool
    accepts_none: bool


@dataclass
class ToolSpec:
    """A registered user tool: the function, the schema the model sees, the model that checks."""

    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., Any]
    params: list[Param] = field(default_factory=list)
    # pydantic model with field ``p{i}`` (alias: the parameter's name) for parameter i.
    model: Any = None

    def openai_schema(self) -> dict[str, Any]:
        function: dict[str, Any] = {"name": self.name}
        if self.description:
            function["description"] = self.description
        function["parameters"] = self.parameters
        return {"type": "function", "function": function}


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
                              vars(sys.modules.get(obj.__module__, object())))
    code, closure = getattr(obj, "__code__", None), getattr(obj, "__closure__", None)
    for name, cell in zip(code.co_freevars, closure) if code is not None and closure else ():
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


def build_spec(fn: Callable[..., Any], *, name: str | None = None,
               description: str | None = None) -> ToolSpec:
    """Build a ToolSpec from ``fn``'s signature, type hints and docstring."""
    from pydantic import Field

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
    hints = type_hints(fn if plain else getattr(fn, "__call__", fn))  # callable objects
    doc_text, doc_params = parse_docstring(inspect.getdoc(fn))

    fields: dict[str, Any] = {}
    params: list[Param] = []
    for i, p in enumerate(sig.parameters.values()):
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            star = "*" if p.kind is p.VAR_POSITIONAL else "**"
            raise ValueError(
                f"tool '{name}': {star}{p.name} is not supported; the model passes named "
                "arguments, so list each parameter explicitly"
            )
        ann = hints.get(p.name, Any)
        # Aliased fields: parameter names like `_x` or `json` would clash with pydantic's own.
        default = ... if p.default is _EMPTY else p.default
        fields[f"p{i}"] = (_adapt(ann, p.name), Field(default, alias=p.name))
        params.append(Param(p.name, p.default is not _EMPTY, p.default,
                            p.kind is p.POSITIONAL_ONLY, _accepts_none(ann)))

    model, schema = _model(name, fields, {p.name: hints.get(p.name, Any) for p in params})
    props: dict[str, Any] = schema.get("properties", {})
    for p in params:
        prop = props[p.name]
        if p.default is None:
            # `x: int | None = None` is just "an optional int" to the model.
            prop = _drop_null(prop)
        if doc_params.get(p.name) and "description" not in prop:
            prop = {**prop, "description": doc_params[p.name]}
        props[p.name] = prop
    parameters = {"type": "object", "properties": props, "required": schema.get("required", [])}
    if "$defs" in schema:
        parameters["$defs"] = schema["$defs"]
    return ToolSpec(name=name, description=doc_text if description is None else description,
                    parameters=parameters, fn=fn, params=params, model=model)


def _model(name: str, fields: dict[str, Any],
           annotations: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The pydantic model for the parameters and its tidied JSON schema."""
    from pydantic import ConfigDict, PydanticUserError, TypeAdapter, create_model
    from pydantic.json_schema import PydanticJsonSchemaWarning

    try:
        # extra="forbid" (inherited by nested dataclasses) so unknown keys are reported.
        model = create_model(f"{name}_arguments", __config__=ConfigDict(extra="forbid"),
                             **fields)
        with warnings.catch_warnings():
            # A default JSON can't show (an object, say) is left out, which is what we want.
            warnings.simplefilter("ignore", PydanticJsonSchemaWarning)
            return model, _tidy_root(model.model_json_schema())
    except PydanticUserError as e:  # also schema-generation / invalid-for-JSON-schema errors
        for (param, ann), (adapted, _) in zip(annotations.items(), fields.values()):
            try:
                TypeAdapter(adapted).json_schema()
            except PydanticUserError as inner:
                raise ValueError(
                    f"parameter '{param}': unsupported type annotation {ann!r}: "
                    f"{str(inner).splitlines()[0].split('. ')[0].rstrip('.')}. Use JSON-shaped types: str, int, float, "
                    "bool, list[...], dict[str, ...], Literal[...], an Enum, a dataclass, a "
                    "TypedDict, a pydantic model, Optional[...], or no annotation (any JSON)."
                ) from e
        raise ValueError(f"tool '{name}': {str(e).splitlines()[0]}") from e


def _adapt(tp: Any, where: str) -> Any:
    """``tp`` with the few things pydantic does not do our way changed, at any depth.

    ``Annotated[int, "text"]`` describes the value; an Enum also accepts a member's name
    (models sometimes send ``"GREEN"`` for ``"green"``); a ``typing.TypedDict`` (which
    pydantic rejects before Python 3.12) is rebuilt as a ``typing_extensions`` one.
    """
    from pydantic import BeforeValidator, Field

    origin, args = get_origin(tp), get_args(tp)
    if origin is typing.Annotated:
        base, *meta = args
        meta = [Field(description=m) if isinstance(m, str) else m for m in meta]
        return typing.Annotated[(_adapt(base, where), *meta)]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return typing.Annotated[tp, BeforeValidator(functools.partial(_enum_by_name, tp))]
    if isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__"):
        return _typeddict(tp, where)
    if origin in _MAPPINGS and args and args[0] not in (str, Any):
        raise ValueError(f"parameter '{where}': dict keys must be str for JSON, got {tp!r}")
    if not args or origin is Literal:
        return tp
    new = tuple(_adapt(a, where) for a in args)
    if origin in (Union, types.UnionType):
        return Union[new]
    try:
        return origin[new]
    except TypeError:  # not subscriptable at runtime: leave it to pydantic
        return tp


def _enum_by_name(cls: type[enum.Enum], value: Any) -> Any:
    if isinstance(value, str) and value in cls.__members__:
        try:
            cls(value)
        except ValueError:
            return cls[value]
    return value


def _typeddict(tp: Any, where: str) -> Any:
    import typing_extensions as te

    fields = {}
    for key, ann in type_hints(tp).items():
        while getattr(get_origin(ann), "_name", None) in ("Required", "NotRequired"):
            ann = get_args(ann)[0]
        wrap = te.Required if key in tp.__required_keys__ else te.NotRequired
        fields[key] = wrap[_adapt(ann, f"{where}.{key}")]
    rebuilt = te.TypedDict(tp.__name__, fields)  # type: ignore[operator]
    rebuilt.__doc__ = tp.__doc__
    return rebuilt


def _accepts_none(tp: Any) -> bool:
    if get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    if tp in (Any, object, None, type(None)):
        return True
    return get_origin(tp) in (Union, types.UnionType) and type(None) in get_args(tp)


# ------------------------------------------------------------- JSON schema for Kimi

def _tidy_root(schema: dict[str, Any]) -> dict[str, Any]:
    """Inline ``$ref``s, keeping root ``$defs`` only for recursive types (MFJS allows those)."""
    defs = schema.pop("$defs", {})
    kept: dict[str, Any] = {}
    out = _tidy(schema, defs, (), kept)
    done: dict[str, Any] = {}
    while set(kept) - set(done):
        for ref in sorted(set(kept) - set(done)):
            done[ref] = _tidy(defs[ref], defs, (ref,), kept)
    if done:
        out["$defs"] = done
    return out


def _tidy(node: dict[str, Any], defs: dict[str, Any], stack: tuple[str, ...],
          kept: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        ref = node["$ref"].rsplit("/", 1)[-1]
        rest = {k: v for k, v in node.items() if k != "$ref"}
        if ref in stack:  # recursive: the model needs the reference
            kept[ref] = True
            return {"$ref": f"#/$defs/{ref}", **_tidy(rest, defs, stack, kept)}
        node, stack = {**defs[ref], **rest}, (*stack, ref)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" or (key in ("additionalProperties", "items") and value in (True, False, {})):
            continue  # titles repeat the names; these values are JSON Schema's defaults
        if key == "properties":
            out[key] = {k: _tidy(v, defs, stack, kept) for k, v in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = _tidy(value, defs, stack, kept)
        elif key in ("anyOf", "oneOf"):  # MFJS has no oneOf; for arguments anyOf says as much
            out["anyOf"] = [_tidy(v, defs, stack, kept) for v in value]
        elif key == "discriminator":
            continue
        elif key == "prefixItems":  # a fixed-length tuple: give items only if they agree
            items = [_tidy(v, defs, stack, kept) for v in value]
            if items and all(i == items[0] for i in items):
                out["items"] = items[0]
        elif key == "const":
            out["enum"] = [value]
        else:
            out[key] = value
    if "properties" in out:
        out.setdefault("required", [])
    branches = out.get("anyOf", [])
    if len(branches) == 2 and {"type": "null"} in branches:
        other = next(b for b in branches if b != {"type": "null"})
        # Only a bare scalar: MFJS drops every constraint of a multi-type schema with
        # structure (walle docs/validation-principles.md §5), so `list | None` stays anyOf.
        if isinstance(other.get("type"), str) and set(other) <= {"type", "description"}:
            rest = {k: v for k, v in out.items() if k != "anyOf"}
            return {**other, "type": [other["type"], "null"], **rest}
    return out


def _drop_null(prop: dict[str, Any]) -> dict[str, Any]:
    if isinstance(prop.get("type"), list) and "null" in prop["type"]:
        kinds = [t for t in prop["type"] if t != "null"]
        return {**prop, "type": kinds[0] if len(kinds) == 1 else kinds}
    branches = [b for b in prop.get("anyOf", []) if b != {"type": "null"}]
    if "anyOf" in prop and len(branches) == 1:
        return {**branches[0], **{k: v for k, v in prop.items() if k != "anyOf"}}
    if "anyOf" in prop:
        return {**prop, "anyOf": branches}
    return prop

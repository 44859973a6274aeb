"""`format="json"` answers: parse each one, and validate it against `schema=` when given.

`schema` is a pydantic model class (the parsed value is then an instance of it)
or a JSON schema dict (checked with `jsonschema`, which Jupyter installs). An
answer that doesn't parse or validate is that item's error: the answer itself
is kept (it was paid for) and re-checked, not re-asked, on the next run.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from ..core import fences

Validator = Callable[[Any], Any]


class SchemaError(ValueError):
    """The answer is not valid JSON, or not what the schema asks for."""


def parse_json(content: str) -> Any:
    try:  # also an answer fenced despite JSON mode: what's inside the fence
        return fences.load_json(content.strip())
    except ValueError as exc:
        raise SchemaError(f"the answer is not valid JSON ({exc})") from None


def validator(schema: Any) -> Validator | None:
    """A function that returns the validated value or raises SchemaError; None for no schema."""
    if schema is None:
        return None
    if isinstance(schema, type) and hasattr(schema, "model_validate"):  # a pydantic model
        def check_model(value: Any) -> Any:
            from pydantic import ValidationError

            try:
                return schema.model_validate(value)
            except ValidationError as exc:
                errors = exc.errors()
                first = errors[0] if errors else {}
                where = ".".join(str(p) for p in first.get("loc", ())) or "(top)"
                raise SchemaError(f"schema: {where}: {first.get('msg', exc)}"
                                  + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else "")) from None

        return check_model
    if isinstance(schema, dict):
        try:
            import jsonschema
        except ImportError:  # pragma: no cover - jupyter depends on it
            raise ImportError("A JSON-schema dict needs the `jsonschema` package "
                              "(`pip install jsonschema`), or pass a pydantic model.") from None
        checker = jsonschema.Draft202012Validator(schema)

        def check_dict(value: Any) -> Any:
            error = next(iter(checker.iter_errors(value)), None)
            if error is not None:
                where = ".".join(str(p) for p in error.absolute_path) or "(top)"
                raise SchemaError(f"schema: {where}: {error.message}")
            return value

        return check_dict
    raise TypeError(f"schema= takes a pydantic model class or a JSON schema dict (got {type(schema).__name__}).")


def check(content: str, validate: Validator | None) -> Any:
    value = parse_json(content)
    return validate(value) if validate is not None else value


def describe(schema: Any) -> str | None:
    """The schema as JSON, to tell the model in the system prompt what shape to answer in."""
    if schema is None:
        return None
    if isinstance(schema, type) and hasattr(schema, "model_json_schema"):
        return json.dumps(schema.model_json_schema(), ensure_ascii=False)
    if isinstance(schema, dict):
        return json.dumps(schema, ensure_ascii=False)
    return None

"""Tool schemas from typed functions, name rules, and argument checking (pure, no kernel)."""

from __future__ import annotations

import datetime
import enum
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Optional, TypedDict

import pytest
from pydantic import Field

from kimi_jupyter.tools import ToolContext, ToolRegistry, default_registry, tool
from kimi_jupyter.tools.coerce import ArgumentError, bind_arguments
from kimi_jupyter.tools.docstrings import parse_docstring
from kimi_jupyter.tools.registry import READ_ONLY_TOOLS
from kimi_jupyter.tools.schema import build_spec, validate_name


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclass
class Point:
    """A point on the map."""

    x: float
    y: float = 0.0


class Frame:
    """Stands in for a type that JSON can't carry, like a DataFrame."""


class Options(TypedDict, total=False):
    verbose: bool


def params(fn: Any) -> dict[str, Any]:
    return build_spec(fn).parameters


def test_basic_types_defaults_and_required() -> None:
    def f(s: str, i: int, x: float, b: bool, n: int = 3, flag: bool = False) -> None: ...

    p = params(f)
    assert p == {
        "type": "object",
        "properties": {
            "s": {"type": "string"},
            "i": {"type": "integer"},
            "x": {"type": "number"},
            "b": {"type": "boolean"},
            "n": {"type": "integer", "default": 3},
            "flag": {"type": "boolean", "default": False},
        },
        "required": ["s", "i", "x", "b"],
    }


def test_no_parameters_still_has_object_root() -> None:
    def ping() -> str:
        return "pong"

    assert params(ping) == {"type": "object", "properties": {}, "required": []}


def test_containers() -> None:
    def f(a: list[int], b: dict[str, float], c: tuple[int, int], d: set[str],
          e: tuple[str, ...], g: list, h: dict) -> None: ...

    props = params(f)["properties"]
    assert props["a"] == {"type": "array", "items": {"type": "integer"}}
    assert props["b"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert props["c"] == {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}
    assert props["d"] == {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
    assert props["e"] == {"type": "array", "items": {"type": "string"}}
    assert props["g"] == {"type": "array"}
    assert props["h"] == {"type": "object"}


def test_optional_literal_enum_annotated() -> None:
    def f(
        unit: Literal["c", "f"] = "c",
        color: Color = Color.GREEN,
        level: Level = Level.LOW,
        tags: Optional[list[str]] = None,
        limit: int | None = None,
        must: str | None = ...,  # type: ignore[assignment]
        n: Annotated[int, "how many rows"] = 5,
        mixed: Literal[1, "a"] = 1,
    ) -> None: ...

    props = params(f)["properties"]
    assert props["unit"] == {"type": "string", "enum": ["c", "f"], "default": "c"}
    assert props["color"] == {"type": "string", "enum": ["red", "green"], "default": "green"}
    assert props["level"] == {"type": "integer", "enum": [1, 2], "default": 1}
    # Optional with a None default is just "optional" to the model.
    assert props["tags"] == {"type": "array", "items": {"type": "string"}, "default": None}
    assert props["limit"] == {"type": "integer", "default": None}
    assert props["must"] == {"type": ["string", "null"]}
    assert props["n"] == {"type": "integer", "description": "how many rows", "default": 5}
    assert props["mixed"] == {"enum": [1, "a"], "default": 1}


def test_required_optional_and_unions() -> None:
    def f(a: Optional[int], b: int | str, c: Color | None) -> None: ...

    props = params(f)["properties"]
    assert props["a"] == {"type": ["integer", "null"]}
    assert props["b"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert props["c"] == {"anyOf": [{"type": "string", "enum": ["red", "green"]}, {"type": "null"}]}
    assert params(f)["required"] == ["a", "b", "c"]


def test_nested_dataclass_and_typeddict() -> None:
    def f(p: Point, opts: Options, pts: list[Point] = []) -> None: ...  # noqa: B006

    props = params(f)["properties"]
    point = {
        "type": "object",
        # Field defaults are shown inside objects too, as at the top level.
        "properties": {"x": {"type": "number"}, "y": {"type": "number", "default": 0.0}},
        "required": ["x"],
        "description": "A point on the map.",
    }
    assert props["p"] == point
    assert props["opts"] == {"type": "object", "properties": {"verbose": {"type": "boolean"}},
                             "required": []}
    assert props["pts"] == {"type": "array", "items": point, "default": []}


def test_untyped_and_any_accept_anything() -> None:
    def f(a, b: Any = None, c: object = 1) -> None: ...  # type: ignore[no-untyped-def]

    props = params(f)["properties"]
    assert props == {"a": {}, "b": {"default": None}, "c": {"default": 1}}


def test_string_annotations_are_resolved() -> None:
    ns: dict[str, Any] = {}
    exec("from __future__ import annotations\ndef f(x: int, y: list[str]): pass", ns)
    props = params(ns["f"])["properties"]
    assert props == {"x": {"type": "integer"}, "y": {"type": "array", "items": {"type": "string"}}}


def test_google_docstring() -> None:
    def weather(city: str, days: int = 1) -> str:
        """Get the forecast.

        Uses the national service; slow for long ranges.

        Args:
            city (str): City name,
                e.g. "Paris".
            days: How many days.

        Returns:
            The forecast text.
        """
        return ""

    spec = build_spec(weather)
    assert spec.description == "Get the forecast.\n\nUses the national service; slow for long ranges."
    assert spec.parameters["properties"]["city"]["description"] == 'City name, e.g. "Paris".'
    assert spec.parameters["properties"]["days"]["description"] == "How many days."
    schema = spec.openai_schema()
    assert schema["type"] == "function" and schema["function"]["name"] == "weather"
    json.dumps(schema)  # serialisable


def test_numpy_and_rest_docstrings() -> None:
    numpy_doc = """Sum things.

    Parameters
    ----------
    a : int
        The first
        value.
    b : float, optional
        The second.

    Returns
    -------
    float
    """
    assert parse_docstring(numpy_doc) == ("Sum things.", {"a": "The first value.", "b": "The second."})
    rest_doc = """Sum things.

    :param a: The first
        value.
    :param float b: The second.
    :returns: the sum
    :rtype: float
    """
    assert parse_docstring(rest_doc) == ("Sum things.", {"a": "The first value.", "b": "The second."})
    assert parse_docstring(None) == ("", {})
    assert parse_docstring("Only a summary.") == ("Only a summary.", {})


def test_explicit_name_and_description_win() -> None:
    def f(x: int) -> int:
        """Docstring text."""
        return x

    spec = build_spec(f, name="my-tool_2", description="Custom.")
    assert spec.openai_schema()["function"] == {
        "name": "my-tool_2", "description": "Custom.", "parameters": spec.parameters}
    nodoc = build_spec(lambda x: x, name="ident").openai_schema()["function"]
    assert "description" not in nodoc


@pytest.mark.parametrize("name", ["a", "_x", "get_weather", "tool-2", "A" * 64, "x-_9"])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "1abc", "-x", "has space", "dot.name", "A" * 65, "$web_search",
                                  "ünï", "<lambda>"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(ValueError, match=r"invalid tool name .*\^\[a-zA-Z_\]"):
        validate_name(name)


def test_registration_errors_are_clear() -> None:
    reg = ToolRegistry()
    with pytest.raises(ValueError, match="invalid tool name '<lambda>'.*name="):
        reg.register(lambda x: x)

    def star(*args: int) -> None: ...

    def kw(a: int, **kwargs: int) -> None: ...

    with pytest.raises(ValueError, match=r"tool 'star': \*args is not supported"):
        reg.register(star)
    with pytest.raises(ValueError, match=r"tool 'kw': \*\*kwargs is not supported"):
        reg.register(kw)

    def df(data: Frame) -> None: ...

    with pytest.raises(ValueError, match="parameter 'data': unsupported type annotation"):
        reg.register(df)

    def nested(rows: list[Frame]) -> None: ...

    with pytest.raises(ValueError, match=r"parameter 'rows': unsupported type annotation list\[.*Frame"):
        reg.register(nested)

    def keys(m: dict[int, str]) -> None: ...

    with pytest.raises(ValueError, match="dict keys must be str"):
        reg.register(keys)

    def python(code: str) -> None: ...

    with pytest.raises(ValueError, match="reserved"):
        reg.register(python)
    with pytest.raises(TypeError):
        reg.register(42)  # type: ignore[arg-type]
    assert reg.names() == ["python", *READ_ONLY_TOOLS]


def test_registry_schemas_order_and_replace() -> None:
    reg = ToolRegistry()

    def b(x: int) -> int:
        return x

    def a(y: str) -> str:
        """Version 1."""
        return y

    assert reg.register(b) is b
    reg.register(a)

    def a2(y: str) -> str:
        """Version 2."""
        return y

    reg.register(a2, name="a")  # re-running a notebook cell replaces the tool
    names = [s["function"]["name"] for s in reg.schemas(web_search=True)]
    assert names == ["python", *READ_ONLY_TOOLS, "b", "a", "$web_search"]
    assert reg.schemas()[-1]["function"]["description"] == "Version 2."
    assert reg.schemas(web_search=True)[-1] == {"type": "builtin_function",
                                                "function": {"name": "$web_search"}}
    assert [s["function"]["name"] for s in reg.schemas(python=False)] == ["b", "a"]
    python = reg.schemas()[0]["function"]
    assert python["parameters"]["required"] == ["code"]
    assert "kernel" in python["description"] and "persist" in python["description"]
    reg.unregister("b")
    reg.unregister("missing")  # no error
    assert reg.names() == ["python", *READ_ONLY_TOOLS, "a"]


def test_tool_decorator_forms() -> None:
    @tool
    def plain_tool_x(n: int) -> int:
        return n

    @tool(name="renamed_tool_x", description="Renamed.")
    def other(n: int) -> int:
        return n

    try:
        assert plain_tool_x(2) == 2 and other(3) == 3  # functions are returned unchanged
        assert {"plain_tool_x", "renamed_tool_x"} <= set(default_registry.names())
        assert default_registry.spec("renamed_tool_x").description == "Renamed."
    finally:
        default_registry.unregister("plain_tool_x")
        default_registry.unregister("renamed_tool_x")


# ------------------------------------------------------------------ argument checking


def bind(fn: Any, args: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    return bind_arguments(build_spec(fn), args)


def test_bind_converts_json_values() -> None:
    def f(a: float, b: int, c: tuple[int, str], d: set[int], e: Color, p: Point,
          pts: list[Point], lvl: Level = Level.LOW, o: Options | None = None) -> None: ...

    _, kw = bind(f, {"a": 2, "b": 3, "c": [1, "x"], "d": [1, 1, 2], "e": "red",
                     "p": {"x": 1}, "pts": [{"x": 0, "y": 2}], "lvl": 2, "o": {"verbose": True}})
    assert kw == {"a": 2.0, "b": 3, "c": (1, "x"), "d": {1, 2}, "e": Color.RED,
                  "p": Point(1.0, 0.0), "pts": [Point(0.0, 2.0)], "lvl": Level.HIGH,
                  "o": {"verbose": True}}
    assert isinstance(kw["a"], float) and isinstance(kw["b"], int)
    assert bind(f, {"a": 1, "b": 1, "c": [1, "x"], "d": [], "e": "GREEN", "p": {"x": 1},
                    "pts": []})[1]["e"] is Color.GREEN  # member name accepted too


def test_bind_positional_only_and_defaults() -> None:
    def f(a: int, b: int = 5, /, c: int = 0) -> None: ...

    assert bind(f, {"a": 1, "c": 2}) == ([1, 5], {"c": 2})


@pytest.mark.parametrize(
    ("fn_args", "message"),
    [
        ({"x": "one"}, "argument 'x' must be an integer, got str 'one'"),
        ({"x": [1]}, "argument 'x' must be an integer, got list [1]"),
        ({"x": 1.5}, "argument 'x' must be an integer, got float 1.5"),
        ({"x": 1, "flag": "maybe"}, "argument 'flag' must be a boolean"),
        ({"x": 1, "unit": "k"}, "argument 'unit' must be one of 'c', 'f', got str 'k'"),
        ({"x": 1, "color": "blue"}, "argument 'color' must be one of 'red', 'green'"),
        ({"x": 1, "names": "abc"}, "argument 'names' must be an array, got str 'abc'"),
        ({"x": 1, "names": ["a", 2]}, "argument 'names[1]' must be a string, got int 2"),
        ({"x": 1, "p": {"y": 1}}, "argument 'p' is missing key(s): x"),
        ({"x": 1, "p": {"x": 1, "z": 0}}, "argument 'p' has unknown key(s): z"),
        ({"x": 1, "p": {"x": "a"}}, "argument 'p.x' must be a number, got str 'a'"),
        ({"x": 1, "m": {"a": "b"}}, "argument 'm.a' must be an integer"),
        ({"x": 1, "pair": [1]}, "argument 'pair' is missing item(s): [1]"),
        ({"x": 1, "pair": [1, 2, 3]}, "argument 'pair' must have at most 2 items, got 3"),
        ({"x": 1, "opt": "s"}, "argument 'opt' must be an integer, got str 's'"),
        ({"x": 1, "either": 1.5}, "argument 'either' must be one of (int, str), got float 1.5"),
    ],
)
def test_bind_reports_type_errors(fn_args: dict[str, Any], message: str) -> None:
    def f(x: int, flag: bool = False, unit: Literal["c", "f"] = "c", color: Color = Color.RED,
          names: list[str] = [], p: Point | None = None, m: dict[str, int] = {},  # noqa: B006
          pair: tuple[int, int] = (0, 0), opt: int | None = None,
          either: int | str = 0) -> None: ...

    with pytest.raises(ArgumentError) as info:
        bind(f, fn_args)
    assert message in str(info.value)
    assert str(info.value).startswith("invalid arguments for tool 'f': ")


def test_bind_reports_all_problems_at_once() -> None:
    def f(a: int, b: str, c: bool = False) -> None: ...

    with pytest.raises(ArgumentError) as info:
        bind(f, {"c": "maybe", "d": 1, "e": 2})
    text = str(info.value)
    assert "missing required argument(s): 'a', 'b'" in text
    assert "unknown argument(s): 'd', 'e' (accepted: a, b, c)" in text
    assert "argument 'c' must be a boolean" in text


def test_bind_none_for_optional() -> None:
    def f(a: int | None, b: Optional[str] = "x") -> None: ...

    assert bind(f, {"a": None, "b": None}) == ([], {"a": None, "b": None})
    with pytest.raises(ArgumentError, match="argument 'a' must be an integer, got NoneType"):
        def g(a: int) -> None: ...
        bind(g, {"a": None})


# ------------------------------------------------------------------ calling user tools


def test_call_user_tool_results_and_errors() -> None:
    reg = ToolRegistry()
    ctx = ToolContext(max_output=200)

    @dataclass
    class Row:
        name: str
        n: int

    def rows(n: int) -> list[Row]:
        return [Row("a", i) for i in range(n)]

    def echo(text: str) -> str:
        return text

    def nothing() -> None:
        return None

    def data() -> dict[str, Any]:
        return {"when": __import__("datetime").date(2024, 1, 2), "ü": 1}

    def row() -> Row:
        return Row("b", 2)

    def boom(x: int) -> int:
        def inner() -> int:
            raise KeyError("missing thing")
        return inner()

    def big() -> str:
        return "y" * 1000

    for fn in (rows, echo, nothing, data, row, boom, big):
        reg.register(fn)
    assert reg.call("echo", '{"text": "hi"}', ctx).text == "hi"
    assert reg.call("nothing", "", ctx).text == "No output"
    assert reg.call("nothing", "{}", ctx).ok
    assert reg.call("data", "{}", ctx).text == '{"when": "2024-01-02", "ü": 1}'
    assert reg.call("row", "{}", ctx).text == '{"name": "b", "n": 2}'
    assert json.loads(reg.call("rows", '{"n": 2}', ctx).text) == [{"name": "a", "n": 0},
                                                                   {"name": "a", "n": 1}]
    out = reg.call("boom", '{"x": 1}', ctx)
    assert not out.ok and out.text.startswith("Error: KeyError: 'missing thing'\n")
    assert "in inner" in out.text and "registry.py" not in out.text
    out = reg.call("big", "{}", ctx)
    assert out.ok and "characters cut" in out.text and len(out.text) < 260
    out = reg.call("echo", '{"text": 1}', ctx)
    assert not out.ok and out.text == ("Error: invalid arguments for tool 'echo': "
                                      "argument 'text' must be a string, got int 1")
    out = reg.call("echo", '"just a string"', ctx)
    assert not out.ok and "must be a JSON object" in out.text


def test_call_async_and_interrupting_tools() -> None:
    reg = ToolRegistry()

    async def slow(x: int) -> int:
        import asyncio
        await asyncio.sleep(0)
        return x * 2

    def stop() -> None:
        raise KeyboardInterrupt

    reg.register(slow)
    reg.register(stop)
    assert reg.call("slow", '{"x": 4}', ToolContext()).text == "8"
    out = reg.call("stop", "{}", ToolContext())
    assert out.interrupted and not out.ok


def test_async_tool_inside_running_loop() -> None:
    import asyncio

    reg = ToolRegistry()

    async def slow(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    reg.register(slow)

    async def main() -> str:
        # As inside a kernel: a loop is already running in this thread.
        return reg.call("slow", '{"x": 1}', ToolContext()).text

    assert asyncio.run(main()) == "2"


def test_unknown_tool_and_web_search() -> None:
    reg = ToolRegistry()
    reg.register(lambda: 1, name="one")
    out = reg.call("nope", "{}", ToolContext())
    assert not out.ok and out.text == ("Error: unknown tool 'nope'. Available tools: "
                                       + ", ".join(["python", *READ_ONLY_TOOLS, "one"]))
    out = reg.call("$web_search", '{"search_result": {"q": "x"}}', ToolContext())
    assert out.ok and out.text == '{"search_result": {"q": "x"}}'


def test_null_means_not_given_for_optional_parameters() -> None:
    def f(a: int = None, b: int = 5, c: int | None = 5, d: str = "x") -> None: ...  # type: ignore[assignment]

    assert bind(f, {"a": None, "b": None, "c": None}) == ([], {"a": None, "b": 5, "c": None})

    def g(req: int) -> None: ...

    with pytest.raises(ArgumentError, match="'req' must be an integer, got NoneType"):
        bind(g, {"req": None})


def test_callable_object_as_tool() -> None:
    class Counter:
        """Count things."""

        def __call__(self, step: int = 1) -> int:
            return step

    spec = build_spec(Counter(), name="counter")
    assert spec.parameters["properties"] == {"step": {"type": "integer", "default": 1}}
    assert spec.description == "Count things."


# ------------------------------------------------------------- pydantic-specific contract


def test_arguments_are_strict_json() -> None:
    # Strict: a JSON value of another type is not guessed into the parameter's type, so a
    # quoted number or "true" goes back to the model as an error naming what was expected.
    def f(n: int, x: float, flag: bool, tags: frozenset[str] = frozenset(),
          when: datetime.date | None = None, nested: list[int] = []) -> None: ...  # noqa: B006

    with pytest.raises(ArgumentError) as info:
        bind(f, {"n": "3", "x": "1.5", "flag": "true", "tags": [1], "nested": [1, "2"]})
    assert str(info.value) == (
        "invalid arguments for tool 'f': argument 'n' must be an integer, got str '3'; "
        "argument 'x' must be a number, got str '1.5'; argument 'flag' must be a boolean, "
        "got str 'true'; argument 'tags[0]' must be a string, got int 1; "
        "argument 'nested[1]' must be an integer, got str '2'")
    for wrong, message in [({"n": 3.0}, "'n' must be an integer, got float 3.0"),
                           ({"n": True}, "'n' must be an integer, got bool True"),
                           ({"flag": 1}, "'flag' must be a boolean, got int 1"),
                           ({"x": None}, "'x' must be a number, got NoneType None")]:
        with pytest.raises(ArgumentError, match=re.escape(message)):
            bind(f, {"n": 1, "x": 1.5, "flag": False, **wrong})
    # What JSON cannot say otherwise still converts: int to float, array to a set, a
    # string to a date.
    assert bind(f, {"n": 3, "x": 2, "flag": True, "tags": ["a", "a"], "when": "2024-01-02"}) == (
        [], {"n": 3, "x": 2.0, "flag": True, "tags": frozenset({"a"}),
             "when": datetime.date(2024, 1, 2)})


def test_a_user_tool_refuses_a_quoted_number_with_a_tool_error() -> None:
    # Through the registry, as the agent calls it: the function never runs on "3".
    reg = ToolRegistry()
    calls: list[int] = []

    def repeat(times: int) -> str:
        calls.append(times)
        return " ".join(["ok"] * times)

    reg.register(repeat)
    out = reg.call("repeat", '{"times": "3"}', ToolContext())
    assert not out.ok and calls == []
    assert out.text == ("Error: invalid arguments for tool 'repeat': "
                        "argument 'times' must be an integer, got str '3'")
    assert reg.call("repeat", '{"times": 2}', ToolContext()).text == "ok ok"


def test_schema_is_moonshot_flavoured() -> None:
    # MFJS (github.com/MoonshotAI/walle docs/mfjs-spec.md): no title/const/prefixItems, refs
    # only into root $defs; so non-recursive types are inlined.
    def f(one: Literal["only"], pair: tuple[int, str], p: Point, c: list[Color] = [],  # noqa: B006
          json: int = 0, _private: str = "") -> None: ...

    p = params(f)
    text = json.dumps(p)
    for word in ('"title"', '"const"', '"prefixItems"', '"$ref"', '"$defs"', '"additionalProperties"'):
        assert word not in text
    assert p["properties"]["one"] == {"type": "string", "enum": ["only"]}
    assert p["properties"]["pair"] == {"type": "array", "minItems": 2, "maxItems": 2}
    assert p["properties"]["c"]["items"] == {"type": "string", "enum": ["red", "green"]}
    # Parameter names pydantic would reserve for itself still work (fields are aliased).
    assert list(p["properties"]) == ["one", "pair", "p", "c", "json", "_private"]
    assert bind(f, {"one": "only", "pair": [1, "a"], "p": {"x": 1}, "c": ["RED"], "json": 2,
                    "_private": "s"})[1]["c"] == [Color.RED]


@dataclass
class Node:
    """A tree node."""

    name: str
    children: list[Node] | None = None


def test_recursive_types_keep_root_defs() -> None:
    def f(tree: Node) -> None: ...

    p = params(f)
    children = {"anyOf": [{"type": "array", "items": {"$ref": "#/$defs/Node"}}, {"type": "null"}],
                "default": None}
    assert p["properties"]["tree"]["properties"]["children"] == children
    assert p["$defs"]["Node"]["properties"]["children"] == children
    assert p["$defs"]["Node"]["description"] == "A tree node."
    _, kw = bind(f, {"tree": {"name": "a", "children": [{"name": "b"}]}})
    assert kw["tree"] == Node("a", [Node("b")])
    with pytest.raises(ArgumentError, match=r"argument 'tree.children\[0\]' is missing key\(s\): name"):
        bind(f, {"tree": {"name": "a", "children": [{}]}})


@dataclass
class Span:
    start: int
    end: int

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("end must not be before start")


def test_pydantic_constraints_and_union_messages() -> None:
    def f(n: Annotated[int, Field(ge=1, description="rows")] = 1, v: Color | int = 0,
          span: Span | None = None) -> None: ...

    p = params(f)["properties"]
    assert p["n"] == {"type": "integer", "minimum": 1, "description": "rows", "default": 1}
    with pytest.raises(ArgumentError) as info:
        bind(f, {"n": 0, "v": "blue", "span": {"start": 2, "end": 1}})
    text = str(info.value)
    assert "argument 'n': Input should be greater than or equal to 1, got int 0" in text
    assert "argument 'v' must be one of (Color, int), got str 'blue'" in text
    assert "argument 'span': Value error, end must not be before start" in text


def test_load_ext_does_not_import_pydantic() -> None:
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_line_magic('load_ext', 'kimi_jupyter')\n"
        "import kimi_jupyter.tools\n"
        "print(sorted(m for m in ('pydantic', 'docstring_parser') if m in sys.modules))\n"
        "import kimi_jupyter\n"
        "@kimi_jupyter.tool\n"
        "def add(a: int, b: int = 1) -> int:\n"
        "    '''Add.\n\n    Args:\n        a: first\n    '''\n"
        "    return a + b\n"
        "print(kimi_jupyter.tools.default_registry.spec('add').parameters['properties']['a'])\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, check=True).stdout.splitlines()
    assert out == ["[]", "{'type': 'integer', 'description': 'first'}"]

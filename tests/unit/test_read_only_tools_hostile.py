"""The read-only tools run no user code beyond capped reprs (issue 24 #13, SPEC §4):
hostile objects whose dunders record every call they get, in-process on an IPython shell."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from kimi_jupyter.tools import ToolContext, default_registry
from kimi_jupyter.tools.describe import capped_repr

HOSTILE = '''
import pandas as pd
calls = []
class Hostile:
    """Records every dunder a tool could reach without meaning to; its own repr is allowed."""
    @property
    def __class__(self):
        calls.append("__class__")
        return Hostile
    def __lt__(self, other):
        calls.append("__lt__")
        return id(self) < id(other)
    def __gt__(self, other):
        calls.append("__gt__")
        return id(self) > id(other)
    def __eq__(self, other):
        calls.append("__eq__")
        return self is other
    def __hash__(self):
        calls.append("__hash__")
        return 1
    def __len__(self):
        calls.append("__len__")
        return 1
    def __bool__(self):
        calls.append("__bool__")
        return True
    def __getattr__(self, name):
        calls.append("getattr " + name)
        raise AttributeError(name)
    def __repr__(self):
        return "Hostile()"
# A class *named* dict: reprlib would walk it like one (its __len__, __getitem__).
FakeDict = type("dict", (), {"__len__": lambda self: calls.append("dict.__len__") or 1,
                              "__getitem__": lambda self, k: calls.append("dict.__getitem__"),
                              "__iter__": lambda self: calls.append("dict.__iter__") or iter(())})
class MyFrame(pd.DataFrame):
    def head(self, n=5):
        calls.append("MyFrame.head")
        return super().head(n)
hostile = Hostile()
keyed = {Hostile(): 1, Hostile(): 2}
members = {Hostile(), Hostile()}
nested = [hostile, (hostile,), {"k": hostile}]
fake = FakeDict()
frame = MyFrame({"a": [1, 2]})
shadowed = pd.DataFrame({"b": [3, 4]})
object.__setattr__(shadowed, "head", lambda n=5: calls.append("instance head"))
_secret = "sk-hidden-value"
'''

NAMES = ["hostile", "keyed", "members", "nested", "fake", "frame", "shadowed"]


@pytest.fixture
def shell() -> Iterator[Any]:
    pytest.importorskip("pandas")
    from IPython.core.interactiveshell import InteractiveShell

    sh = InteractiveShell.instance()
    before = set(sh.user_ns)
    result = sh.run_cell(HOSTILE, store_history=True)
    assert result.success, result.error_in_exec
    sh.user_ns["calls"].clear()  # building the sets and dicts hashed their keys
    yield sh
    for name in set(sh.user_ns) - before:
        sh.user_ns.pop(name, None)


def call(shell: Any, name: str, args: dict[str, Any] | None = None) -> Any:
    ctx = ToolContext(shell=shell)
    ctx.ask = lambda prompt: pytest.fail("a read-only tool asked for approval")
    return default_registry.call(name, json.dumps(args or {}), ctx)


def test_list_and_inspect_run_no_dunder_of_hostile_objects(shell):
    listing = call(shell, "list_variables")
    assert listing.ok
    for name in NAMES:
        assert f"\n{name}: " in listing.text, name
        out = call(shell, "inspect_variable", {"name": name})
        assert out.ok, out.text
    assert shell.user_ns["calls"] == []


def test_subclasses_and_shadowed_methods_get_a_repr_not_the_library_path(shell):
    frame = call(shell, "inspect_variable", {"name": "frame"}).text
    assert frame.startswith("frame: __main__.MyFrame") or frame.startswith("frame: MyFrame")
    assert "head(5):" not in frame and "repr:" in frame  # described as an object
    shadowed = call(shell, "inspect_variable", {"name": "shadowed"}).text
    assert "head(5):" in shadowed and "b" in shadowed  # the real class's head, not the instance's
    assert shell.user_ns["calls"] == []


def test_notebook_history_does_not_run_a_user_exceptions_bool(shell):
    shell.run_cell("class Boom(Exception):\n"
                   "    def __bool__(self):\n"
                   "        calls.append('Boom.__bool__')\n"
                   "        return False\n", store_history=True)
    shell.run_cell("raise Boom('went off')", store_history=True)
    shell.user_ns["calls"].clear()
    out = call(shell, "notebook_history", {"n": 3})
    assert out.ok and "Boom" in out.text and "went off" in out.text
    assert shell.user_ns["calls"] == []


def test_notebook_history_ignores_a_rebound_in_and_out(shell):
    shell.run_cell("1 + 1", store_history=True)
    shell.user_ns["In"] = shell.user_ns["Hostile"]()
    shell.user_ns["Out"] = shell.user_ns["Hostile"]()
    shell.user_ns["calls"].clear()
    try:
        out = call(shell, "notebook_history", {"n": 2})
    finally:
        shell.user_ns["In"] = shell.history_manager.input_hist_parsed
        shell.user_ns["Out"] = shell.history_manager.output_hist
    assert out.ok and "1 + 1" in out.text
    assert shell.user_ns["calls"] == []


@pytest.mark.parametrize("name", ["_secret", "_", "_i1", "_oh", "__builtins__", "In", "Out", "get_ipython"])
def test_inspect_variable_hides_what_list_variables_hides(shell, name):
    shell.run_cell("'an output'", store_history=True)
    out = call(shell, "inspect_variable", {"name": name})
    assert not out.ok, out.text
    assert "sk-hidden-value" not in out.text and "Call list_variables()" in out.text
    listing = call(shell, "list_variables").text
    assert f"\n{name}: " not in listing


def test_capped_repr_keeps_the_containers_order_and_names_a_failed_repr_by_its_type():
    class Key:
        def __init__(self, n):
            self.n = n

        def __lt__(self, other):
            raise AssertionError("sorted")

        def __repr__(self):
            return f"K{self.n}"

    assert capped_repr({Key(2): "b", Key(1): "a"}, 100) == "{K2: 'b', K1: 'a'}"
    assert capped_repr({"z": 1, "a": 2}, 100) == "{'z': 1, 'a': 2}"
    assert capped_repr([1, (2,), frozenset()], 100) == "[1, (2,), frozenset()]"

    class Bad:
        @property
        def __class__(self):
            raise AssertionError("__class__ read")

        def __repr__(self):
            raise RuntimeError("no")

    text = capped_repr(Bad(), 400)
    assert text.startswith("<") and text.endswith("Bad object; repr failed>")


def test_numpys_own_memmap_still_gets_array_statistics(shell, tmp_path):
    import numpy as np

    mm = np.memmap(tmp_path / "m.dat", dtype=np.float64, mode="w+", shape=(4,))
    mm[:] = [1, 2, 3, 4]
    shell.user_ns["mm"] = mm
    out = call(shell, "inspect_variable", {"name": "mm"})
    assert out.ok and "min: 1 max: 4 mean: 2.5" in out.text

"""The xdist worker groups (tests/conftest.py's SHARED_WORKER) stay true to the tests.

The default run has two workers. A fixture wider than one test (module, package, class or
session scope, but not one of the cheap session ones in tests/conftest.py) starts once per
worker whose tests use it, unless the scheduler keeps its tests together: a module that
gains such a fixture must be named in SHARED_WORKER, and a named path must still exist.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import SHARED_WORKER, worker_scope

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"


def _wide_fixtures(path: Path) -> list[str]:
    """Names of the fixtures in `path` whose scope is wider than one test."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for deco in node.decorator_list:
            if isinstance(deco, ast.Call) and "fixture" in ast.unparse(deco.func):
                scope = next((k.value for k in deco.keywords if k.arg == "scope"), None)
                if isinstance(scope, ast.Constant) and scope.value != "function":
                    found.append(node.name)
    return found


def test_every_wide_fixture_is_in_a_shared_worker_group() -> None:
    loose = {}
    for path in sorted(TESTS.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "tests/conftest.py":  # its session fixtures only set variables: cheap per worker
            continue
        names = _wide_fixtures(path)
        # A conftest's fixtures serve its whole folder: the folder must be one group.
        where = rel.rsplit("/", 1)[0] + "/" if path.name == "conftest.py" else rel
        if names and worker_scope(f"{where}::x") == f"{where}::x":
            loose[rel] = names
    assert not loose, f"add these to SHARED_WORKER in tests/conftest.py: {loose}"


def test_every_shared_worker_path_exists() -> None:
    assert [p for p in SHARED_WORKER if not (ROOT / p).exists()] == []


def test_tests_outside_the_groups_are_scheduled_one_by_one() -> None:
    assert worker_scope("tests/browser/test_notebook7.py::test_x") == worker_scope("tests/hub/test_gateway_hub.py::t")
    assert worker_scope("tests/kernel/test_notebooks.py::test_a[01]") == worker_scope("tests/kernel/test_notebooks.py::b")
    assert worker_scope("tests/kernel/test_magic_kernel.py::test_a") == "tests/kernel/test_magic_kernel.py::test_a"

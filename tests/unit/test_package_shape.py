"""The shape of the package (ARCHITECTURE.md): imports flow one way, every module says its job,
and the README's layout section names what is there.

Read from the source with `ast`, so lazy imports inside functions and imports under
`if TYPE_CHECKING:` count too: a cycle through either is still two modules that each need
the other (and the day the import is hoisted, the package fails to load).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "kimi_jupyter"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path) -> set[str]:
    """The package modules `name` imports anywhere in its code, `if TYPE_CHECKING:` included."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)

        def visit_Import(self, node: ast.Import) -> None:
            found.update(alias.name for alias in node.names)

    Visitor().visit(ast.parse(path.read_text(encoding="utf-8")))
    return {m for m in found if m in MODULES and m != name}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


# Cycles left for now, each with its reason. One that is fixed must come off this list (the
# test says so), so the list cannot go stale.
# None is left. The last (issue 25), the loopback server's handler and its routes importing each
# other for types, was broken by the Protocols of kimi_jupyter/testing/protocols.py.
KNOWN_CYCLES: list[list[str]] = []


def test_no_import_cycles_in_the_package():
    edges = {name: _imports(name, path) for name, path in MODULES.items()}
    found = _cycles(edges)
    assert [c for c in found if c not in KNOWN_CYCLES] == []
    assert [c for c in KNOWN_CYCLES if c not in found] == [], "fixed: take it off KNOWN_CYCLES"


def test_the_cycle_check_can_fail(tmp_path):
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    # An import only for type checking, or inside a function, is an import all the same.
    module = tmp_path / "module.py"
    module.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .approval import Decision\n"
                      "def f():\n    from ..core import errors\n")
    assert _imports("kimi_jupyter.tools.module", module) == {"kimi_jupyter.tools.approval",
                                                             "kimi_jupyter.core.errors"}


CORE = "kimi_jupyter.core"
# What `core/` must never load: the frontends. The gateway and plain scripts import core.
FRONTENDS = {"IPython", "ipykernel", "ipywidgets"}


def _third_party(path: Path) -> set[str]:
    """The top-level packages a module imports from outside this one, anywhere in its code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found - {"kimi_jupyter"}


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


# Each layer that must run without a frontend, and the package modules it may import: core
# only itself; the classroom gateway (a JupyterHub service, no kernel) itself and core.
LAYERS = {CORE: (CORE,), "kimi_jupyter.gateway": ("kimi_jupyter.gateway", CORE)}


def _layer_problems(modules: dict[str, Path], layer: str = CORE) -> list[str]:
    """Why `layer` is not free of frontends: an import of a module it may not use, or of a frontend."""
    allowed = LAYERS[layer]
    problems = []
    for name, path in sorted(modules.items()):
        if not _in(name, layer):
            continue
        above = sorted(m for m in _imports(name, path)
                       if not any(_in(m, a) for a in allowed) and m != "kimi_jupyter._version")
        problems += [f"{name} imports {m}" for m in above]
        problems += [f"{name} imports {m}" for m in sorted(_third_party(path) & FRONTENDS)]
    return problems


def test_core_reaches_no_ipython_and_no_widgets():
    # Core imports only core (so nothing it reaches is outside this check), and no frontend,
    # counting imports inside functions and under TYPE_CHECKING.
    assert _layer_problems(MODULES, CORE) == []


def test_the_gateway_uses_only_core():
    assert _layer_problems(MODULES, "kimi_jupyter.gateway") == []


def test_core_imports_load_no_frontend():
    # The same at run time: every core module imported in a fresh interpreter.
    names = sorted(n for n in MODULES if n == CORE or n.startswith(CORE + "."))
    code = (f"import importlib, sys\nfor n in {names!r}: importlib.import_module(n)\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(FRONTENDS)!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_the_core_check_can_fail(tmp_path):
    core = tmp_path / "core"
    core.mkdir()
    # Imports inside a function count; the package's modules are the real ones (MODULES).
    (core / "agent.py").write_text("def f():\n    from ..views import live\n    import ipywidgets\n")
    assert _layer_problems({"kimi_jupyter.core.agent": core / "agent.py"}) == [
        "kimi_jupyter.core.agent imports kimi_jupyter.views.live", "kimi_jupyter.core.agent imports ipywidgets"]
    (core / "agent.py").write_text("from .stream import Turn\nfrom IPython.display import display\n")
    assert _layer_problems({"kimi_jupyter.core.agent": core / "agent.py"}) == [
        "kimi_jupyter.core.agent imports IPython"]


def test_every_module_says_its_job():
    missing = [name for name, path in MODULES.items() if not ast.get_docstring(ast.parse(path.read_text()))]
    assert missing == []


def test_readme_layout_names_every_module():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):]
    top = {p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("_")}
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    named = {n for n in re.findall(r"^\s{2}(\w+)(?:\.py|/)", layout, re.M) if not n.startswith("_")}
    assert sorted((top | packages) - named) == [], "add these to the README's layout section"
    assert sorted(named - top - packages) == [], "the README's layout names modules that are gone"


def test_every_public_name_resolves():
    # The top-level names are lazy (module paths as strings): a moved module must not break one.
    code = ("import kimi_jupyter\n"
            "for name in [*kimi_jupyter.__all__, 'KimiServer']: getattr(kimi_jupyter, name)\n"
            "import kimi_jupyter.batch as b\n"
            "for name in b.__all__: getattr(b, name)\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)

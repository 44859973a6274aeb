"""`%kimi export`: what ran becomes code cells, what did not run stays text (SPEC §9)."""

from __future__ import annotations

import json

import nbformat

from kimi_jupyter.ipython.export import conversation_notebook
from kimi_jupyter.core.result import Result, ToolCallRecord


def _record(code: str, **kw) -> ToolCallRecord:
    return ToolCallRecord("python", json.dumps({"code": code}), kw.pop("output", "ok"), kw.pop("ok", True), **kw)


def test_refused_code_is_a_markdown_cell_marked_not_run_and_ran_code_stays_a_code_cell():
    refused = "import shutil; shutil.rmtree('data')"
    told = "The user declined to run this code. Their instruction instead: use the sample"
    result = Result(model="kimi-k2.6", content="Done.", tool_calls=[
        _record("x = 1"),
        _record(refused, output=told, ok=False, declined=True),
    ])
    nb = conversation_notebook([{"prompt": "clean up", "result": result}])
    nbformat.validate(nb)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.source for c in code_cells] == ["x = 1"]
    (cell,) = [c for c in nb.cells if refused in c.source]
    assert cell.cell_type == "markdown"
    assert "not run" in cell.source and "use the sample" in cell.source
    assert cell.metadata["kimi_jupyter"]["declined"] is True


def test_declined_code_cannot_break_out_of_its_fence():
    code = "```\n# Title\n````python\nprint(1)"
    result = Result(model="m", tool_calls=[_record(code, ok=False, declined=True)])
    nb = conversation_notebook([{"prompt": "p", "result": result}])
    (cell,) = [c for c in nb.cells if code in c.source]
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(cell.source)
    fences = [t for t in tokens if t.type == "fence"]
    assert any(t.content.rstrip("\n") == code for t in fences)

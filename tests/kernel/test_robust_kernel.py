"""Hostile servers, odd model output and careless exports (issue 24 #8-#13), in real kernels."""

from __future__ import annotations

import json

import nbformat

from kimi_jupyter.testing import Scenario, ScriptedTurn, ToolCallSpec

from conftest import make_notebook, output_text

# Model code that leaves a mark in the working directory if it ever runs.
MARK_CODE = "open('model_code_ran.txt', 'w').write('ran')"


def test_export_keeps_declined_code_as_text_so_run_all_does_not_run_it(kimi_kernel_env, tmp_path):
    from kimi_jupyter.testing.kernel import notebook_client

    kimi_kernel_env.add_scenario(Scenario("leave_a_mark", [
        ScriptedTurn(reasoning="I'll leave a mark.", tool_calls=[ToolCallSpec("python", json.dumps({"code": MARK_CODE}))]),
        ScriptedTurn(reasoning="It was not run.", content="I could not run it."),
    ]))
    export = tmp_path / "conv.ipynb"
    # Headless (nbclient has no stdin): the code can't be asked about, so it is not run.
    nb = make_notebook(["%load_ext kimi_jupyter", "%%kimi\n[[scenario:leave_a_mark]] go", f"%kimi export {export}"])
    notebook_client(nb, tmp_path, timeout=60, allow_errors=True).execute()
    assert "not run" in output_text(nb.cells[1]).lower()
    assert not (tmp_path / "model_code_ran.txt").exists()

    exported = nbformat.read(export, as_version=4)
    assert all(MARK_CODE not in c.source for c in exported.cells if c.cell_type == "code")
    (declined,) = [c for c in exported.cells if MARK_CODE in c.source]
    assert declined.cell_type == "markdown" and "not run" in declined.source
    assert declined.metadata["kimi_jupyter"]["declined"] is True

    # Run All on the export, as a reader would: the declined code stays text.
    notebook_client(exported, tmp_path, timeout=60).execute()
    assert not (tmp_path / "model_code_ran.txt").exists()

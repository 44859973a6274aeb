"""Our errors are one clear line in a real kernel, whatever custom exception handlers other extensions install."""

from __future__ import annotations

import pytest
from conftest import notebook_json, output_text, run_notebook

from kimi_jupyter.testing.pytest_plugin import API_KEY

# Another extension's handler, as `set_custom_exc` takes it (one handler per shell).
OTHER_EXTENSION = """\
def _other_handler(shell, etype, value, tb, tb_offset=None):
    print(f"other extension handled {etype.__name__}")
    return []

get_ipython().set_custom_exc((ZeroDivisionError,), _other_handler)
"""
QUOTA = "%%kimi -n\n[[scenario:quota]] Tell me about quota."
# Server text quoted in an error: an OSC 52 clipboard write and a carriage return that
# would overwrite the line in a terminal.
HOSTILE = ("from kimi_jupyter.core.errors import APIError\n"
           "raise APIError(500, 'server_error', 'Internal\\x1b]52;c;aGk=\\x07 error\\rhidden', "
           "hint='Try again later.')")


def _error(cell) -> dict:
    (error,) = [o for o in cell.outputs if o["output_type"] == "error"]
    return error


def test_other_extensions_custom_exc_does_not_displace_our_one_line_errors(kimi_kernel_env, tmp_path):
    nb = run_notebook([
        OTHER_EXTENSION,  # installed before ours loads
        "%load_ext kimi_jupyter",
        QUOTA,
        OTHER_EXTENSION,  # and again after it
        QUOTA,
        "1/0",
        HOSTILE,
        "print('kernel alive')",
    ], tmp_path, timeout=120)
    for cell in (nb.cells[2], nb.cells[4]):
        error = _error(cell)
        assert error["ename"] == "QuotaError"
        assert "exceeded_current_quota_error" in error["evalue"] and "billing" in error["evalue"]
        # The whole traceback is the one line: no frames through openai, httpx or the magic.
        assert error["traceback"] == [f"QuotaError: {error['evalue']}"]
        text = output_text(cell)
        assert "Traceback" not in text and "httpx" not in text and "File " not in text
    # The other extension's handler still handles its own exceptions.
    assert "other extension handled ZeroDivisionError" in output_text(nb.cells[5])
    # Server text is shown as text: no escape or carriage return in the saved error.
    hostile = _error(nb.cells[6])
    assert hostile["ename"] == "APIError"
    assert hostile["evalue"] == "Kimi API error 500 (server_error): Internal error\nhidden\nTry again later."
    assert hostile["traceback"] == [f"APIError: {hostile['evalue']}"]
    assert output_text(nb.cells[7]).strip() == "kernel alive"
    assert API_KEY not in notebook_json(nb)


def test_a_headless_run_stops_at_our_error(kimi_kernel_env, tmp_path):
    # nbclient (papermill's engine) stops at a cell whose execute_reply is an error, as it
    # should: the one-line rendering still marks the cell failed.
    from nbclient.exceptions import CellExecutionError

    with pytest.raises(CellExecutionError) as caught:
        run_notebook(["%load_ext kimi_jupyter", OTHER_EXTENSION, HOSTILE, "print('not reached')"],
                     tmp_path, allow_errors=False)
    assert "APIError: Kimi API error 500 (server_error): Internal error" in str(caught.value)
    assert "\x1b]52" not in str(caught.value)

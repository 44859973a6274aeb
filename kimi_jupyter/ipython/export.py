"""`%kimi export PATH.ipynb`: the conversation as a notebook anyone can rerun.

Prompts and answers become markdown cells; the code the model ran becomes
code cells holding the outputs the user saw, so the analysis is reproducible
without the model. Code that did not run (the user declined it, or there was
no way to ask) becomes a markdown cell marked "not run": the export must not
turn it into a cell that Run All would run. The file is written with nbformat
and validated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .._version import __version__
from ..core import sanitize
from ..core.result import Result, ToolCallRecord


def _code_of(call: ToolCallRecord) -> str | None:
    if not call.is_code:
        return None
    from ..tools.registry import loads_arguments

    try:
        args = loads_arguments(call.arguments)  # a repeated key was refused, not run: no code cell
    except ValueError:
        return None
    code = args.get("code") if isinstance(args, dict) else None
    return code if isinstance(code, str) else None


def _outputs(records: list[dict[str, Any]]) -> list[Any]:
    import nbformat

    outputs = []
    for rec in records:
        fields = {k: v for k, v in rec.items() if k != "output_type"}
        if rec["output_type"] in ("display_data", "execute_result"):
            fields["data"] = {k: v for k, v in fields.get("data", {}).items() if _json_safe(v)}
        outputs.append(nbformat.v4.new_output(rec["output_type"], **fields))
    return outputs


def _json_safe(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _not_run_cell(code: str, told: str, provenance: dict[str, Any]) -> Any:
    """Declined or unasked model code, as text: shown in full, never runnable."""
    import nbformat

    cell = nbformat.v4.new_markdown_cell(
        "*Model code, **not run**: it was declined (refused by the user, or there was no way to "
        "ask). It is kept as text so that running this notebook does not run it.*\n\n"
        f"{sanitize.fence(code, 'python')}\n\n*What the model was told:*\n\n{sanitize.fence(told[:4000])}"
    )
    cell.metadata["kimi_jupyter"] = {**provenance, "part": "code", "model_written": True, "declined": True}
    return cell


def conversation_notebook(entries: list[dict[str, Any]]) -> Any:
    """One notebook from the session transcript: [{"prompt": str, "result": Result}, ...]."""
    import nbformat

    v4 = nbformat.v4
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = [v4.new_markdown_cell("# Conversation with Kimi\n\nExported by kimi-jupyter (`%kimi export`).")]
    for entry in entries:
        result: Result = entry["result"]
        # A prompt can carry interpolated data (a web page, a dataframe): rendered safely too.
        cells.append(v4.new_markdown_cell(f"**You:**\n\n{sanitize.markdown_block(entry['prompt'])}"))
        provenance = {"model": result.model, "version": __version__}
        for call in result.tool_calls:
            code = _code_of(call)
            if code is not None and call.declined:
                cells.append(_not_run_cell(code, call.output, provenance))
            elif code is not None:
                cell = v4.new_code_cell(code)
                cell.outputs = _outputs(call.outputs)
                cell.metadata["kimi_jupyter"] = {**provenance, "part": "code", "model_written": True}
                cells.append(cell)
            else:
                cell = v4.new_markdown_cell(
                    f"*Tool call* {sanitize.inline_code(call.name)}\n\n{sanitize.fence(call.arguments, 'json')}\n\n"
                    f"{sanitize.fence(call.output[:4000])}"
                )
                cell.metadata["kimi_jupyter"] = {**provenance, "part": "tool_call"}
                cells.append(cell)
        answer = f"**Kimi** ({sanitize.markdown_text(result.model)}):\n\n"
        answer += sanitize.markdown_block(result.content) if result.content else "*(no answer)*"
        if result.reasoning:
            answer += f"\n\n<details><summary>Reasoning</summary>{sanitize.markdown_block(result.reasoning)}</details>"
        answer += f"\n\n<sub>{sanitize.markdown_text(result.footer())}</sub>"
        cell = v4.new_markdown_cell(answer)
        cell.metadata["kimi_jupyter"] = {**result.metadata(), "part": "answer"}
        cells.append(cell)
    nb.cells = cells
    return nb


def export(entries: list[dict[str, Any]], path: str | Path) -> Path:
    import nbformat

    path = Path(path).expanduser()
    if path.suffix != ".ipynb":
        path = path.with_suffix(".ipynb")
    nb = conversation_notebook(entries)
    nbformat.validate(nb)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path

"""Keys and `Kimi.secrets` never reach the saved notebook, the export or the model (SPEC §1, §9),
whatever model code does with them, in real kernels (issue 24 #6, #7; issue 25 #1)."""

from __future__ import annotations

import base64
import json

from kimi_jupyter.testing import Scenario, ScriptedTurn, ToolCallSpec
from kimi_jupyter.testing.pytest_plugin import API_KEY

from conftest import output_text, run_notebook

DB_PW = "hunter2-dsn-password"
FORMS = {
    "key": API_KEY,
    "reversed key": API_KEY[::-1],
    "base64 key": base64.b64encode(API_KEY.encode()).decode().rstrip("="),
    "hex key": API_KEY.encode().hex(),
    "password": DB_PW,
}


def _leaks(text: str) -> list[str]:
    return [name for name, form in FORMS.items() if form in text]


def _model_saw(server) -> str:
    """Everything sent to the model: every message of every request."""
    return json.dumps([r["messages"] for r in server.requests], ensure_ascii=False)


def _code_scenario(name: str, *codes: str) -> Scenario:
    calls = [ScriptedTurn(tool_calls=[ToolCallSpec("python", json.dumps({"code": c}))]) for c in codes]
    return Scenario(name, [*calls, ScriptedTurn(content="Done.")])


# The user's own cell holds the password; model code only ever reads it from the environment.
SETUP = f"%load_ext kimi_jupyter\n%config Kimi.secrets = ['{DB_PW}']\nimport os\nos.environ['DB_PW'] = '{DB_PW}'"


def test_split_and_encoded_writes_of_a_key_are_redacted(kimi_kernel_env, tmp_path):
    """Issue 24 #7: `for ch in key: sys.stdout.write(ch)` put the whole key in the saved notebook."""
    kimi_kernel_env.add_scenario(_code_scenario(
        "split_writes",
        "import os, sys\nkey = os.environ['KIMI_API_KEY']\nfor ch in key:\n    sys.stdout.write(ch)\n"
        "sys.stdout.flush()\nprint()\nfor ch in os.environ['DB_PW']:\n    sys.stderr.write(ch)\n",
        "import base64\nprint(key[::-1])\nprint(base64.b64encode(key.encode()).decode())\n"
        "print(key.encode().hex())\nprint('after', 'the key')",
    ))
    export = tmp_path / "conv.ipynb"
    nb = run_notebook([SETUP, "%%kimi -y\n[[scenario:split_writes]] go", f"%kimi export {export}"], tmp_path)
    shown = output_text(nb.cells[1])
    assert "[redacted]" in shown and "after the key" in shown, shown  # the output itself still shows
    assert _leaks(json.dumps(nb.cells[1].outputs)) == []
    assert _leaks(export.read_text()) == []
    model = _model_saw(kimi_kernel_env)
    assert "[redacted]" in model and "after the key" in model
    assert _leaks(model) == []


def test_out_and_every_display_of_model_code_is_redacted(kimi_kernel_env, tmp_path):
    """Issue 25 #1: a last expression `os.environ.get('KIMI_API_KEY')` showed the key in Out[]."""
    kimi_kernel_env.add_scenario(_code_scenario(
        "displays",
        "import os\nos.environ.get('KIMI_API_KEY')",
        "from IPython.display import display, HTML, Markdown, JSON, Latex\nk = os.environ['KIMI_API_KEY']\n"
        "display(HTML(f'<b>{k}</b>'))\ndisplay(Markdown(f'**{k}**'))\ndisplay(JSON({'key': k, 'pw': os.environ['DB_PW']}))\n"
        "display(Latex(f'$\\\\text{{{k}}}$'))\ndisplay({'text/plain': k, 'image/svg+xml': f'<svg>{k}</svg>'}, raw=True)\n"
        "h = display(HTML('placeholder'), display_id=True)\nh.update(HTML(k[::-1]))",
        "raise ValueError('could not connect with ' + os.environ['KIMI_API_KEY'])",
    ))
    export = tmp_path / "conv.ipynb"
    nb = run_notebook([SETUP, "%%kimi -y\n[[scenario:displays]] go", f"%kimi export {export}"], tmp_path)
    outputs = nb.cells[1].outputs
    results = [o for o in outputs if o.output_type == "execute_result"]
    assert results and results[0].data["text/plain"] == "'[redacted]'", results
    kinds = {m for o in outputs if o.output_type == "display_data" for m in o.data}
    assert {"text/html", "text/markdown", "application/json", "text/latex", "image/svg+xml"} <= kinds
    assert "could not connect with [redacted]" in output_text(nb.cells[1])
    assert _leaks(json.dumps(outputs)) == []
    exported = export.read_text()
    assert "[redacted]" in exported and _leaks(exported) == []
    model = _model_saw(kimi_kernel_env)
    assert "Out: '[redacted]'" in model and "could not connect with [redacted]" in model
    assert _leaks(model) == []


def test_fix_interpolation_and_system_prompt_send_no_secret(kimi_kernel_env, tmp_path):
    """Issue 24 #6: `%kimi fix` sent a traceback holding a DSN password to the model."""
    nb = run_notebook([
        SETUP,
        f"dsn = 'postgresql://bob:{DB_PW}@db.internal/sales'\n"
        "import os\nkey = os.environ['KIMI_API_KEY']\n"
        "raise ConnectionError(f'could not connect to {dsn} with {key}')",
        "%kimi fix",
        "%%kimi -s key={key}\nwhy does {dsn} fail?",
    ], tmp_path)
    assert "ConnectionError" in output_text(nb.cells[1])
    assert nb.cells[2].outputs and not [o for o in nb.cells[2].outputs if o.output_type == "error"]
    users = [m["content"] for r in kimi_kernel_env.requests for m in r["messages"] if m["role"] == "user"]
    fix = next(u for u in users if "raised an exception" in u)
    assert "postgresql://bob:[redacted]@db.internal/sales" in fix and "ConnectionError" in fix
    assert any("why does postgresql://bob:[redacted]@db.internal/sales fail?" in u for u in users)
    systems = [m["content"] for r in kimi_kernel_env.requests for m in r["messages"] if m["role"] == "system"]
    assert any("key=[redacted]" in s for s in systems), systems
    assert _leaks(_model_saw(kimi_kernel_env)) == []
    assert _leaks(json.dumps([c.get("outputs", []) for c in nb.cells[2:]])) == []

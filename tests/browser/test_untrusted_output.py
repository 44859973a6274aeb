"""Model output is untrusted (SPEC §3): in JupyterLab and Notebook 7, a `%%kimi` answer, reasoning,
code and tool arguments full of script run no script, live or after the notebook is saved and
reopened (Jupyter trusts a notebook its user saved), while the markdown still renders.
"""

from __future__ import annotations

import json

import pytest

from .harness import cell, expect, open_notebook, run_and_wait, save_notebook, screenshot, wait_kernel_idle, write_notebook
from kimi_jupyter.testing import Scenario, ToolCallSpec, ScriptedTurn

pytestmark = pytest.mark.browser

# Every payload calls __pwn(), which the page records: any call means script ran.
PWN = "__pwn"
ANSWER = f"""# Report

**bold** and a table:

| payload | n |
|---|---|
| <img src=x onerror="{PWN}('table img')"> | 2 |

<script>{PWN}('script')</script> <svg onload="{PWN}('svg')"></svg>
[click me](javascript:{PWN}('link')) <a href="javascript:{PWN}('a')">a</a>
<iframe src="javascript:{PWN}('iframe')"></iframe> <style>body {{ display: none }}</style>

The area is $x^2$.

```python
print("hi")
```
````
<img src=x onerror="{PWN}('fence breakout')">
"""
REASONING = f"Thinking <img src=x onerror=\"{PWN}('reasoning')\"> ``` <script>{PWN}('reasoning script')</script>"
CODE = json.dumps({"code": f"print('safe')\n```\n<img src=x onerror=\"{PWN}('code')\">"})
ARGS = json.dumps({"note": f"</code><img src=x onerror=\"{PWN}('args')\">"})


def attack() -> Scenario:
    return Scenario("browser_attack", [
        ScriptedTurn(reasoning=REASONING, tool_calls=[ToolCallSpec("python", CODE), ToolCallSpec("lookup", ARGS)]),
        ScriptedTurn(reasoning=REASONING, content=ANSWER),
    ])


_HOOK = f"""
window.__pwned = [];
window.{PWN} = (what) => window.__pwned.push(what);
"""


def _check_rendered(page, out) -> None:
    # JupyterLab and Notebook 7 render markdown asynchronously, after the cell is done:
    # wait for each rendered state (expect retries), and check that nothing is live only
    # once everything has rendered.
    expect(out.locator("h1", has_text="Report")).to_have_count(1)
    expect(out.locator("strong", has_text="bold").first).to_be_attached()
    expect(out.locator("table td").nth(1)).to_be_attached()
    expect(out.locator("pre code", has_text='print("hi")').first).to_be_attached()
    # The payloads are shown as text, and the math is typeset by MathJax.
    expect(out).to_contain_text("onerror")
    expect(out.locator("mjx-container").first).to_be_attached(timeout=20_000)
    assert out.locator("script, iframe, style, svg[onload]").count() == 0
    assert out.locator("[onerror], [onload], a[href^='javascript']").count() == 0
    assert page.evaluate("window.__pwned") == [], page.evaluate("window.__pwned")


@pytest.mark.parametrize("kind", ["lab", "nb7"])
def test_script_in_model_output_never_runs_live_or_after_reload(kind, request, browser_kimi):
    page = request.getfixturevalue("lab_page" if kind == "lab" else "nb7_page")
    server = request.getfixturevalue("lab_server" if kind == "lab" else "notebook_server")
    browser_kimi.add_scenario(attack())
    page.add_init_script(_HOOK)  # stays for reloads too
    name = write_notebook(server.root, f"untrusted-{kind}.ipynb", [
        "%load_ext kimi_jupyter",
        "import kimi_jupyter\n@kimi_jupyter.tool\ndef lookup(note: str) -> str:\n    '''Look a note up.'''\n    return note",
        "%%kimi -y\n[[scenario:browser_attack]] write the report",
    ])
    open_notebook(page, server, name)
    for i in range(3):
        run_and_wait(page, i, timeout=90_000)
    wait_kernel_idle(page)
    out = cell(page, 2).locator(".jp-Cell-outputArea")
    _check_rendered(page, out)
    screenshot(page, f"{kind}-untrusted-live", out)

    save_notebook(page, server, name, lambda nb: bool(nb["cells"][2]["outputs"]))
    open_notebook(page, server, name)  # reload: the saved, trusted notebook
    out = cell(page, 2).locator(".jp-Cell-outputArea")
    _check_rendered(page, out)
    screenshot(page, f"{kind}-untrusted-reloaded", out)

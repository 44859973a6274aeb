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


def test_read_only_tools_send_no_secret(kimi_kernel_env, tmp_path):
    """notebook_history, inspect_variable and list_variables read the user's cells and values."""
    calls = [ToolCallSpec("notebook_history", json.dumps({"n": 5})),
             ToolCallSpec("inspect_variable", json.dumps({"name": "conn"})),
             ToolCallSpec("list_variables", "{}")]
    kimi_kernel_env.add_scenario(Scenario("read_only", [ScriptedTurn(tool_calls=calls), ScriptedTurn(content="Seen.")]))
    long_value = "x" * 5000
    nb = run_notebook([
        SETUP,
        # The user's own cells: a connection string, and the key written backwards and cut.
        f"conn = {{'dsn': 'postgresql://bob:{DB_PW}@db/sales', 'pad': '{long_value}', 'key': os.environ['KIMI_API_KEY']}}",
        "print(os.environ['KIMI_API_KEY'][::-1])\nprint(os.environ['KIMI_API_KEY'][:-1])",
        "%%kimi\n[[scenario:read_only]] what did I do?",
    ], tmp_path)
    assert "Seen." in output_text(nb.cells[3])
    tool_messages = [m["content"] for r in kimi_kernel_env.requests for m in r["messages"] if m["role"] == "tool"]
    assert len(tool_messages) == 3 and "postgresql://bob:[redacted]@db/sales" in json.dumps(tool_messages)
    assert _leaks(_model_saw(kimi_kernel_env)) == []
    assert API_KEY[:-1] not in _model_saw(kimi_kernel_env)


class _Proxy:
    """A loopback HTTP proxy that records what reaches it, as a proxy on the path would see it."""

    def __init__(self) -> None:
        import socketserver
        import threading

        self.seen: list[str] = []
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = self.rfile.readline(65536)
                    if not line:
                        break
                    head += line
                proxy.seen.append(head.decode("latin-1"))
                self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


MOONSHOT_KEY = "sk-moonshot-real-key-0123456789"


def test_moonshot_key_never_goes_over_plain_http_or_another_port(tmp_path, monkeypatch):
    """Issue 24 #5: `--base-url http://api.moonshot.ai/v1` sent `Authorization: Bearer sk-…` in cleartext.

    Every request of the kernel goes through a loopback proxy (HTTP_PROXY / HTTPS_PROXY,
    which the SDK's httpx honours), so the proxy sees whatever would have left.
    """
    proxy = _Proxy()
    try:
        for name in ("KIMI_API_KEY", "KIMI_BASE_URL", "MOONSHOT_BASE_URL", "KIMI_MODEL", "NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("MOONSHOT_API_KEY", MOONSHOT_KEY)
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.setenv(name, proxy.url)
        nb = run_notebook([
            "%load_ext kimi_jupyter\n%config Kimi.max_retries = 0",
            "%%kimi --base-url http://api.moonshot.ai/v1\nhello",
            "%%kimi --base-url https://api.moonshot.cn:8080/v1\nhello",
            "%kimi --base-url http://api.moonshot.cn/v1 models",
            "import getpass\ngetpass.getpass = lambda prompt='': 'sk-login-for-http-host-000'\n"
            "%kimi login --base-url http://api.moonshot.ai/v1",
            "%%kimi --base-url http://api.moonshot.ai/v1\nhello with the login key",
        ], tmp_path)
    finally:
        proxy.stop()
    assert proxy.seen == []  # nothing left the kernel: no key, no request at all
    for index, host, why in ((1, "api.moonshot.ai", "cleartext"), (2, "api.moonshot.cn", "port 8080"),
                             (3, "api.moonshot.cn", "cleartext"), (5, "api.moonshot.ai", "cleartext")):
        errors = [o for o in nb.cells[index].outputs if o.output_type == "error"]
        assert len(errors) == 1, nb.cells[index].outputs
        message = f"{errors[0].ename}: {errors[0].evalue}"
        assert errors[0].traceback == [message]  # one line, no traceback
        assert why in message and f"https://{host}/v1" in message and "Nothing was sent" in message, message
    shown = json.dumps([cell.get("outputs", []) for cell in nb.cells])
    assert MOONSHOT_KEY not in shown and "sk-login-for-http-host-000" not in shown

"""MCP tools (SPEC §10) without a kernel: settings, result conversion, and the client
against real MCP servers (PyPI's mcp-server-time and tests/mcp_servers/faulty.py)."""

from __future__ import annotations

import _thread
import base64
import contextlib
import io
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import psutil
import pytest
from traitlets import TraitError

from kimi_jupyter.core import sanitize
from kimi_jupyter.core.settings import Kimi
from kimi_jupyter.core.errors import Interrupted
from kimi_jupyter.core.session import Session
from kimi_jupyter.tools import ToolContext, default_registry
from kimi_jupyter.tools.approval import Decision
from kimi_jupyter.tools.mcp import mcp_manager, result_text, status_markdown, tool_providers, tool_schema
from kimi_jupyter.tools.mcp_runtime import McpTool, qualified_name
from kimi_jupyter.core.mcp_spec import parse_servers

FAULTY = str(Path(__file__).parents[1] / "mcp_servers" / "faulty.py")


def faulty(**extra):
    return {"command": [sys.executable, FAULTY, *extra.pop("args", [])], **extra}


# -- settings -------------------------------------------------------------------------------

@pytest.mark.parametrize("value, words", [
    ({"bad name": {"command": ["x"]}}, ["'bad name'", "letters"]),
    ({"a__b": {"command": ["x"]}}, ["'a__b'", "__"]),
    ({"s": {"command": ["x"], "url": "http://h/mcp"}}, ["'s'", "exactly one"]),
    ({"s": {}}, ["'s'", "exactly one"]),
    ({"s": {"command": []}}, ["'s'", "non-empty list"]),
    ({"s": {"command": ["x"], "colour": 1}}, ["'s'", "unknown key", "colour"]),
    ({"s": {"url": "ftp://h/mcp"}}, ["'s'", "http://"]),
    ({"s": {"url": "http://h/mcp", "env": {}}}, ["'s'", "'env'"]),
    ({"s": {"command": ["x"], "headers": {"A": "b"}}}, ["'s'", "'headers'"]),
    ({"s": {"command": ["x"], "env": {"A": 1}}}, ["'s'", "'env'"]),
    ({"s": {"command": ["x"], "timeout": 0}}, ["'s'", "'timeout'", "positive"]),
    ({"s": "uvx mcp-server-time"}, ["'s'", "dict"]),
])
def test_a_bad_server_entry_is_refused_naming_the_server(value, words):
    with pytest.raises(ValueError) as err:
        parse_servers(value)
    for word in words:
        assert word in str(err.value)
    cfg = Kimi()
    with pytest.raises(TraitError) as err2:  # what `%config Kimi.mcp_servers = ...` reports
        cfg.mcp_servers = value
    assert words[0] in str(err2.value)
    assert cfg.mcp_servers == {}


def test_good_entries_become_specs():
    specs = parse_servers({
        "time": {"command": "uvx mcp-server-time --local-timezone Europe/Paris", "env": {"A": "b"}},
        "docs": {"url": "https://example.org/mcp", "headers": {"Authorization": "Bearer 0123456789"},
                 "timeout": 5, "start_timeout": 2},
    })
    assert specs["time"].command == ("uvx", "mcp-server-time", "--local-timezone", "Europe/Paris")
    assert specs["time"].env == (("A", "b"),) and specs["time"].transport == "stdio"
    docs = specs["docs"]
    assert (docs.transport, docs.timeout, docs.start_timeout) == ("http", 5.0, 2.0)
    assert docs.secrets() == ("Bearer 0123456789", "0123456789")
    tokens = parse_servers({"gh": {"command": ["x"], "env": {"GITHUB_TOKEN": "ghp_abcdefgh", "TZ": "Europe/Paris"}},
                            "q": {"url": "http://h/mcp?key=sk-in-the-query#frag"}})
    assert tokens["gh"].secrets() == ("ghp_abcdefgh",) and tokens["q"].describe() == "http://h/mcp"
    assert "0123456789" not in repr(docs)  # headers and env stay out of reprs


def test_loading_the_extension_and_the_settings_never_import_mcp():
    code = ("import sys, kimi_jupyter, kimi_jupyter.core.settings, kimi_jupyter.ipython.magics\n"
            "from kimi_jupyter.core.settings import Kimi\n"
            "k = Kimi(); k.mcp_servers = {'t': {'command': ['x']}}\n"
            "from kimi_jupyter.core.session import Session\n"
            "from kimi_jupyter.tools.mcp import tool_providers\n"
            "tool_providers(Session())\n"
            "print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith('mcp.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- results and schemas (pure) ---------------------------------------------------------------

def _png() -> str:
    sys.path.insert(0, str(Path(FAULTY).parent))
    from faulty import tiny_png

    return base64.b64encode(tiny_png()).decode()


def test_results_become_text_for_the_model_and_images_for_vision():
    from PIL import Image

    jpeg = io.BytesIO()
    Image.new("RGB", (5, 4), "blue").save(jpeg, format="JPEG")
    result = {"content": [
        {"type": "text", "text": "first"},
        {"type": "image", "data": _png(), "mimeType": "image/png"},
        {"type": "image", "data": base64.b64encode(jpeg.getvalue()).decode(), "mimeType": "image/jpeg"},
        {"type": "image", "data": "bm90IGFuIGltYWdl", "mimeType": "image/webp"},
        {"type": "resource", "resource": {"uri": "file:///a.txt", "text": "inside"}},
        {"type": "resource", "resource": {"uri": "file:///b.bin", "blob": "AAAA", "mimeType": "application/zip"}},
        {"type": "resource_link", "uri": "file:///c", "name": "c", "description": "a link"},
        {"type": "audio", "data": "AAAA", "mimeType": "audio/wav"},
    ], "isError": False}
    text, images, ok = result_text(result)
    assert ok and len(images) == 2
    assert text.splitlines()[0] == "first"
    assert "[image 1: 3x2 px, returned by the tool]" in text and "[image 2: 5x4 px" in text
    assert "image/webp" in text and "not readable" in text
    assert "[resource file:///a.txt]\ninside" in text
    assert "file:///b.bin (application/zip) not shown" in text
    assert "file:///c (c) — a link" in text and "audio/wav" in text
    assert Image.open(io.BytesIO(base64.b64decode(images[1]))).format == "PNG"

    assert result_text({"content": [], "structuredContent": {"x": 1}}) == ('{"x": 1}', [], True)
    assert result_text({"content": []}) == ("No output", [], True)
    text, _, ok = result_text({"content": [{"type": "text", "text": "bad zone"}], "isError": True})
    assert not ok and text == "Error (reported by the tool): bad zone"


def test_schema_names_and_the_status_table_are_safe():
    assert qualified_name("srv", "get.time/now") == "srv__get_time_now"
    long = qualified_name("srv", "t" * 100)
    assert len(long) == 64 and long != qualified_name("srv", "t" * 99)
    tool = McpTool("srv", "x", "srv__x", "Does | things.\n<script>alert(1)</script>", {}, False)
    schema = tool_schema(tool)
    assert schema["function"]["name"] == "srv__x"
    assert schema["function"]["parameters"] == {"type": "object", "properties": {}}
    from kimi_jupyter.tools.mcp_runtime import ServerStatus

    table = status_markdown([ServerStatus("srv", "stdio", "prog", "failed", "boom | <b>x</b>", []),
                             ServerStatus("ok", "http", "http://h/mcp", "running", "", [tool])])
    rows = table.splitlines()
    assert all(r.count("|") - r.count("\\|") == 6 for r in rows)  # no cell broke out
    html = sanitize.markdown_block(table)
    assert "<table>" in html and "<script" not in html and "<b>" not in html
    assert "no (asks first)" in html and "Does | things." in html


# -- against real servers -----------------------------------------------------------------------

def _session(servers: dict) -> Session:
    session = Session()
    session.config.mcp_servers = servers
    return session


def _ctx(session: Session, **kw) -> tuple[ToolContext, list[str]]:
    notices: list[str] = []
    ctx = ToolContext(providers=tool_providers(session), notice=notices.append, **kw)
    default_registry.schemas(ctx=ctx)
    return ctx, notices


@pytest.fixture
def closing():
    sessions: list[Session] = []
    yield sessions.append
    for s in sessions:
        if s.mcp is not None:
            s.mcp.close()


def _faulty_processes(*args: str) -> list[psutil.Process]:
    """This process's live faulty.py servers started with exactly `args`."""
    command = faulty(args=list(args))["command"]
    found = []
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if proc.cmdline() == command and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def _wait_until_gone(procs: list[psutil.Process], deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    for proc in procs:
        while True:
            with contextlib.suppress(psutil.NoSuchProcess):
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    assert time.monotonic() < deadline, f"the server (pid {proc.pid}) did not exit"
                    time.sleep(0.05)
                    continue
            break


def _logged(log: Path, line: str) -> bool:
    return log.exists() and line in log.read_text().splitlines()


def _interrupt_once_logged(log: Path, line: str, deadline_s: float = 60) -> None:
    """Interrupt the main thread once the server wrote `line` to its log (a start or a call
    under way): the state, not a guess at how long getting there takes."""
    def watch() -> None:
        deadline = time.monotonic() + deadline_s
        while not _logged(log, line):
            if time.monotonic() > deadline:
                return  # never interrupted: the call's guard (below) ends it, and the test fails
            time.sleep(0.05)
        _thread.interrupt_main()

    threading.Thread(target=watch, daemon=True).start()


@contextlib.contextmanager
def _killed_if_still_waiting(*args: str, after_s: float = 60) -> Iterator[list[int]]:
    """For a call or a start that must be cut short (by its time-out, by an interrupt) while the
    server would go on for an hour: if the block still waits after `after_s`, the faulty.py
    servers started with `args` are killed, so it ends and the test fails on what it returned
    (the yielded list then holds their pids) instead of hanging."""
    killed: list[int] = []

    def kill() -> None:
        for proc in _faulty_processes(*args):
            killed.append(proc.pid)
            proc.kill()

    guard = threading.Timer(after_s, kill)
    guard.start()
    try:
        yield killed
    finally:
        guard.cancel()


def test_the_time_server_from_pypi_and_approval_for_tools_that_write(tmp_path, closing):
    log = tmp_path / "log.txt"
    session = _session({"time": {"command": [sys.executable, "-m", "mcp_server_time"]},
                        "faulty": faulty(env={"FAULTY_LOG": str(log), "FAULTY_NOTE": "sk-SECRET-0123456789"})})
    closing(session)
    asked: list[str] = []
    answers = iter(["n", "use the other file", "y"])

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return next(answers)

    ctx, notices = _ctx(session, ask=ask, secrets=("sk-SECRET-0123456789",))
    schemas = {s["function"]["name"]: s for s in default_registry.schemas(ctx=ctx)}
    assert notices == []
    params = schemas["time__get_current_time"]["function"]["parameters"]
    assert params["required"] == ["timezone"] and "timezone" in params["properties"]
    assert "[MCP server 'time']" in schemas["time__get_current_time"]["function"]["description"]

    out = default_registry.call("time__get_current_time", '{"timezone": "Asia/Tokyo"}', ctx)
    assert out.ok and json.loads(out.text)["timezone"] == "Asia/Tokyo" and "+09:00" in out.text
    out = default_registry.call("time__get_current_time", '{"timezone": "Mars/Olympus"}', ctx)
    assert not out.ok and "Invalid timezone" in out.text  # isError: the model is told, the server stays
    out = default_registry.call("faulty__read_note", "{}", ctx)
    assert out.ok and out.text == "The note says: [redacted]" and asked == []  # read-only: not asked

    out = default_registry.call("faulty__write_note", '{"text": "one"}', ctx)
    assert out.declined and "declined to run the MCP tool `faulty__write_note`" in out.text
    out = default_registry.call("faulty__write_note", '{"text": "two"}', ctx)
    assert out.declined and "use the other file" in out.text
    assert not log.exists()
    out = default_registry.call("faulty__write_note", '{"text": "three"}', ctx)
    assert out.ok and log.read_text() == "three\n" and len(asked) == 3

    out = default_registry.call("faulty__nope", "{}", ctx)
    assert not out.ok and "unknown tool" in out.text
    ctx_off = ToolContext(providers=tool_providers(session), ask=lambda p: Decision.refuse("auto-run is off"))
    default_registry.schemas(ctx=ctx_off)
    out = default_registry.call("faulty__write_note", '{"text": "four"}', ctx_off)
    assert out.declined and "auto-run is off" in out.text and log.read_text() == "three\n"


def test_start_failures_timeouts_and_a_crash_are_one_notice_each_then_a_restart(closing):
    session = _session({
        "faulty": faulty(timeout=2),
        "broken": faulty(args=["--fail-start"]),
        "hangs": faulty(args=["--hang-start"], start_timeout=1),
        "missing": {"command": ["no-such-program-kimi-test"]},
    })
    closing(session)
    ctx, notices = _ctx(session, auto_run=True)
    assert len(notices) == 3
    text = "\n".join(notices)
    assert "'broken'" in text and "faulty: cannot start (asked to fail)" in text
    assert "'hangs'" in text and "did not start within 1 s" in text
    assert "'missing'" in text and "no-such-program-kimi-test" in text
    states = {s.name: s.state for s in session.mcp.statuses()}
    assert states == {"faulty": "running", "broken": "failed", "hangs": "failed", "missing": "failed"}

    out = default_registry.call("faulty__crash", "{}", ctx)
    assert not out.ok and "stopped during a call to 'crash'" in out.text
    assert "crashing on purpose" in out.text  # what it wrote to stderr as it died
    out = default_registry.call("faulty__read_note", "{}", ctx)
    assert not out.ok and "is not running" in out.text  # no restart loop within the cell
    assert sum("'faulty'" in n for n in notices) == 1

    ctx, notices = _ctx(session, auto_run=True)  # the next cell starts it again
    assert not any("'faulty'" in n for n in notices)
    assert default_registry.call("faulty__read_note", "{}", ctx).ok
    with _killed_if_still_waiting() as killed:  # the call sleeps for an hour unless its time-out cuts it
        out = default_registry.call("faulty__slow", '{"seconds": 3600}', ctx)
    assert not killed, "the call was not cut at its 2 s time-out"
    assert not out.ok and "within 2 s" in out.text
    assert [n for n in notices if "'faulty'" in n] and session.mcp.statuses()[0].state == "failed"

    ctx, notices = _ctx(session, auto_run=True)
    leaving = _faulty_processes()  # the one running (and any earlier one still on its way out)
    assert leaving and default_registry.call("faulty__leave", "{}", ctx).ok
    _wait_until_gone(leaving)  # it exits after answering: the next cell pings it and starts it again
    ctx, notices = _ctx(session, auto_run=True)
    assert not any("'faulty'" in n for n in notices)
    assert default_registry.call("faulty__read_note", "{}", ctx).ok

    session.config.mcp_servers = {"faulty": faulty()}  # a changed setting replaces the servers
    ctx, notices = _ctx(session, auto_run=True)
    assert notices == [] and [s.name for s in session.mcp.statuses()] == ["faulty"]
    assert default_registry.call("faulty__read_note", "{}", ctx).ok


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_streamable_http_server_with_headers(closing):
    port = _free_port()
    token = "Bearer sk-header-token-0123456789"
    env = {"FAULTY_NOTE": f"the header is {token}, the token {token.split()[1]}", "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, FAULTY, "--http", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        session = _session({"faulty": {"url": f"http://127.0.0.1:{port}/mcp",
                                       "headers": {"Authorization": token}}})
        closing(session)
        ctx, notices = _ctx(session)
        assert notices == [] and session.mcp.statuses()[0].transport == "http"
        out = default_registry.call("faulty__read_note", "{}", ctx)
        # A header value is a secret: it never reaches the model, even when a server echoes it.
        # (" sk-…" is also the end of "Bearer sk-…", so the redactor takes the space with it.)
        assert out.ok and out.text.replace(" [redacted]", "[redacted]") == \
            "The note says: the header is[redacted], the token[redacted]"
        assert "sk-header" not in out.text and "0123456789" not in out.text
        out = default_registry.call("faulty__picture", "{}", ctx)
        assert out.ok and len(out.images) == 1 and "Embedded readme text." in out.text
    finally:
        proc.terminate()
        proc.wait(10)


def test_an_interrupt_cancels_a_start_or_a_call(closing, tmp_path):
    log = tmp_path / "log.txt"
    env = {"FAULTY_LOG": str(log)}
    session = _session({"hangs": faulty(args=["--hang-start"], start_timeout=3600, env=env), "faulty": faulty(env=env)})
    closing(session)
    manager = mcp_manager(session)
    assert manager.start(["faulty"]) == []
    _interrupt_once_logged(log, "hanging")
    with _killed_if_still_waiting("--hang-start") as killed, \
            pytest.raises(Interrupted, match="while starting the MCP server"):
        manager.start()
    assert not killed, "the interrupt did not cancel the start"
    deadline = time.monotonic() + 20  # the start is cancelled on the MCP loop, then marked
    while manager.statuses()[0].state != "failed" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert manager.statuses()[0].reason == "its start was interrupted"

    session.config.mcp_servers = {"faulty": faulty(env=env)}  # unchanged: it keeps running
    ctx, notices = _ctx(session)
    assert notices == [] and [s.state for s in manager.statuses()] == ["running"]
    _interrupt_once_logged(log, "slow")
    with _killed_if_still_waiting() as killed:
        out = default_registry.call("faulty__slow", '{"seconds": 3600}', ctx)
    assert not killed, "the interrupt did not cut the call"
    assert out.interrupted and not out.ok
    # Cancelled on the server too (the SDK told it), not left to run, nor waited out.
    deadline = time.monotonic() + 60
    while not _logged(log, "slow cancelled"):
        assert time.monotonic() < deadline, "the server never heard the call was cancelled"
        time.sleep(0.05)
    assert default_registry.call("faulty__read_note", "{}", ctx).ok  # the server is still up


def test_map_workers_asking_at_once_share_one_start(closing):
    # map(tools=True) runs items on worker threads, all asking the session's one manager for
    # its tools: before the lock, interleaved starts stopped each other and every one got none.
    import threading

    session = _session({"faulty": faulty()})
    closing(session)
    results: list[tuple[int, list[str]]] = []

    def worker() -> None:
        notices: list[str] = []
        ctx = ToolContext(providers=tool_providers(session), notice=notices.append)
        names = [t["function"]["name"] for t in default_registry.schemas(ctx=ctx)]
        results.append((sum(n.startswith("faulty__") for n in names), notices))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(count > 0 and not notices for count, notices in results), results
    assert [s.state for s in session.mcp.statuses()] == ["running"]


def test_without_the_mcp_package_one_notice_says_how_to_install_it(monkeypatch, closing):
    monkeypatch.setitem(sys.modules, "mcp", None)  # `import mcp` now raises ImportError
    session = _session({"a": faulty(), "b": faulty()})
    closing(session)
    ctx, notices = _ctx(session)
    assert len(notices) == 1 and "pip install 'kimi-jupyter[mcp]'" in notices[0]
    assert default_registry.schemas(ctx=ctx)[0]["function"]["name"] == "python"  # the cell goes on
    assert {s.reason for s in session.mcp.statuses()} == {"the `mcp` package is not installed"}


def test_the_agent_loop_offers_mcp_tools_and_sends_images_only_to_vision_models(kimi_server, closing):
    from kimi_jupyter.api import chat
    from kimi_jupyter.testing import Scenario, ToolCallSpec, ScriptedTurn
    from kimi_jupyter.testing.pytest_plugin import API_KEY
    from kimi_jupyter.views import RecordingView

    kimi_server.add_scenario(Scenario("mcp_picture", [
        ScriptedTurn(reasoning="I'll get the picture.", tool_calls=[ToolCallSpec("faulty__picture")]),
        ScriptedTurn(content="Got it: $last_tool_output"),
    ], match=r"show me the mcp picture"))
    session = _session({"faulty": faulty(), "broken": faulty(args=["--fail-start"])})
    closing(session)
    session.config.api_key, session.config.base_url = API_KEY, kimi_server.base_url
    view = RecordingView()
    result = chat("Show me the MCP picture.", session=session, view=view)
    notices = [p for n, p in view.events if n == "notice"]
    assert len(notices) == 1 and "'broken'" in notices[0] and "could not start" in notices[0]
    assert view.names().index("notice") < view.names().index("step_start")
    assert result.tool_calls[0].name == "faulty__picture" and result.tool_calls[0].ok
    offered = [t["function"]["name"] for t in kimi_server.requests[0]["tools"]]
    assert offered[0] == "python" and "faulty__picture" in offered and not any("broken" in n for n in offered)
    (tool,) = [m for m in kimi_server.requests[-1]["messages"] if m["role"] == "tool"]
    assert tool["content"][0]["text"].startswith("Here is a red picture.")  # kimi-k2.6 sees images
    assert tool["content"][1]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")

    chat("Show me the MCP picture.", session=session, view=RecordingView(), new=True, model="kimi-k2.7-code")
    (tool,) = [m for m in kimi_server.requests[-1]["messages"] if m["role"] == "tool"]
    assert isinstance(tool["content"], str) and "[image 1: 3x2 px, returned by the tool]" in tool["content"]
    chat("Plain chat, no tools.", session=session, view=RecordingView(), tools=False)
    assert "tools" not in kimi_server.requests[-1]


@pytest.mark.parametrize("data", [
    base64.b64encode(b'<svg onload="alert(1)"></svg>').decode(),  # valid base64, not a PNG
    '"><img src=x onerror=alert(1)>',  # not base64 at all
])
def test_an_image_png_that_is_not_a_png_goes_nowhere(data):
    # The PNGs are shown to the user (an image/png output) and sent to vision models:
    # what a server calls image/png is passed on only when it is one.
    text, images, ok = result_text({"content": [{"type": "image", "data": data, "mimeType": "image/png"}]})
    assert images == [] and "not readable" in text


def test_a_png_with_stray_characters_is_passed_on_re_encoded():
    spoiled = _png()[:20] + '"><' + _png()[20:]
    _, (image,), _ = result_text({"content": [{"type": "image", "data": spoiled, "mimeType": "image/png"}]})
    assert image != spoiled and base64.b64decode(image, validate=True).startswith(b"\x89PNG\r\n\x1a\n")


def test_an_image_too_large_to_pass_on_is_a_note():
    import struct
    import zlib

    from kimi_jupyter.tools import mcp

    def png(width: int, height: int) -> str:  # a header claiming the size, as a server could send
        ihdr = struct.pack(">II5B", width, height, 8, 2, 0, 0, 0)
        chunk = b"IHDR" + ihdr
        head = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
        return base64.b64encode(head).decode()

    huge = {"type": "image", "data": png(20_000, 20_000), "mimeType": "image/png"}  # 400 megapixels
    text, images, _ = result_text({"content": [huge]})
    assert images == [] and "not readable as an image of at most 40 megapixels" in text
    long = {"type": "image", "data": "A" * (mcp._MAX_IMAGE_CHARS + 4), "mimeType": "image/png"}
    text, images, _ = result_text({"content": [long]})
    assert images == [] and "too large to pass on" in text

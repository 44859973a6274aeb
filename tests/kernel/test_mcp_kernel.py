"""MCP tools through `%%kimi` and `%kimi mcp`, in real kernels against the loopback server."""

from __future__ import annotations

import os
import time
from pathlib import Path

from conftest import output_text, outputs_with, run_notebook

from kimi_jupyter.testing.pytest_plugin import loopback_env

FAULTY = str(Path(__file__).parents[1] / "mcp_servers" / "faulty.py")


def _setup(servers: str) -> list[str]:
    # The kernel's own interpreter runs the servers: `sys.executable` is read in the kernel.
    return ["%load_ext kimi_jupyter", f"import sys\nSERVERS = {servers}", "%config Kimi.mcp_servers = SERVERS"]


def _requests_for(server, prompt: str) -> list[dict]:
    return [r for r in server.requests
            if [m["content"] for m in r["messages"] if m["role"] == "user"][-1] == prompt]


def _tool_contents(request: dict) -> list[str]:
    return [m["content"] if isinstance(m["content"], str) else m["content"][0]["text"]
            for m in request["messages"] if m["role"] == "tool"]


def test_the_model_uses_a_real_mcp_server_and_write_tools_need_approval(kimi_kernel_env, tmp_path):
    log = tmp_path / "log.txt"
    servers = ('{"time": {"command": [sys.executable, "-m", "mcp_server_time"]}, '
               f'"faulty": {{"command": [sys.executable, {FAULTY!r}], '
               f'"env": {{"FAULTY_LOG": {str(log)!r}, "FAULTY_NOTE": "kept in the server env"}}}}}}')
    nb = run_notebook([
        *_setup(servers),
        "%kimi mcp",
        "%%kimi\nWhat time is it in Tokyo?",  # read-only: runs headless without -y
        "%%kimi -n\nWrite an MCP note.",  # not read-only, headless, no -y: refused
        "%%kimi -n -y\nWrite an MCP note.",
        "%%kimi -n\nRead the MCP note.",
    ], tmp_path, timeout=180)
    listing = nb.cells[3]
    table = output_text(listing, ("text/plain",))
    assert "time (stdio: python" in table and "running" in table
    assert "time\\_\\_get\\_current\\_time | yes | Get current time in a specific timezone" in table
    assert "faulty\\_\\_write\\_note | no (asks first) | Append text to the log file \\| changes state." in table
    shown = outputs_with(listing, "text/markdown")[0]["data"]["text/markdown"]
    assert "<table>" in shown and "<img" not in shown  # a server's description never becomes HTML

    # The model was offered the server's tools with their JSON schemas...
    (first, second) = _requests_for(kimi_kernel_env, "What time is it in Tokyo?")
    offered = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert offered["time__get_current_time"]["parameters"]["properties"]["timezone"]["type"] == "string"
    assert "faulty__crash" in offered and "python" in offered
    # ...called one, and got the server's answer back as the tool message.
    (reply,) = _tool_contents(second)
    assert '"timezone": "Asia/Tokyo"' in reply and "+09:00" in reply
    answer = output_text(nb.cells[4])
    assert "The time server says" in answer and "Asia/Tokyo" in answer
    assert "time__get_current_time" in answer  # the user saw the call

    (refused,) = _tool_contents(_requests_for(kimi_kernel_env, "Write an MCP note.")[1])
    assert "The MCP tool `faulty__write_note` was NOT run" in refused and "%%kimi -y" in refused
    assert "the MCP tool `faulty__write_note` was not run because this kernel cannot ask" in output_text(nb.cells[5])
    (wrote,) = _tool_contents(_requests_for(kimi_kernel_env, "Write an MCP note.")[-1])
    assert wrote == "Saved 15 characters." and log.read_text() == "hello from kimi\n"
    (note,) = _tool_contents(_requests_for(kimi_kernel_env, "Read the MCP note.")[-1])
    assert note == "The note says: kept in the server env"


def test_a_crashing_server_is_one_notice_and_the_next_cell_works(kimi_kernel_env, tmp_path):
    servers = (f'{{"faulty": {{"command": [sys.executable, {FAULTY!r}]}}, '
               f'"broken": {{"command": [sys.executable, {FAULTY!r}, "--fail-start"]}}}}')
    nb = run_notebook([
        *_setup(servers),
        "%%kimi -y\nCrash the MCP server.",
        "%%kimi -n\nRead the MCP note.",
        "print('kernel alive')",
        "%kimi mcp",
    ], tmp_path, timeout=180)
    crashed = nb.cells[3]
    assert not [o for o in crashed.outputs if o["output_type"] == "error"]  # the cell went on
    notices = [o["data"]["text/plain"] for o in crashed.outputs
               if o.get("metadata", {}).get("kimi_jupyter", {}).get("part") == "notice"]
    faulty_notices = [n for n in notices if "'faulty'" in n]
    assert len(faulty_notices) == 1 and "stopped during a call to 'crash'" in faulty_notices[0]
    assert "crashing on purpose" in faulty_notices[0]
    assert [n for n in notices if "'broken'" in n and "could not start" in n]
    (told,) = _tool_contents(_requests_for(kimi_kernel_env, "Crash the MCP server.")[-1])
    assert told.startswith("Error: The MCP server 'faulty'") and "crash" in told
    assert "The tool replied" in output_text(crashed)  # the model answered after the failure

    (note,) = _tool_contents(_requests_for(kimi_kernel_env, "Read the MCP note.")[-1])
    assert note.startswith("The note says:")  # restarted for the next cell
    assert "kernel alive" in output_text(nb.cells[5])
    table = output_text(nb.cells[6], ("text/plain",))
    assert "failed: could not start" in table and "faulty\\_\\_read\\_note" in table
    assert "(its last output: faulty: cannot start (asked to fail))" in table


def test_interrupting_a_slow_mcp_call_stops_the_cell(kimi_server, tmp_path):
    from jupyter_client.manager import start_new_kernel

    log = tmp_path / "log.txt"  # the server writes "slow" as the call starts, "slow cancelled" if cancelled
    env = dict(os.environ, **loopback_env(kimi_server))
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        servers = (f'{{"faulty": {{"command": [sys.executable, {FAULTY!r}], '
                   f'"env": {{"FAULTY_LOG": {str(log)!r}}}}}}}')
        for code in _setup(servers):
            assert kc.execute_interactive(code, timeout=60)["content"]["status"] == "ok"
        msg_id = kc.execute("%%kimi -o r\nCall the slow MCP tool.")
        deadline = time.monotonic() + 120
        while not (log.exists() and "slow" in log.read_text().splitlines()):  # the call is under way
            assert time.monotonic() < deadline, "the slow call never reached the server"
            time.sleep(0.05)
        km.interrupt_kernel()
        # The call sleeps 60 s: a deadline past that, so an interrupt that only waited the call
        # out fails below (the server was never told), not as a timeout here.
        reply = kc.get_shell_msg(timeout=120)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "Interrupted"
        assert _cancelled_soon(log), "the server was never told the call was cancelled"
        assert len(kimi_server.requests) == 1  # nothing was sent after the interrupt
        while True:
            msg = kc.get_iopub_msg(timeout=30)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        # The server is still up, and the history is valid: the next cell calls it.
        follow = kc.execute_interactive("%%kimi\nRead the MCP note.", timeout=60)
        assert follow["content"]["status"] == "ok"
        tools = _tool_contents(kimi_server.requests[-1])
        assert "Interrupted" in tools[0] and tools[-1].startswith("The note says:")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _cancelled_soon(log, deadline_s: float = 30) -> bool:
    """The server logs the cancel when the SDK's notice reaches it: wait for it, not for a time."""
    deadline = time.monotonic() + deadline_s
    while "slow cancelled" not in log.read_text().splitlines():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_the_user_answers_the_approval_question_for_a_write_tool(kimi_server, tmp_path):
    from kimi_jupyter.testing.kernel import Kernel

    log = tmp_path / "log.txt"
    env = dict(os.environ, **loopback_env(kimi_server))
    servers = (f'{{"faulty": {{"command": [sys.executable, {FAULTY!r}], '
               f'"env": {{"FAULTY_LOG": {str(log)!r}}}}}}}')
    with Kernel(env) as k:
        for code in _setup(servers):
            assert k.execute(code).ok
        no = k.execute("%%kimi\nWrite an MCP note.", answers=["n"], timeout=120)
        assert no.ok and len(no.prompts) == 1 and "[y]es" in no.prompts[0]
        assert not log.exists()
        (told,) = _tool_contents(kimi_server.requests[-1])
        assert told == "The user declined to run the MCP tool `faulty__write_note`."
        yes = k.execute("%%kimi -n\nWrite an MCP note.", answers=["y"], timeout=120)
        assert yes.ok and len(yes.prompts) == 1 and log.read_text() == "hello from kimi\n"
        read = k.execute("%%kimi -n\nRead the MCP note.", timeout=120)  # read-only: no question
        assert read.ok and read.prompts == [] and "The note says" in read.text


def test_an_image_from_an_mcp_tool_is_shown_to_the_user(kimi_kernel_env, tmp_path):
    import base64

    from kimi_jupyter.testing import Scenario, ScriptedTurn, ToolCallSpec

    kimi_kernel_env.add_scenario(Scenario("mcp_picture_kernel", [
        ScriptedTurn(reasoning="I'll get the picture.", tool_calls=[ToolCallSpec("faulty__picture")]),
        ScriptedTurn(content="That is the picture the tool returned."),
    ], match=r"show me the mcp picture"))
    servers = f'{{"faulty": {{"command": [sys.executable, {FAULTY!r}]}}}}'
    nb = run_notebook([*_setup(servers), "%%kimi\nShow me the MCP picture."], tmp_path, timeout=180)
    cell = nb.cells[3]
    parts = [o.get("metadata", {}).get("kimi_jupyter", {}).get("part") for o in cell.outputs]
    (image,) = outputs_with(cell, "image/png")
    # Saved in the notebook after the tool's text, before the answer, tagged as tool output.
    assert parts.index("tool_output") < cell.outputs.index(image) < parts.index("answer")
    assert image["metadata"]["kimi_jupyter"]["part"] == "tool_output"
    assert image["data"]["text/plain"] == "[image 1 returned by faulty__picture]"
    assert base64.b64decode(image["data"]["image/png"], validate=True).startswith(b"\x89PNG\r\n\x1a\n")
    assert "[image 1: 3x2 px, returned by the tool]" in output_text(cell)  # the note the model got too


def test_an_interrupt_while_a_server_starts_is_one_clear_line(kimi_server, tmp_path):
    from jupyter_client.manager import start_new_kernel

    log = tmp_path / "log.txt"
    env = dict(os.environ, **loopback_env(kimi_server))
    servers = (f'{{"hangs": {{"command": [sys.executable, {FAULTY!r}, "--hang-start"], '
               f'"env": {{"FAULTY_LOG": {str(log)!r}}}, "start_timeout": 600}}}}')
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        for code in _setup(servers):
            assert kc.execute_interactive(code, timeout=60)["content"]["status"] == "ok"
        msg_id = kc.execute("%%kimi\nWhat time is it in Tokyo?")
        deadline = time.monotonic() + 120
        while not (log.exists() and "hanging" in log.read_text()):  # the server is starting
            assert time.monotonic() < deadline, "the MCP server was never started"
            time.sleep(0.1)
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=60)
        assert reply["parent_header"]["msg_id"] == msg_id
        shown: list[dict] = []
        while True:
            msg = kc.get_iopub_msg(timeout=30)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
            if msg["msg_type"] in ("error", "stream", "display_data", "execute_result"):
                shown.append(msg)
        # One line, saying what was interrupted, not a KeyboardInterrupt traceback; nothing else.
        assert [m["msg_type"] for m in shown] == ["error"]
        assert shown[0]["content"]["traceback"] == [
            "Interrupted: Stopped by the user while starting the MCP server(s) 'hangs'. "
            "The next cell (or `%kimi mcp`) will try again."]
        assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "Interrupted"
        assert kimi_server.requests == []  # nothing was sent to the model
        # The kernel works, the conversation is as it was, and the server is marked for
        # `%kimi mcp` (read here without starting it: `%kimi mcp` would start it again).
        deadline = time.monotonic() + 60  # the cancel is handled on the MCP loop's thread
        printed: list[str] = []
        while "".join(printed) != "0 ['its start was interrupted']\n":
            assert time.monotonic() < deadline, f"the server was not marked: {printed}"
            printed.clear()
            after = kc.execute_interactive(
                "from kimi_jupyter.core.session import default_session\n"
                "from kimi_jupyter.tools.mcp import mcp_manager\n"
                "s = default_session()\n"
                "print(len(s.conversation.messages), [st.reason for st in mcp_manager(s).statuses()])",
                timeout=60, output_hook=lambda m: printed.append(m["content"].get("text", "")))
            # ipykernel 6 aborts a request that comes right after an error: ask again.
            assert after["content"]["status"] in ("ok", "aborted")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

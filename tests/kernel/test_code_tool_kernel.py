"""The code tool through `%%kimi`, in real kernels against the loopback server."""

from __future__ import annotations

import json
import os

import nbformat
from conftest import output_text, outputs_with, run_notebook

from kimi_jupyter.testing import Scenario, ToolCallSpec, ScriptedTurn
from kimi_jupyter.testing.pytest_plugin import API_KEY, loopback_env


def _tool_messages(request: dict) -> list[dict]:
    return [m for m in request["messages"] if m["role"] == "tool"]


def test_gradient_descent_plots_inline_and_the_model_reads_the_output(kimi_kernel_env, tmp_path):
    nb = run_notebook(
        [
            "%load_ext kimi_jupyter",
            "%%kimi -y -o r\nVisualize gradient descent.",
            "print(len(history), round(history[-1], 6))",
            "print(r.steps, r.tool_calls[0].name, r.tool_calls[0].ok)",
        ],
        tmp_path,
    )
    cell = nb.cells[1]
    assert outputs_with(cell, "image/png"), "the plot is not in the %%kimi cell"
    text = output_text(cell)
    assert "final x =" in text  # the user saw the printed result
    assert "Kimi runs Python" in text and "import matplotlib" in text  # and the code first
    requests = kimi_kernel_env.requests
    assert len(requests) == 2
    (tool_msg,) = _tool_messages(requests[1])
    content = tool_msg["content"]  # kimi-k2.6 sees images: text first, then the figures
    sent = content if isinstance(content, str) else content[0]["text"]
    assert "final x =" in sent and "[figure 1" in sent
    assistant = [m for m in requests[1]["messages"] if m["role"] == "assistant"][0]
    assert assistant["reasoning_content"] and "content" not in assistant
    assert assistant["tool_calls"][0]["id"] == tool_msg["tool_call_id"]
    # The model's answer quotes what its code printed.
    assert "The run printed" in text
    # Variables the tool made are usable in the next cell.
    n, last = output_text(nb.cells[2]).split()
    assert int(n) >= 20 and abs(float(last)) < 0.1
    assert output_text(nb.cells[3]).split() == ["1", "python", "True"]
    # The saved order: reasoning, code, the plot, then the final answer and footer.
    kinds = [next(iter(o.get("data", {"stream": 0}))) for o in cell.outputs]
    assert kinds.index("image/png") < len(kinds) - 2


def test_state_errors_bad_json_unknown_tool_and_parallel_calls(kimi_kernel_env, tmp_path):
    nb = run_notebook(
        [
            "%load_ext kimi_jupyter",
            "%%kimi -y -n\nLet the two tool calls share state.",
            "%%kimi -y -n\nShow that you can recover from an error.",
            "%%kimi -y -n\nSend bad tool arguments.",
            "%%kimi -y -n\nCall an unknown tool.",
            "%%kimi -y -n\nRun two parallel tool calls.",
            "print(shared_value, a)",
        ],
        tmp_path,
    )
    reqs = kimi_kernel_env.requests
    by_prompt: dict[str, list[dict]] = {}
    for r in reqs:
        first_user = [m["content"] for m in r["messages"] if m["role"] == "user"][-1]
        by_prompt.setdefault(first_user, []).append(r)

    share = by_prompt["Let the two tool calls share state."]
    assert _tool_messages(share[-1])[-1]["content"] == "42"

    recover = by_prompt["Show that you can recover from an error."]
    first, second = _tool_messages(recover[-1])
    assert "ZeroDivisionError" in first["content"] and second["content"] == "recovered"
    assert "ZeroDivisionError" in output_text(nb.cells[2])  # the user saw the error too

    bad = _tool_messages(by_prompt["Send bad tool arguments."][-1])[0]["content"]
    assert "not valid JSON" in bad

    unknown = _tool_messages(by_prompt["Call an unknown tool."][-1])[0]["content"]
    assert "unknown tool 'no_such_tool'" in unknown and "python" in unknown

    parallel = by_prompt["Run two parallel tool calls."][-1]
    msgs = _tool_messages(parallel)
    assert [m["content"] for m in msgs] == ["No output", "2"]  # run in order: a = 1, then print(a + 1)
    assert output_text(nb.cells[6]).split() == ["41", "1"]


def test_without_yes_and_without_stdin_nothing_runs(kimi_kernel_env, tmp_path):
    nb = run_notebook(
        [
            "%load_ext kimi_jupyter",
            "%%kimi\nVisualize gradient descent.",
            "print('history' in globals())",
        ],
        tmp_path,
    )
    text = output_text(nb.cells[1])
    assert "%%kimi -y" in text and "Kimi.auto_run" in text  # the user is told how to allow it
    assert not outputs_with(nb.cells[1], "image/png")
    assert output_text(nb.cells[2]).strip() == "False"
    (tool_msg,) = _tool_messages(kimi_kernel_env.requests[1])
    assert "not run" in tool_msg["content"].lower()


def test_step_limit_and_a_300_step_loop(kimi_kernel_env, tmp_path):
    nb = run_notebook(
        [
            "%load_ext kimi_jupyter",
            "%%kimi -y --max-steps 5 -o five\nPlease run 300 steps.",
            "print(counter, five.steps)",
            "counter = 0",
            "%%kimi -y -n --max-steps 300 -o r\nPlease run 300 steps.",
            "print(counter, r.steps, r.finish_reason)",
        ],
        tmp_path,
        timeout=300,
    )
    assert "Stopped after 5 tool calls" in output_text(nb.cells[1])
    assert output_text(nb.cells[2]).split() == ["5", "5"]
    assert output_text(nb.cells[5]).split() == ["300", "300", "stop"]
    assert "Ran 300 steps" in output_text(nb.cells[4])


def test_huge_output_is_capped_and_the_kernel_stays_responsive(kimi_kernel_env, tmp_path):
    nb = run_notebook(
        ["%load_ext kimi_jupyter", "%%kimi -y\nPlease print ten megabytes.", "print('responsive')"],
        tmp_path,
    )
    (tool_msg,) = _tool_messages(kimi_kernel_env.requests[-1])
    assert "characters cut" in tool_msg["content"] and len(tool_msg["content"]) < 9000
    assert output_text(nb.cells[2]).strip() == "responsive"


def test_user_tool_web_search_export_and_fix(kimi_kernel_env, tmp_path):
    export_path = tmp_path / "exported.ipynb"
    kimi_kernel_env.add_scenario(Scenario("explain_fix", [ScriptedTurn(
        reasoning="The traceback ends in a ZeroDivisionError raised by the division in the cell.",
        content="The cell divides by `n`, which is 0. Guard it:\n\n```python\nratio = total / n if n else 0.0\n```",
    )], match=r"raised an exception"))
    nb = run_notebook(
        [
            "%load_ext kimi_jupyter",
            "import kimi_jupyter\n"
            "calls = []\n"
            "@kimi_jupyter.tool\n"
            "def get_weather(city: str, unit: str = 'celsius') -> dict:\n"
            "    '''Current weather for a city.\n\n    Args:\n        city: City name.\n        unit: celsius or fahrenheit.\n    '''\n"
            "    calls.append((city, unit))\n"
            "    return {'city': city, 'temp': 21, 'unit': unit}",
            "%%kimi -y\nWhat's the weather in Paris?",
            "print(calls)",
            "%%kimi --web-search\nPlease search the web for Kimi K2.",
            "%%kimi -y\nVisualize gradient descent.",
            f"%kimi export {export_path}",
            "total, n = 10, 0\nratio = total / n",
            "%kimi fix",
        ],
        tmp_path,
    )
    assert output_text(nb.cells[3]).strip() == "[('Paris', 'celsius')]"
    reqs = kimi_kernel_env.requests
    weather_tools = [t["function"]["name"] for t in reqs[0]["tools"]]
    assert weather_tools[:5] == ["python", "list_variables", "inspect_variable", "notebook_history",
                                 "get_weather"]
    schema = reqs[0]["tools"][4]["function"]["parameters"]
    assert schema["properties"]["city"]["type"] == "string" and schema["required"] == ["city"]
    assert json.loads(_tool_messages(reqs[1])[-1]["content"])["temp"] == 21

    search_reqs = [r for r in reqs if any(t.get("type") == "builtin_function" for t in r.get("tools", []))]
    assert len(search_reqs) == 2
    call = [m for m in search_reqs[1]["messages"] if m.get("tool_calls")][-1]["tool_calls"][0]
    echoed = _tool_messages(search_reqs[1])[-1]
    assert call["function"]["name"] == "$web_search" and echoed["name"] == "$web_search"
    assert echoed["content"] == call["function"]["arguments"]  # echoed back unchanged

    assert "Wrote" in output_text(nb.cells[6])
    exported = nbformat.read(export_path, as_version=4)
    nbformat.validate(exported)
    code_cells = [c for c in exported.cells if c.cell_type == "code"]
    assert any("matplotlib" in c.source for c in code_cells)
    assert any(outputs_with(c, "image/png") for c in code_cells)
    markdown = "\n".join(c.source for c in exported.cells if c.cell_type == "markdown")
    assert "What's the weather in Paris?" in markdown and "The run printed" in markdown
    assert API_KEY not in export_path.read_text()

    fix_text = output_text(nb.cells[8])
    assert "ratio = total / n if n else 0.0" in fix_text
    fix_prompt = [m["content"] for m in reqs[-1]["messages"] if m["role"] == "user"][-1]
    assert "ZeroDivisionError" in fix_prompt and "ratio = total / n" in fix_prompt


def test_format_code_puts_the_answer_code_in_the_next_cell(kimi_server):
    from jupyter_client.manager import start_new_kernel

    env = dict(os.environ, **loopback_env(kimi_server))
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        kc.execute_interactive("%load_ext kimi_jupyter", timeout=60)
        reply = kc.execute_interactive("%%kimi -f code\nWrite a function that adds two numbers.", timeout=60)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    payloads = [p for p in reply["content"]["payload"] if p["source"] == "set_next_input"]
    assert payloads and payloads[0]["text"].startswith("def ") and "```" not in payloads[0]["text"]


def test_vision_models_get_the_figures_up_to_the_cap(kimi_kernel_env, tmp_path):
    run_notebook(
        [
            "%load_ext kimi_jupyter",
            "%config Kimi.max_images = 1",
            "%%kimi -y -m kimi-k2.6\nVisualize gradient descent.",
            "%%kimi -y -m kimi-k2.6\nVisualize gradient descent again.",
        ],
        tmp_path,
    )
    reqs = kimi_kernel_env.requests
    first_reply = _tool_messages(reqs[1])[0]["content"]
    assert isinstance(first_reply, list) and first_reply[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert reqs[1]["thinking"] == {"type": "enabled", "keep": "all"}
    # The cap is reached: the second figure goes as its text note, and the first
    # message is unchanged (the prefix cache depends on it).
    later = _tool_messages(reqs[-1])
    assert later[0]["content"] == first_reply
    assert isinstance(later[1]["content"], str) and "[figure 1" in later[1]["content"]


def test_interrupt_during_model_code_stops_the_whole_cell(kimi_server):
    from jupyter_client.manager import start_new_kernel

    kimi_server.add_scenario(Scenario("sleepy", [
        # It says when it is asleep (the state to interrupt in), then blocks until interrupted.
        ScriptedTurn(reasoning="I'll wait a while.", tool_calls=[ToolCallSpec("python", json.dumps(
            {"code": "import threading\nprint('asleep', flush=True)\nthreading.Event().wait()\nprint('awake')"}))]),
        ScriptedTurn(reasoning="Again.", tool_calls=[ToolCallSpec("python", '{"code": "print(1)"}')]),
        ScriptedTurn(content="Done."),
    ], match=r"sleep for a while"))
    env = dict(os.environ, **loopback_env(kimi_server))
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        kc.execute_interactive("%load_ext kimi_jupyter", timeout=60)
        msg_id = kc.execute("%%kimi -y -o r\nPlease sleep for a while.")
        while True:  # wait until the model's code is asleep
            msg = kc.get_iopub_msg(timeout=60)
            if msg["msg_type"] == "stream" and "asleep" in msg["content"]["text"].splitlines():
                break
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=60)  # a cut sleep: seconds; an uncut one: an hour
        assert reply["parent_header"]["msg_id"] == msg_id and reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "Interrupted"
        assert len(kimi_server.requests) == 1  # the loop stopped: no request after the interrupt
        while True:  # as a user would, run the next cell once the kernel is idle
            msg = kc.get_iopub_msg(timeout=10)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        check = kc.execute_interactive("print(r.finish_reason, r.steps)", timeout=30)
        assert check["content"]["status"] == "ok"
        follow = kc.execute_interactive("%%kimi -y\nWhat was my first question?", timeout=60)
        assert follow["content"]["status"] == "ok"
        # The history stayed valid: the interrupted call was answered with a tool message.
        tools = _tool_messages(kimi_server.requests[-1])
        assert tools and "Interrupted" in tools[0]["content"] and "awake" not in tools[0]["content"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

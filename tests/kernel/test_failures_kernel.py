"""Failures in real kernels: clear messages, nothing lost, the next cell works, no key leaked."""

from __future__ import annotations

import json
import os
import time

import nbformat
from conftest import notebook_json, output_text, run_notebook

from kimi_jupyter.testing.pytest_plugin import API_KEY, loopback_env

FOLLOW_UP = "%%kimi\nWhat was my first question?"


def _errors(cell) -> list[str]:
    return [f"{o['ename']}: {o['evalue']}" for o in cell.outputs if o["output_type"] == "error"]


def _run_faults(tmp_path, faults: list[tuple[str, str]], extra: list[str] = ()) -> tuple:
    """Each fault cell is followed by a cell that must work (and sees the history)."""
    cells = ["%load_ext kimi_jupyter", "%config Kimi.max_retries = 3"]
    for options, name in faults:
        cells += [f"%%kimi -n {options}\n[[scenario:{name}]] Tell me about {name}.", FOLLOW_UP]
    cells += list(extra)
    nb = run_notebook(cells, tmp_path, timeout=120)
    by_fault = {}
    for i, (_, name) in enumerate(faults):
        by_fault[name] = (nb.cells[2 + 2 * i], nb.cells[3 + 2 * i])
    return nb, by_fault


def test_retryable_faults_retry_visibly_and_succeed(kimi_kernel_env, tmp_path):
    faults = ["rate_limit", "overloaded", "server_error", "retry_after_header", "refuse"]
    nb, cells = _run_faults(tmp_path, [("", f) for f in faults])
    for name in faults:
        cell, follow = cells[name]
        text = output_text(cell)
        assert "Retrying in" in text, (name, text)
        assert f"after the `{name}` fault" in text, (name, text)
        assert not _errors(cell), name
        assert f"Tell me about {name}." in output_text(follow)  # history kept and valid
    # Moonshot's "please try again after 1 seconds" is honoured, and so is Retry-After.
    assert "Retrying in 1 s (rate limit)" in output_text(cells["rate_limit"][0])
    assert "Retrying in 1 s (server error 503)" in output_text(cells["retry_after_header"][0])
    assert "Retrying in" in output_text(cells["refuse"][0]) and "connection failed" in output_text(cells["refuse"][0])
    # Two 429s, then success: three requests for that fault.
    rate_limited = [r for r in kimi_kernel_env.requests if "[[scenario:rate_limit]]" in str(r["messages"][-1])]
    assert len(rate_limited) == 3


def test_final_errors_are_one_clear_message_and_the_next_cell_works(kimi_kernel_env, tmp_path):
    faults = [("", "quota"), ("", "content_filter"), ("-m kimi-k1-retired", "echo")]
    nb, cells = _run_faults(tmp_path, faults, extra=[
        "%%kimi -n\n[[scenario:echo]] hi",
        "import os\nos.environ['KIMI_API_KEY'] = 'sk-wrong-key-0000000000'",
        "%%kimi -n\nhello",
        "print('kernel alive')",
    ])
    quota = _errors(cells["quota"][0])
    assert quota and "QuotaError" in quota[0] and "billing" in quota[0]
    assert "exceeded_current_quota_error" in quota[0]
    filtered = _errors(cells["content_filter"][0])
    assert filtered and "high risk" in filtered[0] and "Rephrase" in filtered[0]
    missing = _errors(cells["echo"][0])
    assert missing and "kimi-k1-retired" in missing[0] and "kimi-k2.6" in missing[0]
    assert "All models" in missing[0] and "Thinking models this server lists" in missing[0]
    auth = _errors(nb.cells[-2])
    assert auth and "401" in auth[0] and "%kimi login" in auth[0]
    for cell in (cells["quota"][0], cells["content_filter"][0], cells["echo"][0], nb.cells[-2]):
        text = output_text(cell)
        assert "Traceback" not in text and "httpx" not in text and "openai" not in text.lower().replace(
            "openai-compatible", "")
    # Nothing was shown, so nothing was kept: the follow-up only sees its own question.
    assert "Your first question was: What was my first question?" in output_text(cells["quota"][1])
    assert output_text(nb.cells[-1]).strip() == "kernel alive"
    # No retries for quota, 400, 404 or 401.
    quota_requests = [r for r in kimi_kernel_env.requests if "[[scenario:quota]]" in str(r["messages"][-1])]
    assert len(quota_requests) == 1


def test_broken_streams_keep_the_partial_text(kimi_kernel_env, tmp_path):
    faults = [("", "drop_midstream"), ("", "no_finish"), ("", "length"), ("", "reasoning_only")]
    nb, cells = _run_faults(tmp_path, faults, extra=["%%kimi -o last\nWhat was my first question?"])
    for name in ("drop_midstream", "no_finish"):
        cell, follow = cells[name]
        errors = _errors(cell)
        assert errors and "StreamEndedEarly" in errors[0] and "ended early" in errors[0], name
        # The partial reasoning is in the saved notebook as a static block.
        html = "".join(o["data"].get("text/html", "") for o in cell.outputs if "data" in o)
        assert "<details" in html and len(html) > 300, name
        assert f"Tell me about {name}." in output_text(follow)  # the next cell works
    length_cell = cells["length"][0]
    text = output_text(length_cell)
    assert "--max-tokens" in text and not _errors(length_cell)
    assert len(text) > 100  # the partial answer is kept
    assert "reasoned but gave no answer" in output_text(cells["reasoning_only"][0])


def test_bad_input_and_a_prompt_too_large(kimi_kernel_env, tmp_path):
    nb = run_notebook(
        [
            "%load_ext kimi_jupyter",
            "big = 'word ' * 300_000",
            "%%kimi\nSummarize {big}",
            "%%kimi\nThe unknown {nothing_here} stays literal.",
            # Fits the window, but not with room for a 32k-token reply, which Moonshot would
            # refuse: the request asks for the room that is left.
            "near = 'word ' * 185_000",
            "%%kimi\nSummarize {near}",
            "%%kimi\nWhat was my first question?",
        ],
        tmp_path,
    )
    errors = _errors(nb.cells[2])
    assert errors and "PromptTooLarge" in errors[0] and "tokens" in errors[0] and "--new" in errors[0]
    # It was never sent, and it was forgotten: the next request has only the next prompt.
    assert [m["content"] for m in kimi_kernel_env.requests[0]["messages"] if m["role"] == "user"] == [
        "The unknown {nothing_here} stays literal."
    ]
    near = output_text(nb.cells[5])
    assert "may be cut short" in near and "--new" in near and not _errors(nb.cells[5])
    asked = kimi_kernel_env.requests[1]["max_completion_tokens"]
    assert 0 < asked < 32_000  # the server took it: prompt + max_tokens fit its 262,144
    assert "Your first question was: The unknown" in output_text(nb.cells[6])


def test_interrupt_cuts_the_stream_and_keeps_what_was_shown(kimi_server):
    from jupyter_client.manager import start_new_kernel

    # `slow` thinks for ~20 s (4000 chars at 200 cps), then answers. The interrupt comes
    # while it thinks: what proves it worked is what arrived, not how fast it stopped.
    scripted = kimi_server.scenarios["slow"].turns[0]
    env = dict(os.environ, **loopback_env(kimi_server))
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        kc.execute_interactive("%load_ext kimi_jupyter\nimport ipywidgets", timeout=60)
        seen: list[dict] = []
        msg_id = kc.execute("%%kimi -o partial\n[[scenario:slow]] Take your time.")
        # Wait until the reasoning is visibly streaming: two pieces of it have been shown.
        deadline = time.monotonic() + 60
        shown = 0
        while shown < 2:
            assert time.monotonic() < deadline, "no reasoning was shown"
            msg = kc.get_iopub_msg(timeout=60)
            seen.append(msg)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            shown += msg["msg_type"] == "stream"
            assert msg["content"].get("execution_state") != "idle", "the reply ended before its reasoning streamed"
        km.interrupt_kernel()
        # A deadline well past the whole scripted reply: an interrupt that failed to cut the
        # stream shows up below as the answer arriving, not as a timeout here.
        reply = kc.get_shell_msg(timeout=120)
        while True:
            msg = kc.get_iopub_msg(timeout=60)
            seen.append(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["status"] == "error"
        contents = [m["content"] for m in seen if m["parent_header"].get("msg_id") == msg_id]
        errors = [c for c in contents if "ename" in c]
        assert errors and errors[0]["ename"] == "Interrupted"
        # The answer never arrived: not shown, not in the partial Result.
        assert "Sorry for the wait" not in str(contents)
        static = [c["data"]["text/html"] for c in contents if "kimi-reasoning" in c.get("data", {}).get("text/html", "")]
        assert static and "<details" in static[0], "the partial reasoning was not kept as a static output"
        # The partial Result holds the start of the reasoning, and only the start.
        check = kc.execute_interactive(
            "import json\nprint(json.dumps([partial.reasoning, partial.content, partial.finish_reason]))",
            timeout=30, output_hook=lambda m: seen.append(m))
        assert check["content"]["status"] == "ok"
        printed = "".join(m["content"].get("text", "") for m in seen
                          if m["msg_type"] == "stream" and m["parent_header"]["msg_id"] == check["parent_header"]["msg_id"])
        reasoning, content, finish_reason = json.loads(printed)
        assert finish_reason == "interrupted" and content == ""
        assert 0 < len(reasoning) < len(scripted.reasoning), len(reasoning)
        assert scripted.reasoning.startswith(reasoning)
        # The kernel answers the next cell, and the history is consistent.
        follow = kc.execute_interactive("%%kimi -o again\nWhat was my first question?", timeout=60)
        assert follow["content"]["status"] == "ok"
        assert "Take your time." in str(kimi_server.requests[-1]["messages"])
        assert "Sorry for the wait" not in str(kimi_server.requests[-1]["messages"])
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_the_key_never_appears_on_any_failure_path(kimi_kernel_env, tmp_path, monkeypatch, capfd):
    secret = "sk-DISTINCTIVE-failure-0123456789abcdef"
    kimi_kernel_env.api_key = secret
    monkeypatch.setenv("KIMI_API_KEY", secret)
    monkeypatch.setenv("OPENAI_LOG", "debug")  # the SDK logs requests at debug level
    export_path = tmp_path / "conv.ipynb"
    faults = ["rate_limit", "quota", "content_filter", "drop_midstream", "no_finish", "length", "server_error"]
    cells = ["%load_ext kimi_jupyter", "%config Kimi.max_retries = 2"]
    cells += [f"%%kimi\n[[scenario:{f}]] go" for f in faults]
    cells += [
        "%%kimi -m no-such-model\nhi",
        "%%kimi -y\nVisualize gradient descent.",
        f"%kimi export {export_path}",
        "%kimi config",
        "from kimi_jupyter.core.session import default_session\nprint(default_session())",
        "%config Kimi",
        "import os\nos.environ['KIMI_API_KEY'] = 'sk-wrong-0000'\n",
        "%%kimi\nhello",
    ]
    nb = run_notebook(cells, tmp_path, timeout=120)
    captured = capfd.readouterr()
    saved = notebook_json(nb)
    # In a kernel the SDK's log handler writes to sys.stderr, which is the cell's
    # stderr output: the logs are in the notebook, and the kernel process's own
    # stderr is captured too.
    assert "HTTP Request" in saved, "the SDK did not log: the check below would prove nothing"
    assert secret not in saved
    assert secret not in export_path.read_text()
    nbformat.validate(nbformat.read(export_path, as_version=4))
    assert secret not in captured.out + captured.err

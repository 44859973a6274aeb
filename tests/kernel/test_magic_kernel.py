"""`%%kimi` in real kernels (nbclient) against the loopback server."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import notebook_json, output_text, outputs_with, run_notebook


def _user_messages(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


def test_saved_notebook_holds_static_reasoning_answer_and_footer(kimi_kernel_env, tmp_path):
    nb = run_notebook(
        [
            "%load_ext kimi_jupyter",
            "%%kimi -o first\nExplain quantum entanglement.",
            "%%kimi\nWhat was my first question?",
            "%%kimi --new\nWhat was my first question?",
            "print(first.usage.total_tokens, first.cost_usd, first.model, first.finish_reason)",
        ],
        tmp_path,
    )
    cell = nb.cells[1]
    html = outputs_with(cell, "text/html")
    assert any("<details" in o["data"]["text/html"] for o in html), "reasoning is not a <details> block"
    markdown = [o["data"] for o in outputs_with(cell, "text/markdown")]
    # Rendered from markdown into one sanitized block; the markdown source stays in text/plain.
    assert any("<h2>" in m["text/markdown"] and "## " in m["text/plain"] for m in markdown), \
        "the answer is not saved as markdown"
    # Static outputs, not only widget state: nothing in the cell needs the widget manager.
    assert not outputs_with(cell, "application/vnd.jupyter.widget-view+json")
    footer = [o for o in cell.outputs if "kimi_jupyter" in o.get("metadata", {})]
    assert footer and footer[-1]["metadata"]["kimi_jupyter"]["model"] == "kimi-k2.6"
    assert footer[-1]["metadata"]["kimi_jupyter"]["usage"]["total_tokens"] > 0
    assert "kimi-k2.6 ·" in output_text(cell)

    # The follow-up remembers the conversation; --new forgets it.
    assert "Your first question was: Explain quantum entanglement." in output_text(nb.cells[2])
    assert "Your first question was: What was my first question?" in output_text(nb.cells[3])
    requests = kimi_kernel_env.requests
    assert len(requests) == 3
    assert _user_messages(requests[1]) == ["Explain quantum entanglement.", "What was my first question?"]
    assert _user_messages(requests[2]) == ["What was my first question?"]
    # Prefix cache: the second request extends the first byte for byte.
    first, second = requests[0]["messages"], requests[1]["messages"]
    assert json.dumps(second[: len(first)]) == json.dumps(first)
    assert second[len(first)]["role"] == "assistant" and "reasoning_content" in second[len(first)]

    total, cost, model, finish = output_text(nb.cells[4]).split()
    assert int(total) > 0 and float(cost) > 0 and model == "kimi-k2.6" and finish == "stop"


def test_interpolation_and_no_interpolate(kimi_kernel_env, tmp_path):
    run_notebook(
        [
            "%load_ext kimi_jupyter",
            "x = 42\nclass P: name = 'Ada'\np = P()",
            '%%kimi\nx is {x}, name {p.name}, JSON {"a": 1}, unknown {nope}, code {In[2]}',
            "%%kimi --no-interpolate\nkeep {x}",
        ],
        tmp_path,
    )
    prompts = [_user_messages(r)[-1] for r in kimi_kernel_env.requests]
    assert prompts[0].startswith('x is 42, name Ada, JSON {"a": 1}, unknown {nope}, code x = 42')
    assert prompts[1] == "keep {x}"


def test_out_totals_usage_and_cost_over_the_cell(kimi_kernel_env, tmp_path):
    nb = run_notebook(
        [
            "%load_ext kimi_jupyter",
            "%%kimi -y -o r\nLet the two tool calls share state.",
            "u = r.usage\nprint(r.requests, u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens, r.cost_usd)",
        ],
        tmp_path,
    )
    n, prompt, completion, total, cached, cost = output_text(nb.cells[2]).split()
    usages = []
    for req in kimi_kernel_env.requests:
        usages.append(req)
    assert int(n) == len(kimi_kernel_env.requests) >= 2
    assert int(total) == int(prompt) + int(completion)
    assert int(cached) > 0  # later steps extend earlier requests: the emulated prefix cache hits
    expected = (int(cached) * 0.16 + (int(prompt) - int(cached)) * 0.95 + int(completion) * 4.00) / 1e6  # K2.6
    assert abs(float(cost) - expected) < 1e-9


def test_vllm_flavour_reasoning_field_and_top_level_usage(kimi_kernel_env, tmp_path):
    url = kimi_kernel_env.vllm_base_url
    nb = run_notebook(
        [
            "%load_ext kimi_jupyter",
            f"%%kimi --base-url {url} -o r\nExplain quantum entanglement.",
            "print(bool(r.reasoning), r.usage.total_tokens > 0, r.content[:40])",
        ],
        tmp_path,
    )
    assert any("<details" in o["data"]["text/html"] for o in outputs_with(nb.cells[1], "text/html"))
    assert output_text(nb.cells[2]).startswith("True True")
    assert kimi_kernel_env.requests[0]["stream_options"] == {"include_usage": True}


def test_missing_key_gives_a_clear_message_and_the_kernel_goes_on(kimi_kernel_env, tmp_path, monkeypatch):
    monkeypatch.delenv("KIMI_API_KEY")
    monkeypatch.delenv("KIMI_BASE_URL")
    nb = run_notebook(["%load_ext kimi_jupyter", "%%kimi\nhello", "print('still alive')"], tmp_path)
    text = output_text(nb.cells[1])
    assert "MOONSHOT_API_KEY" in text and "KIMI_API_KEY" in text and "%kimi login" in text
    assert "Traceback" not in text and "openai" not in text
    assert output_text(nb.cells[2]).strip() == "still alive"
    assert kimi_kernel_env.requests == []


def test_key_never_appears_in_saved_notebook_or_config(kimi_kernel_env, tmp_path, monkeypatch):
    secret = "sk-DISTINCTIVE-0123456789abcdef"
    kimi_kernel_env.api_key = secret
    monkeypatch.setenv("KIMI_API_KEY", secret)
    nb = run_notebook(
        [
            "%load_ext kimi_jupyter",
            "%%kimi -o r\nExplain quantum entanglement.",
            "%kimi config",
            "r",
            "from kimi_jupyter.core.session import default_session\ndefault_session()",
            "%config Kimi",
        ],
        tmp_path,
    )
    assert "api_key" in output_text(nb.cells[2])
    assert secret not in notebook_json(nb)


def test_bad_options_and_empty_cell_raise_usage_error(kimi_kernel_env, tmp_path):
    nb = run_notebook(
        [
            "%load_ext kimi_jupyter",
            "%%kimi --bogus\nhi",
            "%%kimi --max-steps -1\nhi",
            "%%kimi -t 7\nhi",
            "%%kimi\n   \n",
            "%%kimi -f yaml\nhi",
            "print('ok')",
        ],
        tmp_path,
    )
    for cell in nb.cells[1:6]:
        # IPython shows a UsageError as one line on stderr, with no traceback.
        stderr = "".join(o["text"] for o in cell.outputs if o.get("name") == "stderr")
        assert stderr.startswith("UsageError:"), output_text(cell)
        assert "Traceback" not in output_text(cell)
    assert "--max-steps" in output_text(nb.cells[2])
    assert "temperature" in output_text(nb.cells[3])
    assert "empty" in output_text(nb.cells[4])
    assert output_text(nb.cells[6]).strip() == "ok"
    assert kimi_kernel_env.requests == []


def test_subcommands_history_reset_usage_models(kimi_kernel_env, tmp_path):
    nb = run_notebook(
        [
            "%load_ext kimi_jupyter",
            "%%kimi\nExplain quantum entanglement.",
            "%kimi history",
            "%kimi usage",
            "%kimi models",
            "%kimi reset",
            "%kimi history",
            "%kimi help",
        ],
        tmp_path,
    )
    history = output_text(nb.cells[2])
    assert "user" in history and "Explain quantum entanglement." in history and "assistant" in history
    assert "1 cells" in output_text(nb.cells[3]) and "$" in output_text(nb.cells[3])
    assert "kimi-k2.6" in output_text(nb.cells[4]) and "262,144" in output_text(nb.cells[4])
    assert "forgot 3 messages" in output_text(nb.cells[5]) or "forgot 2 messages" in output_text(nb.cells[5])
    assert "empty" in output_text(nb.cells[6])
    assert "--new" in output_text(nb.cells[7])


def test_terminal_ipython_prints_plain_text(kimi_kernel_env, tmp_path):
    script = "%load_ext kimi_jupyter\n%kimi Explain quantum entanglement."
    proc = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=nocolor", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Quantum entanglement" in proc.stdout
    assert "Thinking" in proc.stdout
    assert "<IPython.core.display" not in proc.stdout + proc.stderr
    assert "kimi-k2.6 ·" in proc.stdout

"""Today's models in real kernels against the loopback server (issue: K2.6 and K3 on first use)."""

from __future__ import annotations

from kimi_jupyter.testing import Fault, Scenario, ScriptedTurn

from conftest import output_text, outputs_with, run_notebook


def _stderr(cell) -> str:
    return "".join(o["text"] for o in cell.outputs if o.get("name") == "stderr")


def test_k3_sends_no_temperature_and_takes_a_400k_token_conversation(kimi_kernel_env, tmp_path):
    nb = run_notebook(
        [
            "%load_ext kimi_jupyter",
            "big = 'lorem ipsum dolor ' * 90_000  # ~1.6 MB: about 400k tokens",
            "%%kimi -m kimi-k3 --no-tools -o r\n[[scenario:echo]] Summarise: {big}",
            "print(r.model, r.finish_reason)",
            "%%kimi -n -m kimi-k2.6 --no-tools\n[[scenario:echo]] Summarise: {big}",
        ],
        tmp_path,
        timeout=120,
    )
    assert output_text(nb.cells[3]).split() == ["kimi-k3", "stop"]
    k3 = [r for r in kimi_kernel_env.requests if r["model"] == "kimi-k3"]
    assert len(k3) == 1 and "temperature" not in k3[0] and "thinking" not in k3[0]
    assert len(k3[0]["messages"][-1]["content"]) > 1_600_000
    # K2.6's window is 262,144 tokens: refused before it is sent, with the size.
    assert "PromptTooLarge" in output_text(nb.cells[4]) and "262,144" in output_text(nb.cells[4])
    assert not [r for r in kimi_kernel_env.requests if r["model"] == "kimi-k2.6"]


def test_options_the_model_would_refuse_send_nothing_and_say_why(kimi_kernel_env, tmp_path):
    nb = run_notebook(
        [
            "%load_ext kimi_jupyter",
            "%%kimi -m kimi-k3 -t 0.7\nhi",
            "%%kimi -m kimi-k3 --no-thinking\nhi",
            "%%kimi --effort max\nhi",
            "%%kimi -m kimi-k3 --effort extreme\nhi",
            "print('ok')",
        ],
        tmp_path,
    )
    expected = ["only temperature 1", "always thinks", "kimi-k2.6 takes no --effort", "low | high | max"]
    for cell, text in zip(nb.cells[1:5], expected):
        assert _stderr(cell).startswith("UsageError:") and text in _stderr(cell), output_text(cell)
    assert output_text(nb.cells[5]).strip() == "ok"
    assert kimi_kernel_env.requests == []


def test_no_thinking_on_k26_streams_no_reasoning(kimi_kernel_env, tmp_path):
    nb = run_notebook(["%load_ext kimi_jupyter", "%%kimi --no-thinking -o r\nExplain quantum entanglement.",
                       "print(repr(r.reasoning), r.usage.reasoning_tokens)"], tmp_path)
    (body,) = kimi_kernel_env.requests
    assert body["thinking"] == {"type": "disabled"} and "temperature" not in body
    assert not any("<details" in o["data"]["text/html"] for o in outputs_with(nb.cells[1], "text/html"))
    assert output_text(nb.cells[2]).split() == ["''", "0"]
    assert "Quantum entanglement" in output_text(nb.cells[1])


def test_default_cell_thinks_keeps_reasoning_and_records_provenance(kimi_kernel_env, tmp_path):
    nb = run_notebook(["%load_ext kimi_jupyter", "%%kimi\nExplain quantum entanglement."], tmp_path)
    (body,) = kimi_kernel_env.requests
    assert body["model"] == "kimi-k2.6" and body["thinking"] == {"type": "enabled", "keep": "all"}
    parts = [o["metadata"].get("kimi_jupyter", {}).get("part") for o in nb.cells[1].outputs
             if o["output_type"] == "display_data"]
    parts = [p for p in parts if p != "live"]  # the live output, emptied once the reply was complete
    assert parts[0] == "reasoning" and "answer" in parts and parts[-1] == "footer"
    meta = nb.cells[1].outputs[-1]["metadata"]["kimi_jupyter"]
    assert meta["usage"]["reasoning_tokens"] > 0 and meta["version"]
    assert meta["request_ids"] == [kimi_kernel_env.request_ids[-1]]  # Msh-Request-Id


def test_retired_id_names_its_successor_and_the_live_models(kimi_kernel_env, tmp_path):
    nb = run_notebook(["%load_ext kimi_jupyter", "%%kimi -m kimi-k2-thinking\nhi", "print('alive')"], tmp_path)
    text = output_text(nb.cells[1])
    assert "retired it on 2026-05-25" in text and "use kimi-k2.6" in text
    assert "Thinking models this server lists: kimi-k2.6" in text and "kimi-k3" in text
    assert "Msh-Request-Id" in text and "Traceback" not in text
    assert output_text(nb.cells[2]).strip() == "alive"


def test_in_stream_quota_error_is_not_retried(kimi_kernel_env, tmp_path):
    kimi_kernel_env.add_scenario(Scenario("quota_in_stream", [ScriptedTurn(reasoning="x" * 40, content="never", fault=Fault(
        "stream_error", type="exceeded_current_quota_error", message="Your account is suspended", times=10))]))
    nb = run_notebook(["%load_ext kimi_jupyter", "%%kimi\n[[scenario:quota_in_stream]] hi", "print('alive')"],
                      tmp_path)
    text = output_text(nb.cells[1])
    assert "QuotaError" in text and "billing" in text and "Retrying" not in text
    assert len(kimi_kernel_env.requests) == 1
    assert output_text(nb.cells[2]).strip() == "alive"


def test_in_stream_overload_before_text_is_retried(kimi_kernel_env, tmp_path):
    kimi_kernel_env.add_scenario(Scenario("busy_in_stream", [ScriptedTurn(reasoning="thinking", content="Done here.",
                                 fault=Fault("stream_error", type="engine_overloaded_error",
                                             message="try again after 0 seconds"))]))
    nb = run_notebook(["%load_ext kimi_jupyter", "%%kimi\n[[scenario:busy_in_stream]] hi"], tmp_path)
    assert "Retrying in 0 s (engine overloaded)" in output_text(nb.cells[1]) and "Done here." in output_text(nb.cells[1])
    assert len(kimi_kernel_env.requests) == 2


def test_sse_comments_blank_and_multiline_data_read_cleanly(kimi_kernel_env, tmp_path):
    nb = run_notebook(["%load_ext kimi_jupyter", "%%kimi -o r\n[[scenario:sse_noise]] hi",
                       "print(r.finish_reason, r.usage.total_tokens > 0, len(r.reasoning) > 0)"], tmp_path)
    assert output_text(nb.cells[2]).split() == ["stop", "True", "True"]
    assert "Traceback" not in output_text(nb.cells[1])


def test_models_subcommand_shows_context_thinking_vision_and_price(kimi_kernel_env, tmp_path):
    nb = run_notebook(["%load_ext kimi_jupyter", "%kimi models"], tmp_path)
    table = output_text(nb.cells[1])
    k3 = next(line for line in table.splitlines() if line.startswith("| kimi-k3 "))
    assert "1,048,576" in k3 and "only" in k3 and "low, high, max" in k3 and "yes" in k3 and "0.3 / 3" in k3
    k26 = next(line for line in table.splitlines() if line.startswith("| kimi-k2.6 "))
    assert "switchable" in k26 and "0.16 / 0.95" in k26

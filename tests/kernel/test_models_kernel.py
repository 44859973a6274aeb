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
    (out,) = nb.cells[1].outputs
    table = out["data"]["text/plain"]
    k3 = next(line for line in table.splitlines() if line.startswith("kimi-k3 "))
    assert "1,048,576" in k3 and "only" in k3 and "low, high, max" in k3 and "yes" in k3 and "0.3 / 3" in k3
    k26 = next(line for line in table.splitlines() if line.startswith("kimi-k2.6 "))
    assert "switchable" in k26 and "0.16 / 0.95" in k26
    assert "<td><code>kimi-k3.1-pro</code></td>" in out["data"]["text/html"]


def test_models_subcommand_shows_a_hostile_servers_ids_as_text(kimi_kernel_env, tmp_path):
    """Issue 24 #1: a listed id is the server's text. It was put raw into a text/markdown
    table, where `<img onerror>` ran in JupyterLab (and again on reopening the trusted
    notebook), and `$/M … $/M` paired up as MathJax and broke the table."""
    from kimi_jupyter.testing.wire import ServedModel

    hostile = ['<img src=x onerror="alert(1)">', "$x^2$ <script>alert(2)</script>", "evil\x1b]52;c;aGk=\x07id"]
    for model_id in hostile:
        kimi_kernel_env.models["moonshot"][model_id] = ServedModel(model_id, 1, 8_192, "only")
    nb = run_notebook(["%load_ext kimi_jupyter", "%kimi models"], tmp_path)
    (out,) = nb.cells[1].outputs
    assert set(out["data"]) == {"text/html", "text/plain"}  # no markdown a server could write into
    html = out["data"]["text/html"]
    assert "<img" not in html and "<script" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "$" not in html.replace("<code>$x^2$", "")  # ids sit in <code>, which MathJax skips; headers say USD
    assert "\x1b" not in html and "\x1b" not in out["data"]["text/plain"] and "\x07" not in out["data"]["text/plain"]


# -- issue 23: models that stay current ------------------------------------------------------

def _notices(cell) -> list[str]:
    return [o["data"]["text/plain"] for o in cell.outputs if o.get("output_type") == "display_data"
            and o.get("metadata", {}).get("kimi_jupyter", {}).get("part") == "notice"]


def test_when_the_default_closes_the_first_cell_answers_on_its_successor(kimi_kernel_env, tmp_path):
    kimi_kernel_env.retire("kimi-k2.6")  # as Moonshot will on 2027-01-07
    nb = run_notebook(
        [
            "%load_ext kimi_jupyter",
            "%%kimi -o r\nExplain quantum entanglement.",
            "print(r.model, r.cost_usd > 0)",
            "%%kimi\nExplain quantum entanglement.",
        ],
        tmp_path,
    )
    first, second = nb.cells[1], nb.cells[3]
    (notice,) = [n for n in _notices(first) if "no longer served" in n]
    assert "kimi-k2.6" in notice and "kimi-k3" in notice and "USD 0.30 cached / 3.00 uncached" in notice
    assert not [n for n in _notices(second) if "no longer served" in n]  # once per session
    assert output_text(nb.cells[2]).split() == ["kimi-k3", "True"]
    footer = first.outputs[-1]
    assert footer["metadata"]["kimi_jupyter"]["part"] == "footer" and footer["data"]["text/plain"].startswith("kimi-k3 ·")
    assert [r["model"] for r in kimi_kernel_env.requests] == ["kimi-k3", "kimi-k3"]  # no 404 first


def test_a_model_named_explicitly_is_never_swapped_and_its_404_is_not_retried(kimi_kernel_env, tmp_path):
    kimi_kernel_env.retire("kimi-k2.6")
    nb = run_notebook(
        ["%load_ext kimi_jupyter", "%%kimi -m kimi-k2.6\nhi", "%config Kimi.model = 'kimi-k2.6'",
         "%%kimi\nhi", "print('alive')"],
        tmp_path,
    )
    for cell in (nb.cells[1], nb.cells[3]):
        text = output_text(cell)
        assert "ModelNotFoundError" in text and "'kimi-k2.6' is not available" in text and "kimi-k3.1-pro" in text
    assert [r["model"] for r in kimi_kernel_env.requests] == ["kimi-k2.6", "kimi-k2.6"]  # one each, no retry
    assert output_text(nb.cells[4]).strip() == "alive"


def test_k31_pro_has_a_price_takes_an_effort_and_refuses_a_temperature_before_sending(kimi_kernel_env, tmp_path):
    nb = run_notebook(
        [
            "%load_ext kimi_jupyter",
            "%%kimi -m kimi-k3.1-pro --effort low --max-cost 5 -o r\nExplain quantum entanglement.",
            "print(r.model, round(r.cost_usd, 6) == round((r.usage.cached_tokens * 0.20 + "
            "(r.usage.prompt_tokens - r.usage.cached_tokens) * 2.00 + r.usage.completion_tokens * 10.00) / 1e6, 6))",
            "%%kimi -m kimi-k3.1-pro -t 0.5\nhi",
        ],
        tmp_path,
    )
    assert output_text(nb.cells[2]).split() == ["kimi-k3.1-pro", "True"]
    assert "cost n/a" not in nb.cells[1].outputs[-1]["data"]["text/plain"]
    assert not any("not enforced" in n for n in _notices(nb.cells[1]))  # --max-cost works: the price is known
    (body,) = kimi_kernel_env.requests
    assert body["model"] == "kimi-k3.1-pro" and body["reasoning_effort"] == "low" and "temperature" not in body
    assert _stderr(nb.cells[3]).startswith("UsageError:") and "only temperature 1" in _stderr(nb.cells[3])


def test_a_model_closing_within_30_days_says_so_once_and_models_shows_the_date(kimi_kernel_env, tmp_path,
                                                                               monkeypatch):
    monkeypatch.setenv("KIMI_JUPYTER_TODAY", "2026-12-20")
    nb = run_notebook(
        ["%load_ext kimi_jupyter", "%%kimi\nExplain quantum entanglement.", "%%kimi\nExplain quantum entanglement.",
         "%kimi models"],
        tmp_path,
    )
    (line,) = [n for n in _notices(nb.cells[1]) if "announced to close" in n]
    assert "kimi-k2.6 is announced to close on 2027-01-07" in line and "kimi-k3" in line
    assert not [n for n in _notices(nb.cells[2]) if "announced to close" in n]
    (table,) = outputs_with(nb.cells[3], "text/html")
    assert "2027-01-07 → kimi-k3" in table["data"]["text/html"] and "kimi-k3.1-pro" in table["data"]["text/html"]


def test_cache_writes_reported_by_the_server_reach_usage_footer_and_cost(kimi_kernel_env, tmp_path):
    kimi_kernel_env.cache_writes = True
    nb = run_notebook(
        [
            "%load_ext kimi_jupyter",
            "%config Kimi.cache_ttl = '1h'",
            "%%kimi -m kimi-k3 --no-tools -o r\nExplain quantum entanglement.",
            "u = r.usage\nprint(u.cache_write_tokens == u.prompt_tokens - u.cached_tokens > 0, "
            "round(r.cost_usd, 6) == round((u.cached_tokens * 0.30 + u.cache_write_tokens * 6.00 "
            "+ u.completion_tokens * 15.00) / 1e6, 6))",
        ],
        tmp_path,
    )
    (body,) = kimi_kernel_env.requests
    assert body["prompt_cache_options"] == {"ttl": "1h"}
    assert output_text(nb.cells[3]).split() == ["True", "True"]
    footer = nb.cells[2].outputs[-1]
    assert "written to cache" in footer["data"]["text/plain"]
    assert footer["metadata"]["kimi_jupyter"]["usage"]["cache_write_tokens"] > 0


def test_a_listed_model_the_catalog_never_heard_of_works_with_cost_unknown(kimi_kernel_env, tmp_path):
    from kimi_jupyter.testing.wire import ServedModel

    kimi_kernel_env.models["moonshot"]["kimi-k4-preview"] = ServedModel(
        "kimi-k4-preview", 1800000000, 2_000_000, "only", image_in=True)
    nb = run_notebook(["%load_ext kimi_jupyter", "%%kimi -m kimi-k4-preview -o r --max-cost 1\nExplain quantum entanglement.",
                       "print(r.model, r.cost_usd)"], tmp_path)
    assert output_text(nb.cells[2]).split() == ["kimi-k4-preview", "None"]
    assert "cost n/a" in nb.cells[1].outputs[-1]["data"]["text/plain"]
    assert any("prices of kimi-k4-preview" in n and "unknown" in n for n in _notices(nb.cells[1]))

"""The catalog, `catalog.resolve()` over /v1/models listings, settings precedence and key scoping."""

import pytest

from kimi_jupyter.core import catalog
from kimi_jupyter.core.settings import DEFAULT_BASE_URL, DEFAULT_MODEL, NO_KEY, Kimi, resolve
from kimi_jupyter.core.errors import MissingKeyError, redact, redact_all
from kimi_jupyter.core.result import Result
from kimi_jupyter.core.stream import Usage

MOONSHOT = "https://api.moonshot.ai/v1"


def test_default_model_is_live_and_costs_the_k26_price():
    assert DEFAULT_MODEL == "kimi-k2.6" and DEFAULT_MODEL not in catalog.RETIRED
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000, total_tokens=2_000_000,
                  cached_tokens=400_000)
    k26 = catalog.resolve(MOONSHOT, "kimi-k2.6")
    # 0.4M * 0.16 (cache hit) + 0.6M * 0.95 (miss) + 1M * 4.00 (output)
    assert catalog.cost_usd(k26, usage) == pytest.approx(0.064 + 0.57 + 4.00)
    assert catalog.cost_usd(k26, usage, web_searches=2) == pytest.approx(4.644)
    k3 = catalog.resolve(MOONSHOT, "kimi-k3")
    assert catalog.cost_usd(k3, usage) == pytest.approx(0.12 + 1.80 + 15.00)
    assert catalog.cost_usd(catalog.resolve(MOONSHOT, "my-finetune"), usage) is None


def test_catalog_holds_live_models_and_retirements_with_successors():
    k3 = catalog.CATALOG["kimi-k3"]
    assert (k3.context_window, k3.thinking, k3.vision) == (1_048_576, "only", True)
    assert catalog.CATALOG["kimi-k2.6"].thinking == "switchable"
    for old in ("kimi-k2-thinking", "kimi-k2-thinking-turbo", "kimi-k2-0905-preview", "kimi-k2-turbo-preview"):
        assert old not in catalog.CATALOG
        assert catalog.RETIRED[old].date == "2026-05-25" and catalog.RETIRED[old].successor == "kimi-k2.6"
    # moonshot-v1 closed on 2026-08-31 (issue 23): retired, not served.
    for old in ("moonshot-v1-8k", "moonshot-v1-32k", "moonshot-v1-128k", "kimi-k2.5"):
        assert old not in catalog.CATALOG and catalog.RETIRED[old].date == "2026-08-31"
    # Every successor named anywhere is a model the catalog knows.
    for model in [*catalog.RETIRED, *catalog.CATALOG]:
        assert all(s in catalog.CATALOG for s in catalog.successor_chain(model)), model
    assert catalog.PRICES_CHECKED.startswith("2026-")


def test_listing_overrides_catalog_and_self_hosted_gets_no_moonshot_rules():
    listing = {
        "kimi-k2.6": {"id": "kimi-k2.6", "context_length": 131_072, "supports_image_in": False,
                      "supports_thinking_type": "both",
                      "think_efforts": {"support": True, "valid_efforts": ["low"], "default_effort": "low"}},
        "kimi-k9": {"id": "kimi-k9", "context_length": 2_000_000, "supports_thinking_type": "only"},
    }
    info = catalog.resolve("http://127.0.0.1:9/v1", "kimi-k2.6", listing)
    assert (info.context_window, info.vision, info.efforts, info.moonshot) == (131_072, False, ("low",), True)
    assert info.prices == catalog.CATALOG["kimi-k2.6"].prices  # what the listing leaves out stays
    new = catalog.resolve("http://127.0.0.1:9/v1", "kimi-k9", listing)
    assert (new.context_window, new.thinking, new.prices) == (2_000_000, "only", None)
    assert catalog.live_thinking_models(listing) == ["kimi-k2.6", "kimi-k9"]
    # vLLM serving the open weights: its own context, no Moonshot prices or rules.
    vllm = catalog.resolve("http://gpu:8000/v1", "moonshotai/Kimi-K2.6",
                          {"moonshotai/Kimi-K2.6": {"id": "moonshotai/Kimi-K2.6", "max_model_len": 65_536}})
    assert (vllm.context_window, vllm.prices, vllm.moonshot, vllm.thinking) == (65_536, None, False, "unknown")
    # A catalog id on another host isn't billed at Moonshot's prices either.
    assert catalog.resolve("http://gpu:8000/v1", "kimi-k2.6").prices is None


def test_is_moonshot_checks_the_host_not_a_substring():
    assert catalog.is_moonshot("https://api.moonshot.cn/v1")
    assert not catalog.is_moonshot("https://evil.example/api.moonshot.ai/v1")
    assert not catalog.is_moonshot("https://api.moonshot.ai.evil.example/v1")


def test_precedence_option_then_config_then_env_then_default():
    cfg = Kimi()
    env = {"MOONSHOT_API_KEY": "env-moonshot", "KIMI_API_KEY": "env-kimi", "KIMI_MODEL": "env-model"}
    s = resolve(cfg, env=env)
    assert (s.api_key, s.model, s.base_url) == ("env-moonshot", "env-model", DEFAULT_BASE_URL)
    cfg.model, cfg.base_url = "cfg-model", MOONSHOT
    s = resolve(cfg, model="opt-model", env=env)
    assert (s.model, s.base_url) == ("opt-model", MOONSHOT)
    s = resolve(Kimi(), env={"KIMI_API_KEY": "only-kimi"})
    assert (s.api_key, s.model, s.base_url, s.max_steps, s.auto_run, s.temperature, s.thinking) == (
        "only-kimi", "kimi-k2.6", DEFAULT_BASE_URL, 50, False, None, True)
    s = resolve(cfg, logins={None: "login-key"}, env=env)
    assert (s.api_key, s.key_source.name) == ("login-key", "%kimi login")


def test_env_and_plain_login_keys_go_only_to_moonshot_hosts():
    env = {"MOONSHOT_API_KEY": "env-moonshot", "KIMI_API_KEY": "env-kimi"}
    other = "http://notebook-author.example:8000/v1"
    s = resolve(Kimi(), base_url=other, logins={None: "login-key"}, env=env)
    assert s.api_key is None and s.key_source is None and s.require_key() == NO_KEY
    s = resolve(Kimi(), env={**env, "MOONSHOT_BASE_URL": other})
    assert s.base_url == other and s.api_key is None
    # Kimi.api_key alone is a Moonshot key too.
    assert resolve(Kimi(api_key="cfg-key"), base_url=other, env={}).api_key is None


def test_paired_keys_reach_their_own_host_only():
    server = "http://127.0.0.1:8765/v1"
    # KIMI_API_KEY with KIMI_BASE_URL, in the same environment.
    env = {"KIMI_API_KEY": "env-kimi", "KIMI_BASE_URL": server, "MOONSHOT_API_KEY": "env-moonshot"}
    assert resolve(Kimi(), env=env).api_key == "env-kimi"
    assert resolve(Kimi(), base_url=MOONSHOT, env=env).api_key == "env-moonshot"
    assert resolve(Kimi(), base_url="http://127.0.0.1:9999/v1", env=env).api_key is None  # another port
    # Kimi.api_key with Kimi.base_url.
    cfg = Kimi(api_key="cfg-key", base_url=server)
    assert resolve(cfg, env={}).api_key == "cfg-key"
    assert resolve(cfg, base_url=MOONSHOT, env={}).api_key is None
    # `%kimi login --base-url URL`: for that server; a plain login for Moonshot's.
    logins = {server: "login-server", None: "login-moonshot"}
    assert resolve(Kimi(), base_url=server + "/", logins=logins, env={}).api_key == "login-server"
    assert resolve(Kimi(), base_url=MOONSHOT, logins=logins, env={}).api_key == "login-moonshot"


def test_missing_key_names_both_env_vars_and_login():
    s = resolve(Kimi(), env={})
    with pytest.raises(MissingKeyError) as info:
        s.require_key()
    text = str(info.value)
    assert "MOONSHOT_API_KEY" in text and "KIMI_API_KEY" in text and "%kimi login" in text


def test_key_is_masked_everywhere_it_could_show():
    secret = "sk-SECRET-abcdefghijklmnop"
    cfg = Kimi(api_key=secret, secrets=["db-password-123"])
    s = resolve(cfg, env={"KIMI_API_KEY": "sk-other-key-xxxxxxxxxxxx"})
    assert secret not in repr(cfg)
    assert secret not in repr(s)
    described = str(s.describe())
    assert secret not in described and "db-password-123" not in described
    assert "api.moonshot.ai" in described  # which host each key goes to
    assert secret not in redact(f"bad key {secret}", secret)
    text = redact_all(f"{secret} and db-password-123", s.all_secrets())
    assert secret not in text and "db-password-123" not in text and "[redacted]" in text


def test_result_footer_and_metadata():
    r = Result(content="hi", model="kimi-k2.6", usage=Usage(1200, 300, 1500, 1000, 200), cost_usd=0.00123,
               elapsed_s=2.5, steps=2, request_ids=["req-1"])
    assert r.footer() == (
        "kimi-k2.6 · 1,200 in (1,000 cached) / 300 out (200 reasoning) · $0.0012 · 2.5 s · 2 tool calls"
    )
    md = r.metadata()
    assert md["usage"]["cached_tokens"] == 1000 and md["usage"]["reasoning_tokens"] == 200
    assert md["cost_usd"] == 0.00123 and md["elapsed_s"] == 2.5 and md["request_ids"] == ["req-1"]
    assert md["version"]
    assert "hi" in r._repr_markdown_()


# -- issue 23: the lineup moves ------------------------------------------------------------

def test_k31_pro_is_priced_and_ruled_like_the_k3_family():
    pro = catalog.resolve(MOONSHOT, "kimi-k3.1-pro")
    assert pro.prices == catalog.Prices(0.20, 2.00, 10.00) and pro.context_window == 1_048_576
    assert (pro.thinking, pro.efforts, pro.temperature_thinking, pro.cache_options) == (
        "only", ("low", "high", "max"), 1.0, True)
    fast = catalog.resolve(MOONSHOT, "kimi-k3.1-pro-highspeed")
    assert fast.prices == catalog.Prices(0.20, 4.00, 20.00)
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=100_000, cached_tokens=500_000)
    assert catalog.cost_usd(pro, usage) == pytest.approx(0.5 * 0.20 + 0.5 * 2.00 + 0.1 * 10.00)


def test_the_successor_is_the_first_listed_model_of_the_chain_else_the_newest_thinker():
    assert catalog.successor_chain("kimi-k2.5") == ["kimi-k2.6", "kimi-k3"]
    assert catalog.successor_chain("kimi-k3") == []
    listing = {m: {"id": m, "supports_thinking_type": "only", "created": c}
               for m, c in [("kimi-k3", 10), ("kimi-k3.1-pro", 20), ("kimi-k2.7-code", 5)]}
    assert catalog.pick_successor("kimi-k2.6", listing) == "kimi-k3"
    assert catalog.pick_successor("kimi-k2.5", listing) == "kimi-k3"  # kimi-k2.6 isn't listed
    del listing["kimi-k3"]
    assert catalog.pick_successor("kimi-k2.6", listing) == "kimi-k3.1-pro"  # the newest listed thinker
    listing["plain"] = {"id": "plain", "supports_thinking_type": "no", "created": 99}
    assert catalog.pick_successor("kimi-k2.6", listing) == "kimi-k3.1-pro"  # never a model that can't think
    assert catalog.pick_successor("kimi-k2.6", {}) is None and catalog.pick_successor("kimi-k2.6", None) is None


def test_closing_soon_means_within_thirty_days_of_the_announced_date(monkeypatch):
    from datetime import date

    k26 = catalog.CATALOG["kimi-k2.6"]
    assert k26.closing.date == "2027-01-07" and k26.closing.successor == "kimi-k3"
    assert catalog.closing_soon(k26, date(2026, 12, 7)) is None  # 31 days before
    assert catalog.closing_soon(k26, date(2026, 12, 8)) == k26.closing  # 30 days before
    assert catalog.closing_soon(k26, date(2027, 2, 1)) == k26.closing  # past: still worth saying
    assert catalog.closing_soon(catalog.CATALOG["kimi-k3"], date(2026, 12, 20)) is None
    monkeypatch.setenv("KIMI_JUPYTER_TODAY", "2026-12-20")
    assert catalog.today() == date(2026, 12, 20) and catalog.closing_soon(k26) == k26.closing
    monkeypatch.setenv("KIMI_JUPYTER_TODAY", "not a date")
    assert catalog.today() != date(2026, 12, 20)  # a malformed pin falls back to the real date


def test_cache_writes_are_billed_only_where_reported_and_twice_the_miss_price_with_1h():
    k3 = catalog.resolve(MOONSHOT, "kimi-k3")
    plain = Usage(prompt_tokens=1_000_000, completion_tokens=0, cached_tokens=200_000)
    written = Usage(prompt_tokens=1_000_000, completion_tokens=0, cached_tokens=200_000, cache_write_tokens=800_000)
    # 5-minute TTL: a write costs the miss price, so reporting writes changes nothing.
    assert catalog.cost_usd(k3, written) == pytest.approx(catalog.cost_usd(k3, plain)) == pytest.approx(0.06 + 2.40)
    # 1-hour TTL: the 0.8M written cost 2 x 3.00; unreported writes are never guessed.
    assert catalog.cost_usd(k3, written, cache_ttl="1h") == pytest.approx(0.06 + 4.80)
    assert catalog.cost_usd(k3, plain, cache_ttl="1h") == pytest.approx(0.06 + 2.40)
    # The --max-cost bound assumes the worst: with 1h, every uncached token may be a write.
    assert catalog.request_cost_bound(k3, 1_000_000, 0.2, 0, "1h") == pytest.approx(0.06 + 4.80)


def test_usage_from_a_server_is_validated_where_it_enters():
    from kimi_jupyter.core.stream import MAX_USAGE_TOKENS

    absurd = Usage.from_wire({"prompt_tokens": 1e308, "completion_tokens": -5, "cached_tokens": -3,
                              "total_tokens": "many", "completion_tokens_details": {"reasoning_tokens": 10}})
    assert absurd.prompt_tokens == MAX_USAGE_TOKENS and absurd.completion_tokens == 0
    assert absurd.cached_tokens == 0 and absurd.reasoning_tokens == 0 and absurd.total_tokens == MAX_USAGE_TOKENS
    odd = Usage.from_wire({"prompt_tokens": 100, "completion_tokens": 10, "cached_tokens": 500,
                           "cache_write_tokens": True, "completion_tokens_details": [1]})
    assert (odd.cached_tokens, odd.cache_write_tokens, odd.reasoning_tokens) == (100, 0, 0)
    assert Usage.from_wire({"prompt_tokens": float("nan")}).prompt_tokens == 0
    assert Usage.from_wire("usage") is None
    writes = Usage.from_wire({"prompt_tokens": 100, "completion_tokens": 1, "cached_tokens": 30,
                              "prompt_tokens_details": {"cache_write_tokens": 90}})
    assert writes.cache_write_tokens == 70  # never more than the uncached part of the prompt
    assert (writes + writes).cache_write_tokens == 140 and writes.merge(Usage()).cache_write_tokens == 70

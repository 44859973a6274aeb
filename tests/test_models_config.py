import pytest

from kimi_jupyter import models
from kimi_jupyter.config import DEFAULT_BASE_URL, Kimi, resolve
from kimi_jupyter.errors import MissingKeyError, redact
from kimi_jupyter.result import Result
from kimi_jupyter.stream import Usage


def test_cost_uses_cache_hit_miss_and_output_prices():
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000, total_tokens=2_000_000,
                  cached_tokens=400_000)
    # 0.4M * 0.15 + 0.6M * 0.60 + 1M * 2.50
    assert models.cost_usd("kimi-k2-thinking", usage) == pytest.approx(0.06 + 0.36 + 2.50)
    assert models.cost_usd("kimi-k2-thinking-turbo", usage) == pytest.approx(0.06 + 0.69 + 8.00)
    assert models.cost_usd("kimi-k2-thinking", usage, web_searches=2) == pytest.approx(2.93)
    assert models.cost_usd("my-finetune", usage) is None
    assert models.lookup("moonshotai/kimi-k2-thinking") is models.CATALOG["kimi-k2-thinking"]


def test_precedence_option_then_config_then_env_then_default():
    cfg = Kimi()
    env = {"MOONSHOT_API_KEY": "env-moonshot", "KIMI_API_KEY": "env-kimi", "KIMI_MODEL": "env-model",
           "KIMI_BASE_URL": "http://kimi-base/v1"}
    s = resolve(cfg, env=env)
    assert (s.api_key, s.model, s.base_url) == ("env-moonshot", "env-model", "http://kimi-base/v1")
    cfg.api_key, cfg.model, cfg.base_url = "cfg-key", "cfg-model", "http://cfg/v1"
    s = resolve(cfg, env=env)
    assert (s.api_key, s.model, s.base_url) == ("cfg-key", "cfg-model", "http://cfg/v1")
    s = resolve(cfg, login_key="login-key", model="opt-model", base_url="http://opt/v1", env=env)
    assert (s.api_key, s.model, s.base_url) == ("login-key", "opt-model", "http://opt/v1")
    s = resolve(Kimi(), env={"KIMI_API_KEY": "only-kimi"})
    assert (s.api_key, s.model, s.base_url, s.max_steps, s.auto_run) == (
        "only-kimi", "kimi-k2-thinking", DEFAULT_BASE_URL, 50, False)


def test_missing_key_names_both_env_vars_and_login():
    s = resolve(Kimi(), env={})
    with pytest.raises(MissingKeyError) as info:
        s.require_key()
    text = str(info.value)
    assert "MOONSHOT_API_KEY" in text and "KIMI_API_KEY" in text and "%kimi login" in text
    # A self-hosted server usually has no key: it is not required there.
    assert resolve(Kimi(), base_url="http://127.0.0.1:8000/v1", env={}).require_key() == "EMPTY"


def test_key_is_masked_everywhere_it_could_show():
    secret = "sk-SECRET-abcdefghijklmnop"
    cfg = Kimi(api_key=secret)
    s = resolve(cfg, env={})
    assert secret not in repr(cfg)
    assert secret not in repr(s)
    assert secret not in str(s.describe())
    assert secret not in redact(f"bad key {secret}", secret)


def test_result_footer_and_metadata():
    r = Result(content="hi", model="kimi-k2-thinking", usage=Usage(1200, 300, 1500, 1000), cost_usd=0.00123,
               elapsed_s=2.5, steps=2)
    assert r.footer() == "kimi-k2-thinking · 1,200 in (1,000 cached) / 300 out · $0.0012 · 2.5 s · 2 tool calls"
    md = r.metadata()
    assert md["usage"]["cached_tokens"] == 1000 and md["cost_usd"] == 0.00123 and md["elapsed_s"] == 2.5
    assert "hi" in r._repr_markdown_()

"""Moonshot's hosts are reached only over https on the default port, whatever the key (issue 24 #5)."""

from __future__ import annotations

import pytest

from kimi_jupyter.core.settings import InsecureEndpoint, Kimi, moonshot_url_problem, resolve
from kimi_jupyter.core.errors import MissingKeyError

MOONSHOT_KEY = "sk-moonshot-env-key-123456"


@pytest.mark.parametrize("url", [
    "https://api.moonshot.ai/v1", "https://api.moonshot.cn/v1", "https://API.Moonshot.AI/v1",
    "https://api.moonshot.ai:443/v1",
    # Not Moonshot at all: other rules (the key's scope) apply, not this one.
    "http://127.0.0.1:8000/v1", "http://evil.example/?api.moonshot.ai", "http://api.moonshot.ai.evil.example/v1",
])
def test_allowed_or_not_moonshot(url):
    assert moonshot_url_problem(url) is None


@pytest.mark.parametrize("url, words", [
    ("http://api.moonshot.ai/v1", "cleartext"),
    ("HTTP://api.moonshot.cn/v1", "cleartext"),
    ("http://api.moonshot.cn:8080/v1", "cleartext"),
    ("https://api.moonshot.cn:8080/v1", "port 8080"),
    ("https://api.moonshot.ai:80/v1", "port 80"),
    ("ws://api.moonshot.ai/v1", "cleartext"),
    ("https://api.moonshot.ai:99999999/v1", "not a number"),
])
def test_refused(url, words):
    assert words in moonshot_url_problem(url)


@pytest.mark.parametrize("env, logins, cfg", [
    ({"MOONSHOT_API_KEY": MOONSHOT_KEY}, {}, {}),
    ({"KIMI_API_KEY": MOONSHOT_KEY}, {}, {}),
    ({}, {None: MOONSHOT_KEY}, {}),
    # Even a key given for exactly that URL: Moonshot is never spoken to in cleartext.
    ({}, {"http://api.moonshot.ai/v1": MOONSHOT_KEY}, {}),
    ({}, {}, {"api_key": MOONSHOT_KEY, "base_url": "http://api.moonshot.ai/v1"}),
    ({"KIMI_API_KEY": MOONSHOT_KEY, "KIMI_BASE_URL": "http://api.moonshot.ai/v1"}, {}, {}),
    ({}, {}, {}),  # no key at all: the refusal says why, rather than "no key"
])
def test_no_key_leaves_for_plain_http(env, logins, cfg):
    settings = resolve(Kimi(**cfg), logins=logins, env=env, base_url="http://api.moonshot.ai/v1")
    assert settings.key_source is None or settings.key_source.base_url is not None
    with pytest.raises(InsecureEndpoint) as info:
        settings.require_key()
    message = str(info.value)
    assert "https://api.moonshot.ai/v1" in message and "Nothing was sent" in message
    assert MOONSHOT_KEY not in message


def test_moonshot_key_is_not_chosen_for_another_port():
    settings = resolve(Kimi(), logins={}, env={"MOONSHOT_API_KEY": MOONSHOT_KEY},
                       base_url="https://api.moonshot.cn:8443/v1")
    assert settings.api_key is None
    with pytest.raises(InsecureEndpoint, match="port 8443"):
        settings.require_key()


def test_https_default_port_still_gets_the_key():
    for url in ("https://api.moonshot.ai/v1", "https://api.moonshot.cn:443/v1"):
        settings = resolve(Kimi(), logins={}, env={"MOONSHOT_API_KEY": MOONSHOT_KEY}, base_url=url)
        assert settings.require_key() == MOONSHOT_KEY
    with pytest.raises(MissingKeyError):
        resolve(Kimi(), logins={}, env={}).require_key()

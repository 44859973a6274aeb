"""pytest fixtures for the loopback Kimi server.

Registered through the ``pytest11`` entry point, so any project with kimi-jupyter
installed can write ``def test_x(kimi_server): ...``. Nothing is imported until a
fixture is used, so the plugin costs nothing in test runs that don't use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from .server import KimiServer

API_KEY = "sk-test-loopback"


def loopback_env(server: "KimiServer", key: str = API_KEY) -> dict[str, str]:
    """Environment variables that point a kernel at `server`, key and URL paired (SPEC §1)."""
    return {"KIMI_API_KEY": key, "KIMI_BASE_URL": server.base_url}


def kernel_env(server: "KimiServer", key: str = API_KEY) -> dict[str, str]:
    """A whole environment for a kernel that talks to `server`: this process's, without
    Moonshot's own variables (a real key must never reach a test kernel), with the paired
    key and URL, and matplotlib's inline backend (so figures show as outputs)."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("MOONSHOT_API_KEY", "MOONSHOT_BASE_URL", "KIMI_MODEL")}
    env.update(loopback_env(server, key), MPLBACKEND="module://matplotlib_inline.backend_inline")
    return env


def _serve() -> "KimiServer":
    from .server import KimiServer

    return KimiServer(api_key=API_KEY).start()


@pytest.fixture
def kimi_server() -> Iterator["KimiServer"]:
    """A fresh server per test: its own fault counters, request log and prefix cache."""
    srv = _serve()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def kimi_server_session() -> Iterator["KimiServer"]:
    """One server for the whole run; call `reset()` if a test depends on fault counters."""
    srv = _serve()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def kimi_env(kimi_server: "KimiServer", monkeypatch: pytest.MonkeyPatch) -> "KimiServer":
    """`kimi_server`, with KIMI_API_KEY / KIMI_BASE_URL pointing at it.

    The pair matters: a key from MOONSHOT_API_KEY is only ever sent to Moonshot's own
    API, while KIMI_API_KEY set together with KIMI_BASE_URL goes to that server.
    """
    monkeypatch.delenv("MOONSHOT_API_KEY", raising=False)
    monkeypatch.delenv("MOONSHOT_BASE_URL", raising=False)
    monkeypatch.setenv("KIMI_API_KEY", API_KEY)
    monkeypatch.setenv("KIMI_BASE_URL", kimi_server.base_url)
    return kimi_server

"""Offline stand-in for Moonshot's Kimi API: a loopback server with scripted scenarios.

    from kimi_jupyter.testing import KimiServer, Scenario, ScriptedTurn, ToolCallSpec, Fault

    with KimiServer(api_key="sk-test") as srv:
        client = OpenAI(api_key="sk-test", base_url=srv.base_url)

Also ``python -m kimi_jupyter.testing.server --port 8765`` and the pytest fixtures
``kimi_server`` / ``kimi_server_session`` (see `pytest_plugin`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .scenarios import RequestState, Fault, Scenario, ToolCallSpec, ScriptedTurn, builtin_scenarios, long_reasoning_scenario
from .wire import estimate_tokens

if TYPE_CHECKING:
    from .server import KimiServer

__all__ = [
    "RequestState", "Fault", "KimiServer", "Scenario", "ToolCallSpec", "ScriptedTurn",
    "builtin_scenarios", "estimate_tokens", "long_reasoning_scenario",
]


def __getattr__(name: str) -> Any:
    # Imported lazily so `python -m kimi_jupyter.testing.server` doesn't find the
    # module already in sys.modules (runpy's "unpredictable behaviour" warning).
    if name == "KimiServer":
        from .server import KimiServer

        return KimiServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

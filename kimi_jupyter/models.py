"""The model catalog, kept as data so a price change is a one-line edit.

Prices are USD per million tokens (Moonshot platform pricing, SPEC §7).
Unknown models still work; their cost is None.
"""

from __future__ import annotations

from dataclasses import dataclass

from .stream import Usage

WEB_SEARCH_USD = 0.005  # per `$web_search` call


@dataclass(frozen=True)
class ModelInfo:
    id: str
    context_window: int
    cache_hit: float | None  # USD / 1M cached prompt tokens
    cache_miss: float | None  # USD / 1M uncached prompt tokens
    output: float | None  # USD / 1M completion tokens
    thinking: bool = False  # streams reasoning_content; history must keep it
    thinking_switch: bool = False  # takes `thinking: {"type": "enabled"|"disabled"}`
    vision: bool = False


CATALOG: dict[str, ModelInfo] = {
    m.id: m
    for m in [
        ModelInfo("kimi-k2-thinking", 262_144, 0.15, 0.60, 2.50, thinking=True),
        ModelInfo("kimi-k2-thinking-turbo", 262_144, 0.15, 1.15, 8.00, thinking=True),
        ModelInfo("kimi-k2-0905-preview", 262_144, 0.15, 0.60, 2.50),
        ModelInfo("kimi-k2-turbo-preview", 262_144, 0.15, 1.15, 8.00),
        # Newer models switch thinking per request; prices not in our spec yet.
        ModelInfo("kimi-k2.5", 262_144, None, None, None, thinking=True, thinking_switch=True, vision=True),
        ModelInfo("kimi-k2.6", 262_144, None, None, None, thinking=True, thinking_switch=True, vision=True),
    ]
}

DEFAULT_CONTEXT_WINDOW = 262_144


def lookup(model: str) -> ModelInfo | None:
    """Catalog entry for a model id; tolerates an `org/` prefix as vLLM serves it."""
    if model in CATALOG:
        return CATALOG[model]
    short = model.rsplit("/", 1)[-1].lower()
    return CATALOG.get(short)


def is_thinking(model: str) -> bool:
    info = lookup(model)
    if info is not None:
        return info.thinking
    return "thinking" in model.lower()


def cost_usd(model: str, usage: Usage, web_searches: int = 0) -> float | None:
    """Cost of `usage` on `model`, or None when the price is unknown."""
    info = lookup(model)
    if info is None or info.cache_miss is None or info.cache_hit is None or info.output is None:
        return None
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    fresh = usage.prompt_tokens - cached
    total = (cached * info.cache_hit + fresh * info.cache_miss + usage.completion_tokens * info.output) / 1e6
    return total + web_searches * WEB_SEARCH_USD

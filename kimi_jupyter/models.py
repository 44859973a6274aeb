"""What each model accepts and costs: the catalog as data, and `resolve()`.

The catalog is what we know without asking (Moonshot's platform docs, SPEC §7,
prices checked on `PRICES_CHECKED`). `resolve()` merges what the server says in
`GET /v1/models` over it, because models keep moving: Moonshot retired the whole
original K2 line on 2026-05-25, and other providers drop ids on their own
schedule. Unknown models still work, with cost None and no rules enforced
beyond the server's own.

A `ModelInfo` is resolved once per request (the agent keeps it for every step
of the cell), so nothing here is on the streaming path.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import urlsplit

from .stream import Usage

PRICES_CHECKED = "2026-12-01"
WEB_SEARCH_USD = 0.005  # per `$web_search` call
DEFAULT_CONTEXT_WINDOW = 262_144
MOONSHOT_HOSTS = ("api.moonshot.ai", "api.moonshot.cn")

# "switchable": `thinking: {"type": "enabled"|"disabled"}` (Moonshot's "both");
# "only": always thinks, and a request that turns it off is a 400; "none": no reasoning;
# "unknown": a model we know nothing about, so nothing is checked.
Thinking = Literal["switchable", "only", "none", "unknown"]
_THINKING_TYPES: dict[str, Thinking] = {"both": "switchable", "only": "only", "no": "none"}


@dataclass(frozen=True)
class Prices:
    """USD per million tokens."""

    cache_hit: float
    cache_miss: float
    output: float


@dataclass(frozen=True)
class ModelInfo:
    id: str
    context_window: int = DEFAULT_CONTEXT_WINDOW
    thinking: Thinking = "unknown"
    efforts: tuple[str, ...] | None = None  # None: unknown; (): effort not accepted
    default_effort: str | None = None
    vision: bool = False
    prices: Prices | None = None
    # Moonshot fixes the temperature of its thinking models: the one value accepted
    # with thinking on, and with it off (None: any value in [0, 2]).
    temperature_thinking: float | None = None
    temperature_instant: float | None = None
    # K3 also takes tool_choice "required"; the K2 line only "auto" and "none".
    tool_choice_required: bool = False
    listed: bool = False  # the server's /v1/models named it
    # Moonshot's dialect and rules apply (its API, or a server listing Moonshot's fields,
    # like the loopback one); otherwise the OpenAI dialect of vLLM and SGLang.
    moonshot: bool = False

    @property
    def reasons(self) -> bool:
        """Streams reasoning_content (so every assistant message must keep it)."""
        return self.thinking in ("switchable", "only", "unknown")


@dataclass(frozen=True)
class Retirement:
    date: str
    successor: str


def _kimi(id: str, context: int, thinking: Thinking, prices: Prices, **kw: Any) -> ModelInfo:
    return ModelInfo(id, context, thinking, prices=prices, **kw)


CATALOG: dict[str, ModelInfo] = {
    m.id: m
    for m in [
        # K2.6 switches thinking on or off and has no effort levels.
        _kimi("kimi-k2.6", 262_144, "switchable", Prices(0.16, 0.95, 4.00), vision=True, efforts=(),
              temperature_thinking=1.0, temperature_instant=0.6),
        _kimi("kimi-k3", 1_048_576, "only", Prices(0.30, 3.00, 15.00), vision=True,
              efforts=("low", "high", "max"), default_effort="max",
              temperature_thinking=1.0, tool_choice_required=True),
        _kimi("kimi-k2.7-code", 262_144, "only", Prices(0.19, 0.95, 4.00), efforts=(),
              temperature_thinking=1.0),
        _kimi("kimi-k2.7-code-highspeed", 262_144, "only", Prices(0.38, 1.90, 8.00), efforts=(),
              temperature_thinking=1.0),
        # Moonshot's older generation models are still served; they never reason.
        ModelInfo("moonshot-v1-8k", 8_192, "none", efforts=()),
        ModelInfo("moonshot-v1-32k", 32_768, "none", efforts=()),
        ModelInfo("moonshot-v1-128k", 131_072, "none", efforts=()),
    ]
}

RETIRED: dict[str, Retirement] = {
    **{
        id: Retirement("2026-05-25", "kimi-k2.6 (or kimi-k3, the flagship)")
        for id in ("kimi-k2-thinking", "kimi-k2-thinking-turbo", "kimi-k2-0905-preview",
                   "kimi-k2-0711-preview", "kimi-k2-turbo-preview")
    },
    "kimi-latest": Retirement("2026-01-28", "kimi-k2.6"),
    "kimi-k2.5": Retirement("2026-08-31", "kimi-k2.6"),
}


def is_moonshot(base_url: str) -> bool:
    """Moonshot's own API (by host, so `https://evil.example/?api.moonshot.ai` is not)."""
    return (urlsplit(base_url).hostname or "").lower() in MOONSHOT_HOSTS


def from_listing(entry: dict[str, Any], base: ModelInfo) -> ModelInfo:
    """Overlay one `/v1/models` entry on what the catalog says.

    Moonshot sends `context_length`, `supports_image_in`, `supports_thinking_type` and
    `think_efforts`/`reasoning_efforts`; vLLM sends `max_model_len`; others send less.
    A field the server leaves out keeps the catalog's value.
    """
    changes: dict[str, Any] = {"listed": True}
    context = entry.get("context_length") or entry.get("max_model_len")
    if isinstance(context, int) and context > 0:
        changes["context_window"] = context
    if isinstance(entry.get("supports_image_in"), bool):
        changes["vision"] = entry["supports_image_in"]
    kind = _THINKING_TYPES.get(str(entry.get("supports_thinking_type")))
    if kind is None and entry.get("supports_reasoning") is False:
        kind = "none"
    if kind is not None:
        changes["thinking"] = kind
    efforts = entry.get("think_efforts") or entry.get("reasoning_efforts")
    if isinstance(efforts, dict) and "support" in efforts:
        valid = efforts.get("valid_efforts") or []
        changes["efforts"] = tuple(str(e) for e in valid) if efforts.get("support") else ()
        changes["default_effort"] = efforts.get("default_effort") if efforts.get("support") else None
    return replace(base, **changes)


def resolve(base_url: str, model: str, listing: dict[str, dict[str, Any]] | None = None) -> ModelInfo:
    """The rules and prices for `model` at `base_url`.

    Moonshot's rules and prices apply only to Moonshot's API: a vLLM serving
    `moonshotai/Kimi-K2.6` takes any temperature and bills nothing. The
    loopback test server speaks Moonshot's dialect, so it lists Moonshot's fields.
    """
    entry = (listing or {}).get(model)
    moonshot_like = is_moonshot(base_url) or (entry is not None and "supports_thinking_type" in entry)
    base = CATALOG.get(model) if moonshot_like else None
    if base is None:
        base = ModelInfo(model)
    if entry is not None:
        base = from_listing(entry, base)
    return replace(base, moonshot=moonshot_like)


def live_thinking_models(listing: dict[str, dict[str, Any]] | None) -> list[str]:
    """The models a server lists that reason (for "model not found" messages)."""
    out = []
    for model_id, entry in (listing or {}).items():
        info = from_listing(entry, CATALOG.get(model_id) or ModelInfo(model_id))
        if info.thinking in ("switchable", "only"):
            out.append(model_id)
    return sorted(out)


def cost_usd(info: ModelInfo, usage: Usage, web_searches: int = 0) -> float | None:
    """Cost of `usage` on the model, or None when its price is unknown."""
    if info.prices is None:
        return None
    p = info.prices
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    fresh = usage.prompt_tokens - cached
    total = (cached * p.cache_hit + fresh * p.cache_miss + usage.completion_tokens * p.output) / 1e6
    return total + web_searches * WEB_SEARCH_USD


def request_cost_bound(info: ModelInfo, prompt_tokens: int, cache_hit_rate: float, max_output_tokens: int) -> float | None:
    """The most one request can cost: the prompt at the expected cache-hit rate, plus a full
    `max_tokens` of output (reasoning and answer share it). None when prices are unknown."""
    if info.prices is None:
        return None
    rate = min(max(cache_hit_rate, 0.0), 1.0)
    cached = int(prompt_tokens * rate)
    return cost_usd(info, Usage(prompt_tokens=prompt_tokens, completion_tokens=max_output_tokens,
                                cached_tokens=cached))

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

import os
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from typing import Any, Literal
from urllib.parse import urlsplit

from .stream import Usage

# The date the catalog's facts (prices, rules, lineup, closing dates) were last checked
# against Moonshot's pricing pages and public notices (SPEC §7).
PRICES_CHECKED = "2026-12-06"
WEB_SEARCH_USD = 0.005  # per `$web_search` call
DEFAULT_CONTEXT_WINDOW = 262_144
MOONSHOT_HOSTS = ("api.moonshot.ai", "api.moonshot.cn")
# How long before an announced closing date a cell that uses the model says so.
CLOSING_NOTICE_DAYS = 30

# "switchable": `thinking: {"type": "enabled"|"disabled"}` (Moonshot's "both");
# "only": always thinks, and a request that turns it off is a 400; "none": no reasoning;
# "unknown": a model we know nothing about, so nothing is checked.
Thinking = Literal["switchable", "only", "none", "unknown"]
_THINKING_TYPES: dict[str, Thinking] = {"both": "switchable", "only": "only", "no": "none"}


@dataclass(frozen=True)
class Prices:
    """USD per million tokens. A prompt-cache write (K3 family, `prompt_cache_options`) is billed
    at the cache-miss price with the default 5-minute TTL and at twice it with the 1-hour TTL."""

    cache_hit: float
    cache_miss: float
    output: float


@dataclass(frozen=True)
class Closing:
    """A model's announced end: the day calls stop, what replaces it, and who said so."""

    date: str  # ISO date, in Moonshot's time zone (UTC+8)
    successor: str
    source: str


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
    # The K3 family bills prompt-cache writes and takes `prompt_cache_options` (SPEC §7).
    cache_options: bool = False
    listed: bool = False  # the server's /v1/models named it
    created: int = 0  # the listing's `created` (Unix time): newest first when choosing a successor
    # Moonshot's dialect and rules apply (its API, or a server listing Moonshot's fields,
    # like the loopback one); otherwise the OpenAI dialect of vLLM and SGLang.
    moonshot: bool = False
    closing: Closing | None = None  # announced closing date, where one is known


@dataclass(frozen=True)
class Retirement:
    date: str
    successor: str  # a model id: follow `successor_chain` for the live one


def _kimi(id: str, context: int, thinking: Thinking, prices: Prices, **kw: Any) -> ModelInfo:
    return ModelInfo(id, context, thinking, prices=prices, **kw)


# A reseller's notice, not yet Moonshot's own: Tencent CloudBase, 2026-10-24 (SPEC §7).
_K2_CLOSING = Closing("2027-01-07", "kimi-k3", "Tencent CloudBase notice of 2026-10-24")
_K3 = dict(vision=True, efforts=("low", "high", "max"), temperature_thinking=1.0, tool_choice_required=True,
           cache_options=True)

# Moonshot's live lineup, checked on PRICES_CHECKED. Data, so a launch or a closing is a
# one-line change here (and in testing/wire.py, which the loopback server serves).
CATALOG: dict[str, ModelInfo] = {
    m.id: m
    for m in [
        # K2.6 switches thinking on or off and has no effort levels.
        _kimi("kimi-k2.6", 262_144, "switchable", Prices(0.16, 0.95, 4.00), vision=True, efforts=(),
              temperature_thinking=1.0, temperature_instant=0.6, closing=_K2_CLOSING),
        _kimi("kimi-k3", 1_048_576, "only", Prices(0.30, 3.00, 15.00), default_effort="max", **_K3),
        # Launched 2026-10-23: the flagship. No `thinking` field; effort from the listing's default.
        _kimi("kimi-k3.1-pro", 1_048_576, "only", Prices(0.20, 2.00, 10.00), **_K3),
        _kimi("kimi-k3.1-pro-highspeed", 1_048_576, "only", Prices(0.20, 4.00, 20.00), **_K3),
        _kimi("kimi-k2.7-code", 262_144, "only", Prices(0.19, 0.95, 4.00), efforts=(),
              temperature_thinking=1.0, closing=_K2_CLOSING),
        _kimi("kimi-k2.7-code-highspeed", 262_144, "only", Prices(0.38, 1.90, 8.00), efforts=(),
              temperature_thinking=1.0, closing=_K2_CLOSING),
    ]
}

# Closed ids answer 404 "Not found the model X or Permission denied". The successor is
# followed (`successor_chain`) until a model that is still served.
RETIRED: dict[str, Retirement] = {
    **{
        id: Retirement("2026-05-25", "kimi-k2.6")
        for id in ("kimi-k2-thinking", "kimi-k2-thinking-turbo", "kimi-k2-0905-preview",
                   "kimi-k2-0711-preview", "kimi-k2-turbo-preview")
    },
    "kimi-latest": Retirement("2026-01-28", "kimi-k2.6"),
    "kimi-k2.5": Retirement("2026-08-31", "kimi-k2.6"),
    **{id: Retirement("2026-08-31", "kimi-k2.6") for id in ("moonshot-v1-8k", "moonshot-v1-32k", "moonshot-v1-128k")},
}


def successor_of(model: str) -> str | None:
    """The model that replaces `model`, by the catalog: its retirement, else its announced closing."""
    if model in RETIRED:
        return RETIRED[model].successor
    closing = CATALOG[model].closing if model in CATALOG else None
    return closing.successor if closing else None


def successor_chain(model: str) -> list[str]:
    """`model`'s successors, nearest first (kimi-k2.5 → kimi-k2.6 → kimi-k3), without loops."""
    chain: list[str] = []
    nxt = successor_of(model)
    while nxt is not None and nxt not in chain and nxt != model:
        chain.append(nxt)
        nxt = successor_of(nxt)
    return chain


def today() -> date:
    """Today's date in UTC. `KIMI_JUPYTER_TODAY=YYYY-MM-DD` pins it, so tests and recorded
    lessons show the same closing notices whatever day they run."""
    pinned = os.environ.get("KIMI_JUPYTER_TODAY")
    if pinned:
        try:
            return date.fromisoformat(pinned)
        except ValueError:
            pass  # a malformed pin is ignored: the real date is never wrong to use
    return datetime.now(timezone.utc).date()


def closing_soon(info: "ModelInfo", on: date | None = None) -> Closing | None:
    """The model's announced closing, when it is at most CLOSING_NOTICE_DAYS away (or past)."""
    if info.closing is None:
        return None
    days = (date.fromisoformat(info.closing.date) - (on or today())).days
    return info.closing if days <= CLOSING_NOTICE_DAYS else None


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
    if isinstance(entry.get("created"), int) and not isinstance(entry.get("created"), bool):
        changes["created"] = entry["created"]
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
    """The models a server lists that reason (for "model not found" messages), newest first."""
    infos = [from_listing(entry, CATALOG.get(model_id) or ModelInfo(model_id))
             for model_id, entry in (listing or {}).items()]
    thinking = [i for i in infos if i.thinking in ("switchable", "only")]
    return [i.id for i in sorted(thinking, key=lambda i: (-i.created, i.id))]


def pick_successor(model: str, listing: dict[str, dict[str, Any]] | None) -> str | None:
    """The best model the server lists in place of `model`, which it no longer serves.

    The catalog's successor chain comes first (kimi-k2.6 → kimi-k3); failing that,
    the newest listed thinking model (every Kimi thinking model takes tools). None
    when the server lists nothing usable, or has no listing at all.
    """
    if not listing:
        return None
    for candidate in successor_chain(model):
        if candidate in listing:
            return candidate
    newest = [m for m in live_thinking_models(listing) if m != model]
    return newest[0] if newest else None


def price_text(info: ModelInfo) -> str:
    """The model's prices in one phrase, for notices."""
    p = info.prices
    if p is None:
        return "its price is unknown to kimi-jupyter, so costs show as n/a"
    # No "$": a notice is markdown, where two dollar signs pair up as math.
    return f"USD {p.cache_hit:.2f} cached / {p.cache_miss:.2f} uncached prompt / {p.output:.2f} output per million tokens"


def cost_usd(info: ModelInfo, usage: Usage, web_searches: int = 0, cache_ttl: str | None = None) -> float | None:
    """Cost of `usage` on the model, or None when its price is unknown.

    Prompt-cache writes (K3 family) are billed apart from reads, and only where the
    server reported them: at the miss price with the default 5-minute TTL, twice it
    with `cache_ttl="1h"` (SPEC §7).
    """
    if info.prices is None:
        return None
    p = info.prices
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    writes = min(usage.cache_write_tokens, usage.prompt_tokens - cached)
    fresh = usage.prompt_tokens - cached - writes
    write_price = p.cache_miss * (2 if cache_ttl == "1h" else 1)
    total = (cached * p.cache_hit + fresh * p.cache_miss + writes * write_price
             + usage.completion_tokens * p.output) / 1e6
    return total + web_searches * WEB_SEARCH_USD


def request_cost_bound(info: ModelInfo, prompt_tokens: int, cache_hit_rate: float, max_output_tokens: int,
                       cache_ttl: str | None = None) -> float | None:
    """The most one request can cost: the prompt at the expected cache-hit rate, plus a full
    `max_tokens` of output (reasoning and answer share it). None when prices are unknown.
    With the 1-hour cache TTL every uncached token may be a (dearer) write."""
    if info.prices is None:
        return None
    rate = min(max(cache_hit_rate, 0.0), 1.0)
    cached = int(prompt_tokens * rate)
    writes = prompt_tokens - cached if cache_ttl == "1h" else 0
    return cost_usd(info, Usage(prompt_tokens=prompt_tokens, completion_tokens=max_output_tokens,
                                cached_tokens=cached, cache_write_tokens=writes), cache_ttl=cache_ttl)

"""Settings: the `Kimi` traitlets Configurable and the precedence rules of SPEC §1.

Light on purpose: traitlets is already loaded by IPython, and nothing heavy is
imported here, so `%load_ext kimi_jupyter` stays fast.

Keys are scoped to a host. A key from `MOONSHOT_API_KEY`, `KIMI_API_KEY` or a
plain `%kimi login` goes only to Moonshot's own API; a key for another server is
given together with that server (`%kimi login --base-url URL`, `Kimi.api_key`
with `Kimi.base_url`, `KIMI_API_KEY` with `KIMI_BASE_URL`). So a notebook
written by someone else can point `--base-url` anywhere without collecting the
reader's key.

Moonshot's own hosts are reached only over https on the default port: any other
scheme or port for `api.moonshot.ai` / `api.moonshot.cn` (a typo'd `http://`, a
`:8080` a notebook suggests) is refused before anything is sent, whichever key
would go there, because the key would cross the network in cleartext or reach
whatever listens on that port.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any, Mapping
from urllib.parse import urlsplit

from traitlets import Bool, CaselessStrEnum, Dict, Float, Int, List, TraitError, Unicode, validate
from traitlets.config import Configurable

from .catalog import MOONSHOT_HOSTS, is_moonshot
from .errors import KimiError, MissingKeyError, mask

DEFAULT_BASE_URL = "https://api.moonshot.ai/v1"
# The default until the server stops listing it (announced: 2027-01-07); then the session
# moves to its successor from the catalog (`Session.choose_model`). Never swapped when named.
DEFAULT_MODEL = "kimi-k2.6"
# Sent as the bearer token where no key belongs: the SDK needs some value, and
# without one it would fall back to OPENAI_API_KEY, a key for yet another host.
NO_KEY = "no-key"


class Kimi(Configurable):
    """Settings for `%%kimi`. Use `%config Kimi.model = "..."` or `c.Kimi.…` in ipython_config.py."""

    api_key = Unicode(
        None, allow_none=True,
        help="API key. Alone it goes to Moonshot's API only; with Kimi.base_url, to that server only.",
    ).tag(config=True)
    base_url = Unicode(None, allow_none=True, help="OpenAI-compatible endpoint, e.g. a vLLM server.").tag(
        config=True
    )
    model = Unicode(
        None, allow_none=True,
        help=f"Model id. Unset: {DEFAULT_MODEL}, or its successor once the server no longer lists it.",
    ).tag(config=True)
    thinking = Bool(True, help="Think before answering. Off is sent only to models that can switch it.").tag(
        config=True
    )
    effort = Unicode(
        None, allow_none=True, help="Reasoning effort, e.g. low | high | max (None: the model's default)."
    ).tag(config=True)
    keep_thinking = Bool(
        True, help="Ask the server to use the reasoning kept in the history (`thinking.keep: \"all\"`)."
    ).tag(config=True)
    auto_run = Bool(False, help="Run model-written code without asking.").tag(config=True)
    trust_tool_output = Bool(
        False,
        help="Let `-y`, `Kimi.auto_run` and the answers `a`/`s` also cover code the model writes after "
        "reading untrusted text in the same cell (a `$web_search` result, a result of an MCP tool "
        "that is not read-only, a file or URL that a tool read). Off (the default): such code is "
        "asked about again, and refused where nobody can be asked, since that text can carry "
        "instructions for the model (prompt injection).",
    ).tag(config=True)
    max_steps = Int(50, help="At most this many tool calls per cell.").tag(config=True)
    max_retries = Int(5, help="Retries for rate limits, overloads and 5xx answers.").tag(config=True)
    max_tool_output = Int(8000, help="Characters of tool output sent back to the model.").tag(config=True)
    max_tokens = Int(32_000, help="max_tokens per request (reasoning + answer must fit).").tag(config=True)
    temperature = Float(
        None, allow_none=True, help="Sampling temperature. None: not sent, so the model's fixed value applies."
    ).tag(config=True)
    timeout = Float(600.0, help="Seconds to wait for the next bytes of a response.").tag(config=True)
    tool_timeout = Float(
        600.0, help="Seconds one call of model-written code may run before it is stopped (that call only)."
    ).tag(config=True)
    view = CaselessStrEnum(
        ["auto", "widget", "static", "terminal"], "auto", help="How a cell shows the stream."
    ).tag(config=True)
    max_images = Int(3, help="Figures kept as images in the history for vision models.").tag(config=True)
    secrets = List(
        Unicode(), help="Values (passwords, tokens) redacted from tool output before it is shown or sent."
    ).tag(config=True)
    cache_ttl = CaselessStrEnum(
        ["5m", "1h"], None, allow_none=True,
        help='Prompt-cache TTL sent to the K3 family (`prompt_cache_options`): "1h" keeps a big shared '
             'context cached across long pauses, but writes cost twice the miss price. None: not sent (5m).',
    ).tag(config=True)
    tutor = Bool(
        False, help="Tutor mode for every cell: hints on a ladder, not answers; the code tool off unless "
                    "the instructor's notes (TUTOR.md, or notebook metadata kimi_jupyter.tutor) allow it.",
    ).tag(config=True)
    max_cost_usd = Float(
        None, allow_none=True,
        help="Spending cap per cell in USD: the loop stops before a request that could pass it (None: no cap).",
    ).tag(config=True)

    # A bad `%config` value is refused at once, with the trait's name, rather than
    # failing later inside a request.
    @validate("max_steps", "max_retries", "max_images")
    def _not_negative(self, proposal: Any) -> Any:
        if proposal["value"] < 0:
            raise TraitError(f"Kimi.{proposal['trait'].name} must be 0 or more (got {proposal['value']}).")
        return proposal["value"]

    @validate("max_tokens", "max_tool_output")
    def _positive_int(self, proposal: Any) -> Any:
        if proposal["value"] < 1:
            raise TraitError(f"Kimi.{proposal['trait'].name} must be at least 1 (got {proposal['value']}).")
        return proposal["value"]

    @validate("timeout", "max_cost_usd", "tool_timeout")
    def _positive(self, proposal: Any) -> Any:
        value = proposal["value"]
        if value is not None and not value > 0:
            raise TraitError(f"Kimi.{proposal['trait'].name} must be more than 0 (got {value}).")
        return value

    @validate("temperature")
    def _temperature(self, proposal: Any) -> Any:
        value = proposal["value"]
        if value is not None and not 0.0 <= value <= 2.0:
            raise TraitError(f"Kimi.temperature must be between 0 and 2, or None (got {value}).")
        return value

    @validate("base_url")
    def _base_url(self, proposal: Any) -> Any:
        value = proposal["value"]
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise TraitError(f"Kimi.base_url needs an http(s) URL, like http://localhost:8000/v1 (got {value!r}).")
        return value

    @validate("effort")
    def _effort(self, proposal: Any) -> Any:
        value = proposal["value"]
        return value.strip().lower() or None if isinstance(value, str) else value

    tier = Int(
        1, help="Your Moonshot rate-limit tier (0-5, by cumulative top-up): `kimi_jupyter.map` keeps within its "
                "concurrency and requests per minute.",
    ).tag(config=True)

    @validate("tier")
    def _tier(self, proposal: Any) -> Any:
        if not 0 <= proposal["value"] <= 5:
            raise TraitError(f"Kimi.tier must be 0 to 5, Moonshot's rate-limit tiers (got {proposal['value']}).")
        return proposal["value"]

    mcp_servers = Dict(
        help='MCP servers whose tools the model may call (as server__tool): '
             '{"name": {"command": ["prog", "arg"], "env": {...}}} (stdio) or '
             '{"name": {"url": "http://.../mcp", "headers": {...}}} (streamable HTTP). '
             'Optional per server: "timeout" (s per call, 120), "start_timeout" (s, 30), "cwd".',
    ).tag(config=True)

    @validate("mcp_servers")
    def _check_mcp_servers(self, proposal: Any) -> Any:
        from .mcp_spec import parse_servers  # light: no `mcp` import

        try:
            parse_servers(proposal["value"])
        except ValueError as exc:
            raise TraitError(str(exc)) from None
        return proposal["value"]

    def __repr__(self) -> str:  # never show the key
        return f"<Kimi model={self.model!r} base_url={self.base_url!r} api_key={mask(self.api_key)}>"


def checked(trait: str, value: Any) -> Any:
    """`value` as the `Kimi.<trait>` validator accepts it (normalised), or its TraitError.

    Per-cell options go through here, so `--max-steps -1` and `%config Kimi.max_steps = -1`
    are refused by the same rule: each setting's checks live on its trait alone.
    """
    probe = Kimi()
    setattr(probe, trait, value)
    return getattr(probe, trait)


def origin(url: str) -> str:
    """scheme://host:port, the unit a key is scoped to."""
    parts = urlsplit(url)
    scheme = (parts.scheme or "https").lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


class InsecureEndpoint(KimiError):
    """A Moonshot host over plain http or on another port: refused, nothing is sent."""


def moonshot_url_problem(url: str) -> str | None:
    """Why `url` may not be used for Moonshot's API, or None (not Moonshot, or https on 443).

    Decided by the parsed host, like `is_moonshot`, so `https://evil.example/?api.moonshot.ai`
    is simply another server, never Moonshot's.
    """
    parts = urlsplit(url)
    if not is_moonshot(url):
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() != "https":
        return (f"{parts.scheme or 'no scheme'}://{host} is Moonshot's API without https, "
                "so the key would cross the network in cleartext")
    try:
        port = parts.port
    except ValueError:
        return f"the port in {url!r} is not a number"
    if port not in (None, 443):
        return f"port {port} is not Moonshot's API (it answers on https's port, 443)"
    return None


def check_moonshot_url(url: str) -> None:
    """Raise `InsecureEndpoint` with the reason and the fix, for a Moonshot URL that isn't https:443."""
    problem = moonshot_url_problem(url)
    if problem is not None:
        host = (urlsplit(url).hostname or "").lower()
        raise InsecureEndpoint(
            f"Refused to contact {host}: {problem}. Moonshot's API is only reached at "
            f"https://{host}/v1 (the default port); use `--base-url https://{host}/v1` "
            "or leave the base URL unset. Nothing was sent."
        )


@dataclass(frozen=True)
class KeySource:
    """One place a key came from, and the host it may be sent to."""

    name: str  # "%kimi login", "Kimi.api_key", "MOONSHOT_API_KEY", "KIMI_API_KEY"
    key: str = field(repr=False)
    base_url: str | None = None  # the server it was given with; None: Moonshot's API

    def applies_to(self, base_url: str) -> bool:
        if self.base_url is None:  # a Moonshot key: only Moonshot's hosts, only over https:443
            return is_moonshot(base_url) and moonshot_url_problem(base_url) is None
        return origin(self.base_url) == origin(base_url)

    @property
    def host(self) -> str:
        if self.base_url is None:
            return " / ".join(MOONSHOT_HOSTS)
        parts = urlsplit(self.base_url)
        return parts.netloc or self.base_url


def key_sources(
    cfg: Kimi, logins: Mapping[str | None, str], env: Mapping[str, str]
) -> list[KeySource]:
    """Every configured key in precedence order (SPEC §1), each with its scope."""
    out = [KeySource("%kimi login", key, url) for url, key in logins.items() if key and url is not None]
    if logins.get(None):
        out.append(KeySource("%kimi login", logins[None]))
    if cfg.api_key:
        out.append(KeySource("Kimi.api_key", cfg.api_key, cfg.base_url or None))
    if env.get("MOONSHOT_API_KEY"):
        out.append(KeySource("MOONSHOT_API_KEY", env["MOONSHOT_API_KEY"]))
    if env.get("KIMI_API_KEY"):
        out.append(KeySource("KIMI_API_KEY", env["KIMI_API_KEY"], env.get("KIMI_BASE_URL") or None))
    return out


@dataclass
class Settings:
    """The effective settings for one request, after precedence is applied (SPEC §1).

    `base_url`, `model` and the key come from several sources (options, `Kimi.*`,
    the environment). Every other field is the `Kimi` trait of the same name unless
    the request overrides it: `resolve()` derives that list from these fields, so a
    new setting is declared here and as a trait, nowhere else.
    """

    base_url: str
    model: str
    auto_run: bool
    max_steps: int
    max_retries: int
    max_tool_output: int
    max_tokens: int
    temperature: float | None
    timeout: float
    view: str
    max_images: int
    thinking: bool
    effort: str | None
    keep_thinking: bool
    max_cost_usd: float | None
    tool_timeout: float
    cache_ttl: str | None
    tutor: bool
    trust_tool_output: bool = False
    # The model came from `-m`, `Kimi.model` or KIMI_MODEL. One the user named is never
    # swapped; the default moves to its successor when the server stops listing it.
    model_given: bool = True
    # Which of thinking/effort/temperature this cell asked for itself (`--no-thinking`,
    # `--effort`, `-t`): those are refused when the model can't take them, while a
    # session-wide `Kimi.thinking = False` just isn't sent to a model that always thinks.
    explicit: frozenset[str] = frozenset()
    api_key: str | None = field(default=None, repr=False)
    key_source: KeySource | None = field(default=None, repr=False)
    keys: tuple[KeySource, ...] = field(default=(), repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def require_key(self) -> str:
        """The key for this host, or a clear error. Other servers (a local vLLM) often need none.

        Every request asks for its key here first, so a Moonshot host over http or on
        another port is refused before any byte leaves, with or without a key.
        """
        check_moonshot_url(self.base_url)
        if self.api_key:
            return self.api_key
        if is_moonshot(self.base_url):
            raise MissingKeyError()
        return NO_KEY

    def all_secrets(self) -> tuple[str, ...]:
        """Everything to redact from what is shown, saved or sent to the model."""
        return tuple(s.key for s in self.keys) + self.secrets

    def describe(self) -> dict[str, Any]:
        """For `%kimi config`: every setting, keys masked, and the host each key goes to."""
        hidden = {"api_key", "key_source", "keys", "secrets", "explicit", "model_given"}
        out = {k: v for k, v in self.__dict__.items() if k not in hidden}
        source = self.key_source
        out["api_key"] = f"{mask(self.api_key)} (from {source.name})" if source else "(none for this host)"
        for s in self.keys:
            out[f"key: {s.name}"] = f"{mask(s.key)} → {s.host}"
        out["secrets"] = f"{len(self.secrets)} value(s) redacted" if self.secrets else "(none)"
        return out


def _first(*values: Any) -> Any:
    for v in values:
        if v not in (None, ""):
            return v
    return None


# Fields of Settings that are not simply "the trait of the same name".
_RESOLVED_ELSEWHERE = {"base_url", "model", "model_given", "explicit", "api_key", "key_source", "keys", "secrets"}
# Per-request choices that are refused, not silently dropped, when the model can't take them.
_EXPLICIT = ("thinking", "effort", "temperature")


def resolve(
    cfg: Kimi,
    *,
    logins: Mapping[str | None, str] | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Apply SPEC §1: per-request option, then `Kimi.*`, then environment, then default.

    `overrides` are `Settings` fields given for this request; None means "not given".
    """
    env = os.environ if env is None else env
    unknown = set(overrides) - {f.name for f in fields(Settings)}
    if unknown:
        raise TypeError(f"not a setting: {', '.join(sorted(unknown))}")
    url = (
        _first(overrides.get("base_url"), cfg.base_url, env.get("MOONSHOT_BASE_URL"), env.get("KIMI_BASE_URL"))
        or DEFAULT_BASE_URL
    )
    keys = key_sources(cfg, logins or {}, env)
    source = next((s for s in keys if s.applies_to(url)), None)
    traits = {
        f.name: overrides[f.name] if overrides.get(f.name) is not None else getattr(cfg, f.name)
        for f in fields(Settings)
        if f.name not in _RESOLVED_ELSEWHERE
    }
    model = _first(overrides.get("model"), cfg.model, env.get("KIMI_MODEL"))
    return Settings(
        base_url=url,
        model=model or DEFAULT_MODEL,
        model_given=model is not None,
        explicit=frozenset(k for k in _EXPLICIT if overrides.get(k) is not None),
        api_key=source.key if source else None,
        key_source=source,
        keys=tuple(keys),
        secrets=tuple(s for s in cfg.secrets if s),
        **traits,
    )

"""Settings: the `Kimi` traitlets Configurable and the precedence rules of SPEC §1.

Light on purpose: traitlets is already loaded by IPython, and nothing heavy is
imported here, so `%load_ext kimi_jupyter` stays fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from traitlets import Bool, CaselessStrEnum, Float, Int, Unicode
from traitlets.config import Configurable

from .errors import MissingKeyError, mask

DEFAULT_BASE_URL = "https://api.moonshot.ai/v1"
DEFAULT_MODEL = "kimi-k2-thinking"


class Kimi(Configurable):
    """Settings for `%%kimi`. Use `%config Kimi.model = "..."` or `c.Kimi.…` in ipython_config.py."""

    api_key = Unicode(
        None, allow_none=True, help="Moonshot API key. Prefer `%kimi login` or MOONSHOT_API_KEY."
    ).tag(config=True)
    base_url = Unicode(None, allow_none=True, help="OpenAI-compatible endpoint, e.g. a vLLM server.").tag(
        config=True
    )
    model = Unicode(None, allow_none=True, help=f"Model id (default {DEFAULT_MODEL}).").tag(config=True)
    auto_run = Bool(False, help="Run model-written code without asking.").tag(config=True)
    max_steps = Int(50, help="At most this many tool calls per cell.").tag(config=True)
    max_retries = Int(5, help="Retries for rate limits, overloads and 5xx answers.").tag(config=True)
    max_tool_output = Int(8000, help="Characters of tool output sent back to the model.").tag(config=True)
    max_tokens = Int(32_000, help="max_tokens per request (reasoning + answer must fit).").tag(config=True)
    temperature = Float(1.0, help="Sampling temperature (Kimi recommends 1.0 for thinking models).").tag(
        config=True
    )
    timeout = Float(600.0, help="Seconds to wait for the next bytes of a response.").tag(config=True)
    view = CaselessStrEnum(
        ["auto", "widget", "static", "terminal"], "auto", help="How a cell shows the stream."
    ).tag(config=True)
    max_images = Int(3, help="Figures kept as images in the history for vision models.").tag(config=True)

    def __repr__(self) -> str:  # never show the key
        return f"<Kimi model={self.model!r} base_url={self.base_url!r} api_key={mask(self.api_key)}>"


@dataclass
class Settings:
    """The effective settings for one request, after precedence is applied."""

    base_url: str
    model: str
    auto_run: bool
    max_steps: int
    max_retries: int
    max_tool_output: int
    max_tokens: int
    temperature: float
    timeout: float
    view: str
    max_images: int
    api_key: str | None = field(default=None, repr=False)

    def require_key(self) -> str:
        """The key, or a clear error. Servers other than Moonshot's (a local vLLM) often need none."""
        if self.api_key:
            return self.api_key
        if is_moonshot(self.base_url):
            raise MissingKeyError()
        return "EMPTY"

    def describe(self) -> dict[str, Any]:
        """For `%kimi config`: every setting, the key masked."""
        out = {k: v for k, v in self.__dict__.items() if k != "api_key"}
        out["api_key"] = mask(self.api_key)
        return out


def is_moonshot(base_url: str) -> bool:
    return "moonshot.ai" in base_url or "moonshot.cn" in base_url


def _first(*values: Any) -> Any:
    for v in values:
        if v not in (None, ""):
            return v
    return None


def resolve(
    cfg: Kimi,
    *,
    login_key: str | None = None,
    base_url: str | None = None,
    model: str | None = None,
    auto_run: bool | None = None,
    max_steps: int | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    env: dict[str, str] | None = None,
) -> Settings:
    """Apply SPEC §1: per-cell option, then `Kimi.*`, then environment, then default."""
    env = os.environ if env is None else env
    return Settings(
        api_key=_first(login_key, cfg.api_key, env.get("MOONSHOT_API_KEY"), env.get("KIMI_API_KEY")),
        base_url=_first(base_url, cfg.base_url, env.get("MOONSHOT_BASE_URL"), env.get("KIMI_BASE_URL"))
        or DEFAULT_BASE_URL,
        model=_first(model, cfg.model, env.get("KIMI_MODEL")) or DEFAULT_MODEL,
        auto_run=bool(auto_run) or cfg.auto_run,
        max_steps=max_steps if max_steps is not None else cfg.max_steps,
        max_retries=cfg.max_retries,
        max_tool_output=cfg.max_tool_output,
        max_tokens=max_tokens if max_tokens is not None else cfg.max_tokens,
        temperature=temperature if temperature is not None else cfg.temperature,
        timeout=cfg.timeout,
        view=cfg.view,
        max_images=cfg.max_images,
    )

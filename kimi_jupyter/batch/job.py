"""One `map` call, resolved once: settings, model rules, each item's request body and cache key.

Every item's body is built by `wire.request_body`, the same function the agent
uses for `%%kimi`, from the same resolved model and plan, so the key the cache
stores is the hash of what goes on the wire, and the Batch API file holds exactly
the requests the online pool would send.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..core import wire
from ..core.catalog import ModelInfo
from ..core.options import Options, usage_error
from ..core.session import Session
from ..core.settings import Settings
from .cache import Cache, body_key
from .items import Item
from .schema import Validator, describe


@dataclass
class Job:
    session: Session
    settings: Settings  # for the items: no per-item retries (the pool retries) and no per-item cap
    info: ModelInfo
    plan: wire.Plan
    options: Options
    system: str | None
    tools: bool
    validate: Validator | None
    cache: Cache
    max_retries: int
    max_cost: float | None

    @property
    def json(self) -> bool:
        return self.options.format == "json"

    def messages(self, item: Item) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.system:
            out.append({"role": "system", "content": self.system})
        out.append({"role": "user", "content": item.prompt})
        return out

    def body(self, item: Item, *, stream: bool = True) -> dict[str, Any]:
        body = wire.request_body(self.info, self.settings, self.plan, self.messages(item), json_mode=self.json,
                                 moonshot=self.info.moonshot)
        if self.tools:
            body["x-kimi-jupyter-tools"] = "python"  # keys only: a tool-using item is a different request
        if not stream:
            for name in ("stream", "stream_options", "x-kimi-jupyter-tools"):
                body.pop(name, None)
        return body

    def key(self, item: Item) -> str:
        return body_key(self.body(item))

    def prompt_tokens(self, item: Item) -> int:
        """A cheap estimate (~4 characters a token), for pacing by TPM and bounding the cost."""
        return (len(item.prompt) + len(self.system or "")) // 4 + 8


def make_job(
    session: Session, options: Options, *, schema: Any, tools: bool, cache: Any, max_cost: float | None,
    validate: Validator | None,
) -> Job:
    from .cache import default_folder

    settings = session.settings(**options.settings_overrides())
    settings.require_key()  # a missing key is one clear message before anything is sent
    # The default moves to its successor here too, once, and says so (as a cell would).
    settings, info, notices = session.choose_model(settings)
    for note in notices:
        print(note)
    plan = wire.check(info, settings, moonshot=info.moonshot)
    system = options.system
    if options.format == "json":
        shape = describe(schema)
        note = "Answer with one JSON object only." + (f" It must match this JSON schema: {shape}" if shape else "")
        system = f"{system}\n\n{note}" if system else note
    elif schema is not None:
        raise usage_error('schema= needs format="json".')
    cap = max_cost if max_cost is not None else settings.max_cost_usd
    folder = default_folder() if cache is True or cache is None else (None if cache is False else cache)
    item_settings = dataclasses.replace(settings, max_retries=0, max_cost_usd=None)
    return Job(session, item_settings, info, plan, options, system, tools, validate,
               Cache(folder, settings.base_url, info.id), settings.max_retries, cap)

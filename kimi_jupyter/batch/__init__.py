"""Many prompts at once: `kimi_jupyter.map` and Moonshot's Batch API.

- `items`: what is mapped over (lists, iterables with a template, Series, DataFrames);
- `job`: one call resolved once (settings, model rules, request bodies, cache keys);
- `limits`: the account's tiers and the pacer shared by the pool;
- `pool`: the online workers, each item through the agent like one `%%kimi` cell;
- `batch_api`: `/v1/files` + `/v1/batches` for jobs past the rate limits;
- `cache`: the append-only JSONL that makes a run resumable;
- `schema`: `format="json"` parsing and validation;
- `results`, `progress`: what the user gets and sees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .batch_api import batch_status
    from .results import ItemResult, Results
    from .run import map

# Lazy, so the loopback server can use `limits` without importing IPython or the agent.
_LAZY = {"map": "run", "batch_status": "batch_api", "Results": "results", "ItemResult": "results"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ItemResult", "Results", "batch_status", "map"]

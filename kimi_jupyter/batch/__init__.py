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

from .results import ItemResult, Results
from .run import map  # noqa: A004 - the public name


def batch_status(*args: object, **kwargs: object) -> object:
    """See `kimi_jupyter.batch.batch_api.batch_status`."""
    from .batch_api import batch_status as _status

    return _status(*args, **kwargs)  # type: ignore[arg-type]


__all__ = ["ItemResult", "Results", "batch_status", "map"]

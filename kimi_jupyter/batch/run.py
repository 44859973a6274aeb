"""`kimi_jupyter.map(...)`: one prompt over many items, within the account's limits, resumable.

The order of work: prepare the prompts, resolve the model and build each
item's request body once (`job`), answer what the cache already holds, send
the rest (online through the pool, or as one Batch API job), and return a
`Results` in input order, with one summary line that stays in the notebook.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from ..core.errors import KimiError
from ..core.options import Options, usage_error
from ..core.session import Session, default_session
from ..ipython.usage import usage_errors
from . import progress as progress_mod
from .items import Item, prepare
from .job import Job, make_job
from .limits import MAX_WORKERS
from .limits import tier as tier_limits
from .pool import Pool, from_entry, not_run
from .results import ItemResult, Results
from .schema import validator

MODES = ("online", "batch")


@usage_errors()  # a bad option or item: one line in IPython, as from `%%kimi`
def map(  # noqa: A001 - `kimi_jupyter.map` is the public name the issue asks for
    items: Any,
    prompt: str | None = None,
    *,
    model: str | None = None,
    system: str | None = None,
    format: str = "text",  # noqa: A002 - the magic's `-f/--format`
    schema: Any = None,
    concurrency: int | None = None,
    max_cost: float | None = None,
    cache: Any = True,
    mode: str = "online",
    progress: bool | str = True,
    tools: bool = False,
    session: Session | None = None,
    wait: bool = True,
    poll_interval: float = 30.0,
    completion_window: str = "24h",
    ask: Callable[[str], str] | None = None,
    **options: Any,
) -> Results:
    """Run `prompt` over every item, each as its own conversation; return `Results` in input order.

    - `items`: a list of prompts; any iterable or pandas Series with a template naming
      `{item}`; or a DataFrame with a template naming its columns (`"Classify: {review}"`).
    - `format="json"` (with `schema=` a pydantic model or a JSON schema) parses and validates
      each answer; one that fails is that item's `error`, not the batch's.
    - Pacing follows the account's tier (`Kimi.tier`, SPEC §7): concurrency and requests per
      minute; a 429 pauses the whole pool. `concurrency=` lowers it further.
    - `cache`: a folder (default: see `kimi_jupyter.batch.cache.default_folder`), or False.
      Every answer is written as it lands; the same call again sends only what is missing.
    - `max_cost` (USD): stops before a request that could take the batch past it.
    - `mode="batch"`: send the missing items as one Moonshot Batch API job; calling again
      (or `kimi_jupyter.batch_status()`) collects it, also after a kernel restart.
    - `tools=True`: each item may run model-written code, one at a time, with approval.
    Other keyword arguments are `chat()`'s options (`max_tokens`, `thinking`, `effort`, ...).
    """
    if mode not in MODES:
        raise usage_error(f"mode must be one of {', '.join(MODES)} (got {mode!r}).")
    if concurrency is not None and concurrency < 1:
        raise usage_error(f"concurrency must be at least 1 (got {concurrency}).")
    if max_cost is not None and not max_cost > 0:
        raise usage_error(f"max_cost must be a positive number of US dollars (got {max_cost}).")
    if mode == "batch" and tools:
        raise usage_error("The Batch API runs no tools: use tools=True with mode=\"online\".")
    unknown = {"new", "out", "yes", "tools", "web_search"} & set(options)
    if unknown:
        raise usage_error(f"map() takes no {', '.join(sorted(unknown))}: every item is a new conversation.")
    opts = Options.create(model=model, system=system, format=format, tools=tools, **options)
    prepared = prepare(items, prompt)
    session = session or default_session()
    shell = _shell()
    job = make_job(session, opts, schema=schema, tools=tools, cache=cache, max_cost=max_cost,
                   validate=validator(schema))
    started = time.monotonic()
    slots: list[ItemResult | None] = [None] * len(prepared)
    pending: list[tuple[Item, str]] = []
    counts = progress_mod.Counts(total=len(prepared))
    for item in prepared:
        key = job.key(item)
        entry = job.cache.get(key)
        if entry is not None:
            slots[item.position] = from_entry(item, entry, job, cached=True)
            counts.cached += 1
            counts.done += slots[item.position].ok  # type: ignore[union-attr]
            counts.failed += not slots[item.position].ok  # type: ignore[union-attr]
        else:
            pending.append((item, key))
    pending, twins = _dedupe(pending)
    bar = progress_mod.pick(progress, shell)
    bar.start(counts)
    stopped: str | None = None
    batch_id: str | None = None
    error: KimiError | None = None
    try:
        if pending and mode == "batch":
            from .batch_api import run_batch

            outcome = run_batch(job, pending, slots, counts, bar, wait=wait, poll_interval=poll_interval,
                                window=completion_window)
            stopped, batch_id = outcome.stopped, outcome.batch_id
        elif pending:
            limits = tier_limits(session.config.tier)
            workers = min(concurrency or limits.concurrency, limits.concurrency, MAX_WORKERS)
            pool = Pool(job, pending, slots, concurrency=workers, rpm=limits.rpm, tpm=limits.tpm, progress=bar,
                        counts=counts, shell=shell, ask=ask)
            outcome_online = pool.run()
            stopped, error = outcome_online.stopped, outcome_online.fatal
            if outcome_online.interrupted:
                from ..core.agent import Interrupted

                error = Interrupted("Stopped by the user.")
    finally:
        _fill_twins(slots, twins)
        why = "interrupted" if stopped == "interrupted" else (stopped.split(":")[0] if stopped else "stopped")
        for item in prepared:
            if slots[item.position] is None:
                slots[item.position] = not_run(item, why if stopped or error else "stopped")
        results = Results([r for r in slots if r is not None], elapsed_s=time.monotonic() - started,
                          stopped=stopped, batch_id=batch_id)
        bar.finish(results.summary().line())
    if error is not None:
        done = sum(r.ok for r in results)
        where = f" Finished items are kept in the cache ({job.cache.path.parent})" if job.cache.enabled else ""
        error.args = (f"{error} — the batch stopped after {done:,} of {len(results):,} items.{where}"
                      + (" Run the same call again to send only what is missing." if job.cache.enabled else ""),)
        error.result = results
        raise error
    if stopped and stopped.startswith("max_cost"):
        _notice(f"Stopped before the cap: {stopped}. Finished items are kept"
                + (" in the cache: run the same call with a higher max_cost to send only what is missing"
                   if job.cache.enabled else "") + ", or lower max_tokens to lower the bound.")
    return results


def _dedupe(pending: list[tuple[Item, str]]) -> tuple[list[tuple[Item, str]], dict[int, tuple[int, Item]]]:
    """The same request body twice in one call is sent once; the twin copies the answer."""
    first: dict[str, int] = {}
    out, twins = [], {}
    for item, key in pending:
        if key in first:
            twins[item.position] = (first[key], item)
        else:
            first[key] = item.position
            out.append((item, key))
    return out, twins


def _fill_twins(slots: list[ItemResult | None], twins: dict[int, tuple[int, Item]]) -> None:
    import dataclasses

    for position, (source, item) in twins.items():
        original = slots[source]
        if original is not None and slots[position] is None:
            slots[position] = dataclasses.replace(original, key=item.key, cached=True)


def _notice(text: str) -> None:
    import sys

    print(text, file=sys.stderr)


def _shell() -> Any:
    from IPython import get_ipython

    return get_ipython()

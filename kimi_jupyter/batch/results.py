"""`Results`: one `ItemResult` per input item, in input order, with a summary and `.to_pandas()`.

An item's failure (a content filter, an answer that fails the schema) is that
item's `error`, never the batch's. Each item keeps only what a table row needs
(no history, no reasoning copy beyond its own), so 10,000 items cost 10,000
small records.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..core.stream import Usage


@dataclass
class ItemResult:
    """What one item produced. `error` is None when it succeeded."""

    key: Any
    prompt: str
    content: str = ""
    parsed: Any = None
    model: str = ""
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None
    error: str | None = None
    request_id: str | None = None
    finish_reason: str | None = None
    cached: bool = False  # came from the cache folder: nothing was sent for it this time
    reasoning: str = field(default="", repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def __str__(self) -> str:
        return self.content if self.ok else f"error: {self.error}"


@dataclass
class Summary:
    done: int
    failed: int
    not_run: int
    cached: int
    usage: Usage
    cost_usd: float | None
    elapsed_s: float

    def line(self) -> str:
        """done / failed, tokens, cost, wall time: the line a saved notebook keeps."""
        parts = [f"{self.done:,} done", f"{self.failed:,} failed"]
        if self.not_run:
            parts.append(f"{self.not_run:,} not run")
        if self.cached:
            parts.append(f"{self.cached:,} from cache")
        u = self.usage
        parts.append(f"{u.prompt_tokens:,} tokens in / {u.completion_tokens:,} out")
        parts.append("cost n/a" if self.cost_usd is None else f"${self.cost_usd:.4f}")
        parts.append(f"{self.elapsed_s:.1f} s")
        return " · ".join(parts)


NOT_RUN = "not run"  # an item's error prefix when the batch stopped before sending it


class Results(list):
    """A list of `ItemResult`, in input order.

    `elapsed_s` is this call's wall time; `stopped` says why the batch stopped
    early (None when it ran to the end); `batch_id` is set in `mode="batch"`.
    """

    def __init__(self, items: Iterable[ItemResult] = (), *, elapsed_s: float = 0.0,
                 stopped: str | None = None, batch_id: str | None = None) -> None:
        super().__init__(items)
        self.elapsed_s = elapsed_s
        self.stopped = stopped
        self.batch_id = batch_id

    @property
    def contents(self) -> list[str]:
        return [r.content for r in self]

    @property
    def parsed(self) -> list[Any]:
        return [r.parsed for r in self]

    @property
    def errors(self) -> list[ItemResult]:
        return [r for r in self if not r.ok]

    def summary(self) -> Summary:
        usage = Usage()
        cost: float | None = 0.0
        done = failed = not_run = cached = 0
        for r in self:
            if r.ok:
                done += 1
            elif r.error and r.error.startswith(NOT_RUN):
                not_run += 1
            else:
                failed += 1
            cached += r.cached
            if not r.cached:  # this call's spending: what the cache answered was paid before
                usage = usage + r.usage
                if r.cost_usd is None and r.usage.total_tokens:
                    cost = None
                elif cost is not None and r.cost_usd is not None:
                    cost += r.cost_usd
        return Summary(done, failed, not_run, cached, usage, cost, self.elapsed_s)

    def to_pandas(self) -> Any:
        """A DataFrame: one row per item (its key as the index) with content, parsed, model,
        tokens, cost, error and request id."""
        import pandas as pd  # optional: only this method needs it

        rows = [{
            "content": r.content, "parsed": r.parsed, "model": r.model,
            "prompt_tokens": r.usage.prompt_tokens, "completion_tokens": r.usage.completion_tokens,
            "reasoning_tokens": r.usage.reasoning_tokens, "cost_usd": r.cost_usd, "error": r.error,
            "request_id": r.request_id, "cached": r.cached,
        } for r in self]
        return pd.DataFrame(rows, index=[r.key for r in self])

    def __repr__(self) -> str:
        head = f"<Results: {len(self):,} items · {self.summary().line()}"
        if self.stopped:
            head += f" · stopped: {self.stopped}"
        return head + ">"

    def _repr_html_(self) -> str:
        # Server and model text is untrusted: everything is escaped, nothing is live.
        rows = "".join(
            f"<tr><td>{html.escape(str(r.key))}</td><td>{html.escape(_short(r.content))}</td>"
            f"<td>{html.escape(r.error or '')}</td></tr>"
            for r in self[:10]
        )
        more = f"<tr><td colspan=3>… {len(self) - 10:,} more</td></tr>" if len(self) > 10 else ""
        return (f"<p>{html.escape(repr(self))}</p><table><tr><th>key</th><th>content</th><th>error</th></tr>"
                f"{rows}{more}</table>")

    # A list subclass would otherwise compare and hash like a plain list.
    __hash__ = None  # type: ignore[assignment]


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

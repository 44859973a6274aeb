"""What `map` runs over: a list of prompts, any iterable with a `{item}` template, or a DataFrame.

pandas stays optional: a Series or DataFrame is recognised by its methods, and
pandas is never imported here. A template is filled the way `%%kimi` fills a
prompt (`interpolate`): only `{name}` references that exist are replaced, so
the JSON or code in a template stays exactly as written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from ..core.options import usage_error
from ..ipython.interpolate import interpolate


@dataclass(frozen=True)
class Item:
    """One prompt to send: its position in the input, its label (index or row key), and its text."""

    position: int
    key: Any
    prompt: str


def is_dataframe(obj: Any) -> bool:
    return hasattr(obj, "columns") and hasattr(obj, "itertuples") and hasattr(obj, "index")


def is_series(obj: Any) -> bool:
    return hasattr(obj, "index") and hasattr(obj, "items") and hasattr(obj, "dtype") and not is_dataframe(obj)


def prepare(items: Any, prompt: str | None) -> list[Item]:
    """The prompts, in input order. A mistake (no template for a DataFrame, a template
    naming no column) is a one-line usage error before anything is sent."""
    if isinstance(items, (str, bytes)):
        raise usage_error("map() takes many items (a list, a Series, a DataFrame), not one string: "
                          "use `kimi_jupyter.chat()` for a single prompt, or wrap it in a list.")
    if is_dataframe(items):
        return _from_frame(items, prompt)
    if is_series(items):
        pairs: Iterable[tuple[Any, Any]] = items.items()
    elif isinstance(items, dict):
        pairs = items.items()
    else:
        try:
            pairs = enumerate(items)
        except TypeError:
            raise usage_error(f"map() needs a list, an iterable, a Series or a DataFrame "
                              f"(got {type(items).__name__}).") from None
    out = []
    for position, (key, value) in enumerate(pairs):
        if prompt is None:
            if not isinstance(value, str):
                raise usage_error(f"Item {key!r} is a {type(value).__name__}, not a prompt: give a template, "
                                  "e.g. `map(items, 'Summarize: {item}')`.")
            text = value
        else:
            text = _fill(prompt, {"item": value, "key": key, "index": key})
        out.append(Item(position, key, text))
    if prompt is not None and out and out[0].prompt == prompt:
        raise usage_error("The template names no `{item}`: every item would get the same prompt. "
                          "Write `{item}` where the item goes.")
    return out


def _from_frame(frame: Any, prompt: str | None) -> list[Item]:
    columns = [str(c) for c in frame.columns]
    if prompt is None:
        raise usage_error(f"A DataFrame needs a template naming its columns, e.g. "
                          f"`map(df, 'Classify: {{{columns[0] if columns else 'text'}}}')`.")
    out = []
    for position, (key, row) in enumerate(zip(frame.index, frame.itertuples(index=False, name=None))):
        values = dict(zip(columns, row))
        text = _fill(prompt, {**values, "index": key, "row": values})
        out.append(Item(position, key, text))
    if out and out[0].prompt == prompt:
        raise usage_error(f"The template names none of the DataFrame's columns ({', '.join(columns)}): "
                          "write them in braces, e.g. `{" + (columns[0] if columns else "text") + "}`.")
    return out


def _fill(template: str, values: dict[str, Any]) -> str:
    return interpolate(template, values)

"""Progress of a `map`: a live bar while it runs, one static line that stays.

In a Jupyter kernel an ipywidgets bar shows done / failed / in flight, tokens,
cost so far and ETA; widget state isn't saved with the notebook, so when the
run ends the bar is closed and a plain summary line is displayed in its place
(that is what GitHub and nbviewer show). In a terminal: tqdm if installed, else
one line rewritten with a carriage return. The pool's workers only bump
counters; the calling thread redraws at a fixed rate (`refresh`), so a fast
server can't flood the frontend.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

from ..core.stream import Usage


@dataclass
class Counts:
    """What the bar shows; written by the pool under its lock."""

    total: int = 0
    done: int = 0
    failed: int = 0
    cached: int = 0
    in_flight: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = 0.0
    paused_s: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def text(self) -> str:
        finished = self.done + self.failed
        parts = [f"{finished:,}/{self.total:,}", f"{self.done:,} done"]
        if self.failed:
            parts.append(f"{self.failed:,} failed")
        if self.cached:
            parts.append(f"{self.cached:,} from cache")
        parts.append(f"{self.in_flight} in flight")
        parts.append(f"{self.usage.total_tokens:,} tokens")
        parts.append("cost n/a" if self.cost_usd is None else f"${self.cost_usd:.4f}")
        eta = self.eta()
        if eta is not None:
            parts.append(f"ETA {eta:.0f} s")
        if self.paused_s > 0:
            parts.append(f"paused {self.paused_s:.0f} s (rate limit)")
        return " · ".join(parts)

    def eta(self) -> float | None:
        sent = self.done + self.failed - self.cached
        left = self.total - self.done - self.failed
        elapsed = time.monotonic() - self.started
        if sent <= 0 or left <= 0:
            return None
        return elapsed / sent * left


class Progress:
    """Draws nothing: `progress=False`. Subclasses draw."""

    def start(self, counts: Counts) -> None:
        pass

    def refresh(self, counts: Counts) -> None:
        pass

    def finish(self, line: str) -> None:
        pass


class WidgetProgress(Progress):
    def start(self, counts: Counts) -> None:
        import ipywidgets as w
        from IPython.display import display

        self.bar = w.IntProgress(value=0, min=0, max=max(1, counts.total), description="Kimi map",
                                 layout=w.Layout(width="40%"))
        self.label = w.Label(value=counts.text())  # a Label shows text, never HTML
        self.box = w.HBox([self.bar, self.label])
        # One display, shown as the widget while it runs and replaced by the static line at
        # the end: the saved notebook keeps the line, not a widget it can't render.
        bundle = {**self.box._repr_mimebundle_(), "text/plain": "Kimi map: running…"}
        self.handle = display(bundle, raw=True, display_id=True)

    def refresh(self, counts: Counts) -> None:
        self.bar.value = counts.done + counts.failed
        self.bar.bar_style = "warning" if counts.failed else ""
        self.label.value = counts.text()

    def finish(self, line: str) -> None:
        self.handle.update(_bundle(line), raw=True, metadata=_META)
        self.box.close()


class TextProgress(Progress):
    """tqdm where installed, else one line redrawn in place on stderr."""

    def start(self, counts: Counts) -> None:
        self.tqdm: Any = None
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self._width = 0
            self.refresh(counts)
        else:
            self.tqdm = tqdm(total=counts.total, desc="Kimi map", unit="item")

    def refresh(self, counts: Counts) -> None:
        if self.tqdm is not None:
            self.tqdm.n = counts.done + counts.failed
            self.tqdm.set_postfix_str(counts.text(), refresh=True)
            return
        text = "Kimi map " + counts.text()
        sys.stderr.write("\r" + text.ljust(self._width))
        sys.stderr.flush()
        self._width = len(text)

    def finish(self, line: str) -> None:
        if self.tqdm is not None:
            self.tqdm.close()
        else:
            sys.stderr.write("\r" + " " * self._width + "\r")
            sys.stderr.flush()
        print(f"Kimi map: {line}")


class StaticProgress(Progress):
    """Headless runs and kernels without ipywidgets: only the closing line."""

    def finish(self, line: str) -> None:
        _static(line)


_META = {"kimi_jupyter": {"part": "footer"}}


def _bundle(line: str) -> dict[str, str]:
    # Plain text and markdown: the numbers are ours, but keep it inert anyway.
    return {"text/plain": f"Kimi map: {line}", "text/markdown": f"**Kimi map**: {_escape_md(line)}"}


def _static(line: str) -> None:
    from IPython.display import display

    display(_bundle(line), raw=True, metadata=_META)


def _escape_md(text: str) -> str:
    return "".join("\\" + c if c in "\\`*_[]<>#|$" else c for c in text)


def pick(progress: bool | str, shell: Any) -> Progress:
    """`True`: the best for where we run; or "widget" | "text" | "static" | False."""
    if progress is False or progress == "none":
        return Progress()
    kind = progress if isinstance(progress, str) else "auto"
    if kind == "auto":
        kind = "widget" if shell is not None and getattr(shell, "kernel", None) is not None else "text"
    if kind == "widget":
        try:
            import ipywidgets  # noqa: F401
        except ImportError:
            return StaticProgress()
        return WidgetProgress()
    if kind == "static":
        return StaticProgress()
    return TextProgress()

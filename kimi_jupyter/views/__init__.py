"""Views turn agent events into something a person sees. See base.py for the protocol."""

from __future__ import annotations

from typing import Any

from .base import BaseView, RecordingView, View


def pick_view(kind: str = "auto", shell: Any = None, fmt: str = "markdown") -> View:
    """`auto`: widgets in a Jupyter kernel, plain text in terminal IPython and scripts."""
    if kind == "auto":
        kind = "widget" if _in_kernel(shell) else "terminal"
    if kind == "widget":
        try:
            import ipywidgets  # noqa: F401
        except ImportError:  # a kernel without ipywidgets still gets good saved outputs
            kind = "static"
        else:
            from .widget import WidgetView

            return WidgetView(fmt)
    if kind == "static":
        from .notebook import StaticView

        return StaticView(fmt)
    from .terminal import TerminalView

    return TerminalView()


def _in_kernel(shell: Any) -> bool:
    return shell is not None and getattr(shell, "kernel", None) is not None


__all__ = ["BaseView", "RecordingView", "View", "pick_view"]

"""`kimi_jupyter.chat()`: the magic's behaviour as a Python function (SPEC §5)."""

from __future__ import annotations

from typing import Any

from .result import Result
from .session import Session, default_session


def chat(
    prompt: str,
    *,
    model: str | None = None,
    new: bool = False,
    yes: bool = False,
    tools: bool = True,
    max_steps: int | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    thinking: bool | None = None,
    effort: str | None = None,
    system: str | None = None,
    format: str = "markdown",
    web_search: bool = False,
    base_url: str | None = None,
    view: Any = None,
    session: Session | None = None,
) -> Result:
    """Ask the model; continue the same conversation as `%%kimi` unless `new=True`.

    Works in a notebook (the same live view as the magic), in terminal IPython
    and in plain scripts (text to stdout). Pass `view=RecordingView()` to
    collect the events instead. Raises `KimiError` subclasses on failure.
    """
    from .agent import Agent, Request
    from .tools import default_registry
    from .views import pick_view

    if not prompt or not prompt.strip():
        raise ValueError("prompt is empty")
    session = session or default_session()
    settings = session.settings(
        base_url=base_url,
        model=model,
        auto_run=yes or None,
        max_steps=max_steps,
        max_tokens=max_tokens,
        temperature=temperature,
        thinking=thinking,
        effort=effort,
    )
    shell = _shell()
    request = Request(
        prompt=prompt,
        settings=settings,
        system=system,
        new=new,
        tools=tools,
        web_search=web_search,
        fmt=format,
    )
    view = view if view is not None else pick_view(settings.view, shell, format)
    return Agent(session, view, default_registry, shell).run(request)


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return None
    return get_ipython()

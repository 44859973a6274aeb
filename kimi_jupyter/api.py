"""The one request path: `run(prompt, options)`, and `chat()` on top of it (SPEC §5).

`%%kimi`, `kimi_jupyter.chat()` and the chat panel all come here with an
`Options`, so `-o`, `-f code` and the failure behaviour are the same from a
cell, a script or the panel; only the view differs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from .core import fences
from .core.errors import KimiError
from .core.options import Options, usage_error
from .core.result import Result
from .core.session import Session, default_session
from .ipython.usage import usage_errors

if TYPE_CHECKING:
    from .core.agent import Request
    from .tools.approval import Decision
    from .views.base import View


def run(
    prompt: str,
    options: Options,
    *,
    session: Session | None = None,
    shell: Any = None,
    view: "View | None" = None,
    ask: "Callable[[str], str | Decision] | None" = None,
    session_allow: bool = True,
) -> Result:
    """Send `prompt` with `options`, show it in `view` (default: the best for `shell`).

    `-o NAME` stores the Result in the shell's namespace, even a failed cell's
    partial one (raised errors carry it as `.result`). `-f code` puts the
    answer's code in a new cell below, where there is a notebook to put it in.
    `session_allow=False`: an earlier `s` (allow for the session) does not apply (the
    chat panel, whose own box decides).
    """
    from .core.agent import Agent, Request
    from .tools import default_registry
    from .tools.mcp import tool_providers
    from .views import pick_view

    if not prompt or not prompt.strip():
        raise usage_error("The prompt is empty: write it below `%%kimi` (or pass it to `chat()`).")
    session = session or default_session()
    settings = session.settings(**options.settings_overrides())
    view = view if view is not None else pick_view(settings.view, shell, options.format)
    request = Request.build(prompt, options, settings)  # the prompt's keys and secrets masked
    registry: Any = default_registry
    rung = 0
    if settings.tutor:
        registry, rung = _tutor(request, session, shell, registry)
    if session.lesson is not None and options.base_url is None:
        request.settings = _lesson_route(session, request, options, view)
    agent = Agent(session, view, registry, shell, ask=ask, session_allow=session_allow,
                  providers=tool_providers(session))
    try:
        result = agent.run(request)
    except KimiError as exc:
        _store(shell, options.out, exc.result)  # nothing shown is lost: `-o` keeps the partial Result
        raise
    if rung:
        session.tutor_rung = rung  # a failed cell leaves the ladder where it was: the retry gets the same hint
    _store(shell, options.out, result)
    if options.format == "code":
        code = extract_code(result.content)
        if code and shell is not None and hasattr(shell, "set_next_input"):
            shell.set_next_input(code, replace=False)
    return result


def _tutor(request: "Request", session: Session, shell: Any, registry: Any) -> tuple[Any, int]:
    """Tutor mode for this request: the notes and the next rung as hidden system messages, the
    rung in the footer, and the registry without the code tool unless the notes allow it."""
    from pathlib import Path

    from . import tutor

    notes = tutor.find_notes(getattr(shell, "user_ns", None) or {}, Path.cwd())
    rung = tutor.next_rung(0 if request.new else session.tutor_rung)
    request.hidden_before, request.hidden_after = tutor.messages(notes, rung)
    request.note = tutor.label(rung)
    if notes is None or not notes.code_tool:
        registry = tutor.WithoutCode(registry)
    return registry, rung


def _lesson_route(session: Session, request: "Request", options: Options, view: "View") -> Any:
    """The settings for a cell while a lesson is replayed: the cassette's, or the live API's
    (`--live-fallback`, for a cell the cassette doesn't hold). Raises `NotInLesson`."""
    from .ipython.lesson import next_messages, route

    lesson = session.lesson
    assert lesson is not None
    messages = next_messages(session.conversation, request.prompt, new=request.new, system=request.system)
    messages = [*request.hidden_before, *messages, *request.hidden_after]
    live = route(lesson, messages, session.settings(live=True, **options.settings_overrides()))
    if live is None:
        return request.settings
    view.on_notice(f"This cell is not in the lesson {lesson.path.name}, so it is answered live by "
                   f"{live.base_url} (`--live-fallback`).", "info")
    return live


@usage_errors()  # a bad option: one line in IPython (a ValueError in a plain script)
def chat(prompt: str, *, view: "View | None" = None, session: Session | None = None, **options: Any) -> Result:
    """Ask the model; continue the same conversation as `%%kimi` unless `new=True`.

    Takes the magic's options by their `Options` names: `model`, `new`, `yes`,
    `tools`, `max_steps`, `max_tokens`, `temperature`, `thinking`, `effort`,
    `system`, `format`, `web_search`, `base_url`, `max_cost`, `out`, `tutor`.
    Works in a notebook (the same live view as the magic), in terminal IPython
    and in plain scripts (text to stdout). Pass `view=RecordingView()` to
    collect the events instead. Raises `KimiError` subclasses on failure, with
    the partial Result as `.result`.
    """
    opts = Options.create(**options)
    return run(prompt, opts, session=session, shell=_shell(), view=view)


def _store(shell: Any, name: str | None, result: Result | None) -> None:
    if name and result is not None and shell is not None:
        shell.user_ns[name] = result


def extract_code(markdown: str) -> str:
    """The answer's fenced code blocks, Python ones first; the whole text if it has none.

    The fences are the renderer's (`fences.code_blocks`): an unclosed one runs to the
    end, and none takes text after it. Indented code doesn't count: an answer that is
    bare code with a blank line in a function body would lose its first lines.
    """
    blocks = [(b.lang.lower(), b.code.rstrip("\n")) for b in fences.code_blocks(markdown) if b.fenced]
    if not blocks:
        return markdown.strip()
    python = [body for lang, body in blocks if lang in ("python", "py", "python3", "ipython")]
    return "\n\n".join(python or [body for _, body in blocks])


def _shell() -> Any:
    from IPython import get_ipython

    return get_ipython()

"""`%kimi SUBCOMMAND`: the line magic's subcommands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

if TYPE_CHECKING:
    from .magics import KimiMagics


def _show(markdown: str) -> None:
    from IPython.display import display

    display({"text/markdown": markdown, "text/plain": markdown}, raw=True)


def run(magics: "KimiMagics", name: str, args: list[str], options: Any) -> Any:
    """Run a subcommand. `options` are the magic's parsed options (e.g. `%kimi -y fix`)."""
    if name in ("fix", "export"):
        return _HANDLERS[name](magics, args, options)
    return _HANDLERS[name](magics, args)


def _help(magics: "KimiMagics", args: list[str]) -> None:
    print(magics.kimi.__doc__)


def _login(magics: "KimiMagics", args: list[str]) -> None:
    import getpass

    from IPython.core.error import StdinNotImplementedError

    try:
        key = getpass.getpass("Moonshot API key (kept in memory only): ")
    except (StdinNotImplementedError, EOFError):
        raise UsageError(
            "`%kimi login` needs an interactive prompt, and this kernel has no stdin. "
            "Set MOONSHOT_API_KEY (or KIMI_API_KEY) in the environment instead."
        ) from None
    key = key.strip()
    if not key:
        raise UsageError("No key entered; nothing changed.")
    magics.session.login_key = key
    print("Key stored for this kernel session (not saved anywhere).")


def _logout(magics: "KimiMagics", args: list[str]) -> None:
    magics.session.login_key = None
    print("Forgot the key from `%kimi login`.")


def _config(magics: "KimiMagics", args: list[str]) -> None:
    settings = magics.settings()
    rows = "\n".join(f"| {k} | `{v}` |" for k, v in settings.describe().items())
    _show(f"| setting | value |\n|---|---|\n{rows}")


def _models(magics: "KimiMagics", args: list[str]) -> None:
    from . import models as catalog
    from .client import KimiClient

    settings = magics.settings()
    settings.require_key()
    ids = KimiClient(settings).list_models()
    if not ids:
        print(f"{settings.base_url} listed no models.")
        return
    lines = ["| model | context | $/M in (hit / miss) | $/M out |", "|---|---|---|---|"]
    for model_id in ids:
        info = catalog.lookup(model_id)
        context = f"{info.context_window:,}" if info else "?"
        prices = (info.cache_hit, info.cache_miss, info.output) if info else (None, None, None)
        hit, miss, out = ("?" if p is None else p for p in prices)
        lines.append(f"| {model_id} | {context} | {hit} / {miss} | {out} |")
    _show("\n".join(lines))


def _reset(magics: "KimiMagics", args: list[str]) -> None:
    n = len(magics.session.conversation.messages)
    magics.session.reset()
    print(f"Started a new conversation (forgot {n} messages).")


def _history(magics: "KimiMagics", args: list[str]) -> None:
    messages = magics.session.conversation.messages
    if not messages:
        print("The conversation is empty.")
        return
    for i, m in enumerate(messages):
        role = m.get("role", "?")
        content = m.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "[image]") for p in content if isinstance(p, dict))
        text = (content or "").strip().replace("\n", " ")
        if m.get("tool_calls"):
            names = ", ".join(tc["function"]["name"] for tc in m["tool_calls"])
            text = (text + " " if text else "") + f"[calls {names}]"
        if len(text) > 120:
            text = text[:117] + "…"
        print(f"{i:>3} {role:<9} {text}")
    print(f"{len(messages)} messages, about {magics.session.conversation.estimate_tokens():,} tokens.")


def _usage(magics: "KimiMagics", args: list[str]) -> None:
    s = magics.session
    u = s.usage
    cost = f"${s.cost_usd:.4f}"
    if s.unpriced_requests:
        cost += f" (+ {s.unpriced_requests} requests to models without a known price)"
    _show(
        "| | tokens |\n|---|---|\n"
        f"| prompt | {u.prompt_tokens:,} |\n| of which cached | {u.cached_tokens:,} |\n"
        f"| completion | {u.completion_tokens:,} |\n| total | {u.total_tokens:,} |\n\n"
        f"**{len(s.results)} cells · cost {cost}**"
    )


def _fix(magics: "KimiMagics", args: list[str], options: Any) -> Any:
    from .fix import fix_prompt

    prompt = fix_prompt()
    if prompt is None:
        raise UsageError("There is no exception to explain yet: `%kimi fix` looks at the last error.")
    options.no_interpolate = True  # a traceback is full of braces that aren't ours
    return magics.ask(prompt, options)


def _export(magics: "KimiMagics", args: list[str], options: Any) -> None:
    from .export import export

    if len(args) != 1:
        raise UsageError("Usage: %kimi export PATH.ipynb")
    entries = magics.session.transcript
    if not entries:
        raise UsageError("Nothing to export yet: the conversation is empty.")
    path = export(entries, args[0])
    print(f"Wrote {len(entries)} exchanges to {path}")


def _chat(magics: "KimiMagics", args: list[str]) -> None:
    from IPython.display import display

    from .chat_panel import ChatPanel

    display(ChatPanel(magics.session, shell=magics.shell))


_HANDLERS = {
    "help": _help,
    "login": _login,
    "logout": _logout,
    "config": _config,
    "models": _models,
    "reset": _reset,
    "history": _history,
    "usage": _usage,
    "fix": _fix,
    "export": _export,
    "chat": _chat,
}
SUBCOMMANDS = tuple(_HANDLERS)

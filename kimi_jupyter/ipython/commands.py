"""`%kimi SUBCOMMAND`: the line magic's subcommands.

Each handler gets a `Context` (the session, the shell, the magic's parsed
options) and the subcommand's words, never the magic object: the magic calls
in here, and nothing here calls back into the magic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from IPython.core.error import UsageError

from ..core.session import Session


@dataclass
class Context:
    session: Session
    shell: Any
    options: Any  # the magic's parsed arguments, e.g. `%kimi --base-url URL login`
    help: str = ""  # the magic's docstring, for `%kimi help`


def _show(markdown: str) -> None:
    from IPython.display import display

    from ..core.sanitize import plain

    # text/plain is what jupyter console prints: server text in it must not drive the terminal.
    display({"text/markdown": markdown, "text/plain": plain(markdown)}, raw=True)


# How many words may follow each subcommand's name. A `%kimi` line is a command only
# when the whole line fits its subcommand's grammar; any other line is a question, so
# `%kimi reset the index of a DataFrame: how` asks, and never wipes the conversation.
# (jupysql keeps commands out of the query text the same way, in their own `%sqlcmd`;
# here they share one magic, so the grammar must leave no doubt.) The bare word is
# always the command, and one that needs an argument then says how to give it.
_ARGUMENTS: dict[str, tuple[int, ...]] = {"export": (0, 1), "record": (0, 1), "replay": (0, 1)}
ASK = "ask"  # `%kimi ask WORDS…`: always a question, even `%kimi ask reset`


def parse_line(words: list[str]) -> tuple[str | None, list[str]]:
    """`(subcommand, its words)` for a command line, `(None, the question's words)` otherwise."""
    if not words:
        return None, []
    name, args = words[0], words[1:]
    if name == ASK:
        return None, args
    if name in _HANDLERS and len(args) in _ARGUMENTS.get(name, (0,)):
        return name, args
    return None, words


def run(ctx: Context, name: str, args: list[str]) -> Any:
    """Run a subcommand with its words (`%kimi export PATH` → ["PATH"])."""
    return _HANDLERS[name](ctx, args)


def _help(ctx: Context, args: list[str]) -> None:
    print(ctx.help)


def _login(ctx: Context, args: list[str]) -> None:
    """Keep a key in memory. Without --base-url it goes to Moonshot's API only."""
    import getpass

    from IPython.core.error import StdinNotImplementedError

    from ..core.settings import origin

    url = ctx.options.base_url
    where = f"the server at {url}" if url else "Moonshot's API (api.moonshot.ai / api.moonshot.cn)"
    try:
        key = getpass.getpass(f"API key for {where} (kept in memory only): ")
    except (StdinNotImplementedError, EOFError):
        raise UsageError(
            "`%kimi login` needs an interactive prompt, and this kernel has no stdin. "
            "Set MOONSHOT_API_KEY (or KIMI_API_KEY, with KIMI_BASE_URL for another server) "
            "in the environment instead."
        ) from None
    key = key.strip()
    if not key:
        raise UsageError("No key entered; nothing changed.")
    if url:
        # One key per server: a new login for the same host replaces the old one.
        for other in [u for u in ctx.session.logins if u is not None and origin(u) == origin(url)]:
            del ctx.session.logins[other]
    ctx.session.logins[url or None] = key
    print(f"Key stored for {where}, for this kernel session only (not saved anywhere).")


def _logout(ctx: Context, args: list[str]) -> None:
    n = len(ctx.session.logins)
    ctx.session.logins.clear()
    print(f"Forgot {n} key(s) from `%kimi login`.")


def _config(ctx: Context, args: list[str]) -> None:
    settings = ctx.session.settings(base_url=ctx.options.base_url)
    rows = "\n".join(f"| {k} | `{v}` |" for k, v in settings.describe().items())
    _show(f"| setting | value |\n|---|---|\n{rows}")


def _models(ctx: Context, args: list[str]) -> None:
    """The server's models with what each accepts: /v1/models merged over the catalog.

    Every id and field in a listing is the server's text, so it is shown as text: an
    HTML table whose cells are escaped (ids in <code>, which MathJax leaves alone) and a
    plain-text table without control characters, never markdown a server could inject into.
    """
    from IPython.display import display

    from ..core import catalog
    from ..core.sanitize import escape, plain

    settings = ctx.session.settings(base_url=ctx.options.base_url)
    settings.require_key()
    listing = ctx.session.listing(settings)
    if not listing:
        print(f"{plain(settings.base_url)} listed no models.")
        return
    headers = ["model", "context", "thinking", "efforts", "vision", "USD/M in (hit / miss)", "USD/M out", "closes"]
    rows = []
    for model_id in sorted(listing):
        info = catalog.resolve(settings.base_url, model_id, listing)
        p = info.prices
        closes = f"{info.closing.date} → {info.closing.successor}" if info.closing else ""
        rows.append([
            plain(model_id), f"{info.context_window:,}", info.thinking,
            ", ".join(plain(e) for e in info.efforts) if info.efforts else ("?" if info.efforts is None else "—"),
            "yes" if info.vision else "no",
            f"{p.cache_hit:g} / {p.cache_miss:g}" if p else "?", f"{p.output:g}" if p else "?", closes,
        ])
    note = (f"Prices from kimi-jupyter's catalog, checked {catalog.PRICES_CHECKED}; ? where unknown. "
            "A closing date is the announced last day (UTC+8) and the model that takes its calls.")
    html_rows = "".join(
        "<tr>" + "".join(f"<td>{'<code>' + escape(c) + '</code>' if i == 0 else escape(c)}</td>"
                         for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    html = (f"<table><thead><tr>{''.join(f'<th>{escape(h)}</th>' for h in headers)}</tr></thead>"
            f"<tbody>{html_rows}</tbody></table><p>{escape(note)}</p>")
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    text = "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [headers, *rows])
    display({"text/html": html, "text/plain": f"{text}\n\n{note}"}, raw=True)


def _reset(ctx: Context, args: list[str]) -> None:
    n = len(ctx.session.conversation.messages)
    ctx.session.reset()
    print(f"Started a new conversation (forgot {n} messages).")


def _history(ctx: Context, args: list[str]) -> None:
    from ..core.sanitize import plain

    messages = ctx.session.conversation.messages
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
        print(plain(f"{i:>3} {role:<9} {text}"))  # model text: no escapes reach a terminal
    print(f"{len(messages)} messages, about {ctx.session.conversation.estimate_tokens():,} tokens.")


def _usage(ctx: Context, args: list[str]) -> None:
    s = ctx.session
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


def _fix(ctx: Context, args: list[str]) -> Any:
    from .fix import fix_prompt

    settings = ctx.session.settings(base_url=ctx.options.base_url)
    prompt = fix_prompt(settings.all_secrets())
    if prompt is None:
        raise UsageError("There is no exception to explain yet: `%kimi fix` looks at the last error.")
    from ..api import run
    from ..core.options import Options

    # Not interpolated: a traceback is full of braces that aren't ours.
    run(prompt, Options.from_magic(ctx.options), session=ctx.session, shell=ctx.shell)


def _hint(ctx: Context, args: list[str]) -> Any:
    """`%kimi hint [what I tried]`: tutor mode's next rung for the exercise in progress."""
    from dataclasses import replace

    from ..api import run
    from ..core.options import Options

    prompt = " ".join(args).strip() or "I'm still stuck. Please give me the next hint."
    run(prompt, replace(Options.from_magic(ctx.options), tutor=True), session=ctx.session, shell=ctx.shell)


def _export(ctx: Context, args: list[str]) -> None:
    from .export import export

    if len(args) != 1:
        raise UsageError("Usage: %kimi export PATH.ipynb")
    entries = ctx.session.transcript
    if not entries:
        raise UsageError("Nothing to export yet: the conversation is empty.")
    path = export(entries, args[0])
    print(f"Wrote {len(entries)} exchanges to {path}")


def _chat(ctx: Context, args: list[str]) -> None:
    from IPython.display import display

    from ..views.chat_panel import ChatPanel

    display(ChatPanel(ctx.session, shell=ctx.shell))


def _mcp(ctx: Context, args: list[str]) -> None:
    """The MCP servers of `Kimi.mcp_servers`, started if needed, with their state and tools."""
    from IPython.display import display

    from ..core import sanitize
    from ..tools.mcp import mcp_manager

    manager = mcp_manager(ctx.session)
    if manager is None:
        print('No MCP servers are configured. Add one with e.g. '
              '`%config Kimi.mcp_servers = {"time": {"command": ["uvx", "mcp-server-time"]}}`.')
        return
    manager.start()  # failures are shown in the table, with their reason
    from ..tools.mcp import status_markdown

    table = status_markdown(manager.statuses())
    # Tool descriptions and error reasons are the servers' text: rendered like model text.
    display({"text/markdown": sanitize.markdown_block(table), "text/plain": table}, raw=True)


def _record(ctx: Context, args: list[str]) -> None:
    """`%kimi record PATH` / `%kimi record stop`: a cassette of the session (see `cassette`)."""
    usage = "Usage: %kimi record PATH.jsonl (start recording) or %kimi record stop"
    if len(args) != 1:
        raise UsageError(usage)
    session = ctx.session
    if args[0] == "stop":
        recorder = session.stop_recording()
        if recorder is None:
            print("No recording is running.")
        elif recorder.failure:
            print(f"Recording to {recorder.path} had stopped early ({recorder.failure}); "
                  f"{recorder.written} requests were written.")
        elif recorder.written == 0 and recorder.skipped:
            print(f"Stopped recording. Nothing was written: the {recorder.skipped} answers came from a cassette "
                  f"replay, which is not recorded again ({recorder.path} is as it was).")
        else:
            n, listings = recorder.written - recorder.listings_written, recorder.listings_written
            also = f" (and {listings} model listing{'s' if listings != 1 else ''})" if listings else ""
            print(f"Stopped recording: {n} request{'s' if n != 1 else ''}{also} written to {recorder.path}.")
        return
    previous = session.recorder
    try:
        recorder = session.start_recording(args[0])
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if previous is not None:
        print(f"Stopped the recording to {previous.path} ({previous.written} requests).")
    replaced = " (the file there is replaced at the first request)" if recorder.path.exists() else ""
    print(f"Recording every request and streamed response to {recorder.path}{replaced} until `%kimi record stop`. "
          "The API key and the Authorization header are never written, and Kimi.secrets values are redacted. "
          "Replay it in a notebook with `%kimi replay PATH` (or serve it with `kimi-jupyter server --replay PATH`).")


def _replay(ctx: Context, args: list[str]) -> None:
    """`%kimi replay PATH [--live-fallback]` / `%kimi replay stop`: a lesson's cassette answers (see `lesson`)."""
    usage = "Usage: %kimi replay PATH.jsonl [--live-fallback] (answer from a cassette) or %kimi replay stop"
    if len(args) != 1:
        raise UsageError(usage)
    from .lesson import start_replay, stop_replay

    session = ctx.session
    if args[0] == "stop":
        lesson = stop_replay(session)
        if lesson is None:
            print("No replay is running.")
        else:
            print(f"Stopped replaying {lesson.path.name}; `%%kimi` cells go to the API again.")
        return
    from ..core.cassette import CassetteError

    live_fallback = bool(getattr(ctx.options, "live_fallback", False))
    try:
        lesson = start_replay(session, args[0], live_fallback=live_fallback)
    except CassetteError as exc:
        raise UsageError(str(exc)) from None
    n = lesson.recorded
    fallback = (" A cell it doesn't hold goes to the live API (`--live-fallback`)." if live_fallback
                else " A cell it doesn't hold shows the nearest recorded prompt.")
    print(f"Replaying {lesson.path.name} ({n} recorded request{'s' if n != 1 else ''}): from here on `%%kimi` "
          f"cells are answered from the cassette, offline, with no key.{fallback} Stop with `%kimi replay stop`.")


_HANDLERS: dict[str, Callable[[Context, list[str]], Any]] = {
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
    "mcp": _mcp,
    "record": _record,
    "replay": _replay,
    "hint": _hint,
}
SUBCOMMANDS = tuple(_HANDLERS)

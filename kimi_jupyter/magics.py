"""`%%kimi` and `%kimi`: parse options, interpolate the prompt, pick a view, call the agent.

No model or HTTP logic lives here. Options use IPython's `magic_arguments`, so
`%%kimi?` shows this help, and bad input raises `UsageError` (a message, no
traceback).
"""

from __future__ import annotations

import re
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from .config import Kimi
from .errors import KimiError
from .session import Session

FORMATS = ("markdown", "code", "json", "text")


def _positive_int(name: str, value: int | None, minimum: int = 1) -> None:
    if value is not None and value < minimum:
        raise UsageError(f"{name} must be at least {minimum} (got {value}).")


@magics_class
class KimiMagics(Magics):
    def __init__(self, shell: Any, session: Session) -> None:
        super().__init__(shell)
        self.session = session

    @magic_arguments()
    @argument("-m", "--model", help="Model for this cell (default: Kimi.model, KIMI_MODEL, kimi-k2.6).")
    @argument("-n", "--new", action="store_true", help="Start a new conversation.")
    @argument("-y", "--yes", action="store_true", help="Run model-written code without asking.")
    @argument("--no-tools", action="store_true", help="Offer no tools (plain chat).")
    @argument("--max-steps", type=int, help="At most N tool calls in this cell (default 50).")
    @argument("--max-tokens", type=int, help="max_tokens for each request (reasoning + answer).")
    @argument("-t", "--temperature", type=float,
              help="Sampling temperature; sent only when given, and only where the model allows it.")
    @argument("--no-thinking", action="store_true", help="Answer without thinking (models that can switch it).")
    @argument("--effort", help="Reasoning effort: low | high | max, as the model accepts.")
    @argument("-s", "--system", help="System prompt.")
    @argument("-o", "--out", metavar="NAME", help="Store the Result object in this variable.")
    @argument("-f", "--format", default="markdown", help="markdown | code | json | text.")
    @argument("--web-search", action="store_true", help="Offer Kimi's built-in $web_search.")
    @argument("--base-url", help="OpenAI-compatible endpoint for this cell.")
    @argument("--no-interpolate", action="store_true", help="Send {braces} exactly as written.")
    @argument("rest", nargs="*", help="With %%kimi (line magic): a subcommand (help, login, config, models, reset, "
              "history, usage, fix, export PATH, chat, mcp) or a one-line prompt.")
    @line_cell_magic
    def kimi(self, line: str, cell: str | None = None) -> Any:
        """Ask a Kimi thinking model. The cell body is the prompt; cells continue one conversation.

        `{name}`, `{obj.attr}`, `{In[3]}` and `{Out[3]}` in the prompt are replaced by values
        from your namespace; other braces stay as written.

            %%kimi -o answer
            Explain {topic} in two paragraphs.

        `%kimi SUBCOMMAND`: help, login, config, models, reset, history, usage, fix,
        export PATH.ipynb, chat, mcp (MCP servers and tools). `%kimi <question>` asks a one-line question.
        """
        args = parse_argstring(self.kimi, line)
        if cell is None:
            words = args.rest
            if not words:
                raise UsageError(self._usage("`%kimi` needs a subcommand or a question."))
            from . import commands

            if words[0] in commands.SUBCOMMANDS:
                return commands.run(self, words[0], words[1:], args)
            prompt = " ".join(words)
        else:
            if args.rest:
                raise UsageError(self._usage(f"Unexpected arguments: {' '.join(args.rest)}"))
            # The cell's trailing newline isn't part of the question.
            prompt = cell.lstrip("\n").rstrip()
        return self.ask(prompt, args)

    def _usage(self, message: str) -> str:
        doc = (self.kimi.__doc__ or "").strip()
        return f"{message}\n\n{doc}"

    def settings(self, **overrides: Any) -> Any:
        return self.session.settings(**overrides)

    def ask(self, prompt: str, args: Any) -> Any:
        from .agent import Agent, Request
        from .interpolate import interpolate
        from .tools import default_registry
        from .views import pick_view

        if not prompt.strip():
            raise UsageError(self._usage("The cell is empty: write a prompt below `%%kimi`."))
        fmt = args.format.lower()
        if fmt not in FORMATS:
            raise UsageError(self._usage(f"-f/--format must be one of {', '.join(FORMATS)} (got {args.format!r})."))
        _positive_int("--max-steps", args.max_steps, 0)
        _positive_int("--max-tokens", args.max_tokens)
        if args.out is not None and not args.out.isidentifier():
            raise UsageError(f"-o/--out needs a variable name (got {args.out!r}).")
        if not args.no_interpolate:
            prompt = interpolate(prompt, self.shell.user_ns)
        settings = self.settings(
            base_url=args.base_url,
            model=args.model,
            auto_run=args.yes or None,
            max_steps=args.max_steps,
            max_tokens=args.max_tokens,
            temperature=args.temperature,
            thinking=False if args.no_thinking else None,
            effort=args.effort.lower() if args.effort else None,
        )
        request = Request(
            prompt=prompt,
            settings=settings,
            system=args.system,
            new=args.new,
            tools=not args.no_tools,
            web_search=args.web_search,
            fmt=fmt,
        )
        view = pick_view(settings.view, self.shell, fmt)
        agent = Agent(self.session, view, default_registry, self.shell)
        try:
            result = agent.run(request)
        except KimiError as exc:
            # `-o` keeps even a failed cell's partial result: nothing shown is lost.
            if args.out and exc.result is not None:
                self.shell.user_ns[args.out] = exc.result
            raise
        if args.out:
            self.shell.user_ns[args.out] = result
        if fmt == "code":
            code = extract_code(result.content)
            if code:
                self.shell.set_next_input(code, replace=False)
        return None


_FENCE = re.compile(r"^(```+|~~~+)[ \t]*([\w+-]*)[^\n]*\n(.*?)^\1[ \t]*$", re.S | re.M)


def extract_code(markdown: str) -> str:
    """The answer's code blocks, Python ones first; the whole text if it has no fences."""
    blocks = [(lang.lower(), body.rstrip("\n")) for _, lang, body in _FENCE.findall(markdown)]
    if not blocks:
        return markdown.strip()
    python = [body for lang, body in blocks if lang in ("python", "py", "python3", "ipython")]
    return "\n\n".join(python or [body for _, body in blocks])


def show_kimi_error(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> list[str]:
    """Custom exception handler: our errors show as one clear message, not a traceback.

    IPython ignores the handler's return value on this path, so it publishes the
    error itself (an `error` output: the cell is marked failed, and headless runs
    like papermill stop as they should).
    """
    stb = [f"{etype.__name__}: {value}"]
    shell._showtraceback(etype, value, stb)
    return stb


__all__ = ["KimiMagics", "Kimi", "extract_code"]

"""`%%kimi` and `%kimi`: parse the options, interpolate the prompt, hand both to `api.run`.

No model, HTTP or display logic lives here. Options use IPython's
`magic_arguments`, so `%%kimi?` shows this help; a mistake is a one-line
`UsageError` (a message, no traceback) that points to `%%kimi?`.
`@no_var_expand` keeps IPython's own `$name` expansion away from the prompt:
`{name}` is ours (SPEC §2), and `--no-interpolate` must mean what it says.
Option *values* still get IPython's expansion, as in any magic
(`--base-url $VLLM_URL -m $MODEL`).
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from .errors import KimiError
from .options import Options, usage_error
from .session import Session


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
    @argument("--max-cost", type=float, metavar="USD",
              help="Stop this cell's loop before a request that could take its cost past USD.")
    @argument("-s", "--system", help="System prompt.")
    @argument("-o", "--out", metavar="NAME", help="Store the Result object in this variable.")
    @argument("-f", "--format", default="markdown", help="markdown | code | json | text.")
    @argument("--web-search", action="store_true", help="Offer Kimi's built-in $web_search.")
    @argument("--base-url", help="OpenAI-compatible endpoint for this cell.")
    @argument("--no-interpolate", action="store_true", help="Send {braces} exactly as written.")
    @argument("--map", metavar="NAME", dest="map_over",
              help="Run the cell as a template over the list, Series or DataFrame NAME ({item}, or its "
                   "columns by name), each item its own conversation; -o stores the Results.")
    @argument("rest", nargs="*", help="With %%kimi (line magic): a subcommand (help, login, logout, config, "
              "models, reset, history, usage, fix, export PATH, chat, mcp, record PATH|stop) or a one-line prompt.")
    @no_var_expand
    @line_cell_magic
    def kimi(self, line: str, cell: str | None = None) -> Any:
        """Ask a Kimi thinking model. The cell body is the prompt; cells continue one conversation.

        `{name}`, `{obj.attr}`, `{In[3]}` and `{Out[3]}` in the prompt are replaced by values
        from your namespace; other braces stay as written.

            %%kimi -o answer
            Explain {topic} in two paragraphs.

        `%%kimi --map NAME -o results` runs the cell as a template over the list, Series or DataFrame
        NAME (`{item}`, or its columns by name), each item its own conversation (`kimi_jupyter.map`).

        `%kimi SUBCOMMAND`: help, login, logout, config, models, reset, history, usage, fix,
        export PATH.ipynb, chat, mcp (MCP servers and tools), record PATH.jsonl | record stop (a cassette).
        `%kimi <question>` asks a one-line question.
        """
        try:
            args = parse_argstring(self.kimi, line)
        except UsageError as exc:  # argparse's message, made one line with a pointer to the help
            raise usage_error(str(exc).strip().splitlines()[-1]) from None
        _expand_option_values(args, self.shell)
        if cell is None:
            words = args.rest
            if not words:
                raise usage_error("`%kimi` needs a subcommand or a question.")
            from . import commands

            if words[0] in commands.SUBCOMMANDS:
                context = commands.Context(self.session, self.shell, args, help=self.kimi.__doc__ or "")
                return commands.run(context, words[0], words[1:])
            prompt = " ".join(words)
        else:
            if args.rest:
                raise usage_error(f"Unexpected arguments: {' '.join(args.rest)}.")
            # The cell's trailing newline isn't part of the question.
            prompt = cell.lstrip("\n").rstrip()
        if not prompt.strip():
            raise usage_error("The cell is empty: write a prompt below `%%kimi`.")
        options = Options.from_magic(args)
        if args.map_over:
            return self._map(args.map_over, prompt, options, interpolate_ns=not args.no_interpolate)
        if not args.no_interpolate:
            from .interpolate import interpolate

            prompt = interpolate(prompt, self.shell.user_ns)
        from .api import run

        run(prompt, options, session=self.session, shell=self.shell)
        return None


    def _map(self, name: str, template: str, options: Options, *, interpolate_ns: bool) -> None:
        """`%%kimi --map NAME`: `kimi_jupyter.map(NAME, cell)`, with the cell's options."""
        if name not in self.shell.user_ns:
            raise usage_error(f"--map {name}: no variable named {name!r} in the notebook.")
        items = self.shell.user_ns[name]
        if interpolate_ns:
            from .batch.items import is_dataframe
            from .interpolate import interpolate

            # Other `{names}` come from the notebook; the item's own names are left for each item.
            own = {"item", "key", "index", "row"} | ({str(c) for c in items.columns} if is_dataframe(items) else set())
            template = interpolate(template, {k: v for k, v in self.shell.user_ns.items() if k not in own})
        from .batch.run import map as run_map

        try:
            results = run_map(
                items, template, session=self.session, model=options.model, system=options.system,
                format="text" if options.format == "markdown" else options.format, max_cost=options.max_cost,
                max_tokens=options.max_tokens, temperature=options.temperature, thinking=options.thinking,
                effort=options.effort, base_url=options.base_url,
            )
        except KimiError as exc:
            if options.out and exc.result is not None:
                self.shell.user_ns[options.out] = exc.result  # what finished is kept
            raise
        if options.out:
            self.shell.user_ns[options.out] = results


def _expand_option_values(args: Any, shell: Any) -> None:
    """IPython's `$name` / `{expr}` expansion, for option values only (not the prompt words)."""
    for name, value in vars(args).items():
        if isinstance(value, str) and ("$" in value or "{" in value):
            setattr(args, name, shell.var_expand(value))


def show_kimi_error(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> list[str]:
    """Custom exception handler: our errors show as one clear message, not a traceback.

    IPython ignores the handler's return value on this path, so it publishes the
    error itself (an `error` output: the cell is marked failed, and headless runs
    like papermill stop as they should).
    """
    stb = [f"{etype.__name__}: {value}"]
    shell._showtraceback(etype, value, stb)
    return stb


__all__ = ["KimiMagics", "KimiError", "show_kimi_error"]

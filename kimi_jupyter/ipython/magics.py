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

import argparse
import re
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from ..core.errors import KimiError
from ..core.options import Options, usage_error
from ..core.session import Session
from .usage import usage_errors


@magics_class
class KimiMagics(Magics):
    def __init__(self, shell: Any, session: Session) -> None:
        super().__init__(shell)
        self.session = session

    @magic_arguments()
    @argument("-m", "--model", help="Model for this cell (default: Kimi.model, KIMI_MODEL, else kimi-k2.6 or, once the server no longer lists it, its successor).")
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
    @argument("--tutor", action="store_true",
              help="Tutor mode: a hint on the next rung of a ladder, not the answer (see Kimi.tutor).")
    @argument("--live-fallback", action="store_true",
              help="With `%%kimi replay PATH`: cells the cassette doesn't hold go to the live API.")
    # REMAINDER: options come before the question. From its first word on, the line is the
    # question, verbatim, so `%kimi explain -n` asks about -n and starts nothing new.
    @argument("rest", nargs=argparse.REMAINDER, help="With %%kimi (line magic): a subcommand alone (help, login, logout, config, "
              "models, reset, history, usage, fix, export PATH, chat, mcp, record PATH|stop), or a one-line "
              "question (any other line; `ask QUESTION` always asks).")
    @no_var_expand
    @line_cell_magic
    @usage_errors()  # the core's OptionError shows as a UsageError: one line, no traceback
    def kimi(self, line: str, cell: str | None = None) -> Any:
        """Ask a Kimi thinking model. The cell body is the prompt; cells continue one conversation.

        `{name}`, `{obj.attr}`, `{In[3]}` and `{Out[3]}` in the prompt are replaced by values
        from your namespace; other braces stay as written.

            %%kimi -o answer
            Explain {topic} in two paragraphs.

        `%%kimi --map NAME -o results` runs the cell as a template over the list, Series or DataFrame
        NAME (`{item}`, or its columns by name), each item its own conversation (`kimi_jupyter.map`).

        `%kimi SUBCOMMAND`: help, login, logout, config, models, reset, history, usage, fix,
        export PATH.ipynb, chat, mcp (MCP servers and tools), record PATH.jsonl | record stop (a cassette),
        replay PATH.jsonl [--live-fallback] | replay stop (a lesson's cassette answers, offline),
        hint (tutor mode's next hint; `%%kimi --tutor` or `%config Kimi.tutor = True` for hints, not answers).

        `%kimi <question>` asks a one-line question. A line is a subcommand only when the
        whole line is one: the word alone, or `export`/`record`/`replay` with exactly one argument
        (options may follow, as in `%kimi login --base-url URL`). Anything longer is a
        question, sent as typed, so `%kimi reset the index of a DataFrame: how` asks and
        keeps the conversation, and may end in `?` (only `%kimi?` is this help). Options for
        a question go before it (`%kimi -n what is X`).
        `%kimi ask WORDS` is always a question (`%kimi ask usage`).
        """
        try:
            args = parse_argstring(self.kimi, line)
        except UsageError as exc:  # argparse's message, made one line with a pointer to the help
            raise usage_error(str(exc).strip().splitlines()[-1]) from None
        if cell is None:
            if not args.rest:
                raise usage_error("`%kimi` needs a subcommand or a question.")
            from . import commands

            name, words = self._subcommand(args)
            _expand_option_values(args, self.shell)
            if name is not None:
                context = commands.Context(self.session, self.shell, args, help=self.kimi.__doc__ or "")
                return commands.run(context, name, words)
            rest = args.rest[1:] if args.rest[0] == commands.ASK else args.rest
            prompt = _raw_tail(line, rest)
            if not prompt.strip():
                raise usage_error("`%kimi ask` needs a question after it.")
        else:
            _expand_option_values(args, self.shell)
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
        from ..api import run

        run(prompt, options, session=self.session, shell=self.shell)
        return None


    def _subcommand(self, args: Any) -> tuple[str | None, list[str]]:
        """The subcommand the line names and its words, or (None, []) for a question.

        Options may follow a subcommand's name (`%kimi login --base-url URL`): its words
        are parsed again, and the options merged into `args` only when the line is that
        command. Words that don't parse make the line a question, like any other.
        """
        from . import commands

        rest = args.rest
        if rest[0] not in commands.SUBCOMMANDS:
            return None, []
        words = rest[1:]
        # Options may also follow the subcommand's own words (`%kimi replay PATH --live-fallback`):
        # the parser stops at the first word, so the options from there on go first.
        first_option = next((i for i, w in enumerate(words) if w.startswith("-")), len(words))
        words = words[first_option:] + words[:first_option]
        try:
            tail = parse_argstring(self.kimi, " ".join(words))
        except UsageError:
            return None, []
        name, words = commands.parse_line([rest[0], *tail.rest])
        if name is None:
            return None, []
        defaults = parse_argstring(self.kimi, "")
        for key, value in vars(tail).items():
            if key != "rest" and value != getattr(defaults, key):
                setattr(args, key, value)
        return name, [_unquote(w) for w in words]


    def _map(self, name: str, template: str, options: Options, *, interpolate_ns: bool) -> None:
        """`%%kimi --map NAME`: `kimi_jupyter.map(NAME, cell)`, with the cell's options."""
        if name not in self.shell.user_ns:
            raise usage_error(f"--map {name}: no variable named {name!r} in the notebook.")
        items = self.shell.user_ns[name]
        if interpolate_ns:
            from ..batch.items import is_dataframe
            from .interpolate import interpolate

            # Other `{names}` come from the notebook; the item's own names are left for each item.
            own = {"item", "key", "index", "row"} | ({str(c) for c in items.columns} if is_dataframe(items) else set())
            template = interpolate(template, {k: v for k, v in self.shell.user_ns.items() if k not in own})
        from ..batch.run import map as run_map

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


# `%kimi QUESTION?` on a line of its own (indented or not): IPython would read the `?` as help.
_QUESTION_LINE = re.compile(r"^([ \t]*)%kimi[ \t]+(\S.*\?)[ \t]*$")


def keep_question_marks(lines: list[str]) -> list[str]:
    """Input cleanup so `%kimi what is a DataFrame?` asks, rather than showing `DataFrame?`.

    IPython reads a line that ends in `?` as a help request for its last name (a
    DataFrame's docstring, here), before any magic runs. Such a `%kimi` line is
    rewritten to the call IPython itself makes for a line magic, which no longer ends
    in `?`. `%kimi?` (the help) and `%%kimi` cells are left as they are.
    """
    if not lines or lines[0].lstrip().startswith("%%"):
        return lines
    out = []
    for line in lines:
        match = _QUESTION_LINE.match(line.rstrip("\r\n"))
        if match is None:
            out.append(line)
            continue
        indent, rest = match.groups()
        newline = line[len(line.rstrip("\r\n")):]
        out.append(f"{indent}get_ipython().run_line_magic('kimi', {rest!r}){newline}")
    return out


# One shell word: quoted runs and other non-blank characters (as IPython's arg_split reads them).
_WORD = re.compile(r"""(?:"[^"]*"|'[^']*'|\S)+""")


def _raw_tail(line: str, words: list[str]) -> str:
    """The line from where `words` (its last words) begin, as typed: quotes, spacing and all.

    Falls back to the words joined by spaces where the line reads differently here than
    in IPython's split (odd quoting).
    """
    if not words:
        return ""
    from IPython.utils.process import arg_split

    spans = list(_WORD.finditer(line))
    if len(spans) != len(arg_split(line)) or [m.group() for m in spans[-len(words):]] != words:
        return " ".join(words)
    return line[spans[-len(words)].start():].strip()


def _unquote(word: str) -> str:
    """A subcommand's argument without the quotes IPython's split keeps (`"my file.ipynb"`)."""
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":
        return word[1:-1]
    return word


def _expand_option_values(args: Any, shell: Any) -> None:
    """IPython's `$name` / `{expr}` expansion, for option values only (not the prompt words).

    A quoted value (`-s "Be brief."`) loses its quotes first: IPython's split keeps them.
    """
    for name, value in vars(args).items():
        if isinstance(value, str):
            value = _unquote(value)
            setattr(args, name, shell.var_expand(value) if "$" in value or "{" in value else value)


__all__ = ["KimiMagics", "KimiError", "keep_question_marks"]

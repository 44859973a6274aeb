"""The agent loop: request → stream → tool calls → tool messages → repeat.

It keeps the conversation, enforces the limits and reports everything to a
`View`. It never touches IPython.display or ipywidgets, so it runs the same in
a notebook, a terminal, a script or a test with a `RecordingView`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable

from . import catalog, context_window, fences, wire
from .catalog import ModelInfo
from .errors import (
    Busy,
    ContextOverflowError,
    Interrupted,
    KimiError,
    ModelNotFoundError,
    PromptTooLarge,
    StreamEndedEarly,
    redact_all,
)
from .options import Options
from .result import Result, ToolCallRecord
from .session import Session
from .settings import Settings
from .stream import StreamFolder, ToolCall, Turn, Usage
from .tool_context import ToolContext, Tools
from .tool_output import ToolOutput
from .wire import WEB_SEARCH

if TYPE_CHECKING:
    from .conversation import Conversation
    from .view import View


@dataclass
class Request:
    prompt: str
    settings: Settings
    system: str | None = None
    new: bool = False
    tools: bool = True
    web_search: bool = False
    fmt: str = "markdown"  # markdown | code | json | text
    # Sent with every request of the cell, before the conversation and after it, but never
    # kept in it: the model reads them, and no output, Result, export or history shows them
    # (tutor mode's instructor notes and hint rung).
    hidden_before: tuple[dict[str, Any], ...] = ()
    hidden_after: tuple[dict[str, Any], ...] = ()
    note: str = ""  # for the footer (`Result.note`)

    @classmethod
    def build(cls, prompt: str, options: Options, settings: Settings) -> "Request":
        """The request for `prompt` with `options`, under the cell's resolved `settings`.

        Every prompt reaches the model through here (a cell, `{interpolation}`, `%kimi fix`'s
        traceback, `chat()`, the panel, each `map` item): keys and `Kimi.secrets` in the
        prompt and the system prompt are masked first.
        """
        secrets = settings.all_secrets()
        return cls(
            prompt=redact_all(prompt, secrets),
            settings=settings,
            system=redact_all(options.system, secrets) if options.system else options.system,
            new=options.new,
            tools=options.tools,
            web_search=options.web_search,
            fmt=options.format,
        )


def _cache_ttl(info: ModelInfo, settings: Settings) -> str | None:
    """The prompt-cache TTL this model was asked for (only the K3 family takes one)."""
    return settings.cache_ttl if info.cache_options else None


def _tool_schemas(request: Request, registry: "Tools | None", ctx: Any = None) -> list[dict[str, Any]] | None:
    if request.tools and registry is not None:
        return registry.schemas(python=True, web_search=request.web_search, ctx=ctx) or None
    if request.web_search:
        return [wire.WEB_SEARCH_TOOL]
    return None


class Agent:
    def __init__(
        self,
        session: Session,
        view: "View",
        registry: "Tools | None" = None,
        shell: Any = None,
        ask: Callable[[str], str] | None = None,
        session_allow: bool = True,
        providers: tuple[Any, ...] = (),
    ) -> None:
        self.session = session
        self.view = view
        self.registry = registry
        self.shell = shell
        self.ask = ask  # answers the code tool's approval prompt; None means stdin
        # Whether an earlier `s` answer applies. The chat panel passes False: its own
        # "Let Kimi run code" box alone decides there, so a visible "off" means off.
        self.session_allow = session_allow
        # Tools from outside the registry (the MCP servers'), each with `schemas(ctx)`,
        # `owns(name)` and `call(name, arguments, ctx)`: see `tools.mcp.tool_providers`.
        self.providers = providers

    def run(self, request: Request) -> Result:
        """Run one cell's worth of conversation. Raises KimiError after showing what it can."""
        request.settings.require_key()  # before anything is sent or shown
        if not self.session.busy.acquire(blocking=False):
            raise Busy()
        try:
            # Resolved once: every step of the cell follows the same model rules.
            request.settings, info, notices = self.session.choose_model(request.settings)
            plan = self._plan(request, info, notices)
            return self._run(request, info, plan)
        finally:
            self.session.busy.release()

    def _plan(self, request: Request, info: ModelInfo, notices: list[str]) -> wire.Plan:
        plan = wire.check(info, request.settings, moonshot=info.moonshot)
        return replace(plan, notices=(*notices, *plan.notices)) if notices else plan

    def _successor(
        self, request: Request, turn: Turn, failure: KimiError | None, result: Result
    ) -> tuple[ModelInfo, wire.Plan] | None:
        """After the cell's first request found the default model closed (404), its successor.

        Only for the default model, only before anything arrived: a model the user named
        is never swapped, and a reply that began is never sent twice. Asks for the listing
        once more (the cached one still named the model), then re-plans the cell on the
        successor; None when there is none, and the 404 stands.
        """
        settings = request.settings
        if not (isinstance(failure, ModelNotFoundError) and result.requests == 1 and not settings.model_given
                and not (turn.content or turn.reasoning or turn.tool_calls)):
            return None
        self.session.model_closed(settings)
        moved, info, notices = self.session.choose_model(settings)
        if moved.model == settings.model:
            return None
        request.settings = moved
        return info, self._plan(request, info, notices)

    def _run(self, request: Request, info: ModelInfo, plan: wire.Plan) -> Result:
        from .client import KimiClient

        settings = request.settings
        session, view = self.session, self.view
        conv = session.conversation
        ctx = self._tool_context(settings)
        # Starts MCP servers on first use: before the prompt is added, so an interrupt
        # while one starts leaves the conversation as it was.
        tools = _tool_schemas(request, self.registry, ctx)
        tools_size = context_window.tools_tokens(tools)
        if request.new:
            session.reset()
        mark = conv.mark()
        if request.system and request.system != conv.system():
            # Appended, never inserted at the top: earlier messages stay byte-identical.
            conv.append({"role": "system", "content": request.system})
        conv.append({"role": "user", "content": request.prompt})
        for note in plan.notices:
            view.on_notice(note, "info")

        def new_client() -> Any:
            s = request.settings
            return KimiClient(s, recorder=session.recorder, listing=lambda: session.listing(s))

        client = new_client()

        result = Result(model=settings.model, note=request.note)
        reasoning_parts: list[str] = []
        web_searches = 0
        started = time.monotonic()
        failure: KimiError | None = None
        told_cut = False
        try:
            while True:
                try:
                    room = context_window.check(conv, settings, info, client, tools=tools_size)
                except PromptTooLarge as exc:
                    failure = exc
                    if result.requests == 0:
                        conv.rollback(mark)  # never sent: forget it, so the next cell works
                    break
                if room.cut(settings) and not told_cut:
                    told_cut = True  # once a cell, not on every step of a tool loop
                    view.on_notice(
                        f"The conversation is about {room.tokens:,} of {room.window:,} tokens, so replies get at "
                        f"most {room.max_tokens:,} tokens (max_tokens is {settings.max_tokens:,}) and may be cut "
                        "short. Consider `--new` or `%kimi reset`.",
                        "warning",
                    )
                if settings.max_cost_usd is not None and self._over_budget(
                        result, info, settings, web_searches, room.max_tokens):
                    result.finish_reason = "max_cost"
                    if result.requests == 0:
                        conv.rollback(mark)  # nothing was sent: the next cell starts clean
                    break
                messages, messages_json = conv.framed(request.hidden_before, request.hidden_after)
                body = wire.request_body(
                    info, settings, plan, messages, tools=tools, json_mode=request.fmt == "json",
                    moonshot=info.moonshot, max_tokens=room.max_tokens,
                )
                view.on_step_start(result.requests, settings.model)
                folder = StreamFolder(view.on_reasoning, view.on_content, view.on_tool_call)
                result.requests += 1
                step_started = time.monotonic()
                failure = self._stream(client, body, folder, tools_size, messages_json)
                turn = folder.turn()
                view.on_step_end(turn, time.monotonic() - step_started)
                moved = self._successor(request, turn, failure, result)
                if moved is not None:
                    # The default closed under a cached listing: this cell starts again on the
                    # successor, with the same conversation (nothing was added to it).
                    (info, plan), settings = moved, request.settings
                    client, result.requests, result.model = new_client(), 0, settings.model
                    for note in plan.notices:
                        view.on_notice(note, "info")
                    continue
                self._account(result, turn, reasoning_parts)
                if failure is not None:
                    self._keep_partial(turn, mark, result)
                    break
                if turn.finish_reason == "length":
                    view.on_notice(
                        "The reply hit max_tokens and was cut short. "
                        f"Raise it with `--max-tokens` (now {settings.max_tokens:,}); "
                        "reasoning and answer share that budget.",
                        "warning",
                    )
                if turn.tool_calls and turn.finish_reason != "length":
                    conv.append(wire.assistant_message(turn))
                    try:
                        stop, searches = self._run_tools(turn.tool_calls, result, ctx, settings, info)
                    except Interrupted as exc:
                        failure = exc
                        break
                    web_searches += searches
                    if stop:
                        break
                    continue
                if turn.finish_reason == "length" and turn.tool_calls:
                    turn.tool_calls = []  # a half-written call can't be run; keep the text
                if not turn.content and not turn.tool_calls and turn.reasoning:
                    view.on_notice(
                        "The model reasoned but gave no answer. Ask it to continue, or raise `--max-tokens`.",
                        "warning",
                    )
                conv.append(wire.assistant_message(turn))
                result.content = turn.content
                break
        finally:
            result.reasoning = reasoning_parts  # joined when read, not copied here
            result.elapsed_s = time.monotonic() - started
            result.cost_usd = catalog.cost_usd(info, result.usage, web_searches, _cache_ttl(info, settings))
            result.messages = conv.snapshot()  # O(1): messages are never edited once appended
            result.request_ids = list(client.request_ids)
            result.replay = client.replayed
            if failure is not None:
                result.finish_reason = "interrupted" if isinstance(failure, Interrupted) else "error"
            session.record(result, request.prompt)
        if request.fmt == "json" and failure is None:
            result.parsed = _parse_json(result.content, view)
        view.on_finish(result)
        if failure is not None:
            failure.result = result  # nothing shown is lost: `-o` and scripts get the partial Result
            raise failure
        return result

    # -- pieces of the loop -------------------------------------------------

    def _stream(self, client: Any, body: dict[str, Any], folder: StreamFolder, tools_size: int,
                messages_json: tuple[bytes, ...]) -> KimiError | None:
        """Send one request, folding the reply as it streams. Returns the failure, if any."""
        try:
            client.stream(body, folder.feed, on_retry=self.view.on_retry, messages_json=messages_json)
        except KeyboardInterrupt:
            return Interrupted("Stopped by the user. What had arrived is kept above.")
        except ContextOverflowError as exc:
            return ContextOverflowError(
                exc.status,
                exc.type,
                exc.server_message,
                f"The conversation is about {self.session.conversation.estimate_tokens():,} tokens. "
                "Start a new one with `%%kimi --new` or `%kimi reset`.",
            )
        except KimiError as exc:
            return exc
        if folder.finish_reason is None:
            return StreamEndedEarly("The stream ended early: the server closed it without finishing.")
        if folder.usage is not None and folder.usage.prompt_tokens:
            # The server's count of exactly what was sent (the tools included, which the
            # conversation's count leaves out): the next context check builds on it
            # rather than asking the tokenizer.
            self.session.conversation.note_exact(max(0, folder.usage.prompt_tokens - tools_size))
        return None

    def _tool_context(self, settings: Settings) -> Any:
        return ToolContext(
            shell=self.shell,
            auto_run=settings.auto_run or (self.session_allow and self.session.auto_run),
            trust_tool_output=settings.trust_tool_output,
            allow_session=self._allow_session,
            max_output=settings.max_tool_output,
            ask=self.ask,
            show_code=self.view.show_code,
            secrets=settings.all_secrets(),
            timeout=settings.tool_timeout,
            providers=self.providers,
            notice=lambda text: self.view.on_notice(text, "warning"),
        )

    def _over_budget(
        self, result: Result, info: ModelInfo, settings: Settings, web_searches: int, max_tokens: int
    ) -> bool:
        """True (after a note) when the next request could take the cell past `--max-cost`.

        The bound is the prompt at the cache-hit rate seen so far (this cell's, else the
        session's) plus a full `max_tokens` of output: a request is never started that
        could break the cap. The conversation stays valid, so the next cell can go on.
        """
        cap = settings.max_cost_usd
        assert cap is not None
        spent = catalog.cost_usd(info, result.usage, web_searches, _cache_ttl(info, settings))
        usage = result.usage if result.usage.prompt_tokens else self.session.usage
        rate = usage.cached_tokens / usage.prompt_tokens if usage.prompt_tokens else 0.0
        bound = catalog.request_cost_bound(
            info, self.session.conversation.estimate_tokens(), rate, max_tokens, _cache_ttl(info, settings)
        )
        if spent is None or bound is None:
            if result.requests == 0:
                self.view.on_notice(
                    f"--max-cost is not enforced: the prices of {info.id} at this server are unknown.", "warning"
                )
            return False
        if spent + bound <= cap:
            return False
        self.view.on_notice(
            f"Stopped before request {result.requests + 1}: it could cost up to ${bound:.4f}, which would take "
            f"this cell past its cap of ${cap:.4f} (spent so far: ${spent:.4f}). The conversation is kept: "
            "to go on, run a cell with a higher `--max-cost` (or `%config Kimi.max_cost_usd = ...`) and ask "
            "Kimi to continue. A lower `--max-tokens` also lowers the bound.",
            "warning",
        )
        return True

    def _allow_session(self) -> None:
        self.session.auto_run = True

    def _account(self, result: Result, turn: Turn, reasoning_parts: list[str]) -> None:
        if turn.usage is not None:
            result.usage = result.usage + turn.usage
        reasoning_parts.append(turn.reasoning)
        if turn.content:
            result.content = turn.content
        result.finish_reason = turn.finish_reason

    def _keep_partial(self, turn: Turn, mark: int, result: Result) -> None:
        """After a failure, leave a history the next request will accept.

        If anything arrived, it was shown, so it is kept as the assistant's
        (partial) reply. If the cell produced nothing at all, it is rolled
        back so the failed prompt isn't sent again with the next one.
        """
        conv = self.session.conversation
        partial = wire.partial_message(turn)
        if partial is not None:
            conv.append(partial)
        elif result.requests == 1:
            conv.rollback(mark)

    def _run_tools(
        self, calls: list[ToolCall], result: Result, ctx: Any, settings: Settings, info: ModelInfo
    ) -> tuple[bool, int]:
        """Run a turn's calls in order. Returns (stop, web_search_count).

        A kernel interrupt during model code raises Interrupted once the
        history is consistent again.

        Every call gets a tool message, even the ones not run, or the next
        request would be rejected for an unanswered tool_call_id.
        """
        conv = self.session.conversation
        stop = interrupted = False
        searches = 0
        for call in calls:
            if stop:
                output = ToolOutput(text="Not run: the cell was stopped.", ok=False)
            elif result.steps >= settings.max_steps:
                output = ToolOutput(text=f"Not run: the step limit ({settings.max_steps}) was reached.", ok=False)
                self.view.on_notice(
                    f"Stopped after {result.steps} tool calls (the limit is {settings.max_steps}). "
                    "Raise it with `--max-steps N` or `%config Kimi.max_steps = N`, "
                    "or ask the model to continue in a new cell.",
                    "warning",
                )
                stop = True
            else:
                result.steps += 1
                self.view.on_tool_start(call, result.steps)
                if call.name == WEB_SEARCH:
                    # Kimi runs the search itself; the reply echoes the arguments unchanged.
                    output = ToolOutput(text=wire.web_search_reply(call)["content"])
                    searches += 1
                    # The model reads the results next: untrusted text (pages can carry instructions).
                    ctx.read_untrusted("a `$web_search` result")
                elif self.registry is None:
                    output = ToolOutput(text=f"Error: unknown tool '{call.name}'. No tools are available.", ok=False)
                else:
                    try:
                        output = self.registry.call(call.name, call.arguments, ctx)
                    except KeyboardInterrupt:  # e.g. while the approval prompt waited
                        output = ToolOutput(text="Interrupted by the user.", ok=False, interrupted=True)
                    # A key or `Kimi.secrets` value never reaches the model (or the transcript).
                    output.text = redact_all(output.text, ctx.secrets)
                self.view.on_tool_output(call, output)
                result.tool_calls.append(
                    ToolCallRecord(call.name, call.arguments, output.text, output.ok, output.outputs,
                                   declined=output.declined)
                )
                if output.interrupted:
                    stop = interrupted = True
            message = self._tool_message(call, output, settings, info.vision)
            result.tool_result_tokens += _text_tokens(message)
            conv.append(message)
        if result.tool_calls and interrupted:
            raise Interrupted("Interrupted while model code ran. The cell stopped; outputs so far are kept.")
        return stop, searches

    def _tool_message(self, call: ToolCall, output: ToolOutput, settings: Settings, vision: bool) -> dict[str, Any]:
        """The tool reply; vision models also get the figures (downscaled), up to `Kimi.max_images` in all.

        The cap counts the images already in the conversation: earlier messages
        are never edited (that would break the prefix cache), so once the cap is
        reached later figures go as their text notes only.
        """
        images: list[str] = []
        if vision and output.images:
            from .images import downscale_png

            room = settings.max_images - _images_in(self.session.conversation.messages)
            # Long side <= 1024 px: the user's figure stays full size, the model's copy is smaller.
            images = [downscale_png(b64) for b64 in output.images[-room:]] if room > 0 else []
        return wire.tool_message(call, output.text, images)


def _text_tokens(message: dict[str, Any]) -> int:
    """Rough tokens a tool message adds to the context (~4 characters a token; images not counted)."""
    content = message.get("content")
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return len(content or "") // 4


def _images_in(messages: list[dict[str, Any]]) -> int:
    return sum(
        1
        for m in messages
        if isinstance(m.get("content"), list)
        for part in m["content"]
        if isinstance(part, dict) and part.get("type") == "image_url"
    )


def _parse_json(content: str, view: "View") -> Any:
    try:
        return fences.load_json(content.strip())
    except ValueError as exc:
        view.on_notice(f"The answer is not valid JSON ({exc}); `parsed` is None.", "warning")
        return None


__all__ = ["Agent", "Request", "Interrupted", "Usage"]

"""Per-kernel state shared by `%%kimi`, `%kimi` and `kimi_jupyter.chat()`."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .conversation import Conversation
from .settings import Kimi, Settings, resolve
from .stream import Usage

if TYPE_CHECKING:
    from .cassette import Recorder
    from .catalog import ModelInfo
    from .result import Result


@dataclass
class Session:
    config: Kimi = field(default_factory=Kimi)
    conversation: Conversation = field(default_factory=Conversation)
    # `%kimi login` keeps keys here, in memory only, by the base URL they were given
    # for (None: Moonshot's API); repr=False keeps them out of reprs.
    logins: dict[str | None, str] = field(default_factory=dict, repr=False)
    # `GET /v1/models` per base URL, asked once a session: {id: entry}, or None when
    # the server has no listing (then the catalog and defaults decide).
    listings: dict[str, dict[str, dict[str, Any]] | None] = field(default_factory=dict, repr=False)
    results: list["Result"] = field(default_factory=list, repr=False)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    # Set when the user answers `s` to an approval question: tool calls run without
    # asking for the rest of the session (`%kimi reset` does not undo it; a new kernel does).
    auto_run: bool = False
    unpriced_requests: int = 0
    # The user-visible record of the conversation, for `%kimi export`: one entry per cell.
    transcript: list[dict[str, Any]] = field(default_factory=list, repr=False)
    # Held while a reply runs. JupyterLab 4 can deliver widget messages on a
    # kernel subshell thread, so a chat-panel Send and a `%%kimi` cell could
    # otherwise run the agent on the same conversation at the same time.
    busy: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    # `%kimi record PATH`: the cassette every request and response is written to, until stopped.
    recorder: "Recorder | None" = field(default=None, repr=False, compare=False)
    # The MCP servers of `Kimi.mcp_servers` (tools/mcp_runtime.McpManager), made on first use
    # by `tools.mcp.mcp_manager`: servers start when first needed and stay up for the kernel session.
    mcp: Any = field(default=None, repr=False, compare=False)
    # (base_url, model) pairs that answered 404 this session: the default moves past them
    # even while a cached listing still names them.
    closed: set[tuple[str, str]] = field(default_factory=set, repr=False)
    # One-per-session notices already given (the default's successor, a closing date).
    told: set[tuple[str, ...]] = field(default_factory=set, repr=False)
    # `%kimi replay PATH`: the lesson's cassette, served in-process, answers from then on.
    # (`ipython.lesson.Lesson`: this layer only reads its `base_url`.)
    lesson: Any = field(default=None, repr=False, compare=False)
    # Tutor mode: the hint rung last given in this exercise (0: none yet); `reset()` starts over.
    tutor_rung: int = 0

    def settings(self, *, live: bool = False, **overrides: Any) -> Settings:
        """Effective settings: per-call overrides, then `Kimi.*`, env, defaults (SPEC §1).

        While a lesson is replayed, requests go to its in-kernel replay server unless
        the cell names a `--base-url`; `live=True` gives the settings without the lesson.
        """
        if self.lesson is not None and not live and overrides.get("base_url") is None:
            overrides["base_url"] = self.lesson.base_url
        return resolve(self.config, logins=self.logins, **overrides)

    def listing(self, settings: Settings) -> dict[str, dict[str, Any]] | None:
        """The server's model listing, fetched on first use for each base URL."""
        if settings.base_url not in self.listings:
            from .client import KimiClient

            self.listings[settings.base_url] = KimiClient(settings, recorder=self.recorder).model_listing()
        return self.listings[settings.base_url]

    def model_info(self, settings: Settings) -> "ModelInfo":
        """What `settings.model` accepts at `settings.base_url`: resolved once per request."""
        from .catalog import resolve as resolve_model

        return resolve_model(settings.base_url, settings.model, self.listing(settings))

    def choose_model(self, settings: Settings) -> tuple[Settings, "ModelInfo", list[str]]:
        """The model a cell runs on, its rules, and the one-per-session notices about it.

        A model the user named is used as named. The default is a choice, not an id:
        when the server no longer lists it (or it answered 404 this session), the cell
        runs on its best listed successor (SPEC §7), from the listing already cached
        for this host, so no extra round trip is made.
        """
        from dataclasses import replace

        from .catalog import closing_soon, pick_successor, price_text

        notices: list[str] = []
        listing = self.listing(settings)
        url, model = settings.base_url, settings.model
        gone = (url, model) in self.closed or (listing is not None and model not in listing)
        if not settings.model_given and gone:
            live = {k: v for k, v in (listing or {}).items() if (url, k) not in self.closed}
            successor = pick_successor(model, live)
            if successor is not None:
                settings = replace(settings, model=successor)
                info = self.model_info(settings)
                if self._once("successor", url, model):
                    notices.append(
                        f"The default model {model} is no longer served here, so kimi-jupyter uses {successor} "
                        f"({price_text(info)}). To choose yourself: `%config Kimi.model = \"NAME\"` "
                        "(`%kimi models` lists them)."
                    )
        info = self.model_info(settings)
        closing = closing_soon(info)
        if closing is not None and self._once("closing", info.id):
            notices.append(
                f"{info.id} is announced to close on {closing.date} ({closing.source}); its calls then move to "
                f"{closing.successor}. Switch now with `%config Kimi.model = \"{closing.successor}\"`."
            )
        return settings, info, notices

    def model_closed(self, settings: Settings) -> None:
        """`settings.model` answered 404: remember it, and ask for the listing again next time."""
        self.closed.add((settings.base_url, settings.model))
        self.listings.pop(settings.base_url, None)

    def _once(self, *key: str) -> bool:
        """True the first time `key` is seen this session."""
        if key in self.told:
            return False
        self.told.add(key)
        return True

    def record(self, result: "Result", prompt: str) -> None:
        """Account for a finished (or failed) cell, and keep it for `%kimi export`."""
        self.results.append(result)
        self.transcript.append({"prompt": prompt, "result": result})
        self.usage = self.usage + result.usage
        if result.cost_usd is None:
            self.unpriced_requests += result.requests
        else:
            self.cost_usd += result.cost_usd

    def start_recording(self, path: str) -> "Recorder":
        """Record to `path` from now on (replacing a running recording). ValueError for a bad path."""
        from .cassette import Recorder, check_path

        target = check_path(path)
        self.stop_recording()
        self.recorder = Recorder(target, self.settings().all_secrets())
        # Ask for the model listing again, so the cassette has it and a replay resolves models the same.
        self.listings.clear()
        return self.recorder

    def stop_recording(self) -> "Recorder | None":
        """Stop the running recording, if any, and return it (for its counts)."""
        recorder, self.recorder = self.recorder, None
        if recorder is not None:
            recorder.close()
        return recorder

    def reset(self) -> None:
        self.conversation.reset()
        self.transcript.clear()
        self.tutor_rung = 0


_default: Session | None = None


def default_session() -> Session:
    """The session of the running IPython (set by `%load_ext`), or one for plain scripts."""
    global _default
    if _default is None:
        _default = Session()
    return _default


def set_default_session(session: Session) -> None:
    global _default
    _default = session

"""`%kimi replay lesson.jsonl`: a lesson's cassette answers the notebook's `%%kimi` cells, in the kernel.

A teacher records a lesson once with a key (`%kimi record`) and ships the
notebook with its cassette. A student, or CI, presses Run All: the replay cell
starts the loopback replay server (`testing.server.KimiServer(replay=…)`,
whose `Player` matches requests) on 127.0.0.1 inside the kernel, and the
session's requests go there until `%kimi replay stop`. No key and no server
command are needed, and every answer says "offline replay" in its footer,
because the replay server marks its responses and the client reads the mark.

Before a cell is sent, `route` asks the cassette whether it holds the cell's
first request (the same match the server makes, without taking the answer).
A cell it doesn't hold is one clear line naming the nearest recorded prompt,
instead of a 404 from the server; with `--live-fallback` and a key for the
live API, that cell goes to the live API instead.

The server is in-process on purpose: a subprocess would outlive a crashed
kernel, and a port given by the user could clash. It binds to loopback only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..core.errors import KimiError

if TYPE_CHECKING:
    from ..core.session import Session
    from ..core.settings import Settings
    from ..testing.server import KimiServer


class NotInLesson(KimiError):
    """A cell the lesson's cassette doesn't hold (and no live fallback for it)."""


@dataclass
class Lesson:
    """A running in-kernel replay of one cassette."""

    path: Path
    server: "KimiServer" = field(repr=False)
    live_fallback: bool = False
    live_cells: int = 0  # cells the cassette didn't hold that went to the live API

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def recorded(self) -> int:
        return len(self.server.player) if self.server.player is not None else 0

    def holds(self, messages: list[Mapping[str, Any]]) -> bool:
        """Whether the cassette has an answer for a request with these messages (nothing is taken)."""
        from ..testing.player import match_key

        player = self.server.player
        return player is not None and player.has(match_key({"messages": messages}))

    def explain(self, messages: list[Mapping[str, Any]]) -> str:
        """The player's own account of a miss: the nearest recorded prompt, or where the conversation parts."""
        assert self.server.player is not None
        return self.server.player.explain({"messages": messages})

    def stop(self) -> None:
        self.server.stop()


def start(path: str, *, live_fallback: bool = False) -> Lesson:
    """Read the cassette and serve it on loopback. `CassetteError` (one line) if it isn't one."""
    from ..core.cassette import read
    from ..testing.server import KimiServer

    p = Path(path.strip()).expanduser().absolute()
    read(p)  # a clear error before a server starts (KimiServer reads it again, cheaply)
    # api_key=None: any bearer or none is accepted, so no key of the student's is ever needed here.
    server = KimiServer(api_key=None, replay=p).start()
    return Lesson(path=p, server=server, live_fallback=live_fallback)


def next_messages(conversation: Any, prompt: str, *, new: bool, system: str | None) -> list[dict[str, Any]]:
    """The messages the agent will send first for this cell (`Agent._run` builds them the same way)."""
    messages = [] if new else list(conversation.messages)
    if system and system != (None if new else conversation.system()):
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": prompt})
    return messages


def route(lesson: Lesson, messages: list[dict[str, Any]], live: "Settings") -> "Settings | None":
    """Where this cell goes: None for the cassette, `live` for the live API; `NotInLesson` if neither.

    `live` is the session's settings without the lesson: the API and key the
    notebook would use if no lesson were replayed.
    """
    if lesson.holds(messages):
        return None
    miss = lesson.explain(messages)
    if lesson.live_fallback:
        from ..core.errors import MissingKeyError

        try:
            live.require_key()
        except MissingKeyError:
            pass
        else:
            lesson.live_cells += 1
            return live
        raise NotInLesson(f"{miss} `--live-fallback` found no key for {live.base_url}: "
                          "run `%kimi login` to answer such cells live.")
    raise NotInLesson(miss)


def start_replay(session: "Session", path: str, *, live_fallback: bool = False) -> Lesson:
    """Answer the session's `%%kimi` cells from the cassette at `path` (replacing a running replay).

    `cassette.CassetteError` (one line) if the file isn't a cassette.
    """
    lesson = start(path, live_fallback=live_fallback)
    stop_replay(session)
    session.lesson = lesson
    return lesson


def stop_replay(session: "Session") -> Lesson | None:
    """Stop the session's replay, if any, and return it."""
    lesson, session.lesson = session.lesson, None
    if lesson is not None:
        lesson.stop()
        session.listings.pop(lesson.base_url, None)
    return lesson

"""What the loopback server's parts need from each other, as Protocols, so imports run one way.

`.server` builds the `.handler`, which dispatches to the routes (`.files`, `.batches`,
`.replay`); each of those needs something back: a route answers through the request
handler, and the handler reads the server's state. Typing those back references with
the concrete classes closed an import cycle (issue 25), so they are described here:
`Responder` and `RouteHandler` are what a route uses of the handler, `ServerState` what
the handler uses of `KimiServer`. This module imports none of them:
server -> handler -> routes -> protocols.
"""

from __future__ import annotations

import email.message
import io
import socket
from typing import Any, Protocol, TypeVar

from .limits import Limits
from .player import Pace, Player
from .scenarios import Fault, Scenario
from .wire import Flavor, ServedModel

State_co = TypeVar("State_co", covariant=True)


class Responder(Protocol):
    """What a route needs from the request handler: the request's headers and the ways to answer."""

    headers: email.message.Message
    wfile: io.BufferedIOBase
    # The Msh-Request-Id `send_response` sends (None: none); a replay sends the recorded one.
    _request_id: str | None

    def send_response(self, code: int, message: str | None = None) -> None: ...

    def send_header(self, keyword: str, value: str) -> None: ...

    def end_headers(self) -> None: ...

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None: ...

    def _json_body(self, raw: bytes) -> dict[str, Any]: ...

    def _abort(self) -> None: ...


class Host(Protocol[State_co]):
    """The HTTP server a request handler belongs to; `kimi` is the loopback server's state."""

    @property
    def kimi(self) -> State_co: ...


class RouteHandler(Responder, Protocol[State_co]):
    """A `Responder` whose server holds what the route works on (`h.server.kimi`): a route
    names only the part it uses (`files.HasFiles`, `batches.HasBatches`)."""

    @property
    def server(self) -> Host[State_co]: ...


class ServerState(Protocol):
    """What the request handler reads and reports on the server (`KimiServer`)."""

    api_key: str | None
    vllm_api_key: str | None
    verbose: bool
    default_cps: float | None
    cache_writes: bool
    models: dict[Flavor, dict[str, ServedModel]]
    player: Player | None  # replay mode when set
    pace: Pace
    limits: Limits

    @property
    def scenarios(self) -> dict[str, Scenario]: ...

    def ordered_scenarios(self) -> list[Scenario]: ...

    def track_connection(self, conn: socket.socket) -> None: ...

    def untrack_connection(self, conn: socket.socket) -> None: ...

    def record_key(self, key: str) -> None: ...

    def record_request(self, body: dict[str, Any]) -> None: ...

    def note_request_id(self, request_id: str) -> None: ...

    def take_fault(self, key: tuple[str, int], fault: Fault) -> bool: ...

    def cached_tokens(self, key: str, flavor: str, model: str, messages_json: str) -> int: ...

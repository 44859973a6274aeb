"""Connections to MCP servers, kept on one background event loop for the kernel's life.

Why a thread of its own: ipykernel runs an asyncio loop in the main thread and the
`%%kimi` cell runs inside it, so we can neither `asyncio.run` there nor leave work on
that loop between cells. An MCP session (anyio task groups, a child process, an HTTP
stream) must also be entered and left by one task on one loop. So every server gets a
long-lived task on a private loop in a daemon thread, and the main thread submits
calls with `run_coroutine_threadsafe`, waiting in short slices: a kernel interrupt
(KeyboardInterrupt in the main thread) cancels the call in flight at once.

A server that cannot start, times out or dies becomes `McpUnavailable`, whose text is
one clear sentence for the user; the server is marked failed and the next use (the
next cell, or `%kimi mcp`) starts it again. The `mcp` SDK is imported only here, and
only when a server is started.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import hashlib
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Coroutine, Iterable

from ..core.errors import Interrupted
from ..core.mcp_spec import SEPARATOR, ServerSpec

_SLICE = 0.05  # seconds the main thread blocks at a time, so an interrupt is seen at once
_PING_TIMEOUT = 5.0  # a server's answer to a ping at the start of a cell
_STOP_GRACE = 8.0  # the SDK gives a stdio server 2 s to exit, then 2 s after SIGTERM
_MAX_NAME = 64  # OpenAI-compatible function names: ^[a-zA-Z0-9_-]{1,64}$


class McpUnavailable(Exception):
    """A server could not start, timed out or died. The text is meant for the user."""


class McpToolError(Exception):
    """The server answered a call with a protocol error (unknown tool, bad arguments)."""


@dataclass(frozen=True)
class McpTool:
    """One tool of one server, as the model is offered it."""

    server: str
    name: str  # the server's own name, sent back in tools/call
    qualified: str  # what the model sees: server__tool
    description: str
    input_schema: dict[str, Any]
    read_only: bool  # the server annotates it readOnlyHint: true (a hint, from the server)


@dataclass
class ServerStatus:
    """What `%kimi mcp` shows for a server."""

    name: str
    transport: str
    where: str
    state: str  # "not started" | "running" | "failed"
    reason: str = ""
    tools: list[McpTool] = field(default_factory=list)


def qualified_name(server: str, tool: str) -> str:
    """`server__tool`, made a valid function name: other characters become `_`, and a
    name past 64 characters is cut and given a short hash so it stays unique."""
    name = server + SEPARATOR + re.sub(r"[^A-Za-z0-9_-]", "_", tool)
    if len(name) > _MAX_NAME:
        digest = hashlib.sha1(tool.encode()).hexdigest()[:8]
        name = name[: _MAX_NAME - 9] + "_" + digest
    return name


def wait(future: "concurrent.futures.Future[Any]") -> Any:
    """The future's result, blocking in short slices; an interrupt cancels it and re-raises."""
    try:
        while not future.done():
            concurrent.futures.wait([future], timeout=_SLICE)
    except KeyboardInterrupt:
        future.cancel()  # cancels the task on the MCP loop: the SDK tells the server
        raise
    return future.result()


class _Loop:
    """A private asyncio loop in a daemon thread, started on first use."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return wait(asyncio.run_coroutine_threadsafe(coro, self._get()))

    def running(self) -> bool:
        return self._loop is not None and self._loop.is_running()

    def _get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, name="kimi-mcp", daemon=True).start()
            return self._loop


class _Connection:
    """One server: a task on the MCP loop holds its session open until `stop`."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.state = "not started"
        self.reason = ""
        self.tools: list[McpTool] = []
        self._session: Any = None
        self._task: asyncio.Task[None] | None = None
        self._closing: asyncio.Event | None = None
        self._stderr: Any = None  # the server's stderr goes to a file: shown only when it fails
        self._stderr_mark = 0  # where in that file the current start or call began

    @property
    def label(self) -> str:
        return f"MCP server '{self.spec.name}' ({self.spec.describe()})"

    async def start(self) -> None:
        if self.state == "running":
            return
        await self.stop()
        ready: asyncio.Future[list[McpTool]] = asyncio.get_running_loop().create_future()
        # Marked as read even when nobody awaits it any more (after a time-out or an interrupt).
        ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._closing = asyncio.Event()
        self._task = asyncio.ensure_future(self._hold(ready))
        try:
            self.tools = await asyncio.wait_for(asyncio.shield(ready), self.spec.start_timeout)
        except asyncio.TimeoutError:
            await self.stop()
            raise self._fail(f"did not start within {self.spec.start_timeout:g} s") from None
        except asyncio.CancelledError:  # the user interrupted the kernel
            self._fail("its start was interrupted")  # said at once, not after the stop below
            await asyncio.shield(self.stop())
            raise
        except Exception as exc:
            await self.stop()
            why = describe(exc)
            if why == "MCPError: Connection closed":
                why = "it closed the connection (or exited) before the MCP handshake finished"
            raise self._fail(f"could not start: {why}") from None
        self.state, self.reason = "running", ""

    async def check(self) -> None:
        """Ping a running server; one that died since its last call is stopped, to be restarted
        (a server that exits between cells is not an error anyone needs to hear about)."""
        if self.state != "running" or self._session is None:
            return
        try:
            await asyncio.wait_for(self._session.send_ping(), _PING_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - any failure means the connection is gone
            await self.stop()

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The call's result as wire JSON (camelCase keys), whatever the SDK's version."""
        from mcp.shared.exceptions import MCPError
        from mcp.types import CONNECTION_CLOSED

        if self.state != "running" or self._session is None:
            raise McpUnavailable(f"The {self.label} is not running ({self.reason or self.state}).")
        self._stderr_mark = self._stderr_size()  # what it prints from now on explains a crash
        try:
            result = await asyncio.wait_for(self._session.call_tool(tool, arguments), self.spec.timeout)
        except asyncio.TimeoutError:
            await self.stop()
            raise self._fail(f"did not answer a call to '{tool}' within {self.spec.timeout:g} s, so it "
                             "was stopped", output=False) from None
        except MCPError as exc:
            if exc.code != CONNECTION_CLOSED:
                raise McpToolError(describe(exc)) from None
            await self.stop()
            raise self._fail(f"stopped during a call to '{tool}'") from None
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            await self.stop()
            raise self._fail(f"failed during a call to '{tool}': {describe(exc)}") from None
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            if self._session is not None and self._closing is not None:
                self._closing.set()  # leave the session and transport contexts in their own task
                await asyncio.wait([task], timeout=_STOP_GRACE)
            if not task.done():  # still starting (a hung server), or slow to leave
                task.cancel()
                await asyncio.wait([task], timeout=_STOP_GRACE)
        self._session = None
        if self.state == "running":
            self.state = "not started"

    def _fail(self, what: str, output: bool = True) -> McpUnavailable:
        tail = self._stderr_tail() if output else ""
        self.state = "failed"
        self.reason = f"{what} (its last output: {tail})" if tail else what  # for `%kimi mcp`
        self.tools = []
        message = f"The {self.label} {what}."
        if tail:
            message += f" Its last output: {tail}" + ("" if tail[-1] in ".!?" else ".")
        message += " The next cell (or `%kimi mcp`) will try to start it again."
        return McpUnavailable(message)

    def _stderr_size(self) -> int:
        try:
            return os.fstat(self._stderr.fileno()).st_size if self._stderr is not None else 0
        except (OSError, ValueError):
            return 0

    def _stderr_tail(self, lines: int = 5, chars: int = 600) -> str:
        """The last lines the server wrote to stderr since it started or since the last call.

        Read with pread: the child shares the file offset, so seeking would move its writes."""
        size = self._stderr_size()
        start = max(self._stderr_mark, size - chars * 2)
        if self._stderr is None or size <= start:
            return ""
        try:
            data = os.pread(self._stderr.fileno(), size - start, start).decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        kept = [line.strip() for line in data.splitlines() if line.strip()][-lines:]
        return " / ".join(kept)[-chars:]

    async def _hold(self, ready: "asyncio.Future[list[McpTool]]") -> None:
        from mcp import ClientSession

        try:
            async with contextlib.AsyncExitStack() as stack:
                streams = await stack.enter_async_context(self._transport())
                session = await stack.enter_async_context(ClientSession(streams[0], streams[1]))
                await session.initialize()
                tools = await self._list_tools(session)
                self._session = session
                if not ready.done():
                    ready.set_result(tools)
                assert self._closing is not None
                await self._closing.wait()
        except BaseException as exc:  # noqa: BLE001 - reported through `ready`
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else McpUnavailable(describe(exc)))
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            self._session = None

    def _transport(self) -> contextlib.AbstractAsyncContextManager[Any]:
        spec = self.spec
        if spec.url:
            return _http_streams(spec)
        from mcp.client.stdio import StdioServerParameters, stdio_client

        if self._stderr is not None:
            self._stderr.close()
        self._stderr = tempfile.TemporaryFile("w+b")
        self._stderr_mark = 0
        params = StdioServerParameters(command=spec.command[0], args=list(spec.command[1:]),
                                       env=dict(spec.env) or None, cwd=spec.cwd)
        return stdio_client(params, errlog=self._stderr)

    async def _list_tools(self, session: Any) -> list[McpTool]:
        tools: list[McpTool] = []
        cursor = None
        while True:  # tools/list is paginated
            if cursor is None:
                page = await session.list_tools()
            else:
                from mcp.types import PaginatedRequestParams

                page = await session.list_tools(params=PaginatedRequestParams(cursor=cursor))
            for t in page.tools:
                wire = t.model_dump(by_alias=True, mode="json", exclude_none=True)
                tools.append(McpTool(
                    server=self.spec.name,
                    name=wire["name"],
                    qualified=qualified_name(self.spec.name, wire["name"]),
                    description=(wire.get("description") or wire.get("title") or "").strip(),
                    input_schema=wire.get("inputSchema") or {"type": "object", "properties": {}},
                    read_only=(wire.get("annotations") or {}).get("readOnlyHint") is True,
                ))
            cursor = page.next_cursor
            if not cursor:
                return tools


@contextlib.asynccontextmanager
async def _http_streams(spec: ServerSpec) -> AsyncIterator[Any]:
    """The streamable HTTP transport with the entry's headers (httpx2, as in the SDK)."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    timeout = httpx2.Timeout(30.0, read=max(300.0, spec.timeout))
    async with httpx2.AsyncClient(headers=dict(spec.headers), timeout=timeout) as client:
        async with streamable_http_client(spec.url, http_client=client) as streams:
            yield streams


def describe(exc: BaseException) -> str:
    """One line for an error, looking inside exception groups (anyio raises those)."""
    while getattr(exc, "exceptions", None):  # an ExceptionGroup (or the 3.10 backport's)
        exc = exc.exceptions[0]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, FileNotFoundError) and exc.filename:
        text = f"{exc.filename}: no such program or file"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class McpManager:
    """The MCP servers of one kernel session (owned by `Session`)."""

    def __init__(self) -> None:
        self._loop = _Loop()
        self._servers: dict[str, _Connection] = {}
        # `map(tools=True)` asks from several worker threads at once: two starts of one server
        # interleaved on the MCP loop would each stop the other's. One configure-or-start at a
        # time; a thread that waited finds the servers running and only pings them.
        self._lock = threading.RLock()
        atexit.register(self.close)

    def configure(self, specs: dict[str, ServerSpec]) -> None:
        """Follow `Kimi.mcp_servers`: stop servers that were removed or changed, add new ones."""
        with self._lock:
            for name, conn in list(self._servers.items()):
                if specs.get(name) != conn.spec:
                    del self._servers[name]
                    if conn.state == "running":
                        self._loop.run(conn.stop())
            for name, spec in specs.items():
                self._servers.setdefault(name, _Connection(spec))

    def start(self, names: Iterable[str] | None = None) -> list[McpUnavailable]:
        """Start the servers that are not running (all, or `names`), side by side, after
        pinging the running ones. Returns the failures; each is marked failed, and skipped.
        A kernel interrupt cancels the starts and raises `Interrupted` (one line for the user).
        """
        with self._lock:
            chosen = [c for n, c in self._servers.items() if names is None or n in names]
            if not chosen:
                return []
            try:
                import mcp  # noqa: F401  (an optional extra)
            except ImportError:
                for conn in chosen:
                    conn.state, conn.reason = "failed", "the `mcp` package is not installed"
                return [McpUnavailable("Kimi.mcp_servers is set, but the `mcp` package is not installed, so "
                                       "no MCP server was started. Install it with "
                                       "`pip install 'kimi-jupyter[mcp]'` and restart the kernel.")]

            async def start_all() -> list[Any]:
                # A server that died since the last cell is found by a ping, and started again.
                await asyncio.gather(*(c.check() for c in chosen if c.state == "running"))
                todo = [c for c in chosen if c.state != "running"]
                return await asyncio.gather(*(c.start() for c in todo), return_exceptions=True)

            try:
                outcomes = self._loop.run(start_all())
            except KeyboardInterrupt:
                # The starts are cancelled on the MCP loop (each server is marked "its start was
                # interrupted"); the user gets one line, not a traceback through asyncio.
                names = ", ".join(f"'{c.spec.name}'" for c in chosen if c.state != "running")
                what = f"starting the MCP server(s) {names}" if names else "checking the MCP servers"
                raise Interrupted(f"Stopped by the user while {what}. "
                                  "The next cell (or `%kimi mcp`) will try again.") from None
            return [o if isinstance(o, McpUnavailable) else McpUnavailable(describe(o))
                    for o in outcomes if isinstance(o, BaseException)]

    def tools(self) -> list[McpTool]:
        return [t for c in self._servers.values() if c.state == "running" for t in c.tools]

    def running(self, server: str) -> bool:
        conn = self._servers.get(server)
        return conn is not None and conn.state == "running"

    def statuses(self) -> list[ServerStatus]:
        return [ServerStatus(n, c.spec.transport, c.spec.describe(), c.state, c.reason, list(c.tools))
                for n, c in self._servers.items()]

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for c in self._servers.values() for s in c.spec.secrets())

    def call(self, server: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Call a tool; raises McpUnavailable, McpToolError, or KeyboardInterrupt (call cancelled)."""
        conn = self._servers.get(server)
        if conn is None:
            raise McpUnavailable(f"There is no MCP server named '{server}' any more.")
        return self._loop.run(conn.call(tool, arguments))

    def close(self) -> None:
        """Stop every server (at kernel exit): stdio servers get their stdin closed, then a signal."""
        if not self._loop.running():
            return

        async def stop_all() -> None:
            await asyncio.gather(*(c.stop() for c in self._servers.values()), return_exceptions=True)

        with contextlib.suppress(Exception, KeyboardInterrupt):
            self._loop.run(stop_all())

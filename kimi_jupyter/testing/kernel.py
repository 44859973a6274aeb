"""Drive real kernels the way a frontend does: shared by the tests, the benchmarks and the demo.

- `notebook_client`: nbclient for whole notebooks, hardened against a
  missed-reply stall seen with widget-heavy output, with a hook that sees every
  iopub message as it arrives (the demo echoes the stream to the terminal).
- `Kernel`: one kernel, cell by cell, like a person at a notebook: it answers
  `input()` prompts (approval questions) on the stdin channel, which nbclient
  cannot, and collects what each cell showed.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable


def _poll_in_slices(channel: Any, step: float = 0.5) -> None:
    """Make `channel.get_msg(timeout)` poll in short slices.

    With widget-heavy output, a zmq.asyncio `poll(timeout)` sometimes misses the
    wake-up for a message that has already arrived and returns only when the
    timeout expires, so nbclient waits its whole cell timeout for an
    execute_reply that was there all along (jupyter/nbclient#312; seen here as
    random 120 s pauses after `%%kimi` cells). Re-polling every `step` seconds
    picks the message up.
    """
    from queue import Empty

    original = channel.get_msg

    async def get_msg(timeout: float | None = None) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = step if deadline is None else max(0.0, min(step, deadline - time.monotonic()))
            try:
                return await original(left)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    channel.get_msg = get_msg


IPC = os.name == "posix"  # zmq has no ipc:// transport on Windows: TCP there


def _ipc_endpoint() -> str:
    """A fresh path prefix for a kernel's sockets.

    Test kernels talk over Unix sockets, not TCP: jupyter_client picks TCP ports by
    binding and releasing them, and on a busy machine another kernel can take a port
    in between ("Address already in use", a kernel that dies before it starts). A
    private temporary folder per kernel also keeps the socket files out of the cwd.
    """
    import tempfile

    return os.path.join(tempfile.mkdtemp(prefix="kimi-kernel-"), "k")


def notebook_client(
    nb: Any,
    cwd: Path,
    timeout: int = 300,
    *,
    on_message: Callable[[dict[str, Any]], None] | None = None,
    on_cell_start: Callable[[Any], None] | None = None,
    on_cell_done: Callable[[Any], None] | None = None,
    quiet_kernel: bool = False,
    **kwargs: Any,
) -> Any:
    """An nbclient `NotebookClient` for headless runs of notebooks with `%%kimi` cells.

    `on_message` sees every iopub message of a running cell; `on_cell_start` and
    `on_cell_done` get the cell. `quiet_kernel` hides the kernel's own start-up
    warnings (e.g. "running over TCP without encryption"), for terminal output.
    """
    from nbclient import NotebookClient

    class HeadlessClient(NotebookClient):
        def create_kernel_manager(self) -> Any:
            km = super().create_kernel_manager()
            if IPC:
                km.transport, km.ip = "ipc", _ipc_endpoint()
            return km

        async def async_start_new_kernel_client(self) -> Any:
            kc = await super().async_start_new_kernel_client()
            _poll_in_slices(kc.shell_channel)
            _poll_in_slices(kc.iopub_channel)
            return kc

        def process_message(self, msg: dict, cell: Any, cell_index: int) -> Any:
            if on_message is not None:
                on_message(msg)
            return super().process_message(msg, cell, cell_index)

    if quiet_kernel:
        kwargs.setdefault("extra_arguments", ["--IPKernelApp.log_level=ERROR"])
    client = HeadlessClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}}, **kwargs)
    if on_cell_start is not None:
        client.on_cell_execute = lambda cell, cell_index: on_cell_start(cell)
    if on_cell_done is not None:
        client.on_cell_executed = lambda cell, cell_index, execute_reply: on_cell_done(cell)
    return client


@dataclass
class Execution:
    """What one cell did: its iopub messages, its reply, and the prompts it asked."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    reply: dict[str, Any] = field(default_factory=dict)
    prompts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.reply.get("content", {}).get("status") == "ok"

    @property
    def text(self) -> str:
        """Everything a reader sees: streams, and each display's markdown, HTML or plain text."""
        texts: list[str] = []
        for msg in self.messages:
            content = msg["content"]
            if msg["msg_type"] == "stream":
                texts.append(content["text"])
            elif msg["msg_type"] in ("display_data", "execute_result", "update_display_data"):
                data = content.get("data", {})
                texts.append(str(data.get("text/markdown") or data.get("text/html") or data.get("text/plain", "")))
            elif msg["msg_type"] == "error":
                texts.append("\n".join(content["traceback"]))
        return "".join(texts)

    @property
    def payloads(self) -> list[dict[str, Any]]:
        """The reply's payloads (e.g. `set_next_input` from `-f code`)."""
        return list(self.reply.get("content", {}).get("payload", []))


class Kernel:
    """A real IPython kernel (jupyter_client), with a frontend's stdin."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        """`env`: the kernel's whole environment (default: this process's)."""
        from jupyter_client.manager import KernelManager

        self.km = (KernelManager(kernel_name="python3", transport="ipc", ip=_ipc_endpoint()) if IPC
                   else KernelManager(kernel_name="python3"))
        self.km.start_kernel(env=dict(os.environ) if env is None else env)
        self.kc = self.km.client()
        self.kc.start_channels()
        try:
            self.kc.wait_for_ready(timeout=60)
        except RuntimeError:
            self.close()
            raise

    def execute(self, code: str, *, answers: Iterable[str] = (), timeout: float = 60) -> Execution:
        """Run `code`; each `input()` it calls gets the next of `answers` (none left: EOF-like empty)."""
        run = Execution()
        pending = list(answers)

        def stdin_hook(msg: dict[str, Any]) -> None:
            run.prompts.append(msg["content"].get("prompt", ""))
            self.kc.input(pending.pop(0) if pending else "")

        run.reply = self.kc.execute_interactive(
            code, timeout=timeout, output_hook=run.messages.append, allow_stdin=True, stdin_hook=stdin_hook
        )
        return run

    def run(self, code: str, *, answers: Iterable[str] = (), timeout: float = 60) -> str:
        """Run code; return what it showed. Fails on an error."""
        run = self.execute(code, answers=answers, timeout=timeout)
        assert run.ok, run.text
        return run.text

    def value(self, expr: str) -> Any:
        """The JSON value of `expr` in the kernel."""
        out = self.run(f"import json as _j; print('<<value>>' + _j.dumps({expr}))")
        return json.loads(out[out.rindex("<<value>>") + len("<<value>>"):])

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
        if IPC:
            try:
                os.rmdir(os.path.dirname(self.km.ip))  # emptied by the shutdown
            except OSError:
                pass

    def __enter__(self) -> "Kernel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

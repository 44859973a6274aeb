"""Run notebooks headless in real kernels: the helper the tests, the benchmarks and the demo share.

nbclient does the work; `notebook_client` hardens it against a missed-reply
stall seen with widget-heavy output, and lets a caller watch every iopub
message as it arrives (the demo echoes the stream to the terminal with it).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable


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

"""Drive a real kernel with stdin, for approval prompts (nbclient has no stdin).

``StdinKernel`` starts an ipykernel with ``jupyter_client``, runs cells with
``allow_stdin=True`` and answers each ``input_request`` with a callback, the way a
person answers ``input()`` in JupyterLab. What the cell printed and displayed, and the
prompts it asked, come back in a ``CellRun``.
"""

from __future__ import annotations

import os
import queue
import time
from dataclasses import dataclass, field
from contextlib import contextmanager
from typing import Any, Callable, Iterator


@dataclass
class CellRun:
    status: str = ""
    prompts: list[str] = field(default_factory=list)
    text: str = ""  # streams, text/plain of displays and results, and errors, in order
    outputs: list[dict[str, Any]] = field(default_factory=list)


class StdinKernel:
    def __init__(self, client: Any) -> None:
        self.client = client

    def run(self, code: str, answer: Callable[[str], str] | None = None, timeout: float = 120) -> CellRun:
        """Run ``code``; each stdin prompt is answered with ``answer(prompt)``.

        A prompt with no ``answer`` fails the run: a cell that should not ask must not hang.
        """
        kc = self.client
        msg_id = kc.execute(code, allow_stdin=True)
        run = CellRun()
        deadline = time.monotonic() + timeout
        idle = False
        reply = None
        while not (idle and reply is not None):
            if time.monotonic() > deadline:
                raise TimeoutError(f"cell did not finish in {timeout} s; so far: {run.text[-2000:]!r}")
            self._answer_stdin(run, answer)
            try:
                msg = kc.get_iopub_msg(timeout=0.05)
            except queue.Empty:
                msg = None
            if msg is not None and msg["parent_header"].get("msg_id") == msg_id:
                self._record(run, msg)
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
            if reply is None:
                try:
                    shell_msg = kc.get_shell_msg(timeout=0.01)
                except queue.Empty:
                    shell_msg = None
                if shell_msg is not None and shell_msg["parent_header"].get("msg_id") == msg_id:
                    reply = shell_msg
                    run.status = shell_msg["content"]["status"]
        return run

    def _answer_stdin(self, run: CellRun, answer: Callable[[str], str] | None) -> None:
        try:
            msg = self.client.get_stdin_msg(timeout=0.01)
        except queue.Empty:
            return
        if msg["msg_type"] != "input_request":
            return
        prompt = msg["content"]["prompt"]
        run.prompts.append(prompt)
        if answer is None:
            raise AssertionError(f"the kernel asked {prompt!r} but this run expects no prompt")
        self.client.input(answer(prompt))

    @staticmethod
    def _record(run: CellRun, msg: dict[str, Any]) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            run.text += content["text"]
        elif kind in ("display_data", "execute_result"):
            data = content.get("data", {})
            run.text += "\n" + str(data.get("text/plain", "")) + "\n"
        elif kind == "error":
            run.text += f"\n{content['ename']}: {content['evalue']}\n"
        else:
            return
        run.outputs.append({"msg_type": kind, **content})


@contextmanager
def stdin_kernel(env: dict[str, str] | None = None, startup_timeout: float = 120) -> Iterator[StdinKernel]:
    """A fresh python3 kernel with ``env`` added to this process's environment."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=startup_timeout,
                              env={**os.environ, **(env or {})})
    try:
        yield StdinKernel(kc)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

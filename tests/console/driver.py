"""Drive a real `jupyter console` as a person at a terminal would, and read what it printed.

`JupyterConsole` starts `jupyter console` (jupyter_console from PyPI) in a pseudo-terminal
with pexpect, with its own kernel, sends input lines, and waits for the next `In [n]:`
prompt. `transcript()` is what the terminal received, bytes decoded as they came (escape
sequences kept), so a test can check both what a reader sees (`visible`) and what the
terminal was asked to do (cursor moves, clipboard writes, ...).

It uses the simple prompt (`input()`), not prompt_toolkit, so the transcript holds the
kernel's output and the prompts, not an editor's redraws. Reusable for terminal-escape
tests: every byte the console printed is in `transcript()`.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

# CSI, OSC (BEL- or ST-terminated) and other two-byte ESC sequences.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[ -/]*[0-~]")
_PROMPT = re.compile(r"In \[(\d+)\]: ")


def visible(text: str) -> str:
    """What a reader sees: escape sequences gone, CRLF (the pty's newline) as \\n."""
    return _ANSI.sub("", text).replace("\r\n", "\n")


class JupyterConsole:
    """One `jupyter console` process with its own python3 kernel, in a pty."""

    def __init__(self, env: dict[str, str], cwd: Path, timeout: float = 120) -> None:
        import tempfile

        import pexpect

        exe = shutil.which("jupyter-console", path=os.path.dirname(sys.executable)) or "jupyter-console"
        # Unix sockets, not TCP: a TCP port picked by bind-and-release can be taken by another
        # kernel on a busy machine before this one binds it, and the console then waits forever.
        # The timeout is generous for the same reason: CI's two cores are shared.
        self._sockets = tempfile.mkdtemp(prefix="kimi-console-")
        args = ["--simple-prompt", "--kernel=python3", "--ZMQTerminalInteractiveShell.include_other_output=False",
                "--ZMQTerminalInteractiveShell.banner=", "--ZMQTerminalInteractiveShell.kernel_timeout=120",
                "--transport=ipc", f"--ip={os.path.join(self._sockets, 'k')}"]
        env = {**env, "TERM": "dumb", "PYTHONUNBUFFERED": "1", "JUPYTER_PLATFORM_DIRS": "1"}
        self.timeout = timeout
        self._log: list[str] = []
        self.child = pexpect.spawn(exe, args, env=env, cwd=str(cwd), encoding="utf-8", codec_errors="replace",
                                   timeout=timeout, dimensions=(50, 200))
        self._expect_prompt()

    def _expect_prompt(self, timeout: float | None = None) -> str:
        import pexpect

        try:
            self.child.expect(_PROMPT, timeout=timeout or self.timeout)
        except (pexpect.TIMEOUT, pexpect.EOF) as exc:
            raise AssertionError(f"jupyter console gave no prompt ({type(exc).__name__}); it printed:\n"
                                 f"{self.transcript()}{self.child.before}") from None
        chunk = self.child.before + self.child.after
        self._log.append(chunk)
        return chunk

    def run(self, *lines: str, timeout: float | None = None) -> str:
        """Type `lines` (a multi-line cell ends with an empty line), return what was printed until the next prompt."""
        for line in lines:
            self.child.sendline(line)
        return self._expect_prompt(timeout)

    def transcript(self) -> str:
        return "".join(self._log)

    def close(self) -> None:
        """Quit as a user would (`exit` also shuts its kernel down); force only if it hangs."""
        import pexpect

        if self.child.isalive():
            self.child.sendline("exit")
            try:
                self.child.expect(pexpect.EOF, timeout=30)
            except pexpect.TIMEOUT:
                pass
        self.child.close(force=True)
        shutil.rmtree(self._sockets, ignore_errors=True)

    def __enter__(self) -> "JupyterConsole":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

"""`Kimi.mcp_servers` entries checked and turned into `ServerSpec` values.

Pure and light (no `mcp` import): `settings.py` validates the setting with it the
moment the user assigns it, so a typo is reported by `%config` naming the server,
not later in the middle of a cell.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Mapping

DEFAULT_START_TIMEOUT = 30.0  # a local server starts in ~1 s; `uvx` may first install one
DEFAULT_CALL_TIMEOUT = 120.0
SEPARATOR = "__"  # the model sees `server__tool`

# OpenAI function names are ^[a-zA-Z0-9_-]{1,64}$; the server name is their prefix.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSW|AUTH|CREDENTIAL", re.I)
_KEYS = {"command", "env", "cwd", "url", "headers", "timeout", "start_timeout"}
EXAMPLE = ('{"time": {"command": ["uvx", "mcp-server-time"]}} or '
           '{"docs": {"url": "http://127.0.0.1:8000/mcp"}}')


@dataclass(frozen=True)
class ServerSpec:
    """How to reach one MCP server: a command (stdio) or a URL (streamable HTTP)."""

    name: str
    command: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    cwd: str | None = None
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    timeout: float = DEFAULT_CALL_TIMEOUT
    start_timeout: float = DEFAULT_START_TIMEOUT

    @property
    def transport(self) -> str:
        return "http" if self.url else "stdio"

    def describe(self) -> str:
        """Where the server is, for messages: the URL without its query, or the program's
        name without its arguments (either can hold a token)."""
        if self.url:
            return self.url.split("?", 1)[0].split("#", 1)[0]
        return os.path.basename(self.command[0])

    def secrets(self) -> tuple[str, ...]:
        """Header values and secret-looking `env` values (`GITHUB_TOKEN`, `API_KEY`, …):
        redacted from anything shown or sent, even when a server echoes them."""
        values = [v for _, v in self.headers] + [v.split(None, 1)[-1] for _, v in self.headers]
        values += [v for k, v in self.env if _SECRET_NAME.search(k)]
        return tuple(v for v in values if len(v) >= 8)  # "Bearer TOKEN": the token alone too


def parse_servers(value: Mapping[str, Any] | None) -> dict[str, ServerSpec]:
    """Every entry as a ServerSpec; ValueError naming the first bad server and what is wrong."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"Kimi.mcp_servers must be a dict of servers by name, e.g. {EXAMPLE}")
    return {name: parse_server(name, entry) for name, entry in value.items()}


def parse_server(name: Any, entry: Any) -> ServerSpec:
    where = f"Kimi.mcp_servers[{name!r}]"
    if not isinstance(name, str) or not _NAME.match(name) or SEPARATOR in name:
        raise ValueError(f"{where}: a server name must be 1-40 letters, digits, '-' or '_', "
                         f"without '{SEPARATOR}' (the model sees tools as name{SEPARATOR}tool)")
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} must be a dict with 'command' or 'url', e.g. {EXAMPLE}")
    unknown = sorted(set(map(str, entry)) - _KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                         f"allowed: {', '.join(sorted(_KEYS))}")
    if ("command" in entry) == ("url" in entry):
        raise ValueError(f"{where} needs exactly one of 'command' (a stdio server) or "
                         f"'url' (a streamable HTTP server), e.g. {EXAMPLE}")
    timeouts = {k: _seconds(where, k, entry[k]) for k in ("timeout", "start_timeout") if k in entry}
    if "url" in entry:
        for key in ("env", "cwd"):
            if key in entry:
                raise ValueError(f"{where}: '{key}' applies to a stdio server ('command'), not to a URL")
        url = entry["url"]
        if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
            raise ValueError(f"{where}: 'url' must be an http:// or https:// URL, got {url!r}")
        return ServerSpec(name, url=url, headers=_str_pairs(where, "headers", entry.get("headers")), **timeouts)
    if "headers" in entry:
        raise ValueError(f"{where}: 'headers' applies to an HTTP server ('url'), not to a command")
    command = entry["command"]
    if isinstance(command, str):
        command = shlex.split(command)
    if (not isinstance(command, (list, tuple)) or not command
            or not all(isinstance(c, str) and c for c in command)):
        raise ValueError(f"{where}: 'command' must be a non-empty list of strings, "
                         f"e.g. [\"uvx\", \"mcp-server-time\"], got {entry['command']!r}")
    cwd = entry.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise ValueError(f"{where}: 'cwd' must be a string path")
    return ServerSpec(name, command=tuple(command), env=_str_pairs(where, "env", entry.get("env")),
                      cwd=cwd, **timeouts)


def _str_pairs(where: str, key: str, value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in value.items()):
        raise ValueError(f"{where}: '{key}' must be a dict of strings to strings")
    return tuple(sorted(value.items()))


def _seconds(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{where}: '{key}' must be a positive number of seconds, got {value!r}")
    return float(value)

"""MCP servers' tools as tools of the agent loop: schemas, approval, results as text.

The connections themselves are in `mcp_runtime` (a background loop); this module is
what the registry talks to, through the small provider interface of `ToolContext`
(`schemas`, `owns`, `call`). Everything a server sends is untrusted text: results are
capped and redacted before the model sees them, and `%kimi mcp` shows descriptions
through the same sanitizer as model text.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from typing import TYPE_CHECKING, Any

from ..core.errors import redact_all
from ..core.sanitize import plain
from ..core.tool_context import ToolContext
from ..core.tool_output import NO_OUTPUT, ToolOutput, cap_output, png_size
from .approval import approve

if TYPE_CHECKING:
    from ..core.session import Session
    from .mcp_runtime import McpManager, McpTool, ServerStatus

INTERRUPTED = "Interrupted by the user."
_MAX_DESCRIPTION = 1024  # characters of a server's tool description offered to the model


def mcp_manager(session: "Session") -> "McpManager | None":
    """The session's McpManager, following `Kimi.mcp_servers`; None when none are set."""
    if not session.config.mcp_servers and session.mcp is None:
        return None  # never imports the MCP code for users who don't use it
    from ..core.mcp_spec import parse_servers
    from .mcp_runtime import McpManager

    if session.mcp is None:
        session.mcp = McpManager()
    session.mcp.configure(parse_servers(session.config.mcp_servers))
    return session.mcp


def tool_providers(session: "Session") -> tuple["McpTools", ...]:
    """Tools from outside the registry for one cell: the MCP servers' (SPEC §10)."""
    manager = mcp_manager(session)
    return () if manager is None else (McpTools(manager),)


class McpTools:
    """The tools of `Kimi.mcp_servers` for one cell, offered as `server__tool`.

    Made per cell by the session; the manager (and the servers) live for the session.
    """

    def __init__(self, manager: "McpManager") -> None:
        self.manager = manager
        self._tools: dict[str, "McpTool"] = {}
        self._told: set[str] = set()  # servers the user was already told about in this cell

    def schemas(self, ctx: ToolContext) -> list[dict[str, Any]]:
        """Start the servers not running yet (first use, or after a failure) and list their tools."""
        for failure in self.manager.start():
            self._notice(ctx, str(failure))
        self._tools = {t.qualified: t for t in self.manager.tools()}
        return [tool_schema(t) for t in self._tools.values()]

    def owns(self, name: str) -> bool:
        return name in self._tools

    def call(self, name: str, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        """Run one call (after approval unless the tool is read-only). Never raises."""
        from .mcp_runtime import McpToolError, McpUnavailable

        tool = self._tools[name]
        secrets = (*ctx.secrets, *self.manager.secrets())
        if not self.manager.running(tool.server):
            # No restart within a cell: a server that crashes on a call would crash again.
            return _error(f"Error: the MCP server '{tool.server}' is not running, so `{name}` "
                          "cannot be called in this reply.", ctx, secrets)
        try:
            if not tool.read_only:
                refusal = approve(ctx, what=f"the MCP tool `{name}`")
                if refusal is not None:
                    return refusal
            result = self.manager.call(tool.server, tool.name, arguments)
        except KeyboardInterrupt:
            return ToolOutput(text=INTERRUPTED, ok=False, interrupted=True)
        except McpUnavailable as exc:
            self._notice(ctx, redact_all(str(exc), secrets), server=tool.server)
            return _error(f"Error: {exc} Do not call tools of '{tool.server}' again in this reply.", ctx, secrets)
        except McpToolError as exc:
            return _error(f"Error: the MCP server '{tool.server}' refused the call: {exc}", ctx, secrets)
        if not tool.read_only:
            # What a tool that acts on the world returns (a page it fetched, a file it
            # wrote back) is untrusted: model code after it is asked about again.
            ctx.read_untrusted(f"the result of the MCP tool `{name}`")
        text, images, ok = result_text(result)
        return ToolOutput(text=cap_output(redact_all(text, secrets), ctx.max_output), ok=ok, images=images)

    def _notice(self, ctx: ToolContext, text: str, server: str | None = None) -> None:
        """Tell the user once per server and cell (`ctx.notice`, else stderr)."""
        if server is not None:
            if server in self._told:
                return
            self._told.add(server)
        text = redact_all(text, (*ctx.secrets, *self.manager.secrets()))
        if ctx.notice is not None:
            ctx.notice(text)
        else:
            sys.stderr.write(f"kimi-jupyter: {plain(text)}\n")


def tool_schema(tool: "McpTool") -> dict[str, Any]:
    """The OpenAI `tools` entry: the server's own JSON input schema, as an object schema."""
    params = dict(tool.input_schema) if isinstance(tool.input_schema, dict) else {}
    params.setdefault("type", "object")
    if params["type"] == "object":
        params.setdefault("properties", {})
    description = tool.description or f"The '{tool.name}' tool."
    if len(description) > _MAX_DESCRIPTION:
        description = description[:_MAX_DESCRIPTION] + "…"
    return {
        "type": "function",
        "function": {
            "name": tool.qualified,
            "description": f"[MCP server '{tool.server}'] {description}",
            "parameters": params,
        },
    }


def result_text(result: dict[str, Any]) -> tuple[str, list[str], bool]:
    """A `CallToolResult` (wire JSON) as (text for the model, base64 PNGs, ok).

    Text blocks are kept as they are, embedded text resources with their URI, images
    as a note (the PNGs go to vision models through `ToolOutput.images`), anything
    else as a note of what was left out. Structured content is used only when
    there is no text, since servers send the same data as text too.
    """
    parts: list[str] = []
    images: list[str] = []
    for block in result.get("content") or []:
        kind = block.get("type")
        if kind == "text":
            parts.append(str(block.get("text", "")))
        elif kind == "image":
            parts.append(_image_note(block, images))
        elif kind == "resource":
            res = block.get("resource") or {}
            uri = res.get("uri", "?")
            if "text" in res:
                parts.append(f"[resource {uri}]\n{res['text']}")
            else:
                parts.append(f"[binary resource {uri} ({res.get('mimeType', 'unknown type')}) not shown]")
        elif kind == "resource_link":
            about = " — " + block["description"] if block.get("description") else ""
            parts.append(f"[resource link {block.get('uri', '?')} ({block.get('name', '')}){about}]")
        else:
            parts.append(f"[{kind} content ({block.get('mimeType', 'unknown type')}) not shown]")
    if not any(p.strip() for p in parts) and result.get("structuredContent") is not None:
        parts.append(json.dumps(result["structuredContent"], ensure_ascii=False))
    ok = not result.get("isError", False)
    text = "\n".join(parts).strip() or NO_OUTPUT
    if not ok:
        text = "Error (reported by the tool): " + text
    return text, images, ok


# An image is passed on (into the cell, the saved notebook and the model's context) only
# up to these sizes; a tool reply has no cap of its own. Beyond them it is a note.
_MAX_IMAGE_CHARS = 8 << 20  # of base64: ~6 MB of image data
_MAX_IMAGE_PIXELS = 40_000_000


def _image_note(block: dict[str, Any], images: list[str]) -> str:
    mime = block.get("mimeType", "")
    data = str(block.get("data", ""))
    if len(data) > _MAX_IMAGE_CHARS:
        return (f"[image ({mime or 'unknown type'}, {len(data) * 3 / 4 / 2**20:.0f} MB) returned by the tool; "
                "too large to pass on]")
    # A server's "image/png" is taken as it is only when it is one: the PNGs are shown to
    # the user and sent to the model, so what goes on is always canonical base64 of a real image.
    png = data if mime == "image/png" and _is_png(data) else _to_png(data)
    if png is None:
        return (f"[image ({mime or 'unknown type'}) returned by the tool; not readable as an image "
                f"of at most {_MAX_IMAGE_PIXELS // 1_000_000} megapixels]")
    images.append(png)
    size = png_size(png)
    dims = f": {size[0]}x{size[1]} px" if size else ""
    return f"[image {len(images)}{dims}, returned by the tool]"


def _is_png(data: str) -> bool:
    """Strict base64 of a PNG whose header gives a size within `_MAX_IMAGE_PIXELS`."""
    try:
        base64.b64decode(data, validate=True)  # only the base64 alphabet, all through
    except (ValueError, binascii.Error):
        return False
    size = png_size(data)  # None unless it starts with a PNG signature and header
    return size is not None and 0 < size[0] * size[1] <= _MAX_IMAGE_PIXELS


def _to_png(data: str) -> str | None:
    """Another image format as a base64 PNG (the tool message carries PNGs), via Pillow."""
    try:
        import io

        from PIL import Image

        raw = base64.b64decode(data, validate=False)
        out = io.BytesIO()
        with Image.open(io.BytesIO(raw)) as img:  # reads the header only
            if img.width * img.height > _MAX_IMAGE_PIXELS:
                return None
            img.save(out, format="PNG")
        return base64.b64encode(out.getvalue()).decode("ascii")
    except Exception:  # noqa: BLE001 - anything Pillow can't read (its DecompressionBombError included)
        return None


def _error(text: str, ctx: ToolContext, secrets: tuple[str, ...]) -> ToolOutput:
    return ToolOutput(text=cap_output(redact_all(text, secrets), ctx.max_output), ok=False)


def status_markdown(statuses: list["ServerStatus"]) -> str:
    """`%kimi mcp` as a markdown table. Server text is untrusted: cells are escaped, and the
    caller renders the result with `sanitize.markdown_block`."""
    lines = ["| server | state | tool | read-only | description |", "|---|---|---|---|---|"]
    for s in statuses:
        state = s.state if not s.reason else f"{s.state}: {s.reason}"
        where = f"{s.name} ({s.transport}: {s.where})"
        if not s.tools:
            lines.append(f"| {_cell(where)} | {_cell(state)} | — | | |")
        for i, t in enumerate(s.tools):
            first = (_cell(where), _cell(state)) if i == 0 else ("", "")
            summary = t.description.strip().splitlines()[0] if t.description.strip() else ""
            lines.append(f"| {first[0]} | {first[1]} | {_cell(t.qualified)} | "
                         f"{'yes' if t.read_only else 'no (asks first)'} | {_cell(summary, 120)} |")
    return "\n".join(lines)


def _cell(text: str, limit: int = 300) -> str:
    """Plain text in a markdown table cell: one line, pipes and markdown marks escaped."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return "".join("\\" + c if c in "\\|`*_[]<>#~$" else c for c in text)

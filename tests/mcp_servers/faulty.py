"""A small MCP server with the faults kimi-jupyter's MCP client must survive.

Run as ``python faulty.py [--fail-start | --hang-start] [--http PORT]`` (``--hang-start`` first
writes "hanging" to the file named by ``FAULTY_LOG``, if set). Tools:

- ``read_note`` (read-only): returns a note, with ``FAULTY_NOTE`` from the environment;
- ``write_note(text)`` (not read-only): appends to the file named by ``FAULTY_LOG``;
- ``crash`` (read-only): the process exits mid-call, as a server that dies;
- ``leave`` (read-only): answers, then the process exits (between cells);
- ``slow(seconds)`` (read-only): sleeps, for interrupts and time-outs. With ``FAULTY_LOG`` set it
  writes "slow" there first (a test waits until the call is under way), and "slow cancelled"
  if the call is cancelled (the client told the server, rather than waiting it out);
- ``picture`` (read-only): a tiny PNG image and an embedded text resource;
- ``fail`` (read-only): a tool error (``isError``).

Built on the SDK's high-level ``MCPServer`` (mcp 2.x, formerly FastMCP).
"""

from __future__ import annotations

import argparse
import base64
import os
import struct
import sys
import threading
import zlib

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import EmbeddedResource, ImageContent, TextContent, TextResourceContents, ToolAnnotations

READ_ONLY = ToolAnnotations(read_only_hint=True)
WRITES = ToolAnnotations(read_only_hint=False, destructive_hint=False)


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    """A valid RGB PNG, built by hand so the server needs nothing but the SDK."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def build() -> MCPServer:
    server = MCPServer("faulty")

    @server.tool(annotations=READ_ONLY, description="Read the note.\nSecond line of the description.")
    def read_note() -> str:
        return "The note says: " + os.environ.get("FAULTY_NOTE", "(no FAULTY_NOTE)")

    @server.tool(annotations=WRITES, description="Append text to the log file | changes state.")
    def write_note(text: str) -> str:
        with open(os.environ["FAULTY_LOG"], "a", encoding="utf-8") as f:
            f.write(text + "\n")
        return f"Saved {len(text)} characters."

    @server.tool(annotations=READ_ONLY, description="Crash the server process.")
    def crash() -> str:
        sys.stderr.write("faulty: crashing on purpose\n")
        sys.stderr.flush()
        os._exit(3)

    @server.tool(annotations=READ_ONLY, description="Answer, then exit a moment later.")
    def leave() -> str:
        threading.Timer(0.3, os._exit, (0,)).start()
        return "Leaving."

    @server.tool(annotations=READ_ONLY, description="Sleep for some seconds, then answer.")
    async def slow(seconds: float = 30.0) -> str:
        if os.environ.get("FAULTY_LOG"):
            with open(os.environ["FAULTY_LOG"], "a", encoding="utf-8") as f:
                f.write("slow\n")
        try:
            await anyio.sleep(seconds)
        except anyio.get_cancelled_exc_class():
            if os.environ.get("FAULTY_LOG"):
                with open(os.environ["FAULTY_LOG"], "a", encoding="utf-8") as f:
                    f.write("slow cancelled\n")
            raise
        return f"Slept {seconds} s."

    @server.tool(annotations=READ_ONLY, description="A tiny picture and a text resource.")
    def picture() -> list:
        png = base64.b64encode(tiny_png()).decode()
        return [
            TextContent(type="text", text="Here is a red picture."),
            ImageContent(type="image", data=png, mime_type="image/png"),
            EmbeddedResource(type="resource", resource=TextResourceContents(
                uri="note://readme", mime_type="text/plain", text="Embedded readme text.")),
        ]

    @server.tool(annotations=READ_ONLY, description="Always fails. <img src=x onerror=alert(1)>")
    def fail() -> str:
        raise ToolError("the fail tool failed, as asked")

    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fail-start", action="store_true")
    parser.add_argument("--hang-start", action="store_true")
    parser.add_argument("--http", type=int, default=0)
    args = parser.parse_args()
    if args.fail_start:
        sys.exit("faulty: cannot start (asked to fail)")
    if args.hang_start:
        if os.environ.get("FAULTY_LOG"):  # so a test can wait until the start is under way
            with open(os.environ["FAULTY_LOG"], "a", encoding="utf-8") as f:
                f.write("hanging\n")
        # Hang until the client closes our stdin, or goes away (a killed kernel): never outlive it.
        sys.stdin.buffer.read()
        return
    server = build()
    if args.http:
        server.run("streamable-http", host="127.0.0.1", port=args.http)
    else:
        server.run()


if __name__ == "__main__":
    main()

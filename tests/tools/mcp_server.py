"""A small MCP server written with the official ``mcp`` package, for tests and the tutorial.

``python -m tests.tools.mcp_server --http PORT`` serves it over streamable HTTP on 127.0.0.1
(at ``/mcp``); ``python -m tests.tools.mcp_server`` speaks stdio. ``MCP_DEMO_VARIANT=2`` changes
the description of ``add`` (a new version when webcap refreshes the source).
"""

from __future__ import annotations

import argparse
import os
import time

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("webcap-demo")
VARIANT = os.environ.get("MCP_DEMO_VARIANT", "1")


@server.tool(
    description="Add two integers." if VARIANT == "1" else "Add two integers and return the sum.",
    annotations=ToolAnnotations(readOnlyHint=True),
)
def add(a: int, b: int) -> int:
    return a + b


@server.tool(
    description="Wait the given number of seconds, then say so.",
    annotations=ToolAnnotations(readOnlyHint=True),
)
def slow(seconds: float) -> str:
    time.sleep(seconds)
    return f"slept {seconds}"


@server.tool(
    description="Delete a note by name.",
    annotations=ToolAnnotations(destructiveHint=True),
)
def delete_note(name: str) -> str:
    return f"deleted {name}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, help="serve streamable HTTP on 127.0.0.1:PORT")
    args = parser.parse_args()
    if args.http:
        server.run("streamable-http", host="127.0.0.1", port=args.http)
    else:
        server.run("stdio")


if __name__ == "__main__":
    main()

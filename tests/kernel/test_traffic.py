"""Frontend traffic while streaming: it must grow linearly with the text.

A real kernel (jupyter_client) streams a paced 40,000-character reasoning
reply through the live widget view; every iopub message is counted. A view
that resent the whole text ten times a second would send ~30× the text. The
text itself goes twice (live, then in the static block the notebook keeps), so
~2.1× is the floor; a cell that reuses the widgets measures ~2.5× (opening them,
once per kernel, adds ~12 kB; a reply before the measured one does that here).
"""

from __future__ import annotations

import json
import os

import pytest

from kimi_jupyter.testing import long_reasoning_scenario
from kimi_jupyter.testing.pytest_plugin import API_KEY, loopback_env


def iopub_bytes_for(cell: str, env: dict[str, str], setup: list[str], timeout: float = 120) -> tuple[int, int, str]:
    """Run `setup` then `cell`; return (bytes, messages) of iopub traffic for `cell` and its text output."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        for src in setup:
            reply = kc.execute_interactive(src, timeout=timeout)
            assert reply["content"]["status"] == "ok", reply
        size = count = 0
        seen: list[str] = []

        def hook(msg: dict) -> None:
            nonlocal size, count
            count += 1
            # Bytes as they travel to the browser: header, parent, metadata and content as JSON.
            # jupyter_client packs with ensure_ascii=False, as UTF-8.
            frames = [msg["header"], msg["parent_header"], msg["metadata"], msg["content"]]
            size += len(json.dumps(frames, default=str, ensure_ascii=False).encode())
            if msg["msg_type"] in ("display_data", "update_display_data", "stream"):
                seen.append(json.dumps(msg["content"]))

        reply = kc.execute_interactive(cell, timeout=timeout, output_hook=hook)
        assert reply["content"]["status"] == "ok", reply
        return size, count, "\n".join(seen)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.mark.slow
def test_widget_stream_traffic_is_linear(kimi_server):
    chars = 40_000
    kimi_server.add_scenario(long_reasoning_scenario("long40k", chars=chars, cps=4_000, match=r"think for 40k"))
    # 1.5 s: longer than the view waits (~1 s) before it shows the widget, which it then opens.
    kimi_server.add_scenario(long_reasoning_scenario("warm", chars=3_000, cps=2_000, match=r"warm the widgets"))
    env = dict(os.environ, **loopback_env(kimi_server))
    size, count, text = iopub_bytes_for(
        "%%kimi\nPlease think for 40k characters.",
        env,
        ["%load_ext kimi_jupyter", "import ipywidgets", "%%kimi\nPlease warm the widgets up."],
    )
    assert "application/vnd.jupyter.widget-view+json" in text, "the live widget view was not used"
    assert "<details" in text, "the static reasoning block did not replace the widget"
    ratio = size / chars
    print(f"iopub: {size:,} bytes in {count} messages for {chars:,} characters = {ratio:.2f}x")
    assert ratio < 2.8

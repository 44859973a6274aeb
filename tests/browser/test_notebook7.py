"""The live-streaming check again in Notebook 7 (`jupyter notebook`, URL /notebooks/NAME).

Notebook 7 builds on JupyterLab's components but has its own shell: a single
document page, its own header and menu bar, the page itself scrolling, and no
side panels or tabs. The notebook and its outputs use the same widgets, so the
same DOM reads apply; this test proves the widget and the static replacement
work in that shell too.
"""

from __future__ import annotations

import pytest

from .checks import check_live_streaming

pytestmark = pytest.mark.browser


def test_notebook7_live_reasoning_then_static_output(nb7_page, notebook_server, browser_kimi):
    check_live_streaming(nb7_page, notebook_server, browser_kimi, "nb7")
    # It really was Notebook 7's shell: its own logo and no JupyterLab dock panel.
    assert nb7_page.locator("#jp-NotebookLogo").count() == 1
    assert nb7_page.locator("#jp-main-dock-panel").count() == 0
    assert not nb7_page.kimi_errors, nb7_page.kimi_errors

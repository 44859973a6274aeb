"""Fixtures for the browser tests: one loopback Kimi server, one JupyterLab (and,
when asked for, one Notebook 7) server and one Chromium for all of tests/browser.

Package scope, not session: everything stops when the browser tests are done.
Playwright's sync API keeps an asyncio loop marked as running in the main thread
while it is open, which would break later tests that call `asyncio.run()`.

The tests skip when Chromium or playwright is missing, unless the environment
variable CI is set: then they fail, so CI can't pass by skipping them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Iterator

import pytest

from .harness import (
    CHROMIUM_ARGS,
    JupyterServer,
    chromium_path,
    fail_or_skip,
    screenshot,
    start_jupyter,
)
from kimi_jupyter.testing.pytest_plugin import API_KEY, loopback_env


class TimedList(list):
    """`KimiServer.requests` that also notes when each request arrived (time.time())."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, item: Any) -> None:
        import time

        self.times.append(time.time())
        super().append(item)

    def clear(self) -> None:
        self.times.clear()
        super().clear()


@pytest.fixture(scope="package")
def chromium() -> str:
    missing = [m for m in ("playwright", "jupyterlab", "notebook") if importlib.util.find_spec(m) is None]
    if missing:
        fail_or_skip(f"browser tests need {', '.join(missing)} (pip install -e '.[test]')")
    path = chromium_path()
    if path is None:
        fail_or_skip("browser tests need Debian's chromium (apt-get install chromium)")
    return path


@pytest.fixture(scope="package")
def browser_kimi(chromium: str) -> Iterator[Any]:
    """The loopback Kimi server the Jupyter kernels talk to (it runs in this process)."""
    from kimi_jupyter.testing import KimiServer

    srv = KimiServer(api_key=API_KEY).start()
    srv.requests = TimedList()  # a list subclass: the server only appends and clears
    try:
        yield srv
    finally:
        srv.stop()


def _kernel_env(srv: Any) -> dict[str, str]:
    return loopback_env(srv)


def _serve(app: str, root: Any, srv: Any) -> Iterator[JupyterServer]:
    server = start_jupyter(app, root, _kernel_env(srv))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def lab_server(browser_kimi: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    yield from _serve("lab", tmp_path_factory.mktemp("lab"), browser_kimi)


@pytest.fixture(scope="package")
def notebook_server(browser_kimi: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    yield from _serve("notebook", tmp_path_factory.mktemp("nb7"), browser_kimi)


@pytest.fixture(scope="package")
def browser_context(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium with a fresh profile (launch_persistent_context owns --user-data-dir)."""
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        try:
            context = pw.chromium.launch_persistent_context(
                str(profile),
                executable_path=chromium,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 1000},
            )
        except Exception as exc:  # e.g. a Chromium too old or too new for this playwright
            fail_or_skip(f"could not start {chromium} with playwright: {exc}")
        context.set_default_timeout(30_000)
        try:
            yield context
        finally:
            context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _page(context: Any, server: JupyterServer, request: pytest.FixtureRequest) -> Iterator[Any]:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.kimi_errors = errors  # uncaught JS errors, for a test to report
    try:
        yield page
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            try:
                screenshot(page, f"FAILED-{request.node.name}")
            except Exception:
                pass
        page.close()
        server.shutdown_kernels()  # an idle kernel left behind would compete for the 2 CPUs


@pytest.fixture
def lab_page(browser_context: Any, lab_server: JupyterServer, request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from _page(browser_context, lab_server, request)


@pytest.fixture
def nb7_page(browser_context: Any, notebook_server: JupyterServer, request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from _page(browser_context, notebook_server, request)


@pytest.fixture
def artifacts() -> Path:
    from .harness import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS

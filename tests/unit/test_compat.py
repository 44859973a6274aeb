"""`kimi_jupyter._compat`: each private reach works where the private is, degrades where it
is not, and no other module of the package reaches a platform private."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

import kimi_jupyter
from kimi_jupyter import _compat
from kimi_jupyter.core.errors import APIError, Busy, KimiError

PACKAGE = Path(kimi_jupyter.__file__).parent
# The privates of IPython, ipykernel, ipywidgets and openai the package has reached for
# (issue 25), and the custom exception handler `_render_traceback_` replaced.
PRIVATE_NAMES = (
    "_showtraceback", "_last_traceback", "_last_traceback_during_displayhook", "_asyncio_runner",
    "_flush_pending", "_subprocess_flush_pending", "_flush_streams", "_flush", "_states_to_send",
    "_is_active", "_instances", "set_custom_exc",
)
PRIVATE_REACH = re.compile(r"\b(?:%s)\b|\bopenai\._|\b(?:from|import) (?:openai|IPython|ipykernel|ipywidgets)[\w.]*\._"
                           % "|".join(PRIVATE_NAMES))


class Plain:
    """A shell, stream, publisher or widget of some other kind: none of the privates."""


# ---------------------------------------------------------------- the guard

def test_no_private_reach_outside_compat() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "_compat.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if PRIVATE_REACH.search(line):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    assert not found, "platform privates belong in kimi_jupyter/_compat.py:\n" + "\n".join(found)


@pytest.mark.parametrize("line", [
    "        shell._showtraceback(etype, message, stb)",
    "    pub._flush_streams = flush_pending",
    "        widget._states_to_send.update(state)",
    "        from IPython.core.async_helpers import _asyncio_runner",
    "lines = getattr(shell, '_last_traceback', None)",
    "    def _flush(self) -> None:",
    "    from openai._utils._json import openapi_dumps",
    "        ipython.set_custom_exc((KimiError,), show_kimi_error)",
])
def test_the_guard_sees_each_kind_of_reach(line: str) -> None:
    assert PRIVATE_REACH.search(line)


def test_the_guard_passes_our_own_names() -> None:
    for line in ("self._flush_now()", "x = _last_tracebacks", "flush_pending()", "self._instances_seen = 0"):
        assert not PRIVATE_REACH.search(line), line


# ---------------------------------------------------------------- IPython

def test_wrap_showtraceback_wraps_on_the_instance_and_undoes() -> None:
    shown: list[tuple] = []

    class Shell:
        def _showtraceback(self, etype: Any, evalue: Any, stb: Any) -> None:
            shown.append((etype, evalue, stb))

    shell = Shell()
    undo = _compat.wrap_showtraceback(
        shell, lambda show: lambda etype, evalue, stb: show(etype, evalue, [s.upper() for s in stb]))
    assert undo is not None
    shell._showtraceback(ValueError, "v", ["line"])
    undo()
    assert "_showtraceback" not in vars(shell)  # the class's method is back
    shell._showtraceback(ValueError, "v", ["line"])
    assert [s for _, _, s in shown] == [["LINE"], ["line"]]


def test_wrap_showtraceback_leaves_a_shell_without_it_alone() -> None:
    shell = Plain()
    assert _compat.wrap_showtraceback(shell, lambda show: show) is None
    assert vars(shell) == {}


# ---------------------------------------------------------------- ipykernel

def test_kernel_error_state_is_kept_and_put_back() -> None:
    shell = Plain()
    shell._last_traceback = ["outer"]  # type: ignore[attr-defined]
    saved = _compat.kernel_error_state(shell)
    shell._last_traceback = ["model's error"]  # type: ignore[attr-defined]
    _compat.restore_kernel_error_state(shell, saved)
    assert shell._last_traceback == ["outer"]  # type: ignore[attr-defined]
    assert _compat.last_traceback(shell) == ["outer"]


def test_kernel_error_state_without_ipykernel() -> None:
    shell = Plain()
    saved = _compat.kernel_error_state(shell)
    assert saved == {}
    _compat.restore_kernel_error_state(shell, saved)
    assert vars(shell) == {}
    assert _compat.last_traceback(shell) == []
    shell._last_traceback = None  # type: ignore[attr-defined]  # ipykernel before any error
    assert _compat.last_traceback(shell) == []


def test_has_unsent_text() -> None:
    stream = Plain()
    assert _compat.has_unsent_text(stream)  # unknown: flush, as ipykernel would
    stream._flush_pending = False  # type: ignore[attr-defined]
    assert not _compat.has_unsent_text(stream)
    stream._subprocess_flush_pending = True  # type: ignore[attr-defined]
    assert _compat.has_unsent_text(stream)


def test_display_flush_replaced_swaps_only_for_the_block() -> None:
    calls: list[str] = []

    class Publisher:
        def _flush_streams(self) -> None:
            calls.append("ipykernel")

    pub = Publisher()
    with _compat.display_flush_replaced(pub, lambda: calls.append("ours")):
        pub._flush_streams()
        with _compat.display_flush_replaced(pub, lambda: calls.append("inner")):
            pub._flush_streams()  # a display inside a display: the outer swap stays
        pub._flush_streams()
    pub._flush_streams()
    assert calls == ["ours", "ours", "ours", "ipykernel"]
    assert "_flush_streams" not in vars(pub)


@pytest.mark.parametrize("pub", [None, Plain()])
def test_display_flush_replaced_leaves_other_publishers_alone(pub: Any) -> None:
    with _compat.display_flush_replaced(pub, lambda: None):
        pass
    assert pub is None or vars(pub) == {}


# ---------------------------------------------------------------- ipywidgets

def test_send_in_held_sync_sends_unchanged_traits_in_the_one_message() -> None:
    import ipywidgets

    slider = ipywidgets.IntSlider(value=3)
    sent: list[list[str]] = []
    slider.send_state = lambda key=None: sent.append(sorted(key or []))  # type: ignore[method-assign]
    with slider.hold_sync():
        slider.max = 50  # changed
        slider.value = 3  # unchanged: hold_sync alone would skip it
        _compat.send_in_held_sync(slider, ["value", "max"])
    assert sent == [["max", "value"]]
    slider.close()


def test_send_in_held_sync_without_the_private_sends_at_once() -> None:
    sent: list[list[str]] = []

    class Widget:
        def send_state(self, key: Any = None) -> None:
            sent.append(list(key))

    _compat.send_in_held_sync(Widget(), {"outputs": ()})
    assert sent == [["outputs"]]
    _compat.send_in_held_sync(Plain(), ["outputs"])  # nothing to send with: no error


def test_set_output_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    import ipywidgets

    calls: list[str] = []

    class Output(ipywidgets.Output):
        pass

    class Stream:
        def write(self, text: str) -> int:
            return len(text)

        def flush(self) -> None:
            calls.append("ipywidgets")  # what Output's own flush does

    _compat.set_output_flush(Output, lambda: calls.append("ours"))
    monkeypatch.setattr(sys, "stdout", Stream())
    monkeypatch.setattr(sys, "stderr", Stream())
    out = Output()
    with out:
        pass
    out.close()
    assert calls == ["ours", "ours"]

    class NoFlush:
        pass

    _compat.set_output_flush(NoFlush, lambda: None)
    assert not hasattr(NoFlush, "_flush")


# ---------------------------------------------------------------- KimiError's public hook

def test_kimi_errors_render_as_one_line_of_text() -> None:
    err = APIError(500, "server_error", "Internal\x1b]52;c;aGk=\x07 error\rhidden", hint="Try again later.")
    assert str(err) == "Kimi API error 500 (server_error): Internal error\nhidden\nTry again later."
    assert err._render_traceback_() == [f"APIError: {err}"]
    err.request_id = "req\x1b[2J-1"  # learned later, from a header
    assert err._render_traceback_() == ["APIError: Kimi API error 500 (server_error): Internal error\nhidden"
                                        " [Msh-Request-Id req-1]\nTry again later."]
    assert Busy()._render_traceback_()[0].startswith("Busy: Kimi is already replying")
    assert KimiError("plain")._render_traceback_() == ["KimiError: plain"]


def test_terminal_ipython_shows_one_line_despite_another_handler(capsys: pytest.CaptureFixture[str]) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    previous = shell.custom_exceptions, shell.CustomTB
    shell.set_custom_exc((ZeroDivisionError,), lambda *a, **k: print("other handler"))
    try:
        result = shell.run_cell("from kimi_jupyter.core.errors import QuotaError\n"
                                "raise QuotaError(429, 'exceeded_current_quota_error', 'Out of quota\\x1b[2J')")
    finally:
        shell.custom_exceptions, shell.CustomTB = previous
    assert isinstance(result.error_in_exec, KimiError)
    out = capsys.readouterr().out
    assert out.strip() == "QuotaError: Kimi API error 429 (exceeded_current_quota_error): Out of quota"

"""kimi-jupyter: Kimi thinking models (kimi-k2.6, kimi-k3, kimi-k3.1-pro) in Jupyter.

`%load_ext kimi_jupyter` registers `%%kimi` and `%kimi`. Loading imports only
light modules (traitlets and IPython's magic machinery, both already loaded);
openai, ipywidgets and matplotlib are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .api import chat
    from .batch import Results, batch_status, map
    from .core.result import Result
    from .tools import tool
    from .views.chat_panel import ChatPanel

_LAZY = {
    "chat": ("api", "chat"),
    "Result": ("core.result", "Result"),
    "tool": ("tools", "tool"),
    "KimiServer": ("testing", "KimiServer"),
    "ChatPanel": ("views.chat_panel", "ChatPanel"),
    "map": ("batch", "map"),
    "batch_status": ("batch", "batch_status"),
    "Results": ("batch", "Results"),
}


def __getattr__(name: str) -> Any:
    # Lazy attributes keep `import kimi_jupyter` (and %load_ext) fast.
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'kimi_jupyter' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    from .core.session import Session, set_default_session
    from .core.settings import Kimi
    from .ipython.magics import KimiMagics, keep_question_marks

    config = Kimi(parent=ipython)
    session = Session(config=config)
    set_default_session(session)
    # Listed in shell.configurables so `%config Kimi` shows and sets it.
    ipython.configurables = [c for c in ipython.configurables if not isinstance(c, Kimi)] + [config]
    ipython.register_magics(KimiMagics(ipython, session))
    # `%kimi what is X?` asks, instead of IPython's help for X (see keep_question_marks).
    if keep_question_marks not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(keep_question_marks)
    # Our errors show as one line through `KimiError._render_traceback_`, IPython's public
    # hook: no custom exception handler, which another extension could displace.


def unload_ipython_extension(ipython: Any) -> None:
    from .core.settings import Kimi
    from .ipython.magics import keep_question_marks

    ipython.configurables = [c for c in ipython.configurables if not isinstance(c, Kimi)]
    if keep_question_marks in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.remove(keep_question_marks)


__all__ = ["chat", "ChatPanel", "Result", "Results", "batch_status", "map", "tool", "load_ipython_extension", "__version__"]

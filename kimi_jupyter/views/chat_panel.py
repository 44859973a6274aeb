"""`ChatPanel`: a chat with Kimi inside the notebook, for students and quick questions.

    from kimi_jupyter import ChatPanel
    ChatPanel()            # or: %kimi chat

It shares the conversation and the settings of `%%kimi` (the kernel's default
session), so a cell can refer to what was said in the panel and back. A Send
goes through the same request path as a cell (`api.run`); only the view
(`views.panel.PanelView`) differs. While a reply runs, Send and the prompt are
disabled; a press that still reaches the kernel is refused with a visible note
by the `send_gate.SendGate`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable

import ipywidgets as w
from IPython.core.error import UsageError

from ..core.errors import KimiError, OptionError
from ..core.session import Session, default_session
from . import render
from .panel import PanelView
from .prompt_row import PromptRow
from .send_gate import SendGate, cell_tracker, parent_sent_time

if TYPE_CHECKING:
    from ..core.result import Result
    from ..tools.approval import Decision

# A widget callback cannot ask through stdin, so the panel answers for the user: with its box
# unticked, or (box ticked) for code written after untrusted text, which needs a person's yes.
_DECLINE = "auto-run is off in the chat panel; the user can tick 'Let Kimi run code' to allow it."
_DECLINE_UNTRUSTED = (
    "the chat panel cannot ask the user, and code written after reading untrusted text in this "
    "reply needs their approval even with 'Let Kimi run code' ticked; the user can run the request "
    "in a %%kimi cell, where they are asked, or set `%config Kimi.trust_tool_output = True`."
)


def _decliner(auto_run: bool) -> "Callable[[str], Decision]":
    """The panel's answer to an approval question, for a send made with the box at `auto_run`.

    With the box ticked, a question is asked only for code written after untrusted text
    (`approval.approve`); with it unticked, for any code.
    """
    from ..tools.approval import Decision

    reason = _DECLINE_UNTRUSTED if auto_run else _DECLINE
    return lambda prompt: Decision.refuse(reason)


class ChatPanel(w.VBox):
    """A chat with Kimi in the notebook, sharing the conversation of `%%kimi`.

    `model` and `auto_run` set the panel's initial choices (default: the
    session's settings, as `%%kimi` would use them). `ask(text)` does what the
    Send button does, from code.
    """

    def __init__(
        self,
        session: Session | None = None,
        *,
        model: str | None = None,
        auto_run: bool | None = None,
        height: str = "30em",
        shell: Any = None,
        **kwargs: Any,
    ) -> None:
        from ..core import catalog

        self.session = session or default_session()
        self._shell = shell
        self._gate = SendGate(cell_tracker(self._get_shell()))
        self._add_lock = threading.Lock()  # a refusal note may be added from another thread
        settings = self._settings()
        current = model or settings.model
        # The default model is a choice, not an id: while the dropdown shows it untouched,
        # the panel sends no model, so the session can move to its successor when it closes.
        self._default_model = None if (model or settings.model_given) else current
        options = list(catalog.CATALOG)
        if current not in options:
            options.insert(0, current)

        self._model = w.Dropdown(options=options, value=current, description="Model", layout=w.Layout(width="auto"))
        self._model.add_class("kimi-chat-model")
        # The box alone decides whether the panel's replies run model code (`s` answered in a
        # cell does not reach past it). It starts ticked where code already runs unasked:
        # `Kimi.auto_run`, or an `s` given earlier in this session.
        self._auto = w.Checkbox(
            value=(settings.auto_run or self.session.auto_run) if auto_run is None else auto_run,
            description="Let Kimi run code",
            indent=False,
            layout=w.Layout(width="auto"),
        )
        self._auto.add_class("kimi-chat-autorun")
        self._new = w.Button(description="New conversation", tooltip="Forget the conversation (also for %%kimi cells)")
        self._new.add_class("kimi-chat-new")
        # flex 0 0 auto: a flex item may shrink, and then a long transcript would squeeze
        # (and clip) its replies instead of scrolling.
        self._items = w.VBox([], layout=w.Layout(flex="0 0 auto"))
        self._items.add_class("kimi-chat-items")
        # column-reverse keeps the scroll position at the newest message as the transcript grows.
        self._scroll = w.Box(
            [self._items],
            layout=w.Layout(
                display="flex", flex_flow="column-reverse", max_height=height, overflow="auto",
                border="1px solid var(--jp-border-color2, #ddd)", padding="4px 8px",
            ),
        )
        self._scroll.add_class("kimi-chat-transcript")
        self._status = w.HTML("")
        self._status.add_class("kimi-chat-status")
        # The text box and Send as one widget: Enter and a click carry the text the box shows
        # (a Text's value may still be on its way to the kernel; see prompt_row).
        self._prompt = PromptRow(placeholder="Ask Kimi… (Enter to send)")
        self._usage = w.HTML(self._usage_html())
        self._usage.add_class("kimi-chat-usage")

        self._prompt.on_submit(self._on_user_send)
        self._prompt.observe(self._on_typing, "value")
        self._new.on_click(lambda _: self._on_new())
        self._auto.observe(self._on_auto, "value")

        header = w.HBox(
            [w.HTML("<b>Kimi chat</b>"), self._model, self._auto, self._new],
            layout=w.Layout(align_items="center", justify_content="space-between", flex_flow="row wrap"),
        )
        kwargs.setdefault("layout", w.Layout(border="1px solid var(--jp-border-color1, #ccc)", padding="6px"))
        super().__init__([header, self._scroll, self._status, self._prompt, self._usage], **kwargs)
        self.add_class("kimi-chat")

    # -- the notebook file keeps no widget state: say what this was -------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            bundle["text/plain"] = "Kimi chat panel (a live widget: run the cell in Jupyter to use it)"
        return bundle

    # -- sending ------------------------------------------------------------------

    def ask(self, text: str | None = None) -> "Result | None":
        """Send `text` (default: what is in the prompt box) and stream the reply.

        Returns the Result, or None when nothing was sent or the request failed
        (the reason is shown in the transcript; the panel keeps working).
        """
        return self._send_now(self._prompt.value if text is None else text)

    @property
    def busy(self) -> bool:
        return self._gate.busy

    def _on_user_send(self, text: str) -> None:
        """A click or Enter from the browser, with the box's text: refused if pressed during a reply or a cell."""
        self._send_now(text, sent=parent_sent_time(), from_browser=True)

    def _on_typing(self, change: dict[str, Any]) -> None:
        # Keystrokes are browser messages too: they teach the gate the clock offset early.
        self._gate.observe(parent_sent_time())

    def _send_now(self, text: str, sent: float | None = None, from_browser: bool = False) -> "Result | None":
        text = (text or "").strip()
        if text:
            refusal = self._gate.try_start(sent, from_browser=from_browser)
        else:  # nothing to send, but a press that came too late still gets its note
            refusal = self._gate.refusal(sent, from_browser=from_browser)
        if refusal is not None:
            self._add_note(refusal, "warning", "kimi-chat-refused")
            return None
        if not text:
            return None
        self._set_busy(True)
        self._prompt.clear()
        self._add_user(text)
        view = PanelView(self._add)
        result: "Result | None" = None
        try:
            from ..api import run
            from ..core.options import Options

            # A widget callback cannot ask through stdin (the browser would never show
            # the prompt and the kernel would wait forever): with auto-run off the code
            # is not run, and the model is told why.
            auto_run = bool(self._auto.value)
            if auto_run:
                view.declined_note = (
                    "Kimi wanted to run code it wrote after reading untrusted text (a web search, "
                    "an MCP tool's result, a file or URL), and the panel cannot ask you about it. "
                    "Ask in a `%%kimi` cell to be asked, or set `Kimi.trust_tool_output = True`.")
            chosen = None if self._model.value == self._default_model else self._model.value
            options = Options(model=chosen, yes=auto_run)
            result = run(text, options, session=self.session, shell=self._get_shell(), view=view,
                         ask=_decliner(auto_run), session_allow=False)
            self._show_model(result.model)
        except (KimiError, OptionError, UsageError) as exc:  # one short message, never a traceback
            view.close()
            self._add_note(str(exc), "error")
        except KeyboardInterrupt:  # ■ outside the stream (the agent handles it inside)
            view.close()
            self._add_note("Interrupted. What had arrived is kept above.", "warning")
        except Exception as exc:  # a bug must not leave the panel disabled
            view.close()
            self._add_note(f"Unexpected error: {type(exc).__name__}: {exc}", "error")
        finally:
            view.close()
            self._gate.end()
            self._set_busy(False)
            self._usage.value = self._usage_html()
        return result

    def _show_model(self, answered: str) -> None:
        """After the default moved to its successor, the dropdown shows the model that answered
        (a control must not show a model that is no longer used)."""
        if self._default_model is None or answered == self._default_model:
            return
        if answered not in self._model.options:
            self._model.options = (answered, *self._model.options)
        self._default_model = answered
        self._model.value = answered

    def _on_auto(self, change: dict[str, Any]) -> None:
        """Unticking "Let Kimi run code" also ends an `s` (allow for the session) given in a
        cell: the user said no to code running unasked, and cells ask again from now on."""
        if not change["new"] and self.session.auto_run:
            self.session.auto_run = False
            self._add_note("Model code will not run from this panel, and `%%kimi` cells ask before "
                           "running code again (the earlier 'all in this session' answer is withdrawn).",
                           "info")

    def _on_new(self) -> None:
        reason = self._gate.refusal(parent_sent_time())
        if reason is not None:
            self._add_note(reason.replace("this message was not sent", "the conversation was not reset"),
                           "warning", "kimi-chat-refused")
            return
        n = len(self.session.conversation.messages)
        self.session.reset()
        self._add_note(f"Started a new conversation (forgot {n} messages; %%kimi cells share it).", "info")

    # -- pieces ---------------------------------------------------------------------

    def _settings(self, **overrides: Any) -> Any:
        return self.session.settings(**overrides)

    def _get_shell(self) -> Any:
        if self._shell is None:
            from IPython import get_ipython

            self._shell = get_ipython()
        return self._shell

    def _set_busy(self, busy: bool) -> None:
        self._prompt.disabled = self._model.disabled = busy  # the prompt's Send then reads "Replying…"
        self._new.disabled = busy
        self._status.value = (
            '<span style="color: var(--jp-brand-color1, #1976d2)"><b>Kimi is replying…</b> '
            "Send is off until the reply ends.</span>" if busy else ""
        )

    def _add(self, item: Any) -> None:
        with self._add_lock:
            self._items.children = (*self._items.children, item)

    def _add_user(self, text: str) -> None:
        item = w.HTML(render.user_html(text))
        item.add_class("kimi-chat-user")
        self._add(item)

    def _add_note(self, text: str, level: str, *classes: str) -> None:
        item = w.HTML(render.note_html(text, level))
        for name in ("kimi-chat-note", f"kimi-chat-{level}", *classes):
            item.add_class(name)
        self._add(item)

    def _usage_html(self) -> str:
        s = self.session
        u = s.usage
        cost = f"${s.cost_usd:.4f}"
        if s.unpriced_requests:
            cost += f" (+ {s.unpriced_requests} unpriced requests)"
        cached = f" ({u.cached_tokens:,} cached)" if u.cached_tokens else ""
        return (
            '<div style="font-size: 0.85em; color: var(--jp-ui-font-color2, #666)">'
            f"Session: {len(s.results)} replies · {u.prompt_tokens:,} tokens in{cached} / "
            f"{u.completion_tokens:,} out · {cost}</div>"
        )


__all__ = ["ChatPanel"]

"""The chat panel's prompt row (text box and Send) as one small widget whose press carries the text.

Why not `ipywidgets.Text` and a `Button`: in ipywidgets 8's frontend a value typed
into a Text syncs to the kernel throttled (while one update is in flight, later
ones wait until the kernel reports idle), but Enter and a click are custom
messages that go out at once. Typed quickly and sent at once, the press reached
the kernel before the last characters, and the panel sent a truncated question.
Here Enter and a click send `{"event": "submit", "text": <what the box shows>}`,
so the kernel sends exactly that, whatever is still in flight.

The browser owns `value`: it syncs each keystroke (they teach the send gate the
clock offset, and `ChatPanel.ask()` reads the box), and the kernel never writes
it back. To empty the box the kernel asks the browser (`clear()`), which writes
"" after any update still waiting, so a late keystroke sync cannot refill the
box with the question already sent. The box shows only the user's own text, set
as an input's value (never as HTML).
"""

from __future__ import annotations

from typing import Any, Callable

import anywidget
import traitlets

_ESM = r"""
function render({ model, el }) {
  el.classList.add("kimi-chat-input-row");
  const box = document.createElement("div");
  box.className = "kimi-chat-prompt";
  const input = document.createElement("input");
  input.type = "text";
  box.appendChild(input);
  const button = document.createElement("button");
  // ipywidgets' own button classes, so Send looks like the panel's other buttons.
  button.className = "kimi-chat-send jupyter-widgets jupyter-button widget-button mod-primary";
  const icon = document.createElement("i");
  icon.className = "fa fa-paper-plane";
  const label = document.createElement("span");
  button.append(icon, label);
  el.append(box, button);

  const show = () => {
    const value = model.get("value");
    if (input.value !== value) input.value = value;
    input.placeholder = model.get("placeholder");
    input.disabled = button.disabled = model.get("disabled");
    label.textContent = model.get("disabled") ? " Replying…" : " Send";
  };
  // The press carries the text: it may leave before the throttled value syncs.
  const submit = () => model.send({ event: "submit", text: input.value });
  const typed = () => { model.set("value", input.value); model.save_changes(); };
  const key = (e) => {
    if (e.key === "Enter" && !e.isComposing) { e.preventDefault(); submit(); }
  };
  const onMessage = (msg) => {
    if (msg && msg.event === "clear") { input.value = ""; typed(); }
  };
  input.addEventListener("input", typed);
  input.addEventListener("keydown", key);
  button.addEventListener("click", submit);
  const events = "change:value change:placeholder change:disabled";
  model.on(events, show);
  model.on("msg:custom", onMessage);
  show();
  return () => {
    model.off(events, show);
    model.off("msg:custom", onMessage);
  };
}
export default { render };
"""

_CSS = r"""
.kimi-chat-input-row { display: flex; gap: 4px; align-items: center; }
.kimi-chat-input-row .kimi-chat-prompt { flex: 1 1 auto; display: flex; }
.kimi-chat-input-row .kimi-chat-prompt input {
  flex: 1 1 auto; min-width: 0; box-sizing: border-box;
  height: var(--jp-widgets-inline-height, 28px); padding: 0 6px;
  font-size: var(--jp-widgets-font-size, 13px);
  color: var(--jp-widgets-input-color, #000);
  background: var(--jp-widgets-input-background-color, #fff);
  border: var(--jp-widgets-input-border-width, 1px) solid var(--jp-widgets-input-border-color, #9e9e9e);
}
.kimi-chat-input-row .kimi-chat-prompt input:focus {
  border-color: var(--jp-widgets-input-focus-border-color, #64b5f6); outline: none;
}
.kimi-chat-input-row .kimi-chat-prompt input:disabled { opacity: var(--jp-widgets-disabled-opacity, 0.6); }
.kimi-chat-input-row .kimi-chat-send { flex: 0 0 auto; width: auto; }
"""


class PromptRow(anywidget.AnyWidget):
    """A text box and a Send button; Enter or a click calls the `on_submit` callbacks with the box's text."""

    _esm = _ESM
    _css = _CSS

    value = traitlets.Unicode("").tag(sync=True)  # written by the browser only (see the module doc)
    placeholder = traitlets.Unicode("").tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)  # also makes Send read "Replying…"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._submit_callbacks: list[Callable[[str], None]] = []
        self.on_msg(self._on_msg)

    def on_submit(self, callback: Callable[[str], None]) -> None:
        """Call `callback(text)` on Enter or a click, with the text the box showed then."""
        self._submit_callbacks.append(callback)

    def clear(self) -> None:
        """Empty the box: the browser writes "" (after any keystroke sync still waiting)."""
        self.send({"event": "clear"})

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        # A browser message: only a submit with a string is acted on.
        if not isinstance(content, dict) or content.get("event") != "submit":
            return
        text = content.get("text")
        if isinstance(text, str):
            for callback in self._submit_callbacks:
                callback(text)


__all__ = ["PromptRow"]

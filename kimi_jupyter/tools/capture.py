"""Tee what model code prints and displays: the user sees it live as ordinary cell
output, and a bounded copy is kept for the model.

``IPython.utils.capture.capture_output`` is no use here: it swaps the streams, so the
user would see nothing until the end. Instead the ``write`` methods of sys.stdout and
sys.stderr are wrapped (IPython's own history tee does the same, because ipykernel checks
the stream classes), and rich displays are observed with ipykernel's display-publisher
hook, or by wrapping ``display_pub.publish`` in other shells.

Keys and ``Kimi.secrets`` are redacted on the way through, from everything model code
shows: streams (over the whole stream, so a key written one character at a time is
caught too), displays of every text mime type, the ``Out[]`` value and tracebacks.

Everything is filtered for the terminal first (`core.echo_filter`): jupyter console and
qtconsole write it as it is, so a page or file the code prints must not bring its escape
sequences (clipboard writes, titles, cursor moves) to the user's terminal. Printed text loses
its colour too: a colour code between the pieces of a key would keep the redactor from
matching it, and the terminal would show the key whole. Whole texts (a display's text/plain,
traceback lines) keep their colour unless it hides a key (`_shown`).
"""

from __future__ import annotations

import base64
import sys
import threading
from typing import Any, Callable

from .. import _compat
from ..core.echo_filter import EchoFilter, filter_text, without_colour
from ..core.redact import StreamRedactor, redact_data, redact_text
from ..core.tool_output import HeadTailBuffer, cap_output, png_size

# Cap for one non-text display (HTML or markdown source) in the model's copy.
_MAX_DISPLAY_SOURCE = 2000


class OutputTee:
    """Context manager recording stdout, stderr and displays while they still show."""

    def __init__(
        self, shell: Any, limit: int, max_echo: int | None = None, secrets: tuple[str, ...] = (),
        keep: int = 0,
    ) -> None:
        self.shell = shell
        # Keys and `Kimi.secrets`: model code that prints os.environ must show neither
        # the user nor the model the key.
        self.secrets = secrets
        # Keep a little more than the limit so the final cap can still say exactly how
        # much it cut, with the model's extra lines (Out, error) appended. With `keep`,
        # the head and tail each hold keep/2 characters, so the full text of a capped
        # output (up to `keep`) can be left in the kernel for the model (tools/keep.py).
        self.buffer = HeadTailBuffer(max(limit, keep // 2, 0))
        self.images: list[str] = []
        self.max_echo = max_echo
        self.echoed = 0
        self.held_back = 0
        self.active = False
        self._quiet = 0  # >0 while a display is being printed as text (terminal shells)
        # What the user saw, as nbformat outputs, so `%kimi export` can replay it.
        self.outputs: list[dict[str, Any]] = []
        self._undo: list[Callable[[], None]] = []
        # Per stream: the redactor, the escape filter before it (an escape the filter drops
        # must not split a key the redactor would then miss), and the stream's own write
        # for what both hold back, flushed at the end.
        self._streams: dict[str, tuple[StreamRedactor, EchoFilter, Callable[..., Any]]] = {}

    # ---------------------------------------------------------------- lifecycle
    def __enter__(self) -> OutputTee:
        self.active = True
        try:
            for name in ("stdout", "stderr"):
                self._wrap_stream(name)
            self._hook_displays()
            self._redact_results()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        # What each redactor held back (it might have been the start of a key) can't
        # grow into one any more, nor can an unfinished escape sequence be completed:
        # both go out before the streams are unwrapped.
        for name, (redactor, echo_filter, original) in self._streams.items():
            try:
                self._emit(name, original, redactor.feed(without_colour(echo_filter.flush())) + redactor.flush(), (), {})
            except Exception:
                pass  # a closed stream must not hide the real outcome
        self.active = False
        while self._undo:
            try:
                self._undo.pop()()
            except Exception:
                pass  # restoring must never hide the real outcome
        if self.held_back:
            # Written after unwrapping, so it reaches the user but not the model's copy.
            sys.stderr.write(
                f"\n[kimi-jupyter: {self.held_back:,} more characters of output were not "
                "shown here, to keep the notebook responsive; the model saw the head and "
                "tail]\n"
            )

    # ---------------------------------------------------------------- streams
    def _wrap_stream(self, name: str) -> None:
        stream = getattr(sys, name)
        original = stream.write
        had_own = "write" in getattr(stream, "__dict__", {})
        tee = self

        redactor = StreamRedactor(self.secrets)
        echo_filter = EchoFilter()
        lock = threading.RLock()
        self._streams[name] = (redactor, echo_filter, original)

        def write(data: Any, *args: Any, **kwargs: Any) -> Any:
            if not tee.active or not isinstance(data, str):  # kept past the call, or bytes: as is
                return original(data, *args, **kwargs)
            # Filtered for the terminal (an escape cut between writes waits), without colour,
            # then redacted over the stream, not per call: the tail that could start a key waits.
            # One writer at a time (threads print too), so pieces stay in order.
            with lock:
                tee._emit(name, original, redactor.feed(without_colour(echo_filter.feed(data))), args, kwargs)
            return len(data)

        try:
            stream.write = write
        except (AttributeError, TypeError):
            # A stream that refuses attributes: put a proxy in its place instead.
            setattr(sys, name, _StreamProxy(stream, write))
            self._undo.append(lambda: setattr(sys, name, stream))
            return

        def undo() -> None:
            if had_own:
                stream.write = original
            else:
                try:
                    del stream.write  # back to the class's method
                except AttributeError:
                    stream.write = original

        self._undo.append(undo)

    def _emit(self, name: str, original: Callable[..., Any], data: str, args: tuple, kwargs: dict) -> None:
        """Show redacted, filtered text to the user, and keep it for the model and the export."""
        if not data:
            return
        if not self._machinery_writing():
            # The model's copy is the text the user saw. Not `plain`: it would make each `\r`
            # of a progress bar a line of its own, and the filter already dropped every escape.
            self.buffer.write(data)
        before = self.echoed
        self._echo(original, data, args, kwargs)
        self.record_stream(name, data if self.max_echo is None else data[: self.echoed - before])

    def _echo(self, original: Callable[..., Any], data: Any, args: tuple, kwargs: dict) -> Any:
        if self.max_echo is None or not isinstance(data, str):
            return original(data, *args, **kwargs)
        room = self.max_echo - self.echoed
        if len(data) <= room:
            self.echoed += len(data)
            return original(data, *args, **kwargs)
        if room > 0:
            original(data[:room], *args, **kwargs)
            self.echoed += room
        self.held_back += len(data) - max(room, 0)
        return len(data)

    def _machinery_writing(self) -> bool:
        """True while IPython itself prints something the model gets another way.

        In terminal shells the Out[] value, tracebacks and displays are printed to stdout;
        the model gets those as the Out line, the short traceback and display notes.
        """
        if self._quiet:
            return True
        shell = self.shell
        if getattr(shell, "showing_traceback", False):
            return True
        hook = getattr(shell, "displayhook", None)
        return bool(getattr(hook, "is_active", False))  # public since before IPython 9.1

    # ---------------------------------------------------------------- displays
    def _hook_displays(self) -> None:
        pub = getattr(self.shell, "display_pub", None)
        if pub is None:
            return
        if hasattr(pub, "register_hook") and hasattr(pub, "unregister_hook"):
            # ipykernel: hooks see each outgoing message; returning it lets it publish.
            def hook(msg: dict) -> dict:
                if self.active:
                    kind = msg.get("msg_type") or msg.get("header", {}).get("msg_type")
                    if kind in ("display_data", "update_display_data"):
                        content = msg.get("content", {})
                        if isinstance(content.get("data"), dict):
                            content["data"] = redact_data(_terminal_safe(content["data"], self.secrets), self.secrets)
                        # Provenance (SPEC §3): what model code displays (figures, tables) is
                        # marked as model-written in the saved notebook.
                        metadata = content.setdefault("metadata", {})
                        metadata["kimi_jupyter"] = {**metadata.get("kimi_jupyter", {}),
                                                    "part": "tool_output", "model_written": True}
                        self.record_display(content.get("data") or {}, metadata)
                return msg

            pub.register_hook(hook)
            self._undo.append(lambda: pub.unregister_hook(hook))
            return

        original = pub.publish
        had_own = "publish" in getattr(pub, "__dict__", {})

        def publish(data: Any, *args: Any, **kwargs: Any) -> Any:
            if self.active and isinstance(data, dict):
                data = redact_data(_terminal_safe(data, self.secrets), self.secrets)
                self.record_display(data, kwargs.get("metadata") or (args[0] if args else None) or {})
            self._quiet += 1
            try:
                return original(data, *args, **kwargs)
            finally:
                self._quiet -= 1

        pub.publish = publish

        def undo() -> None:
            if had_own:
                pub.publish = original
            else:
                del pub.publish

        self._undo.append(undo)

    def _redact_results(self) -> None:
        """Redact and filter the ``Out[]`` value and tracebacks of model code, as printed text is.

        Both reach the frontend outside the display publisher (ipykernel sends them
        itself), so they are redacted where IPython builds them: the displayhook's
        mime bundle, and the traceback lines on their way out (`_compat.wrap_showtraceback`).
        jupyter console prints both as they are, so the text/plain, the message and the
        lines lose their escapes too (a DataFrame or an exception holding a page's text).
        """
        shell, secrets = self.shell, self.secrets
        hook = getattr(shell, "displayhook", None)
        compute = getattr(hook, "compute_format_data", None)
        if compute is not None:
            def compute_format_data(result: Any) -> Any:
                data, metadata = compute(result)
                return redact_data(_terminal_safe(data, secrets), secrets) if isinstance(data, dict) else data, metadata

            self._patch(hook, "compute_format_data", compute_format_data)

        def redacting(show: Callable[..., Any]) -> Callable[..., Any]:
            def showtraceback(etype: Any, evalue: Any, stb: Any) -> Any:
                if isinstance(stb, list):
                    stb = [_shown(line, secrets) if isinstance(line, str) else line for line in stb]
                try:
                    message = str(evalue)
                except Exception:  # a broken __str__: IPython reports that itself
                    message = ""
                shown = _shown(message, secrets)
                if shown != message:
                    evalue = _RedactedValue(shown)
                return show(etype, evalue, stb)

            return showtraceback

        undo = _compat.wrap_showtraceback(shell, redacting)
        if undo is not None:
            self._undo.append(undo)

    def _patch(self, obj: Any, name: str, replacement: Callable[..., Any]) -> None:
        """Set an instance attribute for the tee's lifetime, then put back what was there."""
        had_own = name in getattr(obj, "__dict__", {})
        previous = getattr(obj, name)
        try:
            setattr(obj, name, replacement)
        except (AttributeError, TypeError):
            return

        def undo() -> None:
            if had_own:
                setattr(obj, name, previous)
            else:
                delattr(obj, name)

        self._undo.append(undo)

    def record_stream(self, name: str, text: str) -> None:
        if not text:
            return
        last = self.outputs[-1] if self.outputs else None
        if last is not None and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += text
        else:
            self.outputs.append({"output_type": "stream", "name": name, "text": text})

    def record_display(self, data: dict, metadata: dict | None = None) -> None:
        """Add a note (and the image, for figures) for one rich display."""
        self.outputs.append(
            {"output_type": "display_data", "data": dict(data), "metadata": dict(metadata or {})}
        )
        png = data.get("image/png")
        if png:
            b64 = base64.b64encode(png).decode("ascii") if isinstance(png, bytes) else str(png)
            b64 = b64.replace("\n", "")
            self.images.append(b64)
            size = png_size(b64)
            dims = f": {size[0]}x{size[1]} px," if size else ""
            self.buffer.write(f"[figure {len(self.images)}{dims} displayed to the user]\n")
            return
        text = data.get("text/plain")
        if isinstance(text, list):  # nbformat-style multiline strings
            text = "".join(text)
        if text and not _is_default_repr(text):
            self.buffer.write(text.rstrip("\n") + "\n")
            return
        for mime, label in (("text/markdown", "Markdown"), ("text/html", "HTML"),
                            ("text/latex", "LaTeX")):
            source = data.get(mime)
            if isinstance(source, str) and source.strip():
                source = cap_output(source.strip(), _MAX_DISPLAY_SOURCE)
                self.buffer.write(f"[{label} displayed to the user]\n{source}\n")
                return
        kinds = ", ".join(sorted(data)) or "empty"
        self.buffer.write(f"[{kinds} output displayed to the user]\n")


def _shown(text: str, secrets: tuple[str, ...]) -> str:
    """`text` filtered for a terminal and redacted; without its colour if colour hid a key.

    Colour codes between a key's pieces would keep each piece from matching, and a terminal
    shows the pieces as one key: so the check runs on the colourless text.
    """
    filtered = filter_text(text)
    colourless = without_colour(filtered)
    redacted = redact_text(colourless, secrets)
    return redacted if redacted != colourless else filtered


def _terminal_safe(data: dict, secrets: tuple[str, ...] = ()) -> dict:
    """A mime bundle whose ``text/plain`` (what a terminal frontend prints) has no escapes but
    colour, and no key (see `_shown`)."""
    text = data.get("text/plain")
    if isinstance(text, list):  # nbformat-style multiline strings
        text = "".join(text)
    if not isinstance(text, str):
        return data
    shown = _shown(text, secrets)
    return data if shown == text else {**data, "text/plain": shown}


def _is_default_repr(text: str) -> bool:
    """``<IPython.core.display.HTML object>`` and the like say nothing to the model."""
    t = text.strip()
    return t.startswith("<") and t.endswith(">") and (" object" in t or " at 0x" in t)


class _RedactedValue:
    """Stands in for an exception whose message holds a secret: ipykernel only takes its ``str``."""

    def __init__(self, text: str) -> None:
        self._text = text

    def __str__(self) -> str:
        return self._text


class _StreamProxy:
    """Stand-in for a stream whose ``write`` cannot be replaced."""

    def __init__(self, stream: Any, write: Callable[..., Any]) -> None:
        self._stream = stream
        self.write = write

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

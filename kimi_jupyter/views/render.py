"""Every user-visible label and every mime bundle, in one place.

Static bundles are what a finished cell leaves in the saved notebook. Every
bundle has a `text/plain` fallback so terminals, jupyter console, `nbconvert
--to markdown` and GitHub's renderer all show something sensible, and none of
them needs a kernel or widget state. Views publish them with a `part` tag in
their `kimi_jupyter` metadata (`provenance`), so a reader of the notebook (and
the offline demo's echo) knows what each output is without reading its label.

Model text is untrusted (SPEC §3): it goes through `core.sanitize` on its way into any
rich mime type. Answers become one sanitized HTML block inside `text/markdown`
(markdown still renders, math still typesets, nothing from the model is live);
code and tool arguments sit in fences they cannot close; anything put into HTML
by hand is escaped.
"""

from __future__ import annotations

import html
import json
from typing import Any

from ..core import sanitize

Bundle = dict[str, Any]
EMPTY: Bundle = {"text/plain": ""}  # a live output once its reply is complete: nothing to show

# -- labels ------------------------------------------------------------------

THINKING = "Thinking"
ANSWERING = "Answering"
CODE_LABEL = "Kimi runs Python"
DIM, RESET = "\x1b[2m", "\x1b[0m"


def calling(tool: str) -> str:
    return f"Calling {sanitize.plain(tool)}"  # the name is the model's: it shows in text/plain status lines


def tool_call_label(step: int) -> str:
    return f"Tool call {step}:"


def retrying(seconds: float, reason: str) -> str:
    return f"Retrying in {seconds:.0f} s ({reason})…"


def status_text(phase: str, elapsed_s: float, tokens: int) -> str:
    return f"{phase} · {elapsed_s:.0f} s · {tokens:,} tokens"


def reasoning_summary(elapsed_s: float, tokens: int) -> str:
    return f"Reasoning · {elapsed_s:.1f} s · {tokens:,} tokens"


def reply_summary(elapsed_s: float, tokens: int) -> str:
    """A reply with no reasoning (thinking off): what its live output becomes when it is done."""
    return f"Reply · {elapsed_s:.1f} s · {tokens:,} tokens"


def placeholder(first_delta: str = "") -> str:
    """The live output's first form: one line of text, before any widget."""
    return f"{THINKING}… {sanitize.plain(first_delta)}" if first_delta else f"{THINKING}…"


# -- HTML pieces (ours; any text in them is escaped) -------------------------

_NOTE_STYLE = {
    "info": "color: var(--jp-ui-font-color2, #555)",
    "warning": "color: var(--jp-warn-color0, #a15c00)",
    "error": "color: var(--jp-error-color1, #c62828)",
}
_NOTE_LABEL = {"warning": "Note: ", "error": "Error: "}
_ICONS = {"warning": "⚠️", "error": "❌", "info": "ℹ️"}


def details(summary: str, body_html: str, *, css_class: str = "", body_style: str = "") -> str:
    """The one `<details>` writer: `summary` is plain text, `body_html` is already safe HTML."""
    cls = f' class="{css_class}"' if css_class else ""
    style = f' style="{body_style}"' if body_style else ""
    return f"<details{cls}><summary>{html.escape(summary)}</summary><div{style}>{body_html}</div></details>"


def note_html(text: str, level: str = "info") -> str:
    style = _NOTE_STYLE.get(level, _NOTE_STYLE["info"])
    return (f'<div style="{style}; font-size: 0.92em"><b>{_NOTE_LABEL.get(level, "")}</b>'
            f"{html.escape(text)}</div>")


def user_html(text: str) -> str:
    return ('<div style="background: var(--jp-layout-color2, #f0f0f0); border-radius: 6px; '
            f'padding: 4px 8px; margin: 6px 0 2px 0; white-space: pre-wrap"><b>You:</b> {html.escape(text)}</div>')


def footer_html(footer: str) -> str:
    return f'<div style="font-size: 0.8em; color: var(--jp-ui-font-color2, #666)">{html.escape(footer)}</div>'


def tool_call_html(step: int, name: str, arguments: str) -> str:
    """A tool call in the chat panel: every argument, in a box that scrolls, never cut."""
    return (f"<b>{tool_call_label(step)}</b> <code>{html.escape(sanitize.plain(name, visible=True))}</code>"
            f"<pre class='kimi-tool-arguments' style='{_ARGS_STYLE}'>"
            f"{html.escape(arguments_text(arguments))}</pre>")


def tool_result_html(name: str, text: str, ok: bool, limit: int = 2000) -> str:
    """A tool's reply as the model saw it, collapsed (escaped: tool output is untrusted)."""
    shown = text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit:,} more characters)"
    title = f"{name} returned" if ok else f"{name} failed"
    return details(f"{title} (what the model sees)", f"<pre style='white-space: pre-wrap; margin: 0'>"
                   f"{html.escape(shown)}</pre>")


# -- static bundles ----------------------------------------------------------

# Long arguments scroll inside their box: all of them are on the page, none cut.
_ONE_LINE = 120  # characters of arguments shown inline as they came
_ARGS_STYLE = "white-space: pre-wrap; overflow-wrap: anywhere; max-height: 20em; overflow: auto; margin: 2px 0"


def arguments_text(arguments: str) -> str:
    """A tool call's arguments as the user sees them before it runs: all of them, legibly.

    Short one-line arguments stay as they came (`{"name": "df"}`). A longer JSON object
    is shown indented, one key a line, so a key far along one long line (`{"path":
    "notes.txt", "content": "<675 chars>", "path": ".bashrc"}`) cannot sit off-screen;
    no value is shortened. Anything else (not JSON, or a repeated key, for which the call
    is refused) is shown exactly as it came. Control and bidi characters are made
    visible (`sanitize.plain(visible=True)`): the user sees all of what will run.
    """
    from ..tools.registry import ArgumentsError, loads_arguments

    text = arguments
    if len(arguments) > _ONE_LINE or "\n" in arguments:
        try:
            value = loads_arguments(arguments)
        except ArgumentsError:
            pass
        else:
            if isinstance(value, dict) and value:
                # Strings keep their characters; json escapes only C0 controls (as \u001b).
                text = json.dumps(value, indent=2, ensure_ascii=False)
    return sanitize.plain(text, visible=True)


_REASONING_STYLE = "white-space: pre-wrap; opacity: 0.75; font-size: 0.9em; border-left: 3px solid #ccc; padding-left: 0.6em"


def reasoning_bundle(reasoning: str, elapsed_s: float, tokens: int, streamed: bool = False) -> Bundle:
    """The collapsed reasoning. `streamed`: its text already went out live as stream output.

    Frontends that show only text/plain (jupyter console, qtconsole, Emacs) print stream
    output but no widget, so a reasoning that streamed live is already on their screen;
    then text/plain is the summary line alone, which also keeps the saved notebook and the
    traffic to the browser from carrying a long reasoning twice more. Otherwise text/plain
    holds the reasoning itself, dimmed, with the model's escape sequences dropped.
    """
    summary = reasoning_summary(elapsed_s, tokens)
    plain = f"{DIM}{summary}{RESET}" if streamed else f"{DIM}{summary}\n{sanitize.plain(reasoning)}{RESET}"
    return {
        # Element text: only &, < and > need escaping (quotes matter in attributes alone, and
        # reasoning is full of apostrophes, each 6 bytes as `&#x27;`).
        "text/html": details(summary, html.escape(reasoning, quote=False), css_class="kimi-reasoning",
                             body_style=_REASONING_STYLE),
        "text/plain": plain,
    }


def live_answer_bundle(content: str, fmt: str = "markdown") -> Bundle:
    """A finished paragraph in the live widget: no text/plain, so text-only frontends
    (which print every display's text/plain, captured by a widget or not) skip it and
    print the answer once, from its static bundle."""
    if fmt == "text":
        return {"text/html": f"<pre style='white-space: pre-wrap; margin: 0'>{html.escape(content)}</pre>"}
    return {mime: data for mime, data in answer_bundle(content, fmt).items() if mime != "text/plain"}


def status_bundle(text: str) -> Bundle:
    """A reply's one-line summary (a reply without reasoning leaves this where its live output was)."""
    return {"text/html": footer_html(text), "text/plain": text}


# Every text/plain below goes through `sanitize.plain`: jupyter console and qtconsole print
# text/plain to a terminal, and model or server text must not drive it (SPEC §3).

def answer_bundle(content: str, fmt: str = "markdown") -> Bundle:
    if fmt == "text":
        return {"text/plain": sanitize.plain(content)}
    if fmt == "json":
        return {"text/markdown": sanitize.fence(content, "json"), "text/plain": sanitize.plain(content)}
    return {"text/markdown": sanitize.markdown_block(content), "text/plain": sanitize.plain(content)}


def code_bundle(code: str, label: str = CODE_LABEL) -> Bundle:
    """Model code as shown before the approval question: all of it, its last line included,
    with any control or bidi character made visible rather than acted on."""
    shown = sanitize.plain(code, visible=True)
    return {
        "text/markdown": f"**{label}**\n\n{sanitize.fence(shown, 'python')}",
        # RESET first: output printed before (model code echoing a file) may have left the
        # terminal in a mode that hides text (SGR 8, foreground = background).
        "text/plain": f"{RESET}{label}:\n{shown}",
    }


def tool_call_bundle(name: str, arguments: str, step: int) -> Bundle:
    """A tool call, shown before it is approved and run: every argument, never cut."""
    label = tool_call_label(step)
    name = sanitize.plain(name, visible=True)
    if arguments.strip() in ("", "{}"):  # list_variables(): one compact line
        return {"text/markdown": f"**{label}** {sanitize.inline_code(name + '()')}", "text/plain": f"{label} {name}()"}
    args = arguments_text(arguments)
    if len(args) <= _ONE_LINE and "\n" not in args:  # inspect_variable {"name": "df"}: one line
        markdown = f"**{label}** {sanitize.inline_code(name)} {sanitize.inline_code(args)}"
        return {"text/markdown": markdown, "text/plain": f"{label} {name}({args})"}
    markdown = f"**{label}** {sanitize.inline_code(name)}\n\n{sanitize.fence(args, 'json')}"
    return {"text/markdown": markdown, "text/plain": f"{label} {name}(\n{args}\n)"}


def tool_output_bundle(name: str, text: str, ok: bool) -> Bundle:
    shown = text if len(text) <= 2000 else text[:2000] + f"\n… ({len(text) - 2000:,} more characters)"
    title = f"{name} returned" if ok else f"{name} failed"
    return {
        "text/html": details(title, f"<pre>{html.escape(shown)}</pre>"),
        "text/plain": sanitize.plain(f"{title}:\n{shown}"),
    }


def tool_image_bundle(name: str, png_b64: str, index: int) -> Bundle:
    """An image a tool returned (an MCP server's; checked to be a PNG in `tools.mcp`)."""
    return {"image/png": png_b64, "text/plain": sanitize.plain(f"[image {index} returned by {name}]")}


def notice_bundle(text: str, level: str = "warning") -> Bundle:
    # Notices quote server text (error messages), so they are rendered like model text.
    icon = _ICONS.get(level, "")
    return {"text/markdown": sanitize.markdown_block(f"> {icon} {text}"), "text/plain": sanitize.plain(f"[{level}] {text}")}


def footer_bundle(footer: str) -> Bundle:
    return {
        # The model id comes from the server: markdown syntax in it must stay text.
        "text/markdown": f"<sub>{sanitize.markdown_text(footer)}</sub>",
        "text/plain": sanitize.plain(footer),
    }


def provenance(part: str, **fields: Any) -> dict[str, Any]:
    """Output metadata: `{"kimi_jupyter": {"part": ..., "version": ..., ...}}` (SPEC §3)."""
    from .._version import __version__

    return {"kimi_jupyter": {"part": part, "version": __version__, **{k: v for k, v in fields.items() if v is not None}}}

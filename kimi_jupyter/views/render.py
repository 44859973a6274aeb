"""Static mime bundles: what a finished cell leaves in the saved notebook.

Every bundle has a `text/plain` fallback so terminals, `nbconvert --to
markdown` and GitHub's renderer all show something sensible, and none of them
needs a kernel or widget state.

Model text is untrusted (SPEC §3): it goes through `safe` on its way into any
rich mime type. Answers become one sanitized HTML block inside `text/markdown`
(markdown still renders, math still typesets, nothing from the model is live);
code and tool arguments sit in fences they cannot close; anything put into HTML
by hand is escaped.
"""

from __future__ import annotations

import html
from typing import Any

from .. import safe

Bundle = dict[str, Any]


def reasoning_bundle(reasoning: str, elapsed_s: float, tokens: int) -> Bundle:
    summary = f"Reasoning · {elapsed_s:.1f} s · {tokens:,} tokens"
    body = html.escape(reasoning)
    return {
        "text/html": (
            f'<details class="kimi-reasoning"><summary>{summary}</summary>'
            '<div style="white-space: pre-wrap; opacity: 0.75; font-size: 0.9em; '
            f'border-left: 3px solid #ccc; padding-left: 0.6em">{body}</div></details>'
        ),
        # The plain fallback is only a summary: repeating a long reasoning text
        # here would double what is sent to the browser and stored in the file.
        "text/plain": f"[{summary}: collapsed; open the notebook in Jupyter or on GitHub to read it]",
    }


def answer_bundle(content: str, fmt: str = "markdown") -> Bundle:
    if fmt == "text":
        return {"text/plain": content}
    if fmt == "json":
        return {"text/markdown": safe.fence(content, "json"), "text/plain": content}
    return {"text/markdown": safe.markdown_block(content), "text/plain": content}


def code_bundle(code: str, label: str) -> Bundle:
    return {
        "text/markdown": f"**{label}**\n\n{safe.fence(code, 'python')}",
        "text/plain": f"{label}:\n{code}",
    }


def tool_call_bundle(name: str, arguments: str, label: str) -> Bundle:
    args = arguments if len(arguments) <= 500 else arguments[:500] + " …"
    if args.strip() in ("", "{}"):  # list_variables(): one compact line
        return {"text/markdown": f"**{label}** {safe.inline_code(name + '()')}", "text/plain": f"{label} {name}()"}
    if len(args) <= 120 and "\n" not in args:  # inspect_variable {"name": "df"}: still one line
        markdown = f"**{label}** {safe.inline_code(name)} {safe.inline_code(args)}"
    else:
        markdown = f"**{label}** {safe.inline_code(name)}\n\n{safe.fence(args, 'json')}"
    return {"text/markdown": markdown, "text/plain": f"{label} {name}({args})"}


def tool_output_bundle(name: str, text: str, ok: bool) -> Bundle:
    shown = text if len(text) <= 2000 else text[:2000] + f"\n… ({len(text) - 2000:,} more characters)"
    title = f"{name} returned" if ok else f"{name} failed"
    return {
        "text/html": (
            f"<details><summary>{html.escape(title)}</summary>"
            f"<pre>{html.escape(shown)}</pre></details>"
        ),
        "text/plain": f"{title}:\n{shown}",
    }


_ICONS = {"warning": "⚠️", "error": "❌", "info": "ℹ️"}


def notice_bundle(text: str, level: str = "warning") -> Bundle:
    # Notices quote server text (error messages), so they are rendered like model text.
    icon = _ICONS.get(level, "")
    return {"text/markdown": safe.markdown_block(f"> {icon} {text}"), "text/plain": f"[{level}] {text}"}


def footer_bundle(footer: str) -> Bundle:
    return {
        "text/markdown": f"<sub>{html.escape(footer)}</sub>",
        "text/plain": footer,
    }


def status_text(phase: str, elapsed_s: float, tokens: int) -> str:
    return f"{phase} · {elapsed_s:.0f} s · {tokens:,} tokens"

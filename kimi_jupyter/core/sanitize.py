"""Turn untrusted model text into output that cannot run in a browser or a terminal.

Model text is untrusted (SPEC §3, §9): it can carry HTML or script copied from a web
page, and Jupyter trusts the notebooks a user saved, so raw HTML in a saved output
would run on every reopen. We never sanitize HTML by hand:

* markdown-it-py renders the markdown with raw HTML *off* (``html=False``): a
  ``<script>`` in model text becomes visible text, and markdown-it drops
  ``javascript:``-style links itself;
* nh3 (ammonia, a real HTML5 parser) then cleans the result against an explicit
  allowlist of the tags markdown produces, a few attributes and the URL schemes
  http, https and mailto. It is the line of defence that does not depend on
  markdown-it getting every corner of CommonMark right.

Nothing in model text may make a frontend fetch a URL by itself: an image's URL can
carry what the model just read (``![x](https://host/p.png?d=<the data>)``), and
JupyterLab would load it at once and on every reopen of the saved notebook (a
zero-click leak). So a markdown image is rendered as a *link* whose text names the
image and the host it points at (``[image: chart — host.example]``), and ``img`` is
not in the allowlist at all. Raw HTML that could fetch (``<img>``, ``srcset``,
``<video poster>``, SVG ``<image href>``, CSS ``url()``) is shown as text by
markdown-it, and nh3 would drop it anyway: no tag or attribute allowed here loads
anything. Images the kernel produced (figures, MCP images) are ``image/png``
outputs of their own and never pass through here.

Math is parsed by ``dollarmath`` (plus a small rule for ``\\(..\\)`` and ``\\[..\\]``),
so ``$a_1 * b_1$`` is not mangled by emphasis, and it is emitted as text with its
delimiters: Jupyter typesets ``text/html`` outputs with MathJax from the DOM text.

Two forms: `markdown_html` is a fragment for ``text/html``. `markdown_block` is the
same HTML as ONE markdown HTML block (no blank line) for ``text/markdown`` outputs and
markdown cells, because frontends that pass HTML through markdown (marked in
JupyterLab for trusted outputs, nbconvert's mistune) do not sanitize: the block
must be safe as raw HTML and must not let any of it be parsed as markdown again.

Imports of markdown-it/nh3 are lazy: ``%load_ext kimi_jupyter`` must stay light.
"""

from __future__ import annotations

import html
import os
import re
from typing import Any

#: Tags markdown-it produces; nothing else survives cleaning.
ALLOWED_TAGS = frozenset(
    "p h1 h2 h3 h4 h5 h6 em strong del s code pre blockquote ul ol li "
    "table thead tbody tr th td a hr br span div".split()
)
#: Attributes per tag (``rel`` on ``a`` is set by nh3 itself). No ``style``, no ``on*``.
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": set(),  # ammonia otherwise allows `lang` and `title` on every tag
    "a": {"href", "title"},
    "code": {"class"},
    "pre": {"class"},
    "span": {"class"},
    "div": {"class"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"

# Only our own classes: `math`, and `language-xxx` from a fence's info string.
_CLASS = re.compile(r"(?:math|language-[\w.+#-]{1,64})")
_ALIGN = ("left", "right", "center")
_DELIMS = {"$": ("$", "$"), "$$": ("$$", "$$"), "\\(": ("\\(", "\\)"), "\\[": ("\\[", "\\]")}

_md: Any = None  # the configured MarkdownIt, built on first use
_cleaner: Any = None  # the configured nh3 clean function, built on first use


def markdown_html(text: str) -> str:
    """Render model markdown to a sanitized HTML fragment, for ``text/html`` bundles.

    Raw HTML in ``text`` is shown as text; only http(s)/mailto links and images
    survive; math stays as ``<span class="math">$x^2$</span>`` for MathJax.
    """
    return _clean(markdown_parser().render(text, {}))


def markdown_block(text: str) -> str:
    """Render model markdown to ONE HTML block that is safe as markdown *source*.

    For ``text/markdown`` outputs and exported markdown cells, shown by frontends
    that pass HTML in markdown through unsanitized. The result is
    ``<div class="kimi-md">…</div>`` with no blank line (a blank line would end the
    HTML block and the rest would be parsed as markdown): newlines in ``<pre>``
    become ``&#10;``. Math is put back raw after cleaning, because JupyterLab
    extracts math from the *source* before parsing markdown; only ``<``/``>`` are
    rewritten (``\\lt``/``\\gt``) so TeX can never form a tag, ``&`` stays raw for
    alignment. Outside math, ``$``, ``\\`` and backticks are written as character
    references so that extraction only ever pairs our own delimiters.
    """
    token = _new_token()
    while token in text:  # the placeholder cannot be forged by the text itself
        token = _new_token()
    maths: list[str] = []
    body = _clean(markdown_parser().render(text, {"kimi_math": (token, maths)}))
    body = _PRE.sub(lambda m: m.group(0).replace("\n", "&#10;"), body)
    body = _BLANKS.sub("\n", body.strip())
    body = body.replace("$", "&#36;").replace("\\", "&#92;").replace("`", "&#96;")
    # One compiled pattern for every call; only this call's token is filled: a
    # per-call `re.sub(token + ...)` compiled a fresh pattern each time, which grew
    # `re`'s cache and evicted the user's own patterns from it.
    body = _MATH_REF.sub(lambda m: maths[int(m.group(2))] if m.group(1) == token else m.group(0), body)
    return f'<div class="kimi-md">{body}</div>'


def markdown_text(text: str) -> str:
    """``text`` shown literally inside a markdown line (a footer, a model id from a server).

    HTML-escaping alone leaves markdown syntax live: ``![x](https://host/p.png)`` in a
    model id would become an image. Every ASCII punctuation character becomes a
    character reference, which CommonMark shows as that character and never parses
    as syntax; newlines become spaces so the text stays on its line.
    """
    text = re.sub(r"\r\n?|\n", " ", text)
    return _MD_PUNCT.sub(lambda m: f"&#{ord(m.group(0))};", text)


def image_label(alt: str, url: str) -> str:
    """The visible text that stands for a model-text image: ``[image: alt — host]``.

    The host is the one a browser would go to (see `url_host`), so the user sees
    where a click leads before clicking; a ``data:`` URL names no host.
    """
    alt = " ".join(alt.split())
    where = "inline data, not shown" if url.lower().startswith("data:") else url_host(url) or "a local path"
    return f"[image: {alt} — {where}]" if alt else f"[image — {where}]"


def url_host(url: str) -> str:
    """The host (with a non-default port) a browser would contact for ``url``; "" if relative.

    Follows the WHATWG URL rules that matter for display, not `urllib`'s: the
    authority ends at ``/``, ``\\``, ``?`` or ``#``; userinfo is everything up to
    the *last* ``@`` (``https://trusted.example@evil.example/`` goes to evil.example);
    percent escapes in the host are decoded.
    """
    from urllib.parse import unquote

    m = re.match(r"(?:([A-Za-z][A-Za-z0-9+.-]*):)?([/\\]*)([^/\\?#]*)", url.strip())
    scheme = (m.group(1) or "").lower() if m else ""
    # `http:host/x` and `https:\\\host` still name a host (special schemes skip slashes).
    if m is None or (len(m.group(2)) < 2 and scheme not in ("http", "https")):
        return ""
    authority = m.group(3).rsplit("@", 1)[-1]
    host, _, port = authority.rpartition(":") if not authority.endswith("]") else (authority, "", "")
    if not host or not port.isdigit():
        host, port = authority, ""
    if port in ("", {"http": "80", "https": "443"}.get(scheme, "")):
        port = ""
    host = unquote(host).lower()
    return f"{host}:{port}" if port else host


def fence(text: str, lang: str = "") -> str:
    """A fenced code block around ``text`` that text inside it cannot close.

    The backtick fence is longer than any backtick run in ``text`` (at least 3);
    ``lang`` loses backticks and whitespace, which would void the fence.
    """
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    marks = "`" * max(3, longest + 1)
    lang = re.sub(r"[`\s]", "", lang)
    body = text if text.endswith("\n") else text + "\n"
    return f"{marks}{lang}\n{body}{marks}"


def inline_code(text: str) -> str:
    """A markdown code span showing ``text`` literally, whatever backticks it holds.

    CommonMark: the span is closed only by a run of exactly as many backticks as
    opened it, so we use one more than the longest run inside; one space of
    padding is added when the text starts/ends with a backtick, or with spaces on
    both sides (the parser strips one space from each side). Newlines become
    spaces. Empty text gives "" (an empty code span cannot be written).
    """
    text = re.sub(r"\r\n?|\n", " ", text)
    if not text:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    marks = "`" * (longest + 1)
    pad = text[0] == "`" or text[-1] == "`" or (text[0] == text[-1] == " " and text.strip(" "))
    space = " " if pad else ""
    return f"{marks}{space}{text}{space}{marks}"


# Terminated control strings (OSC: title, OSC 8 links, OSC 52 clipboard; DCS, SOS, PM,
# APC), then CSI (cursor, colour, erase), then any other ESC sequence, 7- and 8-bit forms.
_ESCAPES = re.compile(
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|\x1b[ -/]*[0-~]"
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Unicode bidi embeddings, overrides and isolates (U+202A-202E, U+2066-2069): they reorder
# what a terminal or a browser shows ("Trojan Source"), so text read in one order runs in
# another. The marks U+200E/200F/061C only set a direction; they are left alone.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
# `visible=True`: every control character but \n and \t, and every bidi control.
_UNSEEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def plain(text: str, *, visible: bool = False) -> str:
    """Untrusted text made safe for a terminal: no escape sequences, no control characters.

    This is the one helper every text/plain path uses (terminal view, the text/plain
    of static outputs that jupyter console prints, the approval prompt, errors).
    Model and server text must not move the cursor, overwrite what was shown, set the
    title, make hyperlinks, write the clipboard or reorder characters (bidi controls).

    Prose (``visible=False``): escape sequences are removed whole (the text of an OSC 8
    link is kept); an unterminated one loses only its introducer, so no text is
    swallowed, and a sequence split across streamed chunks is harmless (each ESC goes).
    ``\\r\\n`` and a lone ``\\r`` become ``\\n`` (a carriage return could hide text by
    overwriting the line); ``\\n`` and ``\\t`` are kept, every other C0/C1 control
    character, DEL and every bidi control is dropped.

    Code and tool arguments shown for approval (``visible=True``): nothing is dropped,
    so the user sees all of what will run. ``\\r\\n`` is a line ending; every other
    control character but ``\\n`` and ``\\t`` becomes a visible stand-in: C0 as its
    Control Picture (ESC is ``␛``, CR ``␍``), DEL as ``␡``, C1 and bidi controls as
    ``<U+202E>``.
    """
    text = text.replace("\r\n", "\n")  # a line ending, in code too: it hides nothing
    if visible:
        return _UNSEEN.sub(_stand_in, text)
    text = text.replace("\r", "\n")
    return _BIDI.sub("", _CONTROLS.sub("", _ESCAPES.sub("", text)))


def _stand_in(match: "re.Match[str]") -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode Control Pictures block: ␀ … ␟
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"<U+{code:04X}>"


def escape(text: str) -> str:
    """``html.escape(text, quote=True)``: plain text into HTML text or an attribute."""
    return html.escape(text, quote=True)


# -- internals ----------------------------------------------------------------------------

_PRE = re.compile(r"<pre\b.*?</pre>", re.DOTALL)
_MD_PUNCT = re.compile(r"[!-/:-@\[-`{-~]")
_BLANKS = re.compile(r"\n\s*")
#: A math placeholder: `_new_token()` (``kimimath`` + 16 hex digits), its index, ``z``.
_MATH_REF = re.compile(r"(kimimath[0-9a-f]{16})(\d+)z")


def _new_token() -> str:
    """A per-call placeholder prefix for math (os.urandom: `secrets` costs an import)."""
    return "kimimath" + os.urandom(8).hex()


def markdown_parser() -> Any:
    """The configured MarkdownIt, built once (the live view renders per paragraph)."""
    global _md
    if _md is None:
        from markdown_it import MarkdownIt
        from mdit_py_plugins.dollarmath import dollarmath_plugin

        md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
        md.enable(["table", "strikethrough"])
        # allow_digits=False: "$5 and $10" is money, not math; blank lines end math
        # (TeX forbids them, and JupyterLab's extraction stops there too).
        md.use(dollarmath_plugin, allow_labels=False, allow_digits=False,
               allow_blank_lines=False, double_inline=True)
        md.inline.ruler.before("escape", "math_bracket", _bracket_math)
        md.core.ruler.push("kimi_align", _table_align)
        for kind in ("math_inline", "math_inline_double", "math_block"):
            md.add_render_rule(kind, _render_math)
        md.add_render_rule("image", _render_image)
        _md = md
    return _md


def _bracket_math(state: Any, silent: bool) -> bool:
    r"""Inline rule for ``\(..\)`` and ``\[..\]``; runs before backslash escapes eat them."""
    src, pos = state.src, state.pos
    if not src.startswith(("\\(", "\\["), pos):
        return False
    opener = src[pos : pos + 2]
    closer = _DELIMS[opener][1]
    # The last closer in this inline source, looked up once: many unclosed openers
    # would otherwise make every find() scan to the end (quadratic).
    last = state.env.setdefault("kimi_last_closer", {})
    key = (src, closer)
    if key not in last:
        last[key] = src.rfind(closer)
    if last[key] < pos + 2:
        return False
    end = src.find(closer, pos + 2)
    if end == pos + 2 or not src[pos + 2 : end].strip():
        return False
    if not silent:
        tok = state.push("math_inline" if opener == "\\(" else "math_inline_double", "math", 0)
        tok.content, tok.markup = src[pos + 2 : end], opener
    state.pos = end + 2
    return True


def _table_align(state: Any) -> None:
    """markdown-it aligns cells with ``style``; we allow no style, so use ``align``."""
    for tok in state.tokens:
        if tok.type in ("th_open", "td_open") and tok.attrs:
            style = str(tok.attrs.pop("style", ""))
            if style.startswith("text-align:"):
                tok.attrs["align"] = style.split(":", 1)[1]


def _render_math(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    """Math as text with its delimiters, or (block form) a placeholder filled after nh3."""
    tok = tokens[idx]
    opener, closer = _DELIMS.get(tok.markup, ("$", "$"))
    tex = opener + tok.content.strip() + closer
    tag = "div" if tok.type == "math_block" else "span"
    if "kimi_math" in env:
        token, maths = env["kimi_math"]
        tex = tex.replace("<", "\\lt ").replace(">", "\\gt ")
        maths.append("\n".join(line for line in tex.split("\n") if line.strip()))
        inner = f"{token}{len(maths) - 1}z"
    else:
        inner = escape(tex)
    return f'<{tag} class="math">{inner}</{tag}>' + ("\n" if tag == "div" else "")


def _render_image(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    """An image as a link to it, never ``<img>``: loading it would be a request the user never made.

    Inside a link (``[![x](img)](href)``) the label is plain text, since links can't nest.
    The link gets the ``rel`` every link gets from nh3 (no referrer, no opener).
    """
    tok = tokens[idx]
    src = str(tok.attrGet("src") or "")
    alt = self.renderInlineAsText(tok.children or [], options, env)
    depth = 0
    for earlier in tokens[:idx]:
        depth += {"link_open": 1, "link_close": -1}.get(earlier.type, 0)
    if depth > 0:  # a click goes where the outer link points: naming the image's host would mislead
        alt = " ".join(alt.split())
        return escape(f"[image: {alt}]" if alt else "[image]")
    label = escape(image_label(alt, src))
    if src.lower().startswith("data:"):
        return label
    return f'<a href="{escape(src)}">{label}</a>'


def _keep_attribute(tag: str, name: str, value: str) -> str | None:
    """Only our own class names pass (fence info strings are model text)."""
    if name == "class":
        return value if _CLASS.fullmatch(value) else None
    return value


def _clean(fragment: str) -> str:
    """nh3 with the allowlist above; the Cleaner is built once."""
    global _cleaner
    if _cleaner is None:
        import nh3

        options: dict[str, Any] = dict(
            tags=set(ALLOWED_TAGS),
            clean_content_tags={"script", "style"},
            attributes=ALLOWED_ATTRIBUTES,
            tag_attribute_values={t: {"align": set(_ALIGN)} for t in ("th", "td")},
            attribute_filter=_keep_attribute,
            url_schemes=set(URL_SCHEMES),
            link_rel=LINK_REL,
            strip_comments=True,
        )
        if hasattr(nh3, "Cleaner"):  # nh3 >= 0.3: the ammonia builder is built once
            _cleaner = nh3.Cleaner(**options).clean
        else:
            _cleaner = lambda fragment: nh3.clean(fragment, **options)  # noqa: E731
    return str(_cleaner(fragment))

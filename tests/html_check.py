"""An independent check that markup is safe to show: the allowlist the tests hold the package to.

Written here with the stdlib's `html.parser`, not imported from `kimi_jupyter.core.sanitize`, so
widening the package's allowlist fails a test. Shared by the unit tests of `sanitize` and the
kernel tests that check every output a cell sends.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

TAGS = set(
    "p h1 h2 h3 h4 h5 h6 em strong del s code pre blockquote ul ol li "
    "table thead tbody tr th td a hr br span div".split()
)
# No tag that loads anything by itself (img, video, audio, source, picture, svg image, link,
# input type=image...): model text must never make the frontend fetch a URL (a zero-click leak).
ATTRS = {
    "a": {"href", "title", "rel"},
    "code": {"class"},
    "pre": {"class"},
    "span": {"class"},
    "div": {"class"},
    "th": {"align"},
    "td": {"align"},
}
CLASS = re.compile(r"kimi-md|math|language-[\w.+#-]+")
SCHEMES = {"http", "https", "mailto"}


class Collector(HTMLParser):
    """Every start tag with its attributes, and anything that is not a tag or text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.starts: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.other: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.starts.append((tag, attrs))

    def handle_comment(self, data: str) -> None:
        self.other.append(f"comment {data!r}")

    def handle_decl(self, decl: str) -> None:
        self.other.append(f"decl {decl!r}")

    def handle_pi(self, data: str) -> None:
        self.other.append(f"pi {data!r}")

    def unknown_decl(self, data: str) -> None:
        self.other.append(f"unknown decl {data!r}")


def problems(markup: str) -> list[str]:
    found = Collector()
    found.feed(markup)
    found.close()
    bad = list(found.other)
    for tag, attrs in found.starts:
        if tag not in TAGS:
            bad.append(f"tag <{tag}>")
        for name, value in attrs:
            value = value or ""
            if name.startswith("on") or name == "style" or name not in ATTRS.get(tag, set()):
                bad.append(f"attribute {name}= on <{tag}>")
            if name in ("href", "src"):
                # At least what a browser sees (WHATWG URL): tab/newline and outer
                # controls dropped, case folded; no scheme means a relative URL.
                url = re.sub(r"[\x00-\x20\x7f]", "", value).lower()
                scheme = re.match(r"([a-z][a-z0-9+.-]*):", url)
                if scheme and scheme.group(1) not in SCHEMES:
                    bad.append(f"{name}={value!r} on <{tag}>")
            if name == "class" and not all(CLASS.fullmatch(c) for c in value.split()):
                bad.append(f"class={value!r} on <{tag}>")
    return bad


def assert_safe(markup: str) -> None:
    assert problems(markup) == [], markup

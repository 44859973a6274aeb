"""The bundles views publish: what text-only frontends get, and what markdown frontends parse."""

from __future__ import annotations

from markdown_it import MarkdownIt

from kimi_jupyter.views import render


def test_live_paragraphs_have_no_text_plain_for_text_only_frontends_to_print_twice() -> None:
    # jupyter console prints every display's text/plain, even one a widget captured; the
    # static answer that follows the reply is the one it should print.
    for fmt in ("markdown", "json", "text"):
        live = render.live_answer_bundle("Hello **world**\n", fmt)
        assert live and "text/plain" not in live, (fmt, live)
    assert "<strong>world</strong>" in render.live_answer_bundle("Hello **world**\n")["text/markdown"]
    assert "&lt;b&gt;" in render.live_answer_bundle("<b>x</b>", "text")["text/html"]


def test_footer_markdown_keeps_a_server_model_id_as_text() -> None:
    footer = "![x](https://attacker.example/p.png?d=1) <img src=x> · 10 in / 5 out"
    html = MarkdownIt("commonmark", {"html": True}).render(render.footer_bundle(footer)["text/markdown"])
    assert "<img" not in html and "<a " not in html
    assert "![x](https://attacker.example/p.png?d=1) &lt;img src=x&gt;" in html
    assert render.footer_bundle(footer)["text/plain"] == footer


def test_status_bundle_shows_its_line_in_every_form() -> None:
    bundle = render.status_bundle(render.reply_summary(1.25, 1234))
    assert bundle["text/plain"] == "Reply · 1.2 s · 1,234 tokens"
    assert "Reply · 1.2 s · 1,234 tokens" in bundle["text/html"]

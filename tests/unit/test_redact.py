"""The one redaction rule (kimi_jupyter.core.redact): secrets, their encodings, split streams, mime bundles."""

from __future__ import annotations

import base64
import json

import pytest

from kimi_jupyter.core.redact import REDACTED, StreamRedactor, redact_data, redact_text, redact_value

KEY = "sk-Abc123xyz789-SECRET"
PW = "db-password-42"


def test_plain_secret_and_longest_first():
    assert redact_text(f"key={KEY} pw={PW}", [KEY, PW]) == f"key={REDACTED} pw={REDACTED}"
    # A secret containing another is masked whole, not left half-shown.
    assert redact_text("xx-db-password-42-yy", [PW, "xx-db-password-42-yy"]) == REDACTED


def test_short_values_are_not_secrets():
    assert redact_text("True and abc", ["abc", ""]) == "True and abc"


@pytest.mark.parametrize("encode", [
    lambda s: s[::-1],
    lambda s: s.encode().hex(),
    lambda s: s.encode().hex().upper(),
    lambda s: base64.b64encode(s.encode()).decode(),
    lambda s: base64.b64encode(b"x" + s.encode()).decode(),
    lambda s: base64.b64encode(b"xy" + s.encode() + b"tail").decode(),
    lambda s: base64.urlsafe_b64encode(b"?" + s.encode()).decode(),
    lambda s: base64.b64encode(json.dumps({"auth": s}).encode()).decode(),
], ids=["reversed", "hex", "HEX", "b64", "b64+1", "b64+2", "urlsafe", "b64-json"])
def test_obvious_encodings_are_masked(encode):
    encoded = encode(KEY)
    assert KEY not in encoded
    out = redact_text(f"here: {encoded} done", [KEY])
    assert REDACTED in out
    # Nothing long enough to rebuild the key survives: the masked part covers the secret's bits.
    assert encode(KEY)[len(encoded) // 2 - 4: len(encoded) // 2 + 4] not in out


def test_repr_and_json_escapes():
    odd = 'quo"te\\back-slash'
    assert redact_text(repr(odd), [odd]) == f"'{REDACTED}'"
    assert redact_text(json.dumps({"k": odd}), [odd]) == f'{{"k": "{REDACTED}"}}'


def test_ordinary_text_and_images_are_untouched():
    text = "The DataFrame has 3 columns: a, b, c.\n" * 3
    assert redact_text(text, [KEY, PW]) == text
    png = base64.b64encode(b"\x89PNG" + KEY.encode()).decode()
    data = redact_data({"image/png": png, "text/plain": f"'{KEY}'"}, [KEY])
    assert data == {"image/png": png, "text/plain": f"'{REDACTED}'"}


def test_mime_bundle_every_text_type():
    bundle = {
        "text/plain": KEY, "text/html": f"<b>{KEY}</b>", "text/markdown": f"**{KEY}**",
        "text/latex": f"$\\text{{{KEY}}}$", "image/svg+xml": f"<svg><text>{KEY}</text></svg>",
        "application/json": {"key": KEY, KEY: [1, KEY]},
    }
    out = redact_data(bundle, [KEY])
    assert KEY not in json.dumps(out)
    assert out["application/json"] == {"key": REDACTED, REDACTED: [1, REDACTED]}
    assert redact_value(("a", KEY, 3), [KEY]) == ("a", REDACTED, 3)


def _through(redactor: StreamRedactor, pieces: list[str]) -> tuple[str, list[str]]:
    shown = [redactor.feed(p) for p in pieces]
    shown.append(redactor.flush())
    return "".join(shown), shown


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_stream_split_writes(size):
    text = f"the key is {KEY}!\n"
    pieces = [text[i:i + size] for i in range(0, len(text), size)]
    out, _ = _through(StreamRedactor([KEY, PW]), pieces)
    assert out == f"the key is {REDACTED}!\n"


def test_stream_reversed_key_char_by_char():
    out, _ = _through(StreamRedactor([KEY]), list(KEY[::-1]))
    assert out == REDACTED


def test_stream_holds_back_only_a_possible_start():
    r = StreamRedactor([KEY])
    # Ordinary output is released at once, so it still shows live.
    assert r.feed("progress 10%\n") == "progress 10%\n"
    # A tail that could be the start of the key is held, then released when it can't be.
    assert r.feed("use sk-A") == "use "
    assert r.held == "sk-A"
    assert r.feed("BC other") == "sk-ABC other"
    assert r.flush() == ""


def test_stream_flush_releases_a_harmless_tail():
    r = StreamRedactor([KEY])
    assert r.feed("ends with s") == "ends with "
    assert r.flush() == "s"


def test_stream_without_secrets_passes_through():
    r = StreamRedactor([])
    assert r.feed("sk-") == "sk-" and r.flush() == ""


def test_most_of_a_secret_is_masked_too():
    # A cut (a capped output, a repr's "…") or `print(key[:-1])` leaves most of a key.
    assert redact_text(f"head {KEY[:-1]}… [cut]", [KEY]) == f"head {REDACTED}… [cut]"
    assert redact_text(f"[cut] …{KEY[3:]} tail", [KEY]) == f"[cut] …{REDACTED} tail"
    # A short piece says little and is ordinary text: left alone.
    assert redact_text(f"prefix {KEY[:5]}", [KEY]) == f"prefix {KEY[:5]}"


def test_stream_is_the_same_as_redacting_the_whole_text():
    import random

    rng = random.Random(7)
    whole = (f"a {KEY} b {KEY[::-1]} c {KEY[:-2]}x {PW}{PW} d {base64.b64encode(KEY.encode()).decode()} "
             f"sk-Abc e {KEY[4:]}\n" * 3)
    expected = redact_text(whole, [KEY, PW])
    assert KEY not in expected and PW not in expected
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(whole)), rng.randint(1, 40)))
        pieces = [whole[i:j] for i, j in zip([0, *cuts], [*cuts, len(whole)])]
        out, _ = _through(StreamRedactor([KEY, PW]), pieces)
        assert out == expected

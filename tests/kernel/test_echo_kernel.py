"""What model code prints reaches no terminal as an escape, in a real kernel.

The python tool echoes model code's stdout and stderr live; jupyter console and
qtconsole write that stream text as it is. Code that prints a page or a file must not
pass its escapes on (clipboard, title, cursor moves over the approval prompt), even
when a sequence is cut between two writes. Colour and progress bars' ``\\r`` stay.
"""

from __future__ import annotations

import json
import re

from kimi_jupyter.testing import Scenario, ScriptedTurn, ToolCallSpec
from kimi_jupyter.testing.kernel import Kernel
from kimi_jupyter.testing.pytest_plugin import kernel_env

# One hostile page, cut into writes mid-sequence: OSC 52 (clipboard), cursor-up and
# erase-line, a window title, a bidi override; with colour and a progress bar's \r.
PIECES = [
    "first words \x1b]52;c;Y3VybCBldmlsIHwg", "c2g=\x07 second \x1b[", "1A\x1b[2", "K third ",
    "\x1b]0;owned ", "title\x1b", "\\ fourth \u202etxt.exe\u202c \x1b[3", "1mcoloured\x1b[0m ",
    "10%\r", "100%\n",
]
WORDS = ("first words", "second", "third", "fourth", "txt.exe", "coloured", "10%", "100%")
# Anything but an SGR colour sequence, \t, \n and \r that a terminal would act on.
UNSAFE = re.compile("(?!\x1b\\[[0-9;:]*m)\x1b|[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
CODE = ("import sys\n"
        f"for piece in {PIECES!r}:\n"
        "    sys.stdout.write(piece)\n"
        "    sys.stdout.flush()\n"
        f"for piece in {PIECES!r}:\n"
        "    sys.stderr.write(piece)\n"
        "    sys.stderr.flush()\n")


def test_what_model_code_prints_reaches_the_frontend_without_escapes(kimi_server):
    kimi_server.add_scenario(Scenario("hostile_print", [
        ScriptedTurn(reasoning="Print the page.", tool_calls=[ToolCallSpec("python", json.dumps({"code": CODE}))]),
        ScriptedTurn(content="Printed."),
    ]))
    with Kernel(kernel_env(kimi_server)) as k:
        k.run("%load_ext kimi_jupyter")
        run = k.execute("%%kimi -y\n[[scenario:hostile_print]] go", timeout=120)
    assert run.ok, run.text
    for name in ("stdout", "stderr"):
        text = "".join(m["content"]["text"] for m in run.messages
                       if m["msg_type"] == "stream" and m["content"]["name"] == name)
        assert UNSAFE.findall(text) == [], repr(text)
        # Printed colour goes too (it could hide a key from the redactor); \r stays.
        assert "\x1b" not in text and " coloured " in text and "10%\r100%\n" in text
        assert all(word in text for word in WORDS), repr(text)
        assert "owned" not in text and "Y3VybCBldmlsIHwg" not in text  # the title and the clipboard payload
    # The model's copy: the same words, and no escape at all (colour is noise to it).
    tool_message = [m for m in kimi_server.requests[-1]["messages"] if m["role"] == "tool"][-1]
    content = str(tool_message["content"])
    assert "\x1b" not in content and UNSAFE.findall(content) == []
    assert all(word in content for word in WORDS), content


def test_what_model_code_displays_or_raises_reaches_the_frontend_without_escapes(kimi_server):
    # A table or an exception that holds a page's text is printed by jupyter console as it is.
    show = ("class Page:\n    def __repr__(self):\n"
            "        return 'row \\x1b]52;c;Y3VybA==\\x07 cell \\x1b[1A\\x1b[2K\\x1b[32mgreen\\x1b[0m'\n"
            "display(Page())\nPage()")
    fail = "raise ValueError('bad \\x1b]0;owned title\\x07 value \\u202etxt.exe')"
    kimi_server.add_scenario(Scenario("hostile_display", [
        ScriptedTurn(reasoning="Show the page.", tool_calls=[
            ToolCallSpec("python", json.dumps({"code": show})), ToolCallSpec("python", json.dumps({"code": fail}))]),
        ScriptedTurn(content="Shown."),
    ]))
    with Kernel(kernel_env(kimi_server)) as k:
        k.run("%load_ext kimi_jupyter")
        run = k.execute("%%kimi -y\n[[scenario:hostile_display]] go", timeout=120)
    assert run.ok, run.text
    plain = [m["content"]["data"]["text/plain"] for m in run.messages
             if m["msg_type"] in ("display_data", "execute_result") and "row" in m["content"]["data"].get("text/plain", "")
             and "class Page" not in m["content"]["data"]["text/plain"]]
    errors = [m["content"] for m in run.messages if m["msg_type"] == "error"]
    assert len(plain) == 2 and len(errors) == 1, run.messages  # the display and the Out value
    texts = [*plain, errors[0]["evalue"], *errors[0]["traceback"]]
    assert [t for t in texts if UNSAFE.search(t)] == []
    assert all(t == "row  cell \x1b[32mgreen\x1b[0m" for t in plain), plain
    assert errors[0]["evalue"] == "bad  value txt.exe"

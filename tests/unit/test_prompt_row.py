"""The chat panel's prompt row: a press sends the text it carries, and the kernel never writes the box."""

from __future__ import annotations

from kimi_jupyter.views.prompt_row import PromptRow


def _row(sent: list) -> PromptRow:
    row = PromptRow()
    row.send = sent.append  # what the kernel would send to the browser
    return row


def test_a_submit_passes_the_text_it_carries_not_the_synced_value():
    row = _row([])
    got: list[str] = []
    row.on_submit(got.append)
    row.value = "Explain ti"  # the keystroke syncs that reached the kernel so far
    row._on_msg(row, {"event": "submit", "text": "Explain tides, please."}, [])
    assert got == ["Explain tides, please."]


def test_other_or_malformed_browser_messages_send_nothing():
    row = _row([])
    got: list[str] = []
    row.on_submit(got.append)
    for content in ({"event": "submit"}, {"event": "submit", "text": 3}, {"event": "other", "text": "x"},
                    ["submit"], None):
        row._on_msg(row, content, [])
    assert got == []


def test_clear_asks_the_browser_and_leaves_the_value_to_it():
    sent: list = []
    row = _row(sent)
    row.value = "Explain tides, please."
    row.clear()
    # The browser empties the box and syncs "" after any update still waiting; a kernel-side
    # write could be overtaken by a late keystroke sync that refills the box.
    assert sent == [{"event": "clear"}]
    assert row.value == "Explain tides, please."

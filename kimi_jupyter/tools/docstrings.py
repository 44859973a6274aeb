"""Read a tool's description and parameter descriptions from its docstring.

Supports the three styles people actually write: Google (``Args:``), NumPy
(``Parameters`` underlined with dashes) and reST (``:param x:``). It is deliberately
forgiving: anything it does not understand is simply not used.
"""

from __future__ import annotations

import inspect
import re

_PARAM_SECTIONS = {
    "args", "arguments", "parameters", "params", "keyword args", "keyword arguments",
    "other parameters", "kwargs",
}
_OTHER_SECTIONS = {
    "returns", "return", "yields", "yield", "raises", "raise", "examples", "example",
    "notes", "note", "see also", "attributes", "warnings", "warning", "references",
    "todo", "methods",
}
_GOOGLE_HEADER = re.compile(r"^(\s*)([A-Za-z][A-Za-z ]*?)\s*:\s*$")
_NUMPY_RULE = re.compile(r"^\s*-{3,}\s*$")
_REST_PARAM = re.compile(r"^:(?:param|parameter|arg|argument|key|keyword)\s+(?:[^:]*\s)?\*{0,2}(\w+)\s*:\s*(.*)$")
# Google: "name (type): text"   NumPy: "name : type"
_ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(?:\(([^)]*)\))?\s*(?::\s*(.*))?$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Return ``(description, {parameter: description})``.

    The description is all the prose before the first section (``Args:``, ``Returns``,
    ``:param``...), not just the first line: tool docstrings tend to carry usage hints the
    model needs, which is also what LangChain and the OpenAI Agents SDK send.
    """
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    params: dict[str, str] = {}
    section: str | None = None  # None = still in the description
    style = ""  # "google" | "numpy" | "rest" for the current parameter section
    header_indent = 0
    entry_indent: int | None = None
    current: str | None = None

    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        nxt = lines[i + 1] if i + 1 < len(lines) else ""

        # Section headers.
        if stripped and _NUMPY_RULE.match(nxt) and not _NUMPY_RULE.match(line):
            name = stripped.lower()
            section = "params" if name in _PARAM_SECTIONS else "other"
            style, current, entry_indent = "numpy", None, None
            i += 2
            continue
        m = _GOOGLE_HEADER.match(line)
        if m and m.group(2).strip().lower() in _PARAM_SECTIONS | _OTHER_SECTIONS:
            section = "params" if m.group(2).strip().lower() in _PARAM_SECTIONS else "other"
            style, current, entry_indent = "google", None, None
            header_indent = len(m.group(1))
            i += 1
            continue
        m = _REST_PARAM.match(stripped)
        if m:
            section, style = "params", "rest"
            current = m.group(1)
            params[current] = m.group(2).strip()
            entry_indent = _indent(line)
            i += 1
            continue
        if stripped.startswith(":") and re.match(r"^:\w[^:]*:", stripped):
            # :returns:, :rtype:, :type x:, :raises X: ... not parameters.
            section, current = "other", None
            i += 1
            continue

        if section is None:
            summary.append(line)
        elif not stripped:
            pass  # blank lines inside a section keep the current entry open
        elif style == "google" and _indent(line) <= header_indent:
            # Unindented prose after a Google section ends it.
            section, current = "other", None
        elif section == "params":
            ind = _indent(line)
            if style != "rest" and (entry_indent is None or ind <= entry_indent):
                m = _ENTRY.match(stripped)
                if m:
                    entry_indent = ind
                    current = m.group(1)
                    # In NumPy style the text after the colon is the type, not a description.
                    params[current] = "" if style == "numpy" else (m.group(3) or "").strip()
                else:
                    current = None
            elif current is not None:
                params[current] = (params[current] + " " + stripped).strip()
        i += 1

    return "\n".join(summary).strip(), params

"""Read a tool's description and parameter descriptions from its docstring.

``docstring_parser`` reads the three styles people write (Google ``Args:``, NumPy
``Parameters``, reST ``:param x:``); this module only shapes its result for a tool schema.
It is imported on first use, so ``%load_ext kimi_jupyter`` stays light.
"""

from __future__ import annotations


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Return ``(description, {parameter: description})``.

    The description is all the prose before the first section, not just the first line:
    tool docstrings tend to carry usage hints the model needs, which is also what LangChain
    and the OpenAI Agents SDK send. Parameter descriptions are joined onto one line.
    """
    if not doc or not doc.strip():
        return "", {}
    import docstring_parser

    parsed = docstring_parser.parse(doc)
    gap = "\n\n" if parsed.blank_after_short_description else "\n"
    description = gap.join(t for t in (parsed.short_description, parsed.long_description) if t)
    params = {p.arg_name.lstrip("*"): " ".join((p.description or "").split())
              for p in parsed.params}
    return description.strip(), params

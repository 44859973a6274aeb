"""Prompt interpolation: `{name}`, `{name.attr}`, `{In[3]}`, `{Out[3]}` (SPEC §2).

Only a brace pair whose inside is a plain reference to something that exists
in the namespace is replaced. Everything else — code, JSON, format specs,
unknown names — is left byte-for-byte as written, because prompts are full of
braces that were never meant for us.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

# A dotted name, optionally followed by one [int] or ['key'] subscript then more attrs.
_REF = re.compile(
    r"\{(?P<expr>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
    r"(?:\[(?:-?\d+|'[^'{}]*'|\"[^\"{}]*\")\](?:\.[A-Za-z_][A-Za-z0-9_]*)*)?)\}"
)
_MISSING = object()


def _lookup(expr: str, ns: Mapping[str, Any]) -> Any:
    head, _, rest = expr.partition("[")
    names = head.split(".")
    if names[0] not in ns:
        return _MISSING
    value = ns[names[0]]
    try:
        for attr in names[1:]:
            value = getattr(value, attr)
        if rest:
            key_text, _, tail = rest.partition("]")
            key: Any = int(key_text) if key_text.lstrip("-").isdigit() else key_text[1:-1]
            value = value[key]
            for attr in filter(None, tail.split(".")):
                value = getattr(value, attr)
    except Exception:  # noqa: BLE001 - any failure means "not a reference": leave it literal
        return _MISSING
    return value


def interpolate(prompt: str, ns: Mapping[str, Any]) -> str:
    """Replace references that resolve in `ns`; leave every other brace untouched.

    `{{` and `}}` are not special: a literal double brace in a prompt is common
    (templates, JSON) and stays as written.
    """

    def sub(match: re.Match[str]) -> str:
        start = match.start()
        # `{{x}}` is a template in the user's text, not a reference.
        if start > 0 and prompt[start - 1] == "{":
            return match.group(0)
        value = _lookup(match.group("expr"), ns)
        if value is _MISSING:
            return match.group(0)
        return value if isinstance(value, str) else str(value)

    return _REF.sub(sub, prompt)

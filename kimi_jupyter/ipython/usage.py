"""The core's `OptionError` shown the IPython way: as a `UsageError`.

`core/` never imports IPython, so a bad option or a setting the model refuses is an
`OptionError` there (a `ValueError` to a plain script). IPython shows a `UsageError` as one
line on stderr with no traceback, and only that exact class, so each entry point a user
calls from IPython (`%%kimi`, `%kimi`, `chat()`, `map()`) converts at its boundary.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from IPython.core.error import UsageError

from ..core.errors import OptionError


@contextmanager
def usage_errors() -> Iterator[None]:
    """Under IPython, re-raise `OptionError` as its `UsageError`; a decorator too (`@usage_errors()`)."""
    try:
        yield
    except OptionError as exc:
        from IPython import get_ipython

        if get_ipython() is None:
            raise  # a plain script: the OptionError (a ValueError) as it is
        raise UsageError(str(exc)) from None

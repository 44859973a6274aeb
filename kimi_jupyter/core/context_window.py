"""Fitting each request into the model's context window, before it is sent.

Moonshot refuses a request whose prompt plus `max_tokens` passes the window
(400 "Your request exceeded model token limit"; its FAQ: "we use the input's
tokens plus the request's max_tokens"), and vLLM does the same. So a prompt
that cannot fit is refused here, and a reply that would not fit gets the room
that is left rather than a 400: with the default `max_tokens` of 32,000 every
request to `moonshot-v1-8k` or `-32k` would otherwise fail.

The prompt's size is the cheap estimate (~4 characters a token) until that
matters: near the window, it is the server's own count of the conversation
plus the estimate of what was appended since. The server counts every reply's
prompt for free (`usage.prompt_tokens`); where no reply has counted the
conversation yet, its tokenizer is asked (`/v1/tokenizers/estimate-token-count`,
Moonshot only), once, not on every step of a tool loop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import PromptTooLarge

if TYPE_CHECKING:
    from .catalog import ModelInfo
    from .conversation import Conversation
    from .settings import Settings

# The tokenizer is asked again only once this share of the window was appended since
# the last exact count: a 4 MB, million-token body on every step of a tool loop would
# make each step cost O(history) (and a server round trip) for a number that moved by a
# few tokens.
RECOUNT_SHARE = 32


@dataclass(frozen=True)
class Room:
    """What one request may ask for: the prompt's size, and the `max_tokens` that fits after it."""

    tokens: int
    max_tokens: int
    window: int

    def cut(self, settings: "Settings") -> bool:
        """True when the conversation, not just a small window, cuts the reply below its `max_tokens`."""
        return self.max_tokens < settings.max_tokens and self.max_tokens < self.window // 2


def tools_tokens(tools: list[dict[str, Any]] | None) -> int:
    """Estimated tokens of the tool list, which the server counts in the prompt too."""
    return len(json.dumps(tools, ensure_ascii=False)) // 4 if tools else 0


def check(conv: "Conversation", settings: "Settings", info: "ModelInfo", client: Any, tools: int = 0) -> Room:
    """The room for the next request; `PromptTooLarge` when the prompt alone can't fit.

    `tools`: the tool list's estimated tokens (`tools_tokens`). `client` asks the
    server's tokenizer (`KimiClient.estimate_tokens`).
    """
    window = info.context_window
    wanted = settings.max_tokens
    rough = conv.estimate_tokens() + tools
    if rough < window // 2 and rough + wanted <= window:
        return Room(rough, wanted, window)  # far from the window: the estimate is good enough
    since = conv.tokens_since_exact()
    if since is None or since > window // RECOUNT_SHARE:
        _recount(conv, client)
    tokens = conv.best_tokens() + tools
    if tokens >= window and conv.tokens_since_exact():
        _recount(conv, client)  # never refuse on an extrapolation
        tokens = conv.best_tokens() + tools
    # What was appended since the last exact count is only estimated: leave room for it twice.
    room = window - tokens - (conv.tokens_since_exact() or 0)
    if room < 1:
        raise PromptTooLarge(
            f"The conversation is about {tokens:,} tokens, more than {settings.model}'s "
            f"{window:,}-token context window, so it was not sent. Shorten the prompt, or start "
            "over with `%%kimi --new` or `%kimi reset`."
        )
    return Room(tokens, min(wanted, room), window)


def _recount(conv: "Conversation", client: Any) -> None:
    """Ask the server's tokenizer; where it has none, the estimate stands in (and isn't asked again soon)."""
    exact = client.estimate_tokens(conv.messages, conv.encoded())
    conv.note_exact(exact if exact is not None else conv.estimate_tokens())

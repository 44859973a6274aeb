"""Shrink a figure before it is sent to a vision model, to save context.

A 2000x1000 figure costs several times the tokens of a 1024x512 one and tells the model
little more. Only the copy sent to the model is shrunk: the user's displayed figure, the
saved notebook and ``ToolOutput.images`` keep full size. Pillow is imported here, lazily,
only when an image actually goes to a vision model (a dependency of ours, and of
matplotlib); for an image it cannot read, the original is sent unchanged.
"""

from __future__ import annotations

import base64
import io

from .tool_output import png_size

MAX_SIDE = 1024


def downscale_png(b64: str, max_side: int = MAX_SIDE) -> str:
    """A base64 PNG whose long side is at most ``max_side`` pixels (aspect ratio kept)."""
    size = png_size(b64)
    if size is not None and max(size) <= max_side:
        return b64  # small already: no decode, no re-encode
    try:
        from PIL import Image

        with Image.open(io.BytesIO(base64.b64decode(b64))) as img:
            img.load()
            if max(img.size) <= max_side:
                return b64
            img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            img.save(out, format="PNG", optimize=True)
    except Exception:  # noqa: BLE001 - an image Pillow can't read: send it as is
        return b64
    return base64.b64encode(out.getvalue()).decode("ascii")

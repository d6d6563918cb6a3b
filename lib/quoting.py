"""How a value from a stack file is shown back in an error message: quoted, escaped and cut short.

Every message that echoes configuration goes through :func:`echo`, so a 10 MB value comes back as
about 200 characters, a newline or an escape sequence in a value cannot break the line or the
terminal, and no message grows with its input.
"""

from __future__ import annotations

import json
from typing import Any

# About two lines of a terminal: enough to recognise a value, short enough that a huge one cannot
# flood the output. docs/security.md states the figure.
ECHO_LIMIT = 200
_ELLIPSIS = "…"


def shorten(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}{_ELLIPSIS} ({len(text):,} characters in all)"


def echo(value: Any, limit: int = ECHO_LIMIT) -> str:
    """``value`` as a message shows it: a string quoted with its control characters escaped,
    anything else as JSON, both cut to about ``limit`` characters."""
    if isinstance(value, str):
        # repr escapes newlines, tabs, NUL and ESC, so an echoed value stays on its line. The cut
        # comes first: the repr of a 10 MB string is not built only to be thrown away.
        shown = repr(value[:limit])
        if len(value) > limit:
            shown += f"{_ELLIPSIS} ({len(value):,} characters in all)"
        return shown
    try:
        shown = json.dumps(value, ensure_ascii=True, default=repr)
    except (TypeError, ValueError, RecursionError):
        shown = type(value).__name__
    return shorten(shown, limit)


def key_name(key: str, limit: int = ECHO_LIMIT) -> str:
    """A configuration key as a message shows it: as it is when it is short and printable, else
    quoted and escaped like a value (a key comes from the stack file too)."""
    if len(key) <= limit and key.isprintable():
        return key
    return echo(key, limit)

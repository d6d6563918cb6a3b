"""The one place every message of the client tools passes through on its way out.

chat, smoke and verify write to stdout and stderr only through a :class:`RedactingWriter`, and turn
every exception into a message written there too. Whatever a message holds (an HTTP library's
"invalid header" text, a server that echoes the key in a body or a header, a URL with
``user:pass@``, a ``pulumi`` CLI error), credentials are masked before a byte reaches the terminal:

* secrets the tool knows (the endpoint key, Entra ID tokens, a password in a URL) are masked in
  every spelling a message could carry them: as given, trimmed, each line of one that holds a
  line break, escaped (``repr``/JSON), percent-encoded, and the UTF-8 bytes of a non-ASCII key
  read as Latin-1;
* patterns mask what the tool was never told: URL user info, ``Bearer``/``Basic`` credentials,
  ``Authorization:`` header lines, and ``key=``/``sig=``/``token=``-style query parameters;
* text streamed piece by piece (the chat answer) is held back while its tail could be the start
  of a secret, so a key echoed across two deltas is masked too.
"""

from __future__ import annotations

import json
import re
import threading
from typing import TextIO
from urllib.parse import quote, quote_plus

MASK = "[redacted]"
# Pieces of a secret split at line breaks shorter than this are not masked on their own: a
# two-letter fragment would mask ordinary words.
MIN_PIECE = 6
# Shorter "secrets" are not credentials (AzureML keys are 32+ characters, Entra ID tokens over a
# thousand) and masking them would cut letters out of every message.
MIN_SECRET = 6

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@]+@")
_SCHEME_CREDENTIAL = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9\-._~+/=%]{4,}")
_AUTH_LINE = re.compile(r"(?im)^(\s*(?:authorization|x-api-key|api-key|secret)\s*[:=]\s*).+$")
_QUERY_SECRET = re.compile(
    r"(?i)([?&;\s\"'](?:api[-_]?key|key|sig|signature|token|access_token|refresh_token|code|"
    r"password|secret|client_secret)=)[^&\s\"']+"
)


def _variants(secret: str) -> set[str]:
    forms = {secret, secret.strip()}
    forms |= {piece for piece in re.split(r"[\r\n\t ]+", secret) if len(piece) >= MIN_PIECE}
    forms.add(repr(secret)[1:-1])
    forms.add(json.dumps(secret)[1:-1])
    forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    forms.add(quote(secret, safe=""))
    forms.add(quote_plus(secret))
    forms.add(secret.encode("unicode_escape").decode("ascii"))
    forms.add(secret.encode("utf-8", "replace").decode("latin-1"))
    forms.add(secret.encode("ascii", "replace").decode("ascii"))
    return {form for form in forms if form}


class Redactor:
    """Masks known secrets and credential-looking patterns. Thread-safe; secrets only accumulate."""

    def __init__(self, *secrets: str | None):
        self._lock = threading.Lock()
        self._forms: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Remember a secret; every later message masks it."""
        if not secret or len(secret.strip()) < MIN_SECRET:
            return
        with self._lock:
            known = set(self._forms) | _variants(secret)
            # Longest first, so a secret's trimmed form does not leave its whitespace-free tail.
            self._forms = sorted(known, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        with self._lock:
            forms = list(self._forms)
        for form in forms:
            if form in text:
                text = text.replace(form, MASK)
        text = _USERINFO.sub(r"\1" + MASK + "@", text)
        text = _SCHEME_CREDENTIAL.sub(r"\1\2" + MASK, text)
        text = _AUTH_LINE.sub(r"\1" + MASK, text)
        return _QUERY_SECRET.sub(r"\1" + MASK, text)

    def held_back(self, text: str) -> int:
        """How many trailing characters of ``text`` could be the start of a secret."""
        with self._lock:
            forms = list(self._forms)
        longest = 0
        for form in forms:
            for size in range(min(len(form) - 1, len(text)), longest, -1):
                if text.endswith(form[:size]):
                    longest = size
                    break
        return longest


class RedactingWriter:
    """A text stream that masks secrets before they reach ``stream`` (stdout or stderr).

    Streamed text whose tail may begin a secret is held back until the next write shows whether it
    does; :meth:`close_pending` (called at exit) masks a tail still held that long."""

    def __init__(self, stream: TextIO, redactor: Redactor):
        self._stream = stream
        self._redactor = redactor
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        redacted = self._redactor(self._pending)
        hold = self._redactor.held_back(redacted)
        ready, self._pending = (redacted[:-hold], redacted[-hold:]) if hold else (redacted, "")
        if ready:
            self._stream.write(ready)
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def close_pending(self) -> None:
        """Write what is held: masked when it is a long start of a secret, else as it is."""
        if self._pending:
            tail = self._pending
            self._pending = ""
            self._stream.write(MASK if len(tail) >= 4 else tail)
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", "utf-8") or "utf-8"

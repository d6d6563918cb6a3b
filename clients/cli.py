"""How chat, smoke and verify run: every byte they print passes through one redaction point.

:func:`run_tool` wraps stdout and stderr in :class:`lib.redact.RedactingWriter`, seeds the
redactor with every credential the command line or the environment hands in, and turns any
exception that escapes the tool into a one-line message on the redacted stderr (exit 1), so no
traceback, and no credential inside one, is ever printed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

from clients.outputs import ENV_API_KEY
from lib.redact import RedactingWriter, Redactor

# Environment variables whose values are credentials the tools may meet in a message.
SECRET_VARIABLES = (ENV_API_KEY, "AZURE_CLIENT_SECRET", "PULUMI_CONFIG_PASSPHRASE", "HF_TOKEN")

Body = Callable[[TextIO, TextIO, Redactor], int]


def run_tool(
    body: Body,
    args: Any,
    stdout: TextIO | None,
    stderr: TextIO | None,
    label: str = "",
) -> int:
    """Run ``body(out, err, redactor)`` with redacted streams; its exit status, 1 on a crash."""
    redactor = Redactor(getattr(args, "api_key", None))
    for name in SECRET_VARIABLES:
        redactor.add(os.environ.get(name))
    out = RedactingWriter(stdout if stdout is not None else sys.stdout, redactor)
    err = RedactingWriter(stderr if stderr is not None else sys.stderr, redactor)
    try:
        return body(out, err, redactor)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        err.write("\ninterrupted\n")
        return 130
    except Exception as error:  # the last line of defence: a message, never a traceback
        first = (str(error).strip().splitlines() or [""])[0][:500]
        err.write(f"{label}error: unexpected failure ({type(error).__name__}): {first}\n")
        return 1
    finally:
        out.close_pending()
        err.close_pending()

"""The offline preview's command line, run in the test's own process.

Starting ``python -m tools.preview`` costs about two seconds of interpreter start and SDK import
before the program runs at all; tests that read what the preview prints call its ``main()`` here
instead, with stdout, stderr and the log (which goes to stderr in a real run) captured as a
subprocess's would be. The end-to-end runs, as a user starts them, stay in tests/test_program.py.
"""

from __future__ import annotations

import contextlib
import io
import logging
import subprocess

from tools import preview


def preview_in_process(*arguments: str) -> subprocess.CompletedProcess[str]:
    """What ``python -m tools.preview ARGUMENTS`` prints and its exit status. An exception that
    main() lets out propagates, so a test expecting a clean exit fails on it as on a traceback."""
    stdout, stderr = io.StringIO(), io.StringIO()
    # With no handler of its own, a real run's root logger writes warnings to stderr (Python's
    # last-resort handler, message only); pytest's handlers would swallow them here.
    log = logging.StreamHandler(stderr)
    log.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(log)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code = preview.main(list(arguments))
            except SystemExit as exit_:  # argparse refusing the arguments
                code = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        root.removeHandler(log)
    command = ["python", "-m", "tools.preview", *arguments]
    return subprocess.CompletedProcess(command, code, stdout.getvalue(), stderr.getvalue())

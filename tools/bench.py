"""Benchmark: wall time and peak memory of the offline preview per stack, and of the test suite.

    python -m tools.bench [--runs N] [--skip-tests]

Targets (issue 2): one stack's offline preview under 2 s wall on a 2-core machine, the whole test
suite under 60 s. This is a measurement, not a test: it prints figures and exits 0 unless a command
fails, so a slow machine never turns CI red.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

from tools.offline import ROOT, committed_stacks


def _timed(command: Sequence[str]) -> tuple[float, float]:
    """Run ``command``; return (wall seconds, peak RSS of the child in MiB)."""
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)  # noqa: S603 - our own tools
    elapsed = time.perf_counter() - started
    # ru_maxrss of RUSAGE_CHILDREN is the largest child so far, in KiB on Linux.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return elapsed, peak


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="preview runs per stack (default 5)")
    parser.add_argument("--skip-tests", action="store_true", help="do not time the test suite")
    arguments = parser.parse_args(argv)

    print(f"python {sys.version.split()[0]}, {arguments.runs} runs per stack")
    for stack in committed_stacks():
        times = []
        peak = 0.0
        for _ in range(arguments.runs):
            elapsed, peak = _timed([sys.executable, "-m", "tools.preview", "--stack", stack])
            times.append(elapsed)
        print(
            f"preview {stack:>6}: median {statistics.median(times):.2f} s, "
            f"min {min(times):.2f} s, max {max(times):.2f} s, peak RSS {peak:.0f} MiB"
        )
    if not arguments.skip_tests:
        # As `make test` runs it: spread over the cores with pytest-xdist.
        elapsed, peak = _timed(
            [sys.executable, "-m", "pytest", "-q", "-n", "auto", "-p", "no:cacheprovider"]
        )
        print(f"test suite:     {elapsed:.1f} s wall (pytest -n auto), peak RSS {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: wall time and peak memory of the offline preview per stack, and of the test suite.

    python -m tools.bench [--runs N] [--skip-tests]

Targets: one stack's offline preview under 2 s wall on a 2-core machine and within 1.5x of a
minimal seven-resource azure-native program run the same way (``python -m tools.bench_minimal``:
the same interpreter start, SDK imports and mocks, so the ratio is what the preview's own work
costs); the whole test suite under 60 s. This is a measurement, not a test: it prints figures and
exits 0 unless a command fails, so a slow machine never turns CI red.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

from tools.offline import ROOT, committed_stacks

# Issue 11: the whole suite on two cores with a warm venv.
SUITE_TARGET_SECONDS = 60.0


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

    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {arguments.runs} runs per "
        "command, interleaved"
    )
    commands = {"minimal": [sys.executable, "-m", "tools.bench_minimal"]} | {
        stack: [sys.executable, "-m", "tools.preview", "--stack", stack]
        for stack in committed_stacks()
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    peaks: dict[str, float] = {}
    # Interleaved, so that a burst of load on the machine hits every command alike.
    for _ in range(arguments.runs):
        for name, command in commands.items():
            elapsed, peaks[name] = _timed(command)
            times[name].append(elapsed)
    minimal = statistics.median(times["minimal"])
    for name in commands:
        median = statistics.median(times[name])
        print(
            f"{'preview ' + name if name != 'minimal' else 'minimal 7-resource program':>26}: "
            f"median {median:.2f} s (min {min(times[name]):.2f}, max {max(times[name]):.2f}), "
            f"{median / minimal:.2f}x minimal"
        )
    if not arguments.skip_tests:
        # As `make test` runs it: spread over the cores with pytest-xdist.
        elapsed, peak = _timed(
            [sys.executable, "-m", "pytest", "-q", "-n", "auto", "-p", "no:cacheprovider"]
        )
        print(
            f"test suite:     {elapsed:.1f} s wall (pytest -n auto; target {SUITE_TARGET_SECONDS:.0f} s"
            f" on 2 cores), peak RSS {peak:.0f} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Try the client tools offline: a stand-in endpoint on loopback, labelled as such.

    make try-endpoint            # or: venv/bin/python -m tools.fake_endpoint [--minutes 60]

Starts the loopback fake that the test suite uses (tests/support/fake_vllm.py: AzureML's front end
with Key auth and vLLM's OpenAI-compatible API, answering with canned R1-style reasoning and a
canned answer) and prints the environment to point `make chat`, `make smoke` and `examples/` at it.
It is NOT a model and NOT Azure: it proves the client side works, nothing about a deployment. It
stops after --minutes (60 by default) or on Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from clients.outputs import ENV_API_KEY, ENV_BASE_URL, ENV_MODEL
from tests.support.fake_vllm import DEFAULT_MODEL, FakeVllm

# Not a credential: the stand-in accepts only this value, and it opens nothing else.
DEMO_KEY = "offline-demo-key"
MAX_MINUTES = 24 * 60


def banner(base_url: str, minutes: float) -> str:
    return "\n".join(
        [
            "STAND-IN ENDPOINT (not Azure, not a model): a loopback fake of vLLM behind AzureML,",
            f"for trying the client tools offline. It stops in {minutes:g} minutes or on Ctrl-C.",
            "",
            "In another terminal:",
            f"  export {ENV_BASE_URL}={base_url}",
            f"  export {ENV_API_KEY}={DEMO_KEY}",
            f"  export {ENV_MODEL}={DEFAULT_MODEL}",
            '  make chat Q="What is 17 + 25?"',
            "  make smoke",
            '  venv/bin/python -m examples.streaming_reasoning "What is 17 + 25?"',
        ]
    )


def main(argv: Sequence[str] | None = None, sleep: float = 0.5) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.fake_endpoint", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "--minutes", type=float, default=60.0, help="stop after this long (default 60)"
    )
    arguments = parser.parse_args(argv)
    if not 0 < arguments.minutes <= MAX_MINUTES:
        print(f"--minutes must be above 0 and at most {MAX_MINUTES}", file=sys.stderr)
        return 2
    with FakeVllm(api_key=DEMO_KEY) as fake:
        print(banner(fake.base_url, arguments.minutes), flush=True)
        deadline = time.monotonic() + arguments.minutes * 60
        try:
            while time.monotonic() < deadline:
                time.sleep(sleep)
        except KeyboardInterrupt:
            pass
    print("Stand-in endpoint stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

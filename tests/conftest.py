"""Test harness: run the real program under Pulumi's mocks, one fresh runtime per test.

The mocks themselves live in tools/offline.py, because the offline preview uses the same ones; this
file gives each test a fresh event loop and fresh mocks, and fixtures that run a stack's program.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from clients.outputs import ENV_API_KEY, ENV_BASE_URL, ENV_MODEL
from lib.arm import ArmClient
from lib.pulumi_api import clear_pending_outputs
from tools.offline import ROOT, ProgramRun, committed_stacks, load_stack_config, run_program

STACKS = committed_stacks()

# A blue/green pair mid-rollout: green is deployed on bigger GPUs with its own vLLM options and
# sees a mirrored fifth of blue's traffic before it takes any live traffic.
BLUE_GREEN_WITH_MIRROR = [
    {"name": "blue", "traffic": 100},
    {
        "name": "green",
        "traffic": 0,
        "mirrorTraffic": 20,
        "instanceType": "Standard_NC48ads_A100_v4",
        "instanceCount": 2,
        "vllm": {"maxNumSeqs": 32, "maxModelLen": 16384},
    },
]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Keep the cyclic garbage collector off what collection imported.

    The azure-native SDK alone creates hundreds of thousands of long-lived objects as it imports
    (tools/preview.py says the same of one preview), and each full collection walked them all
    again: frozen, only what the tests allocate is ever scanned. The larger first threshold makes
    the young generation collections fewer; garbage is still collected, a little later.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


@pytest.fixture(autouse=True)
def fresh_event_loop() -> Iterator[None]:
    """Pulumi's runtime keeps state on the event loop; each test gets its own."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    clear_pending_outputs()
    loop.close()
    asyncio.set_event_loop(None)


RunProgram = Callable[..., ProgramRun]


# Program runs of __main__.py, shared by the tests of one worker process that ask for the same run.
# Hundreds of tests read the committed stacks' runs, and each run takes about half a second; a run
# is deterministic in what the key holds (tests/test_program.py checks byte-identical previews
# across processes). Each test gets its own deep copy, so no test sees another's changes.
_PROGRAM_RUNS: dict[tuple[str, ...], ProgramRun] = {}
# A test with any of these may change what a run does (a patched module, an environment variable)
# or look at what it logs while it runs: it always gets a run of its own.
_FIXTURES_THAT_NEED_A_FRESH_RUN = frozenset(
    {"monkeypatch", "capsys", "capsysbinary", "capfd", "capfdbinary", "caplog", "recwarn"}
)


def _run_key(stack: str, preview: bool, overrides: Mapping[str, Any]) -> tuple[str, ...] | None:
    """What a run of __main__.py depends on that a test can vary, or None when it cannot be keyed
    (an override that is not plain data)."""
    try:
        frozen_overrides = json.dumps(overrides, sort_keys=True)
    except TypeError:
        return None
    stack_file = ROOT / f"Pulumi.{stack}.yaml"
    # pytest names the running test in PYTEST_CURRENT_TEST; nothing in the program reads it.
    environment = dict(os.environ)
    environment.pop("PYTEST_CURRENT_TEST", None)
    return (
        stack,
        str(preview),
        frozen_overrides,
        json.dumps(environment, sort_keys=True),
        (ROOT / "Pulumi.yaml").read_text(),
        stack_file.read_text() if stack_file.is_file() else "",
    )


@pytest.fixture
def run(request: pytest.FixtureRequest) -> RunProgram:
    """``run(stack, program=None, **overrides)``: the stack's program (or ``program``, a function
    declaring resources) under fresh mocks, with project keys overridden.

    A run of ``__main__.py`` that this worker already made with the same key is handed out as a
    deep copy instead of being made again, unless the test patches or captures (see
    ``_FIXTURES_THAT_NEED_A_FRESH_RUN``); a run that raises is never kept, so each test that
    expects an error sees it raised."""
    shareable = not _FIXTURES_THAT_NEED_A_FRESH_RUN & set(request.fixturenames)

    def _run(
        stack: str,
        preview: bool = True,
        program: Callable[[], None] | None = None,
        **overrides: Any,
    ) -> ProgramRun:
        key = _run_key(stack, preview, overrides) if shareable and program is None else None
        if key is None:
            return run_program(stack, overrides=overrides, preview=preview, program=program)
        if key not in _PROGRAM_RUNS:
            _PROGRAM_RUNS[key] = run_program(stack, overrides=overrides, preview=preview)
        return copy.deepcopy(_PROGRAM_RUNS[key])

    return _run


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    """Each committed Pulumi.<stack>.yaml in turn."""
    return request.param


@pytest.fixture
def stack_run(stack: str, run: RunProgram) -> ProgramRun:
    """The program run for each committed stack."""
    return run(stack)


def stack_entries(stack: str, overrides: Mapping[str, Any] | None = None) -> dict[str, str]:
    """A stack file's configuration as the flat string map Pulumi hands the program."""
    config, _ = load_stack_config(stack, overrides)
    return config


@pytest.fixture
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """For the client tools' tests: no real pulumi CLI on PATH (tests put fakes in the returned
    folder), no endpoint variables from the developer's shell, no colour codes in the output."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    for name in (ENV_BASE_URL, ENV_API_KEY, ENV_MODEL):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    return bin_dir


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """No floor between polls for the test: the fake answers at once, and a second per poll would
    make the suite minutes slower. Production code keeps ArmClient.min_poll_seconds (1 s);
    tests/lib/test_arm_faults.py checks that floor without this fixture."""
    monkeypatch.setattr(ArmClient, "min_poll_seconds", 0.0)

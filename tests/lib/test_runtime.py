"""The offline run is recognised by the engine it talks to, never by the environment."""

from __future__ import annotations

import pytest

from lib import runtime
from tests.conftest import RunProgram


@pytest.mark.parametrize("variable", ["PULUMI_OFFLINE", "PULUMI_MOCKS", "PULUMI_TEST_MODE"])
def test_an_environment_variable_does_not_make_a_real_run_offline(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # Left over in a real shell, such a variable must not turn off the registry token or make a
    # real preview call listKeys.
    monkeypatch.setenv(variable, "1")
    # The engine of a real `pulumi up`: a gRPC resource monitor, not Pulumi's MockMonitor.
    monkeypatch.setattr(runtime, "is_mock_monitor", lambda: False)
    monkeypatch.setattr(runtime.pulumi.runtime, "is_dry_run", lambda: False)
    assert not runtime.under_mocks()
    assert runtime.deploying_for_real()
    monkeypatch.setattr(runtime.pulumi.runtime, "is_dry_run", lambda: True)
    assert runtime.previewing_for_real()


def test_the_mock_monitor_is_the_offline_run(run: RunProgram) -> None:
    seen: list[tuple[bool, bool, bool]] = []

    def program() -> None:
        seen.append(
            (runtime.under_mocks(), runtime.deploying_for_real(), runtime.previewing_for_real())
        )

    run("dev", preview=True, program=program)
    run("dev", preview=False, program=program)
    assert seen == [(True, False, False), (True, False, False)]


def test_the_offline_harness_sets_no_environment_variable(
    run: RunProgram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PULUMI_OFFLINE", raising=False)
    observed: list[str | None] = []

    def program() -> None:
        import os

        observed.append(os.environ.get("PULUMI_OFFLINE"))

    run("dev", program=program)
    assert observed == [None]

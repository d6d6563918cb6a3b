"""The one module behind which the project uses Pulumi's private APIs.

Importing it is the first check: a Pulumi SDK bump that moves one of the internals fails here, by
name, rather than somewhere inside a test run.
"""

from __future__ import annotations

import contextvars

import pulumi
import pytest

from lib import pulumi_api


def test_every_internal_the_project_uses_still_exists() -> None:
    for name in pulumi_api.__all__:
        assert getattr(pulumi_api, name) is not None, name


def test_config_entries_read_the_whole_map_and_its_secret_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", '["project:fromEnv"]')

    def read() -> tuple[dict[str, str], set[str]]:
        pulumi.runtime.set_all_config(
            {"project:typo": "1", "project:token": "x"}, ["project:token"]
        )
        return pulumi_api.config_entries()

    # A copied context, so the configuration set here does not outlive the test.
    entries, secret_keys = contextvars.copy_context().run(read)
    assert entries == {"project:typo": "1", "project:token": "x"}
    assert secret_keys == {"project:token", "project:fromEnv"}


def test_sync_await_waits_for_a_coroutine() -> None:
    async def answer() -> int:
        return 42

    assert pulumi_api.sync_await(answer()) == 42

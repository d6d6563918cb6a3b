"""The managed-network provider over real HTTP against the loopback fake ARM: it provisions, waits
for Active with progress, gives up in bounded time with a message that says what to do, and keeps
its pickled path."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.managed_network import (
    MANAGED_NETWORK_API_VERSION,
    ManagedNetworkNotActiveError,
    ManagedNetworkProvision,
    ManagedNetworkProvisionArgs,
    ManagedNetworkProvisionProvider,
    network_status,
)
from lib.arm import ArmClient
from tests.conftest import RunProgram
from tests.support.fake_arm import FakeArm, FakeArmServer, FakeCredential
from tests.support.fake_azureml import provision_managed_network, workspace

WORKSPACE_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-test/providers/"
    "Microsoft.MachineLearningServices/workspaces/mlw-test"
)
PROPS = {
    "workspace_id": WORKSPACE_ID,
    "api_version": MANAGED_NETWORK_API_VERSION,
    "include_spark": False,
    "rules_revision": "r1",
    "status": None,
}


@dataclass
class Clock:
    """Time that passes only when the provider sleeps."""

    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class Setup:
    fake: FakeArm
    clock: Clock
    logs: list[str]

    def provider(self, timeout_seconds: float = 600.0) -> ManagedNetworkProvisionProvider:
        def factory(progress: Any = None) -> ArmClient:
            return ArmClient(
                credential=FakeCredential(),
                base_url=self.fake.base_url,
                poll_interval=0,
                sleep=lambda _: None,
                progress=progress,
            )

        return ManagedNetworkProvisionProvider(
            client_factory=factory,
            poll_seconds=60.0,
            timeout_seconds=timeout_seconds,
            clock=self.clock,
            sleep=self.clock.sleep,
            log=self.logs.append,
        )


@pytest.fixture
def arm() -> Iterator[Setup]:
    fake = FakeArm(polls=3)
    with FakeArmServer(fake) as running:
        running.resources[WORKSPACE_ID.lower()] = workspace(WORKSPACE_ID, "Inactive")
        yield Setup(running, Clock(), [])


def test_create_provisions_and_waits_until_active(arm: Setup) -> None:
    arm.fake.handlers.append(provision_managed_network("Active"))
    result = arm.provider().create(dict(PROPS))
    posts = arm.fake.writes("POST")
    assert [p.path for p in posts] == [f"{WORKSPACE_ID}/provisionManagedNetwork"]
    assert posts[0].api_version == MANAGED_NETWORK_API_VERSION
    assert posts[0].body == {"includeSpark": False}
    assert result.outs is not None
    assert result.outs["status"] == "Active"
    assert result.id == f"{WORKSPACE_ID}/managedNetwork"
    # Progress while ARM's operation runs, and the final state.
    assert any("provisioning," in line for line in arm.logs)
    assert arm.logs[-1].endswith("Active after 0 min")


def test_an_operation_that_ends_without_an_active_network_keeps_waiting_then_gives_up(
    arm: Setup,
) -> None:
    arm.fake.handlers.append(provision_managed_network("Inactive"))
    with pytest.raises(ManagedNetworkNotActiveError) as raised:
        arm.provider(timeout_seconds=300.0).create(dict(PROPS))
    message = str(raised.value)
    assert "is Inactive after 5 minutes" in message
    assert "az ml workspace show" in message
    # Bounded: it slept its poll interval until the next poll would pass the deadline.
    assert arm.clock.slept == [60.0] * 5
    assert sum("waiting for Active" in line for line in arm.logs) == 5


def test_a_network_that_turns_active_later_is_waited_for(arm: Setup) -> None:
    arm.fake.handlers.append(provision_managed_network("Inactive"))
    gets = {"count": 0}

    def activate_on_third_read(fake: FakeArm, request: Any) -> Any:
        if request.method == "GET" and request.path.lower() == WORKSPACE_ID.lower():
            gets["count"] += 1
            if gets["count"] == 3:
                fake.resources[WORKSPACE_ID.lower()] = workspace(WORKSPACE_ID, "Active")
        return None

    arm.fake.handlers.insert(0, activate_on_third_read)
    result = arm.provider().create(dict(PROPS))
    assert result.outs is not None
    assert result.outs["status"] == "Active"
    assert arm.clock.slept == [60.0, 60.0]


def test_a_refused_provisioning_fails_with_arms_reason(arm: Setup) -> None:
    arm.fake.handlers.append(
        provision_managed_network(
            failure={"code": "PrivateEndpointApprovalFailed", "message": "no approver role"}
        )
    )
    with pytest.raises(ManagedNetworkNotActiveError, match="PrivateEndpointApprovalFailed"):
        arm.provider().create(dict(PROPS))


def test_diff_replaces_for_another_workspace_and_updates_for_new_rules() -> None:
    provider = ManagedNetworkProvisionProvider()
    same = provider.diff("id", dict(PROPS), dict(PROPS))
    assert not same.changes
    rules = provider.diff("id", dict(PROPS), {**PROPS, "rules_revision": "r2"})
    assert rules.changes and not rules.replaces
    other = provider.diff("id", dict(PROPS), {**PROPS, "workspace_id": WORKSPACE_ID + "2"})
    assert other.changes and other.replaces == ["workspace_id"]


def test_refresh_reads_the_status_and_forgets_a_deleted_workspace(arm: Setup) -> None:
    arm.fake.resources[WORKSPACE_ID.lower()] = workspace(WORKSPACE_ID, "Active")
    read = arm.provider().read("id", dict(PROPS))
    assert read.outs is not None
    assert read.outs["status"] == "Active"
    del arm.fake.resources[WORKSPACE_ID.lower()]
    assert arm.provider().read("id", dict(PROPS)).id == ""


def test_delete_calls_nothing(arm: Setup) -> None:
    arm.provider().delete("id", dict(PROPS))
    assert arm.fake.requests == []


def test_network_status_reads_the_documented_field() -> None:
    assert network_status(workspace(WORKSPACE_ID, "Active")) == "Active"
    assert network_status({"properties": {}}) == ""
    assert network_status(None) == ""


def test_the_pickled_provider_keeps_its_module_path() -> None:
    """Stacks store this path; moving the class breaks refresh and destroy of existing stacks."""
    provider = ManagedNetworkProvisionProvider()
    assert type(provider).__module__ == "components.managed_network"
    assert type(provider).__qualname__ == "ManagedNetworkProvisionProvider"
    pickled = base64.b64decode(serialize_provider(provider))
    assert b"components.managed_network" in pickled
    assert b"ManagedNetworkProvisionProvider" in pickled
    loaded = dill.loads(pickled)  # noqa: S301 - our own bytes, produced just above
    assert isinstance(loaded, ManagedNetworkProvisionProvider)


def test_the_resource_declares_its_inputs(run: RunProgram) -> None:
    recorded: dict[str, Any] = {}

    def program() -> None:
        ManagedNetworkProvision(
            "network",
            ManagedNetworkProvisionArgs(workspace_id=WORKSPACE_ID, rules_revision="abc"),
        )

    result = run("prod", program=program)
    resource = result.one("pulumi-python:dynamic/machinelearningservices:ManagedNetworkProvision")
    recorded.update(resource.inputs)
    assert recorded["workspace_id"] == WORKSPACE_ID
    assert recorded["rules_revision"] == "abc"
    assert recorded["api_version"] == MANAGED_NETWORK_API_VERSION
    assert recorded["include_spark"] is False

"""EndpointTraffic compares and stores only the tag keys it declares: an Azure Policy that adds a
tag to the endpoint causes no diff after `pulumi refresh`, and no traffic PUT removes it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from components.traffic import (
    ENDPOINT_API_VERSION,
    EndpointTrafficProvider,
    declared_tags,
    merged_tags,
)
from lib.arm import ArmClient
from tests.support.fake_arm import FakeArm, FakeArmServer, FakeCredential, online_endpoint_rules

# ARM polls here need no floor between them (see fast_polls): the fake answers at once, and the
# floor made each PUT wait a second.
pytestmark = pytest.mark.usefixtures("fast_polls")

ENDPOINT_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-test/providers/"
    "Microsoft.MachineLearningServices/workspaces/mlw-test/onlineEndpoints/vllm-test-abc123"
)
DECLARED = {"owner": "ml-platform", "cost-center": "ml-prod"}
POLICY_TAG = {"CreatedOnDate": "2026-12-01"}


def props(tags: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "endpoint_id": ENDPOINT_ID,
        "api_version": ENDPOINT_API_VERSION,
        "traffic": {"blue": 100},
        "mirror_traffic": {},
        "endpoint_revision": "r1",
        "tags": dict(DECLARED if tags is None else tags),
    }


class Harness:
    def __init__(self, fake: FakeArm):
        self.fake = fake
        self.client = ArmClient(FakeCredential(), base_url=fake.base_url, poll_interval=0.0)
        self.provider = EndpointTrafficProvider(client_factory=lambda: self.client)

    def live_tags(self) -> dict[str, str]:
        endpoint = self.client.get(ENDPOINT_ID, ENDPOINT_API_VERSION)
        assert endpoint is not None
        return dict(endpoint.get("tags") or {})

    def policy_adds_a_tag(self) -> None:
        """What Azure Policy's modify effect does: the endpoint gains a tag nobody declared."""
        endpoint = self.fake.resources[ENDPOINT_ID.lower()]
        endpoint["tags"] = {**endpoint.get("tags", {}), **POLICY_TAG}


@pytest.fixture
def arm() -> Iterator[Harness]:
    with FakeArmServer(FakeArm(polls=1)) as fake:
        fake.handlers.append(online_endpoint_rules)
        harness = Harness(fake)
        harness.client.put(
            ENDPOINT_ID,
            ENDPOINT_API_VERSION,
            {"location": "eastus2", "tags": dict(DECLARED), "properties": {"authMode": "Key"}},
        )
        harness.client.put(f"{ENDPOINT_ID}/deployments/blue", ENDPOINT_API_VERSION, {"sku": {}})
        harness.provider.create(props())
        fake.requests.clear()
        yield harness


def test_a_policy_tag_is_not_read_into_the_state(arm: Harness) -> None:
    arm.policy_adds_a_tag()
    refreshed = arm.provider.read(f"{ENDPOINT_ID}/traffic", props())
    assert refreshed.outs is not None
    assert refreshed.outs["tags"] == DECLARED


def test_after_refresh_a_policy_tag_causes_no_diff(arm: Harness) -> None:
    arm.policy_adds_a_tag()
    refreshed = arm.provider.read(f"{ENDPOINT_ID}/traffic", props())
    assert refreshed.outs is not None
    diff = arm.provider.diff(f"{ENDPOINT_ID}/traffic", refreshed.outs, props())
    assert diff.changes is False
    assert arm.fake.writes() == []


def test_a_traffic_put_keeps_the_policy_tag(arm: Harness) -> None:
    arm.policy_adds_a_tag()
    arm.provider.update(f"{ENDPOINT_ID}/traffic", props(), props({**DECLARED, "owner": "team-b"}))
    assert arm.live_tags() == {**DECLARED, "owner": "team-b", **POLICY_TAG}


def test_a_declared_tag_changed_in_azure_is_a_diff_and_put_back(arm: Harness) -> None:
    endpoint = arm.fake.resources[ENDPOINT_ID.lower()]
    endpoint["tags"] = {**DECLARED, "Owner": "someone-else"}
    refreshed = arm.provider.read(f"{ENDPOINT_ID}/traffic", props())
    assert refreshed.outs is not None
    assert refreshed.outs["tags"]["owner"] == "someone-else"
    assert arm.provider.diff(f"{ENDPOINT_ID}/traffic", refreshed.outs, props()).changes
    arm.provider.update(f"{ENDPOINT_ID}/traffic", refreshed.outs, props())
    assert arm.live_tags() == DECLARED


def test_a_tag_removed_from_the_stack_file_is_removed_and_others_stay(arm: Harness) -> None:
    arm.policy_adds_a_tag()
    arm.provider.update(f"{ENDPOINT_ID}/traffic", props(), props({"owner": "ml-platform"}))
    assert arm.live_tags() == {"owner": "ml-platform", **POLICY_TAG}


def test_tag_helpers_compare_names_without_case() -> None:
    live = {"OWNER": "a", "Extra": "x"}
    assert declared_tags(live, {"owner": "b"}) == {"owner": "a"}
    assert merged_tags(live, {"owner": "b"}) == {"Extra": "x", "owner": "b"}
    assert merged_tags(live, {}, retired=["extra"]) == {"OWNER": "a"}

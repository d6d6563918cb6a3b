"""The traffic provider's create/update/delete/diff/read, for real, over HTTP against a loopback
server that behaves like ARM for online endpoints (tests/support/fake_arm.py, ``online_endpoint_rules``):
asynchronous operations answered with Azure-AsyncOperation polling, traffic refused when it names
a missing deployment, and deployments that still take traffic refused deletion."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pulumi
import pytest

from components.traffic import (
    ENDPOINT_API_VERSION,
    EndpointTraffic,
    EndpointTrafficArgs,
    EndpointTrafficProvider,
    endpoint_body_with_traffic,
    traffic_problems,
)
from lib.arm import ArmClient, ArmError
from tests.support.fake_arm import (
    FakeArm,
    FakeArmServer,
    FakeCredential,
    Operation,
    online_endpoint_rules,
)

ENDPOINT_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-test/providers/"
    "Microsoft.MachineLearningServices/workspaces/mlw-test/onlineEndpoints/vllm-test-abc123"
)
API = ENDPOINT_API_VERSION
POLLS = 3

# ARM polls here need no floor between them (see fast_polls).
pytestmark = pytest.mark.usefixtures("fast_polls")


@dataclass
class Arm:
    fake: FakeArm
    client: ArmClient
    provider: EndpointTrafficProvider

    def endpoint(self) -> dict[str, Any]:
        found = self.client.get(ENDPOINT_ID, API)
        assert found is not None
        return found

    def live(self) -> tuple[dict[str, int], dict[str, int]]:
        properties = self.endpoint()["properties"]
        return properties.get("traffic") or {}, properties.get("mirrorTraffic") or {}

    def add_deployment(self, name: str) -> None:
        self.client.put(f"{ENDPOINT_ID}/deployments/{name}", API, {"properties": {}, "sku": {}})

    def delete_deployment(self, name: str) -> None:
        self.client.delete(f"{ENDPOINT_ID}/deployments/{name}", API)

    def put_endpoint_like_azure_native(self) -> None:
        """What azure-native sends when the endpoint itself changes: its declared inputs only."""
        self.client.put(
            ENDPOINT_ID,
            API,
            {
                "location": "swedencentral",
                "identity": {"type": "SystemAssigned"},
                "tags": {"owner": "another-team"},
                "properties": {"authMode": "Key", "publicNetworkAccess": "Enabled"},
            },
        )


@pytest.fixture
def arm() -> Iterator[Arm]:
    with FakeArmServer(FakeArm(polls=POLLS)) as fake:
        fake.handlers.append(online_endpoint_rules)

        def client() -> ArmClient:
            return ArmClient(FakeCredential(), base_url=fake.base_url, poll_interval=0.0)

        harness = Arm(fake, client(), EndpointTrafficProvider(client_factory=client))
        # The endpoint as azure-native created it (no traffic), then two deployments.
        harness.client.put(
            ENDPOINT_ID,
            API,
            {
                "location": "swedencentral",
                "identity": {"type": "SystemAssigned"},
                "tags": {"owner": "ml-platform"},
                "properties": {
                    "authMode": "Key",
                    "publicNetworkAccess": "Disabled",
                    "description": "vLLM",
                },
            },
        )
        harness.add_deployment("blue")
        harness.add_deployment("green")
        fake.requests.clear()
        yield harness


def props(
    traffic: dict[str, int] | None = None,
    mirror: dict[str, int] | None = None,
    revision: str = "r1",
    endpoint_id: str = ENDPOINT_ID,
) -> dict[str, Any]:
    return {
        "endpoint_id": endpoint_id,
        "api_version": API,
        "traffic": {"blue": 100, "green": 0} if traffic is None else traffic,
        "mirror_traffic": {} if mirror is None else mirror,
        "endpoint_revision": revision,
    }


# --- create / update -----------------------------------------------------------------------------


def test_create_sets_traffic_and_mirror_and_waits_for_the_operation(arm: Arm) -> None:
    result = arm.provider.create(props(mirror={"green": 20}))
    assert arm.live() == ({"blue": 100, "green": 0}, {"green": 20})
    assert result.id == f"{ENDPOINT_ID}/traffic"
    assert result.outs is not None
    assert result.outs["traffic"] == {"blue": 100, "green": 0}
    assert result.outs["mirror_traffic"] == {"green": 20}
    # One PUT, answered with an operation that reports InProgress until the last poll.
    (put,) = arm.fake.writes("PUT")
    assert put.path == ENDPOINT_ID and put.api_version == API
    assert len([r for r in arm.fake.requests if r.path.startswith("/operations/")]) == POLLS


def test_the_put_changes_traffic_and_nothing_else(arm: Arm) -> None:
    before = arm.endpoint()
    arm.provider.create(props())
    (put,) = arm.fake.writes("PUT")
    body = put.body
    # Everything the endpoint declared goes back unchanged...
    assert body["location"] == "swedencentral"
    assert body["tags"] == {"owner": "ml-platform"}
    assert body["identity"] == {"type": "SystemAssigned"}
    assert body["properties"]["authMode"] == "Key"
    assert body["properties"]["publicNetworkAccess"] == "Disabled"
    assert body["properties"]["description"] == "vLLM"
    # ...without ARM's read-only fields...
    for key in ("id", "name", "type", "systemData"):
        assert key not in body
    for key in ("provisioningState", "scoringUri"):
        assert key not in body["properties"]
    assert "principalId" not in body["identity"]
    # ...and the endpoint afterwards differs from before only in its traffic.
    after = arm.endpoint()
    for document in (before, after):
        document["properties"].pop("traffic", None)
        document["properties"].pop("mirrorTraffic", None)
    assert after == before


def test_blue_green_shift_updates_the_live_split(arm: Arm) -> None:
    arm.provider.create(props())
    arm.provider.update("id", props(), props({"blue": 10, "green": 90}))
    assert arm.live() == ({"blue": 10, "green": 90}, {})


def test_traffic_to_a_missing_deployment_fails_and_changes_nothing(arm: Arm) -> None:
    arm.provider.create(props())
    with pytest.raises(ArmError) as caught:
        arm.provider.update("id", props(), props({"blue": 50, "purple": 50}))
    assert caught.value.status == 400
    assert "purple" in caught.value.message
    assert arm.live() == ({"blue": 100, "green": 0}, {})


def test_a_failed_operation_is_reported_with_arms_code(arm: Arm) -> None:
    def fail(fake: FakeArm, request: Any) -> Any:
        if request.method == "PUT":
            url = fake.new_operation(
                Operation(2, outcome="Failed", error={"code": "EndpointBusy", "message": "busy"})
            )
            return 200, {}, {"Azure-AsyncOperation": url}
        return None

    arm.fake.handlers.insert(0, fail)
    with pytest.raises(ArmError) as caught:
        arm.provider.create(props())
    assert caught.value.code == "EndpointBusy"


def test_traffic_the_endpoint_does_not_report_back_is_an_error(arm: Arm) -> None:
    def drop_traffic(fake: FakeArm, request: Any) -> Any:
        if request.method == "PUT" and request.body:
            request.body["properties"]["traffic"] = {}
        return None

    arm.fake.handlers.insert(0, drop_traffic)
    with pytest.raises(ArmError) as caught:
        arm.provider.create(props())
    assert caught.value.code == "TrafficNotApplied"


def test_create_on_a_missing_endpoint_is_a_clear_error(arm: Arm) -> None:
    with pytest.raises(ArmError) as caught:
        arm.provider.create(props(endpoint_id=ENDPOINT_ID.replace("abc123", "gone")))
    assert caught.value.status == 404
    assert arm.fake.writes() == []


# --- removing a deployment, destroying the stack --------------------------------------------------


def test_removing_a_deployment_moves_its_traffic_first(arm: Arm) -> None:
    """Pulumi updates the traffic (the program still declares it) before it deletes the removed
    deployment (deletes run after the program). ARM refuses the other order."""
    arm.provider.create(props({"blue": 10, "green": 90}))
    with pytest.raises(ArmError) as refused:
        arm.delete_deployment("blue")
    assert refused.value.status == 409
    assert "non-zero traffic" in refused.value.message

    arm.provider.update("id", props({"blue": 10, "green": 90}), props({"green": 100}))
    arm.delete_deployment("blue")
    assert arm.client.get(f"{ENDPOINT_ID}/deployments/blue", API) is None
    assert arm.live() == ({"green": 100}, {})


def test_a_mirrored_deployment_cannot_be_deleted_either(arm: Arm) -> None:
    arm.provider.create(props(mirror={"green": 10}))
    with pytest.raises(ArmError) as refused:
        arm.delete_deployment("green")
    assert refused.value.status == 409


def test_delete_clears_traffic_so_the_deployments_can_go(arm: Arm) -> None:
    arm.provider.create(props({"blue": 50, "green": 50}))
    arm.provider.delete("id", props({"blue": 50, "green": 50}))
    assert arm.live() == ({}, {})
    arm.delete_deployment("blue")
    arm.delete_deployment("green")


def test_delete_of_an_endpoint_that_is_gone_does_nothing(arm: Arm) -> None:
    arm.provider.delete("id", props(endpoint_id=ENDPOINT_ID.replace("abc123", "gone")))
    assert arm.fake.writes() == []


# --- diff, read, check -----------------------------------------------------------------------------


def test_no_change_when_inputs_and_live_traffic_agree(arm: Arm) -> None:
    outs = arm.provider.create(props(mirror={"green": 20})).outs
    assert outs is not None
    assert arm.provider.diff("id", outs, props(mirror={"green": 20})).changes is False


def test_traffic_changed_behind_pulumis_back_is_put_back(arm: Arm) -> None:
    outs = arm.provider.create(props()).outs
    assert outs is not None
    arm.client.put(
        ENDPOINT_ID,
        API,
        endpoint_body_with_traffic(arm.endpoint(), {"blue": 0, "green": 100}, {}),
    )
    assert arm.provider.diff("id", outs, props()).changes is True
    arm.provider.update("id", outs, props())
    assert arm.live() == ({"blue": 100, "green": 0}, {})


def test_a_full_put_of_the_endpoint_cannot_leave_traffic_reset(arm: Arm) -> None:
    """azure-native updates the endpoint with a PUT of its declared inputs, which carry no
    traffic. The fake, like a PUT, keeps nothing that is not sent; the traffic resource, whose
    endpoint_revision changed with the endpoint, puts the traffic back in the same update."""
    outs = arm.provider.create(props()).outs
    assert outs is not None
    arm.put_endpoint_like_azure_native()
    assert arm.live() == ({}, {})
    news = props(revision="r2")
    assert arm.provider.diff("id", outs, news).changes is True
    arm.provider.update("id", outs, news)
    assert arm.live() == ({"blue": 100, "green": 0}, {})
    # Even without a new revision the live comparison notices the reset.
    arm.put_endpoint_like_azure_native()
    assert arm.provider.diff("id", news, news).changes is True


def test_declared_changes_are_changes_without_asking_arm(arm: Arm) -> None:
    outs = props()
    for news in (
        props({"blue": 0, "green": 100}),
        props(mirror={"green": 5}),
        props(revision="r2"),
    ):
        assert arm.provider.diff("id", outs, news).changes is True
    assert arm.fake.requests == []


def test_zero_shares_do_not_count_as_a_difference(arm: Arm) -> None:
    outs = arm.provider.create(props({"blue": 100, "green": 0})).outs
    assert outs is not None
    refreshed = {**outs, "traffic": {"blue": 100}}
    assert arm.provider.diff("id", refreshed, props({"blue": 100, "green": 0})).changes is False


def test_another_endpoint_means_replacement(arm: Arm) -> None:
    other = ENDPOINT_ID.replace("abc123", "def456")
    result = arm.provider.diff("id", props(), props(endpoint_id=other))
    assert result.changes is True
    assert result.replaces == ["endpoint_id"]
    assert result.delete_before_replace is False


def test_unknown_inputs_during_preview_are_a_change(arm: Arm) -> None:
    news = props(revision=pulumi.runtime.rpc.UNKNOWN)
    assert arm.provider.diff("id", props(), news).changes is True
    assert arm.fake.requests == []


def test_read_reports_live_traffic_and_a_missing_endpoint(arm: Arm) -> None:
    arm.provider.create(props({"blue": 30, "green": 70}))
    result = arm.provider.read("id", props())
    assert result.id == "id"
    assert result.outs is not None
    assert result.outs["traffic"] == {"blue": 30, "green": 70}
    gone = arm.provider.read("id", props(endpoint_id=ENDPOINT_ID.replace("abc123", "gone")))
    assert gone.id == ""


@pytest.mark.parametrize(
    ("traffic", "mirror", "expected"),
    [
        ({"blue": 90}, {}, "sum to 100"),
        ({"blue": 100, "green": 0}, {"green": 60}, "at most 50"),
        ({"blue": 50, "green": 50}, {"green": 10}, "live traffic"),
        ({"blue": 100, "green": 0, "red": 0}, {"green": 10, "red": 10}, "one deployment"),
        ({"blue": 100}, {"green": 10}, "not a deployment"),
        ({"blue": 101}, {}, "0-100"),
    ],
)
def test_check_refuses_traffic_arm_would_refuse(
    traffic: dict[str, int], mirror: dict[str, int], expected: str
) -> None:
    result = EndpointTrafficProvider().check({}, props(traffic, mirror))
    assert any(expected in failure.reason for failure in result.failures), result.failures


def test_check_accepts_valid_traffic_and_refuses_a_foreign_id() -> None:
    provider = EndpointTrafficProvider()
    assert provider.check({}, props(mirror={"green": 50})).failures == []
    assert provider.check({}, props({}, {})).failures == []
    bad = provider.check({}, props(endpoint_id="/subscriptions/x/resourceGroups/y"))
    assert [failure.property for failure in bad.failures] == ["endpoint_id"]


def test_resource_refuses_bad_traffic_before_anything_is_declared() -> None:
    with pytest.raises(ValueError, match="sum to 100"):
        EndpointTraffic(
            "traffic",
            EndpointTrafficArgs(
                endpoint_id=ENDPOINT_ID,
                traffic={"blue": 60},
                mirror_traffic={},
                endpoint_revision="r1",
            ),
        )
    assert traffic_problems({}, {}) == []


def test_body_keeps_user_assigned_identity_keys_only() -> None:
    identity_id = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/x/id"
    endpoint = {
        "identity": {
            "type": "UserAssigned",
            "userAssignedIdentities": {identity_id: {"principalId": "p", "clientId": "c"}},
        },
        "properties": {"authMode": "AADToken"},
    }
    original = copy.deepcopy(endpoint)
    body = endpoint_body_with_traffic(endpoint, {"blue": 100}, {})
    assert body["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {identity_id: {}}}
    assert endpoint == original  # the GET result is not modified


def test_deployment_names_compare_without_case(arm: Arm) -> None:
    outs = arm.provider.create(props()).outs
    assert outs is not None
    stored = arm.fake.resources[ENDPOINT_ID.lower()]
    stored["properties"]["traffic"] = {"BLUE": 100, "GREEN": 0}
    assert arm.provider.diff("id", outs, props()).changes is False


def test_check_takes_numbers_as_the_engine_sends_them() -> None:
    """Protobuf carries every number as a double: 100 reaches the provider as 100.0."""
    provider = EndpointTrafficProvider()
    assert provider.check({}, props({"blue": 100.0, "green": 0.0}, {"green": 20.0})).failures == []
    halves = provider.check({}, props({"blue": 50.5, "green": 49.5}))
    assert any("0-100" in failure.reason for failure in halves.failures)


def test_declared_tags_ride_along_with_the_traffic(arm: Arm) -> None:
    """The endpoint resource ignores tag changes (a full PUT of it carries no traffic); the
    traffic resource applies them in its read-modify-PUT instead, live traffic intact."""
    arm.provider.create(props())
    tagged = {**props({"blue": 100, "green": 0}), "tags": {"owner": "another-team"}}
    assert arm.provider.diff("id", props(), tagged).changes
    arm.provider.update("id", props(), tagged)
    put = arm.fake.writes("PUT")[-1]
    assert put.body["tags"] == {"owner": "another-team"}
    assert arm.endpoint()["tags"] == {"owner": "another-team"}
    assert arm.live() == ({"blue": 100, "green": 0}, {})
    # Without declared tags the endpoint's own are kept as they are.
    arm.provider.update("id", tagged, props())
    assert arm.fake.writes("PUT")[-1].body["tags"] == {"owner": "another-team"}

"""The ARM client over real HTTP against the loopback fake ARM server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lib.arm import ARM_SCOPE, ArmClient, ArmError
from tests.support.fake_arm import FakeArm, FakeArmServer, FakeCredential, Operation

RESOURCE = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
    "Microsoft.MachineLearningServices/workspaces/w/onlineEndpoints/e"
)
API = "2025-12-01"
# What the client asked to sleep, in seconds (nothing sleeps for real in these tests).
SLEEPS: list[float] = []

# ARM polls here need no floor between them (see fast_polls).
pytestmark = pytest.mark.usefixtures("fast_polls")


@pytest.fixture
def arm() -> Iterator[tuple[FakeArm, ArmClient]]:
    with FakeArmServer(FakeArm(polls=3)) as fake:
        client = ArmClient(
            FakeCredential(), base_url=fake.base_url, poll_interval=0.0, sleep=SLEEPS.append
        )
        SLEEPS.clear()
        yield fake, client


def test_put_waits_for_the_async_operation_then_reads_the_resource(arm) -> None:
    fake, client = arm
    result = client.put(RESOURCE, API, {"properties": {"traffic": {"blue": 100}}})
    assert result["properties"]["traffic"] == {"blue": 100}
    status_reads = [r for r in fake.requests if r.path.startswith("/operations/")]
    assert len(status_reads) == 3  # InProgress, InProgress, Succeeded
    assert fake.requests[-1].method == "GET" and fake.requests[-1].path == RESOURCE
    assert all(r.api_version == API for r in fake.requests if not r.path.startswith("/operations"))


def test_get_of_missing_resource_is_none(arm) -> None:
    _, client = arm
    assert client.get(RESOURCE, API) is None


def test_patch_merges_like_arm(arm) -> None:
    _, client = arm
    client.put(RESOURCE, API, {"properties": {"authMode": "Key", "traffic": {}}})
    client.patch(RESOURCE, API, {"properties": {"traffic": {"blue": 100}}})
    assert client.get(RESOURCE, API)["properties"] == {"authMode": "Key", "traffic": {"blue": 100}}


def test_delete_polls_location_until_gone(arm) -> None:
    fake, client = arm
    client.put(RESOURCE, API, {"properties": {}})
    client.delete(RESOURCE, API)
    assert client.get(RESOURCE, API) is None
    assert len([r for r in fake.requests if r.path.startswith("/locations/")]) == 3


def test_failed_operation_raises_with_arms_code_and_message(arm) -> None:
    fake, client = arm

    def fail(fake_arm: FakeArm, request):
        if request.method == "PUT":
            url = fake_arm.new_operation(
                Operation(2, outcome="Failed", error={"code": "Conflict", "message": "traffic"})
            )
            return 201, {}, {"Azure-AsyncOperation": url}
        return None

    fake.handlers.append(fail)
    with pytest.raises(ArmError) as caught:
        client.put(RESOURCE, API, {"properties": {}})
    assert caught.value.code == "Conflict"
    assert "traffic" in str(caught.value)


def test_error_response_raises_with_status(arm) -> None:
    fake, client = arm
    fake.handlers.append(
        lambda _, request: (
            (409, {"error": {"code": "Busy", "message": "in use"}}, {})
            if request.method == "DELETE"
            else None
        )
    )
    with pytest.raises(ArmError) as caught:
        client.delete(RESOURCE, API)
    assert (caught.value.status, caught.value.code) == (409, "Busy")


def test_post_action_returns_the_location_result(arm) -> None:
    fake, client = arm

    def action(fake_arm: FakeArm, request):
        if request.method == "POST" and request.path.endswith("/importImage"):
            operation_id = "import-1"
            fake_arm.operations[operation_id] = Operation(2, result={"imported": True})
            return 202, None, {"Location": f"{fake_arm.base_url}/locations/{operation_id}"}
        return None

    fake.handlers.append(action)
    assert client.post(RESOURCE + "/importImage", "2023-07-01", {"source": {}}) == {
        "imported": True
    }


def test_token_is_requested_for_arm_and_sent_as_bearer(arm) -> None:
    fake, client = arm
    client.get(RESOURCE, API)
    assert client._credential.scopes == [ARM_SCOPE]
    assert fake.requests[0].headers["authorization"] == "Bearer fake-arm-token"


def test_timeout_while_operation_runs() -> None:
    with FakeArmServer(FakeArm(polls=1000)) as fake:
        client = ArmClient(FakeCredential(), base_url=fake.base_url, poll_interval=0.0, timeout=0.0)
        with pytest.raises(ArmError) as caught:
            client.put(RESOURCE, API, {})
    assert caught.value.code == "Timeout"


def test_unreachable_arm_is_a_clear_error() -> None:
    client = ArmClient(FakeCredential(), base_url="http://127.0.0.1:9", poll_interval=0.0)
    with pytest.raises(ArmError) as caught:
        client.get(RESOURCE, API)
    assert caught.value.code == "ConnectionError"


def answer_first(fake: FakeArm, method: str, statuses: list[int], retry_after: str | None = None):
    """Answer the first requests of ``method`` with ``statuses``, then behave normally."""
    remaining = list(statuses)

    def handler(_: FakeArm, request):
        if request.method == method and remaining:
            headers = {"Retry-After": retry_after} if retry_after else {}
            return remaining.pop(0), {"error": {"code": "Busy", "message": "try later"}}, headers
        return None

    fake.handlers.append(handler)


def test_throttling_and_server_errors_are_retried_with_backoff(arm) -> None:
    fake, client = arm
    client.put(RESOURCE, API, {"properties": {}})
    SLEEPS.clear()
    before = len(fake.requests)
    answer_first(fake, "GET", [429, 503])
    assert client.get(RESOURCE, API) is not None
    assert [r.method for r in fake.requests[before:]] == ["GET", "GET", "GET"]
    assert SLEEPS == [10.0, 20.0]


def test_retry_after_is_honoured(arm) -> None:
    fake, client = arm
    answer_first(fake, "GET", [503], retry_after="7")
    assert client.get(RESOURCE, API) is None
    assert SLEEPS == [7.0]


def test_a_busy_endpoint_conflict_on_a_write_is_retried(arm) -> None:
    fake, client = arm
    answer_first(fake, "PUT", [409, 409])
    result = client.put(RESOURCE, API, {"properties": {"traffic": {"blue": 100}}})
    assert result["properties"]["traffic"] == {"blue": 100}
    assert len(fake.writes("PUT")) == 3


def test_a_conflict_on_delete_is_final(arm) -> None:
    fake, client = arm
    answer_first(fake, "DELETE", [409, 409])
    with pytest.raises(ArmError) as caught:
        client.delete(RESOURCE, API)
    assert caught.value.status == 409
    assert len(fake.writes("DELETE")) == 1


def test_retries_give_up_after_six_attempts(arm) -> None:
    fake, client = arm
    answer_first(fake, "GET", [503] * 10)
    with pytest.raises(ArmError) as caught:
        client.get(RESOURCE, API)
    assert caught.value.status == 503
    assert len([r for r in fake.requests if r.method == "GET"]) == 6


def test_missing_azure_login_is_a_clear_error() -> None:
    from azure.core.exceptions import ClientAuthenticationError

    class NoLogin:
        def get_token(self, *scopes: str, **_: object) -> object:
            raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token")

    client = ArmClient(NoLogin(), base_url="http://127.0.0.1:9", poll_interval=0.0)
    with pytest.raises(ArmError) as caught:
        client.get(RESOURCE, API)
    assert caught.value.code == "NotLoggedIn"
    assert "az login" in str(caught.value)


# --- Lists, progress and throttling hints (used by preflight, the managed network and imports) ---


def test_list_follows_next_links_and_treats_a_missing_parent_as_empty() -> None:
    fake = FakeArm()

    def pages(arm: FakeArm, request: Any) -> Any:
        if request.path == "/things" and request.method == "GET":
            page = request.api_version
            if page == "1":
                return (
                    200,
                    {"value": [{"n": 1}], "nextLink": f"{arm.base_url}/things?api-version=2"},
                    {},
                )
            return 200, {"value": [{"n": 2}]}, {}
        return None

    fake.handlers.append(pages)
    with FakeArmServer(fake) as arm:
        client = ArmClient(credential=FakeCredential(), base_url=arm.base_url, sleep=lambda _: None)
        assert client.list("/things", "1") == [{"n": 1}, {"n": 2}]
        assert client.list("/missing", "1") == []


def test_progress_is_reported_while_an_operation_runs() -> None:
    seen: list[float] = []
    with FakeArmServer(FakeArm(polls=3)) as arm:
        client = ArmClient(
            credential=FakeCredential(),
            base_url=arm.base_url,
            sleep=lambda _: None,
            progress=lambda _url, waited: seen.append(waited),
        )
        client.put("/subscriptions/s/resourceGroups/g/providers/X/y/z", "1", {"properties": {}})
    assert len(seen) == 3
    assert seen == sorted(seen)


def test_a_throttled_answer_carries_retry_after() -> None:
    fake = FakeArm()
    fake.handlers.append(
        lambda _arm, request: (
            429,
            {"error": {"code": "TooManyRequests", "message": "slow down"}},
            {"Retry-After": "7"},
        )
    )
    slept: list[float] = []
    with FakeArmServer(fake) as arm:
        client = ArmClient(credential=FakeCredential(), base_url=arm.base_url, sleep=slept.append)
        with pytest.raises(ArmError) as raised:
            client.get("/anything", "1")
    assert raised.value.status == 429
    assert raised.value.retry_after == 7.0
    assert slept and all(delay == 7.0 for delay in slept)

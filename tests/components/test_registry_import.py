"""The importImage dynamic provider, over real HTTP against the loopback fake ARM server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from components.registry_import import (
    IMPORT_API_VERSION,
    RegistryImportProvider,
    digest_tag,
)
from lib.arm import ArmError
from tests.support.fake_arm import (
    FakeArm,
    FakeArmServer,
    FakeCredential,
    Operation,
    RecordedRequest,
)

REGISTRY_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
    "Microsoft.ContainerRegistry/registries/crvllm123456"
)
DIGEST = "sha256:b18abb2df97b8f798e81862bd93f872ea18613372e2c3adc0cc2ac21e66ac12f"
PROPS: dict[str, Any] = {
    "registry_id": REGISTRY_ID,
    "source_registry": "docker.io",
    "source_image": f"vllm/vllm-openai@{DIGEST}",
    "target_tag": f"vllm/vllm-openai:{digest_tag(DIGEST)}",
    "target_reference": f"crvllm123456.azurecr.io/vllm/vllm-openai@{DIGEST}",
    "__provider": "serialized-provider",
}

# ARM polls here need no floor between them (see fast_polls).
pytestmark = pytest.mark.usefixtures("fast_polls")


class ImportImageAction:
    """ARM's importImage: 202 Accepted with a Location to poll; the copy exists once it succeeds."""

    def __init__(self, outcome: str = "Succeeded"):
        self.outcome = outcome
        self.imported: list[str] = []

    def __call__(self, fake: FakeArm, request: RecordedRequest):
        if request.method != "POST" or not request.path.endswith("/importImage"):
            return None
        if request.api_version is None:
            return 400, {"error": {"code": "MissingApiVersionParameter", "message": ""}}, {}
        tags = list(request.body.get("targetTags", []))
        operation_id = f"loc-{len(fake.operations) + 1}"
        if self.outcome == "Succeeded":
            fake.operations[operation_id] = Operation(
                fake.polls, apply=lambda: self.imported.extend(tags)
            )
            location = f"{fake.base_url}/locations/{operation_id}"
            return 202, None, {"Location": location, "Retry-After": "0"}
        return (
            400,
            {"error": {"code": "InvalidParameters", "message": "manifest unknown"}},
            {},
        )


@pytest.fixture
def arm() -> Iterator[tuple[FakeArm, ImportImageAction, RegistryImportProvider]]:
    action = ImportImageAction()
    with FakeArmServer(FakeArm(polls=3, handlers=[action])) as fake:
        provider = RegistryImportProvider(FakeCredential(), base_url=fake.base_url, poll_interval=0)
        yield fake, action, provider


def test_create_posts_importimage_by_digest_and_waits_until_the_copy_exists(arm) -> None:
    fake, action, provider = arm
    result = provider.create(dict(PROPS))
    post = fake.writes("POST")
    assert len(post) == 1
    assert post[0].path == f"{REGISTRY_ID}/importImage"
    assert post[0].api_version == IMPORT_API_VERSION
    assert post[0].body == {
        "source": {"registryUri": "docker.io", "sourceImage": f"vllm/vllm-openai@{DIGEST}"},
        "targetTags": [f"vllm/vllm-openai:sha256-{DIGEST.split(':')[1]}"],
        "mode": "Force",
    }
    # Anonymous: no Docker Hub credentials travel with the request.
    assert "credentials" not in post[0].body["source"]
    # create returned only after ARM's operation finished (three Location polls).
    assert action.imported == [PROPS["target_tag"]]
    assert len([r for r in fake.requests if r.path.startswith("/locations/")]) == 3
    assert result.id == PROPS["target_reference"]
    assert result.outs is not None
    assert result.outs["target_reference"] == PROPS["target_reference"]
    assert "__provider" not in result.outs


def test_a_refused_import_fails_the_create_with_arms_message() -> None:
    with FakeArmServer(FakeArm(handlers=[ImportImageAction(outcome="Failed")])) as fake:
        provider = RegistryImportProvider(FakeCredential(), base_url=fake.base_url, poll_interval=0)
        with pytest.raises(ArmError, match="manifest unknown"):
            provider.create(dict(PROPS))


def test_a_failed_operation_fails_the_create() -> None:
    def accept_then_fail(fake: FakeArm, request: RecordedRequest):
        if request.method != "POST":
            return None
        url = fake.new_operation(
            Operation(1, outcome="Failed", error={"code": "TooManyRequests", "message": "rate"})
        )
        return 202, None, {"Azure-AsyncOperation": url, "Retry-After": "0"}

    slept: list[float] = []
    with FakeArmServer(FakeArm(handlers=[accept_then_fail])) as fake:
        provider = RegistryImportProvider(
            FakeCredential(), base_url=fake.base_url, poll_interval=0, sleep=slept.append
        )
        with pytest.raises(ArmError, match="TooManyRequests"):
            provider.create(dict(PROPS))
    # Throttling is retried (a minute, then two: no Retry-After on a failed operation), then given up.
    assert [seconds for seconds in slept if seconds] == [60.0, 120.0]


def test_a_new_digest_replaces_the_import_and_an_unchanged_one_is_left_alone() -> None:
    provider = RegistryImportProvider()
    same = provider.diff("id", PROPS, {**PROPS, "__provider": "re-serialized"})
    assert same.changes is False
    new_digest = "sha256:" + "1" * 64
    bumped = {
        **PROPS,
        "source_image": f"vllm/vllm-openai@{new_digest}",
        "target_tag": f"vllm/vllm-openai:{digest_tag(new_digest)}",
    }
    diff = provider.diff("id", PROPS, bumped)
    assert diff.changes is True
    assert set(diff.replaces or []) == {"source_image", "target_tag"}


def test_delete_keeps_the_copy_and_calls_nothing(arm) -> None:
    fake, _, provider = arm
    provider.delete(PROPS["target_reference"], dict(PROPS))
    assert fake.requests == []

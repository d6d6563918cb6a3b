"""Docker Hub credentials for the base import, and what happens without them when Docker Hub
throttles: a bounded retry that honours Retry-After, then a message naming the two settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from components.registry_import import (
    CREDENTIAL_SETTINGS,
    IMPORT_ATTEMPTS,
    MAX_RATE_LIMIT_WAIT_SECONDS,
    DockerHubRateLimitError,
    RegistryImport,
    RegistryImportArgs,
    RegistryImportProvider,
    digest_tag,
)
from tests.conftest import RunProgram
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
# What a stack created before the credentials existed has in its state: no credential inputs.
OLD_PROPS: dict[str, Any] = {
    "registry_id": REGISTRY_ID,
    "source_registry": "docker.io",
    "source_image": f"vllm/vllm-openai@{DIGEST}",
    "target_tag": f"vllm/vllm-openai:{digest_tag(DIGEST)}",
    "target_reference": f"crvllm123456.azurecr.io/vllm/vllm-openai@{DIGEST}",
    "__provider": "serialized-provider",
}
TOKEN = "dckr_pat_test-token"


class ThrottledImport:
    """importImage answering 429 (Docker Hub's pull limit) ``throttles`` times, then accepting."""

    def __init__(self, throttles: int, retry_after: str | None = "7"):
        self.throttles = throttles
        self.retry_after = retry_after
        self.bodies: list[Any] = []

    def __call__(self, fake: FakeArm, request: RecordedRequest) -> Any:
        if request.method != "POST" or not request.path.endswith("/importImage"):
            return None
        self.bodies.append(request.body)
        if len(self.bodies) <= self.throttles:
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            message = "toomanyrequests: You have reached your pull rate limit."
            return 429, {"error": {"code": "TooManyRequests", "message": message}}, headers
        url = fake.new_operation(Operation(1))
        return 202, None, {"Azure-AsyncOperation": url, "Retry-After": "0"}


@pytest.fixture
def throttled() -> Iterator[Any]:
    def start(throttles: int, retry_after: str | None = "7") -> Any:
        action = ThrottledImport(throttles, retry_after)
        server = FakeArmServer(FakeArm(handlers=[action]))
        fake = server.__enter__()
        started.append(server)
        slept: list[float] = []
        provider = RegistryImportProvider(
            FakeCredential(), base_url=fake.base_url, poll_interval=0, sleep=slept.append
        )
        return action, provider, slept

    started: list[FakeArmServer] = []
    yield start
    for server in started:
        server.__exit__(None, None, None)


def test_credentials_are_the_imports_source_credentials(throttled: Any) -> None:
    action, provider, _ = throttled(0)
    props = {**OLD_PROPS, "source_username": "ml-bot", "source_password": TOKEN}
    result = provider.create(props)
    (body,) = action.bodies
    assert body["source"]["credentials"] == {"username": "ml-bot", "password": TOKEN}
    # The token never becomes an output.
    assert result.outs is not None
    assert "source_password" not in result.outs
    assert TOKEN not in repr(result.outs)


def test_a_stack_from_before_the_credentials_imports_anonymously(throttled: Any) -> None:
    action, provider, _ = throttled(0)
    provider.create(dict(OLD_PROPS))
    (body,) = action.bodies
    assert "credentials" not in body["source"]
    same = provider.diff(
        "id", OLD_PROPS, {**OLD_PROPS, "source_username": None, "source_password": None}
    )
    assert same.changes is False


def test_a_throttled_import_waits_retry_after_and_succeeds(throttled: Any) -> None:
    action, provider, slept = throttled(1, retry_after="7")
    provider.create(dict(OLD_PROPS))
    assert len(action.bodies) > 1
    # lib/arm.py retries HTTP 429 itself, waiting Retry-After; its operation polls wait 1 s.
    assert 7.0 in slept
    assert {seconds for seconds in slept if seconds > 1.0} == {7.0}


def test_a_long_retry_after_is_capped(throttled: Any) -> None:
    action, provider, slept = throttled(1000, retry_after="3600")
    with pytest.raises(DockerHubRateLimitError):
        provider.create(dict(OLD_PROPS))
    # No wait is an hour: lib/arm.py caps Retry-After, and the import caps its own waits.
    assert max(slept) <= MAX_RATE_LIMIT_WAIT_SECONDS
    # Bounded in count: lib/arm.py's six tries of each of the import's attempts, then it gives up.
    assert len(action.bodies) == IMPORT_ATTEMPTS * 6
    assert sum(slept) <= IMPORT_ATTEMPTS * 6 * MAX_RATE_LIMIT_WAIT_SECONDS


def test_giving_up_names_the_two_settings(throttled: Any) -> None:
    _, provider, _ = throttled(1000)
    with pytest.raises(DockerHubRateLimitError) as raised:
        provider.create(dict(OLD_PROPS))
    message = str(raised.value)
    for setting in CREDENTIAL_SETTINGS:
        assert setting in message
    assert "pulumi config set --secret dockerHubToken" in message
    assert "pull rate limit" in message


def test_giving_up_with_credentials_does_not_ask_for_them_again(throttled: Any) -> None:
    _, provider, _ = throttled(1000)
    with pytest.raises(DockerHubRateLimitError, match="already authenticates"):
        provider.create({**OLD_PROPS, "source_username": "ml-bot", "source_password": TOKEN})


def test_the_token_is_a_secret_input_and_output(run: RunProgram) -> None:
    def program() -> None:
        RegistryImport(
            "base",
            RegistryImportArgs(
                registry_id=REGISTRY_ID,
                login_server="crvllm123456.azurecr.io",
                source_registry="docker.io",
                source_image=f"vllm/vllm-openai@{DIGEST}",
                target_repository="vllm/vllm-openai",
                source_username="ml-bot",
                source_password=TOKEN,
            ),
        )

    result = run("dev", program=program)
    imported = result.one("pulumi-python:dynamic/containerregistry:ImportImage")
    assert imported.is_secret("source_password")
    assert imported.input("source_username") == "ml-bot"


def test_the_stack_files_token_reaches_the_import_as_a_secret(run: RunProgram) -> None:
    result = run("dev", dockerHubUsername="ml-bot", dockerHubToken={"secure": "ciphertext"})
    imported = result.one("pulumi-python:dynamic/containerregistry:ImportImage")
    assert imported.input("source_username") == "ml-bot"
    assert imported.is_secret("source_password")


def test_a_stack_without_them_imports_anonymously(run: RunProgram) -> None:
    imported = run("dev").one("pulumi-python:dynamic/containerregistry:ImportImage")
    assert imported.input("source_username") is None
    assert imported.input("source_password") is None

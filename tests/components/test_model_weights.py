"""Staging weights over real HTTP against the loopback fake ARM (tests/support/fake_arm.py):
created once, reused, waited for, failure reported, and the bodies it sends."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.model_weights import (
    MAX_ATTEMPTS,
    STAGING_API_VERSION,
    ModelWeights,
    ModelWeightsProvider,
    StagingError,
    asset_name,
    asset_version,
    job_body,
    job_name,
    model_version_id,
    output_uri,
)
from lib.arm import ArmClient
from tests.support.fake_arm import FakeArm, FakeArmServer, FakeCredential, JobScript

WORKSPACE_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-test/providers/"
    "Microsoft.MachineLearningServices/workspaces/mlw-test"
)
# ARM polls here need no floor between them (see fast_polls): the fake answers at once, and the
# floor made each PUT wait a second.
pytestmark = pytest.mark.usefixtures("fast_polls")

MODEL = "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"
REVISION = "74fbf131a939963dd1e244389bb61ad0d0440a4d"
ENVIRONMENT_ID = f"{WORKSPACE_ID}/environments/vllm/versions/0123456789ab0000"
VERSION_ID = model_version_id(WORKSPACE_ID, MODEL, REVISION)


@dataclass
class Staging:
    fake: FakeArm
    script: JobScript
    provider: ModelWeightsProvider
    sleeps: list[float]

    def jobs_submitted(self) -> list[str]:
        return [r.path.rsplit("/", 1)[-1] for r in self.fake.writes("PUT") if "/jobs/" in r.path]


def props(**changes: Any) -> dict[str, Any]:
    base = {
        "workspace_id": WORKSPACE_ID,
        "model": MODEL,
        "revision": REVISION,
        "environment_id": ENVIRONMENT_ID,
        "tags": {"stack": "dev"},
        "identity_client_id": None,
        "token_secret_uri": None,
        "model_version_id": VERSION_ID,
        "weights_uri": output_uri(MODEL, REVISION),
        "job_name": None,
    }
    base.update(changes)
    return base


def make(script: JobScript, timeout: float = 3600.0) -> Iterator[Staging]:
    with FakeArmServer(FakeArm(polls=1)) as fake:
        fake.handlers.append(script)
        sleeps: list[float] = []
        now = [0.0]

        def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            now[0] += seconds

        def client() -> ArmClient:
            return ArmClient(FakeCredential(), base_url=fake.base_url, poll_interval=0.0)

        provider = ModelWeightsProvider(
            client_factory=client,
            poll_seconds=30.0,
            timeout_seconds=timeout,
            clock=lambda: now[0],
            sleep=sleep,
        )
        yield Staging(fake, script, provider, sleeps)


@pytest.fixture
def staging() -> Iterator[Staging]:
    yield from make(JobScript())


def test_names_follow_the_model_and_revision() -> None:
    assert asset_name(MODEL) == "deepseek-ai--DeepSeek-R1-Distill-Llama-8B"
    assert asset_version(REVISION) == "74fbf131a939"
    assert VERSION_ID.endswith(
        "/workspaces/mlw-test/models/deepseek-ai--DeepSeek-R1-Distill-Llama-8B/versions/74fbf131a939"
    )
    assert output_uri(MODEL, REVISION) == (
        "azureml://datastores/workspaceblobstore/paths/model-weights/"
        "deepseek-ai--DeepSeek-R1-Distill-Llama-8B/74fbf131a939/"
    )
    # A new revision is a new version and a new job.
    other = "0" * 40
    assert asset_version(other) != asset_version(REVISION)
    assert job_name(MODEL, other, 1) != job_name(MODEL, REVISION, 1)


def test_first_run_submits_one_job_waits_for_it_and_registers_the_version(
    staging: Staging,
) -> None:
    result = staging.provider.create(props())
    assert staging.jobs_submitted() == [job_name(MODEL, REVISION, 1)]
    # Waited through Queued and Running, one bounded poll each.
    assert staging.sleeps == [30.0, 30.0]
    (version_put,) = [r for r in staging.fake.writes("PUT") if "/models/" in r.path]
    assert version_put.path == VERSION_ID and version_put.api_version == STAGING_API_VERSION
    assert version_put.body["properties"]["modelUri"] == output_uri(MODEL, REVISION)
    assert version_put.body["properties"]["modelType"] == "custom_model"
    assert result.id == VERSION_ID
    assert result.outs is not None and result.outs["job_name"] == job_name(MODEL, REVISION, 1)


def test_a_second_run_reuses_the_version_and_starts_no_job(staging: Staging) -> None:
    staging.provider.create(props())
    staging.fake.requests.clear()
    result = staging.provider.create(props())
    assert staging.fake.writes() == []
    assert result.outs is not None and result.outs["job_name"] == ""


def test_a_job_left_running_by_an_earlier_run_is_waited_for_not_resubmitted(
    staging: Staging,
) -> None:
    name = job_name(MODEL, REVISION, 1)
    staging.provider.create(props())  # the job exists now; drop the version it registered
    staging.fake.resources.pop(VERSION_ID.lower())
    staging.script.reads[f"{WORKSPACE_ID}/jobs/{name}".lower()] = 1  # back to Running
    staging.fake.requests.clear()
    staging.provider.create(props())
    assert staging.jobs_submitted() == []
    assert [r.path for r in staging.fake.writes("PUT")] == [VERSION_ID]


def test_a_failed_job_fails_with_its_error_and_where_to_read_its_logs() -> None:
    script = JobScript(
        states=("Queued", "Failed"),
        error={"code": "UserError", "message": "Revision 74fbf13 not found"},
    )
    for harness in make(script):
        with pytest.raises(StagingError) as caught:
            harness.provider.create(props())
        message = str(caught.value)
        name = job_name(MODEL, REVISION, 1)
        assert f"staging job {name}" in message and "ended Failed" in message
        assert "Revision 74fbf13 not found" in message
        assert (
            f"az ml job stream --name {name} --resource-group rg-test --workspace-name mlw-test"
            in message
        )
        assert f"https://ml.azure.com/runs/{name}" in message
        # Nothing was registered for weights that never arrived.
        assert not [r for r in harness.fake.writes("PUT") if "/models/" in r.path]


def test_the_next_run_after_a_failure_submits_a_new_attempt() -> None:
    for harness in make(JobScript()):
        failed = f"{WORKSPACE_ID}/jobs/{job_name(MODEL, REVISION, 1)}"
        harness.fake.resources[failed.lower()] = {"properties": {"status": "Failed"}}
        harness.provider.create(props())
        assert harness.jobs_submitted() == [job_name(MODEL, REVISION, 2)]


def test_attempts_are_bounded() -> None:
    for harness in make(JobScript()):
        for attempt in range(1, MAX_ATTEMPTS + 1):
            path = f"{WORKSPACE_ID}/jobs/{job_name(MODEL, REVISION, attempt)}"
            harness.fake.resources[path.lower()] = {"properties": {"status": "Failed"}}
        with pytest.raises(StagingError, match=f"{MAX_ATTEMPTS} staging jobs"):
            harness.provider.create(props())
        assert harness.jobs_submitted() == []


def test_the_wait_is_bounded_and_says_the_job_goes_on() -> None:
    for harness in make(JobScript(states=("Queued", "Running")), timeout=100.0):
        with pytest.raises(StagingError, match="still Running after 90 s"):
            harness.provider.create(props())
        assert sum(harness.sleeps) <= 100.0


def test_the_job_body_stages_the_pinned_revision_without_a_token_by_default() -> None:
    body = job_body(props())["properties"]
    assert body["jobType"] == "Command"
    assert "computeId" not in body  # serverless
    assert body["environmentVariables"]["STAGE_REVISION"] == REVISION
    assert body["outputs"]["weights"]["uri"] == output_uri(MODEL, REVISION)
    assert "${{outputs.weights}}" in body["command"]
    assert "identity" not in body and "STAGE_TOKEN_SECRET_URI" not in body["environmentVariables"]


def test_a_gated_model_is_staged_with_the_user_assigned_identity() -> None:
    secret = "https://kv-test.vault.azure.net/secrets/hugging-face-token/abc"
    client_id = "11111111-2222-3333-4444-555555555555"
    body = job_body(props(identity_client_id=client_id, token_secret_uri=secret))["properties"]
    assert body["identity"] == {"identityType": "Managed", "clientId": client_id}
    assert body["environmentVariables"]["STAGE_TOKEN_SECRET_URI"] == secret
    # A reference, never the token itself.
    assert all("hf_" not in value for value in body["environmentVariables"].values())


@pytest.mark.parametrize(
    ("change", "replaces"),
    [
        ({"revision": "1" * 40}, ["revision"]),
        ({"model": "Qwen/Qwen2.5-7B-Instruct"}, ["model"]),
        ({"environment_id": f"{WORKSPACE_ID}/environments/vllm/versions/other"}, []),
        ({"token_secret_uri": "https://kv.vault.azure.net/secrets/x/2"}, []),
    ],
)
def test_only_another_model_or_revision_restages(
    change: dict[str, Any], replaces: list[str]
) -> None:
    diff = ModelWeightsProvider().diff(VERSION_ID, props(), props(**change))
    assert diff.replaces == replaces
    assert diff.changes is bool(replaces)


def test_check_refuses_an_unpinned_revision() -> None:
    result = ModelWeightsProvider().check({}, props(revision="main"))
    assert [failure.property for failure in result.failures] == ["revision"]


def test_the_provider_lives_at_the_path_stack_state_records() -> None:
    # Moving the class or module breaks every stack that staged weights (STYLE: dynamic providers).
    assert ModelWeights.__module__ == "components.model_weights"
    assert ModelWeightsProvider.__module__ == "components.model_weights"
    serialized = base64.b64decode(serialize_provider(ModelWeightsProvider()))
    provider = dill.loads(serialized)  # noqa: S301 - our own bytes, produced just above
    assert type(provider).__name__ == "ModelWeightsProvider"
    assert provider._client_factory is None

"""The staged-weights checks of `make verify` (clients/verify/weights.py) against the loopback
fakes: the asset staged once and registered, and deployments that mount it without a token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lib.model_assets import job_name
from tests.support.fake_hub import FakeHub
from tests.support.fake_stack import deployed_stack
from tests.support.fake_weights_stack import REVISION, set_jobs, stage_weights
from tests.support.verify_world import SERVED_NAME, World, verify_world

pytestmark = pytest.mark.usefixtures("isolated_environment", "fast_polls")

MODEL = "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"
LABEL = f"{MODEL}@{REVISION[:12]}"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    with FakeHub(revisions={MODEL: {REVISION}}) as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        yield fake


@pytest.fixture
def world(isolated_environment: Path, hub: FakeHub) -> Iterator[World]:
    with verify_world(isolated_environment) as world:
        world.arm.resources.clear()
        world.stack = deployed_stack(world.arm, world.vllm, hf_token=False)
        world.stack.outputs["servedModelName"] = SERVED_NAME
        stage_weights(world.arm, world.stack)
        yield world


def _deployments(world: World) -> list[dict]:
    return world.arm.resources[f"{world.stack.endpoint_id}/deployments".lower()]["value"]


def test_staged_weights_and_their_mounts_pass(world: World) -> None:
    result = world.verify("--only", "staged-weights", "--only", "weights-mounted")
    assert {key: c["status"] for key, c in result.checks.items()} == {
        f"staged-weights[{LABEL}]": "pass",
        "weights-mounted[blue]": "pass",
        "weights-mounted[green]": "pass",
    }
    assert f"staged by job {job_name(MODEL, REVISION, 1)}: Completed" in result.text(
        f"staged-weights[{LABEL}]"
    )
    (listed,) = [r for r in world.arm.requests if r.path.lower().endswith("/jobs")]
    assert listed.query["jobType"] == ["Command"]


def test_a_missing_asset_version_fails(world: World) -> None:
    for key in [k for k in world.arm.resources if "/models/" in k]:
        del world.arm.resources[key]
    result = world.verify("--only", "staged-weights")
    assert result.status(f"staged-weights[{LABEL}]") == "fail"
    assert "no model asset version" in result.text(f"staged-weights[{LABEL}]")


def test_a_second_completed_staging_job_fails(world: World) -> None:
    jobs = world.arm.resources[f"{world.stack.workspace_id}/jobs".lower()]["value"]
    second = dict(jobs[0], name=job_name(MODEL, REVISION, 2))
    second["id"] = f"{world.stack.workspace_id}/jobs/{second['name']}"
    set_jobs(world.arm, world.stack, [*jobs, second])
    result = world.verify("--only", "staged-weights")
    assert "2 completed staging jobs for one revision" in result.text(f"staged-weights[{LABEL}]")


def test_a_staging_job_that_did_not_complete_fails(world: World) -> None:
    first = job_name(MODEL, REVISION, 1)
    world.arm.resources[f"{world.stack.workspace_id}/jobs/{first}".lower()]["properties"][
        "status"
    ] = "Failed"
    result = world.verify("--only", "staged-weights")
    assert f"its job {first} is Failed" in result.text(f"staged-weights[{LABEL}]")
    assert "az ml job stream" in result.text(f"staged-weights[{LABEL}]")


def test_a_deployment_with_a_token_or_another_model_fails_naming_keys_only(world: World) -> None:
    blue, green = _deployments(world)
    blue["properties"]["environmentVariables"]["HF_TOKEN"] = "hf_secretvalue0123456789"
    green["properties"]["model"] = "azureml:/elsewhere/models/x/versions/1"
    result = world.verify("--only", "weights-mounted")
    assert "it carries HF_TOKEN" in result.text("weights-mounted[blue]")
    assert "hf_secretvalue0123456789" not in result.stdout
    assert "not /subscriptions/" in result.text("weights-mounted[green]")
    assert result.code == 1


def test_a_deployment_without_the_mount_fails(world: World) -> None:
    properties = _deployments(world)[0]["properties"]
    del properties["modelMountPath"]
    del properties["environmentVariables"]["SERVE_MODEL_DIR"]
    text = world.verify("--only", "weights-mounted").text("weights-mounted[blue]")
    assert "modelMountPath None, not /models" in text
    assert "SERVE_MODEL_DIR is not /models" in text


def test_weights_from_the_hub_skip_both(world: World) -> None:
    for output in world.stack.outputs["deployments"].values():
        output["weightsSource"] = "huggingface"
    result = world.verify("--only", "staged-weights", "--only", "weights-mounted")
    assert result.status("staged-weights") == "skip"
    assert result.status("weights-mounted") == "skip"


# --- model-revision -------------------------------------------------------------------------------


def test_a_pinned_revision_on_the_hub_passes_without_a_token(world: World, hub: FakeHub) -> None:
    result = world.verify("--only", "model-revision")
    assert result.status(f"model-revision[{LABEL}]") == "pass"
    assert hub.seen == [(f"/api/models/{MODEL}/revision/{REVISION}", None)]


@pytest.mark.parametrize("breakage", ["unknown", "other-sha"])
def test_a_revision_the_hub_does_not_have_fails(world: World, hub: FakeHub, breakage: str) -> None:
    if breakage == "unknown":
        hub.revisions[MODEL] = set()
    else:
        hub.answer_sha[MODEL] = "0" * 40
    result = world.verify("--only", "model-revision")
    text = result.text(f"model-revision[{LABEL}]")
    assert result.status(f"model-revision[{LABEL}]") == "fail"
    assert ("HTTP 404" if breakage == "unknown" else f"sha '{'0' * 40}'") in text
    assert "40-digit commit" in text


def test_an_unreachable_hub_fails_with_where_to_run(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    result = world.verify("--only", "model-revision")
    assert result.status(f"model-revision[{LABEL}]") == "fail"
    assert "HF_ENDPOINT" in result.text(f"model-revision[{LABEL}]")


def test_a_plain_http_hub_elsewhere_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://hub.example.com")
    result = world.verify("--only", "model-revision")
    assert result.status("model-revision") == "fail"
    assert "https only" in result.text("model-revision")


# --- served-name (serving.py) with staged weights -------------------------------------------------

STAGED_ROOT = f"/models/model-weights/{MODEL.replace('/', '--')}/{REVISION[:12]}"


def test_vllm_serving_the_staged_copy_under_the_stable_name_passes(world: World) -> None:
    world.vllm.root = STAGED_ROOT
    result = world.verify("--only", "served-name")
    assert result.status("served-name[blue]") == "pass"
    assert result.status("served-name[green]") == "pass"
    assert f"root {STAGED_ROOT}" in result.text("served-name[blue]")
    chats = [r for r in world.vllm.requests if r.path == "/v1/chat/completions"]
    assert {r.body["model"] for r in chats} == {"deepseek-r1-distill-llama-8b"}
    assert {r.headers.get("azureml-model-deployment") for r in chats} == {"blue", "green"}


def test_weights_loaded_from_the_hub_fail_served_name(world: World) -> None:
    world.vllm.root = None  # vLLM reports the Hub id it downloaded
    result = world.verify("--only", "served-name")
    text = result.text("served-name[blue]")
    assert result.status("served-name[blue]") == "fail"
    assert f"root {MODEL} is not under /models/" in text
    assert "get-logs -n blue" in text


def test_a_deployment_without_the_stable_name_fails_served_name(world: World) -> None:
    world.vllm.root = STAGED_ROOT
    world.vllm.served_names = [MODEL]
    result = world.verify("--only", "served-name")
    text = result.text("served-name[green]")
    assert "vLLM does not serve 'deepseek-r1-distill-llama-8b'" in text
    assert "did not answer as 'deepseek-r1-distill-llama-8b'" in text
    assert result.code == 1

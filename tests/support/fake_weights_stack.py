"""Staged weights in a deployed stack, in the loopback fake ARM, for the verify tests: the model
asset version and the job that staged it, as components/model_weights.py registers them, and
deployments that mount it (weightsSource: workspace). Call :func:`stage_weights` on a stack built
with ``deployed_stack(..., hf_token=False)``."""

from __future__ import annotations

from typing import Any

from components.model_weights import model_version_body
from lib.model_assets import MODEL_MOUNT_PATH, job_name, model_version_id
from lib.vllm_options import MODEL_DIR
from tests.support.fake_arm import FakeArm
from tests.support.fake_stack import DeployedStack

REVISION = "74fbf131a939963dd1e244389bb61ad0d0440a4d"


def _job(stack: DeployedStack, name: str, status: str) -> dict[str, Any]:
    return {
        "id": f"{stack.workspace_id}/jobs/{name}",
        "name": name,
        "properties": {"jobType": "Command", "status": status},
    }


def set_jobs(fake: FakeArm, stack: DeployedStack, jobs: list[dict[str, Any]]) -> None:
    fake.resources[f"{stack.workspace_id}/jobs".lower()] = {"value": jobs}
    for job in jobs:
        fake.resources[job["id"].lower()] = job


def stage_weights(fake: FakeArm, stack: DeployedStack, revision: str = REVISION) -> str:
    """Every deployment serves the staged model; returns the asset version's id."""
    model = next(iter(stack.outputs["deployments"].values()))["model"]
    version_id = model_version_id(stack.workspace_id, model, revision)
    first = job_name(model, revision, 1)
    body = model_version_body({"model": model, "revision": revision, "tags": {}}, first)
    fake.resources[version_id.lower()] = {"id": version_id, **body}
    set_jobs(fake, stack, [_job(stack, first, "Completed"), _job(stack, "other-job", "Completed")])
    for output in stack.outputs["deployments"].values():
        output.update(revision=revision, weightsSource="workspace")
    for item in fake.resources[f"{stack.endpoint_id}/deployments".lower()]["value"]:
        properties = item.setdefault("properties", {})
        properties.update(model=version_id, modelMountPath=MODEL_MOUNT_PATH)
        properties["environmentVariables"][MODEL_DIR] = MODEL_MOUNT_PATH
    return version_id

"""Checks of pinned models and staged weights (issue 15; docs/models.md,
docs/adr/0030-staged-weights.md) that only a deployed stack proves: each pinned revision exists on
the Hub, the staging job ran once per model@revision and registered the asset, and every deployment
with ``weightsSource: workspace`` mounts that asset and carries no Hugging Face token. Reader on the
resource group is enough.

The Hub: ``GET {HF_ENDPOINT}/api/models/<id>/revision/<sha>`` without a token (the models are
public), what huggingface_hub's ``HfApi.model_info(repo_id, revision=...)`` calls (hf_api.py); its
JSON ``sha`` is the commit the revision names.

ARM, Microsoft.MachineLearningServices 2025-12-01 (azure-rest-api-specs machinelearningservices
stable/2025-12-01: ModelVersions_Get ``properties.modelType``, ``modelUri``, ``jobName``; Jobs_Get
and Jobs_List with ``jobType`` ``properties.status``; OnlineDeployments_List ``properties.model``,
``modelMountPath``, ``environmentVariables``), as components/model_weights.py writes them.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote, urlsplit

from clients.verify.registry import ML_API_VERSION, Context, Outcome, check, failed, passed, skipped
from clients.verify.serving import HUGGING_FACE_VARIABLES
from lib import bounded_http
from lib.model_assets import MODEL_MOUNT_PATH, job_stem, model_version_id, weights_folder
from lib.vllm_options import MODEL_DIR

STAGED = "workspace"
COMPLETED = "Completed"
# huggingface_hub's variable for another Hub endpoint (a mirror; the tests' loopback fake).
HUB_VARIABLE = "HF_ENDPOINT"
HUB = "https://huggingface.co"
HUB_TIMEOUT_SECONDS = 30.0
HUB_MAX_BYTES = 4 * 1024 * 1024  # a model's info is tens of KiB, its sibling list included


def _staged_deployments(ctx: Context) -> dict[str, tuple[str, str]]:
    """Deployment name -> (model, revision), for the deployments whose weights are staged."""
    exported = ctx.outputs.get("deployments") or {}
    return {
        name: (str(item.get("model")), str(item.get("revision")))
        for name, item in sorted(exported.items())
        if isinstance(item, dict)
        and item.get("weightsSource") == STAGED
        and item.get("model")
        and item.get("revision")
    }


def _job_status(ctx: Context, name: str) -> str:
    job = ctx.arm.get(f"{ctx.workspace_id}/jobs/{name}", ML_API_VERSION)
    return str(((job or {}).get("properties") or {}).get("status") or "missing")


def _completed_staging_jobs(ctx: Context, model: str, revision: str) -> list[str]:
    jobs = ctx.remember(
        "arm-command-jobs",
        lambda: ctx.arm.list(f"{ctx.workspace_id}/jobs", ML_API_VERSION, query="jobType=Command"),
    )
    stem = job_stem(model, revision)
    return sorted(
        str(job.get("name"))
        for job in jobs
        if str(job.get("name") or "").startswith(stem)
        and (job.get("properties") or {}).get("status") == COMPLETED
    )


def _asset_problems(ctx: Context, model: str, revision: str) -> tuple[list[str], list[str]]:
    """(problems, evidence) of the asset version and the job that staged it."""
    version_id = model_version_id(ctx.workspace_id, model, revision)
    version = ctx.arm.get(version_id, ML_API_VERSION)
    if version is None:
        return [f"no model asset version {version_id}"], []
    properties = version.get("properties") or {}
    problems, evidence = [], [f"asset version {version_id}"]
    if properties.get("modelType") != "custom_model":
        problems.append(f"modelType {properties.get('modelType')!r}, not 'custom_model'")
    folder = f"/paths/{weights_folder(model, revision)}"
    if not str(properties.get("modelUri") or "").endswith(folder):
        problems.append(f"modelUri {properties.get('modelUri')!r} does not end with {folder}")
    job = properties.get("jobName")
    if job:
        status = _job_status(ctx, str(job))
        evidence.append(f"staged by job {job}: {status}")
        if status != COMPLETED:
            problems.append(f"its job {job} is {status}, not {COMPLETED}")
    else:
        evidence.append("the version names no jobName (registered without a job of this stack)")
    completed = _completed_staging_jobs(ctx, model, revision)
    evidence.append(f"completed staging jobs for it: {', '.join(completed) or 'none'}")
    if len(completed) > 1:
        problems.append(
            f"{len(completed)} completed staging jobs for one revision: a second "
            "`pulumi up` staged it again"
        )
    return problems, evidence


@check("staged-weights", "each staged model@revision was staged once and registered", uses_arm=True)
def staged_weights(ctx: Context) -> list[Outcome]:
    pinned = sorted(set(_staged_deployments(ctx).values()))
    outcomes = []
    for model, revision in pinned:
        problems, evidence = _asset_problems(ctx, model, revision)
        label = f"{model}@{revision[:12]}"
        outcome = (
            failed(
                f"the staged weights of {label} are not as the program registers them",
                problems + evidence,
                [
                    "`pulumi up` stages a missing version (components/model_weights.py); a "
                    "failed job's log: `az ml job stream --name <job> -g "
                    f"{ctx.outputs.get('resourceGroupName')} -w {ctx.outputs.get('workspaceName')}`",
                    "several completed jobs for one revision: the job-name lookup in "
                    "components/model_weights.py missed the earlier job; report it",
                ],
            )
            if problems
            else passed(f"{label} was staged once and registered as a custom model", *evidence)
        )
        outcome.id = label
        outcomes.append(outcome)
    return outcomes or [skipped("no deployment takes staged weights (weightsSource: huggingface)")]


def _mount_problems(
    ctx: Context, deployment: dict[str, Any], model: str, revision: str
) -> list[str]:
    properties = deployment.get("properties") or {}
    expected = model_version_id(ctx.workspace_id, model, revision)
    given = str(properties.get("model") or "").removeprefix("azureml:")
    problems = []
    if given.lower() != expected.lower():
        problems.append(f"model {properties.get('model')!r}, not {expected}")
    if properties.get("modelMountPath") != MODEL_MOUNT_PATH:
        problems.append(
            f"modelMountPath {properties.get('modelMountPath')!r}, not {MODEL_MOUNT_PATH}"
        )
    variables = properties.get("environmentVariables") or {}
    variables = variables if isinstance(variables, dict) else {}
    if variables.get(MODEL_DIR) != MODEL_MOUNT_PATH:
        problems.append(f"{MODEL_DIR} is not {MODEL_MOUNT_PATH}")
    # Names only: a value would be the token itself.
    tokens = sorted(name for name in variables if name in HUGGING_FACE_VARIABLES)
    if tokens:
        problems.append(f"it carries {', '.join(tokens)} (staged weights need no token)")
    return problems


@check(
    "weights-mounted",
    "deployments with staged weights mount the asset and carry no Hugging Face token",
    uses_arm=True,
)
def weights_mounted(ctx: Context) -> list[Outcome]:
    outcomes = []
    for name, (model, revision) in _staged_deployments(ctx).items():
        deployment = ctx.arm_deployments().get(name.lower())
        problems = (
            ["the endpoint has no such deployment"]
            if deployment is None
            else _mount_problems(ctx, deployment, model, revision)
        )
        outcome = (
            failed(
                f"deployment {name} does not serve the staged {model}@{revision[:12]}",
                problems,
                ["`pulumi up` puts the asset, its mount and the environment back"],
            )
            if problems
            else passed(
                f"deployment {name} mounts {model}@{revision[:12]} at {MODEL_MOUNT_PATH} and "
                "has no Hugging Face token"
            )
        )
        outcome.id = name
        outcomes.append(outcome)
    return outcomes or [skipped("no deployment takes staged weights (weightsSource: huggingface)")]


def _pinned(ctx: Context) -> list[tuple[str, str]]:
    exported = ctx.outputs.get("deployments") or {}
    return sorted(
        {
            (str(item["model"]), str(item["revision"]))
            for item in exported.values()
            if isinstance(item, dict) and item.get("model") and item.get("revision")
        }
    )


def hub_origin() -> str:
    origin = os.environ.get(HUB_VARIABLE, "").rstrip("/") or HUB
    parts = urlsplit(origin)
    if parts.scheme != "https" and not (
        parts.scheme == "http" and bounded_http.is_loopback(parts.hostname or "")
    ):
        raise ValueError(f"{HUB_VARIABLE}={origin!r}: the Hub is called over https only")
    return origin


def _hub_revision(model: str, revision: str) -> tuple[int, Any]:
    """The Hub's status and JSON for the model at the revision; no token is sent."""
    url = f"{hub_origin()}/api/models/{model}/revision/{quote(revision, safe='')}"
    deadline = bounded_http.Deadline(HUB_TIMEOUT_SECONDS)
    with bounded_http.request("GET", url, {"Accept": "application/json"}, None, deadline) as answer:
        body = answer.read(HUB_MAX_BYTES)
        try:
            return answer.status, json.loads(body) if body else None
        except ValueError:
            return answer.status, None


@check("model-revision", "each pinned revision exists on the Hub")
def model_revision(ctx: Context) -> list[Outcome]:
    outcomes = []
    for model, revision in _pinned(ctx):
        label = f"{model}@{revision[:12]}"
        try:
            status, payload = _hub_revision(model, revision)
        except bounded_http.HttpError as error:
            outcome = failed(
                f"{label}: could not ask the Hub",
                [str(error)],
                [f"run verify where {HUB} is reachable, or point {HUB_VARIABLE} at a Hub mirror"],
            )
            outcome.id = label
            outcomes.append(outcome)
            continue
        sha = payload.get("sha") if isinstance(payload, dict) else None
        if status == 200 and sha == revision:
            outcome = passed(f"{label}: the Hub has {model} at commit {revision}")
        else:
            outcome = failed(
                f"{label}: the pinned revision is not on the Hub as written",
                [f"GET /api/models/{model}/revision/{revision}: HTTP {status}, sha {sha!r}"],
                [
                    "pin the full 40-digit commit of the model's Hub repository (`revision` in "
                    "the stack file's deployment, or the catalog default in lib/models.py; "
                    'docs/models.md, "Model and revision")',
                ],
            )
        outcome.id = label
        outcomes.append(outcome)
    return outcomes or [skipped("the stack outputs pin no revision")]

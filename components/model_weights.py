"""Staged weights: a pinned Hugging Face revision copied once into the workspace as a model asset.

Why and how, in short (docs/adr/0030-staged-weights.md has the long version and the sources):

* A command job on AzureML serverless compute (no compute to manage: "When compute isn't specified
  for a job, the job runs on serverless compute", how-to-use-serverless-compute.md) runs the vLLM
  image the endpoint already uses, which ships ``huggingface_hub``, and downloads exactly
  ``revision`` into a ``uri_folder`` output at a path derived from the model and the revision in
  the workspace's blob datastore. The weights go from Hugging Face to the region's storage; they
  never pass through the machine that runs ``pulumi up``.
* The folder is then registered as model ``<name>`` version ``<first 12 hex of the revision>``
  (ARM ``workspaces/models/versions``, ``modelType: custom_model``). Deployments reference that
  version; AzureML's storage initializer copies it onto each instance before the container starts,
  so serving needs neither Hugging Face egress nor a token.
* Idempotent: an existing version is reused and starts no job; a job that already ran for this
  model and revision (the job name is derived from them) is reused or waited for. A failed job is
  reported with its status, its studio link and the command that streams its log, and the next
  ``pulumi up`` submits a fresh attempt (``-2``, ``-3``, ... up to :data:`MAX_ATTEMPTS`).
* A new revision is a new version, which changes every deployment's ``model``: a rolling update.

The module path and the class names below are part of every stack's state (a dynamic provider is
stored by reference): moving them needs a re-export at this path. tests/components/test_model_weights.py
pins them.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic

from lib.arm import ArmClient, ArmError
from lib.dynamic_inputs import arm_id_failures

# Used here by the provider, and re-exported: the tests name them here.
from lib.model_assets import asset_name as asset_name
from lib.model_assets import asset_version as asset_version
from lib.model_assets import job_name as job_name
from lib.model_assets import model_version_id as model_version_id
from lib.model_assets import output_uri as output_uri

# The API version azure-native 3.29 uses for machinelearningservices (as components/traffic.py).
STAGING_API_VERSION = "2025-12-01"
# How long one `pulumi up` waits for a staging job: a 70B model is ~140 GB; at the ~200 MB/s a
# single serverless CPU node sustains from the Hub that is ~12 minutes, and queueing for a node can
# take as long again. Two hours leaves room and still ends.
STAGING_TIMEOUT_SECONDS = 2 * 3600
POLL_SECONDS = 30.0
MAX_ATTEMPTS = 20
# Job states (ARM JobStatus). Anything else is still on its way.
_SUCCEEDED = {"Completed"}
_FAILED = {"Failed", "Canceled", "NotResponding"}
OUTPUT = "weights"

WORKSPACE_ID_PATTERN = re.compile(
    r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices/"
    r"workspaces/[^/]+",
    re.IGNORECASE,
)

# What the job runs, with python3 from the vLLM image. The token, when the model is gated, is read
# from Key Vault with the job's user-assigned identity (IMDS, which AzureML compute serves to the
# identities it assigns); the value is never in the job's definition or its log.
STAGE_SCRIPT = r"""
import json, os, sys, urllib.parse, urllib.request
from huggingface_hub import snapshot_download
target = sys.argv[1]
token = None
secret_uri = os.environ.get("STAGE_TOKEN_SECRET_URI")
if secret_uri:
    query = urllib.parse.urlencode({"api-version": "2018-02-01", "resource": "https://vault.azure.net", "client_id": os.environ["STAGE_IDENTITY_CLIENT_ID"]})
    request = urllib.request.Request("http://169.254.169.254/metadata/identity/oauth2/token?" + query, headers={"Metadata": "true"})
    access = json.load(urllib.request.urlopen(request, timeout=30))["access_token"]
    request = urllib.request.Request(secret_uri + "?api-version=7.4", headers={"Authorization": "Bearer " + access})
    token = json.load(urllib.request.urlopen(request, timeout=30))["value"]
model, revision = os.environ["STAGE_MODEL"], os.environ["STAGE_REVISION"]
print(f"staging {model}@{revision} into {target}", flush=True)
snapshot_download(repo_id=model, revision=revision, local_dir=target, token=token, ignore_patterns=["original/*"])
with open(os.path.join(target, "staged-from.json"), "w") as marker:
    json.dump({"model": model, "revision": revision}, marker)
print("staged:", sorted(os.listdir(target)), flush=True)
""".strip()


def job_body(props: Mapping[str, Any]) -> dict[str, Any]:
    """The command job (ARM ``workspaces/jobs``, ``jobType: Command``) that stages the weights."""
    environment = {
        "STAGE_MODEL": props["model"],
        "STAGE_REVISION": props["revision"],
        "STAGE_SCRIPT": STAGE_SCRIPT,
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    properties: dict[str, Any] = {
        "jobType": "Command",
        "displayName": f"Stage {props['model']}@{asset_version(props['revision'])}",
        "experimentName": "model-weights",
        "description": f"Copies {props['model']} at revision {props['revision']} into the workspace",
        # exec form through bash: the script travels in an environment variable, so no quoting
        # of its text is needed, and ${{outputs.weights}} is AzureML's placeholder for the folder.
        "command": 'python3 -c "$STAGE_SCRIPT" ${{outputs.' + OUTPUT + "}}",
        "environmentId": props["environment_id"],
        "environmentVariables": environment,
        "outputs": {
            OUTPUT: {
                "jobOutputType": "uri_folder",
                "mode": "ReadWriteMount",
                "uri": output_uri(props["model"], props["revision"]),
            }
        },
        "limits": {"jobLimitsType": "Command", "timeout": f"PT{STAGING_TIMEOUT_SECONDS}S"},
        "tags": dict(props.get("tags") or {}),
    }
    client_id = props.get("identity_client_id")
    secret_uri = props.get("token_secret_uri")
    if secret_uri and client_id:
        # Serverless compute has no system-assigned identity; a user-assigned one attached to the
        # workspace is the only one that can read Key Vault (how-to-use-serverless-compute.md).
        properties["identity"] = {"identityType": "Managed", "clientId": client_id}
        environment["STAGE_TOKEN_SECRET_URI"] = secret_uri
        environment["STAGE_IDENTITY_CLIENT_ID"] = client_id
    return {"properties": properties}


def model_version_body(props: Mapping[str, Any], job: str | None) -> dict[str, Any]:
    """The model asset version (ARM ``workspaces/models/versions``) that points at the folder."""
    properties: dict[str, Any] = {
        "modelType": "custom_model",
        "modelUri": output_uri(props["model"], props["revision"]),
        "description": f"{props['model']} at Hugging Face revision {props['revision']}",
        "properties": {
            "huggingFaceModel": props["model"],
            "huggingFaceRevision": props["revision"],
        },
        "tags": dict(props.get("tags") or {}),
    }
    if job:
        properties["jobName"] = job
    return {"properties": properties}


def _say(message: str) -> None:
    # A dynamic provider has no connection to the engine's log; the engine shows what its plugins
    # write to stderr.
    print(f"model weights: {message}", file=sys.stderr, flush=True)


class StagingError(Exception):
    """A staging job that ended without the weights."""


class ModelWeightsProvider(pulumi.dynamic.ResourceProvider):
    """Reuse the model version, or run the staging job and register it (see the module docstring).

    ``client_factory`` and ``clock`` exist for the tests (a loopback fake ARM, no real sleeping);
    the provider holds no credential, because Pulumi stores a serialized copy of it in the state.
    """

    def __init__(
        self,
        client_factory: Callable[[], ArmClient] | None = None,
        poll_seconds: float = POLL_SECONDS,
        timeout_seconds: float = STAGING_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        super().__init__()
        self._client_factory = client_factory
        self._poll = poll_seconds
        self._timeout = timeout_seconds
        self._clock = clock
        self._sleep = sleep

    def _client(self) -> ArmClient:
        return self._client_factory() if self._client_factory is not None else ArmClient()

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.CheckResult:
        failures = arm_id_failures(
            news, "workspace_id", WORKSPACE_ID_PATTERN, "an AzureML workspace's ARM id"
        )
        revision = news.get("revision")
        if not (isinstance(revision, str) and re.fullmatch(r"[0-9a-f]{40}", revision)):
            failures.append(
                pulumi.dynamic.CheckFailure("revision", f"{revision!r} is not a 40-hex commit")
            )
        return pulumi.dynamic.CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        outs = self._stage(props)
        return pulumi.dynamic.CreateResult(id_=outs["model_version_id"], outs=outs)

    def diff(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.DiffResult:
        """Another model, revision or workspace is another asset; nothing else re-stages (a new
        image or token must not copy 16-140 GB again)."""
        replaces = [
            key
            for key in ("workspace_id", "model", "revision")
            if str(olds.get(key, "")).lower() != str(news.get(key, "")).lower()
        ]
        return pulumi.dynamic.DiffResult(
            changes=bool(replaces), replaces=replaces, delete_before_replace=False
        )

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        """`pulumi refresh`: the asset is gone when its version is."""
        found = self._client().get(id_, STAGING_API_VERSION)
        return pulumi.dynamic.ReadResult(id_=id_ if found else "", outs=props if found else {})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Keep the asset: versions are immutable records that other stacks in the workspace, and
        deployments mid-rollout, may still use; the workspace's deletion removes them."""
        _say(f"leaving {_id} in the workspace (model versions are kept, not deleted)")

    # --- staging ---------------------------------------------------------------------------------

    def _stage(self, props: Mapping[str, Any]) -> dict[str, Any]:
        client = self._client()
        workspace_id, model, revision = props["workspace_id"], props["model"], props["revision"]
        version_id = model_version_id(workspace_id, model, revision)
        outs = {
            **props,
            "model_version_id": version_id,
            "weights_uri": output_uri(model, revision),
        }
        if client.get(version_id, STAGING_API_VERSION) is not None:
            _say(f"{model}@{revision} is already staged as {version_id}; no job needed")
            return {**outs, "job_name": ""}
        job = self._run_job(client, props)
        client.put(version_id, STAGING_API_VERSION, model_version_body(props, job))
        _say(f"registered {version_id}")
        return {**outs, "job_name": job}

    def _run_job(self, client: ArmClient, props: Mapping[str, Any]) -> str:
        """Find this model and revision's job, or submit the next attempt; wait for it."""
        workspace_id = props["workspace_id"]
        for attempt in range(1, MAX_ATTEMPTS + 1):
            name = job_name(props["model"], props["revision"], attempt)
            job_id = f"{workspace_id}/jobs/{name}"
            job = client.get(job_id, STAGING_API_VERSION)
            if job is not None and _status(job) in _FAILED:
                continue  # an earlier `pulumi up` saw it fail; this one tries again
            if job is None:
                _say(f"submitting {name} to stage {props['model']}@{props['revision']}")
                client.put(job_id, STAGING_API_VERSION, job_body(props))
            else:
                _say(f"found {name} ({_status(job)}) from an earlier run; reusing it")
            self._wait(client, job_id, name, props)
            return name
        raise StagingError(
            f"{MAX_ATTEMPTS} staging jobs for {props['model']}@{props['revision']} have failed; "
            f"read the last one's log (`az ml job stream --name "
            f"{job_name(props['model'], props['revision'], MAX_ATTEMPTS)}`) and fix the cause"
        )

    def _wait(self, client: ArmClient, job_id: str, name: str, props: Mapping[str, Any]) -> None:
        """Poll the job until it ends, bounded by the staging timeout, logging each state change."""
        started = self._clock()
        last = ""
        while True:
            job = client.get(job_id, STAGING_API_VERSION)
            if job is None:
                raise StagingError(f"staging job {name} disappeared from the workspace")
            status = _status(job)
            elapsed = int(self._clock() - started)
            if status != last:
                _say(f"{name}: {status} after {elapsed} s")
                last = status
            if status in _SUCCEEDED:
                return
            if status in _FAILED:
                raise StagingError(_failure_message(job, name, status, props))
            if elapsed + self._poll > self._timeout:
                raise StagingError(
                    f"staging job {name} is still {status} after {elapsed} s (limit "
                    f"{int(self._timeout)} s); it keeps running in the workspace, and the next "
                    f"`pulumi up` waits for it again. {_where_to_look(job, name, props)}"
                )
            self._sleep(self._poll)


def _status(job: Mapping[str, Any]) -> str:
    return str((job.get("properties") or {}).get("status") or "Unknown")


def _where_to_look(job: Mapping[str, Any], name: str, props: Mapping[str, Any]) -> str:
    services = (job.get("properties") or {}).get("services") or {}
    studio = (services.get("Studio") or {}).get("endpoint")
    parts = re.match(
        r"/subscriptions/[^/]+/resourceGroups/([^/]+)/.*/workspaces/([^/]+)",
        str(props["workspace_id"]),
        re.IGNORECASE,
    )
    group, workspace = parts.groups() if parts else ("<resource group>", "<workspace>")
    where = f"Logs: `az ml job stream --name {name} --resource-group {group} --workspace-name {workspace}`"
    return f"{where}, or {studio}" if studio else where


def _failure_message(
    job: Mapping[str, Any], name: str, status: str, props: Mapping[str, Any]
) -> str:
    properties = job.get("properties") or {}
    error = properties.get("error") or {}
    reason = error.get("message") if isinstance(error, dict) else None
    detail = f": {reason}" if reason else ""
    return (
        f"staging job {name} for {props['model']}@{props['revision']} ended {status}{detail}. "
        f"{_where_to_look(job, name, props)}. Fix the cause (a gated model needs "
        "huggingFaceToken; the revision must exist) and run `pulumi up` again: it submits a new "
        "attempt."
    )


@dataclass(frozen=True)
class ModelWeightsArgs:
    """What to stage where.

    ``environment_id`` is the vLLM environment version the endpoint serves with: its image already
    has ``huggingface_hub`` and sits in the workspace registry, which the managed network reaches.
    ``identity_client_id`` and ``token_secret_uri`` come together, for gated models: the
    user-assigned identity (attached to the workspace) that reads the token from Key Vault.
    """

    workspace_id: pulumi.Input[str]
    model: str
    revision: str
    environment_id: pulumi.Input[str]
    tags: Mapping[str, str] | None = None
    identity_client_id: pulumi.Input[str] | None = None
    token_secret_uri: pulumi.Input[str] | None = None


class ModelWeights(pulumi.dynamic.Resource, module="model_weights", name="ModelWeights"):
    """One model at one revision, staged in the workspace; ``model_version_id`` is what
    deployments reference (known before staging: it is derived from the model and revision)."""

    model_version_id: pulumi.Output[str]
    weights_uri: pulumi.Output[str]
    job_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: ModelWeightsArgs, opts: pulumi.ResourceOptions | None = None
    ):
        workspace_id = pulumi.Output.from_input(args.workspace_id)
        super().__init__(
            ModelWeightsProvider(),
            name,
            {
                "workspace_id": workspace_id,
                "model": args.model,
                "revision": args.revision,
                "environment_id": args.environment_id,
                "tags": dict(args.tags) if args.tags is not None else None,
                "identity_client_id": args.identity_client_id,
                "token_secret_uri": args.token_secret_uri,
                "model_version_id": workspace_id.apply(
                    lambda workspace: model_version_id(workspace, args.model, args.revision)
                ),
                "weights_uri": output_uri(args.model, args.revision),
                "job_name": None,
            },
            opts,
        )


__all__ = ["ArmError", "ModelWeights", "ModelWeightsArgs", "ModelWeightsProvider", "StagingError"]

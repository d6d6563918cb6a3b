"""How a staged model is named in the workspace: the asset, its version, the folder the staging
job writes, the job's name and where deployments mount it. One place, read by the program
(components/model_weights.py, components/endpoint.py) and by `make verify`, which needs no Pulumi
(docs/adr/0030-staged-weights.md)."""

from __future__ import annotations

import hashlib

# The workspace's default blob datastore, where the staging job writes the weights.
DATASTORE = "workspaceblobstore"
# Where a deployment with staged weights finds them (its modelMountPath, and SERVE_MODEL_DIR).
MODEL_MOUNT_PATH = "/models"
JOB_PREFIX = "stage-weights-"


def asset_name(model: str) -> str:
    """The model asset's name: the Hugging Face id with '/' spelled '--' (asset names take letters,
    digits, '-', '_' and '.'), so the workspace shows where it came from."""
    return model.replace("/", "--")


def asset_version(revision: str) -> str:
    """The asset version: the first 12 hex digits of the commit, which name it as well as git
    short SHAs do, so a new revision is a new version."""
    return revision[:12].lower()


def weights_folder(model: str, revision: str) -> str:
    """The datastore path the job writes, one folder per model and revision."""
    return f"model-weights/{asset_name(model)}/{asset_version(revision)}/"


def output_uri(model: str, revision: str) -> str:
    """Where the job writes the weights, as an azureml:// URI of the blob datastore."""
    return f"azureml://datastores/{DATASTORE}/paths/{weights_folder(model, revision)}"


def job_stem(model: str, revision: str) -> str:
    """Every staging job of one model@revision starts with this; the attempt number follows."""
    digest = hashlib.sha256(f"{model}@{revision}".encode()).hexdigest()[:16]
    return f"{JOB_PREFIX}{digest}-"


def job_name(model: str, revision: str, attempt: int) -> str:
    """A job name derived from what it stages, so a second `pulumi up` finds the first one's job."""
    return f"{job_stem(model, revision)}{attempt}"


def model_version_id(workspace_id: str, model: str, revision: str) -> str:
    return f"{workspace_id}/models/{asset_name(model)}/versions/{asset_version(revision)}"

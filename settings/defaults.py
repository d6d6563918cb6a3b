"""Defaults for every configuration key, each with the reason it is the default.

Secure by default: the safe value needs no configuration, the unsafe one a deliberate key.
``python -m tools.schema`` writes them into ``Pulumi.yaml``'s ``config:`` block and
docs/configuration.md, with the rows of the settings table (settings/schema*.py).
"""

from __future__ import annotations

from typing import Any

from lib.catalog import HUGGING_FACE_FQDNS, MAX_REQUEST_TIMEOUT_SECONDS

DEFAULT_MODEL = "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"
# A commit of DEFAULT_MODEL's repository on the Hub, so every instance and every `pulumi up` serve
# the same weights. Found with the search tools, not read from the live Hub: it is the commit that
# changed the model's chat template (huggingface.co/deepseek-ai/DeepSeek-R1-Distill-Llama-8B/commit/
# 74fbf131a939963dd1e244389bb61ad0d0440a4d, quoted in a public research script), and the snapshot
# directory of this model in several public repositories' Hugging Face caches. `make verify`
# checks it against the Hub's API (docs/models.md, "Model and revision"). Only the default model
# has a default revision: any other model must name its own.
DEFAULT_REVISION = "74fbf131a939963dd1e244389bb61ad0d0440a4d"
DEFAULT_INSTANCE_TYPE = "Standard_NC24ads_A100_v4"

# vllm/vllm-openai:v0.31.0-cu129, linux/amd64 manifest. Pinned by digest so two `pulumi up` runs
# build on the same bytes. The CUDA 12.9 build, not the default CUDA 13.0 one: CUDA 13 needs an
# NVIDIA driver >= 580 on the host, and AzureML does not promise that on its GPU hosts, while
# CUDA 12.x runs on any 12.x-era driver through minor-version compatibility.
# Bump deliberately: README, "Bumping vLLM".
DEFAULT_BASE_IMAGE = (
    "docker.io/vllm/vllm-openai@sha256:"
    "b18abb2df97b8f798e81862bd93f872ea18613372e2c3adc0cc2ac21e66ac12f"
)
DEFAULT_BASE_IMAGE_TAG = "v0.31.0-cu129"

DEFAULT_LIVENESS_PROBE = {
    # A live vLLM answers /health in milliseconds; liveness restarts only a server that stopped
    # answering. The delay matches the readiness budget below so that a slow first load is never
    # killed by liveness while readiness is still (correctly) waiting.
    "initialDelaySeconds": 600,
    "periodSeconds": 10,
    "timeoutSeconds": 5,
    "failureThreshold": 42,
    "successThreshold": 1,
}
DEFAULT_READINESS_PROBE = {
    # vLLM answers /health only once the weights are loaded. A cold start pulls ~10 GB of image,
    # downloads ~16 GB of weights and loads them: 600 s delay + 42 x 10 s = 17 minutes before
    # AzureML gives up, which survives a 15-minute cold start with two minutes to spare, without
    # relying on startupProbe. (A container that never becomes ready costs 17 minutes to fail.)
    "initialDelaySeconds": 600,
    "periodSeconds": 10,
    "timeoutSeconds": 5,
    "failureThreshold": 42,
    "successThreshold": 1,
}
DEFAULT_VLLM = {
    # 16 sequences per GPU keeps per-request latency steady for long reasoning outputs on one A100
    # 80 GB; the KV cache (~128 KiB/token for an 8B Llama) holds far more than 16 x 32k tokens.
    "maxNumSeqs": 16,
    # DeepSeek recommends 32k context for the R1 distills.
    "maxModelLen": 32768,
    "gpuMemoryUtilization": 0.9,
    # None: the model's own parser from the catalog (lib/models.py), none for models that do not
    # reason; "" turns it off, a name sets it.
    "reasoningParser": None,
    # None: one shard per GPU of the instance type (lib/fit.py checks what vLLM accepts).
    "tensorParallelSize": None,
    "extraArgs": [],
}
DEFAULT_AUTOSCALE = {
    "enabled": False,
    "minInstances": 1,
    "defaultInstances": 1,
    "maxInstances": 1,
    # What the rules read (docs/adr/0026): "vllm", the in-container publisher's queue and batch
    # figures (needs publishMetrics), or "platform", AzureML's own metrics alone, for
    # subscriptions or regions where custom metrics cannot be published.
    "metricsMode": "vllm",
    # Per-instance thresholds. None: derived from the deployment's vllm.maxNumSeqs (S) by
    # lib/autoscale_rules.default_thresholds: waiting > S/16 (at least 1), running >= 0.85 S,
    # scale in below 0.5 S running, or (platform mode) below 0.75 S requests a minute.
    "scaleOutWaitingRequests": None,
    "scaleOutRunningRequests": None,
    # Scale out when the deployment turns requests away: AzureML answers 429 once 2 x
    # maxConcurrentRequestsPerInstance requests per instance are in flight, the most direct sign
    # that capacity ran out. 429s per minute over the scale-out window; 0 turns the rule off.
    "scaleOutRejectedPerMinute": 1,
    "scaleInRunningRequests": None,
    "scaleInRequestsPerMinute": None,
    "scaleOutWindowMinutes": 5,
    # Twenty minutes of half-empty batches before an instance goes: a cold start costs more than
    # twenty minutes of a spare instance.
    "scaleInWindowMinutes": 20,
    "scaleOutStep": 1,
    # Requests are being turned away now and new instances serve only after a cold start: add
    # enough at once rather than one per cooldown (tools/autoscale_sim, docs/autoscale.md).
    "scaleOutRejectedStep": 3,
    "scaleInStep": 1,
    # Longer than a 12-minute GPU cold start (provisioning, image pull, weight download, load):
    # a shorter scale-out cooldown adds instances while the previous ones are still starting.
    "scaleOutCooldownMinutes": 15,
    # Short: Azure applies the last action's cooldown in both directions, so a long scale-in
    # cooldown would hold back the next scale-out.
    "scaleInCooldownMinutes": 10,
    "timeZone": "UTC",
    "profiles": [],
    "notifyEmails": [],
    "notifyWebhooks": [],
}
# One recurrence profile of an autoscale setting; its name defaults to profile-<index>.
DEFAULT_PROFILE = {
    # Working days: the usual reason for a schedule is business hours.
    "days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
    # No default start: a schedule without a time says nothing.
    "start": "",
    "minInstances": 1,
    "defaultInstances": 1,
    "maxInstances": 1,
}
DEFAULT_DEPLOYMENT = {
    "name": "blue",
    "model": DEFAULT_MODEL,
    # None: DEFAULT_REVISION for DEFAULT_MODEL; any other model must pin one (settings refuse it).
    "revision": None,
    # Facts of a model outside the catalog (lib/models.py FACT_KEYS), read from its config.json.
    "modelFacts": None,
    "instanceType": DEFAULT_INSTANCE_TYPE,
    "instanceCount": 1,
    "traffic": 100,
    "mirrorTraffic": 0,
    "vllm": DEFAULT_VLLM,
    # None: equal to vllm.maxNumSeqs (see settings/parse_deployment.py).
    "maxConcurrentRequestsPerInstance": None,
    "allowConcurrencyMismatch": False,
    # The service maximum: reasoning answers run for thousands of tokens.
    "requestTimeoutSeconds": MAX_REQUEST_TIMEOUT_SECONDS,
    "livenessProbe": DEFAULT_LIVENESS_PROBE,
    "readinessProbe": DEFAULT_READINESS_PROBE,
    "autoscale": DEFAULT_AUTOSCALE,
    # The in-container publisher of vLLM's load to Azure Monitor (docker/metrics_publisher.py):
    # what metricsMode "vllm" and the dashboard read. Every publishIntervalSeconds; Azure Monitor
    # stores one-minute grains and accepts points up to 20 minutes old.
    "publishMetrics": True,
    "publishIntervalSeconds": 60,
}

# Project keys (without the "vllm-azureml:" namespace) and their defaults.
DEFAULTS: dict[str, Any] = {
    "resourceGroupName": "",
    "nameSalt": "",
    "owner": "unassigned",
    "costCenter": "unassigned",
    "tags": {},
    "protectResources": True,
    "keyVaultPurgeProtection": True,
    "keyVaultRetentionDays": 90,
    "logRetentionDays": 30,
    "registrySku": "Premium",
    "publicNetworkAccess": "Enabled",
    "managedNetwork": "AllowOnlyApprovedOutbound",
    # Standard, not the cheaper Basic: Basic caps all outbound traffic at 250 Mbps, so two
    # instances downloading ~16 GB of weights at once outlast the 15-minute probe budget.
    "firewallSku": "Standard",
    # Who runs `pulumi up` for this stack: a person (User) or CI (ServicePrincipal). Used when the
    # deployer is granted Key Vault Secrets Officer to manage the stack's secrets.
    "deployerPrincipalType": "User",
    "outboundFqdns": list(HUGGING_FACE_FQDNS),
    "authMode": "Key",
    "endpointPublicNetworkAccess": "",
    "endpointName": "",
    "baseImage": DEFAULT_BASE_IMAGE,
    "baseImageSource": "import",
    "dockerHubCredentialSet": "",
    # Docker Hub credentials for the base image import (docs/adr/0023): a user and an access
    # token, the token a secret. Empty: the import is anonymous, and rate-limited.
    "dockerHubUsername": "",
    "dockerHubToken": "",
    "huggingFaceToken": "",
    # Off: the endpoint's own auth is the gate. Set, it is defence in depth for vLLM's /v1 routes
    # and needs authMode Key with the endpoint key set to the same value (docs/adr/0010).
    "vllmApiKey": "",
    # "": derived from the first deployment's model (settings/parse_models.py). Apps send this as
    # `model`, whatever each deployment serves (docs/adr/0032-one-served-model-name.md).
    "servedModelName": "",
    # workspace: weights staged once per region as a model asset; serving needs no Hugging Face
    # egress or token (docs/adr/0030-staged-weights.md). The safe value is the default.
    "weightsSource": "workspace",
    "deployments": [DEFAULT_DEPLOYMENT],
}
# Keys that only `pulumi config set --secret` may set: refused in plaintext, never echoed.
SECRET_KEYS = frozenset({"huggingFaceToken", "vllmApiKey", "dockerHubToken"})

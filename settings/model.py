"""The settings model: what one stack deploys, as frozen typed dataclasses.

Choices are ``Literal`` types (from lib/catalog.py for Azure's own choices), so the type checker
refuses a comparison such as ``settings.auth_mode == "key"`` that could never be true.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from lib.autoscale_rules import MetricsMode
from lib.catalog import (
    AuthMode,
    FirewallSku,
    ManagedNetworkMode,
    NetworkAccess,
    PrincipalType,
    RegistrySku,
    Weekday,
)
from lib.fit import FitReport

PROJECT = "vllm-azureml"
LOCATION_KEY = "azure-native:location"

# How the vLLM base image reaches the stack's registry: ACR importImage, or an ACR artifact cache
# rule (which needs a Docker Hub credential set).
BaseImageSource = Literal["import", "cacheRule"]

# Where deployments get their weights: staged once as a workspace model asset, or the Hub at every
# start (docs/adr/0030-staged-weights.md).
WeightsSource = Literal["workspace", "huggingface"]
WEIGHTS_SOURCES: tuple[WeightsSource, ...] = get_args(WeightsSource)
BASE_IMAGE_SOURCES: tuple[BaseImageSource, ...] = get_args(BaseImageSource)

# Tags every resource gets from the stack's settings (see Settings.tags), and where each comes from.
PROJECT_TAGS = {
    "project": "the project name",
    "stack": "the stack name",
    "region": LOCATION_KEY,
    "owner": f"{PROJECT}:owner",
    "cost-center": f"{PROJECT}:costCenter",
    "managed-by": "always pulumi",
}


@dataclass(frozen=True)
class ProbeSettings:
    """One AzureML probe on vLLM's /health route, in seconds (rendered as ISO 8601 later)."""

    initial_delay_seconds: int
    period_seconds: int
    timeout_seconds: int
    failure_threshold: int
    success_threshold: int

    @property
    def budget_seconds(self) -> int:
        """How long after start the probe gives up on a container that never answers."""
        return self.initial_delay_seconds + self.period_seconds * self.failure_threshold


@dataclass(frozen=True)
class VllmSettings:
    """Options of `vllm serve` for one deployment."""

    max_num_seqs: int
    max_model_len: int
    gpu_memory_utilization: float
    # Resolved: the model's parser unless the stack set one; "" for none.
    reasoning_parser: str
    extra_args: tuple[str, ...]
    # As the stack gave it; None means one shard per GPU (the resolved value is in the fit).
    tensor_parallel_size: int | None = None


@dataclass(frozen=True)
class RecurrenceProfile:
    """An autoscale profile that starts every `days` at `start` (HH:MM) in the setting's time zone."""

    name: str
    days: tuple[Weekday, ...]
    start_hour: int
    start_minute: int
    min_instances: int
    default_instances: int
    max_instances: int


@dataclass(frozen=True)
class AutoscaleSettings:
    """Azure Monitor autoscale for one deployment."""

    enabled: bool
    min_instances: int
    default_instances: int
    max_instances: int
    # Which metrics the rules read (lib/autoscale_rules.py, docs/adr/0026): vLLM's own load as
    # the publisher sends it, or AzureML's platform metrics alone.
    metrics_mode: MetricsMode
    # Per-instance thresholds, resolved from the deployment's maxNumSeqs where the stack file
    # leaves them out.
    scale_out_waiting_requests: float
    scale_out_running_requests: float
    scale_out_rejected_per_minute: int
    scale_in_running_requests: float
    scale_in_requests_per_minute: float
    scale_out_window_minutes: int
    scale_in_window_minutes: int
    scale_out_step: int
    scale_out_rejected_step: int
    scale_in_step: int
    scale_out_cooldown_minutes: int
    scale_in_cooldown_minutes: int
    time_zone: str
    profiles: tuple[RecurrenceProfile, ...]
    notify_emails: tuple[str, ...]
    notify_webhooks: tuple[str, ...]


@dataclass(frozen=True)
class DeploymentSettings:
    """One AzureML online deployment: a model served by vLLM on `instance_count` GPU instances."""

    name: str
    model: str
    instance_type: str
    instance_count: int
    traffic: int
    mirror_traffic: int
    vllm: VllmSettings
    max_concurrent_requests_per_instance: int
    request_timeout_seconds: int
    liveness_probe: ProbeSettings
    readiness_probe: ProbeSettings
    autoscale: AutoscaleSettings
    # The in-container publisher of vLLM's load to Azure Monitor (docker/metrics_publisher.py).
    publish_metrics: bool
    publish_interval_seconds: int
    # The pinned commit of `model` (40 hex).
    revision: str = ""
    # The fit of the model on the instance type's GPUs (lib/fit.py); None only while invalid.
    fit: FitReport | None = None

    @property
    def tensor_parallel_size(self) -> int:
        """vLLM's --tensor-parallel-size: the GPU count unless the stack chose otherwise."""
        return self.fit.tensor_parallel_size if self.fit is not None else 1

    @property
    def dtype(self) -> str:
        """vLLM's --dtype: the model's, float16 on GPUs without bfloat16."""
        return self.fit.dtype if self.fit is not None else "auto"


@dataclass(frozen=True)
class Settings:
    """Everything one stack deploys, validated."""

    project: str
    stack: str
    location: str
    resource_group_name: str | None
    name_salt: str
    owner: str
    cost_center: str
    extra_tags: Mapping[str, str]
    protect_resources: bool
    key_vault_purge_protection: bool
    key_vault_retention_days: int
    log_retention_days: int
    registry_sku: RegistrySku
    public_network_access: NetworkAccess
    managed_network: ManagedNetworkMode
    firewall_sku: FirewallSku
    deployer_principal_type: PrincipalType
    outbound_fqdns: tuple[str, ...]
    auth_mode: AuthMode
    endpoint_public_network_access: NetworkAccess
    endpoint_name: str | None
    base_image: str
    base_image_source: BaseImageSource
    docker_hub_credential_set: str | None
    # The Docker Hub user for the base import; the token is docker_hub_token, a secret.
    docker_hub_username: str | None
    # A Pulumi secret (Output) at run time, a plain string in unit tests; never logged.
    hugging_face_token: Any = field(repr=False, default=None)
    # vLLM's API key (docs/adr/0010), a Pulumi secret like the token; None when not configured.
    vllm_api_key: Any = field(repr=False, default=None)
    # The Docker Hub access token (docs/adr/0023), a Pulumi secret; None when not configured.
    docker_hub_token: Any = field(repr=False, default=None)
    deployments: tuple[DeploymentSettings, ...] = ()
    # What apps send as `model`: every deployment answers to it (docs/models.md).
    served_model_name: str = ""
    # workspace (weights staged as a model asset) or huggingface (downloaded at every start).
    weights_source: WeightsSource = "workspace"

    @property
    def tags(self) -> dict[str, str]:
        """Tags for every taggable resource: who owns it, who pays, and which stack made it."""
        return {
            **self.extra_tags,
            "project": self.project,
            "stack": self.stack,
            "region": self.location,
            "owner": self.owner,
            "cost-center": self.cost_center,
            "managed-by": "pulumi",
        }

    @property
    def autoscaled_deployments(self) -> tuple[DeploymentSettings, ...]:
        return tuple(d for d in self.deployments if d.autoscale.enabled)

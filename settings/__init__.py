"""Stack settings: every configuration key is read here, once, into frozen typed settings.

Nothing else in the program calls ``pulumi.Config()``. :func:`parse_settings` is pure Python (no
Pulumi runtime), so validation is tested as plain pytest, and it collects every problem before it
raises, so a user fixes a stack file in one pass instead of one error per ``pulumi up``.

The defaults live in :data:`DEFAULTS`; ``Pulumi.yaml`` declares the same defaults for the CLI and a
test keeps the two in step.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

PROJECT = "vllm-azureml"
LOCATION_KEY = "azure-native:location"

DEFAULT_MODEL = "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"
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

# Public Azure regions (ARM `location` spellings). A stack file naming a region outside this list is
# almost always a typo ("Sweden Central", "eastus-2"); ARM would only say so minutes into `pulumi up`.
AZURE_REGIONS = frozenset(
    [
        "australiacentral",
        "australiacentral2",
        "australiaeast",
        "australiasoutheast",
        "austriaeast",
        "belgiumcentral",
        "brazilsouth",
        "brazilsoutheast",
        "canadacentral",
        "canadaeast",
        "centralindia",
        "centralus",
        "chilecentral",
        "eastasia",
        "eastus",
        "eastus2",
        "francecentral",
        "francesouth",
        "germanynorth",
        "germanywestcentral",
        "indonesiacentral",
        "israelcentral",
        "italynorth",
        "japaneast",
        "japanwest",
        "jioindiacentral",
        "jioindiawest",
        "koreacentral",
        "koreasouth",
        "malaysiawest",
        "mexicocentral",
        "newzealandnorth",
        "northcentralus",
        "northeurope",
        "norwayeast",
        "norwaywest",
        "polandcentral",
        "qatarcentral",
        "southafricanorth",
        "southafricawest",
        "southcentralus",
        "southindia",
        "southeastasia",
        "spaincentral",
        "swedencentral",
        "swedensouth",
        "switzerlandnorth",
        "switzerlandwest",
        "uaecentral",
        "uaenorth",
        "uksouth",
        "ukwest",
        "westcentralus",
        "westeurope",
        "westindia",
        "westus",
        "westus2",
        "westus3",
    ]
)

# GPU sizes that AzureML managed online deployments accept (reference-managed-online-endpoints-
# vm-sku-list). vLLM needs a CUDA GPU, so CPU sizes are refused here rather than by a crash-looping
# container an hour into `pulumi up`.
GPU_INSTANCE_TYPES = frozenset(
    {
        "Standard_NC4as_T4_v3",
        "Standard_NC8as_T4_v3",
        "Standard_NC16as_T4_v3",
        "Standard_NC64as_T4_v3",
        "Standard_NC6s_v3",
        "Standard_NC12s_v3",
        "Standard_NC24s_v3",
        "Standard_NC24ads_A100_v4",
        "Standard_NC48ads_A100_v4",
        "Standard_NC96ads_A100_v4",
        "Standard_ND96asr_v4",
        "Standard_ND96amsr_A100_v4",
        "Standard_NC40ads_H100_v5",
        "Standard_NC80adis_H100_v5",
        "Standard_ND96isr_H100_v5",
    }
)

AUTH_MODES = ("Key", "AADToken")
NETWORK_ACCESS = ("Enabled", "Disabled")
MANAGED_NETWORK_MODES = ("Disabled", "AllowInternetOutbound", "AllowOnlyApprovedOutbound")
REGISTRY_SKUS = ("Basic", "Standard", "Premium")
# Azure Firewall tiers AzureML offers for a managed network's FQDN rules (Premium is not offered).
FIREWALL_SKUS = ("Basic", "Standard")
# Entra ID object types ARM accepts as a role assignment's principalType; ARM refuses a type that
# does not match the principal (UnmatchedPrincipalType).
PRINCIPAL_TYPES = ("User", "ServicePrincipal", "Group")
BASE_IMAGE_SOURCES = ("import", "cacheRule")
LATENCY_METRICS = (
    "RequestLatency_P50",
    "RequestLatency_P90",
    "RequestLatency_P95",
    "RequestLatency_P99",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Windows time zone ids, the spelling Azure Monitor autoscale recurrences take (not IANA names):
# the list the autoscale API documents for RecurrentSchedule.timeZone (Microsoft.Insights
# autoscalesettings schema), west to east.
AUTOSCALE_TIME_ZONES = frozenset(
    {
        "Dateline Standard Time",
        "UTC-11",
        "Hawaiian Standard Time",
        "Alaskan Standard Time",
        "Pacific Standard Time (Mexico)",
        "Pacific Standard Time",
        "US Mountain Standard Time",
        "Mountain Standard Time (Mexico)",
        "Mountain Standard Time",
        "Central America Standard Time",
        "Central Standard Time",
        "Central Standard Time (Mexico)",
        "Canada Central Standard Time",
        "SA Pacific Standard Time",
        "Eastern Standard Time",
        "US Eastern Standard Time",
        "Venezuela Standard Time",
        "Paraguay Standard Time",
        "Atlantic Standard Time",
        "Central Brazilian Standard Time",
        "SA Western Standard Time",
        "Pacific SA Standard Time",
        "Newfoundland Standard Time",
        "E. South America Standard Time",
        "Argentina Standard Time",
        "SA Eastern Standard Time",
        "Greenland Standard Time",
        "Montevideo Standard Time",
        "Bahia Standard Time",
        "UTC-02",
        "Mid-Atlantic Standard Time",
        "Azores Standard Time",
        "Cape Verde Standard Time",
        "Morocco Standard Time",
        "UTC",
        "GMT Standard Time",
        "Greenwich Standard Time",
        "W. Europe Standard Time",
        "Central Europe Standard Time",
        "Romance Standard Time",
        "Central European Standard Time",
        "W. Central Africa Standard Time",
        "Namibia Standard Time",
        "Jordan Standard Time",
        "GTB Standard Time",
        "Middle East Standard Time",
        "Egypt Standard Time",
        "Syria Standard Time",
        "E. Europe Standard Time",
        "South Africa Standard Time",
        "FLE Standard Time",
        "Turkey Standard Time",
        "Israel Standard Time",
        "Kaliningrad Standard Time",
        "Libya Standard Time",
        "Arabic Standard Time",
        "Arab Standard Time",
        "Belarus Standard Time",
        "Russian Standard Time",
        "E. Africa Standard Time",
        "Iran Standard Time",
        "Arabian Standard Time",
        "Azerbaijan Standard Time",
        "Russia Time Zone 3",
        "Mauritius Standard Time",
        "Georgian Standard Time",
        "Caucasus Standard Time",
        "Afghanistan Standard Time",
        "West Asia Standard Time",
        "Ekaterinburg Standard Time",
        "Pakistan Standard Time",
        "India Standard Time",
        "Sri Lanka Standard Time",
        "Nepal Standard Time",
        "Central Asia Standard Time",
        "Bangladesh Standard Time",
        "N. Central Asia Standard Time",
        "Myanmar Standard Time",
        "SE Asia Standard Time",
        "North Asia Standard Time",
        "China Standard Time",
        "North Asia East Standard Time",
        "Singapore Standard Time",
        "W. Australia Standard Time",
        "Taipei Standard Time",
        "Ulaanbaatar Standard Time",
        "Tokyo Standard Time",
        "Korea Standard Time",
        "Yakutsk Standard Time",
        "Cen. Australia Standard Time",
        "AUS Central Standard Time",
        "E. Australia Standard Time",
        "AUS Eastern Standard Time",
        "West Pacific Standard Time",
        "Tasmania Standard Time",
        "Magadan Standard Time",
        "Vladivostok Standard Time",
        "Russia Time Zone 10",
        "Central Pacific Standard Time",
        "Russia Time Zone 11",
        "New Zealand Standard Time",
        "UTC+12",
        "Fiji Standard Time",
        "Kamchatka Standard Time",
        "Tonga Standard Time",
        "Samoa Standard Time",
        "Line Islands Standard Time",
    }
)

# Hosts a model download from the Hugging Face Hub reaches. Needed as FQDN outbound rules when the
# workspace's managed network only allows approved outbound traffic.
HUGGING_FACE_FQDNS = (
    "huggingface.co",
    "cdn-lfs.huggingface.co",
    "cdn-lfs-us-1.huggingface.co",
    "cdn-lfs.hf.co",
    "cdn-lfs-us-1.hf.co",
    "cas-bridge.xethub.hf.co",
    "transfer.xethub.hf.co",
)

# --- Defaults ------------------------------------------------------------------------------------

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
    "reasoningParser": "deepseek_r1",
    "extraArgs": [],
}
DEFAULT_AUTOSCALE = {
    "enabled": False,
    "minInstances": 1,
    "defaultInstances": 1,
    "maxInstances": 1,
    # Deployment-level latency percentile the scale-out rule watches.
    "latencyMetric": "RequestLatency_P90",
    # Scale out when P90 latency exceeds this many ms for the window. Reasoning answers stream for
    # tens of seconds, so "slow" means queueing, not generation: 60 s of P90 is saturation.
    "scaleOutLatencyMs": 60000,
    "scaleOutGpuPercent": 85,
    # Scale out when the deployment turns requests away: AzureML answers 429 once 2 x
    # maxConcurrentRequestsPerInstance requests per instance are in flight, the most direct sign
    # that capacity ran out. Requests answered 429 per minute, averaged over the scale-out window;
    # 0 turns the rule off.
    "scaleOutRejectedPerMinute": 1,
    "scaleInGpuPercent": 30,
    # 0 drops the latency condition from scale-in, leaving GPU utilisation alone to decide. For a
    # deployment that goes fully idle: with no requests Azure Monitor may have no latency data, and
    # a scale-in rule without data is not met (README, Autoscale, "Things to know").
    "scaleInLatencyMs": 20000,
    "scaleOutWindowMinutes": 5,
    "scaleInWindowMinutes": 30,
    "scaleOutStep": 1,
    "scaleInStep": 1,
    # A new A100 instance serves only after provisioning, a ~10 GB image pull, a ~16 GB weight
    # download and the load: 15-20 minutes. A shorter scale-out cooldown adds instances while the
    # previous ones are still starting.
    "scaleOutCooldownMinutes": 20,
    "scaleInCooldownMinutes": 30,
    "timeZone": "UTC",
    "profiles": [],
    "notifyEmails": [],
    "notifyWebhooks": [],
}
DEFAULT_DEPLOYMENT = {
    "name": "blue",
    "model": DEFAULT_MODEL,
    "instanceType": DEFAULT_INSTANCE_TYPE,
    "instanceCount": 1,
    "traffic": 100,
    "mirrorTraffic": 0,
    "vllm": DEFAULT_VLLM,
    # None: equal to vllm.maxNumSeqs (see _parse_deployment).
    "maxConcurrentRequestsPerInstance": None,
    "allowConcurrencyMismatch": False,
    "requestTimeoutSeconds": 180,
    "livenessProbe": DEFAULT_LIVENESS_PROBE,
    "readinessProbe": DEFAULT_READINESS_PROBE,
    "autoscale": DEFAULT_AUTOSCALE,
}

# Project keys (without the "vllm-azureml:" namespace) and their defaults. Pulumi.yaml mirrors this.
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
    "huggingFaceToken": "",
    "deployments": [DEFAULT_DEPLOYMENT],
}
SECRET_KEYS = frozenset({"huggingFaceToken"})


# --- Settings types ------------------------------------------------------------------------------


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
    reasoning_parser: str
    extra_args: tuple[str, ...]


@dataclass(frozen=True)
class RecurrenceProfile:
    """An autoscale profile that starts every `days` at `start` (HH:MM) in the setting's time zone."""

    name: str
    days: tuple[str, ...]
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
    latency_metric: str
    scale_out_latency_ms: int
    scale_out_gpu_percent: int
    scale_out_rejected_per_minute: int
    scale_in_gpu_percent: int
    scale_in_latency_ms: int
    scale_out_window_minutes: int
    scale_in_window_minutes: int
    scale_out_step: int
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
    registry_sku: str
    public_network_access: str
    managed_network: str
    firewall_sku: str
    deployer_principal_type: str
    outbound_fqdns: tuple[str, ...]
    auth_mode: str
    endpoint_public_network_access: str
    endpoint_name: str | None
    base_image: str
    base_image_source: str
    docker_hub_credential_set: str | None
    # A Pulumi secret (Output) at run time, a plain string in unit tests; never logged.
    hugging_face_token: Any = field(repr=False, default=None)
    deployments: tuple[DeploymentSettings, ...] = ()

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


class SettingsError(pulumi.RunError):
    """Raised with every problem found in one stack's configuration.

    A ``pulumi.RunError`` makes the Pulumi CLI print the message and exit non-zero without a Python
    traceback: bad input is the user's to fix, not a crash.
    """

    def __init__(self, stack: str, problems: Sequence[str]):
        self.stack = stack
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [
            f"Stack '{self.stack}' has {len(self.problems)} configuration "
            f"problem{'s' if len(self.problems) != 1 else ''} (Pulumi.{self.stack}.yaml):"
        ]
        lines += [f"  - {problem}" for problem in self.problems]
        lines.append("Nothing was deployed. Fix the keys above and run again.")
        return "\n".join(lines)


# --- Parsing -------------------------------------------------------------------------------------


class _Reader:
    """Reads typed values out of raw config, recording a problem instead of raising."""

    def __init__(self, stack: str):
        self.stack = stack
        self.problems: list[str] = []
        # Keys already reported: rules that combine several keys skip them, so one typo gives
        # one message, not a cascade about a value the user never wrote.
        self.invalid: set[str] = set()

    def problem(self, key: str, value: Any, allowed: str) -> None:
        shown = json.dumps(value) if not isinstance(value, str) else repr(value)
        self.problems.append(f"{key} = {shown}: {allowed}")
        self.invalid.add(key)

    def ok(self, *keys: str) -> bool:
        """Whether none of ``keys`` has been reported, so a rule combining them can run."""
        return not self.invalid.intersection(keys)

    def integer(self, key: str, value: Any, low: int, high: int, why: str = "") -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, value, f"must be a whole number from {low} to {high}{why}")
            return low
        if not low <= value <= high:
            self.problem(key, value, f"must be from {low} to {high}{why}")
        return value

    def number(self, key: str, value: Any, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(key, value, f"must be a number from {low} to {high}")
            return low
        if not low <= value <= high:
            self.problem(key, value, f"must be from {low} to {high}")
        return float(value)

    def boolean(self, key: str, value: Any) -> bool:
        if not isinstance(value, bool):
            self.problem(key, value, "must be true or false")
            return False
        return value

    def string(self, key: str, value: Any, pattern: str | None = None, rule: str = "") -> str:
        if not isinstance(value, str):
            self.problem(key, value, "must be a string" + (f" ({rule})" if rule else ""))
            return ""
        if pattern is not None and not re.fullmatch(pattern, value):
            self.problem(key, value, rule or f"must match {pattern}")
        return value

    def choice(self, key: str, value: Any, allowed: Sequence[str] | frozenset[str]) -> str:
        options = sorted(allowed) if isinstance(allowed, frozenset) else list(allowed)
        if not isinstance(value, str) or value not in allowed:
            hint = _near_miss(value, options)
            listed = ", ".join(options) if len(options) <= 12 else f"{len(options)} values"
            self.problem(key, value, f"must be one of {listed}{hint}")
            return value if isinstance(value, str) else options[0]
        return value

    def string_list(
        self, key: str, value: Any, item_pattern: str | None = None, rule: str = ""
    ) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.problem(key, value, "must be a list of strings")
            return ()
        return tuple(
            self.string(f"{key}[{index}]", item, item_pattern, rule)
            for index, item in enumerate(value)
        )

    def mapping(self, key: str, value: Any, defaults: Mapping[str, Any]) -> dict[str, Any]:
        """Merge an object over its defaults; unknown keys are problems (typos must not vanish)."""
        if not isinstance(value, dict):
            self.problem(key, value, "must be an object")
            return copy.deepcopy(dict(defaults))
        for unknown in sorted(set(value) - set(defaults)):
            hint = _near_miss(unknown, list(defaults))
            self.problems.append(
                f"{key}.{unknown}: unknown key{hint}; known keys: {', '.join(sorted(defaults))}"
            )
        merged = copy.deepcopy(dict(defaults))
        merged.update(value)
        return merged


def _near_miss(value: Any, options: Sequence[str]) -> str:
    """A "did you mean" for a value that differs from an option in case, punctuation or a typo."""
    if not isinstance(value, str):
        return ""
    folded = re.sub(r"[^a-z0-9]", "", value.lower())
    for option in options:
        if re.sub(r"[^a-z0-9]", "", option.lower()) == folded:
            return f" (did you mean {option!r}?)"
    close = difflib.get_close_matches(value, list(options), n=1, cutoff=0.8)
    return f" (did you mean {close[0]!r}?)" if close else ""


# Azure's rules for the names users may choose.
ENDPOINT_NAME_PATTERN = r"[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]"
DEPLOYMENT_NAME_PATTERN = r"[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]"
RESOURCE_GROUP_PATTERN = r"[-\w._()]{0,89}[-\w_()]"
HF_MODEL_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}"
# An ACR repository@digest or an image on Docker Hub pinned by digest: tags move, digests do not.
PINNED_IMAGE_PATTERN = (
    r"(docker\.io/)?[a-z0-9]+([._-][a-z0-9]+)*/[a-z0-9]+([._-][a-z0-9]+)*@sha256:[0-9a-f]{64}"
)
FQDN_PATTERN = r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
EMAIL_PATTERN = r"[^@\s]+@[^@\s]+\.[^@\s]+"
TAG_KEY_PATTERN = r"[^<>%&\\?/]{1,128}"
# Tags every resource gets from the stack's settings, and where each comes from.
PROJECT_TAGS = {
    "project": "the project name",
    "stack": "the stack name",
    "region": "azure-native:location",
    "owner": f"{PROJECT}:owner",
    "cost-center": f"{PROJECT}:costCenter",
    "managed-by": "always pulumi",
}


def _parse_probe(reader: _Reader, key: str, raw: Any, defaults: Mapping[str, Any]) -> ProbeSettings:
    values = reader.mapping(key, raw, defaults)
    return ProbeSettings(
        initial_delay_seconds=reader.integer(
            f"{key}.initialDelaySeconds", values["initialDelaySeconds"], 0, 3600
        ),
        period_seconds=reader.integer(f"{key}.periodSeconds", values["periodSeconds"], 1, 300),
        timeout_seconds=reader.integer(f"{key}.timeoutSeconds", values["timeoutSeconds"], 1, 300),
        failure_threshold=reader.integer(
            f"{key}.failureThreshold", values["failureThreshold"], 1, 100
        ),
        success_threshold=reader.integer(
            f"{key}.successThreshold",
            values["successThreshold"],
            1,
            1,
            " (AzureML accepts only 1 for managed deployments)",
        ),
    )


# vLLM flags that settings own: given again in extraArgs they would contradict the key (and the
# per-instance concurrency AzureML enforces is derived from maxNumSeqs).
VLLM_MANAGED_FLAGS = {
    "--max-num-seqs": "maxNumSeqs",
    "--max-model-len": "maxModelLen",
    "--gpu-memory-utilization": "gpuMemoryUtilization",
    "--reasoning-parser": "reasoningParser",
}


def _parse_vllm(reader: _Reader, key: str, raw: Any) -> VllmSettings:
    values = reader.mapping(key, raw, DEFAULT_VLLM)
    extra_args = reader.string_list(f"{key}.extraArgs", values["extraArgs"])
    for index, argument in enumerate(extra_args):
        flag = argument.split("=", 1)[0]
        if "\0" in argument:
            reader.problem(f"{key}.extraArgs[{index}]", argument, "cannot contain a NUL character")
        elif flag in VLLM_MANAGED_FLAGS:
            reader.problem(
                f"{key}.extraArgs[{index}]",
                argument,
                f"is set from {key}.{VLLM_MANAGED_FLAGS[flag]}; set it there (AzureML's "
                "concurrency and the entrypoint follow that key)",
            )
        if (
            argument in ("serve", "--model")
            or argument.startswith("--port")
            or argument.startswith("--host")
        ):
            reader.problem(
                f"{key}.extraArgs[{index}]",
                argument,
                "is set by the image (model, host and port are fixed by the entrypoint and the "
                "AzureML routes); remove it",
            )
    return VllmSettings(
        max_num_seqs=reader.integer(f"{key}.maxNumSeqs", values["maxNumSeqs"], 1, 1024),
        max_model_len=reader.integer(f"{key}.maxModelLen", values["maxModelLen"], 256, 1048576),
        gpu_memory_utilization=reader.number(
            f"{key}.gpuMemoryUtilization", values["gpuMemoryUtilization"], 0.1, 0.98
        ),
        reasoning_parser=reader.string(
            f"{key}.reasoningParser",
            values["reasoningParser"],
            r"|[a-z0-9_]+",
            "must be empty or a vLLM reasoning parser name such as deepseek_r1",
        ),
        extra_args=extra_args,
    )


def _parse_profile(reader: _Reader, key: str, raw: Any, index: int) -> RecurrenceProfile:
    defaults = {
        "name": f"profile-{index}",
        "days": list(WEEKDAYS[:5]),
        "start": "",
        "minInstances": 1,
        "defaultInstances": 1,
        "maxInstances": 1,
    }
    values = reader.mapping(key, raw, defaults)
    name = reader.string(
        f"{key}.name",
        values["name"],
        r"[A-Za-z0-9][A-Za-z0-9 _-]{0,62}",
        "must be 1-63 letters, digits, spaces, '-' or '_'",
    )
    days = reader.string_list(f"{key}.days", values["days"])
    for day_index, day in enumerate(days):
        if day not in WEEKDAYS:
            reader.choice(f"{key}.days[{day_index}]", day, WEEKDAYS)
    if not days:
        reader.problem(f"{key}.days", values["days"], "must name at least one day")
    start = reader.string(
        f"{key}.start",
        values["start"],
        r"([01][0-9]|2[0-3]):[0-5][0-9]",
        "must be a 24-hour time HH:MM, for example 08:00",
    )
    hour, minute = (
        (int(part) for part in start.split(":"))
        if re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", start)
        else (0, 0)
    )
    profile = RecurrenceProfile(
        name=name,
        days=days,
        start_hour=hour,
        start_minute=minute,
        min_instances=reader.integer(f"{key}.minInstances", values["minInstances"], 1, 50),
        default_instances=reader.integer(
            f"{key}.defaultInstances", values["defaultInstances"], 1, 50
        ),
        max_instances=reader.integer(f"{key}.maxInstances", values["maxInstances"], 1, 50),
    )
    _check_bounds(
        reader, key, profile.min_instances, profile.default_instances, profile.max_instances
    )
    return profile


def _parse_time_zone(reader: _Reader, key: str, value: Any) -> str:
    if isinstance(value, str) and value in AUTOSCALE_TIME_ZONES:
        return value
    reader.problem(
        key,
        value,
        "must be a Windows time zone id as Azure Monitor autoscale spells it, for example "
        "'UTC', 'W. Europe Standard Time' or 'Eastern Standard Time' (IANA names such as "
        f"'Europe/Berlin' are refused){_near_miss(value, sorted(AUTOSCALE_TIME_ZONES))}",
    )
    return "UTC"


def _check_profile_starts(reader: _Reader, key: str, profiles: Sequence[RecurrenceProfile]) -> None:
    # A recurrence profile runs until the next one starts; two starting at the same minute leave
    # Azure Monitor to pick one, so the schedule would not say what runs.
    seen: dict[tuple[str, int, int], str] = {}
    for profile in profiles:
        for day in profile.days:
            start = (day, profile.start_hour, profile.start_minute)
            other = seen.setdefault(start, profile.name)
            if other != profile.name:
                reader.problems.append(
                    f"{key}: profiles {other!r} and {profile.name!r} both start on {day} at "
                    f"{profile.start_hour:02d}:{profile.start_minute:02d}"
                )


def _check_bounds(reader: _Reader, key: str, low: int, default: int, high: int) -> None:
    if not low <= default <= high:
        reader.problems.append(
            f"{key}: minInstances ({low}) <= defaultInstances ({default}) <= maxInstances "
            f"({high}) must hold"
        )


def _parse_autoscale(reader: _Reader, key: str, raw: Any) -> AutoscaleSettings:
    values = reader.mapping(key, raw, DEFAULT_AUTOSCALE)
    why_min = " (managed online deployments cannot scale to zero)"
    why_max = " (50 instances is the per-deployment limit)"
    profiles_raw = values["profiles"]
    if not isinstance(profiles_raw, list):
        reader.problem(f"{key}.profiles", profiles_raw, "must be a list of recurrence profiles")
        profiles_raw = []
    if len(profiles_raw) > 19:
        reader.problem(
            f"{key}.profiles",
            len(profiles_raw),
            "at most 19 recurrence profiles (Azure allows 20 with the default)",
        )
    profiles = tuple(
        _parse_profile(reader, f"{key}.profiles[{index}]", item, index)
        for index, item in enumerate(profiles_raw)
    )
    names = [profile.name for profile in profiles]
    for duplicate in sorted({name for name in names if names.count(name) > 1}):
        reader.problems.append(f"{key}.profiles: profile name {duplicate!r} is used twice")
    _check_profile_starts(reader, f"{key}.profiles", profiles)
    for index, profile in enumerate(profiles):
        if profile.name.lower() == "default":
            reader.problem(
                f"{key}.profiles[{index}].name",
                profile.name,
                "is reserved for the profile that carries minInstances/defaultInstances/"
                "maxInstances; name this schedule after when it runs",
            )
    settings = AutoscaleSettings(
        enabled=reader.boolean(f"{key}.enabled", values["enabled"]),
        min_instances=reader.integer(f"{key}.minInstances", values["minInstances"], 1, 50, why_min),
        default_instances=reader.integer(
            f"{key}.defaultInstances", values["defaultInstances"], 1, 50
        ),
        max_instances=reader.integer(f"{key}.maxInstances", values["maxInstances"], 1, 50, why_max),
        latency_metric=reader.choice(
            f"{key}.latencyMetric", values["latencyMetric"], LATENCY_METRICS
        ),
        scale_out_latency_ms=reader.integer(
            f"{key}.scaleOutLatencyMs", values["scaleOutLatencyMs"], 100, 600000
        ),
        scale_out_gpu_percent=reader.integer(
            f"{key}.scaleOutGpuPercent", values["scaleOutGpuPercent"], 1, 100
        ),
        scale_out_rejected_per_minute=reader.integer(
            f"{key}.scaleOutRejectedPerMinute", values["scaleOutRejectedPerMinute"], 0, 100000
        ),
        scale_in_gpu_percent=reader.integer(
            f"{key}.scaleInGpuPercent", values["scaleInGpuPercent"], 0, 99
        ),
        scale_in_latency_ms=reader.integer(
            f"{key}.scaleInLatencyMs", values["scaleInLatencyMs"], 0, 600000
        ),
        # Azure Monitor: time windows from 5 minutes to 12 hours.
        scale_out_window_minutes=reader.integer(
            f"{key}.scaleOutWindowMinutes",
            values["scaleOutWindowMinutes"],
            5,
            720,
            " (Azure Monitor's time window is 5 minutes to 12 hours)",
        ),
        scale_in_window_minutes=reader.integer(
            f"{key}.scaleInWindowMinutes",
            values["scaleInWindowMinutes"],
            5,
            720,
            " (Azure Monitor's time window is 5 minutes to 12 hours)",
        ),
        scale_out_step=reader.integer(f"{key}.scaleOutStep", values["scaleOutStep"], 1, 49),
        scale_in_step=reader.integer(f"{key}.scaleInStep", values["scaleInStep"], 1, 49),
        # Azure Monitor: cooldown from 1 minute to 1 week.
        scale_out_cooldown_minutes=reader.integer(
            f"{key}.scaleOutCooldownMinutes", values["scaleOutCooldownMinutes"], 1, 10080
        ),
        scale_in_cooldown_minutes=reader.integer(
            f"{key}.scaleInCooldownMinutes", values["scaleInCooldownMinutes"], 1, 10080
        ),
        time_zone=_parse_time_zone(reader, f"{key}.timeZone", values["timeZone"]),
        profiles=profiles,
        notify_emails=reader.string_list(
            f"{key}.notifyEmails",
            values["notifyEmails"],
            EMAIL_PATTERN,
            "must be an e-mail address",
        ),
        notify_webhooks=reader.string_list(
            f"{key}.notifyWebhooks",
            values["notifyWebhooks"],
            r"https://\S+",
            "must be an https:// URL",
        ),
    )
    _check_bounds(
        reader, key, settings.min_instances, settings.default_instances, settings.max_instances
    )
    if settings.scale_in_gpu_percent >= settings.scale_out_gpu_percent:
        reader.problems.append(
            f"{key}: scaleInGpuPercent ({settings.scale_in_gpu_percent}) must be below "
            f"scaleOutGpuPercent ({settings.scale_out_gpu_percent}), or the rules flap"
        )
    if settings.scale_in_latency_ms >= settings.scale_out_latency_ms:
        reader.problems.append(
            f"{key}: scaleInLatencyMs ({settings.scale_in_latency_ms}) must be below "
            f"scaleOutLatencyMs ({settings.scale_out_latency_ms}), or the rules flap"
        )
    return settings


def _parse_deployment(reader: _Reader, key: str, raw: Any) -> DeploymentSettings:
    values = reader.mapping(key, raw, DEFAULT_DEPLOYMENT)
    vllm = _parse_vllm(reader, f"{key}.vllm", values["vllm"])
    concurrency_raw = values["maxConcurrentRequestsPerInstance"]
    concurrency = (
        vllm.max_num_seqs
        if concurrency_raw is None
        else reader.integer(f"{key}.maxConcurrentRequestsPerInstance", concurrency_raw, 1, 1024)
    )
    allow_mismatch = reader.boolean(
        f"{key}.allowConcurrencyMismatch", values["allowConcurrencyMismatch"]
    )
    if concurrency != vllm.max_num_seqs and not allow_mismatch:
        reader.problem(
            f"{key}.maxConcurrentRequestsPerInstance",
            concurrency,
            f"must equal vllm.maxNumSeqs ({vllm.max_num_seqs}): AzureML admits 2 x this many "
            "requests per instance and answers 429 past it, so a lower value wastes vLLM's "
            "batching and a higher one queues inside vLLM past the request timeout. Set "
            "allowConcurrencyMismatch: true to override deliberately",
        )
    name = reader.string(
        f"{key}.name",
        values["name"],
        DEPLOYMENT_NAME_PATTERN,
        "must be 3-32 characters: a letter first, then letters, digits or '-', not ending in '-'",
    )
    instance_type = reader.choice(f"{key}.instanceType", values["instanceType"], GPU_INSTANCE_TYPES)
    autoscale = _parse_autoscale(reader, f"{key}.autoscale", values["autoscale"])
    instance_count = reader.integer(
        f"{key}.instanceCount",
        values["instanceCount"],
        1,
        50,
        " (managed deployments run 1 to 50 instances)",
    )
    if autoscale.enabled and not (
        autoscale.min_instances <= instance_count <= autoscale.max_instances
    ):
        reader.problem(
            f"{key}.instanceCount",
            instance_count,
            f"must lie within autoscale bounds {autoscale.min_instances}-"
            f"{autoscale.max_instances}: it is the count the deployment starts with",
        )
    deployment = DeploymentSettings(
        name=name,
        model=reader.string(
            f"{key}.model",
            values["model"],
            HF_MODEL_PATTERN,
            "must be a Hugging Face model id 'organisation/model'",
        ),
        instance_type=instance_type,
        instance_count=instance_count,
        traffic=reader.integer(f"{key}.traffic", values["traffic"], 0, 100),
        mirror_traffic=reader.integer(
            f"{key}.mirrorTraffic",
            values["mirrorTraffic"],
            0,
            50,
            " (AzureML mirrors at most 50 % of traffic)",
        ),
        vllm=vllm,
        max_concurrent_requests_per_instance=concurrency,
        request_timeout_seconds=reader.integer(
            f"{key}.requestTimeoutSeconds",
            values["requestTimeoutSeconds"],
            1,
            180,
            " (180 s is the AzureML maximum)",
        ),
        liveness_probe=_parse_probe(
            reader, f"{key}.livenessProbe", values["livenessProbe"], DEFAULT_LIVENESS_PROBE
        ),
        readiness_probe=_parse_probe(
            reader, f"{key}.readinessProbe", values["readinessProbe"], DEFAULT_READINESS_PROBE
        ),
        autoscale=autoscale,
    )
    if autoscale.enabled:
        _check_autoscale_fits_deployment(reader, key, deployment)
    return deployment


def _check_autoscale_fits_deployment(
    reader: _Reader, key: str, deployment: DeploymentSettings
) -> None:
    autoscale = deployment.autoscale
    timeout_ms = deployment.request_timeout_seconds * 1000
    if autoscale.scale_out_latency_ms >= timeout_ms:
        # AzureML ends a request at the timeout (408), so latency never exceeds it.
        reader.problem(
            f"{key}.autoscale.scaleOutLatencyMs",
            autoscale.scale_out_latency_ms,
            f"must be below requestTimeoutSeconds ({deployment.request_timeout_seconds} s = "
            f"{timeout_ms} ms): requests end at the timeout, so the latency rule could never fire",
        )
    ready_after = deployment.readiness_probe.initial_delay_seconds
    if autoscale.scale_out_cooldown_minutes * 60 < ready_after:
        reader.problem(
            f"{key}.autoscale.scaleOutCooldownMinutes",
            autoscale.scale_out_cooldown_minutes,
            f"must cover readinessProbe.initialDelaySeconds ({ready_after} s): a new instance "
            "takes no traffic before its first readiness probe, so a shorter cooldown adds "
            "instances before the last ones serve",
        )


def _check_traffic(reader: _Reader, key: str, deployments: Sequence[DeploymentSettings]) -> None:
    if not deployments:
        return
    live = sum(d.traffic for d in deployments)
    if live != 100:
        shares = ", ".join(f"{d.name}={d.traffic}" for d in deployments)
        reader.problems.append(f"{key}: live traffic must sum to 100, got {live} ({shares})")
    mirrored = [d for d in deployments if d.mirror_traffic > 0]
    if len(mirrored) > 1:
        reader.problems.append(
            f"{key}: mirror traffic may go to one deployment only, got "
            f"{', '.join(d.name for d in mirrored)}"
        )
    for deployment in mirrored:
        if deployment.traffic > 0:
            reader.problems.append(
                f"{key}: deployment {deployment.name!r} cannot take mirror traffic "
                f"({deployment.mirror_traffic}) while it also takes live traffic "
                f"({deployment.traffic})"
            )
    names = [d.name.lower() for d in deployments]
    for duplicate in sorted({name for name in names if names.count(name) > 1}):
        reader.problems.append(f"{key}: deployment name {duplicate!r} is used more than once")
    if len(deployments) > 20:
        reader.problems.append(
            f"{key}: at most 20 deployments per endpoint, got {len(deployments)}"
        )


# Stack names end up in resource names (components/naming.py): Log Analytics, AzureML workspace,
# endpoint and key vault names take lowercase letters, digits and hyphens.
STACK_NAME_PATTERN = r"[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?"


def parse_settings(
    raw: Mapping[str, Any],
    stack: str,
    location: Any,
    project: str = PROJECT,
    hugging_face_token: Any = None,
) -> Settings:
    """Validate one stack's configuration.

    ``raw`` holds the project's keys without namespace and with native values (as YAML gives
    them); missing keys take :data:`DEFAULTS`. Raises :class:`SettingsError` listing every problem.
    """
    reader = _Reader(stack)
    prefix = f"{project}:"
    for unknown in sorted(set(raw) - set(DEFAULTS)):
        hint = _near_miss(unknown, list(DEFAULTS))
        reader.problems.append(f"{prefix}{unknown}: unknown configuration key{hint}")
    values = copy.deepcopy(DEFAULTS)
    values.update({k: v for k, v in raw.items() if k in DEFAULTS})

    def key(name: str) -> str:
        return prefix + name

    if not re.fullmatch(STACK_NAME_PATTERN, stack):
        reader.problem(
            "stack name",
            stack,
            "must be 1-20 lowercase letters, digits or '-', starting and ending with a letter or "
            "digit: it becomes part of Azure resource names (log-<project>-<stack>, "
            "mlw-<project>-<stack>, ...) whose rules allow nothing else; rename the stack "
            "(`pulumi stack rename`)",
        )
    if location is None or location == "":
        reader.problems.append(
            f"{LOCATION_KEY}: is not set; every stack names its region, for example "
            f"`pulumi config set {LOCATION_KEY} swedencentral`"
        )
        location = ""
    else:
        location = reader.choice(LOCATION_KEY, location, AZURE_REGIONS)

    resource_group = reader.string(
        key("resourceGroupName"),
        values["resourceGroupName"],
        r"|" + RESOURCE_GROUP_PATTERN,
        "must be empty (create one) or a resource group name of 1-90 letters, digits, "
        "'-', '_', '.', '(' or ')', not ending in '.'",
    )
    name_salt = reader.string(
        key("nameSalt"),
        values["nameSalt"],
        r"[a-z0-9]{0,8}",
        "must be empty or up to 8 lowercase letters and digits",
    )
    tags_raw = values["tags"]
    extra_tags: dict[str, str] = {}
    if not isinstance(tags_raw, dict):
        reader.problem(key("tags"), tags_raw, "must be an object of tag names to string values")
    else:
        # Autoscale settings document a limit of 15 tags, the strictest of the resource types
        # here; the project sets 6 itself. Storage accounts take tag names of at most 128.
        if len(tags_raw) > 9:
            reader.problem(
                key("tags"),
                len(tags_raw),
                "at most 9 extra tags (autoscale settings take 15 and the project sets 6)",
            )
        for tag, tag_value in tags_raw.items():
            if tag in PROJECT_TAGS:
                reader.problem(
                    key(f"tags.{tag}"),
                    tag_value,
                    f"is set by the project ({PROJECT_TAGS[tag]}); remove it from tags",
                )
            reader.string(
                key(f"tags.{tag}"),
                tag,
                TAG_KEY_PATTERN,
                "tag names are 1-128 characters without < > % & \\ ? /",
            )
            extra_tags[str(tag)] = reader.string(
                key(f"tags.{tag}"), tag_value, r"[\s\S]{0,256}", "must be at most 256 characters"
            )

    fqdns = reader.string_list(
        key("outboundFqdns"),
        values["outboundFqdns"],
        FQDN_PATTERN,
        "must be a lowercase host name such as huggingface.co (a leading '*.' is allowed)",
    )
    auth_mode_raw = values["authMode"]
    if auth_mode_raw == "AMLToken":
        reader.problem(
            key("authMode"),
            auth_mode_raw,
            "AMLToken is not supported: its tokens come from a workspace data-plane call and "
            "expire hourly; use Key or AADToken (Entra ID, audience https://ml.azure.com)",
        )
        auth_mode = "Key"
    else:
        auth_mode = reader.choice(key("authMode"), auth_mode_raw, AUTH_MODES)

    public_network_access = reader.choice(
        key("publicNetworkAccess"), values["publicNetworkAccess"], NETWORK_ACCESS
    )
    endpoint_access_raw = values["endpointPublicNetworkAccess"]
    endpoint_public_network_access = (
        public_network_access
        if endpoint_access_raw == ""
        else reader.choice(key("endpointPublicNetworkAccess"), endpoint_access_raw, NETWORK_ACCESS)
    )
    endpoint_name = reader.string(
        key("endpointName"),
        values["endpointName"],
        r"|" + ENDPOINT_NAME_PATTERN,
        "must be empty (derived, unique in the region) or 3-32 characters: a letter first, then "
        "letters, digits or '-', not ending in '-'",
    )
    registry_sku = reader.choice(key("registrySku"), values["registrySku"], REGISTRY_SKUS)
    managed_network = reader.choice(
        key("managedNetwork"), values["managedNetwork"], MANAGED_NETWORK_MODES
    )
    if (
        reader.ok(key("registrySku"), key("managedNetwork"))
        and managed_network != "Disabled"
        and registry_sku != "Premium"
    ):
        reader.problem(
            key("registrySku"),
            registry_sku,
            f"must be Premium with managedNetwork {managed_network}: the managed network reaches "
            "the registry through a private endpoint, which only Premium registries have",
        )
    if (
        reader.ok(key("managedNetwork"))
        and managed_network == "AllowOnlyApprovedOutbound"
        and not fqdns
    ):
        reader.problem(
            key("outboundFqdns"),
            [],
            "must list the Hugging Face hosts when managedNetwork is AllowOnlyApprovedOutbound, "
            "or the deployment cannot download its model",
        )
    base_image_source = reader.choice(
        key("baseImageSource"), values["baseImageSource"], BASE_IMAGE_SOURCES
    )
    credential_set = reader.string(
        key("dockerHubCredentialSet"),
        values["dockerHubCredentialSet"],
        r"|[a-zA-Z0-9-]{5,50}",
        "must be empty or the name of an ACR credential set (5-50 letters, digits or '-')",
    )
    if (
        reader.ok(key("baseImageSource"))
        and base_image_source == "cacheRule"
        and not credential_set
    ):
        reader.problem(
            key("dockerHubCredentialSet"),
            credential_set,
            "must name an ACR credential set holding a Docker Hub token when baseImageSource is "
            "cacheRule (Docker Hub allows only authenticated cache pulls)",
        )

    deployments_raw = values["deployments"]
    if not isinstance(deployments_raw, list):
        reader.problem(key("deployments"), deployments_raw, "must be a list of deployments")
        deployments_raw = []
    deployments = tuple(
        _parse_deployment(reader, key(f"deployments[{index}]"), item)
        for index, item in enumerate(deployments_raw)
    )
    _check_traffic(reader, key("deployments"), deployments)

    settings = Settings(
        project=project,
        stack=stack,
        location=location,
        resource_group_name=resource_group or None,
        name_salt=name_salt,
        owner=reader.string(
            key("owner"),
            values["owner"],
            r"[^<>%&\\?/]{1,256}",
            "must be 1-256 characters naming a person or team",
        ),
        cost_center=reader.string(
            key("costCenter"),
            values["costCenter"],
            r"[^<>%&\\?/]{1,256}",
            "must be 1-256 characters",
        ),
        extra_tags=extra_tags,
        protect_resources=reader.boolean(key("protectResources"), values["protectResources"]),
        key_vault_purge_protection=reader.boolean(
            key("keyVaultPurgeProtection"), values["keyVaultPurgeProtection"]
        ),
        key_vault_retention_days=reader.integer(
            key("keyVaultRetentionDays"),
            values["keyVaultRetentionDays"],
            7,
            90,
            " (Key Vault soft-delete retention)",
        ),
        log_retention_days=reader.integer(
            key("logRetentionDays"),
            values["logRetentionDays"],
            30,
            730,
            " (Log Analytics retention)",
        ),
        registry_sku=registry_sku,
        public_network_access=public_network_access,
        managed_network=managed_network,
        firewall_sku=reader.choice(key("firewallSku"), values["firewallSku"], FIREWALL_SKUS),
        deployer_principal_type=reader.choice(
            key("deployerPrincipalType"), values["deployerPrincipalType"], PRINCIPAL_TYPES
        ),
        outbound_fqdns=fqdns,
        auth_mode=auth_mode,
        endpoint_public_network_access=endpoint_public_network_access,
        endpoint_name=endpoint_name or None,
        base_image=reader.string(
            key("baseImage"),
            values["baseImage"],
            PINNED_IMAGE_PATTERN,
            "must be a Docker Hub image pinned by digest, e.g. "
            "docker.io/vllm/vllm-openai@sha256:<64 hex digits>; tags such as 'latest' move",
        ),
        base_image_source=base_image_source,
        docker_hub_credential_set=credential_set or None,
        hugging_face_token=hugging_face_token,
        deployments=deployments,
    )
    if reader.problems:
        raise SettingsError(stack, reader.problems)
    return settings


def _decode(raw: str | None, default: Any) -> Any:
    """Pulumi hands every config value over as a string: objects, lists, numbers and booleans as
    JSON. Strings stay strings (a model id is not JSON)."""
    if raw is None:
        return None
    if isinstance(default, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def load_settings(
    entries: Mapping[str, str],
    stack: str,
    project: str = PROJECT,
    hugging_face_token: Any = None,
    secret_keys: Collection[str] = (),
) -> Settings:
    """Validate raw Pulumi configuration: ``entries`` maps full keys ("vllm-azureml:owner",
    "azure-native:location") to the strings Pulumi hands a program; ``secret_keys`` are the keys
    the stack file holds encrypted."""
    prefix = f"{project}:"
    plaintext = [
        name
        for name in sorted(SECRET_KEYS)
        if entries.get(prefix + name) and prefix + name not in secret_keys
    ]
    if plaintext:
        raise SettingsError(
            stack,
            [
                f"{prefix}{name}: is stored in plaintext in Pulumi.{stack}.yaml; remove it and "
                f"set it encrypted: `pulumi config set --secret {name} <value>`"
                for name in plaintext
            ],
        )
    raw: dict[str, Any] = {}
    for full_key, value in entries.items():
        if not full_key.startswith(prefix):
            continue
        name = full_key[len(prefix) :]
        if name in SECRET_KEYS:
            continue
        raw[name] = _decode(value, DEFAULTS.get(name, ""))
    return parse_settings(
        raw, stack, entries.get(LOCATION_KEY), project, hugging_face_token=hugging_face_token
    )


def from_pulumi() -> Settings:
    """The stack's settings, read from the running Pulumi program's configuration.

    ``pulumi.Config`` reads one known key at a time; a typo in a stack file would then pass
    unnoticed. So the whole map is read from the runtime's config (the same place pulumi.Config
    reads), and unknown keys become errors.
    """
    from pulumi.runtime.config import (
        CONFIG,
        get_config_env,
        get_config_secret_keys_env,
        is_config_secret,
    )

    project = pulumi.get_project()
    entries = {**get_config_env(), **CONFIG.get()}
    secret_keys = {name for name in entries if is_config_secret(name)} | set(
        get_config_secret_keys_env()
    )
    token = None
    if entries.get(f"{project}:huggingFaceToken") and f"{project}:huggingFaceToken" in secret_keys:
        token = pulumi.Config().require_secret("huggingFaceToken")
    return load_settings(
        entries, pulumi.get_stack(), project, hugging_face_token=token, secret_keys=secret_keys
    )

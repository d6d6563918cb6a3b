"""Rules that combine keys: each one reads values other parsers have already checked.

A rule that depends on a key already reported as wrong stays quiet (``reader.ok``), so one typo
gives one message. Every message names the key to change, the value given and why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lib.traffic_rules import traffic_problems
from settings.model import AutoscaleSettings, DeploymentSettings, RecurrenceProfile, VllmSettings
from settings.reader import Reader

if TYPE_CHECKING:
    from settings.parse_image import ImageChoices
    from settings.parse_workspace import WorkspaceChoices


def check_registry_for_network(reader: Reader, prefix: str, workspace: WorkspaceChoices) -> None:
    if (
        reader.ok(f"{prefix}registrySku", f"{prefix}managedNetwork")
        and workspace.managed_network != "Disabled"
        and workspace.registry_sku != "Premium"
    ):
        reader.problem(
            f"{prefix}registrySku",
            workspace.registry_sku,
            f"must be Premium with managedNetwork {workspace.managed_network}: the managed network "
            "reaches the registry through a private endpoint, which only Premium registries have",
        )


def check_fqdns_for_network(reader: Reader, prefix: str, workspace: WorkspaceChoices) -> None:
    if (
        reader.ok(f"{prefix}managedNetwork")
        and workspace.managed_network == "AllowOnlyApprovedOutbound"
        and not workspace.outbound_fqdns
    ):
        reader.problem(
            f"{prefix}outboundFqdns",
            [],
            "must list the Hugging Face hosts when managedNetwork is AllowOnlyApprovedOutbound, "
            "or the deployment cannot download its model",
        )


def check_cache_rule_credentials(reader: Reader, prefix: str, image: ImageChoices) -> None:
    if (
        reader.ok(f"{prefix}baseImageSource")
        and image.base_image_source == "cacheRule"
        and not image.docker_hub_credential_set
    ):
        reader.problem(
            f"{prefix}dockerHubCredentialSet",
            "",
            "must name an ACR credential set holding a Docker Hub token when baseImageSource is "
            "cacheRule (Docker Hub allows only authenticated cache pulls)",
        )


def check_docker_hub_credentials(
    reader: Reader, prefix: str, image: ImageChoices, has_token: bool
) -> None:
    """dockerHubUsername and dockerHubToken go together: Docker Hub needs both to authenticate."""
    if not reader.ok(f"{prefix}dockerHubUsername"):
        return
    if image.docker_hub_username and not has_token:
        reader.problem(
            f"{prefix}dockerHubUsername",
            image.docker_hub_username,
            "needs dockerHubToken too: `pulumi config set --secret dockerHubToken <access token>`",
        )
    if has_token and not image.docker_hub_username:
        reader.problems.append(
            f"{prefix}dockerHubToken: needs dockerHubUsername too: "
            "`pulumi config set dockerHubUsername <user>`"
        )


def check_concurrency_matches_batch(
    reader: Reader, key: str, concurrency: int, vllm: VllmSettings, allow_mismatch: bool
) -> None:
    if concurrency != vllm.max_num_seqs and not allow_mismatch:
        reader.problem(
            f"{key}.maxConcurrentRequestsPerInstance",
            concurrency,
            f"must equal vllm.maxNumSeqs ({vllm.max_num_seqs}): AzureML admits 2 x this many "
            "requests per instance and answers 429 past it, so a lower value wastes vLLM's "
            "batching and a higher one queues inside vLLM past the request timeout. Set "
            "allowConcurrencyMismatch: true to override deliberately",
        )


def check_instance_count_in_autoscale(
    reader: Reader, key: str, instance_count: int, autoscale: AutoscaleSettings
) -> None:
    if autoscale.enabled and not (
        autoscale.min_instances <= instance_count <= autoscale.max_instances
    ):
        reader.problem(
            f"{key}.instanceCount",
            instance_count,
            f"must lie within autoscale bounds {autoscale.min_instances}-"
            f"{autoscale.max_instances}: it is the count the deployment starts with",
        )


def check_autoscale_fits_deployment(
    reader: Reader, key: str, deployment: DeploymentSettings
) -> None:
    autoscale = deployment.autoscale
    if not autoscale.enabled:
        return
    if autoscale.metrics_mode == "vllm" and not deployment.publish_metrics:
        reader.problem(
            f"{key}.autoscale.metricsMode",
            autoscale.metrics_mode,
            "reads the metrics the in-container publisher sends, which publishMetrics: false "
            "turns off; set publishMetrics: true, or metricsMode: platform",
        )
    if autoscale.metrics_mode == "vllm":
        interval_minutes = deployment.publish_interval_seconds / 60
        for name, window in (
            ("scaleOutWindowMinutes", autoscale.scale_out_window_minutes),
            ("scaleInWindowMinutes", autoscale.scale_in_window_minutes),
        ):
            if window < interval_minutes:
                # A window shorter than the metric's grain would often hold no point at all,
                # and a rule without data never fires.
                reader.problem(
                    f"{key}.autoscale.{name}",
                    window,
                    f"must be at least publishIntervalSeconds ({deployment.publish_interval_seconds}"
                    " s), the grain of the vllm metrics the rule reads",
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


def check_instance_bounds(reader: Reader, key: str, low: int, default: int, high: int) -> None:
    if not low <= default <= high:
        reader.problems.append(
            f"{key}: minInstances ({low}) <= defaultInstances ({default}) <= maxInstances "
            f"({high}) must hold"
        )


def check_autoscale_thresholds(
    reader: Reader, key: str, autoscale: AutoscaleSettings, max_num_seqs: int
) -> None:
    """Scale-in thresholds below the scale-out ones and below a full batch, or one rule undoes
    the other (Azure's flapping estimate would then block every scale-in)."""
    if autoscale.metrics_mode == "platform" and autoscale.scale_out_rejected_per_minute == 0:
        reader.problem(
            f"{key}.scaleOutRejectedPerMinute",
            autoscale.scale_out_rejected_per_minute,
            "must be at least 1 with metricsMode platform: the 429 rule is then the only "
            "scale-out rule, so 0 would leave the deployment unable to grow",
        )
    if autoscale.scale_in_running_requests >= max_num_seqs:
        reader.problem(
            f"{key}.scaleInRunningRequests",
            autoscale.scale_in_running_requests,
            f"must be below vllm.maxNumSeqs ({max_num_seqs}): a full batch is the most an "
            "instance runs, so the scale-in rule would always hold",
        )
    elif autoscale.scale_in_running_requests >= autoscale.scale_out_running_requests:
        reader.problems.append(
            f"{key}: scaleInRunningRequests ({autoscale.scale_in_running_requests:g}) must be "
            f"below scaleOutRunningRequests ({autoscale.scale_out_running_requests:g}), or the "
            "rules flap"
        )


def check_profile_names(reader: Reader, key: str, profiles: Sequence[RecurrenceProfile]) -> None:
    counts = Counter(profile.name for profile in profiles)
    for duplicate in sorted(name for name, count in counts.items() if count > 1):
        reader.problems.append(f"{key}: profile name {duplicate!r} is used twice")


def check_profile_not_default(
    reader: Reader, key: str, profiles: Sequence[RecurrenceProfile]
) -> None:
    for index, profile in enumerate(profiles):
        if profile.name.lower() == "default":
            reader.problem(
                f"{key}[{index}].name",
                profile.name,
                "is reserved for the profile that carries minInstances/defaultInstances/"
                "maxInstances; name this schedule after when it runs",
            )


def check_profile_starts(reader: Reader, key: str, profiles: Sequence[RecurrenceProfile]) -> None:
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


def check_traffic(reader: Reader, key: str, deployments: Sequence[DeploymentSettings]) -> None:
    """The endpoint's traffic rules (lib/traffic_rules.py) over the declared deployments. Each
    share's range is already checked under its own key."""
    problems = traffic_problems(
        [(d.name, d.traffic) for d in deployments],
        [(d.name, d.mirror_traffic) for d in deployments],
        check_ranges=False,
    )
    reader.problems.extend(f"{key}: {problem}" for problem in problems)


def check_vllm_api_key_auth(reader: Reader, prefix: str, auth_mode: str, has_key: bool) -> None:
    """vLLM reads its key from the Authorization header, the one AzureML authenticates; with
    Entra ID that header carries an hourly token that can never equal a static key, so every
    /v1 request would fail (docs/adr/0010)."""
    if has_key and auth_mode == "AADToken":
        reader.problems.append(
            f"{prefix}vllmApiKey: cannot be used with authMode AADToken: vLLM checks the same "
            "Authorization header, which then carries an Entra ID token, never the vLLM key, so "
            "every /v1 request would fail; remove vllmApiKey (Entra ID already authenticates "
            "every caller) or use authMode Key (docs/security.md, 'The vLLM API key')"
        )


def check_token_for_weights_source(
    reader: Reader, prefix: str, weights_source: str, hugging_face_token: object
) -> None:
    """A gated model cannot be staged yet: the staging job would need a user-assigned identity
    attached to the workspace to read the token (serverless compute has no system-assigned
    identity; docs/adr/0030-staged-weights.md), and the project does not create one yet."""
    if (
        reader.ok(f"{prefix}weightsSource")
        and weights_source == "workspace"
        and (hugging_face_token is not None)
    ):
        reader.problem(
            f"{prefix}weightsSource",
            weights_source,
            "cannot stage a gated model yet (huggingFaceToken is set): staging it needs a "
            "user-assigned identity on the workspace to read the token, which this project does "
            "not create yet. Set weightsSource: huggingface (the token then reaches the "
            "deployments from Key Vault), or remove huggingFaceToken for a public model",
        )

"""The autoscale rules for one deployment, as plain data: what to watch, when to act, by how much.

The component (components/autoscale.py) turns these into ``monitor.ScaleRuleArgs``; the simulator
(tools/autoscale_sim) replays what the program then declares. Why these signals and not GPU
utilisation or latency percentiles: docs/adr/0026-autoscale-on-vllm-load.md.

Two metric sources (``metricsMode``):

* ``vllm`` (default): the in-container publisher's custom metrics, namespace ``vllm``, one point per
  instance per minute on the deployment resource (docs/adr/0025-vllm-metrics-into-azure-monitor.md).
  Scale out when requests wait inside vLLM, when the batch stays full (then the excess waits in
  AzureML's front end, where vLLM cannot see it), or when the endpoint answers 429; scale in when
  the running batch per instance stays well below ``--max-num-seqs``.
* ``platform``: only AzureML's own deployment metrics, for tenants or regions where custom metrics
  cannot be published. Scale out on 429; scale in on requests per instance (``dividePerInstance``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MetricsMode = Literal["vllm", "platform"]
METRICS_MODES: tuple[MetricsMode, ...] = ("vllm", "platform")

# The deployment's platform metrics (Azure Monitor supported-metrics reference for
# Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments).
PLATFORM_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
REQUESTS_METRIC = "RequestsPerMinute"
RESPONSE_CODE_DIMENSION = "envoy_response_code"
REJECTED_STATUS = "429"
# The publisher's namespace and metric names (docker/metrics_publisher.py; a test keeps them equal).
CUSTOM_NAMESPACE = "vllm"
WAITING_METRIC = "requests_waiting"
RUNNING_METRIC = "requests_running"
KV_CACHE_METRIC = "kv_cache_usage_percent"
TTFT_P50_METRIC = "ttft_p50_seconds"
TTFT_P90_METRIC = "ttft_p90_seconds"
PROMPT_RATE_METRIC = "prompt_tokens_per_second"
GENERATION_RATE_METRIC = "generation_tokens_per_second"
SUCCEEDED_METRIC = "requests_succeeded"
PUBLISHED_METRICS = (
    WAITING_METRIC,
    RUNNING_METRIC,
    KV_CACHE_METRIC,
    TTFT_P50_METRIC,
    TTFT_P90_METRIC,
    PROMPT_RATE_METRIC,
    GENERATION_RATE_METRIC,
    SUCCEEDED_METRIC,
)
# The deployment's platform metric of its instance count (supported-metrics reference).
CAPACITY_METRIC = "DeploymentCapacity"
# Azure Monitor stores metrics at one-minute grain (metrics-store-custom-rest-api.md, "Metric
# values"), and PT1M is the finest grain autoscale reads.
TIME_GRAIN_MINUTES = 1


@dataclass(frozen=True)
class RulePolicy:
    """The resolved thresholds for one deployment (settings defaults filled in from its
    ``maxNumSeqs``); every number here is per instance unless its name says otherwise. Each
    field has its AutoscaleSettings name, so components/autoscale.py copies them by name."""

    metrics_mode: MetricsMode
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


@dataclass(frozen=True)
class Trigger:
    metric_namespace: str
    metric_name: str
    # How the points of one minute combine (across instances) and how the window's minutes do.
    statistic: Literal["Average", "Sum", "Max", "Min", "Count"]
    time_aggregation: Literal["Average", "Total", "Maximum", "Minimum", "Count", "Last"]
    window_minutes: int
    operator: Literal["GreaterThan", "GreaterThanOrEqual", "LessThan", "LessThanOrEqual"]
    threshold: float
    divide_per_instance: bool = False
    dimension: tuple[str, str] | None = None  # (name, value): Equals filter


@dataclass(frozen=True)
class Rule:
    trigger: Trigger
    direction: Literal["Increase", "Decrease"]
    step: int
    cooldown_minutes: int


def default_thresholds(max_num_seqs: int) -> dict[str, float]:
    """Threshold defaults that follow from the deployment's batch size S (``--max-num-seqs``),
    by settings key; settings use them for keys the stack file leaves out."""
    return {
        # More than one request waiting per 16 batch slots, on average over the window.
        "scaleOutWaitingRequests": max(1.0, max_num_seqs / 16),
        # The batch is 85 % full on average: the front end is holding the rest.
        "scaleOutRunningRequests": round(0.85 * max_num_seqs, 2),
        # Half the batch empty for the whole scale-in window.
        "scaleInRunningRequests": round(0.5 * max_num_seqs, 2),
        # Platform mode: an instance finishing fewer than 0.75 S requests a minute has about a
        # third of its batch busy with R1's ~30 s answers (tools/autoscale_sim's model).
        "scaleInRequestsPerMinute": round(0.75 * max_num_seqs, 2),
    }


def rules(policy: RulePolicy) -> tuple[Rule, ...]:
    """The scale-out rules (any one fires) and then the scale-in rules (all must fire)."""
    chosen: list[Rule] = []
    if policy.metrics_mode == "vllm":
        chosen += _vllm_scale_out(policy)
    if policy.scale_out_rejected_per_minute > 0:
        chosen.append(_rejected_scale_out(policy))
    chosen.append(_scale_in(policy))
    return tuple(chosen)


def _out(policy: RulePolicy, trigger: Trigger, step: int | None = None) -> Rule:
    return Rule(
        trigger, "Increase", step or policy.scale_out_step, policy.scale_out_cooldown_minutes
    )


def _vllm_scale_out(policy: RulePolicy) -> list[Rule]:
    """Requests waiting inside vLLM, or a batch that stays nearly full (then the excess waits in
    AzureML's front end, where vLLM cannot see it)."""
    window = policy.scale_out_window_minutes
    waiting = Trigger(
        CUSTOM_NAMESPACE,
        WAITING_METRIC,
        "Average",
        "Average",
        window,
        "GreaterThan",
        policy.scale_out_waiting_requests,
    )
    running = Trigger(
        CUSTOM_NAMESPACE,
        RUNNING_METRIC,
        "Average",
        "Average",
        window,
        "GreaterThanOrEqual",
        policy.scale_out_running_requests,
    )
    return [_out(policy, waiting), _out(policy, running)]


def _rejected_scale_out(policy: RulePolicy) -> Rule:
    # Average is the only aggregation Azure Monitor lists for the deployment's RequestsPerMinute
    # (supported-metrics reference, microsoft-machinelearningservices-workspaces-onlineendpoints-
    # deployments-metrics-include.md); filtered to 429 it is that minute's count of 429s.
    rejected = Trigger(
        PLATFORM_NAMESPACE,
        REQUESTS_METRIC,
        "Average",
        "Average",
        policy.scale_out_window_minutes,
        "GreaterThanOrEqual",
        policy.scale_out_rejected_per_minute,
        dimension=(RESPONSE_CODE_DIMENSION, REJECTED_STATUS),
    )
    # Requests are being turned away now, and whatever is added serves only after a cold start:
    # add enough in one step rather than one per cooldown.
    return _out(policy, rejected, step=policy.scale_out_rejected_step)


def _scale_in(policy: RulePolicy) -> Rule:
    window = policy.scale_in_window_minutes
    if policy.metrics_mode == "vllm":
        trigger = Trigger(
            CUSTOM_NAMESPACE,
            RUNNING_METRIC,
            "Average",
            "Average",
            window,
            "LessThan",
            policy.scale_in_running_requests,
        )
    else:
        # The minute's answers divided by the instance count: requests per instance. Average
        # (the only aggregation listed, as above); unfiltered it combines the response codes'
        # series, so with errors about it reads lower than the total (tools/autoscale_sim
        # models it so) and is then outvoted by the 429 rule, as scale-out wins in Azure.
        trigger = Trigger(
            PLATFORM_NAMESPACE,
            REQUESTS_METRIC,
            "Average",
            "Average",
            window,
            "LessThan",
            policy.scale_in_requests_per_minute,
            divide_per_instance=True,
        )
    return Rule(trigger, "Decrease", policy.scale_in_step, policy.scale_in_cooldown_minutes)


def wire(rule: Rule, metric_resource_uri: str) -> dict:
    """The rule as the simulator reads it: the autoscale setting's JSON in camelCase (the SDK's
    output shape, not ARM's PascalCase dimension keys)."""
    trigger = rule.trigger
    body: dict = {
        "metricTrigger": {
            "metricName": trigger.metric_name,
            "metricNamespace": trigger.metric_namespace,
            "metricResourceUri": metric_resource_uri,
            "timeGrain": f"PT{TIME_GRAIN_MINUTES}M",
            "statistic": trigger.statistic,
            "timeWindow": f"PT{trigger.window_minutes}M",
            "timeAggregation": trigger.time_aggregation,
            "operator": trigger.operator,
            "threshold": trigger.threshold,
            "dividePerInstance": trigger.divide_per_instance,
        },
        "scaleAction": {
            "direction": rule.direction,
            "type": "ChangeCount",
            "value": str(rule.step),
            "cooldown": f"PT{rule.cooldown_minutes}M",
        },
    }
    if trigger.dimension:
        body["metricTrigger"]["dimensions"] = [
            {
                "dimensionName": trigger.dimension[0],
                "operator": "Equals",
                "values": [trigger.dimension[1]],
            }
        ]
    return body

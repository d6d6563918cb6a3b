"""Azure Monitor autoscale for one AzureML online deployment, tuned for vLLM on one GPU per instance.

Azure Monitor changes the deployment's instance count (its ``sku.capacity``) between the bounds set
here. The endpoint component ignores changes to that capacity while autoscale is on, so a
``pulumi up`` never undoes what autoscale did; with autoscale off there is no setting at all and the
stack file's ``instanceCount`` rules again.

How Azure Monitor evaluates the rules (autoscale-best-practices, autoscale-understanding-settings):
it scales out when ANY scale-out rule is met and scales in only when ALL scale-in rules are met, so
"scale in only when latency AND GPU are both low" is two scale-in rules. After any scale action it
waits for that rule's cooldown before scaling again in either direction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_azure_native as azure_native

from settings import AutoscaleSettings

# Azure Monitor's namespace for the deployment's own platform metrics. Both rules read metrics the
# deployment itself publishes (supported-metrics reference for this resource type), so no
# dimension filter is needed: the endpoint-level latency metrics would have to be split by the
# `deployment` dimension instead.
DEPLOYMENT_METRIC_NAMESPACE = (
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
)
# Percent of time the instance's GPU was busy, averaged over the deployment's instances.
GPU_UTILIZATION_METRIC = "GpuUtilizationPercentage"
# Requests per minute, split by the status the endpoint's Envoy front end answered; 429 is
# AzureML's admission control turning requests away (more than 2 x maxConcurrentRequestsPerInstance
# per instance in flight).
REQUESTS_METRIC = "RequestsPerMinute"
RESPONSE_CODE_DIMENSION = "envoy_response_code"
REJECTED_STATUS = "429"
# These metrics are published at one-minute grain only (and PT1M is Azure Monitor's finest).
METRIC_TIME_GRAIN = "PT1M"


def iso8601_minutes(minutes: int) -> str:
    """A whole number of minutes as the ISO 8601 duration Azure Monitor takes: 90 -> ``PT1H30M``,
    10080 -> ``P7D``."""
    if minutes < 1:
        raise ValueError(f"a duration must be at least one minute, got {minutes}")
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    date = f"{days}D" if days else ""
    time = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return f"P{date}" + (f"T{time}" if time else "")


@dataclass(frozen=True)
class DeploymentAutoscaleArgs:
    """What autoscale for one deployment needs: the deployment's name and ARM id, its autoscale
    settings (``enabled`` must be on), the setting's Azure name (unique in its resource group),
    and the region, resource group and tags it lives in."""

    deployment_name: str
    deployment_id: pulumi.Input[str]
    autoscale: AutoscaleSettings
    setting_name: str
    location: str
    resource_group_name: pulumi.Input[str]
    tags: Mapping[str, str]


class DeploymentAutoscale(pulumi.ComponentResource):
    """One Azure Monitor autoscale setting for one online deployment.

    The default profile carries the deployment's instance bounds; each recurrence profile from the
    settings repeats the same rules with its own bounds. Rules: add ``scaleOutStep`` instances when
    the deployment's request latency percentile or its GPU utilisation stays above its threshold
    for ``scaleOutWindowMinutes``; remove ``scaleInStep`` when both stay below their (lower)
    thresholds for ``scaleInWindowMinutes``.
    """

    autoscale_setting_id: pulumi.Output[str]
    autoscale_setting_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: DeploymentAutoscaleArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        autoscale = args.autoscale
        if not autoscale.enabled:
            # The endpoint hands sku.capacity to autoscale only while autoscale is enabled; a
            # setting for any other deployment would fight the stack file's instanceCount.
            raise ValueError(
                f"deployment {args.deployment_name!r} does not enable autoscale; build "
                "DeploymentAutoscale only for Settings.autoscaled_deployments"
            )
        super().__init__("vllm-azureml:autoscale:DeploymentAutoscale", name, None, opts)

        profiles = _profiles(autoscale, _rules(autoscale, args.deployment_id))
        setting = azure_native.monitor.AutoscaleSetting(
            f"{name}-setting",
            autoscale_setting_name=args.setting_name,
            name=args.setting_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            target_resource_uri=args.deployment_id,
            target_resource_location=args.location,
            # The SDK and ARM default to false: a setting without this line scales nothing.
            enabled=True,
            profiles=profiles,
            notifications=_notifications(autoscale),
            tags=args.tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                # A resource has at most one autoscale setting: a replacement must remove the
                # old setting before it creates the new one on the same deployment.
                delete_before_replace=True,
            ),
        )

        self.autoscale_setting_id = setting.id
        self.autoscale_setting_name = setting.name
        self.register_outputs(
            {
                "autoscale_setting_id": self.autoscale_setting_id,
                "autoscale_setting_name": self.autoscale_setting_name,
            }
        )


def _profiles(
    autoscale: AutoscaleSettings, rules: list[azure_native.monitor.ScaleRuleArgs]
) -> list[azure_native.monitor.AutoscaleProfileArgs]:
    """The default profile with the deployment's bounds, then one recurrence profile per
    configured schedule; every profile scales on the same ``rules``."""
    profiles = [
        azure_native.monitor.AutoscaleProfileArgs(
            # Used only while no recurrence profile has started; with recurrence profiles
            # that cover the whole week it is the fallback, not the schedule.
            name="default",
            capacity=_capacity(
                autoscale.min_instances, autoscale.default_instances, autoscale.max_instances
            ),
            rules=rules,
        )
    ]
    for profile in autoscale.profiles:
        # A recurrence profile has a start and no end: it runs until the next one starts.
        profiles.append(
            azure_native.monitor.AutoscaleProfileArgs(
                name=profile.name,
                capacity=_capacity(
                    profile.min_instances, profile.default_instances, profile.max_instances
                ),
                rules=rules,
                recurrence=azure_native.monitor.RecurrenceArgs(
                    frequency=azure_native.monitor.RecurrenceFrequency.WEEK,
                    schedule=azure_native.monitor.RecurrentScheduleArgs(
                        days=list(profile.days),
                        hours=[profile.start_hour],
                        minutes=[profile.start_minute],
                        time_zone=autoscale.time_zone,
                    ),
                ),
            )
        )
    return profiles


def _capacity(minimum: int, default: int, maximum: int) -> azure_native.monitor.ScaleCapacityArgs:
    # ARM takes the instance counts as strings.
    return azure_native.monitor.ScaleCapacityArgs(
        minimum=str(minimum), default=str(default), maximum=str(maximum)
    )


@dataclass(frozen=True)
class _Rule:
    """One scale rule: scale ``direction`` when ``metric`` compares by ``operator`` to
    ``threshold`` over the direction's window, counting only the ``dimensions`` given."""

    direction: Literal["out", "in"]
    metric: str
    operator: azure_native.monitor.ComparisonOperationType
    threshold: float
    dimensions: tuple[azure_native.monitor.ScaleRuleMetricDimensionArgs, ...] = ()


def _rule_table(autoscale: AutoscaleSettings) -> list[_Rule]:
    """The rules each profile carries, in the order Azure Monitor receives them. It scales out
    when ANY scale-out rule is met and in only when ALL scale-in rules are."""
    monitor = azure_native.monitor
    greater, less = (
        monitor.ComparisonOperationType.GREATER_THAN,
        monitor.ComparisonOperationType.LESS_THAN,
    )
    latency, gpu = autoscale.latency_metric, GPU_UTILIZATION_METRIC
    rules: list[_Rule] = []
    if autoscale.scale_out_rejected_per_minute > 0:
        # Turned-away requests are the plainest sign that capacity ran out, whatever latency and
        # GPU say: the requests that got in may still be fast.
        rejected = monitor.ScaleRuleMetricDimensionArgs(
            dimension_name=RESPONSE_CODE_DIMENSION,
            operator=monitor.ScaleRuleMetricDimensionOperationType.EQUALS,
            values=[REJECTED_STATUS],
        )
        at_least = monitor.ComparisonOperationType.GREATER_THAN_OR_EQUAL
        rules.append(
            _Rule(
                "out",
                REQUESTS_METRIC,
                at_least,
                autoscale.scale_out_rejected_per_minute,
                (rejected,),
            )
        )
    # Scale out when EITHER signal is high: latency is what users feel (requests queue in vLLM
    # once more than maxNumSeqs are in flight); GPU utilisation catches a busy GPU.
    rules.append(_Rule("out", latency, greater, autoscale.scale_out_latency_ms))
    rules.append(_Rule("out", gpu, greater, autoscale.scale_out_gpu_percent))
    # Scale in only when BOTH are low over the longer window (Azure requires every scale-in rule
    # to be met), so a cold start is never paid for a short lull. scaleInLatencyMs 0 leaves GPU
    # alone to decide (for deployments that go fully idle; see settings).
    if autoscale.scale_in_latency_ms > 0:
        rules.append(_Rule("in", latency, less, autoscale.scale_in_latency_ms))
    rules.append(_Rule("in", gpu, less, autoscale.scale_in_gpu_percent))
    return rules


def _rules(
    autoscale: AutoscaleSettings, deployment_id: pulumi.Input[str]
) -> list[azure_native.monitor.ScaleRuleArgs]:
    """:func:`_rule_table` as Azure Monitor takes it: each rule with its metric trigger and the
    scale action of its direction."""
    monitor = azure_native.monitor
    windows = {
        "out": iso8601_minutes(autoscale.scale_out_window_minutes),
        "in": iso8601_minutes(autoscale.scale_in_window_minutes),
    }
    actions = {
        "out": monitor.ScaleActionArgs(
            direction=monitor.ScaleDirection.INCREASE,
            type=monitor.ScaleType.CHANGE_COUNT,
            value=str(autoscale.scale_out_step),
            # Covers a GPU cold start (provisioning, image pull, weight download, load): a shorter
            # cooldown adds instances while the last ones are still starting.
            cooldown=iso8601_minutes(autoscale.scale_out_cooldown_minutes),
        ),
        "in": monitor.ScaleActionArgs(
            direction=monitor.ScaleDirection.DECREASE,
            type=monitor.ScaleType.CHANGE_COUNT,
            value=str(autoscale.scale_in_step),
            # By default as long as the scale-in window, so each further scale-in is decided on
            # data measured after the previous one, not on the window that already triggered it.
            # Azure holds scale-out for this long too, which the 30-minute low-load window makes
            # rare.
            cooldown=iso8601_minutes(autoscale.scale_in_cooldown_minutes),
        ),
    }
    return [
        monitor.ScaleRuleArgs(
            metric_trigger=monitor.MetricTriggerArgs(
                metric_name=rule.metric,
                metric_namespace=DEPLOYMENT_METRIC_NAMESPACE,
                metric_resource_uri=deployment_id,
                time_grain=METRIC_TIME_GRAIN,
                # These metrics publish Average; averaging over instances, then over the window,
                # reacts to sustained load and not to one long request or one busy minute.
                statistic=monitor.MetricStatisticType.AVERAGE,
                time_aggregation=monitor.TimeAggregationType.AVERAGE,
                time_window=windows[rule.direction],
                operator=rule.operator,
                threshold=rule.threshold,
                divide_per_instance=False,
                dimensions=list(rule.dimensions) or None,
            ),
            scale_action=actions[rule.direction],
        )
        for rule in _rule_table(autoscale)
    ]


def _notifications(
    autoscale: AutoscaleSettings,
) -> list[azure_native.monitor.AutoscaleNotificationArgs] | None:
    if not autoscale.notify_emails and not autoscale.notify_webhooks:
        return None
    return [
        azure_native.monitor.AutoscaleNotificationArgs(
            operation=azure_native.monitor.OperationType.SCALE,
            email=azure_native.monitor.EmailNotificationArgs(
                custom_emails=list(autoscale.notify_emails)
            )
            if autoscale.notify_emails
            else None,
            webhooks=[
                # Webhook URLs usually carry their credential (a Logic App `sig`, a Teams or
                # Slack token), so they are kept secret in state and previews.
                azure_native.monitor.WebhookNotificationArgs(service_uri=pulumi.Output.secret(uri))
                for uri in autoscale.notify_webhooks
            ],
        )
    ]

"""Azure Monitor autoscale for one AzureML online deployment, tuned for vLLM on one GPU per instance.

Azure Monitor changes the deployment's instance count (its ``sku.capacity``) between the bounds set
here. The endpoint component ignores changes to that capacity while autoscale is on, so a
``pulumi up`` never undoes what autoscale did; with autoscale off there is no setting at all and the
stack file's ``instanceCount`` rules again.

How Azure Monitor evaluates the rules (autoscale-understanding-settings.md): it scales out when
ANY scale-out rule is met and scales in only when ALL scale-in rules are met; after any scale action
it waits for that action's cooldown before scaling again in either direction. The rules themselves
(what they read and why) come from lib/autoscale_rules.py; docs/adr/0026-autoscale-on-vllm-load.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import pulumi
import pulumi_azure_native as azure_native

from lib import autoscale_rules
from lib.autoscale_rules import RulePolicy
from settings import AutoscaleSettings


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
    settings repeats the same rules with its own bounds. With ``metricsMode: vllm``: scale out when
    requests wait in vLLM, when its batch stays nearly full, or when the endpoint answers 429;
    scale in when the batch stays half empty. With ``metricsMode: platform``: scale out on 429,
    scale in on requests per instance. Thresholds default from the deployment's ``maxNumSeqs``.
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


def _policy(autoscale: AutoscaleSettings) -> RulePolicy:
    """The thresholds settings resolved for this deployment (defaults already follow its
    ``maxNumSeqs``), as the rule generator takes them: its fields are named as the settings'."""
    return RulePolicy(**{f.name: getattr(autoscale, f.name) for f in fields(RulePolicy)})


def _rules(
    autoscale: AutoscaleSettings, deployment_id: pulumi.Input[str]
) -> list[azure_native.monitor.ScaleRuleArgs]:
    """lib/autoscale_rules.py's rules as the SDK's args. Every rule reads a metric of the
    deployment itself: its platform metrics, or the publisher's ``vllm`` namespace, which the
    publisher sends to the same resource (docs/adr/0025)."""
    return [_rule(rule, deployment_id) for rule in autoscale_rules.rules(_policy(autoscale))]


def _rule(
    rule: autoscale_rules.Rule, deployment_id: pulumi.Input[str]
) -> azure_native.monitor.ScaleRuleArgs:
    trigger = rule.trigger
    dimensions = None
    if trigger.dimension:
        dimensions = [
            azure_native.monitor.ScaleRuleMetricDimensionArgs(
                dimension_name=trigger.dimension[0],
                operator=azure_native.monitor.ScaleRuleMetricDimensionOperationType.EQUALS,
                values=[trigger.dimension[1]],
            )
        ]
    return azure_native.monitor.ScaleRuleArgs(
        metric_trigger=azure_native.monitor.MetricTriggerArgs(
            metric_name=trigger.metric_name,
            metric_namespace=trigger.metric_namespace,
            metric_resource_uri=deployment_id,
            time_grain=iso8601_minutes(autoscale_rules.TIME_GRAIN_MINUTES),
            statistic=azure_native.monitor.MetricStatisticType(trigger.statistic),
            time_aggregation=azure_native.monitor.TimeAggregationType(trigger.time_aggregation),
            time_window=iso8601_minutes(trigger.window_minutes),
            operator=azure_native.monitor.ComparisonOperationType(trigger.operator),
            threshold=trigger.threshold,
            divide_per_instance=trigger.divide_per_instance,
            dimensions=dimensions,
        ),
        scale_action=azure_native.monitor.ScaleActionArgs(
            direction=azure_native.monitor.ScaleDirection(rule.direction),
            type=azure_native.monitor.ScaleType.CHANGE_COUNT,
            value=str(rule.step),
            # Scale-out: longer than a GPU cold start, so the rules look again only once the new
            # instances serve. Scale-in: short, because Azure's one cooldown also holds back the
            # next scale-out (docs/adr/0026).
            cooldown=iso8601_minutes(rule.cooldown_minutes),
        ),
    )


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

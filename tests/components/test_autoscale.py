"""Autoscale under mocks: what Azure Monitor would receive for each autoscaled deployment.

The published metric names, enum spellings and limits below are written out from their sources
(not imported from the component), so a typo in the component fails here instead of in Azure:
- metrics: Azure Monitor supported-metrics reference for
  Microsoft.MachineLearningServices/workspaces/onlineEndpoints[/deployments];
- enums: pulumi_azure_native.monitor (API 2021-05-01-preview), the same spellings as the ARM schema;
- limits: MetricTrigger.timeGrain 1 minute-12 hours, timeWindow 5 minutes-12 hours,
  ScaleAction.cooldown 1 minute-1 week, at most 20 profiles and 10 rules per profile.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from pulumi_azure_native import monitor

from components.autoscale import DeploymentAutoscale, DeploymentAutoscaleArgs, iso8601_minutes
from settings import (
    AUTOSCALE_TIME_ZONES,
    AutoscaleSettings,
    DeploymentSettings,
    load_settings,
    parse_settings,
)
from tests.conftest import stack_entries
from tests.support.components import declare
from tools.offline import OFFLINE_SUBSCRIPTION_ID, ProgramRun, RecordedResource

AUTOSCALE_SETTING = "azure-native:monitor:AutoscaleSetting"
DEPLOYMENTS_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
ENDPOINTS_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
PUBLISHED_METRICS = {
    DEPLOYMENTS_NAMESPACE: {
        "CpuMemoryUtilizationPercentage",
        "CpuUtilizationPercentage",
        "DataCollectionErrorsPerMinute",
        "DataCollectionEventsPerMinute",
        "DeploymentCapacity",
        "DiskUtilization",
        "GpuEnergyJoules",
        "GpuMemoryUtilizationPercentage",
        "GpuUtilizationPercentage",
        "RequestLatency_P50",
        "RequestLatency_P90",
        "RequestLatency_P95",
        "RequestLatency_P99",
        "RequestsPerMinute",
    },
    ENDPOINTS_NAMESPACE: {
        "ConnectionsActive",
        "DataCollectionErrorsPerMinute",
        "DataCollectionEventsPerMinute",
        "NetworkBytes",
        "NewConnectionsPerSecond",
        "RequestLatency",
        "RequestLatency_P50",
        "RequestLatency_P90",
        "RequestLatency_P95",
        "RequestLatency_P99",
        "RequestsPerMinute",
    },
    # What docker/metrics_publisher.py sends (namespace `vllm`, docs/adr/0025).
    "vllm": {
        "requests_waiting",
        "requests_running",
        "kv_cache_usage_percent",
        "ttft_p50_seconds",
        "ttft_p90_seconds",
        "prompt_tokens_per_second",
        "generation_tokens_per_second",
        "requests_succeeded",
    },
}
# Signals that do not track LLM load (docs/adr/0026): no default rule may read them.
MISLEADING = {
    "GpuUtilizationPercentage",
    "RequestLatency_P50",
    "RequestLatency_P90",
    "RequestLatency_P95",
    "RequestLatency_P99",
}
WEEKDAYS = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
MINUTE, HOUR, DAY = 60, 3600, 86400

ENABLED = {
    "enabled": True,
    "minInstances": 1,
    "defaultInstances": 2,
    "maxInstances": 4,
}


def enum_values(enum: Any) -> set[str]:
    return {member.value for member in enum}


_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")


def iso8601_seconds(text: str) -> int:
    """Seconds in an ISO 8601 duration of days, hours, minutes and seconds (what .NET TimeSpan
    and so Azure Monitor reads). Raises on anything else: years, months, weeks, fractions, 'P'."""
    match = _DURATION.fullmatch(text)
    if not match or text in ("P", "PT"):
        raise ValueError(f"not an ISO 8601 day-time duration: {text!r}")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return days * DAY + hours * HOUR + minutes * MINUTE + seconds


def deployment_id(name: str) -> str:
    return (
        f"/subscriptions/{OFFLINE_SUBSCRIPTION_ID}/resourceGroups/rg-test/providers/"
        f"Microsoft.MachineLearningServices/workspaces/mlw-test/onlineEndpoints/endpoint-test/"
        f"deployments/{name}"
    )


def autoscale_of(raw: dict[str, Any], instance_count: int = 2) -> AutoscaleSettings:
    """A deployment's autoscale settings as settings parse and validate them from ``raw`` (the
    stack file's ``autoscale`` map)."""
    deployment = {"name": "blue", "traffic": 100, "instanceCount": instance_count, "autoscale": raw}
    (parsed,) = parse_settings({"deployments": [deployment]}, "test", "eastus2").deployments
    return parsed.autoscale


def prod_deployment() -> DeploymentSettings:
    """The prod stack's autoscaled deployment: business-hours, off-hours and weekend profiles."""
    (deployment,) = load_settings(stack_entries("prod"), "prod").autoscaled_deployments
    return deployment


TAGS = {"owner": "ml-team", "managed-by": "pulumi", "stack": "test"}
SETTING_NAME = "autoscale-vllm-azureml-test-blue"


def args(autoscale: AutoscaleSettings) -> DeploymentAutoscaleArgs:
    return DeploymentAutoscaleArgs(
        deployment_name="blue",
        deployment_id=deployment_id("blue"),
        autoscale=autoscale,
        setting_name=SETTING_NAME,
        location="eastus2",
        resource_group_name="rg-test",
        tags=TAGS,
    )


def declare_autoscale(autoscale: AutoscaleSettings | None = None) -> ProgramRun:
    """One DeploymentAutoscale for deployment blue, with prod's autoscale settings by default."""
    given = prod_deployment().autoscale if autoscale is None else autoscale
    return declare(lambda: DeploymentAutoscale("autoscale-blue", args(given)))


def rules_of(setting: RecordedResource) -> list[tuple[str, dict[str, Any]]]:
    return [
        (profile["name"], rule)
        for profile in setting.input("profiles")
        for rule in profile["rules"]
    ]


# --- The setting itself ---------------------------------------------------------------------------


def test_a_deployment_without_autoscale_is_refused() -> None:
    disabled = autoscale_of({})
    assert not disabled.enabled
    with pytest.raises(ValueError, match="'blue' does not enable autoscale"):
        DeploymentAutoscale("autoscale-blue", args(disabled))


def test_setting_targets_the_deployment_is_enabled_and_lives_in_its_region() -> None:
    setting = declare_autoscale().one(AUTOSCALE_SETTING)
    assert setting.input("targetResourceUri") == deployment_id("blue")
    assert setting.input("autoscaleSettingName") == setting.input("name") == SETTING_NAME
    # The SDK's default is false: without an explicit true nothing would ever scale.
    assert setting.input("enabled") is True
    assert setting.input("location") == "eastus2"
    assert setting.input("targetResourceLocation") == "eastus2"
    assert setting.input("resourceGroupName") == "rg-test"
    assert setting.input("tags") == TAGS
    assert setting.delete_before_replace
    assert "DeploymentAutoscale" in setting.parent


def test_profiles_and_rules_stay_within_azure_monitor_limits() -> None:
    setting = declare_autoscale().one(AUTOSCALE_SETTING)
    profiles = setting.input("profiles")
    assert 1 <= len(profiles) <= 20
    assert len({profile["name"] for profile in profiles}) == len(profiles)
    for profile in profiles:
        assert 1 <= len(profile["rules"]) <= 10, profile["name"]


def test_capacities_are_strings_between_one_and_fifty_with_default_inside() -> None:
    setting = declare_autoscale().one(AUTOSCALE_SETTING)
    for profile in setting.input("profiles"):
        capacity = profile["capacity"]
        assert all(isinstance(capacity[k], str) for k in ("minimum", "default", "maximum"))
        low, default, high = (int(capacity[k]) for k in ("minimum", "default", "maximum"))
        assert 1 <= low <= default <= high <= 50, profile["name"]


def test_default_profile_carries_the_deployment_bounds() -> None:
    bounds = {"enabled": True, "minInstances": 2, "defaultInstances": 3, "maxInstances": 7}
    run = declare_autoscale(autoscale_of(bounds, instance_count=3))
    (profile,) = run.one(AUTOSCALE_SETTING).input("profiles")
    assert "recurrence" not in profile
    assert profile["capacity"] == {"minimum": "2", "default": "3", "maximum": "7"}


# --- Rules ----------------------------------------------------------------------------------------


def test_every_rule_reads_a_published_metric_of_this_deployment() -> None:
    for profile, rule in rules_of(declare_autoscale().one(AUTOSCALE_SETTING)):
        trigger = rule["metricTrigger"]
        namespace, metric = trigger["metricNamespace"], trigger["metricName"]
        assert metric in PUBLISHED_METRICS.get(namespace, set()), (profile, namespace, metric)
        if namespace in (DEPLOYMENTS_NAMESPACE, "vllm"):
            # The publisher sends the vllm namespace to the deployment itself.
            assert trigger["metricResourceUri"] == deployment_id("blue")
        else:
            # An endpoint metric must be split to this deployment, or other deployments' load
            # would scale it.
            assert {"dimensionName": "deployment", "operator": "Equals", "values": ["blue"]} in (
                trigger.get("dimensions") or []
            )


def test_rule_enums_are_spelled_as_azure_monitor_takes_them() -> None:
    for profile, rule in rules_of(declare_autoscale().one(AUTOSCALE_SETTING)):
        trigger, action = rule["metricTrigger"], rule["scaleAction"]
        assert trigger["operator"] in enum_values(monitor.ComparisonOperationType), profile
        assert trigger["statistic"] in enum_values(monitor.MetricStatisticType), profile
        assert trigger["timeAggregation"] in enum_values(monitor.TimeAggregationType), profile
        assert action["direction"] in enum_values(monitor.ScaleDirection) - {"None"}, profile
        assert action["type"] in enum_values(monitor.ScaleType), profile
        assert isinstance(action["value"], str)
        assert int(action["value"]) >= 1


def test_grains_windows_and_cooldowns_are_iso8601_within_limits() -> None:
    for profile, rule in rules_of(declare_autoscale().one(AUTOSCALE_SETTING)):
        trigger = rule["metricTrigger"]
        assert MINUTE <= iso8601_seconds(trigger["timeGrain"]) <= 12 * HOUR, profile
        assert 5 * MINUTE <= iso8601_seconds(trigger["timeWindow"]) <= 12 * HOUR, profile
        assert MINUTE <= iso8601_seconds(rule["scaleAction"]["cooldown"]) <= 7 * DAY, profile


def _by_rule(run: ProgramRun) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Rules of every profile keyed by (direction, metric)."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for _, rule in rules_of(run.one(AUTOSCALE_SETTING)):
        key = (rule["scaleAction"]["direction"], rule["metricTrigger"]["metricName"])
        found.setdefault(key, []).append(rule)
    return found


def test_vllm_mode_scales_out_on_queue_full_batch_or_429_and_in_on_a_half_empty_batch() -> None:
    run = declare_autoscale()
    rules = _by_rule(run)
    assert set(rules) == {
        ("Increase", "requests_waiting"),
        ("Increase", "requests_running"),
        ("Increase", "RequestsPerMinute"),
        ("Decrease", "requests_running"),
    }
    out = rules["Increase", "requests_running"][0]["metricTrigger"]
    scale_in = rules["Decrease", "requests_running"][0]["metricTrigger"]
    # Per instance: the Average over instances of each minute, then over the window.
    for trigger in (out, scale_in, rules["Increase", "requests_waiting"][0]["metricTrigger"]):
        assert (trigger["statistic"], trigger["timeAggregation"]) == ("Average", "Average")
        assert trigger["dividePerInstance"] is False
    assert out["operator"] == "GreaterThanOrEqual" and scale_in["operator"] == "LessThan"
    # Hysteresis: two instances below the scale-in threshold fit on one without reaching a
    # full batch (maxNumSeqs 16), so the flapping estimate of 2 -> 1 lets the scale-in happen.
    assert scale_in["threshold"] < out["threshold"]
    assert 2 * scale_in["threshold"] <= 16
    # Low for longer than high.
    assert iso8601_seconds(scale_in["timeWindow"]) > iso8601_seconds(out["timeWindow"])


def test_no_rule_reads_gpu_utilisation_or_latency_percentiles_in_either_mode() -> None:
    for mode in ("vllm", "platform"):
        run = declare_autoscale(autoscale_of({**ENABLED, "metricsMode": mode}))
        metrics = {metric for _, metric in _by_rule(run)}
        assert not metrics & MISLEADING, mode


def test_default_thresholds_follow_max_num_seqs() -> None:
    thresholds = {
        key: rules[0]["metricTrigger"]["threshold"]
        for key, rules in _by_rule(declare_autoscale(autoscale_of(ENABLED))).items()
    }
    # maxNumSeqs 16: more than 1 waiting; 85 % of 16 running; one 429 a minute; under 8 running.
    assert thresholds == {
        ("Increase", "requests_waiting"): 1,
        ("Increase", "requests_running"): 13.6,
        ("Increase", "RequestsPerMinute"): 1,
        ("Decrease", "requests_running"): 8,
    }


def test_thresholds_can_be_set_per_deployment() -> None:
    chosen = {
        **ENABLED,
        "scaleOutWaitingRequests": 3,
        "scaleOutRunningRequests": 15,
        "scaleInRunningRequests": 4,
    }
    thresholds = {
        key: rules[0]["metricTrigger"]["threshold"]
        for key, rules in _by_rule(declare_autoscale(autoscale_of(chosen))).items()
    }
    assert thresholds["Increase", "requests_waiting"] == 3
    assert thresholds["Increase", "requests_running"] == 15
    assert thresholds["Decrease", "requests_running"] == 4


def test_platform_mode_scales_out_on_429_and_in_on_requests_per_instance() -> None:
    run = declare_autoscale(autoscale_of({**ENABLED, "metricsMode": "platform"}))
    rules = _by_rule(run)
    assert set(rules) == {("Increase", "RequestsPerMinute"), ("Decrease", "RequestsPerMinute")}
    scale_in = rules["Decrease", "RequestsPerMinute"][0]["metricTrigger"]
    # The minute's answers divided by the instance count, read with the one aggregation Azure
    # Monitor lists for this metric (Average).
    assert scale_in["dividePerInstance"] is True
    assert scale_in["statistic"] == "Average"
    assert "dimensions" not in scale_in
    assert scale_in["threshold"] == 12  # 0.75 x maxNumSeqs
    namespaces = {r["metricTrigger"]["metricNamespace"] for rs in rules.values() for r in rs}
    assert namespaces == {DEPLOYMENTS_NAMESPACE}


def test_cooldowns_respect_a_gpu_cold_start() -> None:
    deployment = prod_deployment()
    cooldowns: dict[str, set[int]] = {"Increase": set(), "Decrease": set()}
    for _, rule in rules_of(declare_autoscale().one(AUTOSCALE_SETTING)):
        cooldowns[rule["scaleAction"]["direction"]].add(
            iso8601_seconds(rule["scaleAction"]["cooldown"])
        )
    # A new instance takes no traffic before its first readiness probe, and the simulator's
    # cold start is 12 minutes: the scale-out cooldown outlasts both.
    assert min(cooldowns["Increase"]) >= max(
        deployment.readiness_probe.initial_delay_seconds, 12 * MINUTE
    )
    # Azure's one cooldown also holds back scale-out: a scale-in never blocks it for longer.
    assert max(cooldowns["Decrease"]) <= min(cooldowns["Increase"])


def test_steps_and_cooldowns_follow_the_settings() -> None:
    autoscale = {
        **ENABLED,
        "scaleOutStep": 2,
        "scaleOutRejectedStep": 4,
        "scaleInStep": 1,
        "scaleOutWindowMinutes": 10,
        "scaleInWindowMinutes": 90,
        "scaleOutCooldownMinutes": 25,
        "scaleInCooldownMinutes": 120,
    }
    run = declare_autoscale(autoscale_of(autoscale))
    actions = {
        key: (
            rules[0]["scaleAction"]["value"],
            rules[0]["scaleAction"]["cooldown"],
            rules[0]["metricTrigger"]["timeWindow"],
        )
        for key, rules in _by_rule(run).items()
    }
    assert actions == {
        ("Increase", "requests_waiting"): ("2", "PT25M", "PT10M"),
        ("Increase", "requests_running"): ("2", "PT25M", "PT10M"),
        ("Increase", "RequestsPerMinute"): ("4", "PT25M", "PT10M"),
        ("Decrease", "requests_running"): ("1", "PT2H", "PT1H30M"),
    }


# --- Recurrence profiles --------------------------------------------------------------------------


def test_recurrence_profiles_are_well_formed() -> None:
    deployment = prod_deployment()
    profiles = declare_autoscale().one(AUTOSCALE_SETTING).input("profiles")
    default, *recurring = profiles
    assert "recurrence" not in default
    assert [p["name"] for p in recurring] == [p.name for p in deployment.autoscale.profiles]
    assert recurring, "prod declares business-hours, off-hours and weekend profiles"
    for profile in recurring:
        recurrence = profile["recurrence"]
        schedule = recurrence["schedule"]
        assert recurrence["frequency"] == "Week"
        assert schedule["days"] and set(schedule["days"]) <= WEEKDAYS
        assert schedule["hours"] and all(0 <= hour <= 23 for hour in schedule["hours"])
        assert schedule["minutes"] and all(0 <= minute <= 59 for minute in schedule["minutes"])
        assert schedule["timeZone"] == "Eastern Standard Time"
        assert schedule["timeZone"] in AUTOSCALE_TIME_ZONES
        # Every profile scales on the same rules; only its bounds differ.
        assert profile["rules"] == default["rules"]


def test_recurrence_profile_bounds_and_start_come_from_settings() -> None:
    night = {
        "name": "night",
        "days": ["Monday", "Friday"],
        "start": "22:30",
        "minInstances": 1,
        "defaultInstances": 1,
        "maxInstances": 2,
    }
    autoscale = {**ENABLED, "timeZone": "W. Europe Standard Time", "profiles": [night]}
    run = declare_autoscale(autoscale_of(autoscale))
    _, profile = run.one(AUTOSCALE_SETTING).input("profiles")
    assert profile["capacity"] == {"minimum": "1", "default": "1", "maximum": "2"}
    assert profile["recurrence"]["schedule"] == {
        "days": ["Monday", "Friday"],
        "hours": [22],
        "minutes": [30],
        "timeZone": "W. Europe Standard Time",
    }


def test_time_zones_are_windows_ids_not_iana_names() -> None:
    assert {"UTC", "Eastern Standard Time", "W. Europe Standard Time"} <= AUTOSCALE_TIME_ZONES
    assert not any("/" in zone for zone in AUTOSCALE_TIME_ZONES)


@pytest.mark.parametrize(
    "zone", ["Pacific Standard Time (Mexico)", "US Eastern Standard Time", "UTC+12", "UTC-11"]
)
def test_every_documented_time_zone_is_accepted(zone: str) -> None:
    raw = {"deployments": [{"name": "blue", "traffic": 100, "autoscale": {"timeZone": zone}}]}
    (deployment,) = parse_settings(raw, "dev", "swedencentral").deployments
    assert deployment.autoscale.time_zone == zone


# --- Notifications --------------------------------------------------------------------------------


def test_notifications_mail_and_call_webhooks_on_scale() -> None:
    hook = "https://example.invalid/hooks/scale?sig=token"
    autoscale = {**ENABLED, "notifyEmails": ["ops@example.com"], "notifyWebhooks": [hook]}
    setting = declare_autoscale(autoscale_of(autoscale)).one(AUTOSCALE_SETTING)
    (notification,) = setting.input("notifications")
    assert notification["operation"] == "Scale"
    assert notification["email"]["customEmails"] == ["ops@example.com"]
    assert notification["webhooks"] == [{"serviceUri": hook}]
    # Webhook URLs carry their credential (Pulumi hides the whole notifications list with it).
    assert setting.is_secret("notifications.0.webhooks.0.serviceUri")


def test_no_notifications_unless_configured() -> None:
    setting = declare_autoscale(autoscale_of(ENABLED)).one(AUTOSCALE_SETTING)
    assert not setting.input("notifications")


# --- ISO 8601 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [(1, "PT1M"), (5, "PT5M"), (60, "PT1H"), (90, "PT1H30M"), (720, "PT12H"), (1440, "P1D"),
     (1500, "P1DT1H"), (10080, "P7D")],
)  # fmt: skip
def test_minutes_render_as_iso8601(minutes: int, expected: str) -> None:
    assert iso8601_minutes(minutes) == expected


def test_every_allowed_minute_count_round_trips() -> None:
    for minutes in range(1, 10081):
        assert iso8601_seconds(iso8601_minutes(minutes)) == minutes * MINUTE


def test_zero_minutes_is_not_a_duration() -> None:
    with pytest.raises(ValueError, match="at least one minute"):
        iso8601_minutes(0)


@pytest.mark.parametrize("text", ["P", "PT", "5M", "PT5", "P1W", "PT1.5M", "PT5m", "P1DT"])
def test_the_test_parser_rejects_malformed_durations(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        iso8601_seconds(text)


def test_turned_away_requests_scale_out() -> None:
    run = declare_autoscale(autoscale_of({**ENABLED}))
    rejected = [
        rule
        for _, rule in rules_of(run.one(AUTOSCALE_SETTING))
        if rule["metricTrigger"]["metricName"] == "RequestsPerMinute"
    ]
    assert rejected, "every profile needs the 429 rule"
    for rule in rejected:
        assert rule["scaleAction"]["direction"] == "Increase"
        assert rule["metricTrigger"]["operator"] == "GreaterThanOrEqual"
        # Average: the only aggregation the deployment's RequestsPerMinute supports.
        assert rule["metricTrigger"]["statistic"] == "Average"
        # Only the requests AzureML's admission control turned away, not all traffic.
        assert rule["metricTrigger"]["dimensions"] == [
            {"dimensionName": "envoy_response_code", "operator": "Equals", "values": ["429"]}
        ]


def test_the_429_rule_can_be_turned_off() -> None:
    run = declare_autoscale(autoscale_of({**ENABLED, "scaleOutRejectedPerMinute": 0}))
    metrics = {
        rule["metricTrigger"]["metricName"] for _, rule in rules_of(run.one(AUTOSCALE_SETTING))
    }
    assert "RequestsPerMinute" not in metrics

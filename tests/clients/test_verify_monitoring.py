"""The issue-14 checks of `make verify` (clients/verify/monitoring.py) against the loopback fakes:
each passes on a healthy stack, and fails or waits when one piece of the metrics path breaks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lib.catalog import MONITORING_METRICS_PUBLISHER_ROLE
from tests.support.fake_arm import RecordedRequest
from tests.support.fake_monitoring_stack import (
    ACTIVITY_LOG,
    SCALE_UP_EVENT,
    set_namespaces,
    set_running,
    setting_id,
    workbook_resource_id,
)
from tests.support.fake_stack import role_assignment
from tests.support.verify_world import World, verify_world

pytestmark = pytest.mark.usefixtures("isolated_environment", "fast_polls")

PLATFORM = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"


@pytest.fixture
def world(isolated_environment: Path) -> Iterator[World]:
    with verify_world(isolated_environment) as world:
        yield world


def _requests(world: World, path_end: str) -> list[RecordedRequest]:
    return [r for r in world.arm.requests if r.path.lower().endswith(path_end.lower())]


def _deployment(world: World, name: str) -> dict:
    listed = world.arm.resources[f"{world.stack.endpoint_id}/deployments".lower()]["value"]
    return next(item for item in listed if item["name"] == name)


# --- vllm-metrics ---------------------------------------------------------------------------------


def test_vllm_metrics_pass_reading_namespace_vllm_on_the_deployment(world: World) -> None:
    result = world.verify("--only", "vllm-metrics")
    assert result.status("vllm-metrics[blue]") == "pass"
    assert "3 minutes of requests_running" in result.checks["vllm-metrics[blue]"]["summary"]
    blue = world.stack.deployment_id("blue")
    (namespaces,) = _requests(world, f"{blue}/providers/microsoft.insights/metricNamespaces")
    assert namespaces.api_version == "2024-02-01"
    assert namespaces.query["startTime"][0].endswith("Z")
    (metrics,) = _requests(world, f"{blue}/providers/Microsoft.Insights/metrics")
    assert metrics.api_version == "2024-02-01"
    assert metrics.query["metricnamespace"] == ["vllm"]
    assert "requests_running" in metrics.query["metricnames"][0].split(",")
    assert metrics.query["aggregation"] == ["average,count"]
    start, end = metrics.query["timespan"][0].split("/")
    span = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    assert span == timedelta(minutes=15)


def test_no_vllm_namespace_fails_with_how_to_read_the_publisher_and_the_fallback(
    world: World,
) -> None:
    set_namespaces(world.arm, world.stack.deployment_id("green"), [PLATFORM])
    result = world.verify("--only", "vllm-metrics")
    assert result.status("vllm-metrics[blue]") == "pass"
    assert result.status("vllm-metrics[green]") == "fail"
    text = result.text("vllm-metrics[green]")
    assert "no metric namespace vllm" in text
    assert PLATFORM in text  # the namespaces it did find
    assert "get-logs -e vllm-prod-a1b2c3 -n green" in text
    assert "grep 'metrics-publisher:'" in text
    # green does not autoscale: its fallback is to stop publishing, not another metrics mode.
    assert "set `publishMetrics: false` for deployment green" in text
    assert "metricsMode" not in text
    assert result.code == 1


def test_an_autoscaled_deployment_without_metrics_falls_back_to_platform(world: World) -> None:
    set_namespaces(world.arm, world.stack.deployment_id("blue"), [PLATFORM])
    text = world.verify("--only", "vllm-metrics").text("vllm-metrics[blue]")
    assert "set `autoscale.metricsMode: platform` for deployment blue" in text


@pytest.mark.parametrize("counts", [[None, None, None], [0, 0, 0], []])
def test_no_requests_running_point_in_15_minutes_fails(world: World, counts: list) -> None:
    set_running(world.arm, world.stack.deployment_id("blue"), counts)
    result = world.verify("--only", "vllm-metrics")
    outcome = result.checks["vllm-metrics[blue]"]
    assert outcome["status"] == "fail"
    assert "sent no requests_running in the last 15 minutes" in outcome["summary"]
    assert "metrics-publisher:" in " ".join(outcome["fix"])


def test_azure_monitor_refusing_the_metric_query_fails_with_the_fallback(world: World) -> None:
    blue = world.stack.deployment_id("blue").lower()
    world.arm.handlers.append(
        lambda fake, request: (
            (400, {"error": {"code": "BadRequest", "message": "Metric not supported"}}, {})
            if request.path.lower() == f"{blue}/providers/microsoft.insights/metrics"
            else None
        )
    )
    result = world.verify("--only", "vllm-metrics")
    text = result.text("vllm-metrics[blue]")
    assert result.status("vllm-metrics[blue]") == "fail"
    assert "would not read vllm/requests_running" in text
    assert "Metric not supported" in text
    assert "autoscale.metricsMode: platform" in text


def test_a_deployment_younger_than_ten_minutes_waits_instead_of_failing(world: World) -> None:
    created = datetime.now(UTC) - timedelta(minutes=3)
    _deployment(world, "green")["systemData"] = {"createdAt": f"{created:%Y-%m-%dT%H:%M:%SZ}"}
    set_namespaces(world.arm, world.stack.deployment_id("green"), [])
    result = world.verify("--only", "vllm-metrics")
    outcome = result.checks["vllm-metrics[green]"]
    assert outcome["status"] == "skip"
    assert outcome["summary"].startswith("wait: deployment green was created 3 min ago")
    assert result.code == 0


def test_a_deployment_still_updating_waits(world: World) -> None:
    _deployment(world, "blue")["properties"]["provisioningState"] = "Updating"
    outcome = world.verify("--only", "vllm-metrics").checks["vllm-metrics[blue]"]
    assert outcome["status"] == "skip"
    assert "is Updating" in outcome["summary"]


def test_an_unknown_age_is_said_when_the_metrics_are_missing(world: World) -> None:
    del _deployment(world, "blue")["systemData"]
    set_namespaces(world.arm, world.stack.deployment_id("blue"), [])
    result = world.verify("--only", "vllm-metrics")
    assert result.status("vllm-metrics[blue]") == "fail"
    assert "age is unknown" in result.text("vllm-metrics[blue]")


def test_a_deployment_missing_from_the_endpoint_fails(world: World) -> None:
    listed = world.arm.resources[f"{world.stack.endpoint_id}/deployments".lower()]["value"]
    listed[:] = [item for item in listed if item["name"] != "green"]
    result = world.verify("--only", "vllm-metrics")
    assert result.status("vllm-metrics[green]") == "fail"
    assert "the endpoint has no deployment green" in result.text("vllm-metrics[green]")


def test_only_deployments_that_publish_are_checked(world: World) -> None:
    world.stack.outputs["deployments"]["green"]["publishMetrics"] = False
    result = world.verify("--only", "vllm-metrics", "--only", "metrics-publisher-role")
    assert set(result.checks) == {"vllm-metrics[blue]", "metrics-publisher-role[blue]"}
    world.stack.outputs["deployments"]["blue"]["publishMetrics"] = False
    result = world.verify("--only", "vllm-metrics", "--only", "metrics-publisher-role")
    assert result.status("vllm-metrics") == "skip"
    assert result.status("metrics-publisher-role") == "skip"


# --- metrics-publisher-role -----------------------------------------------------------------------


def test_the_role_at_the_deployment_scope_passes(world: World) -> None:
    result = world.verify("--only", "metrics-publisher-role")
    assert result.status("metrics-publisher-role[blue]") == "pass"
    blue = world.stack.deployment_id("blue")
    (listed,) = _requests(world, f"{blue}/providers/Microsoft.Authorization/roleAssignments")
    assert listed.api_version == "2022-04-01"
    assert listed.query["$filter"] == ["atScope()"]


@pytest.mark.parametrize("breakage", ["none", "other-principal", "other-role"])
def test_a_missing_publisher_role_fails_with_what_is_there(world: World, breakage: str) -> None:
    green = world.stack.deployment_id("green")
    assignments: list = []
    if breakage != "none":
        role = "acdd72a7-3385-48ef-bd42-f606fba81ae7" if breakage == "other-role" else None
        assignment = role_assignment(green, role or MONITORING_METRICS_PUBLISHER_ROLE)
        if breakage == "other-principal":
            assignment["properties"]["principalId"] = "00000000-0000-0000-0000-0000000000cc"
        assignments.append(assignment)
    path = f"{green}/providers/Microsoft.Authorization/roleAssignments".lower()
    world.arm.resources[path] = {"value": assignments}
    result = world.verify("--only", "metrics-publisher-role")
    assert result.status("metrics-publisher-role[blue]") == "pass"
    outcome = result.checks["metrics-publisher-role[green]"]
    assert outcome["status"] == "fail"
    assert "lacks Monitoring Metrics Publisher on deployment green" in outcome["summary"]
    if breakage == "other-principal":
        assert "00000000-0000-0000-0000-0000000000cc" in " ".join(outcome["evidence"])
    assert "pulumi up" in " ".join(outcome["fix"])


# --- autoscale-vllm-rules -------------------------------------------------------------------------


def test_rules_on_vllm_and_a_quiet_activity_log_pass(world: World) -> None:
    result = world.verify("--only", "autoscale-vllm-rules")
    assert set(result.checks) == {"autoscale-vllm-rules[blue]"}  # green does not autoscale
    assert result.status("autoscale-vllm-rules[blue]") == "pass"
    (log,) = _requests(world, ACTIVITY_LOG)
    assert log.api_version == "2015-04-01"
    expression = log.query["$filter"][0]
    assert expression.startswith("eventTimestamp ge '")
    assert " and eventTimestamp le '" in expression
    assert expression.endswith(f" and resourceUri eq '{setting_id(world.stack, 'blue')}'")


def _setting(world: World) -> dict:
    group = world.stack.endpoint_id.split("/providers/")[0]
    path = f"{group}/providers/microsoft.insights/autoscalesettings".lower()
    return world.arm.resources[path]["value"][0]


def test_a_profile_without_a_vllm_rule_fails(world: World) -> None:
    profiles = _setting(world)["properties"]["profiles"]
    profiles.append({"name": "weekday", "rules": [profiles[0]["rules"][0]]})  # platform only
    outcome = world.verify("--only", "autoscale-vllm-rules").checks["autoscale-vllm-rules[blue]"]
    assert outcome["status"] == "fail"
    assert "profiles without a vllm rule: weekday" in outcome["evidence"]


@pytest.mark.parametrize(
    "description",
    [
        "Metrics aren't available for autoscale service to make a scale decision (vllm)",
        "Autoscale failed: metric 'requests_waiting' in namespace 'vllm' not found",
        "The metric namespace vllm is unsupported for this resource",
    ],
)
def test_an_event_saying_the_metric_cannot_be_read_fails(world: World, description: str) -> None:
    event = dict(SCALE_UP_EVENT, description=description, properties={}, eventTimestamp="t1")
    world.arm.resources[ACTIVITY_LOG.lower()]["value"].append(event)
    result = world.verify("--only", "autoscale-vllm-rules")
    outcome = result.checks["autoscale-vllm-rules[blue]"]
    assert outcome["status"] == "fail"
    assert outcome["evidence"] == [f"t1: {description} {SCALE_UP_EVENT['operationName']['value']}"]
    assert "autoscale.metricsMode: platform" in " ".join(outcome["fix"])


def test_platform_mode_or_no_autoscale_skips_the_vllm_rules(world: World) -> None:
    world.stack.outputs["deployments"]["blue"]["autoscaleMetricsMode"] = "platform"
    assert world.verify("--only", "autoscale-vllm-rules").status("autoscale-vllm-rules") == "skip"
    world.stack.outputs["deployments"]["blue"].update(autoscaleMetricsMode="vllm", autoscale=False)
    assert world.verify("--only", "autoscale-vllm-rules").status("autoscale-vllm-rules") == "skip"


def test_no_setting_for_the_deployment_fails_the_vllm_rules(world: World) -> None:
    _setting(world)["properties"]["targetResourceUri"] = world.stack.deployment_id("green")
    outcome = world.verify("--only", "autoscale-vllm-rules").checks["autoscale-vllm-rules[blue]"]
    assert outcome["status"] == "fail"
    assert "no autoscale setting targets deployment blue" in outcome["summary"]


# --- dashboard ------------------------------------------------------------------------------------


def test_the_programs_workbook_passes(world: World) -> None:
    result = world.verify("--only", "dashboard")
    assert result.status("dashboard") == "pass", result.checks["dashboard"]
    (read,) = _requests(world, workbook_resource_id(world.stack))
    assert read.api_version == "2023-06-01"
    assert read.query["canFetchContent"] == ["true"]


@pytest.mark.parametrize(
    ("breakage", "phrase"),
    [
        ("deleted", "does not exist"),
        ("garbled", "serializedData is not JSON"),
        ("not-an-object", "serializedData is missing or not a JSON object"),
        ("version", "serializedData version 'Notebook/0.9'"),
        ("kind", "kind is 'user', not 'shared'"),
        ("other-workbook", "no section for deployment(s) blue, green"),
    ],
)
def test_a_missing_or_malformed_workbook_fails(world: World, breakage: str, phrase: str) -> None:
    path = workbook_resource_id(world.stack).lower()
    workbook = world.arm.resources[path]
    data = {
        "garbled": '{"version": "Notebook/1.0", "items": [',
        "not-an-object": "[]",
        "version": '{"version": "Notebook/0.9", "items": []}',
        "other-workbook": '{"version": "Notebook/1.0", "items": []}',
    }
    if breakage == "deleted":
        del world.arm.resources[path]
    elif breakage == "kind":
        workbook["kind"] = "user"
    else:
        workbook["properties"]["serializedData"] = data[breakage]
    result = world.verify("--only", "dashboard")
    assert result.status("dashboard") == "fail"
    assert phrase in result.text("dashboard")
    assert "pulumi up" in " ".join(result.checks["dashboard"]["fix"])


@pytest.mark.parametrize("url", [None, "https://portal.azure.com/#blade/nothing"])
def test_no_workbook_in_the_outputs_skips_the_dashboard(world: World, url: str | None) -> None:
    world.stack.outputs.pop("dashboardUrl")
    if url:
        world.stack.outputs["dashboardUrl"] = url
    assert world.verify("--only", "dashboard").status("dashboard") == "skip"


# --- all of them ----------------------------------------------------------------------------------


def test_failing_monitoring_checks_never_print_the_arm_token(world: World) -> None:
    for name in ("blue", "green"):
        set_namespaces(world.arm, world.stack.deployment_id(name), [])
    world.arm.resources.pop(workbook_resource_id(world.stack).lower())
    result = world.verify(
        "--only", "vllm-metrics", "--only", "metrics-publisher-role", "--only", "dashboard"
    )
    assert result.code == 1
    assert "fake-arm-token" not in result.stdout + result.stderr


def test_outputs_from_before_the_fields_say_to_export_them(world: World) -> None:
    for output in world.stack.outputs["deployments"].values():
        del output["publishMetrics"]
        del output["autoscaleMetricsMode"]
    result = world.verify(
        "--only",
        "vllm-metrics",
        "--only",
        "metrics-publisher-role",
        "--only",
        "autoscale-vllm-rules",
    )
    for check_id in ("vllm-metrics", "metrics-publisher-role", "autoscale-vllm-rules"):
        assert result.status(check_id) == "skip"
        assert "predate deployments.<name>." in result.checks[check_id]["summary"]

"""Checks for issue 14 (Reader on the resource group is enough): the vLLM metrics the in-container
publisher sends to Azure Monitor, the role it sends them with, the autoscale setting that reads
them, and the stack's workbook. They prove what docs/autoscale.md ("What only a live stack proves")
and docs/adr/0025-vllm-metrics-into-azure-monitor.md leave open offline.

API versions and shapes, from Azure/azure-rest-api-specs, specification/:
- metric namespaces: monitor/resource-manager/Microsoft.Insights/stable/2024-02-01/examples/
  GetMetricNamespaces.json (``value[].properties.metricNamespaceName``, ``classification``
  Custom or Platform; query ``startTime``), the stable successor of
  preview/2017-12-01-preview/metricNamespaces_API.json (MetricNamespaces_List, same shape);
- metrics: monitor/.../stable/2024-02-01/metrics_API.json (Metrics_List: ``metricnamespace``,
  ``metricnames``, ``timespan``, ``interval``, ``aggregation``) and examples/GetMetric.json
  (``value[].name.value``, ``value[].timeseries[].data[]`` with one field per aggregation);
- activity log: monitor/.../stable/2015-04-01/activityLogs_API.json (ActivityLogs_List; the
  ``$filter`` allows only ``eventTimestamp ge .. and eventTimestamp le .. and resourceUri eq ..``;
  EventData ``description``, ``operationName``, ``category``, ``status``, ``properties``);
- workbooks: applicationinsights/resource-manager/Microsoft.Insights/stable/2023-06-01/
  workbooks_API.json (Workbooks_Get with ``canFetchContent``; ``kind`` only ``shared``;
  ``properties.serializedData`` "a string containing valid JSON"; ``properties.version``);
- role assignments: authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/
  authorization-RoleAssignmentsCalls.json (RoleAssignments_ListForScope, ``$filter=atScope()``:
  the assignments at or above the scope).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from clients.verify.azure import (
    ROLE_ASSIGNMENTS_API_VERSION,
    metric_points,
    settings_targeting,
)
from clients.verify.registry import Context, Outcome, check, failed, passed, skipped
from lib.arm import ArmError
from lib.autoscale_rules import CUSTOM_NAMESPACE, RUNNING_METRIC, WAITING_METRIC
from lib.catalog import MONITORING_METRICS_PUBLISHER_ROLE, WORKBOOK_VERSION

METRIC_NAMESPACES_API_VERSION = "2024-02-01"
ACTIVITY_LOG_API_VERSION = "2015-04-01"
WORKBOOK_API_VERSION = "2023-06-01"  # azure-native 3.29's applicationinsights.Workbook
# The publisher sends every 60 s and Azure Monitor shows a point a few minutes later; a deployment
# younger than this has had no fair chance (verify-requests: "at least 10 minutes").
WARM_UP = timedelta(minutes=10)
ACTIVITY_WINDOW = timedelta(hours=1)
# What an Autoscale activity-log event says when a rule's metric cannot be read: "Metrics aren't
# available for autoscale service to make a scale decision" (azure-docs autoscale-best-practices.md,
# "Configure autoscale notifications"), "metric not found", "unsupported" metric or namespace.
UNREADABLE = ("not found", "unsupported", "not supported", "not available", "aren't available")
PORTAL_RESOURCE = "#resource"


def _time(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}"


def _deployments(ctx: Context, *, key: str, value: Any) -> list[str]:
    """The deployments whose stack output ``deployments.<name>.<key>`` is ``value``."""
    exported = ctx.outputs.get("deployments") or {}
    return sorted(
        name for name, item in exported.items() if isinstance(item, dict) and item.get(key) == value
    )


def _none_because(ctx: Context, key: str, nothing: str) -> Outcome:
    """The skip when no deployment qualifies; a stack exported before ``key`` existed says so."""
    exported = ctx.outputs.get("deployments") or {}
    if exported and not any(isinstance(d, dict) and key in d for d in exported.values()):
        return skipped(
            f"the stack outputs predate deployments.<name>.{key}: `pulumi up` exports it, then "
            "re-run"
        )
    return skipped(nothing)


def _created_at(deployment: dict[str, Any]) -> datetime | None:
    text = str((deployment.get("systemData") or {}).get("createdAt") or "")
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _warming_up(ctx: Context, name: str) -> tuple[Outcome | None, list[str]]:
    """A skip ("wait") for a deployment that has not had 10 minutes to publish, a failure for one
    that does not exist; else None and what is known of its age."""
    deployment = ctx.arm_deployments().get(name.lower())
    if deployment is None:
        return failed(
            f"the endpoint has no deployment {name}",
            [f"deployments on the endpoint: {', '.join(sorted(ctx.arm_deployments())) or 'none'}"],
            ["`pulumi up` creates it"],
        ), []
    state = (deployment.get("properties") or {}).get("provisioningState")
    if state and state != "Succeeded":
        return skipped(
            f"wait: deployment {name} is {state}; re-run 10 minutes after it is Succeeded"
        ), []
    created = _created_at(deployment)
    if created is None:
        return None, [
            "ARM gave no systemData.createdAt, so the deployment's age is unknown: if it was "
            "created less than 10 minutes ago, wait and re-run"
        ]
    age = ctx.now() - created
    if age < WARM_UP:
        return skipped(
            f"wait: deployment {name} was created {int(age.total_seconds() // 60)} min ago; its "
            f"first metrics need about 10 minutes: re-run after {_time(created + WARM_UP)}"
        ), []
    return None, [f"deployment created {_time(created)}"]


def _namespaces(ctx: Context, resource: str) -> list[str]:
    start = _time(ctx.now() - ACTIVITY_WINDOW)
    items = ctx.arm.list(
        f"{resource}/providers/microsoft.insights/metricNamespaces",
        METRIC_NAMESPACES_API_VERSION,
        max_pages=2,
        query=f"startTime={quote(start, safe='')}",
    )
    return sorted(
        str((item.get("properties") or {}).get("metricNamespaceName") or item.get("name") or "")
        for item in items
    )


def _running_points(ctx: Context, resource: str) -> int:
    """Points of ``requests_running`` with count >= 1 (at least one instance reported in that
    minute) in the last 15 minutes."""
    points = metric_points(
        ctx, resource, CUSTOM_NAMESPACE, [RUNNING_METRIC, WAITING_METRIC], ("average", "count")
    )
    return sum(
        1
        for name, point in points
        if name == RUNNING_METRIC
        and isinstance(point.get("count"), int | float)
        and point["count"] >= 1
    )


def _publisher_fix(ctx: Context, name: str) -> list[str]:
    endpoint = ctx.outputs.get("endpointName", "<endpoint>")
    region = ctx.outputs.get("region", "<region>")
    output = (ctx.outputs.get("deployments") or {}).get(name) or {}
    # Autoscale on vllm needs the metrics, so its fallback is platform; a deployment that does not
    # autoscale on them only loses the workbook's vLLM charts.
    fallback = (
        f"set `autoscale.metricsMode: platform` for deployment {name} (docs/autoscale.md)"
        if output.get("autoscale") and output.get("autoscaleMetricsMode") == "vllm"
        else f"nothing autoscales on them; set `publishMetrics: false` for deployment {name} to "
        "stop the publisher (the workbook then shows no vLLM charts for it)"
    )
    return [
        "read the publisher's lines (they never carry a token): `az ml online-deployment "
        f"get-logs -e {endpoint} -n {name} --lines 200 | grep 'metrics-publisher:'`",
        "HTTP 403 there: the Monitoring Metrics Publisher role has not propagated yet (minutes) "
        "or is on another scope: see the metrics-publisher-role check",
        f"HTTP 400 or 404 from {region}.monitoring.azure.com: Azure Monitor takes no custom "
        f"metrics for this resource: {fallback}, then `pulumi up`",
        "no `metrics-publisher:` line at all: the publisher did not start; it starts when the "
        "deployment's environment has AZURE_METRICS_RESOURCE_ID (publishMetrics: true)",
    ]


def _vllm_metrics_of(ctx: Context, name: str) -> Outcome:
    wait, age = _warming_up(ctx, name)
    if wait is not None:
        return wait
    resource = ctx.deployment_id(name)
    namespaces = _namespaces(ctx, resource)
    evidence = [f"metric namespaces on the deployment: {', '.join(namespaces) or 'none'}", *age]
    if CUSTOM_NAMESPACE not in {namespace.lower() for namespace in namespaces}:
        return failed(
            f"deployment {name} has no metric namespace {CUSTOM_NAMESPACE}: its vLLM metrics "
            "never arrived",
            evidence,
            _publisher_fix(ctx, name),
        )
    try:
        points = _running_points(ctx, resource)
    except ArmError as error:
        # A 400/404 for a listed namespace: Azure Monitor cannot serve these metrics; anything
        # else (login, throttling) is the generic "could not read ARM".
        if error.status not in (400, 404):
            raise
        return failed(
            f"Azure Monitor would not read {CUSTOM_NAMESPACE}/{RUNNING_METRIC} of {name}",
            [*evidence, str(error)],
            _publisher_fix(ctx, name),
        )
    if not points:
        return failed(
            f"deployment {name} sent no {RUNNING_METRIC} in the last 15 minutes",
            evidence,
            _publisher_fix(ctx, name),
        )
    return passed(
        f"deployment {name} publishes vLLM metrics: {points} minutes of {RUNNING_METRIC} in the "
        "last 15",
        *evidence,
    )


@check("vllm-metrics", "the vLLM metrics arrive on each deployment (namespace vllm)", uses_arm=True)
def vllm_metrics(ctx: Context) -> list[Outcome]:
    outcomes = []
    for name in _deployments(ctx, key="publishMetrics", value=True):
        outcome = _vllm_metrics_of(ctx, name)
        outcome.id = name
        outcomes.append(outcome)
    return outcomes or [
        _none_because(
            ctx, "publishMetrics", "no deployment publishes vLLM metrics (publishMetrics: false)"
        )
    ]


def _principal(ctx: Context) -> str:
    return str((ctx.arm_endpoint().get("identity") or {}).get("principalId") or "")


@check(
    "metrics-publisher-role",
    "the endpoint identity may publish metrics on each deployment",
    uses_arm=True,
)
def metrics_publisher_role(ctx: Context) -> list[Outcome]:
    names = _deployments(ctx, key="publishMetrics", value=True)
    if not names:
        return [
            _none_because(
                ctx,
                "publishMetrics",
                "no deployment publishes vLLM metrics (publishMetrics: false)",
            )
        ]
    principal = _principal(ctx)
    if not principal:
        return [failed("the endpoint has no managed identity", [], ["`pulumi up` gives it one"])]
    outcomes = []
    for name in names:
        outcome = _publisher_role_of(ctx, name, principal)
        outcome.id = name
        outcomes.append(outcome)
    return outcomes


def _publisher_role_of(ctx: Context, name: str, principal: str) -> Outcome:
    scope = ctx.deployment_id(name)
    assignments = ctx.arm.list(
        f"{scope}/providers/Microsoft.Authorization/roleAssignments",
        ROLE_ASSIGNMENTS_API_VERSION,
        query=f"$filter={quote('atScope()', safe='')}",
    )
    held = []
    for assignment in assignments:
        properties = assignment.get("properties") or {}
        role = str(properties.get("roleDefinitionId", "")).rsplit("/", 1)[-1].lower()
        if role == MONITORING_METRICS_PUBLISHER_ROLE and properties.get("principalId") == principal:
            held.append(str(properties.get("scope") or scope))
    if held:
        return passed(
            f"the endpoint identity {principal} holds Monitoring Metrics Publisher for {name}",
            *[f"assigned at {where}" for where in held],
        )
    seen = [
        f"role {str((a.get('properties') or {}).get('roleDefinitionId', '')).rsplit('/', 1)[-1]} "
        f"for principal {(a.get('properties') or {}).get('principalId')}"
        for a in assignments
    ]
    return failed(
        f"the endpoint identity {principal} lacks Monitoring Metrics Publisher on deployment {name}",
        [f"role assignments at or above {scope}:", *(seen or ["none"])],
        [
            "`pulumi up` assigns it (components/endpoint.py, the deployment's "
            "`-metrics-publisher` role assignment; the deployer needs roleAssignments/write)",
            "until it exists the publisher's POSTs answer 403 (`metrics-publisher:` lines)",
        ],
    )


def _rule_namespaces(setting: dict[str, Any]) -> list[tuple[str, set[str]]]:
    """Each profile's name and the metric namespaces its rules read."""
    return [
        (
            str(profile.get("name")),
            {
                str((rule.get("metricTrigger") or {}).get("metricNamespace") or "").lower()
                for rule in profile.get("rules") or []
                if isinstance(rule, dict)
            },
        )
        for profile in (setting.get("properties") or {}).get("profiles") or []
        if isinstance(profile, dict)
    ]


def _unreadable_events(ctx: Context, setting_id: str) -> list[str]:
    """Autoscale events of the last hour on the setting that say a rule's metric could not be
    read."""
    end = ctx.now()
    expression = (
        f"eventTimestamp ge '{_time(end - ACTIVITY_WINDOW)}' and eventTimestamp le "
        f"'{_time(end)}' and resourceUri eq '{setting_id}'"
    )
    events = ctx.arm.list(
        f"/subscriptions/{ctx.subscription}/providers/Microsoft.Insights/eventtypes/management/values",
        ACTIVITY_LOG_API_VERSION,
        max_pages=5,
        query=f"$filter={quote(expression, safe='')}",
    )
    found = []
    for event in events:
        properties = event.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        operation = event.get("operationName")
        operation = operation if isinstance(operation, dict) else {}
        text = " ".join(
            str(part)
            for part in (
                event.get("description"),
                properties.get("description"),
                operation.get("value"),
            )
            if part
        )
        if "metric" in text.lower() and any(phrase in text.lower() for phrase in UNREADABLE):
            found.append(f"{event.get('eventTimestamp')}: {text[:300]}")
    return found


def _autoscale_rules_of(ctx: Context, name: str) -> Outcome:
    settings = settings_targeting(ctx, name)
    if not settings:
        return failed(
            f"no autoscale setting targets deployment {name}",
            [],
            ["`pulumi up` creates it (see the autoscale check)"],
        )
    setting = settings[0]
    setting_id = str(setting.get("id") or "")
    without = [
        profile for profile, spaces in _rule_namespaces(setting) if CUSTOM_NAMESPACE not in spaces
    ]
    if without or not _rule_namespaces(setting):
        return failed(
            f"autoscale of {name} does not read the {CUSTOM_NAMESPACE} metrics",
            [f"profiles without a {CUSTOM_NAMESPACE} rule: {', '.join(without) or 'no profiles'}"],
            ["`pulumi up` puts the rules back (metricsMode vllm, lib/autoscale_rules.py)"],
        )
    events = _unreadable_events(ctx, setting_id) if setting_id else []
    if events:
        return failed(
            f"autoscale of {name} could not read its {CUSTOM_NAMESPACE} metrics in the last hour",
            events[:10],
            [
                f"set `autoscale.metricsMode: platform` for deployment {name} until the "
                f"vllm-metrics check passes, then `pulumi up`; back to vllm once it does",
            ],
        )
    evidence = [f"setting {setting.get('name')}: every profile has a {CUSTOM_NAMESPACE} rule"]
    if not setting_id:
        evidence.append("ARM gave the setting no id, so its activity log was not read")
    else:
        evidence.append("no 'metric not available' event on it in the last hour")
    return passed(f"autoscale of {name} reads the {CUSTOM_NAMESPACE} metrics", *evidence)


@check(
    "autoscale-vllm-rules",
    "autoscale in metricsMode vllm reads the vllm metrics, and Azure Monitor finds them",
    uses_arm=True,
)
def autoscale_vllm_rules(ctx: Context) -> list[Outcome]:
    autoscaled = set(_deployments(ctx, key="autoscale", value=True))
    names = [
        n for n in _deployments(ctx, key="autoscaleMetricsMode", value="vllm") if n in autoscaled
    ]
    outcomes = []
    for name in names:
        outcome = _autoscale_rules_of(ctx, name)
        outcome.id = name
        outcomes.append(outcome)
    return outcomes or [
        _none_because(ctx, "autoscaleMetricsMode", "no deployment autoscales on the vllm metrics")
    ]


def workbook_id(url: Any) -> str | None:
    """The workbook's ARM id from the ``dashboardUrl`` output (portal URL ``...#resource<id>``)."""
    if not isinstance(url, str) or PORTAL_RESOURCE not in url:
        return None
    resource = url.split(PORTAL_RESOURCE, 1)[1]
    return resource if resource.startswith("/subscriptions/") else None


def _workbook_problems(workbook: dict[str, Any], deployments: list[str]) -> list[str]:
    problems = []
    if workbook.get("kind") != "shared":
        problems.append(f"kind is {workbook.get('kind')!r}, not 'shared'")
    serialized = (workbook.get("properties") or {}).get("serializedData")
    try:
        document = json.loads(serialized) if isinstance(serialized, str) else None
    except json.JSONDecodeError as error:
        return [*problems, f"serializedData is not JSON ({error.msg} at {error.pos})"]
    if not isinstance(document, dict):
        return [*problems, "serializedData is missing or not a JSON object"]
    if document.get("version") != WORKBOOK_VERSION:
        problems.append(
            f"serializedData version {document.get('version')!r}, not {WORKBOOK_VERSION}"
        )
    names = {
        str(item.get("name")) for item in document.get("items") or [] if isinstance(item, dict)
    }
    missing = [name for name in deployments if f"{name}-title" not in names]
    if missing:
        problems.append(f"no section for deployment(s) {', '.join(missing)}")
    return problems


@check("dashboard", "the stack's workbook (dashboardUrl) exists and is a workbook", uses_arm=True)
def dashboard(ctx: Context) -> Outcome:
    resource = workbook_id(ctx.outputs.get("dashboardUrl"))
    if resource is None:
        return skipped("the stack outputs have no dashboardUrl with a workbook id")
    url = f"{ctx.arm.base_url}{resource}?api-version={WORKBOOK_API_VERSION}&canFetchContent=true"
    try:
        workbook = ctx.arm.get_url(url)
    except ArmError as error:
        if error.status != 404:
            raise
        return failed(
            "the workbook behind dashboardUrl does not exist",
            [resource],
            ["`pulumi up` creates it (components/dashboard.py); check that nothing deleted it"],
        )
    problems = _workbook_problems(workbook, sorted(ctx.outputs.get("deployments") or {}))
    if problems:
        return failed(
            "the workbook behind dashboardUrl is not the one the program declares",
            [resource, *problems],
            ["`pulumi up` writes it again (a portal edit saved over it changes serializedData)"],
        )
    return passed(
        f"the workbook {(workbook.get('properties') or {}).get('displayName')!r} exists, shared, "
        f"{WORKBOOK_VERSION}, with a section per deployment",
        resource,
    )

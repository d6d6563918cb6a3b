"""Checks that read ARM (Reader on the resource group is enough): traffic, autoscale and the
metrics its rules read, the managed network, and the endpoint identity's roles."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from clients.verify.registry import (
    ML_API_VERSION,
    Context,
    Outcome,
    check,
    failed,
    passed,
    skipped,
)
from clients.verify.serving import KEY_VAULT_REFERENCE, hugging_face_references
from lib.catalog import KEY_VAULT_SECRETS_USER_ROLE

# Stable API versions, from azure-rest-api-specs specification/monitor/resource-manager/
# Microsoft.Insights/stable/: autoscale_API.json (2022-10-01) and metrics_API.json (2024-02-01,
# example GetMetric.json: value[].timeseries[].data[] with timeStamp and one field per
# aggregation); Microsoft.Authorization role assignments 2022-04-01 (what azure-native 3.29's
# RoleAssignment uses).
AUTOSCALE_API_VERSION = "2022-10-01"
METRICS_API_VERSION = "2024-02-01"
ROLE_ASSIGNMENTS_API_VERSION = "2022-04-01"
METRICS_WINDOW = timedelta(minutes=15)
AGGREGATIONS = ("average", "count", "maximum", "minimum", "total")


def _shares(mapping: Any) -> dict[str, int]:
    """A traffic map as ARM compares it: names without case, 0 % entries dropped."""
    if not isinstance(mapping, dict):
        return {}
    return {str(k).lower(): int(v) for k, v in mapping.items() if isinstance(v, int | float) and v}


@check("traffic", "live and mirror traffic equal the stack file", uses_arm=True)
def traffic(ctx: Context) -> Outcome:
    declared = {
        "traffic": _shares({n: d.traffic for n, d in ctx.endpoint.deployments.items()}),
        "mirrorTraffic": _shares(
            {n: d.mirror_traffic for n, d in ctx.endpoint.deployments.items()}
        ),
    }
    properties = ctx.arm_endpoint().get("properties") or {}
    live = {key: _shares(properties.get(key)) for key in declared}
    evidence = [f"{key}: declared {declared[key]}, on the endpoint {live[key]}" for key in declared]
    if live == declared:
        return passed("the endpoint's traffic is what the stack declares", *evidence)
    return failed(
        "the endpoint's traffic differs from the stack",
        evidence,
        [
            "`pulumi up` puts the declared traffic back (EndpointTraffic compares with the live "
            "endpoint); if the change was intended, put it in the stack file's deployments first",
        ],
    )


def _rules(setting: dict[str, Any]) -> list[dict[str, Any]]:
    profiles = (setting.get("properties") or {}).get("profiles") or []
    return [
        rule.get("metricTrigger") or {}
        for profile in profiles
        if isinstance(profile, dict)
        for rule in profile.get("rules") or []
        if isinstance(rule, dict)
    ]


def metric_points(
    ctx: Context,
    resource: str,
    namespace: str,
    names: Sequence[str],
    aggregations: Sequence[str] = AGGREGATIONS,
) -> list[tuple[str, dict[str, Any]]]:
    """Every one-minute point of the last METRICS_WINDOW of ``names`` on ``resource``, as
    (metric name in lower case, point), from Azure Monitor's metrics API."""
    end = ctx.now()
    start = end - METRICS_WINDOW
    query = "&".join(
        [
            f"metricnames={','.join(quote(name, safe='') for name in names)}",
            f"metricnamespace={quote(namespace, safe='')}",
            f"timespan={start:%Y-%m-%dT%H:%M:%SZ}/{end:%Y-%m-%dT%H:%M:%SZ}",
            "interval=PT1M",
            f"aggregation={','.join(aggregations)}",
        ]
    )
    url = f"{ctx.arm.base_url}{resource}/providers/Microsoft.Insights/metrics"
    answer = ctx.arm.get_url(f"{url}?api-version={METRICS_API_VERSION}&{query}")
    return [
        (str(((metric or {}).get("name") or {}).get("value") or "").lower(), point or {})
        for metric in answer.get("value") or []
        for series in (metric or {}).get("timeseries") or []
        for point in (series or {}).get("data") or []
    ]


def _has_data(ctx: Context, trigger: dict[str, Any]) -> bool:
    points = metric_points(
        ctx,
        str(trigger.get("metricResourceUri", "")),
        str(trigger.get("metricNamespace") or ""),
        [str(trigger.get("metricName", ""))],
    )
    return any(
        isinstance(point.get(name), int | float) for _, point in points for name in AGGREGATIONS
    )


def _autoscale_problems(ctx: Context, setting: dict[str, Any]) -> list[str]:
    properties = setting.get("properties") or {}
    problems = []
    if properties.get("enabled") is not True:
        problems.append(f"setting {setting.get('name')} is not enabled")
    seen: set[tuple[str, str]] = set()
    for trigger in _rules(setting):
        key = (str(trigger.get("metricResourceUri", "")).lower(), str(trigger.get("metricName")))
        if key in seen:
            continue
        seen.add(key)
        if not _has_data(ctx, trigger):
            problems.append(
                f"metric {trigger.get('metricNamespace') or '(platform)'}/"
                f"{trigger.get('metricName')} on {trigger.get('metricResourceUri')} has no data "
                "in the last 15 minutes"
            )
    return problems


def autoscale_settings(ctx: Context) -> list[dict[str, Any]]:
    """The resource group's autoscale settings (ARM list), read once per run."""
    return ctx.remember(
        "arm-autoscale-settings",
        lambda: ctx.arm.list(
            f"{ctx.resource_group_id}/providers/Microsoft.Insights/autoscalesettings",
            AUTOSCALE_API_VERSION,
        ),
    )


def settings_targeting(ctx: Context, deployment: str) -> list[dict[str, Any]]:
    """The settings whose target is ``deployment``. Found by target, not by name: the program
    names them `autoscale-<project>-<stack>-<deployment>` (lib/naming.py), which the outputs do
    not carry, and the target is what Azure Monitor scales."""
    target = ctx.deployment_id(deployment).lower()
    return [
        setting
        for setting in autoscale_settings(ctx)
        if str((setting.get("properties") or {}).get("targetResourceUri", "")).lower() == target
    ]


@check(
    "autoscale",
    "autoscale is enabled, targets its deployment, and its metrics have data",
    uses_arm=True,
)
def autoscale(ctx: Context) -> list[Outcome]:
    wanted = sorted(
        name
        for name, value in (ctx.outputs.get("deployments") or {}).items()
        if isinstance(value, dict) and value.get("autoscale")
    )
    if not wanted:
        return [skipped("no deployment of the stack autoscales")]
    settings = autoscale_settings(ctx)
    outcomes = []
    for name in wanted:
        target = ctx.deployment_id(name)
        matching = settings_targeting(ctx, name)
        if not matching:
            outcome = failed(
                f"no autoscale setting targets deployment {name}",
                [f"{len(settings)} autoscale settings in the resource group, none for {target}"],
                ["`pulumi up` creates it; check that nothing deleted it"],
            )
        else:
            problems = [p for s in matching for p in _autoscale_problems(ctx, s)]
            outcome = (
                failed(
                    f"autoscale of {name} would not act as declared",
                    problems,
                    [
                        "a disabled or retargeted setting: `pulumi up` restores it",
                        "a metric without data: platform metrics need traffic (send some and "
                        "re-run); a custom metric (namespace vllm) needs its publisher running "
                        "and its role (docs/autoscale.md)",
                    ],
                )
                if problems
                else passed(
                    f"autoscale of {name} is enabled, targets it, and every metric its rules "
                    "read has data",
                    *[s.get("name", "") for s in matching],
                )
            )
        outcome.id = name
        outcomes.append(outcome)
    return outcomes


@check("managed-network", "the managed network and its outbound rules are Active", uses_arm=True)
def managed_network(ctx: Context) -> Outcome:
    workspace = ctx.remember("arm-workspace", lambda: ctx.arm.get(ctx.workspace_id, ML_API_VERSION))
    if workspace is None:
        return failed(f"no workspace {ctx.workspace_id}", [], ["`pulumi up` creates it"])
    network = (workspace.get("properties") or {}).get("managedNetwork") or {}
    mode = network.get("isolationMode") or "Disabled"
    if mode == "Disabled":
        return skipped("the workspace has no managed network (isolationMode Disabled)")
    status = (network.get("status") or {}).get("status")
    rules = ctx.arm.list(f"{ctx.workspace_id}/outboundRules", ML_API_VERSION)
    inactive = [
        f"outbound rule {r.get('name')} ({(r.get('properties') or {}).get('destination')}): "
        f"{(r.get('properties') or {}).get('status')}"
        + (
            f" ({(r.get('properties') or {}).get('errorInformation')})"
            if (r.get("properties") or {}).get("errorInformation")
            else ""
        )
        for r in rules
        if (r.get("properties") or {}).get("status") != "Active"
    ]
    evidence = [f"isolationMode {mode}, network status {status}", f"{len(rules)} outbound rules"]
    if status == "Active" and not inactive:
        return passed("the managed network and all its outbound rules are Active", *evidence)
    return failed(
        "the managed network is not fully Active",
        evidence + inactive,
        [
            "provision it (about 30 minutes): `az ml workspace provision-network -g "
            f"{ctx.outputs.get('resourceGroupName')} -n {ctx.outputs.get('workspaceName')}`",
            "a rule that stays Inactive or Failed: check its destination (FQDN rules allow ports "
            "80 and 443 only)",
        ],
    )


def _expected_roles(ctx: Context) -> list[tuple[str, str, str]]:
    """(role GUID, scope, why): the stack's `endpointRoleAssignments` output when it has one, else
    what the deployments imply (Key Vault Secrets User on each injected secret)."""
    exported = ctx.outputs.get("endpointRoleAssignments")
    if isinstance(exported, list):
        return [
            (
                str(item.get("role", "")).rsplit("/", 1)[-1],
                str(item.get("scope", "")),
                str(item.get("why", "")),
            )
            for item in exported
            if isinstance(item, dict)
        ]
    workspace = ctx.remember("arm-workspace", lambda: ctx.arm.get(ctx.workspace_id, ML_API_VERSION))
    vault = str(((workspace or {}).get("properties") or {}).get("keyVault") or "")
    expected = set()
    for name, deployment in ctx.arm_deployments().items():
        for reference in hugging_face_references(deployment):
            match = KEY_VAULT_REFERENCE.match(reference)
            if match and vault:
                scope = f"{vault}/secrets/{match.group(2)}"
                expected.add((KEY_VAULT_SECRETS_USER_ROLE, scope, f"{name} reads its HF_TOKEN"))
    return sorted(expected)


@check("endpoint-roles", "the endpoint identity holds the roles the program assigns", uses_arm=True)
def endpoint_roles(ctx: Context) -> Outcome:
    principal = str((ctx.arm_endpoint().get("identity") or {}).get("principalId") or "")
    if not principal:
        return failed("the endpoint has no managed identity", [], ["`pulumi up` gives it one"])
    expected = _expected_roles(ctx)
    if not expected:
        return skipped("the program assigns the endpoint identity no role in this stack")
    missing, held = [], []
    for role, scope, why in expected:
        where = quote(f"principalId eq '{principal}'", safe="")
        assignments = ctx.arm.list(
            f"{scope}/providers/Microsoft.Authorization/roleAssignments",
            ROLE_ASSIGNMENTS_API_VERSION,
            query=f"$filter={where}",
        )
        roles = {
            str((a.get("properties") or {}).get("roleDefinitionId", "")).rsplit("/", 1)[-1].lower()
            for a in assignments
        }
        (held if role.lower() in roles else missing).append(f"{role} on {scope} ({why})")
    if not missing:
        return passed(f"the endpoint identity {principal} holds every role", *held)
    return failed(
        f"the endpoint identity {principal} lacks {len(missing)} role(s)",
        [f"missing: {m}" for m in missing] + [f"held: {h}" for h in held],
        [
            "`pulumi up` assigns them (the deployer needs roleAssignments/write: Owner, User "
            "Access Administrator or RBAC Administrator); new assignments can take minutes",
        ],
    )

"""What issue 14 adds to a deployed stack, in the loopback fake ARM, for the verify tests: the
deployments' age and state, the publisher's `vllm` metric namespace and points on each deployment,
the Monitoring Metrics Publisher role there, autoscale rules that read `vllm` and an activity log,
and the stack's workbook (the document components/dashboard.py writes).

:func:`add_monitoring` fills a :class:`FakeArm` already filled by
tests/support/fake_stack.py's ``deployed_stack``; tests then break one piece at a time. Shapes follow
the REST specs cited in clients/verify/monitoring.py.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from components.dashboard import DashboardDeployment, workbook_document, workbook_name
from lib.catalog import MONITORING_METRICS_PUBLISHER_ROLE
from tests.support.fake_arm import FakeArm
from tests.support.fake_stack import SUBSCRIPTION, DeployedStack, role_assignment

ACTIVITY_LOG = (
    f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Insights/eventtypes/management/values"
)
# A scale action: what a healthy setting's activity log holds (Autoscale events,
# azure-docs alerts-common-schema "Activity Log - Autoscale" sample).
SCALE_UP_EVENT = {
    "category": {"value": "Autoscale"},
    "caller": "Microsoft.Insights/autoscaleSettings",
    "eventTimestamp": "2026-12-01T11:40:00Z",
    "operationName": {"value": "Microsoft.Insights/AutoscaleSettings/Scaleup/Action"},
    "status": {"value": "Succeeded"},
    "description": "The autoscale engine attempting to scale resource from 2 instances count to 3.",
    "properties": {"description": "The autoscale engine attempting to scale resource from 2 to 3."},
}


def _put(fake: FakeArm, path: str, resource: Any) -> None:
    fake.resources[path.lower()] = resource


def _group(stack: DeployedStack) -> str:
    return stack.endpoint_id.split("/providers/")[0]


def setting_id(stack: DeployedStack, deployment: str) -> str:
    return f"{_group(stack)}/providers/Microsoft.Insights/autoscalesettings/autoscale-{deployment}"


def workbook_resource_id(stack: DeployedStack) -> str:
    return f"{_group(stack)}/providers/Microsoft.Insights/workbooks/{workbook_name('vllm', 'prod')}"


def add_monitoring(fake: FakeArm, stack: DeployedStack, now: datetime | None = None) -> None:
    """Every deployment publishes and is two hours old; autoscaled ones read `vllm`."""
    now = now or datetime.now(UTC)
    deployments = stack.outputs["deployments"]
    for item in fake.resources[f"{stack.endpoint_id}/deployments".lower()]["value"]:
        item["systemData"] = {"createdAt": f"{now - timedelta(hours=2):%Y-%m-%dT%H:%M:%S.%fZ}"}
        item.setdefault("properties", {})["provisioningState"] = "Succeeded"
    for name, output in deployments.items():
        output["publishMetrics"] = True
        output["autoscaleMetricsMode"] = "vllm"
        resource = stack.deployment_id(name)
        set_namespaces(
            fake,
            resource,
            ["vllm", "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"],
        )
        set_running(fake, resource, [1, 2, 2])
        _put(
            fake,
            f"{resource}/providers/Microsoft.Authorization/roleAssignments",
            {"value": [role_assignment(resource, MONITORING_METRICS_PUBLISHER_ROLE)]},
        )
    _vllm_rules(fake, stack)
    _put(
        fake, ACTIVITY_LOG, {"value": [dict(SCALE_UP_EVENT, resourceId=setting_id(stack, "blue"))]}
    )
    _workbook(fake, stack)


def set_namespaces(fake: FakeArm, resource: str, names: list[str]) -> None:
    _put(
        fake,
        f"{resource}/providers/microsoft.insights/metricNamespaces",
        {
            "value": [
                {
                    "name": name.replace("/", "-"),
                    "type": "Microsoft.Insights/metricNamespaces",
                    "classification": "Platform" if "/" in name else "Custom",
                    "properties": {"metricNamespaceName": name},
                }
                for name in names
            ]
        },
    )


def set_running(fake: FakeArm, resource: str, counts: list[int | None]) -> None:
    """The metrics answer for ``resource``: requests_running and requests_waiting, one point per
    minute with these counts (instances that reported), None for a minute without a point."""

    def series(metric: str) -> dict[str, Any]:
        data = [
            {"timeStamp": f"2026-12-01T11:{50 + i:02d}:00Z"}
            | ({"average": 1.0, "count": count} if count is not None else {})
            for i, count in enumerate(counts)
        ]
        return {"name": {"value": metric}, "timeseries": [{"data": data}], "errorCode": "Success"}

    _put(
        fake,
        f"{resource}/providers/Microsoft.Insights/metrics",
        {
            "timespan": "2026-12-01T11:45:00Z/2026-12-01T12:00:00Z",
            "namespace": "vllm",
            "value": [series("requests_running"), series("requests_waiting")],
        },
    )


def _vllm_rules(fake: FakeArm, stack: DeployedStack) -> None:
    """The autoscaled deployments' settings get an id and, in every profile, the rules the vllm
    mode writes (lib/autoscale_rules.py) next to the platform rule fake_stack gives them."""
    settings = fake.resources[
        f"{_group(stack)}/providers/Microsoft.Insights/autoscalesettings".lower()
    ]
    for setting in settings["value"]:
        target = setting["properties"]["targetResourceUri"]
        name = target.rsplit("/", 1)[-1]
        setting["id"] = setting_id(stack, name)
        vllm = {
            "metricTrigger": {
                "metricName": "requests_waiting",
                "metricNamespace": "vllm",
                "metricResourceUri": target,
            }
        }
        for profile in setting["properties"]["profiles"]:
            profile["rules"].append(copy.deepcopy(vllm))


def _workbook(fake: FakeArm, stack: DeployedStack) -> None:
    resource = workbook_resource_id(stack)
    deployments = [
        (DashboardDeployment(name, "", "Standard_NC24ads_A100_v4", True), stack.deployment_id(name))
        for name in stack.outputs["deployments"]
    ]
    _put(
        fake,
        resource,
        {
            "id": resource,
            "name": resource.rsplit("/", 1)[-1],
            "type": "Microsoft.Insights/workbooks",
            "kind": "shared",
            "properties": {
                "displayName": "vllm prod: vLLM on AzureML",
                "category": "workbook",
                "version": "Notebook/1.0",
                "serializedData": workbook_document("vllm prod: vLLM on AzureML", deployments),
            },
        },
    )
    stack.outputs["dashboardUrl"] = f"https://portal.azure.com/#resource{resource}"

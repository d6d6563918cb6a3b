"""An Azure Monitor workbook per stack: instances, requests, 429/408, queue, KV cache, TTFT,
tokens per second and cost per hour, for every deployment, minute by minute.

One ``Microsoft.Insights/workbooks`` resource (azure-native ``applicationinsights.Workbook``, API
2023-06-01), shared, in the resource group's "workbook" gallery. Per deployment it charts the
platform metrics every deployment has (``DeploymentCapacity``, ``RequestsPerMinute`` split by
``envoy_response_code``) and, for a deployment that publishes them, the in-container publisher's
``vllm`` namespace (docker/metrics_publisher.py; docs/adr/0025). Cost per hour is the instance
count times the size's hourly price: the workbook states that price only when the dated price
table (lib/prices.py) has it, and says so when it does not.

The workbook's name must be a UUID (Microsoft.Insights.Application schema, 2023-06-01: "The value
must be an UUID"); it is derived from the project and stack, so a stack always names the same
workbook, and the serialized JSON is written with sorted keys: a second `pulumi up` changes nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import applicationinsights

from lib.autoscale_rules import (
    CAPACITY_METRIC,
    CUSTOM_NAMESPACE,
    GENERATION_RATE_METRIC,
    KV_CACHE_METRIC,
    PLATFORM_NAMESPACE,
    PROMPT_RATE_METRIC,
    REQUESTS_METRIC,
    RESPONSE_CODE_DIMENSION,
    RUNNING_METRIC,
    TTFT_P50_METRIC,
    TTFT_P90_METRIC,
    WAITING_METRIC,
)
from lib.catalog import WORKBOOK_VERSION

DAY_MS = 24 * 3600 * 1000
# Workbook metric aggregations (the codes the portal writes): Sum 1, Min 2, Max 3, Average 4.
SUM, MAXIMUM, AVERAGE = 1, 3, 4
# A fixed namespace for the workbook's UUID: uuid5 of (this, project/stack) names the workbook.
WORKBOOK_NAMESPACE = uuid.UUID("6f1c7c2e-4f1b-5d0a-9a51-2c4f0e7b9d31")


@dataclass(frozen=True)
class DashboardDeployment:
    """One deployment's line in the workbook."""

    name: str
    resource_id: pulumi.Input[str]
    instance_type: str
    publishes_vllm_metrics: bool
    # From lib/prices.py: the price per instance-hour and where it comes from, or None.
    hourly_price: float | None = None
    price_note: str = "no price in lib/prices.json"


@dataclass(frozen=True)
class StackDashboardArgs:
    """The stack (for the name and title), where the workbook lives, and the deployments."""

    project: str
    stack: str
    location: str
    resource_group_name: pulumi.Input[str]
    tags: Mapping[str, str]
    deployments: Sequence[DashboardDeployment]


def workbook_name(project: str, stack: str) -> str:
    return str(uuid.uuid5(WORKBOOK_NAMESPACE, f"{project}/{stack}"))


def _metric(namespace: str, metric: str, aggregation: int, split: str | None = None) -> dict:
    spec: dict[str, Any] = {
        "namespace": namespace,
        "metric": f"{namespace}--{metric}",
        "aggregation": aggregation,
    }
    if split:
        spec["splitBy"] = split
    return spec


def _chart(key: str, title: str, resource_id: str, metrics: list[dict]) -> dict:
    return {
        "type": 10,
        "name": key,
        "content": {
            "chartId": f"workbook-{key}",
            "version": "MetricsItem/2.0",
            "size": 0,
            "chartType": 2,  # line
            "resourceType": PLATFORM_NAMESPACE.lower(),
            "metricScope": 0,
            "resourceIds": [resource_id],
            "timeContextFromParameter": "TimeRange",
            "timeContext": {"durationMs": DAY_MS},
            "metrics": metrics,
            "title": title,
        },
    }


def _text(key: str, markdown: str) -> dict:
    return {"type": 1, "name": key, "content": {"json": markdown}}


def _cost_text(deployment: DashboardDeployment) -> str:
    if deployment.hourly_price is not None:
        return (
            f"Cost per hour = instances x {deployment.hourly_price:g} per instance-hour "
            f"({deployment.instance_type}; {deployment.price_note})."
        )
    return (
        f"Cost per hour = instances x the hourly price of {deployment.instance_type} "
        f"({deployment.price_note})."
    )


def _deployment_items(deployment: DashboardDeployment, resource_id: str) -> list[dict]:
    key = deployment.name
    items = [
        _text(f"{key}-title", f"## Deployment `{key}`\n{_cost_text(deployment)}"),
        _chart(
            f"{key}-instances",
            "Instances",
            resource_id,
            [_metric(PLATFORM_NAMESPACE, CAPACITY_METRIC, AVERAGE)],
        ),
        _chart(
            f"{key}-requests",
            "Requests per minute by response code (429: turned away, 408: timed out)",
            resource_id,
            [_metric(PLATFORM_NAMESPACE, REQUESTS_METRIC, AVERAGE, RESPONSE_CODE_DIMENSION)],
        ),
    ]
    if not deployment.publishes_vllm_metrics:
        items.append(
            _text(f"{key}-no-vllm", "vLLM metrics are off for this deployment (publishMetrics).")
        )
        return items
    custom = [
        ("queue", "Requests waiting and running (all instances)", [
            _metric(CUSTOM_NAMESPACE, WAITING_METRIC, SUM),
            _metric(CUSTOM_NAMESPACE, RUNNING_METRIC, SUM),
        ]),
        ("kv-cache", "KV-cache use, % (highest instance and average)", [
            _metric(CUSTOM_NAMESPACE, KV_CACHE_METRIC, MAXIMUM),
            _metric(CUSTOM_NAMESPACE, KV_CACHE_METRIC, AVERAGE),
        ]),
        ("ttft", "Time to first token, s (p50 and p90 per instance)", [
            _metric(CUSTOM_NAMESPACE, TTFT_P50_METRIC, AVERAGE),
            _metric(CUSTOM_NAMESPACE, TTFT_P90_METRIC, MAXIMUM),
        ]),
        ("tokens", "Tokens per second (all instances)", [
            _metric(CUSTOM_NAMESPACE, PROMPT_RATE_METRIC, SUM),
            _metric(CUSTOM_NAMESPACE, GENERATION_RATE_METRIC, SUM),
        ]),
    ]  # fmt: skip
    items += [_chart(f"{key}-{part}", title, resource_id, m) for part, title, m in custom]
    return items


def workbook_document(title: str, deployments: Sequence[tuple[DashboardDeployment, str]]) -> str:
    """The workbook's serializedData: deterministic JSON (sorted keys, deployments by name)."""
    items: list[dict] = [
        _text("title", f"# {title}\nEvery chart is per minute. docs/autoscale.md explains them."),
        {
            "type": 9,
            "name": "parameters",
            "content": {
                "version": "KqlParameterItem/1.0",
                "parameters": [
                    {
                        "id": str(uuid.uuid5(WORKBOOK_NAMESPACE, "TimeRange")),
                        "version": "KqlParameterItem/1.0",
                        "name": "TimeRange",
                        "type": 4,
                        "value": {"durationMs": DAY_MS},
                        "typeSettings": {
                            "selectableValues": [
                                {"durationMs": hours * 3600 * 1000} for hours in (1, 4, 24, 168)
                            ]
                        },
                    }
                ],
            },
        },
    ]
    for deployment, resource_id in sorted(deployments, key=lambda pair: pair[0].name):
        items += _deployment_items(deployment, resource_id)
    return json.dumps({"version": WORKBOOK_VERSION, "items": items}, sort_keys=True)


class StackDashboard(pulumi.ComponentResource):
    """The stack's workbook; ``workbook_url`` opens it in the Azure portal."""

    workbook_id: pulumi.Output[str]
    workbook_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: StackDashboardArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("vllm-azureml:dashboard:StackDashboard", name, None, opts)
        title = f"{args.project} {args.stack}: vLLM on AzureML"
        resource_ids = [d.resource_id for d in args.deployments]
        serialized = pulumi.Output.all(*resource_ids).apply(
            lambda ids: workbook_document(title, list(zip(args.deployments, ids, strict=True)))
        )
        workbook = applicationinsights.Workbook(
            f"{name}-workbook",
            resource_name_=workbook_name(args.project, args.stack),
            resource_group_name=args.resource_group_name,
            location=args.location,
            kind=applicationinsights.WorkbookSharedTypeKind.SHARED,
            category="workbook",
            display_name=title,
            serialized_data=serialized,
            version=WORKBOOK_VERSION,
            # "Azure Monitor": a workbook not tied to one resource's blade; it reads each
            # deployment by the ids in its charts.
            source_id="Azure Monitor",
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.workbook_id = workbook.id
        self.workbook_url = workbook.id.apply(lambda i: f"https://portal.azure.com/#resource{i}")
        self.register_outputs({"workbook_id": self.workbook_id, "workbook_url": self.workbook_url})

"""The stack's workbook under mocks: a stable UUID name per stack, a shared workbook whose version
matches its serialized document, and a document that charts what the issue asks for,
deterministically. The request body itself (property names, kind, required keys, the UUID name) is
validated against Microsoft's 2023-06-01 workbooks schema in tests/test_arm_schemas.py."""

from __future__ import annotations

import json
import uuid

from components.dashboard import (
    DashboardDeployment,
    StackDashboard,
    StackDashboardArgs,
    workbook_document,
    workbook_name,
)
from tests.support.components import declare, outputs_of

WORKBOOK = "azure-native:applicationinsights:Workbook"
ID = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w/onlineEndpoints/e/deployments/"


def _deployments(publishes: bool = True) -> list[DashboardDeployment]:
    return [
        DashboardDeployment(
            "green",
            ID + "green",
            "Standard_NC24ads_A100_v4",
            publishes,
            3.673,
            "lib/prices.json, 2026-11-09",
        ),
        DashboardDeployment("blue", ID + "blue", "Standard_NC24ads_A100_v4", publishes),
    ]


def _declare(publishes: bool = True):
    def build():
        dashboard = StackDashboard(
            "dashboard",
            StackDashboardArgs(
                project="vllm-azureml",
                stack="prod",
                location="eastus2",
                resource_group_name="rg-test",
                tags={"stack": "prod"},
                deployments=_deployments(publishes),
            ),
        )
        return outputs_of(dashboard, ("workbook_id", "workbook_url"))

    return declare(build)


def test_workbook_is_shared_its_name_a_stable_uuid_per_stack_and_its_version_its_documents() -> (
    None
):
    run = _declare()
    workbook = run.one(WORKBOOK)
    name = workbook.inputs["resourceName"]
    assert uuid.UUID(name) and name == workbook_name("vllm-azureml", "prod")
    assert name != workbook_name("vllm-azureml", "dev")
    # The schema allows kind to be left out; shared is what makes the stack's workbook visible to
    # everyone with access to the resource group (and what make verify's dashboard check reads).
    assert workbook.inputs["kind"] == "shared"
    # "should match the workbook in serializedData" (the schema's prose, which it cannot check).
    document = json.loads(workbook.inputs["serializedData"])
    assert document["version"] == workbook.inputs["version"] == "Notebook/1.0"
    assert (
        run.outputs["workbook_url"]
        == f"https://portal.azure.com/#resource{run.outputs['workbook_id']}"
    )


def _charted(document: dict) -> dict[str, set[str]]:
    charts: dict[str, set[str]] = {}
    for item in document["items"]:
        if item["type"] == 10:
            (resource,) = item["content"]["resourceIds"]
            charts.setdefault(resource.rsplit("/", 1)[1], set()).update(
                m["metric"].split("--", 1)[1] for m in item["content"]["metrics"]
            )
    return charts


def test_each_deployment_shows_instances_requests_queue_kv_ttft_tokens_and_cost() -> None:
    pairs = [(d, str(d.resource_id)) for d in _deployments()]
    document = json.loads(workbook_document("t", pairs))
    wanted = {
        "DeploymentCapacity",
        "RequestsPerMinute",
        "requests_waiting",
        "requests_running",
        "kv_cache_usage_percent",
        "ttft_p50_seconds",
        "ttft_p90_seconds",
        "prompt_tokens_per_second",
        "generation_tokens_per_second",
    }
    assert _charted(document) == {"blue": wanted, "green": wanted}
    requests = next(i for i in document["items"] if i["name"] == "blue-requests")
    assert requests["content"]["metrics"][0]["splitBy"] == "envoy_response_code"
    texts = " ".join(i["content"]["json"] for i in document["items"] if i["type"] == 1)
    assert "instances x 3.673 per instance-hour" in texts  # green has a price
    assert "hourly price of Standard_NC24ads_A100_v4 (no price in lib/prices.json)" in texts


def test_document_is_deterministic_whatever_the_order_of_deployments() -> None:
    pairs = [(d, str(d.resource_id)) for d in _deployments()]
    assert workbook_document("t", pairs) == workbook_document("t", list(reversed(pairs)))


def test_without_published_metrics_only_platform_charts_remain() -> None:
    pairs = [(d, str(d.resource_id)) for d in _deployments(publishes=False)]
    charted = _charted(json.loads(workbook_document("t", pairs)))
    assert charted["blue"] == {"DeploymentCapacity", "RequestsPerMinute"}

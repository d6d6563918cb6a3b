"""The preview's answers: cost per deployment and per stack, placeholders marked, a readable graph."""

from __future__ import annotations

import re
from typing import Any

import pytest

from lib.prices import PriceTable
from tests.conftest import RunProgram
from tests.support.preview import preview_in_process
from tools import cost, graph, placeholders
from tools.offline import OFFLINE_SUBSCRIPTION_ID
from tools.preview import to_json

TABLE = PriceTable(
    retrieved="2026-01-01",
    source="test",
    currency="USD",
    prices={"eastus": {"Standard_NC24ads_A100_v4": 4.0, "Standard_NC48ads_A100_v4": 9.0}},
)
PROFILES = [
    # Business hours on weekdays at two instances, nights and weekends at one.
    {
        "name": "day",
        "days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
        "start": "08:00",
        "minInstances": 2,
        "defaultInstances": 2,
        "maxInstances": 6,
    },
    {
        "name": "night",
        "days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
        "start": "20:00",
        "minInstances": 1,
        "defaultInstances": 1,
        "maxInstances": 3,
    },
    {
        "name": "weekend",
        "days": ["Saturday", "Sunday"],
        "start": "00:00",
        "minInstances": 1,
        "defaultInstances": 1,
        "maxInstances": 3,
    },
]


def eastus(run: RunProgram, **overrides: Any) -> dict[str, Any]:
    return to_json(run("prod", **{"azure-native:location": "eastus", **overrides}))


def test_fixed_deployments_cost_instances_times_price(run: RunProgram) -> None:
    plan = eastus(
        run,
        deployments=[
            {"name": "blue", "instanceCount": 2, "traffic": 100},
            {
                "name": "green",
                "instanceType": "Standard_NC48ads_A100_v4",
                "instanceCount": 1,
                "traffic": 0,
            },
        ],
    )
    result = cost.plan_cost(plan, TABLE)
    by_name = {deployment.name: deployment for deployment in result.deployments}
    assert by_name["blue"].hourly_at_minimum == 8.0
    assert by_name["green"].hourly_at_minimum == 9.0
    assert result.total("hourly_at_minimum") == 17.0
    assert result.total("monthly_at_minimum") == 17.0 * 730
    text = cost.render(result)
    assert (
        "blue: Standard_NC24ads_A100_v4 in eastus, 2 x 4.000 USD/h per instance = 8.00 USD/h"
        in text
    )
    assert "stack: 17.00 USD/h, 12,410.00 USD/month" in text


def test_autoscale_shows_the_range_and_the_schedule_weighted_floor(run: RunProgram) -> None:
    plan = eastus(
        run,
        deployments=[
            {
                "name": "blue",
                "instanceCount": 2,
                "traffic": 100,
                "autoscale": {
                    "enabled": True,
                    "minInstances": 2,
                    "defaultInstances": 2,
                    "maxInstances": 6,
                    "profiles": PROFILES,
                },
            }
        ],
    )
    (blue,) = cost.plan_cost(plan, TABLE).deployments
    assert (blue.minimum, blue.maximum) == (1, 6)
    # 5 x 12 h at two instances, the other 108 h of the week at one: 228 / 168.
    assert blue.weekly_floor == pytest.approx(228 / 168)
    assert blue.monthly_at_minimum == pytest.approx(4.0 * 228 / 168 * 730)
    assert "4.00-24.00 USD/h" in cost.render(cost.plan_cost(plan, TABLE))


def test_an_unknown_price_is_said_and_never_guessed(run: RunProgram) -> None:
    plan = to_json(run("prod"))  # eastus2: not in the test table
    text = cost.render(cost.plan_cost(plan, TABLE))
    assert "price unknown for Standard_NC24ads_A100_v4 in eastus2" in text
    assert "stack: unknown" in text
    assert "Azure Firewall (Standard)" in text  # prod's approved-outbound network


def test_make_preview_prints_cost_for_prod() -> None:
    # `make preview STACK=prod` runs this command; the start from a shell is tested in
    # tests/test_program.py, for dev.
    result = preview_in_process("--stack", "prod")
    assert result.returncode == 0, result.stderr
    assert "Cost (pay-as-you-go, prices retrieved" in result.stdout
    assert re.search(
        r"blue: Standard_NC24ads_A100_v4 in eastus2(, .* USD/h|: price unknown)", result.stdout
    )


def test_placeholders_are_marked_and_real_values_are_not(run: RunProgram) -> None:
    result = run("dev")
    tokens = placeholders.tokens(result, "vllm-azureml", "swedencentral", "")
    assert OFFLINE_SUBSCRIPTION_ID in tokens
    assert placeholders.is_placeholder(result.outputs["endpointName"], tokens)
    assert placeholders.is_placeholder(result.outputs["imageReference"], tokens)
    assert placeholders.is_placeholder(result.outputs["scoringUri"], tokens)
    # Names without the subscription suffix, and the pinned base image, are real.
    assert not placeholders.is_placeholder(result.outputs["workspaceName"], tokens)
    base = result.one("pulumi-python:dynamic/containerregistry:ImportImage").input("source_image")
    assert not placeholders.is_placeholder(base, tokens)


def test_the_graph_has_a_subgraph_per_component_and_no_resource_group_edges(
    run: RunProgram,
) -> None:
    plan = to_json(run("prod"))
    text = graph.to_mermaid(plan["resources"])
    assert text.startswith("flowchart LR\n")
    components = [r for r in plan["resources"] if not r["custom"]]
    subgraphs = re.findall(r'^  subgraph (c\d+)\["([^"]+)"\]$', text, re.MULTILINE)
    assert sorted(label for _, label in subgraphs) == sorted(
        f"{r['type'].split(':')[-1]} {r['name']}" for r in components
    )
    assert text.count("\n  end\n") == len(subgraphs)
    nodes = re.findall(r'^\s+(r\d+)\["', text, re.MULTILINE)
    custom = [r for r in plan["resources"] if r["custom"]]
    assert len(nodes) == len(set(nodes)) == len(custom)
    edges = re.findall(r"^  (\w+) --> (\w+)$", text, re.MULTILINE)
    declared = set(nodes) | {identifier for identifier, _ in subgraphs}
    assert edges and all(a in declared and b in declared for a, b in edges)
    group = next(r for r in plan["resources"] if r["type"] == graph.RESOURCE_GROUP)
    group_id = f"r{plan['resources'].index(group)}"
    assert all(a != group_id for a, _ in edges)
    # The deployment still comes after the endpoint and before traffic.
    ids = {r["name"]: f"r{i}" for i, r in enumerate(plan["resources"])}
    assert (ids["endpoint-endpoint"], ids["endpoint-blue"]) in edges
    assert (ids["endpoint-blue"], ids["endpoint-traffic"]) in edges


def test_transitive_edges_are_left_out() -> None:
    assert graph._reduce({("a", "b"), ("b", "c"), ("a", "c")}) == {("a", "b"), ("b", "c")}

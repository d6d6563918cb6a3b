"""The region's AzureML facts for a deployed stack, in the loopback fake ARM, for the verify tests:
each deployment's size and instance count as ARM lists them, the subscription's usages in the region
(the "Cluster Dedicated vCPUs" entry counting them) and the region's VM sizes (marked MIR).
Shapes follow azure-rest-api-specs machinelearningservices 2025-12-01 examples/Usage/list.json and
examples/VirtualMachineSize/list.json, as tests/lib/test_preflight.py has them."""

from __future__ import annotations

from typing import Any

from tests.support.fake_arm import FakeArm
from tests.support.fake_stack import SUBSCRIPTION, DeployedStack

A100 = "Standard_NC24ads_A100_v4"
A100_FAMILY = "Standard NCADSA100v4 Family"


def location(stack: DeployedStack) -> str:
    return (
        f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.MachineLearningServices/locations/"
        f"{stack.outputs['region']}"
    )


def usage(name: str, current: int, limit: int = 200) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{SUBSCRIPTION}/usages/{name.replace(' ', '_')}",
        "type": "Microsoft.MachineLearningServices/vmFamily/usages",
        "currentValue": current,
        "limit": limit,
        "unit": "Count",
        "name": {"value": name, "localizedValue": name},
    }


def set_usages(fake: FakeArm, stack: DeployedStack, usages: list[dict[str, Any]]) -> None:
    fake.resources[f"{location(stack)}/usages".lower()] = {"value": usages}


def set_sizes(fake: FakeArm, stack: DeployedStack, compute_types: list[str]) -> None:
    size = {"name": A100, "family": "standardNCADSA100v4Family", "vCPUs": 24}
    fake.resources[f"{location(stack)}/vmSizes".lower()] = {
        "value": [{**size, "supportedComputeTypes": compute_types}]
    }


def add_region(fake: FakeArm, stack: DeployedStack) -> None:
    """Blue runs 2 and green 1 instance of the A100 size: 72 vCPUs, which the Cluster Dedicated
    entry counts (with 48 more from elsewhere in the subscription)."""
    listed = fake.resources[f"{stack.endpoint_id}/deployments".lower()]["value"]
    for item in listed:
        item["sku"] = {"name": "Default", "capacity": 2 if item["name"] == "blue" else 1}
        item.setdefault("properties", {})["instanceType"] = A100
    set_usages(
        fake,
        stack,
        [
            usage(f"{A100_FAMILY} Cluster Dedicated vCPUs", 120),
            usage(f"{A100_FAMILY} Cluster LowPriority vCPUs", 0, -1),
        ],
    )
    set_sizes(fake, stack, ["AmlCompute", "MIR"])

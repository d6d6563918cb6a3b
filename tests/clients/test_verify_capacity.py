"""The region checks of `make verify` (clients/verify/capacity.py) against the loopback fakes: the
usage entry the preflight reads counts the deployments' vCPUs, and MIR marks the sizes they run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_region_stack import A100_FAMILY, location, set_sizes, set_usages, usage
from tests.support.verify_world import World, verify_world

pytestmark = pytest.mark.usefixtures("isolated_environment", "fast_polls")


@pytest.fixture
def world(isolated_environment: Path) -> Iterator[World]:
    with verify_world(isolated_environment) as world:
        yield world


def test_the_cluster_dedicated_entry_counting_the_deployments_passes(world: World) -> None:
    result = world.verify("--only", "quota-usage")
    outcome = result.checks["quota-usage"]
    assert outcome["status"] == "pass"
    assert outcome["evidence"] == [
        "standardNCADSA100v4Family: the deployments run 72 vCPUs; "
        f"{A100_FAMILY} Cluster Dedicated vCPUs: currentValue 120, limit 200"
    ]
    (read,) = [r for r in world.arm.requests if r.path.lower().endswith("/usages")]
    assert read.path.lower() == f"{location(world.stack)}/usages".lower()
    assert read.api_version == "2025-12-01"


def test_an_entry_that_does_not_grow_fails_and_names_the_one_that_does(world: World) -> None:
    set_usages(
        world.arm,
        world.stack,
        [
            usage(f"{A100_FAMILY} Cluster Dedicated vCPUs", 0),
            usage(f"{A100_FAMILY} Dedicated vCPUs", 72),
        ],
    )
    outcome = world.verify("--only", "quota-usage").checks["quota-usage"]
    assert outcome["status"] == "fail"
    assert f"{A100_FAMILY} Dedicated vCPUs: currentValue 72, limit 200" in outcome["evidence"][-1]
    assert "lib/preflight.py" in " ".join(outcome["fix"])


def test_no_cluster_dedicated_entry_fails_quota_usage(world: World) -> None:
    set_usages(world.arm, world.stack, [])
    outcome = world.verify("--only", "quota-usage").checks["quota-usage"]
    assert outcome["status"] == "fail"
    assert "no such entry" in outcome["evidence"][0]


def test_sizes_without_quota_facts_skip_quota_usage(world: World) -> None:
    listed = world.arm.resources[f"{world.stack.endpoint_id}/deployments".lower()]["value"]
    for item in listed:
        item["properties"]["instanceType"] = "Standard_Unknown_v9"
    outcome = world.verify("--only", "quota-usage").checks["quota-usage"]
    assert outcome["status"] == "skip"
    assert "Standard_Unknown_v9" in outcome["evidence"]


def test_a_size_marked_mir_passes(world: World) -> None:
    outcome = world.verify("--only", "managed-online-size").checks["managed-online-size"]
    assert outcome["status"] == "pass"
    assert "['AmlCompute', 'MIR']" in outcome["evidence"][0]


def test_a_size_that_serves_but_lacks_mir_fails(world: World) -> None:
    set_sizes(world.arm, world.stack, ["AmlCompute"])
    outcome = world.verify("--only", "managed-online-size").checks["managed-online-size"]
    assert outcome["status"] == "fail"
    assert "supportedComputeTypes ['AmlCompute']" in outcome["evidence"][0]
    assert "check_vm_sizes" in " ".join(outcome["fix"])


def test_no_succeeded_deployment_skips_the_size_check(world: World) -> None:
    listed = world.arm.resources[f"{world.stack.endpoint_id}/deployments".lower()]["value"]
    for item in listed:
        item["properties"]["provisioningState"] = "Creating"
    outcome = world.verify("--only", "managed-online-size").checks["managed-online-size"]
    assert outcome["status"] == "skip"

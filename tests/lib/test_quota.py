"""The vCPU quota figure: AzureML's upgrade reserve, its exempt sizes, peaks and blue/green."""

from __future__ import annotations

import pytest

from lib.quota import (
    VM_QUOTA_FACTS,
    DeploymentDemand,
    VmQuotaFacts,
    demand_of,
    facts_for,
    family_key,
    instances_to_reserve,
    quota_lines,
    quota_needed,
)
from settings import GPU_INSTANCE_TYPES, load_settings
from tests.conftest import stack_entries

DS3_V2 = VmQuotaFacts("Standard_DS3_v2", "standardDSv2Family", 4, False)


def test_microsofts_worked_example_reserves_twenty_percent() -> None:
    # how-to-deploy-online-endpoints.md: 10 x Standard_DS3_v2 (4 cores) needs 48 cores.
    assert instances_to_reserve(DS3_V2, 10) * DS3_V2.vcpus == 48


@pytest.mark.parametrize(("instances", "reserved"), [(1, 2), (3, 4), (5, 6), (6, 8), (10, 12)])
def test_the_reserve_rounds_up(instances: int, reserved: int) -> None:
    assert instances_to_reserve(DS3_V2, instances) == reserved


def test_sizes_the_sku_list_exempts_reserve_nothing() -> None:
    a100 = facts_for("Standard_NC24ads_A100_v4")
    assert a100.skips_upgrade_reservation
    assert instances_to_reserve(a100, 6) == 6
    t4 = facts_for("standard_nc4as_t4_v3")
    assert not t4.skips_upgrade_reservation
    assert instances_to_reserve(t4, 3) == 4


def test_every_instance_type_settings_allow_has_quota_facts() -> None:
    assert {name.lower() for name in GPU_INSTANCE_TYPES} <= set(VM_QUOTA_FACTS)


def test_an_unknown_size_is_refused_with_where_to_add_it() -> None:
    with pytest.raises(ValueError, match=r"lib/quota\.py"):
        facts_for("Standard_X1")


def test_usage_names_and_sku_list_families_meet() -> None:
    # The usages API names the quota "<family> Family Cluster Dedicated vCPUs".
    assert family_key("Standard NCADSA100v4 Family Cluster Dedicated vCPUs") == family_key(
        "standardNCADSA100v4Family"
    )
    assert family_key("Standard NCASv3_T4 Family Cluster Dedicated vCPUs") == family_key(
        "standard NCASv3_T4 Family"
    )
    assert family_key("Standard NCSv3 Family Cluster Dedicated vCPUs") != family_key(
        "standardNCADSA100v4Family"
    )


def test_prods_peak_is_its_highest_autoscale_maximum() -> None:
    settings = load_settings(stack_entries("prod"), "prod")
    (blue,) = settings.deployments
    assert demand_of(blue) == DeploymentDemand("blue", "Standard_NC24ads_A100_v4", 6)
    (need,) = quota_needed([demand_of(blue)])
    assert need.vcpus == 6 * 24


def test_a_fixed_deployment_peaks_at_its_instance_count() -> None:
    settings = load_settings(stack_entries("dev"), "dev")
    assert [demand_of(d).peak_instances for d in settings.deployments] == [
        d.instance_count for d in settings.deployments
    ]


def test_blue_green_counts_both_colours_in_each_family() -> None:
    needs = quota_needed(
        [
            DeploymentDemand("blue", "Standard_NC24ads_A100_v4", 6),
            DeploymentDemand("green", "Standard_NC48ads_A100_v4", 2),
            DeploymentDemand("canary", "Standard_NC4as_T4_v3", 3),
        ]
    )
    by_family = {need.family: need.vcpus for need in needs}
    assert by_family == {
        "standardNCADSA100v4Family": 6 * 24 + 2 * 48,
        "standard NCASv3_T4 Family": 4 * 4,
    }


def test_the_preview_section_names_each_family_and_deployment() -> None:
    needs = quota_needed(
        [
            DeploymentDemand("blue", "Standard_NC24ads_A100_v4", 2),
            DeploymentDemand("green", "Standard_NC4as_T4_v3", 3),
        ]
    )
    lines = quota_lines(needs, "eastus2")
    assert lines[0].startswith("vCPU quota needed in eastus2")
    assert "  standardNCADSA100v4Family: 48 vCPUs" in lines
    assert "    blue: 2 x Standard_NC24ads_A100_v4 = 48 vCPUs" in lines
    assert (
        "    green: 3 x Standard_NC4as_T4_v3, 4 with AzureML's 20 % upgrade reserve = 16 vCPUs"
        in lines
    )

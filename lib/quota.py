"""How much AzureML vCPU quota a stack needs, per VM family: the one place that figure is computed.

The offline preview prints it, the preflight (lib/preflight.py) compares it with the region's
quota before anything is created, and the cost estimate reuses it. Nothing here imports Pulumi.

What a deployment needs (MicrosoftDocs/azure-ai-docs, articles/machine-learning/
how-to-deploy-online-endpoints.md, "Virtual machine quota allocation for deployment"): AzureML
reserves 20 % extra for upgrades, so ``ceil(1.2 x instances) x cores`` must be available, except
for the sizes the SKU list marks "Skip 20% Reservation" (reference-managed-online-endpoints-vm-sku-
list.md), which need ``instances x cores``.

What the stack needs: every deployment of the stack file at its peak instance count at once. A
blue/green rollout is data in the stack file, so while both colours are declared both run, each up
to its own autoscale maximum; a stack that fits only one colour fails in the middle of the rollout.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class VmQuotaFacts:
    """What the quota of one VM size is counted in: its family's vCPUs."""

    instance_type: str
    # The family as reference-managed-online-endpoints-vm-sku-list.md spells it ("Family Name").
    family: str
    vcpus: int
    # The SKU list's "Skip 20% Reservation" column.
    skips_upgrade_reservation: bool


# The GPU sizes this project deploys, from reference-managed-online-endpoints-vm-sku-list.md
# (columns Family Name, numberOfCores, Skip 20% Reservation), read 2026-12-01.
VM_QUOTA_FACTS: dict[str, VmQuotaFacts] = {
    facts.instance_type.lower(): facts
    for facts in (
        VmQuotaFacts("Standard_NC4as_T4_v3", "standard NCASv3_T4 Family", 4, False),
        VmQuotaFacts("Standard_NC8as_T4_v3", "standard NCASv3_T4 Family", 8, False),
        VmQuotaFacts("Standard_NC16as_T4_v3", "standard NCASv3_T4 Family", 16, False),
        VmQuotaFacts("Standard_NC64as_T4_v3", "standard NCASv3_T4 Family", 64, False),
        VmQuotaFacts("Standard_NC6s_v3", "standardNCSv3Family", 6, False),
        VmQuotaFacts("Standard_NC12s_v3", "standardNCSv3Family", 12, False),
        VmQuotaFacts("Standard_NC24s_v3", "standardNCSv3Family", 24, False),
        VmQuotaFacts("Standard_NC24ads_A100_v4", "standardNCADSA100v4Family", 24, True),
        VmQuotaFacts("Standard_NC48ads_A100_v4", "standardNCADSA100v4Family", 48, True),
        VmQuotaFacts("Standard_NC96ads_A100_v4", "standardNCADSA100v4Family", 96, True),
        VmQuotaFacts("Standard_ND96asr_v4", "standard NDASv4_A100 Family", 96, True),
        VmQuotaFacts("Standard_ND96amsr_A100_v4", "standard NDAMSv4_A100Family", 96, True),
        VmQuotaFacts("Standard_NC40ads_H100_v5", "standardNCADSH100v5Family", 40, True),
        VmQuotaFacts("Standard_NC80adis_H100_v5", "standardNCADSH100v5Family", 80, True),
        VmQuotaFacts("Standard_ND96isr_H100_v5", "standardNDv5H100Family", 96, True),
    )
}

# The usages API's name for the quota managed online deployments draw on (azure-rest-api-specs
# machinelearningservices 2025-12-01 examples/Usage/list.json), lower case.
CLUSTER_DEDICATED = "cluster dedicated vcpus"
# ceil(1.2 x n) in integers: 6/5.
_RESERVE_NUMERATOR, _RESERVE_DENOMINATOR = 6, 5


def family_key(name: str) -> str:
    """A family name reduced to letters and digits, lower case, without the usage suffix.

    The SKU list writes "standardNCADSA100v4Family" or "standard NCASv3_T4 Family"; the usages API
    names the same quota "Standard NCADSA100v4 Family Cluster Dedicated vCPUs" (azure-rest-api-specs
    machinelearningservices 2025-12-01 examples/Usage/list.json). Both reduce to the same key.
    """
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    for suffix in ("clusterdedicatedvcpus", "dedicatedvcpus"):
        key = key.removesuffix(suffix)
    return key


def dedicated_usages(usages: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The usages API's "<family> Family Cluster Dedicated vCPUs" entries (type
    ``.../vmFamily/usages``) by :func:`family_key`: the quota managed online deployments draw on,
    which the preflight checks and `make verify`'s quota-usage check confirms on a live stack.
    Only that entry: a region may also list "<family> Family Dedicated vCPUs", and both reduce to
    the same key."""
    found: dict[str, Mapping[str, Any]] = {}
    for usage in usages:
        name = str((usage.get("name") or {}).get("value") or "")
        kind = str(usage.get("type") or "").lower()
        if kind.endswith("vmfamily/usages") and CLUSTER_DEDICATED in name.lower():
            found[family_key(name)] = usage
    return found


def facts_for(instance_type: str) -> VmQuotaFacts:
    facts = VM_QUOTA_FACTS.get(instance_type.lower())
    if facts is None:
        raise ValueError(
            f"no quota facts for VM size {instance_type!r}; add it to lib/quota.py from "
            "reference-managed-online-endpoints-vm-sku-list.md"
        )
    return facts


def instances_to_reserve(facts: VmQuotaFacts, instances: int) -> int:
    """How many instances' worth of quota AzureML holds for ``instances`` of this size."""
    if facts.skips_upgrade_reservation:
        return instances
    return -(-instances * _RESERVE_NUMERATOR // _RESERVE_DENOMINATOR)


@dataclass(frozen=True)
class DeploymentDemand:
    """One deployment at its peak: the most instances it may run."""

    deployment: str
    instance_type: str
    peak_instances: int


@dataclass(frozen=True)
class DeploymentQuota:
    demand: DeploymentDemand
    reserved_instances: int
    vcpus: int


@dataclass(frozen=True)
class FamilyQuota:
    """What one VM family's quota must hold for the whole stack."""

    family: str
    vcpus: int
    deployments: tuple[DeploymentQuota, ...]


class _Autoscale(Protocol):
    """What ``demand_of`` reads of a deployment's autoscale settings (settings' dataclasses)."""

    @property
    def enabled(self) -> bool: ...
    @property
    def max_instances(self) -> int: ...
    @property
    def profiles(self) -> Sequence[Any]: ...


class _Deployment(Protocol):
    """What ``demand_of`` reads of a deployment's settings."""

    @property
    def name(self) -> str: ...
    @property
    def instance_type(self) -> str: ...
    @property
    def instance_count(self) -> int: ...
    @property
    def autoscale(self) -> _Autoscale: ...


def demand_of(deployment: _Deployment) -> DeploymentDemand:
    """A deployment's peak from its settings: the highest autoscale maximum (default profile or
    any recurrence profile) while autoscale is on, else its fixed instance count."""
    peak = deployment.instance_count
    if deployment.autoscale.enabled:
        maxima = [deployment.autoscale.max_instances]
        maxima += [profile.max_instances for profile in deployment.autoscale.profiles]
        peak = max([peak, *maxima])
    return DeploymentDemand(deployment.name, deployment.instance_type, peak)


def quota_needed(demands: Iterable[DeploymentDemand]) -> tuple[FamilyQuota, ...]:
    """The vCPUs each VM family must hold with every deployment at its peak, sorted by family."""
    by_family: dict[str, list[DeploymentQuota]] = {}
    labels: dict[str, str] = {}
    for demand in demands:
        facts = facts_for(demand.instance_type)
        reserved = instances_to_reserve(facts, demand.peak_instances)
        key = family_key(facts.family)
        labels.setdefault(key, facts.family)
        by_family.setdefault(key, []).append(
            DeploymentQuota(demand, reserved, reserved * facts.vcpus)
        )
    return tuple(
        FamilyQuota(labels[key], sum(d.vcpus for d in items), tuple(items))
        for key, items in sorted(by_family.items())
    )


def quota_lines(needs: Sequence[FamilyQuota], region: str) -> list[str]:
    """The preview's "vCPU quota" section: one line per family, one per deployment under it."""
    lines = [
        f"vCPU quota needed in {region} (AzureML, per VM family; every deployment at its peak):"
    ]
    for need in needs:
        lines.append(f"  {need.family}: {need.vcpus} vCPUs")
        for item in need.deployments:
            demand = item.demand
            extra = (
                ""
                if item.reserved_instances == demand.peak_instances
                else f", {item.reserved_instances} with AzureML's 20 % upgrade reserve"
            )
            lines.append(
                f"    {demand.deployment}: {demand.peak_instances} x {demand.instance_type}"
                f"{extra} = {item.vcpus} vCPUs"
            )
    return lines

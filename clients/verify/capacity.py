"""Checks of the preflight's two assumptions about the region (docs/adr/0021-preflight.md), which
only a deployed stack can prove: which usage entry managed online deployments draw their vCPUs
from, and that ``MIR`` in a VM size's ``supportedComputeTypes`` marks the sizes they accept.

ARM, Microsoft.MachineLearningServices 2025-12-01 (azure-rest-api-specs machinelearningservices
examples/Usage/list.json: ``value[].name.value``, ``currentValue``, ``limit``, ``type``
``Microsoft.MachineLearningServices/vmFamily/usages``; examples/VirtualMachineSize/list.json:
``value[].name``, ``supportedComputeTypes``), as lib/preflight.py reads them.
"""

from __future__ import annotations

from typing import Any

from clients.verify.registry import ML_API_VERSION, Context, Outcome, check, failed, passed, skipped
from lib.quota import VmQuotaFacts, dedicated_usages, facts_for, family_key

MANAGED_ONLINE_COMPUTE_TYPE = "mir"


def _location(ctx: Context) -> str:
    return (
        f"/subscriptions/{ctx.subscription}/providers/Microsoft.MachineLearningServices/"
        f"locations/{ctx.outputs.get('region')}"
    )


def _live_demand(ctx: Context) -> tuple[dict[str, int], dict[str, VmQuotaFacts], list[str]]:
    """vCPUs the endpoint's deployments run now (sku.capacity x vCPUs) per family key, the facts
    of each family, and the sizes lib/quota.py has no facts for."""
    demand: dict[str, int] = {}
    families: dict[str, VmQuotaFacts] = {}
    unknown = []
    for deployment in ctx.arm_deployments().values():
        size = str((deployment.get("properties") or {}).get("instanceType") or "")
        capacity = int((deployment.get("sku") or {}).get("capacity") or 0)
        try:
            facts = facts_for(size)
        except ValueError:
            unknown.append(size or "(none)")
            continue
        key = family_key(facts.family)
        families[key] = facts
        demand[key] = demand.get(key, 0) + capacity * facts.vcpus
    return demand, families, unknown


def _usage_line(usage: dict[str, Any]) -> str:
    return (
        f"{(usage.get('name') or {}).get('value')}: currentValue {usage.get('currentValue')}, "
        f"limit {usage.get('limit')}"
    )


@check(
    "quota-usage",
    "the 'Cluster Dedicated vCPUs' usage entry counts the deployments' vCPUs",
    uses_arm=True,
)
def quota_usage(ctx: Context) -> Outcome:
    if not ctx.outputs.get("region"):
        return skipped("the stack outputs name no region")
    demand, families, unknown = _live_demand(ctx)
    if not demand:
        return skipped("no deployment of a size lib/quota.py knows", *unknown)
    usages = ctx.arm.list(f"{_location(ctx)}/usages", ML_API_VERSION)
    # The entry the preflight reads (lib/quota.py), as it reads it.
    read = dedicated_usages(usages)
    evidence, wrong = [], []
    for key, vcpus in sorted(demand.items()):
        entry = read.get(key)
        current = int((entry or {}).get("currentValue") or 0)
        line = f"{families[key].family}: the deployments run {vcpus} vCPUs"
        evidence.append(f"{line}; {_usage_line(dict(entry)) if entry else 'no such entry'}")
        if current < vcpus:
            growing = [_usage_line(u) for u in usages if int(u.get("currentValue") or 0) >= vcpus]
            wrong.append(f"{line}; entries that count at least that many: {growing or 'none'}")
    if not wrong:
        return passed(
            "the preflight reads the usage entry managed online deployments draw on", *evidence
        )
    return failed(
        "the 'Cluster Dedicated vCPUs' entry does not count the deployments' vCPUs",
        evidence + wrong,
        [
            "the preflight's quota check (lib/preflight.py, lib/quota.py dedicated_usages) reads the "
            "wrong entry: make it read the entry listed above that grows with the deployments, "
            "and record it in docs/adr/0021-preflight.md",
        ],
    )


@check(
    "managed-online-size",
    "MIR in supportedComputeTypes marks the sizes the deployments run on",
    uses_arm=True,
)
def managed_online_size(ctx: Context) -> Outcome:
    if not ctx.outputs.get("region"):
        return skipped("the stack outputs name no region")
    running = {
        str((d.get("properties") or {}).get("instanceType") or "").lower(): name
        for name, d in ctx.arm_deployments().items()
        if str((d.get("properties") or {}).get("provisioningState") or "") == "Succeeded"
    }
    running.pop("", None)
    if not running:
        return skipped("no deployment has Succeeded yet, so no size is proven to be accepted")
    sizes = {
        str(size.get("name") or "").lower(): size
        for size in ctx.arm.list(f"{_location(ctx)}/vmSizes", ML_API_VERSION)
    }
    evidence, unmarked = [], []
    for size, deployment in sorted(running.items()):
        types = [str(t) for t in (sizes.get(size) or {}).get("supportedComputeTypes") or []]
        line = f"{size} (deployment {deployment}, Succeeded): supportedComputeTypes {types}"
        evidence.append(line)
        if MANAGED_ONLINE_COMPUTE_TYPE not in {t.lower() for t in types}:
            unmarked.append(line)
    if not unmarked:
        return passed("every size a deployment runs on is marked MIR", *evidence)
    return failed(
        "a size managed online endpoints accept is not marked MIR",
        unmarked,
        [
            "the preflight's VM size warning (lib/preflight.py check_vm_sizes) relies on MIR: "
            "report the list above and record it in docs/adr/0021-preflight.md",
        ],
    )

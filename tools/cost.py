"""What a plan costs per hour: each deployment's instances at its VM size's pay-as-you-go price.

Works on the plan the offline preview writes (``tools.preview.to_json``), so a saved plan and a new
one are priced the same way and ``--baseline`` can show the change in cost. Prices come from the
dated table in ``lib/prices.json``; a size or region it does not hold is "price unknown", never a
guess. Storage, Key Vault, registry, Log Analytics and data transfer are left out: next to GPU
instance-hours they are small, and they depend on use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lib.prices import HOURS_PER_MONTH, PriceTable

DEPLOYMENT = "azure-native:machinelearningservices:OnlineDeployment"
AUTOSCALE = "azure-native:monitor:AutoscaleSetting"
WORKSPACE = "azure-native:machinelearningservices:Workspace"
WEEK_MINUTES = 7 * 24 * 60
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class DeploymentCost:
    """One deployment's instance range and what it costs per hour at each end."""

    name: str
    instance_type: str
    region: str
    minimum: int
    maximum: int
    # Instances averaged over a week of the autoscale schedule's minimums: the floor of the bill.
    weekly_floor: float
    hourly_price: float | None
    unknown: str

    @property
    def hourly_at_minimum(self) -> float | None:
        return None if self.hourly_price is None else self.hourly_price * self.minimum

    @property
    def hourly_at_maximum(self) -> float | None:
        return None if self.hourly_price is None else self.hourly_price * self.maximum

    @property
    def monthly_at_minimum(self) -> float | None:
        if self.hourly_price is None:
            return None
        return self.hourly_price * self.weekly_floor * HOURS_PER_MONTH


@dataclass(frozen=True)
class PlanCost:
    deployments: tuple[DeploymentCost, ...]
    firewall: str | None
    table: PriceTable

    def total(self, attribute: str) -> float | None:
        """The stack's sum of one per-deployment figure; None when any part is unknown."""
        values = [getattr(deployment, attribute) for deployment in self.deployments]
        if any(value is None for value in values):
            return None
        return float(sum(values))


def _inputs(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    inputs = resource.get("inputs", {})
    return inputs if isinstance(inputs, dict) else {}


def _capacity(profile: Mapping[str, Any], bound: str) -> int:
    try:
        return int(profile.get("capacity", {}).get(bound, 0))
    except (TypeError, ValueError):
        return 0


def _weekly_minimum(profiles: Sequence[Mapping[str, Any]]) -> float:
    """Average instances over a week when every profile sits at its minimum.

    Recurrence profiles start at a weekday and time and last until the next profile starts
    (Azure Monitor autoscale); the default profile applies only where no recurrence is set. The time
    zone shifts the week but does not change how long each profile lasts.
    """
    starts: list[tuple[int, int]] = []
    for profile in profiles:
        schedule = profile.get("recurrence", {}).get("schedule", {})
        for day in schedule.get("days", []):
            if day not in DAYS:
                continue
            for hour in schedule.get("hours", [0]):
                for minute in schedule.get("minutes", [0]):
                    start = DAYS.index(day) * 1440 + int(hour) * 60 + int(minute)
                    starts.append((start, _capacity(profile, "minimum")))
    if not starts:
        return float(_capacity(profiles[0], "minimum")) if profiles else 0.0
    starts.sort()
    weighted = 0
    for index, (start, minimum) in enumerate(starts):
        end = starts[(index + 1) % len(starts)][0]
        weighted += ((end - start) % WEEK_MINUTES or WEEK_MINUTES) * minimum
    return weighted / WEEK_MINUTES


def _autoscale_by_deployment(resources: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Autoscale profiles keyed by the deployment name their target resource id ends in."""
    found: dict[str, list[Any]] = {}
    for resource in resources:
        if resource.get("type") != AUTOSCALE:
            continue
        inputs = _inputs(resource)
        target = str(inputs.get("targetResourceUri", ""))
        if "/deployments/" in target and inputs.get("enabled", False):
            found[target.rsplit("/deployments/", 1)[1]] = list(inputs.get("profiles", []))
    return found


def _firewall(resources: Sequence[Mapping[str, Any]]) -> str | None:
    for resource in resources:
        if resource.get("type") != WORKSPACE:
            continue
        network = _inputs(resource).get("managedNetwork", {})
        if (
            isinstance(network, dict)
            and network.get("isolationMode") == "AllowOnlyApprovedOutbound"
        ):
            sku = network.get("firewallSku", "Standard")
            region = str(_inputs(resource).get("location", ""))
            return (
                f"the managed network's Azure Firewall ({sku}) in {region}, billed per deployment "
                "hour and per GB processed, is not priced here "
                "(https://azure.microsoft.com/pricing/details/azure-firewall/)"
            )
    return None


def plan_cost(plan: Mapping[str, Any], table: PriceTable) -> PlanCost:
    resources = plan.get("resources", [])
    autoscale = _autoscale_by_deployment(resources)
    deployments = []
    for resource in resources:
        if resource.get("type") != DEPLOYMENT:
            continue
        inputs = _inputs(resource)
        name = str(inputs.get("deploymentName", resource.get("name", "")))
        size = str(inputs.get("properties", {}).get("instanceType", ""))
        region = str(inputs.get("location", ""))
        profiles = autoscale.get(name)
        if profiles:
            minimum = min(_capacity(profile, "minimum") for profile in profiles)
            maximum = max(_capacity(profile, "maximum") for profile in profiles)
            floor = _weekly_minimum(profiles)
        else:
            minimum = maximum = int(inputs.get("sku", {}).get("capacity", 1))
            floor = float(minimum)
        deployments.append(
            DeploymentCost(
                name=name,
                instance_type=size,
                region=region,
                minimum=minimum,
                maximum=maximum,
                weekly_floor=floor,
                hourly_price=table.hourly(region, size),
                unknown=table.unknown(region, size),
            )
        )
    deployments.sort(key=lambda deployment: deployment.name)
    return PlanCost(tuple(deployments), _firewall(resources), table)


def _money(value: float | None, currency: str) -> str:
    return "unknown" if value is None else f"{value:,.2f} {currency}"


def _range(low: float | None, high: float | None, currency: str) -> str:
    if low is None or high is None:
        return "unknown"
    return f"{low:,.2f}-{high:,.2f} {currency}"


def render(cost: PlanCost) -> str:
    """The preview's cost section: per deployment, then the stack."""
    currency = cost.table.currency
    lines = [f"Cost (pay-as-you-go, prices retrieved {cost.table.retrieved}; lib/prices.json):"]
    for deployment in cost.deployments:
        head = f"  {deployment.name}: {deployment.instance_type} in {deployment.region}"
        if deployment.hourly_price is None:
            lines.append(f"{head}: {deployment.unknown}")
            continue
        each = f"{deployment.hourly_price:,.3f} {currency}/h per instance"
        if deployment.minimum == deployment.maximum:
            lines.append(
                f"{head}, {deployment.minimum} x {each} = "
                f"{_money(deployment.hourly_at_minimum, currency)}/h, "
                f"{_money(deployment.monthly_at_minimum, currency)}/month"
            )
        else:
            lines.append(
                f"{head}, {deployment.minimum}-{deployment.maximum} x {each} = "
                f"{_range(deployment.hourly_at_minimum, deployment.hourly_at_maximum, currency)}/h; "
                "at the autoscale minimums "
                f"(average {deployment.weekly_floor:.2f} instances) "
                f"{_money(deployment.monthly_at_minimum, currency)}/month"
            )
    low, high = cost.total("hourly_at_minimum"), cost.total("hourly_at_maximum")
    month = cost.total("monthly_at_minimum")
    if low is None or high is None or month is None:
        lines.append("  stack: unknown (a deployment's price is unknown, see above)")
    elif low == high:
        lines.append(f"  stack: {_money(low, currency)}/h, {_money(month, currency)}/month")
    else:
        lines.append(
            f"  stack: {_range(low, high, currency)}/h; "
            f"{_money(month, currency)}/month at the autoscale minimums"
        )
    if cost.firewall:
        lines.append(f"  plus {cost.firewall}")
    return "\n".join(lines)

"""What the simulator replays: the autoscale setting and the deployment exactly as the program
declares them.

:func:`from_program` runs the Pulumi program under the offline mocks (``tools.offline``) and reads
the recorded ``azure-native:monitor:AutoscaleSetting`` inputs (profiles, capacities, rules,
recurrences) and the ``OnlineDeployment`` each one targets (request settings, ``--max-num-seqs``,
instance type). Nothing is re-derived from settings: a rule the program would not send to Azure is
not simulated, and a rule it would send is simulated as sent. :func:`to_json` / :func:`from_json`
keep a recorded copy, so a setting from another commit (the rules before a change) replays too.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

AUTOSCALE_TYPE = "azure-native:monitor:AutoscaleSetting"
DEPLOYMENT_TYPE = "azure-native:machinelearningservices:OnlineDeployment"
FORMAT_VERSION = 1

_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


class InputsError(Exception):
    """The program's declarations (or a recorded copy) cannot be simulated."""


def minutes(duration: str) -> float:
    """An ISO 8601 duration (``PT1H30M``, ``P7D``, ``PT180S``) in minutes."""
    match = _DURATION.match(duration or "")
    if not match or duration in ("P", "PT"):
        raise InputsError(f"not an ISO 8601 duration: {duration!r}")
    days, hours, mins, secs = (int(part or 0) for part in match.groups())
    return days * 1440 + hours * 60 + mins + secs / 60


@dataclass(frozen=True)
class Dimension:
    name: str
    operator: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    """One ``ScaleRule``: a metric trigger and the action it takes."""

    metric_name: str
    metric_namespace: str
    metric_resource_uri: str
    time_grain_minutes: float
    statistic: str
    time_window_minutes: float
    time_aggregation: str
    operator: str
    threshold: float
    divide_per_instance: bool
    dimensions: tuple[Dimension, ...]
    direction: str
    change_type: str
    value: int
    cooldown_minutes: float


@dataclass(frozen=True)
class Recurrence:
    days: tuple[str, ...]
    hours: tuple[int, ...]
    minutes: tuple[int, ...]
    time_zone: str


@dataclass(frozen=True)
class Profile:
    name: str
    minimum: int
    default: int
    maximum: int
    rules: tuple[Rule, ...]
    recurrence: Recurrence | None


@dataclass(frozen=True)
class DeploymentModel:
    """The deployment facts the serving model needs, as the program declares them."""

    name: str
    instance_type: str
    initial_instances: int
    max_concurrent_requests_per_instance: int
    request_timeout_seconds: float
    max_num_seqs: int
    # The deployment's region (for its price); empty in recordings made before it was kept.
    region: str = ""


@dataclass(frozen=True)
class SimInputs:
    stack: str
    setting_name: str
    enabled: bool
    profiles: tuple[Profile, ...]
    deployment: DeploymentModel
    source: str = field(default="program")


def _rule(raw: dict[str, Any]) -> Rule:
    trigger, action = raw["metricTrigger"], raw["scaleAction"]
    return Rule(
        metric_name=trigger["metricName"],
        metric_namespace=trigger.get("metricNamespace", ""),
        metric_resource_uri=trigger["metricResourceUri"],
        time_grain_minutes=minutes(trigger["timeGrain"]),
        statistic=trigger["statistic"],
        time_window_minutes=minutes(trigger["timeWindow"]),
        time_aggregation=trigger["timeAggregation"],
        operator=trigger["operator"],
        threshold=float(trigger["threshold"]),
        divide_per_instance=bool(trigger.get("dividePerInstance", False)),
        dimensions=tuple(
            Dimension(d["dimensionName"], d["operator"], tuple(d["values"]))
            for d in trigger.get("dimensions") or []
        ),
        direction=action["direction"],
        change_type=action["type"],
        value=int(action["value"]),
        cooldown_minutes=minutes(action["cooldown"]),
    )


def _profile(raw: dict[str, Any]) -> Profile:
    capacity = raw["capacity"]
    recurrence = raw.get("recurrence")
    schedule = recurrence["schedule"] if recurrence else None
    return Profile(
        name=raw["name"],
        minimum=int(capacity["minimum"]),
        default=int(capacity["default"]),
        maximum=int(capacity["maximum"]),
        rules=tuple(_rule(rule) for rule in raw.get("rules") or []),
        recurrence=Recurrence(
            days=tuple(schedule["days"]),
            hours=tuple(int(h) for h in schedule["hours"]),
            minutes=tuple(int(m) for m in schedule["minutes"]),
            time_zone=schedule.get("timeZone", "UTC"),
        )
        if schedule
        else None,
    )


def _deployment(inputs: dict[str, Any]) -> DeploymentModel:
    properties = inputs.get("properties", {})
    request = properties.get("requestSettings", {})
    environment = properties.get("environmentVariables", {})
    # vLLM's default when the program sets no --max-num-seqs would be 256 on an A100 80 GB; the
    # program always sets it, so a missing value means the recording is not this program's.
    if "SERVE_MAX_NUM_SEQS" not in environment:
        raise InputsError("the deployment sets no SERVE_MAX_NUM_SEQS; cannot model vLLM's batch")
    return DeploymentModel(
        name=inputs.get("deploymentName", ""),
        instance_type=properties.get("instanceType", ""),
        initial_instances=int(inputs.get("sku", {}).get("capacity", 1)),
        # ARM's defaults when the body leaves them out (FIELD_NOTES: concurrency 1, PT5S).
        max_concurrent_requests_per_instance=int(
            request.get("maxConcurrentRequestsPerInstance", 1)
        ),
        request_timeout_seconds=minutes(request.get("requestTimeout", "PT5S")) * 60,
        max_num_seqs=int(environment["SERVE_MAX_NUM_SEQS"]),
        region=inputs.get("location", ""),
    )


def from_program(
    stack: str, deployment: str | None = None, stack_file: Path | None = None
) -> SimInputs:
    """Run the program for ``stack`` under mocks and read one deployment's autoscale setting."""
    from tools.offline import run_program  # imported late: it pulls in the whole Pulumi SDK

    run = run_program(stack, stack_file=stack_file)
    deployments = {resource.id: resource for resource in run.of_type(DEPLOYMENT_TYPE)}
    found: list[SimInputs] = []
    for setting in run.of_type(AUTOSCALE_TYPE):
        target = deployments.get(setting.inputs.get("targetResourceUri", ""))
        if target is None:
            continue
        model = _deployment(target.inputs)
        if deployment and model.name != deployment:
            continue
        found.append(
            SimInputs(
                stack=stack,
                setting_name=setting.inputs.get("name", setting.name),
                enabled=bool(setting.inputs.get("enabled", False)),
                profiles=tuple(_profile(p) for p in setting.inputs.get("profiles", [])),
                deployment=model,
            )
        )
    if not found:
        names = sorted(_deployment(d.inputs).name for d in deployments.values())
        wanted = f"deployment {deployment!r}" if deployment else "any deployment"
        raise InputsError(
            f"stack {stack!r} declares no autoscale setting for {wanted} (deployments: "
            f"{', '.join(names) or 'none'}); turn on deployments[].autoscale.enabled"
        )
    if len(found) > 1:
        raise InputsError(
            f"stack {stack!r} autoscales {len(found)} deployments "
            f"({', '.join(f.deployment.name for f in found)}); choose one with --deployment"
        )
    return found[0]


def to_json(inputs: SimInputs) -> str:
    return json.dumps({"format": FORMAT_VERSION, **asdict(inputs)}, indent=2, sort_keys=True)


def from_json(text: str, source: str) -> SimInputs:
    try:
        raw = json.loads(text)
        if raw.pop("format", None) != FORMAT_VERSION:
            raise InputsError(f"{source}: not a recorded simulator input (format {FORMAT_VERSION})")
        deployment = DeploymentModel(**raw["deployment"])
        profiles = tuple(
            Profile(
                name=p["name"],
                minimum=p["minimum"],
                default=p["default"],
                maximum=p["maximum"],
                rules=tuple(
                    Rule(
                        **{
                            **r,
                            "dimensions": tuple(
                                Dimension(d["name"], d["operator"], tuple(d["values"]))
                                for d in r["dimensions"]
                            ),
                        }
                    )
                    for r in p["rules"]
                ),
                recurrence=Recurrence(
                    days=tuple(p["recurrence"]["days"]),
                    hours=tuple(p["recurrence"]["hours"]),
                    minutes=tuple(p["recurrence"]["minutes"]),
                    time_zone=p["recurrence"]["time_zone"],
                )
                if p["recurrence"]
                else None,
            )
            for p in raw["profiles"]
        )
    except (ValueError, KeyError, TypeError) as error:
        raise InputsError(f"{source}: not a recorded simulator input ({error})") from None
    return SimInputs(
        stack=raw["stack"],
        setting_name=raw["setting_name"],
        enabled=raw["enabled"],
        profiles=profiles,
        deployment=deployment,
        source=source,
    )

"""Azure Monitor autoscale, evaluated once a minute as its engine does (every 30-60 s).

The semantics, from Microsoft's documentation (MicrosoftDocs/azure-monitor-docs,
articles/azure-monitor/autoscale/):

* Profile choice (autoscale-understanding-settings.md, "Which profile will autoscale use?"): a
  recurrence profile runs from its start until the next recurrence starts; the default profile
  runs when none has started. The profile's minimum and maximum apply at once.
* Rules: every ``timeGrain`` the metric's values are combined with ``statistic``; over the last
  ``timeWindow`` those grains are combined with ``timeAggregation``; ``dividePerInstance`` divides
  the result by the instance count. A rule without data in its window does not fire.
* Scale out when ANY scale-out rule fires, to the highest capacity any of them asks for. Otherwise
  scale in only when ALL scale-in rules fire, by the least any of them asks for.
* Cooldown (same page, "How does autoscale evaluate cooldown?"): after any action nothing happens
  in either direction until that action's cooldown has passed.
* Flapping (autoscale-flapping.md): before scaling in, autoscale estimates each scale-out rule's
  metric at the new count (a per-instance metric rises by current/new) and scales in less, or not
  at all, if a scale-out rule would then fire. Scale-out is never held back for flapping.
* Default capacity: if no rule can read its metric and the count is below the profile's default,
  autoscale scales out to the default.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from tools.autoscale_sim.inputs import Profile, Rule, SimInputs
from tools.autoscale_sim.traffic import MINUTES_PER_DAY, WEEKDAYS


@dataclass(frozen=True)
class Point:
    """One published value in one minute: a series (its dimensions) with sum and count."""

    dimensions: tuple[tuple[str, str], ...]
    total: float
    count: int
    low: float
    high: float


@dataclass
class MetricStore:
    """Per-minute points by (namespace, metric name), as Azure Monitor stores them at PT1M."""

    points: dict[tuple[str, str], dict[int, list[Point]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    # Metrics whose value is a per-instance figure (an average over instances): autoscale's
    # flapping estimate scales them by current/new instance counts.
    per_instance: set[tuple[str, str]] = field(default_factory=set)

    def add(
        self,
        namespace: str,
        name: str,
        minute: int,
        value: float,
        dimensions: dict[str, str] | None = None,
        per_instance: bool = False,
    ) -> None:
        key = (namespace.lower(), name)
        point = Point(tuple(sorted((dimensions or {}).items())), value, 1, value, value)
        self.points[key].setdefault(minute, []).append(point)
        if per_instance:
            self.per_instance.add(key)


def _matches(rule: Rule, point: Point) -> bool:
    dims = dict(point.dimensions)
    for dimension in rule.dimensions:
        value = dims.get(dimension.name)
        hit = "*" in dimension.values or value in dimension.values
        if (dimension.operator == "Equals") != hit:
            return False
    return True


def _grain(statistic: str, points: list[Point]) -> float:
    if statistic == "Average":
        return sum(p.total for p in points) / sum(p.count for p in points)
    if statistic == "Sum":
        return sum(p.total for p in points)
    if statistic == "Min":
        return min(p.low for p in points)
    if statistic == "Max":
        return max(p.high for p in points)
    if statistic == "Count":
        return float(sum(p.count for p in points))
    raise ValueError(f"unknown statistic {statistic!r}")


def _aggregate(aggregation: str, values: list[float]) -> float:
    if aggregation == "Average":
        return sum(values) / len(values)
    if aggregation == "Minimum":
        return min(values)
    if aggregation == "Maximum":
        return max(values)
    if aggregation == "Total":
        return sum(values)
    if aggregation == "Count":
        return float(len(values))
    if aggregation == "Last":
        return values[-1]
    raise ValueError(f"unknown time aggregation {aggregation!r}")


def _compare(operator: str, value: float, threshold: float) -> bool:
    return {
        "GreaterThan": value > threshold,
        "GreaterThanOrEqual": value >= threshold,
        "LessThan": value < threshold,
        "LessThanOrEqual": value <= threshold,
        "Equals": value == threshold,
        "NotEquals": value != threshold,
    }[operator]


def _target(rule: Rule, capacity: int) -> int:
    sign = 1 if rule.direction == "Increase" else -1
    if rule.change_type == "ChangeCount":
        return capacity + sign * rule.value
    if rule.change_type == "PercentChangeCount":
        change = math.ceil(capacity * rule.value / 100)
        return capacity + sign * max(1, change)
    return rule.value  # ExactCount


@dataclass
class Decision:
    minute: int
    profile: str
    before: int
    after: int
    reason: str


class Autoscaler:
    """The autoscale setting, replayed: :meth:`evaluate` once a minute returns the new count."""

    def __init__(self, inputs: SimInputs, store: MetricStore, lag_minutes: int, start_minute: int):
        self.inputs = inputs
        self.store = store
        self.lag = lag_minutes
        self.start_minute = start_minute
        self.cooldown_until = -1.0
        self.decisions: list[Decision] = []
        self.flapping_skips = 0

    def profile(self, minute: int) -> Profile:
        """The profile in force at simulation minute ``minute`` (local time of the setting)."""
        week = 7 * MINUTES_PER_DAY
        now = (self.start_minute + minute) % week
        best: tuple[int, Profile] | None = None
        for profile in self.inputs.profiles:
            if profile.recurrence is None:
                continue
            for day in profile.recurrence.days:
                for hour in profile.recurrence.hours:
                    for mins in profile.recurrence.minutes:
                        start = WEEKDAYS.index(day) * MINUTES_PER_DAY + hour * 60 + mins
                        since = (now - start) % week
                        if best is None or since < best[0]:
                            best = (since, profile)
        if best is not None:
            return best[1]
        return next(p for p in self.inputs.profiles if p.recurrence is None)

    def value(self, rule: Rule, minute: int, capacity: int) -> float | None:
        """The rule's metric as autoscale reads it at the end of ``minute``; None: no data."""
        series = self.store.points.get((rule.metric_namespace.lower(), rule.metric_name), {})
        last = minute - self.lag
        grains: list[float] = []
        for m in range(last - math.ceil(rule.time_window_minutes) + 1, last + 1):
            points = [p for p in series.get(m, []) if _matches(rule, p)]
            if points:
                grains.append(_grain(rule.statistic, points))
        if not grains:
            return None
        value = _aggregate(rule.time_aggregation, grains)
        return value / max(1, capacity) if rule.divide_per_instance else value

    def evaluate(self, minute: int, capacity: int) -> int:
        profile = self.profile(minute)
        bounded = min(profile.maximum, max(profile.minimum, capacity))
        if bounded != capacity:
            self._record(minute, profile, capacity, bounded, "profile bounds")
            return bounded
        if minute < self.cooldown_until:
            return capacity
        values = {id(rule): self.value(rule, minute, capacity) for rule in profile.rules}
        fired_out = [
            r
            for r in profile.rules
            if r.direction == "Increase"
            and values[id(r)] is not None
            and _compare(r.operator, values[id(r)], r.threshold)  # type: ignore[arg-type]
        ]
        if fired_out:
            rule = max(fired_out, key=lambda r: _target(r, capacity))
            target = min(profile.maximum, _target(rule, capacity))
            if target > capacity:
                self.cooldown_until = minute + rule.cooldown_minutes
                self._record(minute, profile, capacity, target, f"scale out: {rule.metric_name}")
                return target
            return capacity
        scale_in = [r for r in profile.rules if r.direction == "Decrease"]
        if scale_in and all(
            values[id(r)] is not None and _compare(r.operator, values[id(r)], r.threshold)  # type: ignore[arg-type]
            for r in scale_in
        ):
            rule = max(scale_in, key=lambda r: _target(r, capacity))
            target = max(profile.minimum, _target(rule, capacity))
            for candidate in range(target, capacity):
                if not self._would_flap(profile, values, capacity, candidate):
                    self.cooldown_until = minute + rule.cooldown_minutes
                    self._record(minute, profile, capacity, candidate, "scale in")
                    return candidate
            if target < capacity:
                self.flapping_skips += 1
            return capacity
        if profile.rules and all(v is None for v in values.values()) and capacity < profile.default:
            self._record(minute, profile, capacity, profile.default, "no metric data: default")
            return profile.default
        return capacity

    def _would_flap(
        self, profile: Profile, values: dict[int, float | None], capacity: int, candidate: int
    ) -> bool:
        for rule in profile.rules:
            value = values[id(rule)]
            if rule.direction != "Increase" or value is None:
                continue
            key = (rule.metric_namespace.lower(), rule.metric_name)
            if rule.divide_per_instance or key in self.store.per_instance:
                value = value * capacity / candidate
            if _compare(rule.operator, value, rule.threshold):
                return True
        return False

    def _record(self, minute: int, profile: Profile, before: int, after: int, why: str) -> None:
        self.decisions.append(Decision(minute, profile.name, before, after, why))

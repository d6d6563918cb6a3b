"""Traffic for the simulator: requests per minute from a built-in profile or a CSV.

Built-in profiles are rates (requests per minute, by minute of a Monday that starts at 00:00 in
the autoscale setting's time zone); :func:`arrivals` draws Poisson counts from them with a seeded
generator. A CSV gives counts, which replay exactly: minute ``m`` of the CSV sends exactly that many
requests in minute ``m`` of the simulation (an export of the endpoint's ``RequestsPerMinute``).
"""

from __future__ import annotations

import csv
import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

MINUTES_PER_DAY = 24 * 60
# Monday is day 0: Azure Monitor recurrences name weekdays, and the profiles describe a workday.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class TrafficError(Exception):
    """A traffic profile or CSV that cannot be replayed."""


@dataclass(frozen=True)
class Traffic:
    """Requests per minute, from ``start_minute`` of the week (0 = Monday 00:00, local time).

    ``exact`` counts (a CSV) replay as given; rates (a profile) are Poisson means. ``focus`` names
    the minutes whose requests the report also counts on their own (a spike)."""

    name: str
    per_minute: tuple[float, ...]
    exact: bool
    start_minute: int = 0
    focus: tuple[int, int] | None = None


def _clock(hour: float) -> int:
    return round(hour * 60)


def _piecewise(points: Sequence[tuple[float, float]]) -> tuple[float, ...]:
    """Requests per minute over one day, linear between (hour, rate) points."""
    rates = []
    for minute in range(MINUTES_PER_DAY):
        hour = minute / 60
        for (h0, r0), (h1, r1) in itertools.pairwise(points):
            if h0 <= hour < h1:
                rates.append(r0 + (r1 - r0) * (hour - h0) / (h1 - h0))
                break
        else:
            rates.append(points[-1][1])
    return tuple(rates)


# One A100 serving 16 R1 streams finishes about 28 requests a minute (a 1,500-token median answer
# at ~55 tokens/s): the rates below are chosen against that, and stated in docs/autoscale.md.
SPIKE_BASE = 8.0
SPIKE_FACTOR = 15.0
SPIKE_START_HOUR, SPIKE_HOURS = 10.0, 2.0


def builtin(name: str) -> Traffic:
    """The four built-in profiles, one Monday each (24 hours from 00:00)."""
    if name == "trickle":
        # A handful of people trying the endpoint: one request every 30 seconds, all day.
        return Traffic(name, (2.0,) * MINUTES_PER_DAY, exact=False)
    if name == "steady":
        # A constant service load of about a minute's worth of requests per second.
        return Traffic(name, (60.0,) * MINUTES_PER_DAY, exact=False)
    if name == "day":
        # A business day: quiet night, morning ramp, lunch dip, afternoon peak, evening tail.
        points = [
            (0, 3),
            (7, 3),
            (9, 100),
            (12, 100),
            (12.5, 70),
            (13.5, 70),
            (14, 100),
            (17, 100),
            (20, 10),
            (24, 5),
        ]
        return Traffic(name, _piecewise(points), exact=False)
    if name == "spike":
        # Steady business-hours load, then 15x that for two hours (a launch, a batch job).
        start, end = _clock(SPIKE_START_HOUR), _clock(SPIKE_START_HOUR + SPIKE_HOURS)
        rates = tuple(
            SPIKE_BASE * (SPIKE_FACTOR if start <= minute < end else 1.0)
            for minute in range(MINUTES_PER_DAY)
        )
        return Traffic(name, rates, exact=False, focus=(start, end))
    raise TrafficError(
        f"unknown traffic profile {name!r}: use trickle, steady, spike, day or a CSV file"
    )


BUILTIN_PROFILES = ("trickle", "steady", "spike", "day")


def _minute_of_week(stamp: str) -> int:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment.weekday() * MINUTES_PER_DAY + moment.hour * 60 + moment.minute


def from_csv(path: Path) -> Traffic:
    """A CSV of ``time,requests`` rows (a header row is optional). ``time`` is a minute number
    (0, 1, 2, ...) or an ISO 8601 timestamp (as Azure Monitor exports it), read as local time in
    the autoscale setting's time zone; rows must be one minute apart, without gaps."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise TrafficError(f"cannot read traffic CSV {path}: {error.strerror}") from None
    rows = [row for row in csv.reader(text.splitlines()) if row and any(c.strip() for c in row)]
    if rows and not _is_number(rows[0][-1]):
        rows = rows[1:]  # header
    if not rows:
        raise TrafficError(f"{path}: no rows of `time,requests`")
    counts: list[float] = []
    start = 0
    previous: int | None = None
    for line, row in enumerate(rows, start=1):
        if len(row) < 2:
            raise TrafficError(f"{path} row {line}: expected `time,requests`, got {row!r}")
        time_text, count_text = row[0].strip(), row[-1].strip()
        try:
            minute = int(time_text) if time_text.lstrip("-").isdigit() else None
            if minute is None:
                minute = _minute_of_week(time_text)
        except ValueError:
            raise TrafficError(
                f"{path} row {line}: time {time_text!r} is neither a minute number nor an "
                "ISO 8601 timestamp"
            ) from None
        if not _is_number(count_text) or float(count_text) < 0:
            raise TrafficError(f"{path} row {line}: requests {count_text!r} is not a count >= 0")
        count = float(count_text)
        if not count.is_integer():
            raise TrafficError(f"{path} row {line}: requests {count_text!r} is not whole")
        if previous is None:
            start = minute % (7 * MINUTES_PER_DAY) if minute >= 0 else 0
        elif (minute - previous) % (7 * MINUTES_PER_DAY) != 1:
            raise TrafficError(
                f"{path} row {line}: rows must be one minute apart without gaps "
                f"(previous {previous}, this {minute})"
            )
        previous = minute
        counts.append(count)
    return Traffic(path.name, tuple(counts), exact=True, start_minute=start)


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def scaled(traffic: Traffic, factor: float) -> Traffic:
    """The same traffic with every rate multiplied (exact counts rounded)."""
    values = tuple(
        float(round(v * factor)) if traffic.exact else v * factor for v in traffic.per_minute
    )
    return Traffic(traffic.name, values, traffic.exact, traffic.start_minute, traffic.focus)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:
        # Normal approximation: Knuth's product method is slow and underflows for large means.
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, product, count = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count


def arrivals(traffic: Traffic, rng: random.Random) -> list[float]:
    """Arrival times in seconds from the start, sorted: each minute's count spread uniformly."""
    times: list[float] = []
    for minute, value in enumerate(traffic.per_minute):
        count = int(value) if traffic.exact else _poisson(rng, value)
        times.extend(sorted(minute * 60 + rng.random() * 60 for _ in range(count)))
    return times

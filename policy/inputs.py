"""Reading a resource's inputs as the policy engine hands them: absent and unknown values told
apart, ISO 8601 durations, the stack in a URN. Part of the policy pack's own environment: it imports
nothing from the project.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy.proxy import UnknownValueError

DEFAULT_PRODUCTION_STACK_PATTERN = r"^prod(-.+)?$"


class _Absent:
    """Marker for a value that is not there, with a name for error messages."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


MISSING: Any = _Absent("<not set>")
UNKNOWN: Any = _Absent("<unknown until the update>")


def lookup(props: Any, *path: str | int) -> Any:
    """The value at ``path`` in ``props``; MISSING if absent, UNKNOWN if not known during preview."""
    value = props
    try:
        for key in path:
            if isinstance(key, str) and isinstance(value, Mapping):
                if key not in value:
                    return MISSING
                value = value[key]
            elif (
                isinstance(key, int)
                and isinstance(value, Sequence)
                and not isinstance(value, str)
                and 0 <= key < len(value)
            ):
                value = value[key]
            else:
                return MISSING
    except UnknownValueError:
        return UNKNOWN
    return value


def lookup_any(props: Any, *paths: tuple[str | int, ...]) -> Any:
    """The first present value among ``paths`` (inputs are flat, some outputs nest them)."""
    for path in paths:
        value = lookup(props, *path)
        if value is not MISSING:
            return value
    return MISSING


def stack_of(urn: str) -> str:
    """The stack name in a URN: ``urn:pulumi:<stack>::<project>::<type>::<name>``."""
    head = urn.split("::", 1)[0]
    prefix = "urn:pulumi:"
    return head[len(prefix) :] if head.startswith(prefix) else ""


def is_production(stack: str, config: Mapping[str, Any]) -> bool:
    pattern = config.get("productionStackPattern") or DEFAULT_PRODUCTION_STACK_PATTERN
    return re.fullmatch(str(pattern), stack) is not None


_DURATION = re.compile(
    r"P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)


def duration_seconds(text: str) -> float | None:
    """Seconds in an ISO 8601 day-time duration (PT180S, PT3M, PT0.5S); None if not one."""
    match = _DURATION.fullmatch(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        return None
    parts = {key: float(value) for key, value in match.groupdict().items() if value is not None}
    if not parts:
        return None
    return (
        parts.get("days", 0.0) * 86400
        + parts.get("hours", 0.0) * 3600
        + parts.get("minutes", 0.0) * 60
        + parts.get("seconds", 0.0)
    )

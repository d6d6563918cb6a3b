"""What changes between two offline plans: `python -m tools.preview --stack prod --baseline OLD.json`.

Both plans are the preview's ``--json`` output. Resources are matched by URN and each is reported
as created, updated (with the input paths that change, old and new), replaced or deleted. A change
is a replacement where Azure or the provider applies it as one:
- the URL path parameters of an ARM resource (its name and its resource group's name) and its
  ``location``: pulumi-azure-native marks these "forceNew", because ARM identifies a resource by
  its path and cannot move it;
- anything in an AzureML environment version: versions are immutable, so a new image is a new
  version (FIELD_NOTES, "Environment versions are immutable").
Secret inputs are ``[secret]`` on both sides, so their values never reach the diff.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lib.prices import PriceTable
from tools.cost import plan_cost

ENVIRONMENT_VERSION = "azure-native:machinelearningservices:EnvironmentVersion"
# Options a resource carries that are not inputs but still change what `pulumi up` does.
OPTIONS = ("protect", "retainOnDelete", "ignoreChanges", "customTimeouts", "dependencies")
ABSENT = "(absent)"
SHOWN_LENGTH = 120


@dataclass(frozen=True)
class Change:
    kind: str  # create | update | replace | delete
    urn: str
    type: str
    name: str
    paths: tuple[tuple[str, Any, Any], ...] = ()


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for key in sorted(value):
            yield from _leaves(value[key], f"{path}.{key}" if path else str(key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}.{index}")
    else:
        yield path, value


def changed_paths(old: Any, new: Any) -> list[tuple[str, Any, Any]]:
    """Every leaf path whose value differs, with its old and new value (ABSENT where missing)."""
    before, after = dict(_leaves(old)), dict(_leaves(new))
    return [
        (path, before.get(path, ABSENT), after.get(path, ABSENT))
        for path in sorted(set(before) | set(after))
        if before.get(path, ABSENT) != after.get(path, ABSENT)
    ]


def _forces_replacement(resource_type: str, path: str) -> bool:
    if resource_type == ENVIRONMENT_VERSION:
        return True
    if not resource_type.startswith("azure-native:") or "." in path:
        # Dynamic resources decide in their own diff; nested properties are updated in place.
        return False
    return path in ("location", "name") or path.endswith("Name")


def diff(old_plan: Mapping[str, Any], new_plan: Mapping[str, Any]) -> list[Change]:
    old = {resource["urn"]: resource for resource in old_plan.get("resources", [])}
    new = {resource["urn"]: resource for resource in new_plan.get("resources", [])}
    changes: list[Change] = []
    for urn in sorted(set(old) | set(new)):
        before, after = old.get(urn), new.get(urn)
        if before is None or after is None:
            resource = after if after is not None else before
            if resource is None:  # unreachable: the URN came from one of the two plans
                continue
            kind = "create" if before is None else "delete"
            changes.append(Change(kind, urn, resource["type"], resource["name"]))
            continue
        paths = changed_paths(before.get("inputs", {}), after.get("inputs", {}))
        paths += [
            (f"[{option}]", before.get(option), after.get(option))
            for option in OPTIONS
            if before.get(option) != after.get(option)
        ]
        if not paths:
            continue
        replace = any(
            _forces_replacement(after["type"], path)
            for path, _, _ in paths
            if not path.startswith("[")
        )
        changes.append(
            Change(
                "replace" if replace else "update", urn, after["type"], after["name"], tuple(paths)
            )
        )
    return changes


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= SHOWN_LENGTH else text[: SHOWN_LENGTH - 1] + "…"


def _cost_line(old_plan: Mapping[str, Any], new_plan: Mapping[str, Any], table: PriceTable) -> str:
    before = plan_cost(old_plan, table).total("hourly_at_minimum")
    after = plan_cost(new_plan, table).total("hourly_at_minimum")
    if before is None or after is None:
        return "cost change unknown (a price is unknown; see the cost section)"
    currency = table.currency
    return f"cost {after - before:+,.2f} {currency}/h ({before:,.2f} -> {after:,.2f} {currency}/h at the minimum)"


SYMBOLS = {"create": "+", "update": "~", "replace": "+-", "delete": "-"}


def render(
    old_plan: Mapping[str, Any], new_plan: Mapping[str, Any], table: PriceTable, label: str
) -> str:
    changes = diff(old_plan, new_plan)
    lines = [f"Changes against {label}:"]
    for change in changes:
        short = change.type.split(":")[-1]
        lines.append(f"  {SYMBOLS[change.kind]:<2} {change.kind:<7} {short} {change.name}")
        lines += [
            f"      {path}: {_shown(old)} -> {_shown(new)}" for path, old, new in change.paths
        ]
    if not changes:
        lines.append("  (no changes)")
    counts = {kind: sum(change.kind == kind for change in changes) for kind in SYMBOLS}
    unchanged = len({r["urn"] for r in new_plan.get("resources", [])}) - sum(
        counts[kind] for kind in ("create", "update", "replace")
    )
    summary: Sequence[str] = [f"{counts[kind]} to {kind}" for kind in SYMBOLS]
    lines.append(
        f"Summary: {', '.join(summary)}, {unchanged} unchanged; "
        + _cost_line(old_plan, new_plan, table)
    )
    return "\n".join(lines)

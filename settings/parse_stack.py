"""Where the stack lives and who owns it: stack name, region, resource group, name salt, tags.

Keys: ``azure-native:location``, ``resourceGroupName``, ``nameSalt``, ``owner``, ``costCenter``,
``tags``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lib.catalog import (
    AZURE_REGIONS,
    MAX_TAG_NAME_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    MAX_TAGS_PER_RESOURCE,
    RESOURCE_GROUP_PATTERN,
    TAG_NAME_PATTERN,
    TAG_VALUE_PATTERN,
)
from lib.quoting import key_name
from settings.model import LOCATION_KEY, PROJECT_TAGS
from settings.reader import Reader

# Stack names end up in resource names (lib/naming.py): Log Analytics, AzureML workspace,
# endpoint and key vault names take lowercase letters, digits and hyphens.
STACK_NAME_PATTERN = r"[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?"
# Owner and cost center become tag values: Azure's tag characters, at most 256 of them.
TAG_TEXT_PATTERN = rf"[^<>%&\\?/\x00-\x1f\x7f]{{1,{MAX_TAG_VALUE_LENGTH}}}"


@dataclass(frozen=True)
class StackPlacement:
    """The stack's region, resource group and ownership tags, validated."""

    location: str
    resource_group_name: str | None
    name_salt: str
    owner: str
    cost_center: str
    extra_tags: Mapping[str, str]


def parse_stack(
    reader: Reader, prefix: str, values: Mapping[str, Any], stack: str, location: Any
) -> StackPlacement:
    _check_stack_name(reader, stack)
    region = _parse_location(reader, location)
    resource_group = reader.string(
        f"{prefix}resourceGroupName",
        values["resourceGroupName"],
        r"|" + RESOURCE_GROUP_PATTERN,
        "must be empty (create one) or a resource group name of 1-90 letters, digits, "
        "'-', '_', '.', '(' or ')', not ending in '.'",
    )
    name_salt = reader.string(
        f"{prefix}nameSalt",
        values["nameSalt"],
        r"[a-z0-9]{0,8}",
        "must be empty or up to 8 lowercase letters and digits",
    )
    owner = reader.string(
        f"{prefix}owner",
        values["owner"],
        TAG_TEXT_PATTERN,
        f"must be 1-{MAX_TAG_VALUE_LENGTH} characters naming a person or team, without "
        "< > % & \\ ? / or control characters",
    )
    cost_center = reader.string(
        f"{prefix}costCenter",
        values["costCenter"],
        TAG_TEXT_PATTERN,
        f"must be 1-{MAX_TAG_VALUE_LENGTH} characters, without < > % & \\ ? / or control "
        "characters",
    )
    return StackPlacement(
        location=region,
        resource_group_name=resource_group or None,
        name_salt=name_salt,
        owner=owner,
        cost_center=cost_center,
        extra_tags=_parse_tags(reader, f"{prefix}tags", values["tags"]),
    )


def _check_stack_name(reader: Reader, stack: str) -> None:
    if not re.fullmatch(STACK_NAME_PATTERN, stack):
        reader.problem(
            "stack name",
            stack,
            "must be 1-20 lowercase letters, digits or '-', starting and ending with a letter or "
            "digit: it becomes part of Azure resource names (log-<project>-<stack>, "
            "mlw-<project>-<stack>, ...) whose rules allow nothing else; rename the stack "
            "(`pulumi stack rename`)",
        )


def _parse_location(reader: Reader, location: Any) -> str:
    if location is None or location == "":
        reader.problems.append(
            f"{LOCATION_KEY}: is not set; every stack names its region, for example "
            f"`pulumi config set {LOCATION_KEY} swedencentral`"
        )
        return ""
    return reader.choice(LOCATION_KEY, location, AZURE_REGIONS)


def _parse_tags(reader: Reader, key: str, tags: Any) -> dict[str, str]:
    extra_tags: dict[str, str] = {}
    if not isinstance(tags, dict):
        reader.problem(key, tags, "must be an object of tag names to string values")
        return extra_tags
    # The project sets its own tags on every resource; the extra ones share what is left. Counted
    # before any tag is read, so ten thousand tags cost one message.
    allowed = MAX_TAGS_PER_RESOURCE - len(PROJECT_TAGS)
    if len(tags) > allowed:
        reader.problem(
            key,
            len(tags),
            f"at most {allowed} extra tags (autoscale settings take {MAX_TAGS_PER_RESOURCE} and "
            f"the project sets {len(PROJECT_TAGS)})",
        )
        return extra_tags
    # ARM compares tag names ignoring case: `Owner` would overwrite the project's `owner`.
    taken = {
        name.lower(): f"is set by the project ({source})" for name, source in PROJECT_TAGS.items()
    }
    for tag, tag_value in tags.items():
        tag_key = f"{key}.{key_name(tag)}"
        clash = taken.get(tag.lower())
        if clash is not None:
            reader.problem(
                tag_key,
                tag_value,
                f"{clash}; tag names are case-insensitive in Azure, so remove it from tags",
            )
            continue
        taken[tag.lower()] = f"differs only in case from the tag {tag!r}"
        reader.string(
            tag_key,
            tag,
            TAG_NAME_PATTERN,
            f"tag names are 1-{MAX_TAG_NAME_LENGTH} characters without < > % & \\ ? / or "
            "control characters",
        )
        extra_tags[tag] = reader.string(
            tag_key,
            tag_value,
            TAG_VALUE_PATTERN,
            f"must be at most {MAX_TAG_VALUE_LENGTH} characters, without control characters "
            "(NUL, newline, tab, ...)",
        )
    return extra_tags

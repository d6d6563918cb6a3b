"""What a dynamic provider's ``check`` is handed: values that may still be unknown, and ARM ids.

During a preview Pulumi passes a dynamic provider a placeholder for every input that depends on a
resource not created yet. A check must let such an input through (it is checked again at
`pulumi up`, when the value is known) and refuse only a known value that is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pulumi.dynamic

from lib.pulumi_api import UNKNOWN


def is_unknown(value: Any) -> bool:
    """Whether ``value`` is Pulumi's placeholder for a value not known during a preview."""
    return value == UNKNOWN


def has_unknown(value: Any) -> bool:
    """Whether ``value``, or anything inside its dicts and lists, is not known yet."""
    if isinstance(value, dict):
        return any(has_unknown(item) for item in value.values())
    if isinstance(value, list):
        return any(has_unknown(item) for item in value)
    return is_unknown(value)


def arm_id_failures(
    news: Mapping[str, Any], key: str, pattern: re.Pattern[str], what: str
) -> list[pulumi.dynamic.CheckFailure]:
    """A check failure when input ``key`` is a known string that is not ``what``'s ARM id
    (``pattern``); none while it is unknown."""
    value = news.get(key)
    if isinstance(value, str) and not is_unknown(value) and not pattern.fullmatch(value):
        return [pulumi.dynamic.CheckFailure(key, f"{value!r} is not {what}")]
    return []

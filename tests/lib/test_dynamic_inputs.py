"""What the dynamic providers' checks let through during a preview, and what they refuse."""

from __future__ import annotations

import re

from lib.dynamic_inputs import arm_id_failures, has_unknown, is_unknown
from lib.pulumi_api import UNKNOWN

PATTERN = re.compile(r"/subscriptions/[^/]+/resourceGroups/[^/]+")


def test_the_placeholder_is_unknown_wherever_it_sits() -> None:
    assert is_unknown(UNKNOWN)
    assert not is_unknown("04da6b54")  # a value, however short
    assert has_unknown({"traffic": {"blue": UNKNOWN}})
    assert has_unknown({"tags": [1, UNKNOWN]})
    assert not has_unknown({"traffic": {"blue": 100}, "tags": ["a"]})


def test_only_a_known_wrong_id_fails_and_names_its_key() -> None:
    good = "/subscriptions/s/resourceGroups/g"
    assert arm_id_failures({"id": good}, "id", PATTERN, "a group's ARM id") == []
    assert arm_id_failures({"id": UNKNOWN}, "id", PATTERN, "a group's ARM id") == []
    (failure,) = arm_id_failures({"id": "rg-name"}, "id", PATTERN, "a group's ARM id")
    assert failure.property == "id"
    assert failure.reason == "'rg-name' is not a group's ARM id"
    # Not a string at all: the resource's own argument types refuse it, not this check.
    assert arm_id_failures({}, "id", PATTERN, "a group's ARM id") == []

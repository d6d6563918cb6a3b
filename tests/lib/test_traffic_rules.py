"""The endpoint traffic rules, stated once and shared by settings and the traffic provider."""

from __future__ import annotations

import pytest

from components.traffic import EndpointTrafficProvider
from lib.traffic_rules import traffic_problems


@pytest.mark.parametrize(
    ("traffic", "mirror", "expected"),
    [
        ({"blue": 90}, {}, "live traffic must sum to 100, got 90 (blue=90)"),
        (
            {"blue": 100, "green": 0, "red": 0},
            {"green": 10, "red": 10},
            "mirror traffic may go to one deployment only, got green, red",
        ),
        (
            {"blue": 50, "green": 50},
            {"green": 10},
            "deployment 'green' cannot take mirror traffic (10) while it also takes live "
            "traffic (50)",
        ),
        ({"blue": 100}, {"green": 10}, "mirror traffic names green, which is not a deployment"),
        ({"blue": 100, "green": 0}, {"green": 60}, "at most 50 % is allowed"),
        ({"blue": 100, "Blue": 0}, {}, "deployment name 'blue' is used more than once"),
        (
            {f"d{index:02d}": 100 if index == 0 else 0 for index in range(21)},
            {},
            "at most 20 deployments per endpoint, got 21",
        ),
        ({"blue": 100.5}, {}, "traffic[blue] = 100.5: must be 0-100"),
    ],
)
def test_each_rule_names_what_is_wrong(
    traffic: dict[str, int], mirror: dict[str, int], expected: str
) -> None:
    problems = traffic_problems(traffic, mirror)
    assert any(expected in problem for problem in problems), problems


def test_valid_maps_have_no_problem() -> None:
    assert traffic_problems({}, {}) == []
    assert traffic_problems({"blue": 100, "green": 0}, {"green": 50}) == []
    assert traffic_problems({f"d{index:02d}": 5 for index in range(20)}, {}) == []


def test_pairs_keep_a_name_given_twice() -> None:
    # A mapping cannot hold "blue" twice; the declared deployments (a sequence) can.
    problems = traffic_problems([("blue", 50), ("blue", 50)], [], check_ranges=False)
    assert problems == ["deployment name 'blue' is used more than once"]


def test_ranges_can_be_left_to_the_caller() -> None:
    # Settings report each share under its own key, so the shared rules skip ranges for them.
    assert (
        traffic_problems([("blue", 100), ("green", 0)], [("green", 60)], check_ranges=False) == []
    )
    assert traffic_problems({"blue": 100, "green": 0}, {"green": 60}) != []


def test_the_provider_check_applies_the_same_rules() -> None:
    news = {
        "endpoint_id": "/subscriptions/s/resourceGroups/g/providers/"
        "Microsoft.MachineLearningServices/workspaces/w/onlineEndpoints/e",
        "api_version": "2025-12-01",
        "traffic": {"blue": 100.0, "BLUE": 0.0},
        "mirror_traffic": {},
    }
    failures = EndpointTrafficProvider().check({}, news).failures
    assert [failure.reason for failure in failures] == traffic_problems(
        {"blue": 100, "BLUE": 0}, {}
    )
    assert failures

"""The rule generator's invariants (lib/autoscale_rules.py), over every batch size and both modes:
what Azure Monitor needs to scale on LLM load without flapping (docs/adr/0026)."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from lib.autoscale_rules import (
    CUSTOM_NAMESPACE,
    METRICS_MODES,
    PLATFORM_NAMESPACE,
    REJECTED_STATUS,
    RUNNING_METRIC,
    TIME_GRAIN_MINUTES,
    MetricsMode,
    Rule,
    RulePolicy,
    default_thresholds,
    rules,
    wire,
)
from tests.support.sim_inputs import POLICY

BATCH_SIZES = (1, 2, 8, 16, 32, 64, 256)


def policy(mode: MetricsMode, max_num_seqs: int, rejected_per_minute: int = 1) -> RulePolicy:
    """The simulator tests' policy, with the thresholds settings would derive for this batch."""
    defaults = default_thresholds(max_num_seqs)
    return dataclasses.replace(
        POLICY,
        metrics_mode=mode,
        scale_out_waiting_requests=defaults["scaleOutWaitingRequests"],
        scale_out_running_requests=defaults["scaleOutRunningRequests"],
        scale_out_rejected_per_minute=rejected_per_minute,
        scale_in_running_requests=defaults["scaleInRunningRequests"],
        scale_in_requests_per_minute=defaults["scaleInRequestsPerMinute"],
    )


# Platform mode without the 429 rule would have no scale-out rule; settings refuse it
# (tests/settings/test_settings.py, "platform mode without the 429 rule").
CASES = [
    case
    for case in itertools.product(METRICS_MODES, BATCH_SIZES, (0, 1))
    if case[0] == "vllm" or case[2] > 0
]


def _ids(case: tuple[str, int, int]) -> str:
    return f"{case[0]}-S{case[1]}-429rule{case[2]}"


@pytest.fixture(params=CASES, ids=[_ids(c) for c in CASES])
def generated(request: pytest.FixtureRequest) -> tuple[RulePolicy, int, tuple[Rule, ...]]:
    mode, max_num_seqs, rejected = request.param
    chosen = policy(mode, max_num_seqs, rejected)
    return chosen, max_num_seqs, rules(chosen)


def test_scale_out_rules_come_first_and_there_is_exactly_one_scale_in(generated) -> None:
    _, _, chosen = generated
    directions = [rule.direction for rule in chosen]
    assert directions[-1] == "Decrease"
    assert directions.count("Decrease") == 1
    assert set(directions[:-1]) <= {"Increase"} and directions[:-1]


def test_the_scale_in_threshold_sits_below_the_scale_out_one(generated) -> None:
    # Otherwise one rule undoes the other and Azure's flapping guard blocks every scale-in.
    chosen_policy, max_num_seqs, chosen = generated
    (scale_in,) = [rule for rule in chosen if rule.direction == "Decrease"]
    if chosen_policy.metrics_mode == "vllm":
        (running_out,) = [
            rule
            for rule in chosen
            if rule.direction == "Increase" and rule.trigger.metric_name == RUNNING_METRIC
        ]
        assert scale_in.trigger.threshold < running_out.trigger.threshold <= max_num_seqs
        assert scale_in.trigger.threshold < max_num_seqs
    assert scale_in.trigger.threshold > 0


def test_vllm_mode_reads_the_publishers_namespace_and_platform_mode_never_does(generated) -> None:
    chosen_policy, _, chosen = generated
    namespaces = {rule.trigger.metric_namespace for rule in chosen}
    if chosen_policy.metrics_mode == "platform":
        assert namespaces == {PLATFORM_NAMESPACE}
        (scale_in,) = [rule for rule in chosen if rule.direction == "Decrease"]
        assert scale_in.trigger.divide_per_instance  # requests per instance, not in total
    else:
        assert CUSTOM_NAMESPACE in namespaces
        assert all(
            rule.trigger.metric_namespace == CUSTOM_NAMESPACE
            for rule in chosen
            if rule.trigger.dimension is None
        )


def test_the_429_rule_is_there_exactly_when_asked_for_and_steps_further(generated) -> None:
    chosen_policy, _, chosen = generated
    rejected = [rule for rule in chosen if rule.trigger.dimension is not None]
    if chosen_policy.scale_out_rejected_per_minute == 0:
        assert rejected == []
        return
    (rule,) = rejected
    assert rule.trigger.dimension == ("envoy_response_code", REJECTED_STATUS)
    assert rule.step == chosen_policy.scale_out_rejected_step > chosen_policy.scale_out_step


def test_windows_cooldowns_and_grain_are_what_azure_takes(generated) -> None:
    chosen_policy, _, chosen = generated
    for rule in chosen:
        body = wire(rule, "/subscriptions/x/deployments/blue")
        trigger = body["metricTrigger"]
        assert trigger["timeGrain"] == f"PT{TIME_GRAIN_MINUTES}M"
        # Azure Monitor's time window is 5 minutes to 12 hours, and never shorter than the grain.
        assert 5 <= rule.trigger.window_minutes <= 720
        assert rule.trigger.window_minutes >= TIME_GRAIN_MINUTES
        expected = (
            chosen_policy.scale_out_cooldown_minutes
            if rule.direction == "Increase"
            else chosen_policy.scale_in_cooldown_minutes
        )
        assert body["scaleAction"]["cooldown"] == f"PT{expected}M"
        assert body["scaleAction"]["type"] == "ChangeCount"
        assert int(body["scaleAction"]["value"]) == rule.step >= 1


def test_no_rule_reads_gpu_busy_or_latency() -> None:
    for mode, max_num_seqs, rejected in CASES:
        for rule in rules(policy(mode, max_num_seqs, rejected)):
            name = rule.trigger.metric_name.lower()
            assert "gpu" not in name and "latency" not in name


@pytest.mark.parametrize("max_num_seqs", BATCH_SIZES)
def test_default_thresholds_grow_with_the_batch_and_keep_their_order(max_num_seqs: int) -> None:
    small, large = default_thresholds(max_num_seqs), default_thresholds(max_num_seqs * 2)
    for key in small:
        assert large[key] >= small[key] > 0
    assert small["scaleInRunningRequests"] < small["scaleOutRunningRequests"] <= max_num_seqs
    assert small["scaleOutWaitingRequests"] >= 1

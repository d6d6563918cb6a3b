"""Simulator inputs built without running the program: the rules lib/autoscale_rules.py makes,
in the recorded shape, with chosen profiles. For the simulator's own property tests."""

from __future__ import annotations

import dataclasses
import json

from lib.autoscale_rules import RulePolicy, rules, wire
from tools.autoscale_sim import inputs

DEPLOYMENT_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
    "Microsoft.MachineLearningServices/workspaces/w/onlineEndpoints/e/deployments/blue"
)

POLICY = RulePolicy(
    metrics_mode="vllm",
    scale_out_waiting_requests=1.0,
    scale_out_running_requests=13.6,
    scale_out_rejected_per_minute=1,
    scale_in_running_requests=8.0,
    scale_in_requests_per_minute=12.0,
    scale_out_window_minutes=5,
    scale_in_window_minutes=20,
    scale_out_step=1,
    scale_out_rejected_step=3,
    scale_in_step=1,
    scale_out_cooldown_minutes=15,
    scale_in_cooldown_minutes=10,
)


def make(
    policy: RulePolicy = POLICY,
    minimum: int = 1,
    maximum: int = 6,
    initial: int = 1,
    recurrences: tuple[tuple[str, tuple[str, ...], int, int, int], ...] = (),
) -> inputs.SimInputs:
    """One default profile (minimum..maximum) plus recurrences (name, days, hour, min, max)."""
    recorded = [inputs._rule(wire(rule, DEPLOYMENT_ID)) for rule in rules(policy)]
    profiles = [
        {
            "name": "default",
            "minimum": minimum,
            "default": minimum,
            "maximum": maximum,
            "rules": [dataclasses.asdict(rule) for rule in recorded],
            "recurrence": None,
        }
    ]
    for name, days, hour, low, high in recurrences:
        profiles.append(
            {
                **profiles[0],
                "name": name,
                "minimum": low,
                "default": low,
                "maximum": high,
                "recurrence": {
                    "days": list(days),
                    "hours": [hour],
                    "minutes": [0],
                    "time_zone": "UTC",
                },
            }
        )
    document = {
        "format": inputs.FORMAT_VERSION,
        "stack": "test",
        "setting_name": "autoscale-test",
        "enabled": True,
        "profiles": profiles,
        "deployment": {
            "name": "blue",
            "instance_type": "Standard_NC24ads_A100_v4",
            "initial_instances": initial,
            "max_concurrent_requests_per_instance": 16,
            "request_timeout_seconds": 180.0,
            "max_num_seqs": 16,
        },
    }
    return inputs.from_json(json.dumps(document), "tests")

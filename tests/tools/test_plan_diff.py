"""`--baseline`: a four-step blue/green rollout, each step diffed against the one before."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from lib.prices import PriceTable
from tests.conftest import RunProgram
from tools import plan_diff
from tools.preview import main as preview_main
from tools.preview import to_json

# A priced region, so that the cost delta is a number (lib/prices.json).
TABLE = PriceTable(
    retrieved="test",
    source="test",
    currency="USD",
    prices={"eastus": {"Standard_NC24ads_A100_v4": 3.5}},
)
BLUE = {"name": "blue", "instanceCount": 1}
GREEN = {"name": "green", "instanceCount": 1}
ROLLOUT = [
    [{**BLUE, "traffic": 100}],
    [{**BLUE, "traffic": 100}, {**GREEN, "traffic": 0}],
    [{**BLUE, "traffic": 50}, {**GREEN, "traffic": 50}],
    [{**GREEN, "traffic": 100}],
]


def plan(run: RunProgram, deployments: list[dict[str, Any]]) -> dict[str, Any]:
    return to_json(run("dev", **{"azure-native:location": "eastus", "deployments": deployments}))


def kinds(changes: list[plan_diff.Change]) -> set[tuple[str, str]]:
    return {(change.kind, change.name) for change in changes}


def test_each_rollout_step_shows_what_changes_and_its_cost(run: RunProgram) -> None:
    plans = [plan(run, step) for step in ROLLOUT]

    # Step 1 -> 2: green is created, traffic is rewritten to name it; nothing else moves.
    changes = plan_diff.diff(plans[0], plans[1])
    assert ("create", "endpoint-green") in kinds(changes)
    assert ("update", "endpoint-traffic") in kinds(changes)
    assert {change.kind for change in changes} <= {"create", "update"}
    report = plan_diff.render(plans[0], plans[1], TABLE, "step1.json")
    assert "+  create  OnlineDeployment endpoint-green" in report
    assert "cost +3.50 USD/h (3.50 -> 7.00 USD/h at the minimum)" in report

    # Step 2 -> 3: only the traffic split changes, and the cost does not.
    changes = plan_diff.diff(plans[1], plans[2])
    assert kinds(changes) == {("update", "endpoint-traffic")}
    (traffic,) = changes
    assert ("traffic.blue", 100, 50) in traffic.paths
    assert ("traffic.green", 0, 50) in traffic.paths
    report = plan_diff.render(plans[1], plans[2], TABLE, "step2.json")
    assert "0 to create, 1 to update, 0 to replace, 0 to delete" in report
    assert "cost +0.00 USD/h" in report

    # Step 3 -> 4: blue is deleted; the bill drops by one instance.
    changes = plan_diff.diff(plans[2], plans[3])
    assert ("delete", "endpoint-blue") in kinds(changes)
    assert ("update", "endpoint-traffic") in kinds(changes)
    report = plan_diff.render(plans[2], plans[3], TABLE, "step3.json")
    assert "-  delete  OnlineDeployment endpoint-blue" in report
    assert "cost -3.50 USD/h (7.00 -> 3.50 USD/h at the minimum)" in report


def test_a_new_region_replaces_what_arm_cannot_move(run: RunProgram) -> None:
    before = plan(run, ROLLOUT[0])
    after = to_json(
        run("dev", **{"azure-native:location": "westeurope", "deployments": ROLLOUT[0]})
    )
    replaced = {change.name for change in plan_diff.diff(before, after) if change.kind == "replace"}
    # Location is part of every regional resource's identity; the environment version is
    # immutable and its image (in the renamed registry) changes.
    assert {"workspace-resource-group", "workspace-workspace", "endpoint-environment"} <= replaced


def test_a_changed_setting_is_an_update_with_old_and_new_values(run: RunProgram) -> None:
    before = plan(run, ROLLOUT[0])
    after = plan(run, [{**BLUE, "traffic": 100, "instanceCount": 2}])
    (change,) = plan_diff.diff(before, after)
    assert (change.kind, change.name) == ("update", "endpoint-blue")
    assert ("sku.capacity", 1, 2) in change.paths


def test_secrets_are_redacted_on_both_sides(run: RunProgram) -> None:
    before = to_json(run("dev", huggingFaceToken={"secure": "x"}, weightsSource="huggingface"))
    report = plan_diff.render(before, before, TABLE, "same.json")
    assert "(no changes)" in report
    assert "offline-preview-secret" not in json.dumps(before)


def test_preview_baseline_option_prints_the_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "before.json"
    assert preview_main(["--stack", "dev", "--json", str(baseline)]) == 0
    stack_file = tmp_path / "Pulumi.dev.yaml"
    document = yaml.safe_load((Path(__file__).parents[2] / "Pulumi.dev.yaml").read_text())
    document["config"]["vllm-azureml:deployments"][0]["instanceCount"] = 2
    stack_file.write_text(yaml.safe_dump(document))
    capsys.readouterr()
    assert preview_main(["--stack-file", str(stack_file), "--baseline", str(baseline)]) == 0
    out = capsys.readouterr().out
    assert f"Changes against {baseline}:" in out
    assert "sku.capacity: 1 -> 2" in out
    assert "0 to create, 1 to update, 0 to replace, 0 to delete" in out


@pytest.mark.parametrize("content", ["not json", "[]", '{"resources": 5}'])
def test_an_unusable_baseline_exits_2(
    tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "bad.json"
    baseline.write_text(content)
    assert preview_main(["--stack", "dev", "--baseline", str(baseline)]) == 2
    assert "--baseline" in capsys.readouterr().err

"""`make verify` against the loopback fake vLLM and fake ARM: every check passes on a healthy
stack and fails (or skips) when one piece of it is broken."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clients.verify import CHECK_MODULES, CHECKS
from clients.verify.cli import main
from lib.arm import ArmClient
from tests.support.fake_arm import FakeArm, FakeArmServer, FakeCredential
from tests.support.fake_stack import deployed_stack, set_metric
from tests.support.fake_vllm import install_fake_pulumi
from tests.support.verify_world import World, verify_world

pytestmark = pytest.mark.usefixtures("isolated_environment", "fast_polls")

ALL_CHECKS = {c.id for c in CHECKS}


@pytest.fixture
def world(isolated_environment: Path) -> Iterator[World]:
    with verify_world(isolated_environment) as world:
        yield world


def test_a_healthy_stack_passes_every_check(world: World) -> None:
    result = world.verify()
    assert result.code == 0, result.stdout + result.stderr
    statuses = {check_id: c["status"] for check_id, c in result.checks.items()}
    assert statuses == {
        "openai-paths": "pass",
        "chat-stream": "pass",
        "deployments-answer[blue]": "pass",
        "deployments-answer[green]": "pass",
        "model-loaded-with-token[blue]": "pass",
        "model-loaded-with-token[green]": "pass",
        "traffic": "pass",
        "autoscale[blue]": "pass",
        "managed-network": "pass",
        "endpoint-roles": "pass",
        "vllm-api-key-forwarding": "skip",
        "vllm-metrics[blue]": "pass",
        "vllm-metrics[green]": "pass",
        "metrics-publisher-role[blue]": "pass",
        "metrics-publisher-role[green]": "pass",
        "autoscale-vllm-rules[blue]": "pass",
        "dashboard": "pass",
        "quota-usage": "pass",
        "managed-online-size": "pass",
        # Weights from the Hub in this stack (HF_TOKEN above): tests/clients/test_verify_weights.py.
        "staged-weights": "skip",
        "weights-mounted": "skip",
        "model-revision": "skip",  # the fake outputs pin no revision
        "served-name[blue]": "pass",
        "served-name[green]": "pass",
    }
    assert {key.split("[")[0] for key in statuses} == ALL_CHECKS
    assert json.loads(result.stdout)["passed"] is True
    assert result.seconds < 20


def test_the_text_report_names_each_check_and_the_key_never_shows(world: World) -> None:
    install_fake_pulumi(world.bin_dir, world.stack.outputs)
    stdout = io.StringIO()
    code = main(
        ["--stack", "prod", "--timeout", "5"],
        stdout=stdout,
        stderr=io.StringIO(),
        arm_factory=lambda: ArmClient(FakeCredential(), base_url=world.arm.base_url),
    )
    assert code == 0
    text = stdout.getvalue()
    assert "ok   openai-paths:" in text
    assert "verify: passed (20 passed, 0 failed, 4 skipped" in text
    assert world.vllm.api_key not in text


def test_only_the_scoring_route_forwarded_fails_with_exactly_what_to_change(world: World) -> None:
    world.vllm.scoring_route_only = True
    result = world.verify("--only", "openai-paths")
    assert result.code == 1
    outcome = result.checks["openai-paths"]
    assert outcome["status"] == "fail"
    assert "only the scoring route reaches vLLM" in outcome["summary"]
    fix = " ".join(outcome["fix"])
    assert "SCORING_PATH in components/endpoint.py" in fix
    assert "'/v1'" in fix
    assert "deployments.<name>.model" in fix


def test_a_broken_stream_fails_chat_stream(world: World) -> None:
    world.vllm.cut_stream_after = 3
    result = world.verify("--only", "chat-stream")
    assert result.status("chat-stream") == "fail"
    assert result.code == 1


def test_a_deployment_that_does_not_exist_fails_its_header_check(world: World) -> None:
    world.vllm.deployments = {"blue": 100}
    result = world.verify("--only", "deployments-answer")
    assert result.status("deployments-answer[blue]") == "pass"
    assert result.status("deployments-answer[green]") == "fail"
    assert "not found" in " ".join(result.checks["deployments-answer[green]"]["evidence"])


def test_traffic_changed_behind_pulumi_fails(world: World) -> None:
    endpoint = world.arm.resources[world.stack.endpoint_id.lower()]
    endpoint["properties"]["traffic"] = {"blue": 50, "green": 50}
    result = world.verify("--only", "traffic")
    outcome = result.checks["traffic"]
    assert outcome["status"] == "fail"
    assert "{'blue': 50, 'green': 50}" in " ".join(outcome["evidence"])
    assert "pulumi up" in " ".join(outcome["fix"])


def _setting(world: World) -> dict[str, Any]:
    group = world.stack.endpoint_id.split("/providers/")[0]
    return world.arm.resources[f"{group}/providers/microsoft.insights/autoscalesettings".lower()][
        "value"
    ][0]


@pytest.mark.parametrize(
    ("breakage", "phrase"),
    [
        ("disabled", "is not enabled"),
        ("no-data", "has no data in the last 15 minutes"),
        ("missing", "no autoscale setting targets deployment blue"),
    ],
)
def test_autoscale_that_would_not_act_fails(world: World, breakage: str, phrase: str) -> None:
    setting = _setting(world)
    if breakage == "disabled":
        setting["properties"]["enabled"] = False
    elif breakage == "no-data":
        set_metric(world.arm, world.stack.endpoint_id, [None, None, None])
    else:
        setting["properties"]["targetResourceUri"] = world.stack.deployment_id("green")
    result = world.verify("--only", "autoscale")
    outcome = result.checks["autoscale[blue]"]
    assert outcome["status"] == "fail", outcome
    assert phrase in outcome["summary"] + " ".join(outcome["evidence"])


def test_no_autoscaled_deployment_skips_autoscale(world: World) -> None:
    for deployment in world.stack.outputs["deployments"].values():
        deployment["autoscale"] = False
    result = world.verify("--only", "autoscale")
    assert result.status("autoscale") == "skip"
    assert result.code == 0


def test_an_inactive_network_or_rule_fails_managed_network(world: World) -> None:
    rules = world.arm.resources[f"{world.stack.workspace_id}/outboundRules".lower()]["value"]
    rules[1]["properties"].update(status="Inactive", errorInformation="FQDN not allowed")
    result = world.verify("--only", "managed-network")
    outcome = result.checks["managed-network"]
    assert outcome["status"] == "fail"
    assert "outbound rule hf-cdn (*.hf.co): Inactive (FQDN not allowed)" in outcome["evidence"]
    assert "provision-network" in " ".join(outcome["fix"])


def test_a_workspace_without_a_managed_network_skips(world: World) -> None:
    workspace = world.arm.resources[world.stack.workspace_id.lower()]
    workspace["properties"]["managedNetwork"] = {"isolationMode": "Disabled"}
    assert world.verify("--only", "managed-network").status("managed-network") == "skip"


def test_a_missing_role_assignment_fails_endpoint_roles(world: World) -> None:
    path = f"{world.stack.secret_scope}/providers/Microsoft.Authorization/roleAssignments".lower()
    world.arm.resources[path] = {"value": []}
    outcome = world.verify("--only", "endpoint-roles").checks["endpoint-roles"]
    assert outcome["status"] == "fail"
    assert "4633458b-17de-408a-b874-0445c86b69e6" in " ".join(outcome["evidence"])
    assert "roleAssignments/write" in " ".join(outcome["fix"])


def test_the_exported_role_list_is_what_endpoint_roles_checks(world: World) -> None:
    world.stack.outputs["endpointRoleAssignments"] = [
        {
            "role": "3913510d-42f4-4e42-8a64-420c390055eb",
            "scope": world.stack.endpoint_id,
            "why": "metrics",
        }
    ]
    outcome = world.verify("--only", "endpoint-roles").checks["endpoint-roles"]
    assert outcome["status"] == "fail"
    assert "3913510d-42f4-4e42-8a64-420c390055eb on" in " ".join(outcome["evidence"])


def test_without_a_token_the_token_check_skips_and_roles_skip(
    world: World, isolated_environment: Path
) -> None:
    with FakeArmServer(FakeArm()) as arm:
        world.stack = deployed_stack(arm, world.vllm, hf_token=False)
        world.arm = arm
        result = world.verify("--only", "model-loaded-with-token", "--only", "endpoint-roles")
    assert result.status("model-loaded-with-token") == "skip"
    assert result.status("endpoint-roles") == "skip"
    assert result.code == 0


def test_a_deployment_with_a_token_that_does_not_serve_fails(world: World) -> None:
    world.vllm.deployments = {"blue": 100}
    result = world.verify("--only", "model-loaded-with-token")
    assert result.status("model-loaded-with-token[blue]") == "pass"
    outcome = result.checks["model-loaded-with-token[green]"]
    assert outcome["status"] == "fail"
    assert "get-logs" in " ".join(outcome["fix"])


def test_no_arm_login_fails_every_arm_check_with_what_to_do(world: World) -> None:
    class NoLogin:
        def get_token(self, *scopes: str, **_: Any) -> Any:
            raise RuntimeError("no az login")

    install_fake_pulumi(world.bin_dir, world.stack.outputs)
    stdout = io.StringIO()
    code = main(
        ["--stack", "prod", "--json", "--only", "traffic", "--only", "managed-network"],
        stdout=stdout,
        stderr=io.StringIO(),
        arm_factory=lambda: ArmClient(NoLogin(), base_url=world.arm.base_url),
    )
    checks = {c["id"]: c for c in json.loads(stdout.getvalue())["checks"]}
    assert code == 1
    for check_id in ("traffic", "managed-network"):
        assert checks[check_id]["status"] == "fail"
        assert "az login" in " ".join(checks[check_id]["evidence"] + checks[check_id]["fix"])


def test_no_subscription_anywhere_says_how_to_give_one(world: World) -> None:
    del world.stack.outputs["endpointId"]
    outcome = world.verify("--only", "traffic").checks["traffic"]
    assert outcome["status"] == "fail"
    assert "--subscription" in " ".join(outcome["fix"])


def test_an_arm_fault_is_a_failed_check_not_a_crash(world: World) -> None:
    world.arm.resources[world.stack.endpoint_id.lower()] = b""  # type: ignore[assignment]
    world.arm.handlers.append(
        lambda fake, request: (
            (200, b"", {}) if request.path.lower() == world.stack.endpoint_id.lower() else None
        )
    )
    result = world.verify("--only", "traffic")
    outcome = result.checks["traffic"]
    assert outcome["status"] == "fail"
    assert "InvalidResponse" in " ".join(outcome["evidence"])
    assert "Traceback" not in result.stdout + result.stderr


def test_checks_are_registered_once_from_the_listed_modules() -> None:
    assert CHECK_MODULES == (
        "clients.verify.serving",
        "clients.verify.azure",
        "clients.verify.monitoring",
        "clients.verify.capacity",
        "clients.verify.weights",
    )
    ids = [c.id for c in CHECKS]
    assert len(ids) == len(set(ids))
    assert {
        "traffic",
        "autoscale",
        "managed-network",
        "endpoint-roles",
        "vllm-metrics",
        "metrics-publisher-role",
        "autoscale-vllm-rules",
        "dashboard",
    } <= {c.id for c in CHECKS if c.uses_arm}


def _with_vllm_api_key(world: World, key: str) -> None:
    world.vllm.vllm_api_key = key
    world.arm.resources.clear()
    world.stack = deployed_stack(world.arm, world.vllm, vllm_api_key=True)


def test_the_header_forwarded_to_vllm_passes_the_api_key_check(world: World) -> None:
    # The setup step: the endpoint's primary key is set to vllmApiKey.
    _with_vllm_api_key(world, world.vllm.api_key)
    result = world.verify("--only", "vllm-api-key-forwarding")
    assert result.status("vllm-api-key-forwarding[blue]") == "pass"
    assert result.code == 0


def test_vllm_refusing_the_header_fails_the_api_key_check_with_the_verdict(world: World) -> None:
    _with_vllm_api_key(world, "a-different-vllm-key-0123")
    result = world.verify("--only", "vllm-api-key-forwarding")
    outcome = result.checks["vllm-api-key-forwarding[blue]"]
    assert outcome["status"] == "fail"
    assert "vLLM refused the request" in outcome["summary"]
    assert "vllmApiKey cannot work" in " ".join(outcome["fix"])
    assert "a-different-vllm-key-0123" not in result.stdout


def test_docs_verify_has_a_row_for_every_check_and_autoscale_names_the_metrics_ones() -> None:
    root = Path(__file__).resolve().parents[2]
    table = (root / "docs" / "verify.md").read_text()
    missing = [c.id for c in CHECKS if f"| `{c.id}`" not in table and f"| `{c.id}[" not in table]
    assert missing == []
    autoscale = (root / "docs" / "autoscale.md").read_text()
    section = autoscale.split("## What only a live stack proves", 1)[1].split("\n## ", 1)[0]
    for check_id in ("vllm-metrics", "metrics-publisher-role", "autoscale-vllm-rules", "dashboard"):
        assert f"`{check_id}`" in section
        assert check_id in ALL_CHECKS

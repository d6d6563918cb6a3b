"""The program provisions the managed network before any deployment, and only when there is one."""

from __future__ import annotations

import pytest

from tests.conftest import BLUE_GREEN_WITH_MIRROR, RunProgram

PROVISION = "pulumi-python:dynamic/machinelearningservices:ManagedNetworkProvision"
DEPLOYMENT = "azure-native:machinelearningservices:OnlineDeployment"
WORKSPACE = "azure-native:machinelearningservices:Workspace"


@pytest.mark.parametrize("mode", ["AllowOnlyApprovedOutbound", "AllowInternetOutbound"])
def test_every_deployment_waits_for_the_provisioned_network(run: RunProgram, mode: str) -> None:
    result = run("prod", managedNetwork=mode, deployments=BLUE_GREEN_WITH_MIRROR)
    network = result.one(PROVISION)
    workspace = result.one(WORKSPACE)
    assert network.input("workspace_id") == workspace.id
    assert workspace.urn in network.dependencies
    deployments = result.of_type(DEPLOYMENT)
    assert len(deployments) == 2
    for deployment in deployments:
        assert network.urn in deployment.dependencies, deployment.name


def test_without_a_managed_network_nothing_is_provisioned(run: RunProgram) -> None:
    result = run("dev", managedNetwork="Disabled")
    assert result.of_type(PROVISION) == []
    assert result.of_type(DEPLOYMENT)


def test_a_rule_change_provisions_again(run: RunProgram) -> None:
    before = run("prod").one(PROVISION).input("rules_revision")
    after = run("prod", outboundFqdns=["huggingface.co", "*.hf.co", "pypi.org"])
    assert after.one(PROVISION).input("rules_revision") != before
    assert run("prod").one(PROVISION).input("rules_revision") == before


def test_the_program_runs_the_preflight_with_the_stacks_names(
    run: RunProgram, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lib import preflight

    calls: list[tuple[str, str, str]] = []

    def record(settings: object, resource_group: str, workspace: str, **_: object) -> list:
        calls.append((getattr(settings, "stack", ""), resource_group, workspace))
        raise preflight.PreflightError("stop before anything is declared")

    monkeypatch.setattr(preflight, "run_in_program", record)
    with pytest.raises(preflight.PreflightError):
        run("prod")
    assert calls == [("prod", "rg-vllm-azureml-prod", "mlw-vllm-azureml-prod")]

"""The offline preview prints the vCPU quota each VM family needs, from what the program declared."""

from __future__ import annotations

import pytest

from tests.conftest import BLUE_GREEN_WITH_MIRROR, RunProgram
from tools import preview


def test_prod_needs_its_autoscale_maximum_of_a100_quota(run: RunProgram) -> None:
    section = preview.render_quota(run("prod"), "eastus2").splitlines()
    assert section == [
        "vCPU quota needed in eastus2 (AzureML, per VM family; every deployment at its peak):",
        "  standardNCADSA100v4Family: 144 vCPUs",
        "    blue: 6 x Standard_NC24ads_A100_v4 = 144 vCPUs",
    ]


def test_a_blue_green_overlap_counts_both_deployments(run: RunProgram) -> None:
    result = run("dev", deployments=BLUE_GREEN_WITH_MIRROR)
    demands = {d.deployment: d for d in preview.quota_demands(result)}
    assert demands["blue"].peak_instances == 1
    assert demands["green"].peak_instances == 2
    section = preview.render_quota(result, "swedencentral")
    assert "standardNCADSA100v4Family: 120 vCPUs" in section


def test_the_cli_prints_one_labelled_quota_section(capsys: pytest.CaptureFixture[str]) -> None:
    assert preview.main(["--stack", "prod"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("vCPU quota needed in eastus2") == 1

"""The whole program, for every committed stack file, under mocks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping

from tests.conftest import RunProgram
from tests.support.preview import preview_in_process
from tools.offline import ROOT, ProgramRun, load_stack_config


def preview(
    *arguments: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m tools.preview ARGUMENTS` as a user runs it, from the repository root. These are
    the end-to-end runs; other tests call the same main() in-process (tests/support/preview.py)."""
    return subprocess.run(
        [sys.executable, "-m", "tools.preview", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def test_every_stack_runs_and_exports_its_region(stack: str, stack_run: ProgramRun) -> None:
    config, _ = load_stack_config(stack)
    assert stack_run.outputs["region"] == config["azure-native:location"]
    assert stack_run.stack == stack


def test_stacks_get_different_globally_unique_names(run: RunProgram) -> None:
    dev, prod = run("dev"), run("prod")
    assert dev.outputs["endpointName"] != prod.outputs["endpointName"]


def test_preview_command_succeeds_and_prints_outputs() -> None:
    result = preview("--stack", "dev")
    assert result.returncode == 0, result.stderr
    assert "Offline preview of stack 'dev'" in result.stdout
    assert "region" in result.stdout


def test_preview_of_bad_config_exits_non_zero_without_traceback(tmp_path) -> None:
    stack_file = tmp_path / "Pulumi.citest-bad.yaml"
    stack_file.write_text(
        "config:\n  azure-native:location: swedencentral\n  vllm-azureml:authMode: AMLToken\n"
    )
    result = preview("--stack-file", str(stack_file))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "vllm-azureml:authMode = 'AMLToken'" in result.stderr
    assert "Stack 'citest-bad'" in result.stderr


def test_a_new_region_is_one_new_stack_file(tmp_path) -> None:
    """Copy prod, change the region: the program deploys there with no other change."""
    stack_file = tmp_path / "Pulumi.prod-westeurope.yaml"
    stack_file.write_text((ROOT / "Pulumi.prod.yaml").read_text().replace("eastus2", "westeurope"))
    result = preview_in_process("--stack-file", str(stack_file))
    assert result.returncode == 0, result.stderr
    assert "westeurope" in result.stdout
    assert ".westeurope.inference.ml.azure.com/v1" in result.stdout


def test_json_and_graph_files_are_byte_identical_across_runs(tmp_path, stack: str) -> None:
    # One run in this process and one in a fresh interpreter with another string-hash seed: set
    # and dict orders that leak into the files differ between them, as they would between two
    # runs of the command. The fresh interpreter's seed is chosen to differ from this one's.
    other_seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    outputs = []
    for attempt in ("in-process", "fresh-interpreter"):
        json_file, graph_file = tmp_path / f"{attempt}.json", tmp_path / f"{attempt}.mmd"
        arguments = ("--stack", stack, "--json", str(json_file), "--graph", str(graph_file))
        if attempt == "in-process":
            result = preview_in_process(*arguments)
        else:
            result = preview(*arguments, env={**os.environ, "PYTHONHASHSEED": other_seed})
        assert result.returncode == 0, result.stderr
        outputs.append((json_file.read_bytes(), graph_file.read_bytes()))
    assert outputs[0] == outputs[1]
    document = json.loads(outputs[0][0])
    assert document["stack"] == stack
    assert outputs[0][1].startswith(b"flowchart LR")


def test_a_plaintext_secret_in_a_stack_file_stops_the_preview(tmp_path) -> None:
    stack_file = tmp_path / "Pulumi.leaky.yaml"
    stack_file.write_text(
        (ROOT / "Pulumi.dev.yaml").read_text()
        + "  vllm-azureml:huggingFaceToken: hf_plaintext_in_git\n"
    )
    result = preview_in_process("--stack-file", str(stack_file))
    assert result.returncode == 2
    assert "is stored in plaintext in Pulumi.leaky.yaml" in result.stderr
    assert "hf_plaintext_in_git" not in result.stderr + result.stdout


def test_vllm_api_key_reaches_every_deployment_by_secret_injection(run: RunProgram) -> None:
    # `secure:` in a stack file: the offline run stands in for the decrypted value, as a secret.
    result = run("dev", vllmApiKey={"secure": "AAABAEncrypted"})
    secrets = {s.inputs["secretName"]: s for s in result.of_type("azure-native:keyvault:Secret")}
    versioned = secrets["vllm-api-key"].outputs["properties"]["secretUriWithVersion"]
    for deployment in result.of_type("azure-native:machinelearningservices:OnlineDeployment"):
        variables = deployment.input("properties.environmentVariables")
        assert variables["VLLM_API_KEY"] == "${{keyvault:" + versioned + "}}"
    # The deployer may manage the vault's secrets, as it may for the Hugging Face token.
    roles = [
        r.inputs["roleDefinitionId"]
        for r in result.of_type("azure-native:authorization:RoleAssignment")
    ]
    # Key Vault Secrets Officer, a built-in role id (the same in every tenant).
    assert any(role.endswith("/b86a8fe4-44ce-4948-aee5-eccb2c155cd7") for role in roles)


def test_each_deployment_exports_what_verify_reads_of_its_metrics(run: RunProgram) -> None:
    """`make verify` picks its metrics checks from deployments.<name>: publishMetrics, autoscale
    and autoscaleMetricsMode (clients/verify/monitoring.py)."""
    autoscaled = {"enabled": True, "minInstances": 1, "defaultInstances": 1, "maxInstances": 2}
    result = run(
        "dev",
        deployments=[
            {"name": "blue", "traffic": 100, "autoscale": autoscaled},
            {
                "name": "green",
                "traffic": 0,
                "publishMetrics": False,
                "autoscale": {**autoscaled, "metricsMode": "platform"},
            },
        ],
    )
    exported = result.outputs["deployments"]
    assert {name: exported[name]["autoscaleMetricsMode"] for name in exported} == {
        "blue": "vllm",
        "green": "platform",
    }
    assert {name: exported[name]["publishMetrics"] for name in exported} == {
        "blue": True,
        "green": False,
    }

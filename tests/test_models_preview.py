"""Issue 15's done-when cases, through the offline preview (`python -m tools.preview`) and the
program under mocks: what cannot start is refused with its numbers, multi-GPU sizes get tensor
parallelism, parsers follow the model, blue/green keeps one served name, and unpinned models are
refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.conftest import RunProgram
from tests.support.preview import preview_in_process
from tools.offline import ProgramRun

DEPLOYMENT = "azure-native:machinelearningservices:OnlineDeployment"
WEIGHTS = "pulumi-python:dynamic/model_weights:ModelWeights"
R1_8B = "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"
R1_70B = "deepseek-ai/DeepSeek-R1-Distill-Llama-70B"
LLAMA_70B = "meta-llama/Llama-3.3-70B-Instruct"
QWEN_7B = "Qwen/Qwen2.5-7B-Instruct"
# Test values in the shape of a commit SHA, not real commits of these models.
PIN_A = "a" * 40
PIN_B = "b" * 40


def preview_stack_file(
    tmp_path: Path, name: str, deployments: list[dict]
) -> subprocess.CompletedProcess[str]:
    stack_file = tmp_path / f"Pulumi.{name}.yaml"
    config = {
        "azure-native:location": "swedencentral",
        "vllm-azureml:managedNetwork": "AllowInternetOutbound",
        "vllm-azureml:deployments": deployments,
    }
    stack_file.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return preview_in_process("--stack-file", str(stack_file))


def environments(run: ProgramRun) -> dict[str, dict[str, str]]:
    return {
        d.input("deploymentName"): d.input("properties.environmentVariables")
        for d in run.of_type(DEPLOYMENT)
    }


def test_what_cannot_start_is_refused_by_the_preview_with_its_numbers(tmp_path: Path) -> None:
    result = preview_stack_file(
        tmp_path,
        "citest-nofit",
        [
            {
                "name": "on-t4",
                "model": R1_8B,
                "instanceType": "Standard_NC4as_T4_v3",
                "traffic": 100,
            },
            {
                "name": "one-a100",
                "model": R1_70B,
                "revision": PIN_A,
                "instanceType": "Standard_NC24ads_A100_v4",
                "traffic": 0,
            },
            {"name": "unpinned", "model": QWEN_7B, "traffic": 0},
        ],
    )
    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stderr
    message = result.stderr
    # The 8B on a 16 GB T4: 16.06 GB of bfloat16 weights (14.96 GiB) plus vLLM's 2 GB runtime
    # against 0.9 x 16 GB (13.41 GiB).
    assert (
        f"deployments[0]: {R1_8B}@74fbf131a939 on Standard_NC4as_T4_v3: {R1_8B} needs 14.96 GiB"
        in message
    )
    assert "13.41 GiB it may use on one NVIDIA T4 (16 GB x gpuMemoryUtilization 0.9)" in message
    # A 70B on one 80 GB A100: 141.2 GB of weights (131.5 GiB) against 67.06 GiB.
    assert f"deployments[1]: {R1_70B}@aaaaaaaaaaaa on Standard_NC24ads_A100_v4" in message
    assert "131.5 GiB of weights per GPU" in message and "67.06 GiB" in message
    # Unpinned: refused, with how to find the revision.
    assert (
        f"deployments[2].revision: {QWEN_7B} is not pinned; add `revision: <40-hex commit SHA>`"
        in message
    )
    assert f"https://huggingface.co/api/models/{QWEN_7B}/revision/main" in message


def test_the_preview_shows_each_deployments_model_line(tmp_path: Path) -> None:
    result = preview_stack_file(
        tmp_path,
        "citest-models",
        [
            {"name": "blue", "model": R1_8B, "traffic": 100},
            {
                "name": "green",
                "model": LLAMA_70B,
                "revision": PIN_A,
                "instanceType": "Standard_NC96ads_A100_v4",
                "traffic": 0,
            },
        ],
    )
    assert result.returncode == 0, result.stderr
    (green,) = [
        line for line in result.stdout.splitlines() if line.startswith(f"  green: {LLAMA_70B}@")
    ]
    assert green.startswith(f"  green: {LLAMA_70B}@aaaaaaaaaaaa as deepseek-r1-distill-llama-8b")
    for part in (
        "weights 131.5 GiB",
        "KV 423583 tokens",
        "full-length 12 x 32768",
        "tensor-parallel 4",
        "parser none",
        "weights from workspace",
    ):
        assert part in green, part


def test_seventy_b_on_four_a100_gets_tensor_parallelism_4(run: RunProgram) -> None:
    result = run(
        "dev",
        deployments=[
            {
                "name": "blue",
                "model": R1_70B,
                "revision": PIN_A,
                "instanceType": "Standard_NC96ads_A100_v4",
                "traffic": 100,
            }
        ],
    )
    environment = environments(result)["blue"]
    assert environment["SERVE_TENSOR_PARALLEL_SIZE"] == "4"
    assert environment["SERVE_DTYPE"] == "bfloat16"
    assert result.outputs["deployments"]["blue"]["tensorParallelSize"] == 4


def test_qwen25_gets_no_r1_parser_and_r1_keeps_it(run: RunProgram) -> None:
    result = run(
        "dev",
        deployments=[
            {"name": "blue", "model": R1_8B, "traffic": 100},
            {"name": "green", "model": QWEN_7B, "revision": PIN_B, "traffic": 0},
        ],
    )
    found = environments(result)
    assert found["green"]["SERVE_REASONING_PARSER"] == "none"
    assert found["blue"]["SERVE_REASONING_PARSER"] == "deepseek_r1"


def test_blue_green_with_two_models_shares_one_served_name(run: RunProgram) -> None:
    result = run(
        "prod",
        deployments=[
            {"name": "blue", "model": R1_8B, "traffic": 90},
            {
                "name": "green",
                "model": "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B",
                "revision": PIN_A,
                "instanceType": "Standard_NC48ads_A100_v4",
                "traffic": 10,
            },
        ],
    )
    found = environments(result)
    stable = result.outputs["servedModelName"]
    assert stable == "deepseek-r1-distill-llama-8b"
    assert found["blue"]["SERVE_SERVED_MODEL_NAMES"] == f"{stable} {R1_8B}"
    assert found["green"]["SERVE_SERVED_MODEL_NAMES"] == (
        f"{stable} deepseek-ai/DeepSeek-R1-Distill-Qwen-14B"
    )
    # The larger model spans both GPUs of its size.
    assert found["green"]["SERVE_TENSOR_PARALLEL_SIZE"] == "2"


def test_staged_weights_are_mounted_and_no_deployment_gets_a_token(run: RunProgram) -> None:
    result = run(
        "prod",
        deployments=[
            {"name": "blue", "model": R1_8B, "traffic": 100},
            {"name": "green", "model": R1_8B, "traffic": 0},
        ],
    )
    (weights,) = result.of_type(WEIGHTS)  # blue and green share one staged copy
    version_id = weights.inputs["model_version_id"]
    assert version_id.endswith(
        "/models/deepseek-ai--DeepSeek-R1-Distill-Llama-8B/versions/74fbf131a939"
    )
    for deployment in result.of_type(DEPLOYMENT):
        assert deployment.input("properties.model") == version_id
        assert deployment.input("properties.modelMountPath") == "/models"
        environment = deployment.input("properties.environmentVariables")
        assert environment["SERVE_MODEL_DIR"] == "/models"
        assert "HF_TOKEN" not in environment
        assert weights.urn in deployment.dependencies


def test_the_hugging_face_source_downloads_the_pinned_revision(run: RunProgram) -> None:
    result = run("dev", weightsSource="huggingface")
    assert result.of_type(WEIGHTS) == []
    (deployment,) = result.of_type(DEPLOYMENT)
    assert deployment.input("properties.model") is None
    environment = deployment.input("properties.environmentVariables")
    assert environment["SERVE_REVISION"] == "74fbf131a939963dd1e244389bb61ad0d0440a4d"
    assert "SERVE_MODEL_DIR" not in environment

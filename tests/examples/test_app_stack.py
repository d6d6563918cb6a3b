"""examples/app_stack under Pulumi's mocks, fed the outputs of the stacks' offline runs: the app reads
the outputs this project exports, so renaming one breaks this test rather than a user's app."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest

from lib.pulumi_api import reset_root_stack, run_program_function
from tests.conftest import RunProgram

APP = Path(__file__).parents[2] / "examples" / "app_stack" / "__main__.py"


class AppMocks(pulumi.runtime.Mocks):
    def __init__(self, serving_outputs: dict[str, Any], secret_names: list[str]):
        self.serving_outputs = serving_outputs
        self.secret_names = secret_names
        self.resources: dict[str, dict[str, Any]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if args.typ == "pulumi:pulumi:StackReference":
            return args.name, {
                "name": args.name,
                "outputs": self.serving_outputs,
                "secretOutputNames": self.secret_names,
            }
        self.resources[args.name] = args.inputs
        return f"{args.name}-id", {**args.inputs, "name": args.name}

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


def run_app(outputs: dict[str, Any], secrets: list[str]) -> AppMocks:
    mocks = AppMocks(outputs, secrets)
    reset_root_stack()
    pulumi.runtime.set_mocks(mocks, project="vllm-azureml-app", stack="dev", preview=False)
    pulumi.runtime.set_all_config(
        {
            "vllm-azureml-app:servingStack": "acme/vllm-azureml/dev",
            "vllm-azureml-app:resourceGroupName": "rg-app",
            "vllm-azureml-app:managedEnvironmentId": "/subscriptions/x/resourceGroups/rg-app/providers/Microsoft.App/managedEnvironments/env",
            "vllm-azureml-app:image": "registry.example/app@sha256:" + "0" * 64,
        }
    )
    run_program_function(lambda: runpy.run_path(str(APP)))
    return mocks


SECRET_SIGNATURE = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIGNATURE[0]) == SECRET_SIGNATURE[1]


def environment(mocks: AppMocks) -> dict[str, dict[str, Any]]:
    template = mocks.resources["app"]["template"]
    assert not is_secret(template), "the container's environment must stay readable"
    (container,) = template["containers"]
    return {variable["name"]: variable for variable in container["env"]}


def test_key_mode_passes_the_key_as_a_container_app_secret(run: RunProgram) -> None:
    serving = run("dev")
    mocks = run_app(serving.outputs, sorted(serving.secret_outputs))
    env = environment(mocks)
    assert env["VLLM_AZUREML_BASE_URL"]["value"] == serving.outputs["openaiBaseUrl"]
    # The stable name every deployment answers to (docs/models.md), not one deployment's model id.
    assert env["VLLM_AZUREML_MODEL"]["value"] == serving.outputs["servedModelName"]
    assert env["VLLM_AZUREML_API_KEY"] == {
        "name": "VLLM_AZUREML_API_KEY",
        "secretRef": "endpoint-key",
    }
    configuration = mocks.resources["app"]["configuration"]
    assert is_secret(configuration), "the key reaches the app stack only as a secret"
    (secret,) = configuration["value"]["secrets"]
    assert secret["name"] == "endpoint-key"


def test_aad_mode_has_no_key_and_no_secret(run: RunProgram) -> None:
    serving = run("prod")
    assert "primaryKey" not in serving.outputs
    mocks = run_app(serving.outputs, sorted(serving.secret_outputs))
    assert "VLLM_AZUREML_API_KEY" not in environment(mocks)
    assert environment(mocks)["VLLM_AZUREML_AUTH_MODE"]["value"] == "AADToken"
    configuration = mocks.resources["app"]["configuration"]
    assert not configuration.get("secrets")


def test_the_app_fails_when_a_required_output_is_gone(run: RunProgram) -> None:
    serving = run("dev")
    outputs = {name: value for name, value in serving.outputs.items() if name != "openaiBaseUrl"}
    with pytest.raises(Exception, match="openaiBaseUrl"):
        run_app(outputs, sorted(serving.secret_outputs))

"""The smoke test against the loopback vLLM-behind-AzureML server, and the outputs it relies on."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clients import smoke
from clients.outputs import ENV_API_KEY, ENV_BASE_URL, ENV_MODEL, ROOT, endpoint_from_outputs
from lib.pulumi_api import reset_root_stack
from tests.conftest import RunProgram
from tests.support.fake_vllm import (
    DEFAULT_MODEL,
    FakeCredential,
    FakeVllm,
    _pieces,
    install_fake_pulumi,
    stack_outputs,
)

# What apps and the tools read from a stack (README, "Stack outputs").
CONTRACT = {
    "region",
    "resourceGroupName",
    "workspaceName",
    "endpointName",
    "scoringUri",
    "openaiBaseUrl",
    "authMode",
    "deployments",
    "imageReference",
}


# Every test here runs with no real pulumi CLI and no endpoint variables from the shell.
pytestmark = pytest.mark.usefixtures("isolated_environment")


@pytest.fixture
def fake() -> Iterator[FakeVllm]:
    with FakeVllm() as server:
        yield server


def run_smoke(*argv: str, credential: FakeCredential | None = None) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = smoke.main(list(argv), stdout=stdout, stderr=stderr, credential=credential)
    return code, stdout.getvalue(), stderr.getvalue()


def with_stack(fake: FakeVllm, bin_dir: Path, **overrides: object) -> None:
    install_fake_pulumi(bin_dir, stack_outputs(fake, **overrides))


def test_passes_and_reports_latency_and_throughput(
    fake: FakeVllm, isolated_environment: Path
) -> None:
    with_stack(fake, isolated_environment)
    code, out, _ = run_smoke("--stack", "prod")
    assert code == 0, out
    assert f"ok   GET /v1/models lists {DEFAULT_MODEL}" in out
    assert "ok   POST /v1/chat/completions: 200, answer '42'" in out
    completion_tokens = len(_pieces(fake.reasoning)) + len(_pieces(fake.content))
    assert f"{completion_tokens} completion tokens" in out  # from vLLM's usage chunk
    assert "time to first token" in out
    assert "tokens/s overall" in out
    assert out.rstrip().endswith("smoke: passed")
    (request,) = fake.chat_requests()
    assert request.body["model"] == DEFAULT_MODEL
    assert request.body["stream_options"] == {"include_usage": True}


def test_fails_when_vllm_serves_another_model(fake: FakeVllm, isolated_environment: Path) -> None:
    with_stack(fake, isolated_environment)
    fake.model = "meta-llama/Llama-3.1-8B-Instruct"
    code, out, _ = run_smoke("--stack", "prod")
    assert code == 1
    assert f"lists meta-llama/Llama-3.1-8B-Instruct, not the configured {DEFAULT_MODEL}" in out
    # The completion then asks for the configured name, and vLLM's 404 is explained.
    assert "vLLM answered 404" in out
    assert out.rstrip().endswith("smoke: FAILED")


def test_fails_when_all_tokens_go_to_reasoning(fake: FakeVllm, isolated_environment: Path) -> None:
    with_stack(fake, isolated_environment)
    code, out, _ = run_smoke("--stack", "prod", "--max-tokens", "3")
    assert code == 1
    assert "answered 200 without content" in out
    assert "raise --max-tokens" in out


@pytest.mark.parametrize(
    ("status", "script", "phrase"),
    [
        (401, {}, "refused the key"),
        (403, {}, "refused the key"),
        (404, {}, "no deployment takes traffic"),
        (408, {}, "request timeout"),
        (424, {"reason": "model_not_ready"}, "not ready"),
        (429, {"reason": "too_many_pending_request"}, "too many requests in flight"),
    ],
)
def test_each_failure_fails_the_smoke_test_with_an_explanation(
    fake: FakeVllm,
    isolated_environment: Path,
    status: int,
    script: dict[str, Any],
    phrase: str,
) -> None:
    with_stack(fake, isolated_environment)
    fake.fail_next(status, times=2, **script)
    code, out, err = run_smoke("--stack", "prod")
    assert code == 1
    assert out.count("  FAIL ") == 2  # the model list and the completion
    assert f"HTTP {status}" in out
    assert phrase in out
    assert "Traceback" not in out + err


def test_endpoint_without_traffic_fails(fake: FakeVllm, isolated_environment: Path) -> None:
    fake.deployments = {"blue": 0}
    with_stack(fake, isolated_environment)
    code, out, _ = run_smoke("--stack", "prod")
    assert code == 1
    assert "no deployment takes traffic" in out


def test_stream_cut_short_fails(fake: FakeVllm, isolated_environment: Path) -> None:
    with_stack(fake, isolated_environment)
    fake.cut_stream_after = 3
    code, out, _ = run_smoke("--stack", "prod")
    assert code == 1
    assert "the stream ended early" in out


def test_deployment_option_checks_one_deployment_through_its_header(
    fake: FakeVllm, isolated_environment: Path
) -> None:
    fake.deployments = {"blue": 100, "green": 0}
    with_stack(fake, isolated_environment)
    code, out, _ = run_smoke("--stack", "prod", "--deployment", "green")
    assert code == 0, out
    assert "deployment green (azureml-model-deployment header, traffic 0%)" in out
    assert {r.headers.get("azureml-model-deployment") for r in fake.requests} == {"green"}
    assert {r.deployment for r in fake.requests} == {"green"}


def test_all_deployments_checks_each_deployment(fake: FakeVllm, isolated_environment: Path) -> None:
    fake.deployments = {"blue": 100, "green": 0}
    with_stack(fake, isolated_environment)
    code, out, _ = run_smoke("--stack", "prod", "--all-deployments")
    assert code == 0, out
    assert {r.deployment for r in fake.chat_requests()} == {"blue", "green"}
    assert len(fake.requests) == 4  # models + completion, per deployment


def test_aadtoken_stack_uses_an_entra_token(fake: FakeVllm, isolated_environment: Path) -> None:
    fake.auth_mode = "AADToken"
    with_stack(fake, isolated_environment)
    credential = FakeCredential(token=fake.aad_token)
    code, out, _ = run_smoke("--stack", "prod", credential=credential)
    assert code == 0, out
    assert "auth AADToken" in out
    assert {r.headers["authorization"] for r in fake.requests} == {f"Bearer {fake.aad_token}"}


def test_environment_variables_without_a_model_still_check_the_list(
    fake: FakeVllm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_BASE_URL, fake.base_url)
    monkeypatch.setenv(ENV_API_KEY, fake.api_key)
    code, out, _ = run_smoke()
    assert code == 0, out
    assert "no configured model to compare" in out
    monkeypatch.setenv(ENV_MODEL, "some/other-model")
    code, out, _ = run_smoke()
    assert code == 1
    assert "not the configured some/other-model" in out


def test_no_endpoint_is_a_configuration_error() -> None:
    code, _, err = run_smoke("--stack", "prod")
    assert code == 2
    assert ENV_BASE_URL in err
    assert "pulumi" in err


def test_make_smoke_command_line(
    fake: FakeVllm, isolated_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `make smoke STACK=prod` runs, as a process, with a `pulumi` on PATH."""
    monkeypatch.setenv("PATH", f"{isolated_environment}{os.pathsep}{os.defpath}")
    with_stack(fake, isolated_environment)

    def command() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "clients.smoke", "--stack", "prod"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    passed = command()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    fake.fail_next(429, times=2, reason="too_many_pending_request")
    failed = command()
    assert failed.returncode == 1
    assert "Traceback" not in failed.stdout + failed.stderr


# --- the outputs contract, under mocks ----------------------------------------------------------


def test_stack_exports_what_apps_and_tools_read(stack: str, run: RunProgram) -> None:
    """Every committed stack exports the contract, the key only as a secret, and the tools can
    read the result."""
    # pulumi.runtime.set_mocks makes a new root stack only when none is set, so without this an
    # earlier test's exports would be read as this stack's.
    reset_root_stack()
    stack_run = run(stack)
    outputs = stack_run.outputs
    assert set(outputs) >= CONTRACT
    assert outputs["openaiBaseUrl"] == (
        f"https://{outputs['endpointName']}.{outputs['region']}.inference.ml.azure.com/v1"
    )
    assert outputs["authMode"] in ("Key", "AADToken")
    if outputs["authMode"] == "Key":
        assert "primaryKey" in stack_run.secret_outputs
    else:
        assert "primaryKey" not in outputs
    deployments = outputs["deployments"]
    assert sum(d["traffic"] for d in deployments.values()) == 100
    endpoint = endpoint_from_outputs(outputs, f"stack '{stack}'", stack)
    assert endpoint.configured_models(None)

"""The chat client against a loopback server that answers like vLLM behind AzureML."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.identity import CredentialUnavailableError

from clients import chat
from clients.inference import AAD_SCOPE, ChatOptions, InferenceClient
from clients.outputs import ENV_API_KEY, ENV_BASE_URL, ROOT, Endpoint
from tests.support.fake_vllm import (
    DEFAULT_MODEL,
    FakeCredential,
    FakeVllm,
    install_fake_pulumi,
    pulumi_calls,
    stack_outputs,
    vllm_error,
)

REASONING = "The user asks for 17 + 25. 17 + 25 = 42."


# Every test here runs with no real pulumi CLI and no endpoint variables from the shell.
pytestmark = pytest.mark.usefixtures("isolated_environment")


@pytest.fixture
def fake() -> Iterator[FakeVllm]:
    with FakeVllm() as server:
        yield server


class Run:
    def __init__(self, code: int, stdout: str, stderr: str):
        self.code, self.stdout, self.stderr = code, stdout, stderr


def run_chat(*argv: str, credential: Any = None, stdin: str = "") -> Run:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = chat.main(
        list(argv), stdout=stdout, stderr=stderr, stdin=io.StringIO(stdin), credential=credential
    )
    return Run(code, stdout.getvalue(), stderr.getvalue())


def direct(fake: FakeVllm, *argv: str) -> tuple[str, ...]:
    return ("--base-url", fake.base_url, "--api-key", fake.api_key, *argv)


# --- streaming, reasoning apart from the answer -------------------------------------------------


def test_streams_answer_to_stdout_and_reasoning_to_stderr_labelled(fake: FakeVllm) -> None:
    result = run_chat(*direct(fake, "What is 17 + 25?"))
    assert result.code == 0, result.stderr
    assert result.stdout == "42\n"
    assert "17 + 25 = 42." not in result.stdout
    reasoning_at = result.stderr.index("Reasoning:")
    assert result.stderr.index(REASONING) > reasoning_at
    assert result.stderr.index("Answer:") > result.stderr.index(REASONING)
    # vLLM's usage chunk is read: the stats line carries its token counts.
    assert "completion tokens" in result.stderr


def test_request_follows_deepseek_advice_and_asks_for_usage(fake: FakeVllm) -> None:
    run_chat(*direct(fake, "--model", DEFAULT_MODEL, "Why is the sky blue?"))
    (request,) = fake.chat_requests()
    assert request.body["messages"] == [{"role": "user", "content": "Why is the sky blue?"}]
    assert request.body["temperature"] == 0.6
    assert request.body["top_p"] == 0.95
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.body["max_tokens"] == 4096
    assert request.body["model"] == DEFAULT_MODEL


def test_options_reach_the_request(fake: FakeVllm) -> None:
    run_chat(
        *direct(fake, "--max-tokens", "300", "--temperature", "0.2", "--system", "Be brief.", "q")
    )
    (request,) = fake.chat_requests()
    assert request.body["max_tokens"] == 300
    assert request.body["temperature"] == 0.2
    assert request.body["messages"][0] == {"role": "system", "content": "Be brief."}


def test_legacy_reasoning_content_field_is_shown_apart(fake: FakeVllm) -> None:
    fake.reasoning_field = "reasoning_content"
    result = run_chat(*direct(fake, "q"))
    assert result.code == 0
    assert result.stdout == "42\n"
    assert REASONING in result.stderr


def test_hide_reasoning_prints_only_the_answer(fake: FakeVllm) -> None:
    result = run_chat(*direct(fake, "--hide-reasoning", "q"))
    assert result.code == 0
    assert result.stdout == "42\n"
    assert "17 + 25" not in result.stderr
    assert "Reasoning:" not in result.stderr


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_non_streaming_answer_keeps_reasoning_apart(fake: FakeVllm, field: str) -> None:
    fake.reasoning_field = field
    result = run_chat(*direct(fake, "--no-stream", "q"))
    assert result.code == 0, result.stderr
    assert result.stdout == "42\n"
    assert REASONING in result.stderr
    (request,) = fake.chat_requests()
    assert request.body["stream"] is False
    assert "stream_options" not in request.body


def test_question_can_come_from_stdin(fake: FakeVllm) -> None:
    result = run_chat(*direct(fake, "-"), stdin="a question from a file\n")
    assert result.code == 0
    (request,) = fake.chat_requests()
    assert request.body["messages"][-1]["content"] == "a question from a file\n"


def test_deltas_arrive_as_they_are_generated_not_buffered(fake: FakeVllm) -> None:
    fake.token_delay = 0.05
    endpoint = Endpoint(base_url=fake.base_url, auth_mode="Key", source="test", api_key="test-key")
    arrivals: list[float] = []
    result = InferenceClient(endpoint).chat(
        [{"role": "user", "content": "q"}],
        ChatOptions(),
        on_reasoning=lambda _: arrivals.append(time.monotonic()),
        on_content=lambda _: arrivals.append(time.monotonic()),
    )
    assert result.content == "42"
    assert result.time_to_first_token is not None
    assert result.time_to_first_token < result.total_seconds / 2
    assert arrivals[-1] - arrivals[0] > 0.3  # spread over the generation, not all at the end


def test_answer_cut_by_max_tokens_warns(fake: FakeVllm) -> None:
    result = run_chat(*direct(fake, "--max-tokens", "5", "q"))
    assert result.code == 0
    assert "finish_reason length" in result.stderr
    assert "before any answer" in result.stderr
    assert "raise --max-tokens" in result.stderr


# --- headers: auth and deployment ----------------------------------------------------------------


def test_key_is_sent_as_bearer_and_no_deployment_header_by_default(fake: FakeVllm) -> None:
    assert run_chat(*direct(fake, "q")).code == 0
    (request,) = fake.chat_requests()
    assert request.headers["authorization"] == "Bearer test-key"
    assert "azureml-model-deployment" not in request.headers
    assert request.deployment == "blue"  # routed by traffic


def test_deployment_option_sends_the_header_to_a_deployment_without_traffic(
    fake: FakeVllm,
) -> None:
    fake.deployments = {"blue": 100, "green": 0}
    result = run_chat(*direct(fake, "--deployment", "green", "q"))
    assert result.code == 0, result.stderr
    (request,) = fake.chat_requests()
    assert request.headers["azureml-model-deployment"] == "green"
    assert request.deployment == "green"


def test_unknown_deployment_is_explained(fake: FakeVllm) -> None:
    result = run_chat(*direct(fake, "--deployment", "grene", "q"))
    assert result.code == 1
    assert "no deployment named 'grene'" in result.stderr
    assert "Traceback" not in result.stderr


def test_aad_option_sends_an_entra_token_for_azureml(fake: FakeVllm) -> None:
    fake.auth_mode = "AADToken"
    credential = FakeCredential(token=fake.aad_token)
    result = run_chat("--base-url", fake.base_url, "--aad", "q", credential=credential)
    assert result.code == 0, result.stderr
    assert credential.scopes == [(AAD_SCOPE,)]
    assert AAD_SCOPE == "https://ml.azure.com/.default"
    (request,) = fake.chat_requests()
    assert request.headers["authorization"] == f"Bearer {fake.aad_token}"


def test_aadtoken_auth_mode_in_outputs_implies_aad(
    fake: FakeVllm, isolated_environment: Path
) -> None:
    fake.auth_mode = "AADToken"
    install_fake_pulumi(isolated_environment, stack_outputs(fake))
    credential = FakeCredential(token=fake.aad_token)
    result = run_chat("--stack", "prod", "q", credential=credential)
    assert result.code == 0, result.stderr
    assert credential.scopes == [(AAD_SCOPE,)]


def test_credential_failure_is_explained(fake: FakeVllm) -> None:
    failing = FakeCredential(error=CredentialUnavailableError("Please run 'az login'."))
    result = run_chat("--base-url", fake.base_url, "--aad", "q", credential=failing)
    assert result.code == 1
    assert "could not get an Entra ID token" in result.stderr
    assert "az login" in result.stderr
    assert fake.chat_requests() == []


# --- each failure, explained for AzureML --------------------------------------------------------

FAILURES = [
    pytest.param("Key", 401, {}, ["refused the key", "regenerate-keys", "--aad"], id="401-key"),
    pytest.param(
        "AADToken",
        401,
        {},
        ["AzureML Data Scientist", "onlineEndpoints/score/action", "drop --aad"],
        id="401-aad",
    ),
    pytest.param("AADToken", 403, {}, ["AzureML Data Scientist", "several minutes"], id="403-aad"),
    pytest.param("Key", 404, {}, ["no deployment takes traffic", "--deployment NAME"], id="404"),
    pytest.param("Key", 408, {}, ["request timeout", "180 s", "lower --max-tokens"], id="408"),
    pytest.param(
        "Key",
        424,
        {"reason": "model_not_ready"},
        ["not ready", "az ml online-deployment get-logs", "readiness probe"],
        id="424-not-ready",
    ),
    pytest.param(
        "Key",
        424,
        {"model_status": 400},
        ["vLLM answered 400", "maxModelLen", "scripted vLLM failure"],
        id="424-vllm-400",
    ),
    pytest.param(
        "Key",
        429,
        {"reason": "too_many_pending_request"},
        ["too many requests in flight: AzureML admits at most 2 x", "backoff", "scale out"],
        id="429-concurrency",
    ),
    pytest.param("Key", 429, {}, ["request-rate limit", "backoff"], id="429-rate"),
    pytest.param("Key", 500, {}, ["infrastructure", "retry"], id="500"),
]


@pytest.mark.parametrize(("auth_mode", "status", "script", "phrases"), FAILURES)
def test_failure_exits_non_zero_with_what_it_means_on_azureml(
    fake: FakeVllm, auth_mode: str, status: int, script: dict[str, Any], phrases: list[str]
) -> None:
    fake.auth_mode = auth_mode
    fake.fail_next(status, **script)
    argv = ["--base-url", fake.base_url]
    argv += ["--aad"] if auth_mode == "AADToken" else ["--api-key", fake.api_key]
    result = run_chat(*argv, "q", credential=FakeCredential(token=fake.aad_token))
    assert result.code == 1
    assert result.stdout == ""
    assert f"HTTP {status}" in result.stderr
    for phrase in phrases:
        assert phrase in result.stderr
    assert "fake-request-id" in result.stderr  # x-request-id, for a support ticket
    assert "Traceback" not in result.stderr


def test_real_wrong_key_is_rejected_and_the_key_is_not_printed(fake: FakeVllm) -> None:
    result = run_chat("--base-url", fake.base_url, "--api-key", "sk-stale-key-123", "q")
    assert result.code == 1
    assert "HTTP 401" in result.stderr
    assert "sk-stale-key-123" not in result.stderr + result.stdout


def test_endpoint_repr_does_not_show_the_key() -> None:
    endpoint = Endpoint(base_url="https://x/v1", auth_mode="Key", source="t", api_key="sk-secret")
    assert "sk-secret" not in repr(endpoint)


def test_wrong_model_name_is_explained_as_vllm_404(fake: FakeVllm) -> None:
    result = run_chat(*direct(fake, "--model", "deepseek-ai/DeepSeek-R1", "q"))
    assert result.code == 1
    assert "vLLM answered 404" in result.stderr
    assert "does not serve the model 'deepseek-ai/DeepSeek-R1'" in result.stderr
    assert "does not exist" in result.stderr  # vLLM's own message


def test_429_message_quotes_the_configured_in_flight_limit(
    fake: FakeVllm, isolated_environment: Path
) -> None:
    outputs = stack_outputs(fake)
    outputs["deployments"]["blue"].update(instanceCount=2, maxConcurrentRequestsPerInstance=16)
    install_fake_pulumi(isolated_environment, outputs)
    fake.fail_next(429, reason="too_many_pending_request")
    result = run_chat("--stack", "prod", "q")
    assert result.code == 1
    assert "blue: 2 x 16 x 2 = 64" in result.stderr


def test_424_names_the_logs_command_for_this_stack(
    fake: FakeVllm, isolated_environment: Path
) -> None:
    install_fake_pulumi(isolated_environment, stack_outputs(fake))
    fake.fail_next(424, reason="model_not_ready")
    result = run_chat("--stack", "prod", "q")
    assert result.code == 1
    assert (
        "az ml online-deployment get-logs -e vllm-prod-a1b2c3 -n blue -g rg-vllm-prod "
        "-w mlw-vllm-prod --lines 200"
    ) in result.stderr


def test_connection_refused_is_explained() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_chat("--base-url", f"http://127.0.0.1:{port}/v1", "--api-key", "k", "q")
    assert result.code == 1
    assert "could not connect" in result.stderr
    assert "publicNetworkAccess" in result.stderr
    assert "Traceback" not in result.stderr


def test_stream_cut_short_is_explained_as_the_request_timeout(fake: FakeVllm) -> None:
    fake.cut_stream_after = 4
    result = run_chat(*direct(fake, "q"))
    assert result.code == 1
    assert "the stream ended early" in result.stderr
    assert "requestTimeoutSeconds" in result.stderr
    assert "The user asks" in result.stderr  # what arrived was shown


def test_stream_without_done_is_incomplete(fake: FakeVllm) -> None:
    fake.send_done = False
    result = run_chat(*direct(fake, "q"))
    assert result.code == 1
    assert "no [DONE]" in result.stderr


def test_vllm_error_inside_the_stream_fails(fake: FakeVllm) -> None:
    fake.stream_error = vllm_error(500, "CUDA out of memory")
    result = run_chat(*direct(fake, "q"))
    assert result.code == 1
    assert "CUDA out of memory" in result.stderr


# --- where the endpoint comes from --------------------------------------------------------------


def test_reads_the_stack_outputs_with_the_pulumi_cli(
    fake: FakeVllm, isolated_environment: Path
) -> None:
    log = install_fake_pulumi(isolated_environment, stack_outputs(fake))
    result = run_chat("--stack", "prod", "q")
    assert result.code == 0, result.stderr
    (call,) = pulumi_calls(log)
    assert call["argv"] == ["stack", "output", "--json", "--show-secrets", "--stack", "prod"]
    assert Path(call["cwd"]) == ROOT  # where Pulumi.yaml is
    (request,) = fake.chat_requests()
    assert request.headers["authorization"] == "Bearer test-key"
    assert request.body["model"] == DEFAULT_MODEL  # the deployment's model from the outputs


def test_pulumi_failure_is_reported(fake: FakeVllm, isolated_environment: Path) -> None:
    install_fake_pulumi(
        isolated_environment, {}, exit_code=255, stderr="error: no stack named 'prod' found"
    )
    result = run_chat("--stack", "prod", "q")
    assert result.code == 2
    assert "no stack named 'prod' found" in result.stderr
    assert "pulumi login" in result.stderr


def test_stack_without_outputs_says_so(fake: FakeVllm, isolated_environment: Path) -> None:
    install_fake_pulumi(isolated_environment, {})
    result = run_chat("--stack", "prod", "q")
    assert result.code == 2
    assert "no openaiBaseUrl output" in result.stderr
    assert "pulumi up" in result.stderr


def test_key_mode_without_primary_key_is_a_config_error(
    fake: FakeVllm, isolated_environment: Path
) -> None:
    outputs = stack_outputs(fake)
    del outputs["primaryKey"]
    install_fake_pulumi(isolated_environment, outputs)
    result = run_chat("--stack", "prod", "q")
    assert result.code == 2
    assert "no primaryKey output" in result.stderr


def test_scoring_uri_instead_of_base_url_is_rejected(
    fake: FakeVllm, isolated_environment: Path
) -> None:
    install_fake_pulumi(
        isolated_environment, stack_outputs(fake, openaiBaseUrl=fake.base_url[:-3] + "/score")
    )
    result = run_chat("--stack", "prod", "q")
    assert result.code == 2
    assert "ending in /v1" in result.stderr


def test_without_cli_or_variables_both_ways_are_named() -> None:
    result = run_chat("--stack", "prod", "q")
    assert result.code == 2
    assert "pulumi CLI is not on PATH" in result.stderr
    assert ENV_BASE_URL in result.stderr
    assert ENV_API_KEY in result.stderr
    assert "Traceback" not in result.stderr


def test_environment_variables_when_there_is_no_cli(
    fake: FakeVllm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_BASE_URL, fake.base_url)
    monkeypatch.setenv(ENV_API_KEY, fake.api_key)
    result = run_chat("q")
    assert result.code == 0, result.stderr
    assert fake.chat_requests()[0].headers["authorization"] == "Bearer test-key"


def test_stack_without_cli_falls_back_to_variables_and_says_so(
    fake: FakeVllm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_BASE_URL, fake.base_url)
    monkeypatch.setenv(ENV_API_KEY, fake.api_key)
    result = run_chat("--stack", "prod", "q")
    assert result.code == 0
    assert "pulumi CLI is not on PATH" in result.stderr


def test_explicit_stack_beats_a_stale_variable(
    fake: FakeVllm, monkeypatch: pytest.MonkeyPatch, isolated_environment: Path
) -> None:
    monkeypatch.setenv(ENV_BASE_URL, "http://127.0.0.1:9/v1")  # nothing listens on port 9
    monkeypatch.setenv(ENV_API_KEY, "stale")
    install_fake_pulumi(isolated_environment, stack_outputs(fake))
    result = run_chat("--stack", "prod", "q")
    assert result.code == 0, result.stderr


def test_variable_without_key_asks_for_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_BASE_URL, "https://e.eastus2.inference.ml.azure.com/v1")
    result = run_chat("q")
    assert result.code == 2
    assert ENV_API_KEY in result.stderr
    assert "--aad" in result.stderr


# --- as a command ------------------------------------------------------------------------------


def _command(args: list[str], bin_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [sys.executable, "-m", "clients.chat", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_command_line_answers_and_fails_cleanly(
    fake: FakeVllm, isolated_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", os.defpath)
    install_fake_pulumi(isolated_environment, stack_outputs(fake))
    answered = _command(["--stack", "prod", "What is 17 + 25?"], isolated_environment)
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout == "42\n"
    fake.fail_next(424, reason="model_not_ready")
    failed = _command(["--stack", "prod", "q"], isolated_environment)
    assert failed.returncode == 1
    assert "HTTP 424" in failed.stderr
    assert "Traceback" not in failed.stderr

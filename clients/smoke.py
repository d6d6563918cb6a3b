"""Smoke test for after ``pulumi up``: does the endpoint serve the configured model, and answer?

    python -m clients.smoke --stack prod                     # what apps hit: the traffic split
    python -m clients.smoke --stack prod --deployment green  # one deployment, before it gets traffic
    python -m clients.smoke --stack prod --all-deployments   # every deployment the stack declares

For each target it checks that ``GET /v1/models`` lists the model the stack configures, and that
one short streamed chat completion answers 200 with content; it reports time to first token, total
latency and tokens per second (from vLLM's usage). Exit status: 0 every check passed, 1 a check
failed (the message says what the status means on AzureML and what to do), 2 the endpoint or its
credentials could not be determined.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from clients.chat import add_endpoint_arguments
from clients.cli import run_tool
from clients.inference import (
    ChatOptions,
    ChatResult,
    EndpointError,
    InferenceClient,
    TokenCredential,
)
from clients.outputs import Endpoint, endpoint_from_arguments
from lib.redact import Redactor

# Short, with one right answer, and cheap: an R1 distill reasons a few dozen to a few hundred
# tokens on it. The instruction is in the user turn (DeepSeek: no system prompt).
DEFAULT_PROMPT = "What is 17 + 25? Reply with the number only."
DEFAULT_MAX_TOKENS = 1024


@dataclass
class Check:
    """One line of the report."""

    passed: bool
    text: str
    details: list[str] = field(default_factory=list)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m clients.smoke",
        description="Check the deployed endpoint: /v1/models lists the configured model and one "
        "chat completion answers.",
    )
    add_endpoint_arguments(parser)
    parser.add_argument(
        "--all-deployments",
        action="store_true",
        help="check every deployment in the stack's outputs, each through its header",
    )
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="question to ask")
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=DEFAULT_MAX_TOKENS,
        help="room for reasoning and answer (default %(default)s)",
    )
    return parser


def check_models(client: InferenceClient, expected: list[str]) -> tuple[Check, str | None]:
    """GET /v1/models lists the configured model; returns the model id to request next."""
    try:
        served = client.list_models()
    except EndpointError as error:
        return Check(False, "GET /v1/models failed", str(error).splitlines()), None
    listed = ", ".join(served) or "nothing"
    if not served:
        return Check(False, "GET /v1/models lists no model"), None
    if not expected:
        return Check(
            True, f"GET /v1/models lists {listed} (no configured model to compare)"
        ), served[0]
    matching = [model for model in expected if model in served]
    if not matching:
        return (
            Check(
                False,
                f"GET /v1/models lists {listed}, not the configured {' or '.join(expected)}",
                [
                    "vLLM serves a model under the name it was started with (or "
                    "--served-model-name); apps must send that name as `model`"
                ],
            ),
            None,
        )
    return Check(True, f"GET /v1/models lists {matching[0]}"), matching[0]


def check_chat(client: InferenceClient, model: str | None, prompt: str, max_tokens: int) -> Check:
    """One short streamed completion: 200, content, latency and throughput."""
    options = ChatOptions(max_tokens=max_tokens)
    try:
        result = client.chat([{"role": "user", "content": prompt}], options, model=model)
    except EndpointError as error:
        return Check(False, "POST /v1/chat/completions failed", str(error).splitlines())
    metrics = _metrics(result)
    if not result.content.strip():
        why = (
            f"all {max_tokens} tokens went to reasoning (finish_reason length): raise --max-tokens"
            if result.finish_reason == "length"
            else f"finish_reason {result.finish_reason}; reasoning {len(result.reasoning)} chars"
        )
        return Check(
            False, "POST /v1/chat/completions answered 200 without content", [why, metrics]
        )
    answer = " ".join(result.content.split())
    shown = answer if len(answer) <= 60 else answer[:57] + "..."
    details = [metrics]
    if result.usage is None:
        details.append("no usage chunk: tokens per second unknown (stream_options.include_usage)")
    return Check(True, f"POST /v1/chat/completions: 200, answer {shown!r}", details)


def _metrics(result: ChatResult) -> str:
    parts = []
    if result.time_to_first_token is not None:
        parts.append(f"time to first token {result.time_to_first_token:.2f} s")
    parts.append(f"total {result.total_seconds:.2f} s")
    if result.completion_tokens is not None:
        prompt_tokens = (result.usage or {}).get("prompt_tokens", "?")
        parts.append(f"{prompt_tokens} prompt + {result.completion_tokens} completion tokens")
    if result.tokens_per_second is not None:
        parts.append(f"{result.tokens_per_second:.1f} tokens/s overall")
    if result.decode_tokens_per_second is not None:
        parts.append(f"{result.decode_tokens_per_second:.1f} tokens/s after the first")
    return ", ".join(parts)


def _targets(endpoint: Endpoint, deployment: str | None, every: bool) -> list[str | None]:
    if deployment:
        return [deployment]
    if every:
        return list(endpoint.deployments) or [None]
    return [None]


def main(
    argv: Sequence[str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    credential: TokenCredential | None = None,
) -> int:
    """Run the smoke test; ``credential`` replaces DefaultAzureCredential (tests pass a fake)."""
    args = _parser().parse_args(argv)
    return run_tool(
        lambda out, err, redactor: _smoke(args, out, err, credential, redactor),
        args,
        stdout,
        stderr,
        "smoke: ",
    )


def _smoke(
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    credential: TokenCredential | None,
    redactor: Redactor,
) -> int:
    endpoint = endpoint_from_arguments(args, err, "smoke: ", on_secret=redactor.add)
    if endpoint is None:
        return 2
    out.write(f"smoke: {endpoint.base_url} ({endpoint.source}, auth {endpoint.auth_mode})\n")
    passed = True
    for target in _targets(endpoint, args.deployment, args.all_deployments):
        if target:
            info = endpoint.deployments.get(target)
            share = f", traffic {info.traffic}%" if info else ", not in the stack's outputs"
            out.write(f"deployment {target} (azureml-model-deployment header{share}):\n")
        else:
            live = ", ".join(f"{d.name} {d.traffic}%" for d in endpoint.live_deployments())
            out.write(f"traffic split{f' ({live})' if live else ''}:\n")
        client = InferenceClient(
            endpoint,
            deployment=target,
            credential=credential,
            timeout=args.timeout,
            redactor=redactor,
        )
        models_check, model = check_models(client, endpoint.configured_models(target))
        checks = [models_check]
        # A failed model list usually fails the completion the same way; still try it, since
        # the completion's error carries its own explanation (a wrong name shows up as 424).
        expected = endpoint.configured_models(target)
        chosen = model or (expected[0] if len(expected) == 1 else None)
        checks.append(check_chat(client, chosen, args.prompt, args.max_tokens))
        # One Entra ID sign-in for every target.
        credential = client.credential
        for check in checks:
            passed = passed and check.passed
            out.write(f"  {'ok  ' if check.passed else 'FAIL'} {check.text}\n")
            for line in check.details:
                out.write(f"       {line}\n")
    out.write(f"smoke: {'passed' if passed else 'FAILED'}\n")
    out.flush()
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

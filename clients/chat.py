"""Ask the deployed model a question, with its reasoning shown apart from the answer.

    python -m clients.chat --stack prod "How many r's are in strawberry?"
    python -m clients.chat --stack prod --deployment green "..."   # try green before it gets traffic
    echo "question" | python -m clients.chat --stack prod -        # question from stdin

The answer streams to stdout; the reasoning (vLLM's reasoning parser output) streams to stderr under
a "Reasoning" label, dimmed on a terminal, so ``> answer.txt`` keeps only the answer. The endpoint
and its key come from the stack's outputs, or from options and environment variables (see
tools/outputs.py). Exit status: 0 answered, 1 the endpoint failed (the message says what the status
means on AzureML and what to do), 2 the endpoint or its credentials could not be determined.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from clients.cli import run_tool
from clients.inference import (
    ChatOptions,
    ChatResult,
    EndpointError,
    InferenceClient,
    TokenCredential,
)
from clients.outputs import (
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_MODEL,
    endpoint_from_arguments,
)
from lib.redact import Redactor

DIM = "\033[2m"
BOLD = "\033[1m"
RESET = "\033[0m"


def add_endpoint_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by the chat client and the smoke test: which endpoint, how to sign in."""
    where = parser.add_argument_group("endpoint (default: the stack's outputs)")
    where.add_argument("--stack", help="Pulumi stack whose outputs name the endpoint")
    where.add_argument(
        "--base-url",
        help=f"OpenAI-compatible base URL, .../v1 (default: ${ENV_BASE_URL} when no --stack)",
    )
    where.add_argument("--api-key", help=f"endpoint key (default: primaryKey or ${ENV_API_KEY})")
    where.add_argument(
        "--aad",
        action="store_true",
        help="authenticate with an Entra ID token (DefaultAzureCredential, scope "
        "https://ml.azure.com/.default) instead of a key; implied when authMode is AADToken",
    )
    where.add_argument(
        "--deployment",
        help="send azureml-model-deployment: NAME, to call one deployment whatever the traffic",
    )
    where.add_argument(
        "--model",
        help=f"model id to request (default: the deployment's model from the outputs, ${ENV_MODEL})",
    )
    where.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=None,
        help="deadline of each request in seconds, from connect to the last byte (default: the "
        "deployment's requestTimeoutSeconds from the outputs, else AzureML's 180 s maximum, "
        "plus 20 s)",
    )


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not 0 < seconds <= 3600:
        raise argparse.ArgumentTypeError(f"{value!r}: give 0 < seconds <= 3600")
    return seconds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m clients.chat",
        description="Ask the deployed model a question; the answer to stdout, its reasoning to "
        "stderr.",
    )
    parser.add_argument("question", help="the question, or - to read it from stdin")
    add_endpoint_arguments(parser)
    sampling = parser.add_argument_group("generation")
    sampling.add_argument(
        "--max-tokens",
        type=int,
        default=4096,
        help="cap on generated tokens, reasoning included (default %(default)s)",
    )
    sampling.add_argument(
        "--temperature", type=float, default=0.6, help="default %(default)s (DeepSeek's advice)"
    )
    sampling.add_argument("--top-p", type=float, default=0.95, help="default %(default)s")
    sampling.add_argument(
        "--system", help="system prompt (none by default: DeepSeek advises against one for R1)"
    )
    shown = parser.add_argument_group("output")
    shown.add_argument(
        "--hide-reasoning", action="store_true", help="print only the answer, not the reasoning"
    )
    shown.add_argument(
        "--no-stream", action="store_true", help="wait for the whole answer instead of streaming"
    )
    return parser


class Printer:
    """Writes reasoning (stderr, labelled, dim on a terminal) and answer (stdout) as they stream."""

    def __init__(self, stdout: TextIO, stderr: TextIO, show_reasoning: bool):
        self.stdout = stdout
        self.stderr = stderr
        self.show_reasoning = show_reasoning
        self.color = stderr.isatty() and "NO_COLOR" not in os.environ
        self.reasoning_started = False
        self.answer_started = False
        self.last_answer_character = "\n"

    def _style(self, style: str, text: str) -> str:
        return f"{style}{text}{RESET}" if self.color else text

    def reasoning(self, text: str) -> None:
        if not self.show_reasoning:
            return
        if not self.reasoning_started:
            self.reasoning_started = True
            self.stderr.write(self._style(BOLD, "Reasoning:") + "\n")
        self.stderr.write(self._style(DIM, text))
        self.stderr.flush()

    def answer(self, text: str) -> None:
        if not self.answer_started:
            self.answer_started = True
            if self.reasoning_started:
                self.stderr.write("\n\n" + self._style(BOLD, "Answer:") + "\n")
                self.stderr.flush()
        self.stdout.write(text)
        self.stdout.flush()
        self.last_answer_character = text[-1]

    def finish(self, result: ChatResult, max_tokens: int) -> None:
        if self.last_answer_character != "\n":
            self.stdout.write("\n")
            self.stdout.flush()
        if self.reasoning_started and not self.answer_started:
            self.stderr.write("\n")
        if result.finish_reason == "length":
            where = "while reasoning, before any answer" if not result.content else "mid-answer"
            self.stderr.write(
                f"warning: stopped at --max-tokens {max_tokens} {where} (finish_reason length); "
                "raise --max-tokens for a complete answer\n"
            )
        self.stderr.write(self._style(DIM, stats_line(result)) + "\n")
        self.stderr.flush()


def stats_line(result: ChatResult) -> str:
    """Usage and timings in one line, for people watching latency."""
    parts = []
    usage = result.usage or {}
    if usage:
        parts.append(
            f"{usage.get('prompt_tokens', '?')} prompt + {usage.get('completion_tokens', '?')} "
            "completion tokens"
        )
    if result.time_to_first_token is not None:
        parts.append(f"first token {result.time_to_first_token:.2f} s")
    parts.append(f"total {result.total_seconds:.2f} s")
    if result.tokens_per_second is not None:
        parts.append(f"{result.tokens_per_second:.1f} tokens/s")
    return "[" + ", ".join(parts) + "]"


def main(
    argv: Sequence[str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
    credential: TokenCredential | None = None,
) -> int:
    """Run the client; ``credential`` replaces DefaultAzureCredential (tests pass a fake)."""
    args = _parser().parse_args(argv)
    return run_tool(
        lambda out, err, redactor: _chat(args, out, err, stdin, credential, redactor),
        args,
        stdout,
        stderr,
    )


def _chat(
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    stdin: TextIO | None,
    credential: TokenCredential | None,
    redactor: Redactor,
) -> int:
    question = (stdin or sys.stdin).read() if args.question == "-" else args.question
    if not question.strip():
        err.write("error: the question is empty\n")
        return 2
    endpoint = endpoint_from_arguments(args, err, "", on_secret=redactor.add)
    if endpoint is None:
        return 2
    if args.deployment and endpoint.deployments and args.deployment not in endpoint.deployments:
        err.write(
            f"note: {endpoint.source} declares no deployment '{args.deployment}' "
            f"(it declares: {', '.join(sorted(endpoint.deployments))}); trying anyway\n"
        )
    models = endpoint.configured_models(args.deployment)
    client = InferenceClient(
        endpoint,
        deployment=args.deployment,
        credential=credential,
        timeout=args.timeout,
        redactor=redactor,
    )
    options = ChatOptions(
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        system=args.system,
        stream=not args.no_stream,
    )
    messages = []
    if options.system:
        messages.append({"role": "system", "content": options.system})
    messages.append({"role": "user", "content": question})
    printer = Printer(out, err, show_reasoning=not args.hide_reasoning)
    try:
        result = client.chat(
            messages,
            options,
            # One configured model: name it, as apps do. Several (deployments serving different
            # models behind one traffic split): let vLLM use whichever model it serves.
            model=models[0] if len(models) == 1 else None,
            on_reasoning=printer.reasoning,
            on_content=printer.answer,
        )
    except EndpointError as error:
        if printer.answer_started:
            out.write("\n")
            out.flush()
        # End an unfinished reasoning line first, so the error starts on a line of its own.
        separator = "\n" if printer.reasoning_started and not printer.answer_started else ""
        err.write(f"{separator}error: {error}\n")
        return 1
    printer.finish(result, options.max_tokens)
    return 0


if __name__ == "__main__":
    sys.exit(main())

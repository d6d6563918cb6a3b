"""Run every verify check against a deployed stack and report pass, fail or skip for each.

    python -m clients.verify --stack prod            # make verify STACK=prod
    python -m clients.verify --stack prod --json     # one JSON document, for CI
    python -m clients.verify --stack prod --only traffic --only autoscale

It reads the stack's outputs (as chat and smoke do) and ARM with the signed-in identity (Reader on
the resource group, plus the scoring permission in AADToken mode). Exit status: 0 nothing failed,
1 a check failed, 2 the endpoint could not be determined. Every message passes through the
client tools' one redaction point (clients/cli.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from clients.chat import add_endpoint_arguments
from clients.cli import run_tool
from clients.errors import EndpointError
from clients.inference import TokenCredential
from clients.outputs import endpoint_from_arguments, read_stack_outputs
from clients.verify import CHECKS, Check, Context, Outcome
from clients.verify.registry import outcome_for_error
from lib.arm import ArmClient
from lib.redact import Redactor

MARK = {"pass": "ok  ", "fail": "FAIL", "skip": "skip"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m clients.verify",
        description="Check a deployed stack against every assumption the program makes.",
    )
    add_endpoint_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--only",
        action="append",
        choices=[c.id for c in CHECKS],
        help="run only this check (repeatable)",
    )
    parser.add_argument(
        "--subscription",
        help="subscription id for the ARM checks (default: from the endpointId output, else "
        "$AZURE_SUBSCRIPTION_ID)",
    )
    return parser


def run_checks(ctx: Context, checks: Sequence[Check]) -> list[Outcome]:
    """Every check once; one that raises fails with the reason, and the next still runs."""
    outcomes: list[Outcome] = []
    for item in checks:
        try:
            result = item.run(ctx)
        except EndpointError as error:
            result = Outcome(
                "fail", "the check could not reach the endpoint", str(error).splitlines()
            )
        except Exception as error:
            result = outcome_for_error(error)
        for outcome in result if isinstance(result, list) else [result]:
            outcome.id = f"{item.id}[{outcome.id}]" if outcome.id else item.id
            outcomes.append(outcome)
    return outcomes


def _text(out: TextIO, ctx: Context, outcomes: list[Outcome], seconds: float) -> None:
    out.write(f"verify: {ctx.endpoint.base_url} ({ctx.endpoint.source})\n")
    for outcome in outcomes:
        out.write(f"  {MARK[outcome.status]} {outcome.id}: {outcome.summary}\n")
        for line in outcome.evidence:
            out.write(f"         {line}\n")
        for line in outcome.fix:
            out.write(f"         fix: {line}\n")
    counts = {s: sum(o.status == s for o in outcomes) for s in MARK}
    verdict = "FAILED" if counts["fail"] else "passed"
    out.write(
        f"verify: {verdict} ({counts['pass']} passed, {counts['fail']} failed, "
        f"{counts['skip']} skipped, {seconds:.1f} s)\n"
    )


def _verify(
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    redactor: Redactor,
    credential: TokenCredential | None,
    arm_factory: Callable[[], ArmClient] | None,
) -> int:
    endpoint = endpoint_from_arguments(args, err, "verify: ", on_secret=redactor.add)
    if endpoint is None:
        return 2
    outputs = _outputs(args)
    ctx = Context(
        endpoint=endpoint,
        outputs=outputs,
        redactor=redactor,
        credential=credential,
        arm_factory=arm_factory,
        subscription_id=args.subscription or os.environ.get("AZURE_SUBSCRIPTION_ID") or None,
        timeout=args.timeout,
    )
    selected = [c for c in CHECKS if not args.only or c.id in args.only]
    started = time.monotonic()
    outcomes = run_checks(ctx, selected)
    seconds = time.monotonic() - started
    failed = any(o.status == "fail" for o in outcomes)
    if args.json:
        document = {
            "stack": args.stack,
            "endpoint": endpoint.base_url,
            "passed": not failed,
            "seconds": round(seconds, 1),
            "checks": [o.as_json() for o in outcomes],
        }
        out.write(json.dumps(document, indent=2) + "\n")
    else:
        _text(out, ctx, outcomes, seconds)
    return 1 if failed else 0


def _outputs(args: argparse.Namespace) -> dict[str, Any]:
    """The raw outputs (names of resources, deployments) for the ARM checks; empty without CLI."""
    pulumi = shutil.which("pulumi")
    if args.base_url or not pulumi:
        return {}
    return read_stack_outputs(pulumi, args.stack)


def main(
    argv: Sequence[str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    credential: TokenCredential | None = None,
    arm_factory: Callable[[], ArmClient] | None = None,
) -> int:
    """Run verify; ``credential`` (scoring) and ``arm_factory`` (ARM) are for tests, which point
    ARM at a loopback fake with its origin given explicitly."""
    args = _parser().parse_args(argv)
    return run_tool(
        lambda out, err, redactor: _verify(args, out, err, redactor, credential, arm_factory),
        args,
        stdout,
        stderr,
        "verify: ",
    )


if __name__ == "__main__":
    sys.exit(main())

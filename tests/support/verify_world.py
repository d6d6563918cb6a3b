"""One deployed stack for the verify tests: the loopback fake vLLM, the fake ARM filled as
`pulumi up` leaves it (tests/support/fake_stack.py, fake_monitoring_stack.py and
fake_region_stack.py), and a way to run `make verify` against them and read its JSON report."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clients.verify.cli import main
from lib.arm import ArmClient
from tests.support.fake_arm import FakeArm, FakeArmServer, FakeCredential
from tests.support.fake_monitoring_stack import add_monitoring
from tests.support.fake_region_stack import add_region
from tests.support.fake_stack import DeployedStack, deployed_stack
from tests.support.fake_vllm import DEFAULT_MODEL, FakeVllm, install_fake_pulumi

# The stack's one served name (docs/adr/0032): vLLM answers to it and to the model id.
SERVED_NAME = "deepseek-r1-distill-llama-8b"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def checks(self) -> dict[str, dict[str, Any]]:
        return {c["id"]: c for c in json.loads(self.stdout)["checks"]}

    def status(self, check_id: str) -> str:
        return self.checks[check_id]["status"]

    def text(self, check_id: str) -> str:
        """A check's summary, evidence and fix as one string, for phrase assertions."""
        outcome = self.checks[check_id]
        return " ".join([outcome["summary"], *outcome["evidence"], *outcome["fix"]])


@dataclass
class World:
    vllm: FakeVllm
    arm: FakeArm
    stack: DeployedStack
    bin_dir: Path

    def verify(self, *argv: str) -> Run:
        install_fake_pulumi(self.bin_dir, self.stack.outputs)
        stdout, stderr = io.StringIO(), io.StringIO()
        started = time.monotonic()
        code = main(
            ["--stack", "prod", "--json", "--timeout", "5", *argv],
            stdout=stdout,
            stderr=stderr,
            arm_factory=lambda: ArmClient(FakeCredential(), base_url=self.arm.base_url),
        )
        return Run(code, stdout.getvalue(), stderr.getvalue(), time.monotonic() - started)


@contextmanager
def verify_world(bin_dir: Path) -> Iterator[World]:
    """A healthy stack with two deployments (blue 100 %, green 0 %, blue autoscaled)."""
    vllm = FakeVllm(
        deployments={"blue": 100, "green": 0}, served_names=[SERVED_NAME, DEFAULT_MODEL]
    )
    with vllm, FakeArmServer(FakeArm()) as arm:
        stack = deployed_stack(arm, vllm)
        stack.outputs["servedModelName"] = SERVED_NAME
        add_monitoring(arm, stack)
        add_region(arm, stack)
        yield World(vllm, arm, stack, bin_dir)

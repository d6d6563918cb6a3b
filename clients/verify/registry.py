"""The checks `make verify` runs, and what each one reports.

A check is one function that takes the :class:`Context` and returns one :class:`Outcome` (or one
per deployment), registered with :func:`check`. To add one for another issue, write the function
in a module of this package, decorate it, and list the module in ``CHECK_MODULES``
(clients/verify/__init__.py); nothing else changes: the command line, ``--only``, the text and
JSON reports and the exit status all come from the registry.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from clients.inference import InferenceClient, TokenCredential
from clients.outputs import Endpoint
from lib.arm import ArmClient, ArmError
from lib.redact import Redactor

Status = Literal["pass", "fail", "skip"]

# The API versions verify reads with, each stable and cited where it is used.
ML_API_VERSION = "2025-12-01"  # azure-native 3.29's default for machinelearningservices

_SUBSCRIPTION = re.compile(r"^/subscriptions/([0-9a-fA-F-]{36})(/|$)")


@dataclass
class Outcome:
    """What one check found: pass, fail or skip, with the evidence and, on failure, the fix."""

    status: Status
    summary: str
    evidence: list[str] = field(default_factory=list)
    fix: list[str] = field(default_factory=list)
    # Set by the runner: the check's id, with the deployment for per-deployment checks.
    id: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "summary": self.summary,
            "evidence": self.evidence,
            "fix": self.fix,
        }


def passed(summary: str, *evidence: str) -> Outcome:
    return Outcome("pass", summary, list(evidence))


def failed(summary: str, evidence: list[str], fix: list[str]) -> Outcome:
    return Outcome("fail", summary, evidence, fix)


def skipped(summary: str, *evidence: str) -> Outcome:
    return Outcome("skip", summary, list(evidence))


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    run: Callable[[Context], Outcome | list[Outcome]]
    # Checks that read ARM fail with one clear message when ARM cannot be read at all.
    uses_arm: bool


CHECKS: list[Check] = []


def check(
    check_id: str, title: str, uses_arm: bool = False
) -> Callable[[Callable[[Context], Outcome | list[Outcome]]], Callable[[Context], Any]]:
    """Register a check under ``check_id`` (the name ``--only`` takes and the JSON reports)."""

    def register(function: Callable[[Context], Outcome | list[Outcome]]) -> Callable[..., Any]:
        if any(existing.id == check_id for existing in CHECKS):
            raise ValueError(f"two verify checks are named {check_id!r}")
        CHECKS.append(Check(check_id, title, function, uses_arm))
        return function

    return register


@dataclass
class Context:
    """Everything a check reads: the stack's outputs, the endpoint, ARM, and a shared cache."""

    endpoint: Endpoint
    outputs: dict[str, Any]
    redactor: Redactor
    credential: TokenCredential | None = None
    arm_factory: Callable[[], ArmClient] | None = None
    subscription_id: str | None = None
    timeout: float | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    cache: dict[str, Any] = field(default_factory=dict)
    _arm: ArmClient | None = None

    # --- the endpoint ----------------------------------------------------------------------

    def client(self, deployment: str | None = None) -> InferenceClient:
        client = InferenceClient(
            self.endpoint,
            deployment=deployment,
            credential=self.credential,
            timeout=self.timeout,
            redactor=self.redactor,
        )
        return client

    def remember(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per run: checks share what they read (an ARM GET, a model list)."""
        if key not in self.cache:
            try:
                self.cache[key] = ("value", compute())
            except Exception as error:
                self.cache[key] = ("error", error)
        kind, value = self.cache[key]
        if kind == "error":
            raise value
        return value

    # --- ARM -------------------------------------------------------------------------------

    @property
    def arm(self) -> ArmClient:
        if self._arm is None:
            client = self.arm_factory() if self.arm_factory else ArmClient(timeout=120.0)
            # The ARM token is a secret like the key: masked in every message.
            client.redactor = self.redactor
            self._arm = client
        return self._arm

    @property
    def subscription(self) -> str:
        if self.subscription_id:
            return self.subscription_id
        for name in ("endpointId", "workspaceId"):
            value = self.outputs.get(name)
            match = _SUBSCRIPTION.match(value) if isinstance(value, str) else None
            if match:
                return match.group(1)
        raise ArmError(
            0,
            "NoSubscription",
            "the stack outputs name no subscription (no endpointId output): pass "
            "--subscription <id> or set AZURE_SUBSCRIPTION_ID",
        )

    def _name(self, output: str) -> str:
        value = self.outputs.get(output)
        if not isinstance(value, str) or not value:
            raise ArmError(0, "MissingOutput", f"the stack has no {output} output")
        return value

    @property
    def resource_group_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self._name('resourceGroupName')}"
        )

    @property
    def workspace_id(self) -> str:
        return (
            f"{self.resource_group_id}/providers/Microsoft.MachineLearningServices/workspaces/"
            f"{self._name('workspaceName')}"
        )

    @property
    def endpoint_id(self) -> str:
        return f"{self.workspace_id}/onlineEndpoints/{self._name('endpointName')}"

    def deployment_id(self, name: str) -> str:
        """A deployment's ARM id: what its autoscale setting targets and its metrics live on."""
        return f"{self.endpoint_id}/deployments/{name}"

    def arm_endpoint(self) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            endpoint = self.arm.get(self.endpoint_id, ML_API_VERSION)
            if endpoint is None:
                raise ArmError(404, "ResourceNotFound", f"no online endpoint {self.endpoint_id}")
            return endpoint

        return self.remember("arm-endpoint", read)

    def arm_deployments(self) -> dict[str, dict[str, Any]]:
        """The endpoint's deployments as ARM has them, by lower-case name."""

        def read() -> dict[str, dict[str, Any]]:
            items = self.arm.list(f"{self.endpoint_id}/deployments", ML_API_VERSION)
            return {str(item.get("name", "")).lower(): item for item in items}

        return self.remember("arm-deployments", read)


def outcome_for_error(error: Exception) -> Outcome:
    """A check that could not run is a failure that says why."""
    if isinstance(error, ArmError):
        fix = ["sign in (`az login`) as an identity with Reader on the stack's resource group"]
        if error.code == "NoSubscription":
            fix = [error.message]
        elif error.status in (401, 403):
            fix.append(
                "Reader on the resource group is enough for every ARM check but quota-usage and "
                "managed-online-size, which read the region's AzureML usages and VM sizes at "
                "subscription scope (Reader on the subscription)"
            )
        return failed("could not read ARM", [str(error)], fix)
    first = (str(error).strip().splitlines() or [""])[0][:300]
    return failed(
        "the check could not run",
        [f"{type(error).__name__}: {first}"],
        ["re-run with the same arguments; report it if it persists"],
    )

"""Checks a real `pulumi preview` and `pulumi up` make before anything is created.

Each one fails minutes into a deployment otherwise, after the workspace and its managed network
already exist (issue 13): the region's AzureML vCPU quota, whether AzureML offers the VM size there,
whether the deployer may create role assignments, and whether a Docker daemon answers.

* Quota: ``GET /subscriptions/{s}/providers/Microsoft.MachineLearningServices/locations/{region}/
  usages`` (Usages_List), whose ``vmFamily/usages`` entries name "<family> Cluster Dedicated vCPUs"
  with ``currentValue`` and ``limit``; compared with :func:`lib.quota.quota_needed`, minus what this
  stack's own deployments already hold (they are counted in ``currentValue``).
* VM size: ``GET .../locations/{region}/vmSizes`` (VirtualMachineSizes_List). A size missing there
  is not offered to AzureML in the region. Its ``supportedComputeTypes`` list marks the sizes for
  managed online endpoints with ``MIR`` in Microsoft's own example (VirtualMachineSize/list.json),
  which is the only evidence for that marker, so a size without it is a warning, not an error.
* Role assignments: ``GET {scope}/providers/Microsoft.Authorization/permissions`` (api 2022-04-01)
  at the resource group, or the subscription while the group does not exist yet; the deployer
  needs ``Microsoft.Authorization/roleAssignments/write`` (Owner, User Access Administrator, Role
  Based Access Control Administrator; Contributor's notActions exclude it). Deny assignments and
  ABAC conditions are not visible there, so a pass is not a guarantee.
* Docker: pulumi-docker's provider pings the daemon in Configure, for previews too
  (pulumi/pulumi-docker provider/provider.go Configure -> configureDockerClient in provider/image.go:
  ``docker:host`` or DOCKER_HOST, else /var/run/docker.sock, ~/.docker/run/docker.sock and
  ~/.docker/desktop/docker.sock; "failed to connect to any docker daemon"). The same ping here
  fails with a message that says what to do.

API versions: machinelearningservices stable 2025-12-01 (azure-rest-api-specs workspaceRP.json and
machineLearningServices.json), resources 2021-04-01, authorization 2022-04-01.

A check that cannot run (403 for a Reader-only pull-request preview, a transient error) is a
warning naming what was not checked, never an error. Role-assignment rights are an error only in
`pulumi up` of a stack that assigns roles: a preview may run as a different, read-only identity.
"""

from __future__ import annotations

import fnmatch
import http.client
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import pulumi

from lib import runtime
from lib.arm import ArmClient, ArmError
from lib.quota import (
    DeploymentDemand,
    FamilyQuota,
    dedicated_usages,
    demand_of,
    facts_for,
    family_key,
    instances_to_reserve,
    quota_needed,
)

ML_API_VERSION = "2025-12-01"
RESOURCES_API_VERSION = "2021-04-01"
AUTHORIZATION_API_VERSION = "2022-04-01"
ROLE_ASSIGNMENT_WRITE = "Microsoft.Authorization/roleAssignments/write"
# supportedComputeTypes value of the sizes managed online endpoints take (see the module docstring).
MANAGED_ONLINE_COMPUTE_TYPE = "mir"
DOCKER_PING_TIMEOUT_SECONDS = 5.0

QUOTA_HELP = (
    "https://learn.microsoft.com/azure/machine-learning/how-to-manage-quotas"
    "#request-quota-and-limit-increases"
)
SKU_LIST = "https://learn.microsoft.com/azure/machine-learning/reference-managed-online-endpoints-vm-sku-list"

Level = Literal["error", "warning", "ok"]


@dataclass(frozen=True)
class Finding:
    """One check's result: ``ok`` lines are printed as information, warnings do not stop."""

    check: str
    level: Level
    message: str


@dataclass(frozen=True)
class PreflightTarget:
    """What the checks need to know about the stack."""

    subscription_id: str
    location: str
    resource_group: str
    workspace: str
    demands: tuple[DeploymentDemand, ...]
    # Whether the program declares role assignments (it does with a Hugging Face token).
    assigns_roles: bool
    previewing: bool

    @property
    def subscription(self) -> str:
        return f"/subscriptions/{self.subscription_id}"

    @property
    def ml_location(self) -> str:
        return (
            f"{self.subscription}/providers/Microsoft.MachineLearningServices/"
            f"locations/{self.location}"
        )

    @property
    def resource_group_id(self) -> str:
        return f"{self.subscription}/resourceGroups/{self.resource_group}"

    @property
    def workspace_id(self) -> str:
        return (
            f"{self.resource_group_id}/providers/Microsoft.MachineLearningServices/"
            f"workspaces/{self.workspace}"
        )


class PreflightError(pulumi.RunError):
    """Problems found before anything was created; the message lists each with its fix. A
    RunError, so the Pulumi CLI prints it without a Python traceback and exits non-zero."""


# --- quota -----------------------------------------------------------------------------------------


def _own_usage(client: ArmClient, target: PreflightTarget) -> dict[str, int]:
    """vCPUs this stack's existing deployments hold per family (they are in ``currentValue``)."""
    held: dict[str, int] = {}
    endpoints = client.list(f"{target.workspace_id}/onlineEndpoints", ML_API_VERSION)
    for endpoint in endpoints:
        for deployment in client.list(f"{endpoint['id']}/deployments", ML_API_VERSION):
            size = str((deployment.get("properties") or {}).get("instanceType") or "")
            capacity = int((deployment.get("sku") or {}).get("capacity") or 0)
            try:
                facts = facts_for(size)
            except ValueError:
                continue
            key = family_key(facts.family)
            held[key] = held.get(key, 0) + instances_to_reserve(facts, capacity) * facts.vcpus
    return held


def _quota_finding(
    need: FamilyQuota, usage: Mapping[str, Any] | None, own: int, target: PreflightTarget
) -> Finding:
    who = ", ".join(
        f"{item.demand.deployment} ({item.demand.peak_instances} x {item.demand.instance_type})"
        for item in need.deployments
    )
    if usage is None:
        return Finding(
            "quota",
            "warning",
            f"AzureML lists no {need.family} quota in {target.location}, so the {need.vcpus} "
            f"vCPUs {who} need could not be checked; the size may not be offered there.",
        )
    limit, current = int(usage.get("limit") or 0), int(usage.get("currentValue") or 0)
    available = limit - current + own
    if limit < 0 or need.vcpus <= available:
        return Finding(
            "quota",
            "ok",
            f"{need.family} in {target.location}: {need.vcpus} vCPUs needed, {available} available",
        )
    return Finding(
        "quota",
        "error",
        f"{who} need {need.vcpus} vCPUs of {need.family} quota in {target.location} (every "
        f"deployment at its peak, with AzureML's upgrade reserve); the limit is {limit} with "
        f"{current} in use ({own} by this stack's own deployments), so {max(available, 0)} are "
        f"available. Request at least {need.vcpus - max(available, 0)} more vCPUs for "
        f"{need.family} in {target.location}: {QUOTA_HELP} (see the numbers with `az rest "
        f"--method get --url https://management.azure.com{target.ml_location}/usages"
        f"?api-version={ML_API_VERSION}`).",
    )


def check_quota(client: ArmClient, target: PreflightTarget) -> list[Finding]:
    usages = dedicated_usages(client.list(f"{target.ml_location}/usages", ML_API_VERSION))
    own = _own_usage(client, target)
    return [
        _quota_finding(
            need, usages.get(family_key(need.family)), own.get(family_key(need.family), 0), target
        )
        for need in quota_needed(target.demands)
    ]


# --- VM sizes --------------------------------------------------------------------------------------


def check_vm_sizes(client: ArmClient, target: PreflightTarget) -> list[Finding]:
    sizes = {
        str(size.get("name") or "").lower(): size
        for size in client.list(f"{target.ml_location}/vmSizes", ML_API_VERSION)
    }
    findings = []
    for instance_type in sorted({demand.instance_type for demand in target.demands}):
        size = sizes.get(instance_type.lower())
        if size is None:
            findings.append(
                Finding(
                    "vm-size",
                    "error",
                    f"{instance_type} is not offered by AzureML in {target.location}; choose a "
                    f"region that has it or another size from {SKU_LIST}.",
                )
            )
            continue
        types = [str(kind).lower() for kind in size.get("supportedComputeTypes") or []]
        if MANAGED_ONLINE_COMPUTE_TYPE in types:
            findings.append(
                Finding("vm-size", "ok", f"{instance_type} is offered in {target.location}")
            )
        else:
            findings.append(
                Finding(
                    "vm-size",
                    "warning",
                    f"AzureML offers {instance_type} in {target.location} but does not list it "
                    f"for managed online endpoints (supportedComputeTypes {types or 'missing'}); "
                    f"if the deployment is refused, pick a size from {SKU_LIST}.",
                )
            )
    return findings


# --- role assignments ------------------------------------------------------------------------------


def _matches(patterns: Sequence[Any], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), str(p).lower()) for p in patterns)


def may_perform(permissions: Sequence[Mapping[str, Any]], action: str) -> bool:
    """Whether any permission set allows ``action`` (Azure RBAC: its actions minus its notActions;
    the caller's effective rights are the union of the sets)."""
    return any(
        _matches(entry.get("actions") or [], action)
        and not _matches(entry.get("notActions") or [], action)
        for entry in permissions
    )


def check_role_assignments(client: ArmClient, target: PreflightTarget) -> list[Finding]:
    group = client.get(target.resource_group_id, RESOURCES_API_VERSION)
    scope = target.resource_group_id if group is not None else target.subscription
    permissions = client.list(
        f"{scope}/providers/Microsoft.Authorization/permissions", AUTHORIZATION_API_VERSION
    )
    if may_perform(permissions, ROLE_ASSIGNMENT_WRITE):
        return [Finding("role-assignments", "ok", f"may create role assignments at {scope}")]
    fatal = target.assigns_roles and not target.previewing
    who = "The identity running this preview" if target.previewing else "The deploying identity"
    why = (
        "This stack assigns roles (the endpoint reads the Hugging Face token from Key Vault)."
        if target.assigns_roles
        else "This stack assigns no roles today; a Hugging Face token would need them."
    )
    return [
        Finding(
            "role-assignments",
            "error" if fatal else "warning",
            f"{who} may not create role assignments at {scope}: it lacks {ROLE_ASSIGNMENT_WRITE} "
            "(Owner, User Access Administrator or Role Based Access Control Administrator have "
            f"it; Contributor does not). {why} Grant it with `az role assignment create "
            f'--assignee <object id> --role "Role Based Access Control Administrator" '
            f"--scope {scope}`.",
        )
    ]


# --- Docker ----------------------------------------------------------------------------------------


def docker_hosts(configured: str | None, env: Mapping[str, str], home: Path) -> list[str]:
    """The daemon addresses pulumi-docker tries, in its order (see the module docstring)."""
    explicit = configured or env.get("DOCKER_HOST")
    if explicit:
        return [explicit]
    return [
        "unix:///var/run/docker.sock",
        f"unix://{home}/.docker/run/docker.sock",
        f"unix://{home}/.docker/desktop/docker.sock",
    ]


def _ping_unix(path: str, timeout: float) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect(path)
        connection.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        status = connection.recv(64).split(b"\r\n", 1)[0]
    if b" 200 " not in status + b" ":
        raise OSError(f"answered {status.decode(errors='replace')!r}")


def ping_docker(host: str, timeout: float = DOCKER_PING_TIMEOUT_SECONDS) -> str | None:
    """None when the daemon at ``host`` answers ``/_ping``; else why not. Raises ValueError for
    addresses this check cannot reach itself (ssh, TLS, Windows pipes)."""
    parsed = urlparse(host)
    try:
        if parsed.scheme == "unix":
            _ping_unix(parsed.path, timeout)
            return None
        if parsed.scheme in ("tcp", "http"):
            connection = http.client.HTTPConnection(
                parsed.hostname or "", parsed.port or 2375, timeout=timeout
            )
            try:
                connection.request("GET", "/_ping")
                status = connection.getresponse().status
            finally:
                connection.close()
            return None if status == 200 else f"answered HTTP {status}"
    except OSError as error:
        return str(error) or type(error).__name__
    raise ValueError(f"{parsed.scheme}:// addresses are not checked here")


def check_docker(configured: str | None, env: Mapping[str, str], home: Path) -> list[Finding]:
    hosts = docker_hosts(configured, env, home)
    if env.get("DOCKER_TLS_VERIFY") or env.get("DOCKER_CERT_PATH"):
        return [Finding("docker", "warning", f"Docker at {hosts[0]} uses TLS; not checked here.")]
    failures = []
    for host in hosts:
        try:
            reason = ping_docker(host)
        except ValueError as skipped:
            return [Finding("docker", "warning", f"Docker at {host} not checked: {skipped}.")]
        if reason is None:
            return [Finding("docker", "ok", f"Docker daemon answers at {host}")]
        failures.append(f"{host} ({reason})")
    return [
        Finding(
            "docker",
            "error",
            "No Docker daemon answers at " + ", ".join(failures) + ". `pulumi preview`, `up`, "
            "`refresh` and `destroy` need one, because pulumi-docker connects to it before it "
            "does anything, builds or not. Start Docker (Docker Desktop, or `sudo systemctl start "
            "docker`), or point DOCKER_HOST at a reachable daemon (`export DOCKER_HOST=ssh://user@"
            "build-host`); docs/first-deployment.md, Docker.",
        )
    ]


# --- running them ----------------------------------------------------------------------------------


def _guarded(check: str, what: str, run: Callable[[], list[Finding]]) -> list[Finding]:
    try:
        return run()
    except ArmError as error:
        return [Finding(check, "warning", f"Could not check {what}: {error}.")]


def run_checks(
    target: PreflightTarget,
    client: ArmClient,
    docker_host: str | None = None,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> list[Finding]:
    """Every check; an ARM call that fails turns its check into a warning."""
    return [
        *_guarded("quota", "the vCPU quota", lambda: check_quota(client, target)),
        *_guarded("vm-size", "the VM sizes", lambda: check_vm_sizes(client, target)),
        *_guarded(
            "role-assignments",
            "the right to create role assignments",
            lambda: check_role_assignments(client, target),
        ),
        *check_docker(docker_host, os.environ if env is None else env, home or Path.home()),
    ]


def raise_for(findings: Sequence[Finding]) -> None:
    errors = [finding for finding in findings if finding.level == "error"]
    if errors:
        raise PreflightError(
            "Preflight found problems before anything was created:\n"
            + "\n".join(f"- [{finding.check}] {finding.message}" for finding in errors)
        )


# --- the program's entry point ---------------------------------------------------------------------


def stack_assigns_roles(settings: Any) -> bool:
    """Whether the program declares role assignments: the Key Vault roles for the Hugging Face
    token (components/workspace.py, components/endpoint.py). Extend this when a component adds one."""
    return getattr(settings, "hugging_face_token", None) is not None


def report(findings: Sequence[Finding]) -> None:
    """Log every finding (warnings as warnings), then stop the run if any is an error."""
    for finding in findings:
        line = f"preflight [{finding.check}] {finding.message}"
        if finding.level == "warning":
            pulumi.log.warn(line)
        elif finding.level == "ok":
            pulumi.log.info(line)
    raise_for(findings)


def run_in_program(
    settings: Any,
    resource_group: str,
    workspace: str,
    client: ArmClient | None = None,
    subscription_id: str | None = None,
) -> list[Finding]:
    """Run the checks from ``__main__.py`` before any resource is declared, in a real preview or
    `pulumi up` only (the offline mocks must not reach Azure). Raises :class:`PreflightError`."""
    if runtime.under_mocks():
        return []
    if subscription_id is None:
        from pulumi_azure_native import authorization

        # A plain (blocking) invoke: the checks must finish before anything is registered.
        subscription_id = authorization.get_client_config().subscription_id
    target = PreflightTarget(
        subscription_id=subscription_id,
        location=settings.location,
        resource_group=resource_group,
        workspace=workspace,
        demands=tuple(demand_of(deployment) for deployment in settings.deployments),
        assigns_roles=stack_assigns_roles(settings),
        previewing=pulumi.runtime.is_dry_run(),
    )
    findings = run_checks(
        target,
        client or ArmClient(timeout=120.0, retry_delay=2.0),
        docker_host=pulumi.Config("docker").get("host"),
    )
    report(findings)
    return findings

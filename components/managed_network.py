"""Provision the workspace's managed network, and wait until it is Active, before any deployment.

"To create an online deployment, you must manually provision the managed network, or create a
compute instance first which will automatically provision it" (MicrosoftDocs/azure-ai-docs,
articles/machine-learning/how-to-managed-network.md, "Manually provision a managed VNet"). The
workspace's ``provisionNetworkNow`` flag is a preview property and nothing says the workspace PUT
waits for it, so this resource calls the documented action itself and waits:

    POST {workspace id}/provisionManagedNetwork?api-version=2025-12-01   body {"includeSpark": false}

(azure-rest-api-specs, machinelearningservices stable/2025-12-01 workspaceRP.json,
operation ManagedNetworkProvisions_ProvisionManagedNetwork: 200 with a ManagedNetworkProvisionStatus,
or 202 with ``Location`` and ``Retry-After``; ``final-state-via: location``). When the operation is
done, the workspace GET must report ``properties.managedNetwork.status.status == "Active"``
(ManagedNetworkProvisionStatus.status is ``Inactive`` or ``Active``); the resource polls for that
too, because that field, not the operation, is what AzureML checks when a deployment is created.

Provisioning takes about 30 minutes, and the first FQDN rule about 10 more (the same article). Both
waits are bounded (``timeout_seconds``) and report progress every poll; the dynamic provider's
stderr reaches the Pulumi CLI as diagnostics (pulumi/pulumi sdk/go/common/resource/plugin/plugin.go:
plugin stderr is streamed to the diag sink, and dynamic-provider output is not hidden).

The module path and class name below are part of every stack's state (a dynamic provider is pickled
by reference): ``components.managed_network.ManagedNetworkProvisionProvider``. Never move or rename
them without a re-export here (tests/components/test_managed_network.py pins them).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic

from lib.arm import ArmClient, ArmError

# The API version azure-native 3.29 uses for machinelearningservices, so the workspace is read with
# the schema it was written with; an input, so that a bump shows in `pulumi preview`.
MANAGED_NETWORK_API_VERSION = "2025-12-01"

# About 30 minutes to provision, about 10 more for the first FQDN rule (how-to-managed-network.md);
# 75 minutes leaves room for a slow region and stays within the two hours the engine gives the rest.
PROVISION_TIMEOUT_SECONDS = 75 * 60.0
# ARM's Retry-After for this operation is 10-600 s (the spec's bounds); between polls of the
# workspace itself, 30 s is often enough to notice the change and rare enough to be polite.
POLL_SECONDS = 30.0

ACTIVE = "Active"

# Inputs whose change means another network to provision (a replacement), and those that only
# mean "provision again and wait" (an update: the action is idempotent).
_REPLACE_INPUTS = ("workspace_id",)
_UPDATE_INPUTS = ("api_version", "include_spark", "rules_revision")


class ManagedNetworkNotActiveError(Exception):
    """The managed network did not become Active in time, or provisioning failed."""


def network_status(workspace: dict[str, Any] | None) -> str:
    """``properties.managedNetwork.status.status`` of a workspace as ARM returns it ("" if absent)."""
    properties = (workspace or {}).get("properties") or {}
    network = properties.get("managedNetwork") or {}
    status = network.get("status") or {}
    value = status.get("status") if isinstance(status, dict) else None
    return value if isinstance(value, str) else ""


def _stderr(message: str) -> None:
    # pulumi.log has no engine in the dynamic provider's process; stderr is what reaches the CLI.
    print(message, file=sys.stderr, flush=True)


class ManagedNetworkProvisionProvider(pulumi.dynamic.ResourceProvider):
    """Calls ``provisionManagedNetwork`` and waits for ``status: Active``.

    ``client_factory`` builds the ARM client on each call (tests point it at a loopback fake ARM);
    in a deployment it is None, so the pickled provider carries no credential and authenticates
    with azure-identity's default chain when it runs. ``clock`` and ``log`` exist for tests.
    """

    def __init__(
        self,
        client_factory: Callable[..., ArmClient] | None = None,
        poll_seconds: float = POLL_SECONDS,
        timeout_seconds: float = PROVISION_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        log: Callable[[str], None] = _stderr,
    ):
        super().__init__()
        self._client_factory = client_factory
        self._poll_seconds = poll_seconds
        self._timeout_seconds = timeout_seconds
        self._clock = clock
        self._sleep = sleep
        self._log = log

    def _client(self, progress: Callable[[str, float], None]) -> ArmClient:
        if self._client_factory is not None:
            return self._client_factory(progress=progress)
        return ArmClient(
            poll_interval=self._poll_seconds, timeout=self._timeout_seconds, progress=progress
        )

    # --- lifecycle -----------------------------------------------------------------------------

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        outs = self._provision(props)
        return pulumi.dynamic.CreateResult(id_=f"{props['workspace_id']}/managedNetwork", outs=outs)

    def update(
        self, _id: str, _olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.UpdateResult:
        return pulumi.dynamic.UpdateResult(outs=self._provision(news))

    def diff(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.DiffResult:
        replaces = [key for key in _REPLACE_INPUTS if olds.get(key) != news.get(key)]
        changed = replaces + [key for key in _UPDATE_INPUTS if olds.get(key) != news.get(key)]
        return pulumi.dynamic.DiffResult(
            changes=bool(changed), replaces=replaces, delete_before_replace=False
        )

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        """`pulumi refresh`: the status the workspace reports now (gone with the workspace)."""
        workspace = self._client(lambda *_: None).get(props["workspace_id"], props["api_version"])
        if workspace is None:
            return pulumi.dynamic.ReadResult(id_="", outs={})
        return pulumi.dynamic.ReadResult(
            id_=id_, outs={**props, "status": network_status(workspace)}
        )

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        # Nothing to undo: ARM has no "unprovision" action, and the managed network is deleted with
        # the workspace (how-to-managed-network.md, Limitations).
        return None

    # --- the wait --------------------------------------------------------------------------------

    def _provision(self, props: dict[str, Any]) -> dict[str, Any]:
        workspace_id, api_version = props["workspace_id"], props["api_version"]
        started = self._clock()

        def progress(_url: str, waited: float) -> None:
            self._log(
                f"managed network of {_short(workspace_id)}: provisioning, {waited / 60:.0f} min "
                f"so far (up to {self._timeout_seconds / 60:.0f} min)"
            )

        client = self._client(progress)
        self._log(f"managed network of {_short(workspace_id)}: provisioning (about 30 minutes)")
        try:
            client.post(
                f"{workspace_id}/provisionManagedNetwork",
                api_version,
                {"includeSpark": bool(props.get("include_spark", False))},
            )
        except ArmError as error:
            raise ManagedNetworkNotActiveError(
                f"Provisioning the managed network of {workspace_id} failed: {error}. Check its "
                f"state with `az ml workspace show --ids {workspace_id} --query managed_network`."
            ) from None
        status = self._wait_until_active(client, workspace_id, api_version, started)
        return {**{k: v for k, v in props.items() if k != "__provider"}, "status": status}

    def _wait_until_active(
        self, client: ArmClient, workspace_id: str, api_version: str, started: float
    ) -> str:
        deadline = started + self._timeout_seconds
        while True:
            status = network_status(client.get(workspace_id, api_version))
            waited = self._clock() - started
            if status == ACTIVE:
                self._log(
                    f"managed network of {_short(workspace_id)}: Active after {waited / 60:.0f} min"
                )
                return status
            if self._clock() + self._poll_seconds > deadline:
                raise ManagedNetworkNotActiveError(
                    f"The managed network of {workspace_id} is {status or 'not reported'} after "
                    f"{waited / 60:.0f} minutes (the wait ends at "
                    f"{self._timeout_seconds / 60:.0f}); online deployments cannot be created "
                    "before it is Active. Run `pulumi up` again to keep waiting, or check it with "
                    f"`az ml workspace show --ids {workspace_id} --query managed_network`."
                )
            self._log(
                f"managed network of {_short(workspace_id)}: {status or 'no status yet'} after "
                f"{waited / 60:.0f} min, waiting for Active"
            )
            self._sleep(self._poll_seconds)


def _short(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ManagedNetworkProvisionArgs:
    """Which workspace's managed network to provision.

    ``rules_revision`` changes whenever the declared outbound rules do, so a rule change provisions
    again and waits for Active before any deployment that would need the new rule rolls.
    """

    workspace_id: pulumi.Input[str]
    rules_revision: str
    include_spark: bool = False
    api_version: str = MANAGED_NETWORK_API_VERSION


class ManagedNetworkProvision(
    pulumi.dynamic.Resource, module="machinelearningservices", name="ManagedNetworkProvision"
):
    """The workspace's managed network, provisioned and Active; deployments depend on it."""

    workspace_id: pulumi.Output[str]
    status: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: ManagedNetworkProvisionArgs,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(
            ManagedNetworkProvisionProvider(),
            name,
            {
                "workspace_id": args.workspace_id,
                "api_version": args.api_version,
                "include_spark": args.include_spark,
                "rules_revision": args.rules_revision,
                "status": None,
            },
            opts,
        )

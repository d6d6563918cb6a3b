"""AzureML behaviour for the loopback fake ARM (tests/support/fake_arm.py): the workspace's
``provisionManagedNetwork`` action, and the read-only list calls the preflight makes.

Shapes follow azure-rest-api-specs machinelearningservices stable/2025-12-01 (workspaceRP.json and
its examples ManagedNetwork/provision.json, Usage/list.json, VirtualMachineSize/list.json).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.support.fake_arm import FakeArm, Operation, RecordedRequest

_PROVISION = re.compile(
    r"^(/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.machinelearningservices/"
    r"workspaces/[^/]+)/provisionmanagednetwork$"
)


def workspace(resource_id: str, status: str = "Inactive") -> dict[str, Any]:
    """A workspace as ARM returns it, with a managed network in ``status``."""
    return {
        "id": resource_id,
        "name": resource_id.rsplit("/", 1)[-1],
        "type": "Microsoft.MachineLearningServices/workspaces",
        "properties": {
            "managedNetwork": {
                "isolationMode": "AllowOnlyApprovedOutbound",
                "status": {"status": status, "sparkReady": False},
            }
        },
    }


def provision_managed_network(
    becomes: str = "Active", failure: dict[str, str] | None = None
) -> Callable[[FakeArm, RecordedRequest], Any]:
    """A handler for ``POST .../provisionManagedNetwork``: 202 with a Location that reports
    progress for ``fake.polls`` reads, then sets the workspace's network status to ``becomes``
    (or, with ``failure``, refuses the action with that ARM error)."""

    def handle(fake: FakeArm, request: RecordedRequest) -> Any:
        match = _PROVISION.match(request.path.lower())
        if request.method != "POST" or match is None:
            return None
        if request.api_version is None:
            return 400, {"error": {"code": "MissingApiVersionParameter", "message": ""}}, {}
        workspace_path = match.group(1)
        if workspace_path not in fake.resources:
            return 404, {"error": {"code": "ResourceNotFound", "message": request.path}}, {}
        if not isinstance(request.body, dict):
            # ARM refuses the action without a body ("Request body could not be read").
            return 400, {"error": {"code": "BadRequest", "message": "no body"}}, {}
        if failure:
            return 400, {"error": failure}, {}

        def apply() -> None:
            network = fake.resources[workspace_path]["properties"]["managedNetwork"]
            network["status"] = {"status": becomes, "sparkReady": False}

        operation_id = f"loc-{len(fake.operations) + 1}"
        fake.operations[operation_id] = Operation(
            fake.polls, apply=apply, result={"status": becomes, "sparkReady": False}
        )
        location = f"{fake.base_url}/locations/{operation_id}"
        return 202, None, {"Location": location, "Retry-After": "0"}

    return handle

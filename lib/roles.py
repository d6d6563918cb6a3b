"""Azure role assignments: deterministic names, fully qualified role ids, one resource as scope.

Every component that grants a role goes through :func:`assign_role`, so every assignment in the
stack is named, scoped and spelled the same way, and a second `pulumi up` updates the assignment it
made the first time instead of adding a duplicate that ARM would refuse (RoleAssignmentExists).
"""

from __future__ import annotations

import re
import uuid

import pulumi
from pulumi_azure_native import authorization

# The built-in role ids components assign, re-exported from the catalog where they are stated.
from lib.catalog import KEY_VAULT_SECRETS_OFFICER_ROLE as KEY_VAULT_SECRETS_OFFICER_ROLE
from lib.catalog import KEY_VAULT_SECRETS_USER_ROLE as KEY_VAULT_SECRETS_USER_ROLE
from lib.catalog import MONITORING_METRICS_PUBLISHER_ROLE as MONITORING_METRICS_PUBLISHER_ROLE

# uuid5 namespace for role assignment names: any fixed UUID works, it only has to never change
# (a new one would rename, so delete and re-create, every assignment of every stack).
ROLE_ASSIGNMENT_NAMESPACE = uuid.UUID("6f1c4bbb-9f7a-4b52-8a4e-2d3f2f1f7a10")

_SUBSCRIPTION_IN_ID = re.compile(r"^/subscriptions/([^/]+)(/|$)", re.IGNORECASE)


def role_assignment_name(scope: str, principal_id: str, role_definition_id: str) -> str:
    """A GUID fixed by (scope, principal, role), so re-runs update rather than duplicate."""
    return str(
        uuid.uuid5(ROLE_ASSIGNMENT_NAMESPACE, f"{scope}|{principal_id}|{role_definition_id}")
    )


def role_definition_id(scope: str, role: str) -> str:
    """The full ARM id of built-in role ``role`` in the subscription that holds ``scope``.

    ARM reads role assignments back with the subscription-qualified id; any other spelling (the
    tenant-level ``/providers/Microsoft.Authorization/...`` form) shows up as a diff after every
    refresh, and a bare GUID is refused.
    """
    match = _SUBSCRIPTION_IN_ID.match(scope)
    if not match:
        raise ValueError(f"cannot find the subscription in scope {scope!r}")
    return (
        f"/subscriptions/{match.group(1)}/providers/Microsoft.Authorization/roleDefinitions/{role}"
    )


def assign_role(
    name: str,
    *,
    scope: pulumi.Input[str],
    principal_id: pulumi.Input[str],
    role: str,
    parent: pulumi.Resource,
    principal_type: str = "ServicePrincipal",
    description: str | None = None,
) -> authorization.RoleAssignment:
    """Grant ``role`` to ``principal_id`` on exactly ``scope`` (a resource id, never a group or
    subscription).

    The assignment's name is a GUID derived from (scope, principal, role definition), so a second
    `pulumi up`, or a re-created stack, updates the same assignment instead of adding a duplicate,
    which ARM would refuse with RoleAssignmentExists. ``principal_type`` is ServicePrincipal for
    managed identities (it lets ARM skip the directory lookup that fails while a new identity is
    still replicating). It must match the principal's real type: ARM refuses a mismatch
    (UnmatchedPrincipalType), and azure-native would send "User" if it were left out.
    """
    definition = pulumi.Output.from_input(scope).apply(lambda s: role_definition_id(s, role))
    assignment_name = pulumi.Output.all(scope, principal_id, definition).apply(
        lambda parts: role_assignment_name(parts[0], parts[1], parts[2])
    )
    return authorization.RoleAssignment(
        name,
        role_assignment_name=assignment_name,
        scope=scope,
        principal_id=principal_id,
        role_definition_id=definition,
        principal_type=principal_type,
        description=description,
        opts=pulumi.ResourceOptions(parent=parent),
    )

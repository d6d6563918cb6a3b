"""Role assignments: deterministic GUID names, subscription-qualified role ids, one resource as
scope, and the built-in role ids themselves."""

from __future__ import annotations

import re

import pulumi
import pytest

from lib.roles import (
    KEY_VAULT_SECRETS_OFFICER_ROLE,
    KEY_VAULT_SECRETS_USER_ROLE,
    assign_role,
    role_assignment_name,
    role_definition_id,
)
from tests.support.components import declare
from tools.offline import OFFLINE_SUBSCRIPTION_ID, ProgramRun

ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
# Built-in role GUIDs, written out from Azure's built-in roles reference (not imported from the
# code under test, so a wrong constant there fails here).
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
KEY_VAULT_SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

SCOPES = {
    "registry": f"/subscriptions/{OFFLINE_SUBSCRIPTION_ID}/resourceGroups/rg/providers/"
    "Microsoft.ContainerRegistry/registries/crone",
    "vault": "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/"
    "Microsoft.KeyVault/vaults/kv-one",
}
PRINCIPALS = ("aaaaaaaa-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002")


def declare_grants() -> ProgramRun:
    """Every (scope, principal, role) combination of two of each, under one parent."""

    def build() -> None:
        parent = pulumi.ComponentResource("test:grants:Grants", "grants")
        for scope_name, scope in SCOPES.items():
            for index, principal in enumerate(PRINCIPALS):
                for role_name, role in (
                    ("secrets-user", KEY_VAULT_SECRETS_USER_ROLE),
                    ("blob-reader", STORAGE_BLOB_DATA_READER),
                ):
                    assign_role(
                        f"{scope_name}-{index}-{role_name}",
                        scope=scope,
                        principal_id=principal,
                        role=role,
                        parent=parent,
                    )

    return declare(build)


def test_role_assignments_are_scoped_deterministic_and_fully_qualified() -> None:
    first = declare_grants().of_type(ROLE_ASSIGNMENT)
    second = declare_grants().of_type(ROLE_ASSIGNMENT)
    assert len(first) == len(SCOPES) * len(PRINCIPALS) * 2
    names = {r.name: r.input("roleAssignmentName") for r in first}
    # Same inputs, same GUIDs: a re-run updates rather than duplicates.
    assert names == {r.name: r.input("roleAssignmentName") for r in second}
    # Different scope, principal or role: a different assignment.
    assert len(set(names.values())) == len(names)
    for assignment in first:
        assert GUID.match(assignment.input("roleAssignmentName"))
        scope = assignment.input("scope")
        assert scope in SCOPES.values()
        subscription = scope.split("/")[2]
        assert assignment.input("roleDefinitionId").startswith(
            f"/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/"
        )
        assert assignment.input("principalType") == "ServicePrincipal"
        assert assignment.input("roleAssignmentName") == role_assignment_name(
            scope, assignment.input("principalId"), assignment.input("roleDefinitionId")
        )
        assert "grants" in assignment.parent


def test_role_assignment_names_do_not_change_between_releases() -> None:
    """The GUID is the assignment's ARM name: a new one deletes and re-creates every grant of
    every existing stack. Pinned from the namespace UUID the first release used."""
    assert (
        role_assignment_name(SCOPES["vault"], PRINCIPALS[0], "role")
        == "cc7e25a3-8cdf-5da0-b5d3-a0b5281af261"
    )


def test_role_definition_id_needs_a_subscription_scope() -> None:
    assert role_definition_id(SCOPES["vault"], KEY_VAULT_SECRETS_USER_ROLE) == (
        "/subscriptions/11111111-2222-3333-4444-555555555555/providers/"
        f"Microsoft.Authorization/roleDefinitions/{KEY_VAULT_SECRETS_USER_ROLE}"
    )
    with pytest.raises(ValueError, match="subscription"):
        role_definition_id("/providers/Microsoft.Management/managementGroups/mg", "x")


def test_role_constants_are_azures_built_in_role_ids() -> None:
    assert KEY_VAULT_SECRETS_USER_ROLE == KEY_VAULT_SECRETS_USER
    assert KEY_VAULT_SECRETS_OFFICER_ROLE == KEY_VAULT_SECRETS_OFFICER

"""The workspace component under mocks, for every committed stack: its security properties (and
that each configurable one follows its setting), role assignments, tags, protection and names."""

from __future__ import annotations

import importlib
import inspect
import json
import re
from collections.abc import Callable
from typing import Any

import pulumi
import pytest
from pulumi_azure_native import authorization, keyvault

from components.workspace import (
    BLOB_SOFT_DELETE_DAYS,
    KEY_VAULT_SECRETS_OFFICER_ROLE,
    KEY_VAULT_SECRETS_USER_ROLE,
    OUTBOUND_RULE_NAME_PATTERN,
    MlWorkspace,
    MlWorkspaceArgs,
    assign_role,
    outbound_rule_name,
    role_definition_id,
)
from lib.naming import StackNames, role_assignment_name
from settings import Settings, from_pulumi, load_settings
from tests.conftest import RunProgram, stack_entries
from tools.offline import (
    OFFLINE_OBJECT_ID,
    OFFLINE_SUBSCRIPTION_ID,
    OFFLINE_TENANT_ID,
    ProgramRun,
)

RESOURCE_GROUP = "azure-native:resources:ResourceGroup"
LOG_ANALYTICS = "azure-native:operationalinsights:Workspace"
APP_INSIGHTS = "azure-native:applicationinsights:Component"
STORAGE = "azure-native:storage:StorageAccount"
BLOB_SERVICE = "azure-native:storage:BlobServiceProperties"
VAULT = "azure-native:keyvault:Vault"
REGISTRY = "azure-native:containerregistry:Registry"
WORKSPACE = "azure-native:machinelearningservices:Workspace"
DIAGNOSTICS = "azure-native:monitor:DiagnosticSetting"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
# Built-in role GUIDs, written out from Azure's built-in roles reference (not imported from the
# code under test, so a wrong constant there fails here).
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
KEY_VAULT_SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
SECRET = "azure-native:keyvault:Secret"

OUTPUTS = (
    "resource_group_name",
    "workspace_name",
    "workspace_id",
    "workspace_principal_id",
    "registry_name",
    "registry_login_server",
    "registry_id",
    "key_vault_name",
    "key_vault_id",
    "key_vault_uri",
    "storage_account_id",
    "log_analytics_workspace_id",
    "application_insights_id",
)
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# A Pulumi secret from the stack file, as the CLI would hand it over (encrypted).
TOKEN = {"secure": "AAABAHuggingFaceTokenCiphertext"}


def workspace_program(also: Callable[[MlWorkspace], None] | None = None) -> Callable[[], None]:
    """A program declaring only the workspace, wired as __main__.py wires it."""

    def program() -> None:
        settings = from_pulumi()
        client = authorization.get_client_config_output()
        names = StackNames(settings, client.subscription_id)
        workspace = MlWorkspace(
            "workspace",
            MlWorkspaceArgs(
                settings=settings,
                names=names,
                tenant_id=client.tenant_id,
                deployer_principal_id=client.object_id,
            ),
        )
        for output in OUTPUTS:
            pulumi.export(output, getattr(workspace, output))
        if also is not None:
            also(workspace)

    return program


def settings_of(stack: str, **overrides: Any) -> Settings:
    return load_settings(stack_entries(stack, overrides), stack)


@pytest.fixture
def workspace_run(run: RunProgram) -> Callable[..., ProgramRun]:
    def _run(stack: str, **overrides: Any) -> ProgramRun:
        return run(stack, program=workspace_program(), **overrides)

    return _run


# --- Storage ---------------------------------------------------------------------------------------


def test_storage_accepts_only_entra_id_over_tls_1_2(stack: str, workspace_run) -> None:
    result = workspace_run(stack)
    account = result.one(STORAGE)
    assert account.input("allowSharedKeyAccess") is False
    assert account.input("allowBlobPublicAccess") is False
    assert account.input("enableHttpsTrafficOnly") is True
    assert account.input("minimumTlsVersion") == "TLS1_2"
    assert account.input("defaultToOAuthAuthentication") is True
    assert account.input("allowCrossTenantReplication") is False
    # AzureML's default storage must not have a hierarchical namespace.
    assert account.input("isHnsEnabled") is False
    # Keys are off, so the workspace must reach its storage with its identity or it breaks.
    assert result.one(WORKSPACE).input("systemDatastoresAuthMode") == "Identity"


def test_blob_soft_delete_is_on_for_the_workspace_storage(stack: str, workspace_run) -> None:
    result = workspace_run(stack)
    account, service = result.one(STORAGE), result.one(BLOB_SERVICE)
    assert service.input("accountName") == account.input("accountName")
    assert service.input("blobServicesName") == "default"
    for policy in ("deleteRetentionPolicy", "containerDeleteRetentionPolicy"):
        assert service.input(f"{policy}.enabled") is True
        days = service.input(f"{policy}.days")
        assert days == BLOB_SOFT_DELETE_DAYS
        assert 1 <= days <= 365  # ARM's range
    # The workspace is created only once soft delete protects what it writes.
    assert service.urn in result.one(WORKSPACE).dependencies


# --- Key Vault -------------------------------------------------------------------------------------


def test_key_vault_is_rbac_only_with_soft_delete(stack: str, workspace_run) -> None:
    settings = settings_of(stack)
    vault = workspace_run(stack).one(VAULT)
    assert vault.input("properties.enableRbacAuthorization") is True
    assert vault.input("properties.accessPolicies") == []
    assert vault.input("properties.enableSoftDelete") is True
    assert vault.input("properties.softDeleteRetentionInDays") == settings.key_vault_retention_days
    assert vault.input("properties.tenantId") == OFFLINE_TENANT_ID
    assert vault.input("properties.sku") == {"family": "A", "name": "standard"}
    for service in ("Deployment", "DiskEncryption", "TemplateDeployment"):
        assert vault.input(f"properties.enabledFor{service}") is False


@pytest.mark.parametrize(
    ("stack", "overrides", "expected"),
    [
        ("prod", {}, True),
        ("dev", {}, None),
        ("dev", {"keyVaultPurgeProtection": True}, True),
        ("prod", {"keyVaultPurgeProtection": False}, None),
    ],
)
def test_purge_protection_follows_the_setting_and_is_never_sent_as_false(
    workspace_run, stack: str, overrides: dict[str, Any], expected: bool | None
) -> None:
    properties = workspace_run(stack, **overrides).one(VAULT).input("properties")
    # ARM refuses enablePurgeProtection=false, so "off" means the key is absent.
    assert properties.get("enablePurgeProtection") is expected
    assert "enablePurgeProtection" in properties or expected is None


def test_key_vault_retention_follows_the_setting(workspace_run) -> None:
    vault = workspace_run("dev", keyVaultRetentionDays=30).one(VAULT)
    assert vault.input("properties.softDeleteRetentionInDays") == 30


# --- Registry --------------------------------------------------------------------------------------


def test_registry_has_no_admin_user_and_no_anonymous_pull(stack: str, workspace_run) -> None:
    registry = workspace_run(stack).one(REGISTRY)
    assert registry.input("adminUserEnabled") is False
    assert registry.input("anonymousPullEnabled") is False
    assert registry.input("sku.name") == settings_of(stack).registry_sku


def test_registry_sku_follows_the_setting(workspace_run) -> None:
    registry = workspace_run("dev", registrySku="Standard", managedNetwork="Disabled").one(REGISTRY)
    assert registry.input("sku.name") == "Standard"


# --- Workspace -------------------------------------------------------------------------------------


def test_workspace_has_its_own_identity_and_is_linked_to_its_dependencies(
    stack: str, workspace_run
) -> None:
    result = workspace_run(stack)
    workspace = result.one(WORKSPACE)
    assert workspace.input("identity") == {"type": "SystemAssigned"}
    assert workspace.input("v1LegacyMode") is False
    assert workspace.input("kind") == "Default"
    assert workspace.input("storageAccount") == result.one(STORAGE).id
    assert workspace.input("keyVault") == result.one(VAULT).id
    assert workspace.input("applicationInsights") == result.one(APP_INSIGHTS).id
    assert workspace.input("containerRegistry") == result.one(REGISTRY).id
    assert workspace.input("location") == settings_of(stack).location


@pytest.mark.parametrize("access", ["Enabled", "Disabled"])
def test_public_network_access_follows_the_setting(workspace_run, access: str) -> None:
    workspace = workspace_run("prod", publicNetworkAccess=access).one(WORKSPACE)
    assert workspace.input("publicNetworkAccess") == access


@pytest.mark.parametrize("mode", ["Disabled", "AllowInternetOutbound", "AllowOnlyApprovedOutbound"])
def test_outbound_rules_exist_only_when_only_approved_outbound_is_allowed(
    workspace_run, mode: str
) -> None:
    workspace = workspace_run("prod", managedNetwork=mode).one(WORKSPACE)
    network = workspace.input("managedNetwork")
    assert network["isolationMode"] == mode
    # Online deployments need the managed network provisioned before they are created.
    assert workspace.input("provisionNetworkNow") is (True if mode != "Disabled" else None)
    if mode != "AllowOnlyApprovedOutbound":
        assert "outboundRules" not in network
        assert "firewallSku" not in network
        return
    rules = network["outboundRules"]
    assert sorted(rule["destination"] for rule in rules.values()) == sorted(
        settings_of("prod").outbound_fqdns
    )
    for rule_name, rule in rules.items():
        assert OUTBOUND_RULE_NAME_PATTERN.match(rule_name), rule_name
        assert rule["type"] == "FQDN"
        assert rule["category"] == "UserDefined"
    assert network["firewallSku"] == "Standard"


def test_default_stacks_choose_their_documented_network_modes(workspace_run) -> None:
    prod = workspace_run("prod").one(WORKSPACE).input("managedNetwork")
    dev = workspace_run("dev").one(WORKSPACE).input("managedNetwork")
    assert prod["isolationMode"] == "AllowOnlyApprovedOutbound"
    assert "huggingface.co" in {rule["destination"] for rule in prod["outboundRules"].values()}
    # No hourly firewall in dev.
    assert dev["isolationMode"] == "AllowInternetOutbound"


def test_firewall_sku_follows_the_setting(workspace_run) -> None:
    network = workspace_run("prod", firewallSku="Basic").one(WORKSPACE).input("managedNetwork")
    assert network["firewallSku"] == "Basic"


def test_wildcard_hosts_become_valid_rules(workspace_run) -> None:
    hosts = ["*.docker.io", "huggingface.co", "a-very-long-host-name.cdn.example-mirror.org"]
    network = workspace_run("prod", outboundFqdns=hosts).one(WORKSPACE).input("managedNetwork")
    rules = network["outboundRules"]
    assert sorted(rule["destination"] for rule in rules.values()) == sorted(hosts)
    assert all(OUTBOUND_RULE_NAME_PATTERN.match(name) for name in rules)


def test_outbound_rule_names_are_valid_stable_and_distinct() -> None:
    hosts = [
        "huggingface.co",
        "*.huggingface.co",
        "cdn-lfs-us-1.huggingface.co",
        "cas-bridge.xethub.hf.co",
        "x" * 40 + ".example.com",
        "x" * 40 + ".example.org",
    ]
    names = [outbound_rule_name(host) for host in hosts]
    assert all(OUTBOUND_RULE_NAME_PATTERN.match(name) for name in names), names
    assert len(set(names)) == len(names)
    assert names == [outbound_rule_name(host) for host in hosts]


# --- Monitoring ------------------------------------------------------------------------------------


def test_log_analytics_retention_and_workspace_based_app_insights(
    stack: str, workspace_run
) -> None:
    result = workspace_run(stack)
    log_analytics = result.one(LOG_ANALYTICS)
    assert log_analytics.input("retentionInDays") == settings_of(stack).log_retention_days
    assert log_analytics.input("sku.name") == "PerGB2018"
    insights = result.one(APP_INSIGHTS)
    assert insights.input("workspaceResourceId") == log_analytics.id
    assert insights.input("ingestionMode") == "LogAnalytics"
    retention = workspace_run(stack, logRetentionDays=90).one(LOG_ANALYTICS)
    assert retention.input("retentionInDays") == 90


def test_workspace_registry_and_vault_send_logs_and_metrics_to_log_analytics(
    stack: str, workspace_run
) -> None:
    result = workspace_run(stack)
    targets = {result.one(kind).id for kind in (WORKSPACE, REGISTRY, VAULT)}
    settings = result.of_type(DIAGNOSTICS)
    assert {setting.input("resourceUri") for setting in settings} == targets
    assert len(settings) == len(targets)
    for setting in settings:
        assert setting.input("workspaceId") == result.one(LOG_ANALYTICS).id
        assert setting.input("logs") == [{"categoryGroup": "allLogs", "enabled": True}]
        assert setting.input("metrics") == [{"category": "AllMetrics", "enabled": True}]


# --- Tags, protection, names -----------------------------------------------------------------------


def _accepts_tags(type_token: str) -> bool:
    """Whether the azure-native resource class for ``type_token`` takes a ``tags`` argument."""
    _, module, kind = type_token.split(":")
    resource_class = getattr(importlib.import_module(f"pulumi_azure_native.{module}"), kind)
    return "tags" in inspect.signature(resource_class._internal_init).parameters


def test_every_taggable_resource_carries_the_stack_tags(stack: str, workspace_run) -> None:
    expected = settings_of(stack, tags={"data-classification": "internal"}).tags
    result = workspace_run(stack, tags={"data-classification": "internal"})
    taggable = [r for r in result.resources if r.custom and _accepts_tags(r.type)]
    assert {r.type for r in taggable} >= {
        RESOURCE_GROUP,
        LOG_ANALYTICS,
        APP_INSIGHTS,
        STORAGE,
        VAULT,
        REGISTRY,
        WORKSPACE,
    }
    for resource in taggable:
        assert resource.input("tags") == expected, resource.name
    assert expected["owner"] == settings_of(stack).owner
    assert expected["data-classification"] == "internal"


STATEFUL = {RESOURCE_GROUP, STORAGE, VAULT, REGISTRY, WORKSPACE}


@pytest.mark.parametrize(
    ("stack", "overrides", "protected"),
    [
        ("prod", {}, True),
        ("dev", {}, False),
        ("dev", {"protectResources": True}, True),
        ("prod", {"protectResources": False}, False),
    ],
)
def test_stateful_resources_are_protected_when_the_stack_asks(
    workspace_run, stack: str, overrides: dict[str, Any], protected: bool
) -> None:
    result = workspace_run(stack, **overrides)
    for resource in result.resources:
        should = protected and resource.type in STATEFUL
        assert resource.protect is should, resource.name
    assert {r.type for r in result.resources} >= STATEFUL


def test_a_given_resource_group_is_used_not_created(workspace_run) -> None:
    result = workspace_run("dev", resourceGroupName="rg-shared-ml")
    assert result.of_type(RESOURCE_GROUP) == []
    assert result.outputs["resource_group_name"] == "rg-shared-ml"
    for resource in result.resources:
        if "resourceGroupName" in resource.inputs:
            assert resource.input("resourceGroupName") == "rg-shared-ml", resource.name


@pytest.mark.parametrize("salt", ["", "r2"])
def test_names_follow_azure_rules(stack: str, workspace_run, salt: str) -> None:
    result = workspace_run(stack, nameSalt=salt)
    storage_name = result.one(STORAGE).input("accountName")
    registry_name = result.one(REGISTRY).input("registryName")
    vault_name = result.one(VAULT).input("vaultName")
    workspace_name = result.one(WORKSPACE).input("workspaceName")
    assert re.fullmatch(r"[a-z0-9]{3,24}", storage_name)
    assert re.fullmatch(r"[a-zA-Z0-9]{5,50}", registry_name)
    assert re.fullmatch(r"[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]", vault_name)
    assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}", workspace_name)


def test_name_salt_changes_the_globally_unique_names(workspace_run) -> None:
    def names(result: ProgramRun) -> set[str]:
        return {
            result.one(STORAGE).input("accountName"),
            result.one(REGISTRY).input("registryName"),
            result.one(VAULT).input("vaultName"),
        }

    assert names(workspace_run("dev")).isdisjoint(names(workspace_run("dev", nameSalt="r2")))


# --- Outputs and determinism -----------------------------------------------------------------------


def test_outputs_describe_the_created_resources(stack: str, workspace_run) -> None:
    result = workspace_run(stack)
    outputs = result.outputs
    vault, registry = result.one(VAULT), result.one(REGISTRY)
    assert outputs["workspace_name"] == result.one(WORKSPACE).input("workspaceName")
    assert outputs["workspace_id"] == result.one(WORKSPACE).id
    assert GUID.match(outputs["workspace_principal_id"])
    assert outputs["registry_name"] == registry.input("registryName")
    assert outputs["registry_id"] == registry.id
    assert outputs["registry_login_server"] == f"{registry.input('registryName')}.azurecr.io"
    assert outputs["key_vault_name"] == vault.input("vaultName")
    assert outputs["key_vault_id"] == vault.id
    assert outputs["key_vault_uri"] == f"https://{vault.input('vaultName')}.vault.azure.net/"
    assert outputs["storage_account_id"] == result.one(STORAGE).id
    assert outputs["log_analytics_workspace_id"] == result.one(LOG_ANALYTICS).id
    assert outputs["application_insights_id"] == result.one(APP_INSIGHTS).id
    assert outputs["resource_group_name"] == settings_of(stack).resource_group_name or (
        f"rg-vllm-azureml-{stack}"
    )


def test_same_configuration_declares_identical_inputs(stack: str, workspace_run) -> None:
    def snapshot(result: ProgramRun) -> str:
        return json.dumps(
            sorted((r.name, r.type, r.inputs, r.protect) for r in result.resources),
            sort_keys=True,
        )

    assert snapshot(workspace_run(stack)) == snapshot(workspace_run(stack))


# --- Role assignments ------------------------------------------------------------------------------


def test_no_role_assignment_without_secrets_to_manage(stack: str, workspace_run) -> None:
    # AzureML grants the workspace identity its roles itself; duplicates would fail with
    # RoleAssignmentExists. Without a Hugging Face token the vault holds no Pulumi secrets either.
    assert workspace_run(stack).of_type(ROLE_ASSIGNMENT) == []


@pytest.mark.parametrize("principal_type", ["User", "ServicePrincipal"])
def test_deployer_may_manage_secrets_of_this_vault_only(
    run: RunProgram, stack: str, principal_type: str
) -> None:
    def secret(workspace: MlWorkspace) -> None:
        keyvault.Secret(
            "token",
            secret_name="hugging-face-token",
            vault_name=workspace.key_vault_name,
            resource_group_name=workspace.resource_group_name,
            properties=keyvault.SecretPropertiesArgs(value="value"),
        )

    result = run(
        stack,
        program=workspace_program(also=secret),
        huggingFaceToken=TOKEN,
        deployerPrincipalType=principal_type,
    )
    (assignment,) = result.of_type(ROLE_ASSIGNMENT)
    vault_id = result.one(VAULT).id
    role = (
        f"/subscriptions/{OFFLINE_SUBSCRIPTION_ID}/providers/Microsoft.Authorization/"
        f"roleDefinitions/{KEY_VAULT_SECRETS_OFFICER}"
    )
    assert assignment.input("scope") == vault_id
    assert assignment.input("roleDefinitionId") == role
    assert assignment.input("principalId") == OFFLINE_OBJECT_ID
    assert assignment.input("principalType") == principal_type
    assert assignment.input("roleAssignmentName") == role_assignment_name(
        vault_id, OFFLINE_OBJECT_ID, role
    )
    # A secret written under the published vault name is created after the role exists and,
    # on destroy, deleted before it (azure-native deletes secrets through the data plane).
    assert assignment.urn in result.one(SECRET).dependencies


SCOPES = {
    "registry": f"/subscriptions/{OFFLINE_SUBSCRIPTION_ID}/resourceGroups/rg/providers/"
    "Microsoft.ContainerRegistry/registries/crone",
    "vault": "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/"
    "Microsoft.KeyVault/vaults/kv-one",
}
PRINCIPALS = ("aaaaaaaa-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002")


def grants_program() -> None:
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


def test_role_assignments_are_scoped_deterministic_and_fully_qualified(run: RunProgram) -> None:
    first = run("dev", program=grants_program).of_type(ROLE_ASSIGNMENT)
    second = run("dev", program=grants_program).of_type(ROLE_ASSIGNMENT)
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

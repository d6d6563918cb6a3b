"""The workspace component under mocks, declared with args written out here: its security
properties (and that each configurable one follows its arg), the deployer's role, tags, protection
and outputs. How each stack's settings reach these args is tests/test_wiring.py's job."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from typing import Any

import pytest
from pulumi_azure_native import keyvault

from components.workspace import (
    BLOB_SOFT_DELETE_DAYS,
    OUTBOUND_RULE_NAME_PATTERN,
    MlWorkspace,
    MlWorkspaceArgs,
    WorkspaceNames,
    outbound_rule_name,
)
from lib.roles import role_assignment_name
from tests.support.components import declare, outputs_of
from tools.offline import OFFLINE_SUBSCRIPTION_ID, ProgramRun

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
SECRET = "azure-native:keyvault:Secret"
# Built-in role GUID, written out from Azure's built-in roles reference (not imported from the
# code under test, so a wrong constant there fails here).
KEY_VAULT_SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"

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
TENANT = "11111111-0000-0000-0000-000000000001"
DEPLOYER = "22222222-0000-0000-0000-000000000002"
HOSTS = ("huggingface.co", "cdn-lfs.hf.co")

# Values chosen to differ from the settings' defaults, so a pass-through is told from a constant.
ARGS = MlWorkspaceArgs(
    project="vllm-azureml",
    stack="test",
    location="westeurope",
    tags={"owner": "ml-team", "cost-center": "cc-1", "data-classification": "internal"},
    names=WorkspaceNames(
        resource_group="rg-test",
        log_analytics="log-test",
        application_insights="appi-test",
        storage_account="sttest4k2x9z",
        key_vault="kv-test-4k2x9z",
        registry="crtest4k2x9z",
        workspace="mlw-test",
    ),
    create_resource_group=True,
    tenant_id=TENANT,
    protect_resources=True,
    log_retention_days=45,
    key_vault_retention_days=21,
    key_vault_purge_protection=True,
    registry_sku="Premium",
    public_network_access="Disabled",
    managed_network="AllowOnlyApprovedOutbound",
    outbound_fqdns=HOSTS,
    firewall_sku="Standard",
    secrets_officer_principal_id=None,
    secrets_officer_principal_type="User",
)


def declare_workspace(**changes: Any) -> ProgramRun:
    """The workspace alone, with ``ARGS`` changed by ``changes``; its outputs exported."""
    args = dataclasses.replace(ARGS, **changes)
    return declare(lambda: outputs_of(MlWorkspace("workspace", args), OUTPUTS))


# --- Storage ---------------------------------------------------------------------------------------


def test_storage_accepts_only_entra_id_over_tls_1_2() -> None:
    result = declare_workspace()
    account = result.one(STORAGE)
    assert account.input("accountName") == ARGS.names.storage_account
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


def test_blob_soft_delete_is_on_for_the_workspace_storage() -> None:
    result = declare_workspace()
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


def test_key_vault_is_rbac_only_with_soft_delete() -> None:
    vault = declare_workspace().one(VAULT)
    assert vault.input("vaultName") == ARGS.names.key_vault
    assert vault.input("properties.enableRbacAuthorization") is True
    assert vault.input("properties.accessPolicies") == []
    assert vault.input("properties.enableSoftDelete") is True
    assert vault.input("properties.softDeleteRetentionInDays") == ARGS.key_vault_retention_days
    assert vault.input("properties.tenantId") == TENANT
    assert vault.input("properties.sku") == {"family": "A", "name": "standard"}
    for service in ("Deployment", "DiskEncryption", "TemplateDeployment"):
        assert vault.input(f"properties.enabledFor{service}") is False


@pytest.mark.parametrize(("purge_protection", "expected"), [(True, True), (False, None)])
def test_purge_protection_follows_its_arg_and_is_never_sent_as_false(
    purge_protection: bool, expected: bool | None
) -> None:
    result = declare_workspace(key_vault_purge_protection=purge_protection)
    properties = result.one(VAULT).input("properties")
    # ARM refuses enablePurgeProtection=false, so "off" means the key is absent.
    assert properties.get("enablePurgeProtection", "absent") == (
        "absent" if expected is None else expected
    )


# --- Registry --------------------------------------------------------------------------------------


@pytest.mark.parametrize("sku", ["Premium", "Standard"])
def test_registry_has_no_admin_user_no_anonymous_pull_and_its_sku(sku: str) -> None:
    registry = declare_workspace(registry_sku=sku, managed_network="Disabled").one(REGISTRY)
    assert registry.input("registryName") == ARGS.names.registry
    assert registry.input("adminUserEnabled") is False
    assert registry.input("anonymousPullEnabled") is False
    assert registry.input("sku.name") == sku


# --- Workspace -------------------------------------------------------------------------------------


def test_workspace_has_its_own_identity_and_is_linked_to_its_dependencies() -> None:
    result = declare_workspace()
    workspace = result.one(WORKSPACE)
    assert workspace.input("workspaceName") == ARGS.names.workspace
    assert workspace.input("identity") == {"type": "SystemAssigned"}
    assert workspace.input("v1LegacyMode") is False
    assert workspace.input("kind") == "Default"
    assert workspace.input("storageAccount") == result.one(STORAGE).id
    assert workspace.input("keyVault") == result.one(VAULT).id
    assert workspace.input("applicationInsights") == result.one(APP_INSIGHTS).id
    assert workspace.input("containerRegistry") == result.one(REGISTRY).id
    assert workspace.input("location") == ARGS.location
    assert workspace.input("friendlyName") == "vllm-azureml (test)"


@pytest.mark.parametrize("access", ["Enabled", "Disabled"])
def test_public_network_access_follows_its_arg(access: str) -> None:
    workspace = declare_workspace(public_network_access=access).one(WORKSPACE)
    assert workspace.input("publicNetworkAccess") == access


@pytest.mark.parametrize("mode", ["Disabled", "AllowInternetOutbound", "AllowOnlyApprovedOutbound"])
def test_outbound_rules_exist_only_when_only_approved_outbound_is_allowed(mode: str) -> None:
    workspace = declare_workspace(managed_network=mode).one(WORKSPACE)
    network = workspace.input("managedNetwork")
    assert network["isolationMode"] == mode
    # Online deployments need the managed network provisioned before they are created.
    assert workspace.input("provisionNetworkNow") is (True if mode != "Disabled" else None)
    if mode != "AllowOnlyApprovedOutbound":
        assert "outboundRules" not in network
        assert "firewallSku" not in network
        return
    rules = network["outboundRules"]
    assert sorted(rule["destination"] for rule in rules.values()) == sorted(HOSTS)
    for rule_name, rule in rules.items():
        assert OUTBOUND_RULE_NAME_PATTERN.match(rule_name), rule_name
        assert rule["type"] == "FQDN"
        assert rule["category"] == "UserDefined"
    assert network["firewallSku"] == "Standard"


def test_firewall_sku_follows_its_arg() -> None:
    network = declare_workspace(firewall_sku="Basic").one(WORKSPACE).input("managedNetwork")
    assert network["firewallSku"] == "Basic"


def test_wildcard_hosts_become_valid_rules() -> None:
    hosts = ("*.docker.io", "huggingface.co", "a-very-long-host-name.cdn.example-mirror.org")
    network = declare_workspace(outbound_fqdns=hosts).one(WORKSPACE).input("managedNetwork")
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


def test_log_analytics_retention_and_workspace_based_app_insights() -> None:
    result = declare_workspace()
    log_analytics = result.one(LOG_ANALYTICS)
    assert log_analytics.input("workspaceName") == ARGS.names.log_analytics
    assert log_analytics.input("retentionInDays") == ARGS.log_retention_days
    assert log_analytics.input("sku.name") == "PerGB2018"
    insights = result.one(APP_INSIGHTS)
    assert insights.input("resourceName") == ARGS.names.application_insights
    assert insights.input("workspaceResourceId") == log_analytics.id
    assert insights.input("ingestionMode") == "LogAnalytics"
    retention = declare_workspace(log_retention_days=90).one(LOG_ANALYTICS)
    assert retention.input("retentionInDays") == 90


def test_workspace_registry_and_vault_send_logs_and_metrics_to_log_analytics() -> None:
    result = declare_workspace()
    targets = {result.one(kind).id for kind in (WORKSPACE, REGISTRY, VAULT)}
    settings = result.of_type(DIAGNOSTICS)
    assert {setting.input("resourceUri") for setting in settings} == targets
    assert len(settings) == len(targets)
    for setting in settings:
        assert setting.input("workspaceId") == result.one(LOG_ANALYTICS).id
        assert setting.input("logs") == [{"categoryGroup": "allLogs", "enabled": True}]
        assert setting.input("metrics") == [{"category": "AllMetrics", "enabled": True}]


# --- Tags, protection, resource group --------------------------------------------------------------


def accepts_tags(type_token: str) -> bool:
    """Whether the azure-native resource class for ``type_token`` takes a ``tags`` argument
    (dynamic resources, such as the managed-network provisioning, are not ARM resources)."""
    if not type_token.startswith("azure-native:"):
        return False
    _, module, kind = type_token.split(":")
    resource_class = getattr(importlib.import_module(f"pulumi_azure_native.{module}"), kind)
    return "tags" in inspect.signature(resource_class._internal_init).parameters


def test_every_taggable_resource_carries_the_given_tags() -> None:
    result = declare_workspace()
    taggable = [r for r in result.resources if r.custom and accepts_tags(r.type)]
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
        assert resource.input("tags") == ARGS.tags, resource.name


STATEFUL = {RESOURCE_GROUP, STORAGE, VAULT, REGISTRY, WORKSPACE}


@pytest.mark.parametrize("protect", [True, False])
def test_stateful_resources_and_only_they_are_protected_when_asked(protect: bool) -> None:
    # With the deployer's role assignment too: it must not inherit the protection.
    result = declare_workspace(protect_resources=protect, secrets_officer_principal_id=DEPLOYER)
    for resource in result.resources:
        should = protect and resource.type in STATEFUL
        assert resource.protect is should, resource.name
    assert {r.type for r in result.resources} >= STATEFUL | {ROLE_ASSIGNMENT}


def test_a_given_resource_group_is_used_not_created() -> None:
    names = dataclasses.replace(ARGS.names, resource_group="rg-shared-ml")
    result = declare_workspace(names=names, create_resource_group=False)
    assert result.of_type(RESOURCE_GROUP) == []
    assert result.outputs["resource_group_name"] == "rg-shared-ml"
    for resource in result.resources:
        if "resourceGroupName" in resource.inputs:
            assert resource.input("resourceGroupName") == "rg-shared-ml", resource.name


def test_outputs_describe_the_created_resources() -> None:
    result = declare_workspace()
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
    assert outputs["resource_group_name"] == "rg-test"
    assert result.one(RESOURCE_GROUP).input("resourceGroupName") == "rg-test"


# --- The deployer's role ---------------------------------------------------------------------------


def test_no_role_assignment_without_secrets_to_manage() -> None:
    # AzureML grants the workspace identity its roles itself; duplicates would fail with
    # RoleAssignmentExists. Without a secrets officer the vault holds no Pulumi secrets either.
    assert declare_workspace().of_type(ROLE_ASSIGNMENT) == []


@pytest.mark.parametrize("principal_type", ["User", "ServicePrincipal"])
def test_deployer_may_manage_secrets_of_this_vault_only(principal_type: str) -> None:
    args = dataclasses.replace(
        ARGS, secrets_officer_principal_id=DEPLOYER, secrets_officer_principal_type=principal_type
    )

    def build() -> None:
        workspace = MlWorkspace("workspace", args)
        keyvault.Secret(
            "token",
            secret_name="hugging-face-token",
            vault_name=workspace.key_vault_name,
            resource_group_name=workspace.resource_group_name,
            properties=keyvault.SecretPropertiesArgs(value="value"),
        )

    result = declare(build)
    (assignment,) = result.of_type(ROLE_ASSIGNMENT)
    vault_id = result.one(VAULT).id
    role = (
        f"/subscriptions/{OFFLINE_SUBSCRIPTION_ID}/providers/Microsoft.Authorization/"
        f"roleDefinitions/{KEY_VAULT_SECRETS_OFFICER}"
    )
    assert assignment.input("scope") == vault_id
    assert assignment.input("roleDefinitionId") == role
    assert assignment.input("principalId") == DEPLOYER
    assert assignment.input("principalType") == principal_type
    assert assignment.input("roleAssignmentName") == role_assignment_name(vault_id, DEPLOYER, role)
    # A secret written under the published vault name is created after the role exists and,
    # on destroy, deleted before it (azure-native deletes secrets through the data plane).
    assert assignment.urn in result.one(SECRET).dependencies

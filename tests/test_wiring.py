"""How __main__.py maps each stack's settings to the components' args: the whole program under
mocks, for every committed stack and for the settings no committed stack uses. What each component
does with its args is tests/components/'s job; this file checks that each setting arrives."""

from __future__ import annotations

import re
from typing import Any

import pytest

from settings import Settings, load_settings
from tests.conftest import RunProgram, stack_entries
from tools.offline import OFFLINE_OBJECT_ID, OFFLINE_TENANT_ID, ProgramRun, RecordedResource

RESOURCE_GROUP = "azure-native:resources:ResourceGroup"
LOG_ANALYTICS = "azure-native:operationalinsights:Workspace"
STORAGE = "azure-native:storage:StorageAccount"
VAULT = "azure-native:keyvault:Vault"
REGISTRY = "azure-native:containerregistry:Registry"
WORKSPACE = "azure-native:machinelearningservices:Workspace"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
SECRET = "azure-native:keyvault:Secret"
IMPORT = "pulumi-python:dynamic/containerregistry:ImportImage"
CACHE_RULE = "azure-native:containerregistry:CacheRule"
IMAGE = "docker:index/image:Image"
ENDPOINT = "azure-native:machinelearningservices:OnlineEndpoint"
DEPLOYMENT = "azure-native:machinelearningservices:OnlineDeployment"
TRAFFIC = "pulumi-python:dynamic/traffic:EndpointTraffic"
AUTOSCALE_SETTING = "azure-native:monitor:AutoscaleSetting"
WORKSPACE_COMPONENT = "vllm-azureml:workspace:MlWorkspace"
STATEFUL = {RESOURCE_GROUP, STORAGE, VAULT, REGISTRY, WORKSPACE}
# A Pulumi secret from the stack file, as the CLI would hand it over (encrypted).
TOKEN = {"secure": "v1:encrypted-in-the-stack-file"}
ENABLED = {"enabled": True, "minInstances": 1, "defaultInstances": 2, "maxInstances": 4}


def settings_of(stack: str, **overrides: Any) -> Settings:
    return load_settings(stack_entries(stack, overrides), stack)


def children_of(result: ProgramRun, component_type: str) -> list[RecordedResource]:
    (component,) = result.of_type(component_type)
    return [r for r in result.resources if r.parent == component.urn]


# --- Workspace -------------------------------------------------------------------------------------


def test_each_stack_configures_its_workspace(stack: str, stack_run: ProgramRun) -> None:
    settings = settings_of(stack)
    vault = stack_run.one(VAULT).inputs["properties"]
    assert vault["softDeleteRetentionInDays"] == settings.key_vault_retention_days
    # ARM refuses enablePurgeProtection=false, so "off" is absent.
    assert vault.get("enablePurgeProtection") is (
        True if settings.key_vault_purge_protection else None
    )
    assert vault["tenantId"] == OFFLINE_TENANT_ID
    assert stack_run.one(REGISTRY).input("sku.name") == settings.registry_sku
    assert stack_run.one(LOG_ANALYTICS).input("retentionInDays") == settings.log_retention_days
    workspace = stack_run.one(WORKSPACE)
    assert workspace.input("location") == settings.location
    assert workspace.input("friendlyName") == f"{settings.project} ({stack})"
    assert workspace.input("publicNetworkAccess") == settings.public_network_access
    network = workspace.input("managedNetwork")
    assert network["isolationMode"] == settings.managed_network
    if settings.managed_network == "AllowOnlyApprovedOutbound":
        destinations = sorted(rule["destination"] for rule in network["outboundRules"].values())
        assert destinations == sorted(settings.outbound_fqdns)
        assert network["firewallSku"] == settings.firewall_sku
    for resource in children_of(stack_run, WORKSPACE_COMPONENT):
        assert resource.protect is (settings.protect_resources and resource.type in STATEFUL)
        if "tags" in resource.inputs:
            assert resource.input("tags") == settings.tags, resource.name


def test_default_stacks_choose_their_documented_protection_and_network_modes(
    run: RunProgram,
) -> None:
    prod, dev = run("prod"), run("dev")
    prod_network = prod.one(WORKSPACE).input("managedNetwork")
    assert prod_network["isolationMode"] == "AllowOnlyApprovedOutbound"
    assert "huggingface.co" in {r["destination"] for r in prod_network["outboundRules"].values()}
    # No hourly firewall in dev.
    assert dev.one(WORKSPACE).input("managedNetwork")["isolationMode"] == "AllowInternetOutbound"
    # prod keeps its vault, storage and workspace through a `pulumi destroy`; dev does not.
    assert prod.one(VAULT).input("properties.enablePurgeProtection") is True
    assert dev.one(VAULT).input("properties.enablePurgeProtection") is None
    assert prod.one(WORKSPACE).protect and not dev.one(WORKSPACE).protect


@pytest.mark.parametrize("salt", ["", "r2"])
def test_names_follow_azure_rules(stack: str, run: RunProgram, salt: str) -> None:
    result = run(stack, nameSalt=salt)
    storage_name = result.one(STORAGE).input("accountName")
    registry_name = result.one(REGISTRY).input("registryName")
    vault_name = result.one(VAULT).input("vaultName")
    workspace_name = result.one(WORKSPACE).input("workspaceName")
    assert re.fullmatch(r"[a-z0-9]{3,24}", storage_name)
    assert re.fullmatch(r"[a-zA-Z0-9]{5,50}", registry_name)
    assert re.fullmatch(r"[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]", vault_name)
    assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}", workspace_name)
    assert re.fullmatch(r"[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]", result.outputs["endpointName"])


def test_name_salt_changes_the_globally_unique_names(run: RunProgram) -> None:
    def names(result: ProgramRun) -> set[str]:
        return {
            result.one(STORAGE).input("accountName"),
            result.one(REGISTRY).input("registryName"),
            result.one(VAULT).input("vaultName"),
            result.one(ENDPOINT).input("endpointName"),
        }

    assert names(run("dev")).isdisjoint(names(run("dev", nameSalt="r2")))


def test_a_given_resource_group_is_used_not_created(run: RunProgram) -> None:
    result = run("dev", resourceGroupName="rg-shared-ml")
    assert result.of_type(RESOURCE_GROUP) == []
    assert result.outputs["resourceGroupName"] == "rg-shared-ml"
    for resource in result.resources:
        if "resourceGroupName" in resource.inputs:
            assert resource.input("resourceGroupName") == "rg-shared-ml", resource.name


@pytest.mark.parametrize("principal_type", ["User", "ServicePrincipal"])
def test_a_stored_token_makes_the_deployer_secrets_officer_and_the_endpoint_its_reader(
    run: RunProgram, principal_type: str
) -> None:
    result = run(
        "prod",
        huggingFaceToken=TOKEN,
        deployerPrincipalType=principal_type,
        # A token reaches deployments only from the Hub path (staging refuses gated models).
        weightsSource="huggingface",
    )
    vault, secret = result.one(VAULT), result.one(SECRET)
    grants = {r.input("scope"): r for r in key_vault_grants(result)}
    assert set(grants) == {vault.id, secret.id}
    assert grants[vault.id].input("principalId") == OFFLINE_OBJECT_ID
    assert grants[vault.id].input("principalType") == principal_type
    assert grants[secret.id].input("principalType") == "ServicePrincipal"
    # The secret lands in the workspace's vault, after the deployer may manage it.
    assert secret.input("vaultName") == vault.input("vaultName")
    assert grants[vault.id].urn in secret.dependencies


def key_vault_grants(result: ProgramRun) -> list:
    """Every role assignment but the metrics publisher's (one per deployment, below)."""
    return [
        r
        for r in result.of_type(ROLE_ASSIGNMENT)
        if not r.input("roleDefinitionId").endswith(MONITORING_METRICS_PUBLISHER)
    ]


def test_without_a_token_nobody_is_granted_anything(stack_run: ProgramRun) -> None:
    assert key_vault_grants(stack_run) == []
    assert stack_run.of_type(SECRET) == []


def test_the_endpoint_identity_publishes_metrics_on_each_deployment(
    stack_run: ProgramRun,
) -> None:
    deployments = {
        d.id for d in stack_run.of_type("azure-native:machinelearningservices:OnlineDeployment")
    }
    publishers = [
        r
        for r in stack_run.of_type(ROLE_ASSIGNMENT)
        if r.input("roleDefinitionId").endswith(MONITORING_METRICS_PUBLISHER)
    ]
    assert {r.input("scope") for r in publishers} == deployments
    endpoint = stack_run.one("azure-native:machinelearningservices:OnlineEndpoint")
    assert {r.input("principalId") for r in publishers} == {
        endpoint.outputs["identity"]["principalId"]
    }


# --- Image -----------------------------------------------------------------------------------------


def test_each_stack_builds_its_base_image_into_its_registry(
    stack: str, stack_run: ProgramRun
) -> None:
    settings = settings_of(stack)
    login_server = f"{stack_run.one(REGISTRY).input('registryName')}.azurecr.io"
    imported = stack_run.one(IMPORT)
    assert f"docker.io/{imported.input('source_image')}" == settings.base_image
    assert imported.input("registry_id") == stack_run.one(REGISTRY).id
    image = stack_run.one(IMAGE)
    assert image.input("imageName").startswith(f"{login_server}/{settings.project}:build-")
    assert stack_run.outputs["imageReference"].startswith(f"{login_server}/{settings.project}@")


def test_the_cache_rule_source_uses_the_named_credential_set(run: RunProgram) -> None:
    result = run("dev", baseImageSource="cacheRule", dockerHubCredentialSet="dockerhub-creds")
    assert result.of_type(IMPORT) == []
    rule = result.one(CACHE_RULE)
    assert rule.input("credentialSetResourceId").endswith("/credentialSets/dockerhub-creds")


# --- Endpoint --------------------------------------------------------------------------------------


def test_each_stack_configures_its_endpoint_and_deployments(
    stack: str, stack_run: ProgramRun
) -> None:
    settings = settings_of(stack)
    endpoint = stack_run.one(ENDPOINT)
    assert endpoint.input("location") == settings.location
    assert endpoint.input("properties.authMode") == settings.auth_mode
    assert endpoint.input("properties.publicNetworkAccess") == (
        settings.endpoint_public_network_access
    )
    assert endpoint.input("tags") == settings.tags
    assert endpoint.input("workspaceName") == stack_run.one(WORKSPACE).input("workspaceName")
    assert stack_run.outputs["endpointName"] == endpoint.input("endpointName")
    assert ("primaryKey" in stack_run.outputs) is (settings.auth_mode == "Key")
    deployments = {d.input("deploymentName"): d for d in stack_run.of_type(DEPLOYMENT)}
    assert set(deployments) == {d.name for d in settings.deployments}
    for expected in settings.deployments:
        assert deployments[expected.name].input("properties.instanceType") == expected.instance_type
    assert stack_run.one(TRAFFIC).input("traffic") == {
        d.name: d.traffic for d in settings.deployments
    }
    # The environment runs the image this stack built.
    environment = stack_run.one("azure-native:machinelearningservices:EnvironmentVersion")
    assert environment.input("properties.image") == stack_run.outputs["imageReference"]


def test_a_given_endpoint_name_and_network_access_are_used(run: RunProgram) -> None:
    result = run("dev", endpointName="my-endpoint-1", endpointPublicNetworkAccess="Disabled")
    endpoint = result.one(ENDPOINT)
    assert endpoint.input("endpointName") == "my-endpoint-1"
    # The endpoint's own switch, not the workspace's.
    assert endpoint.input("properties.publicNetworkAccess") == "Disabled"
    assert result.one(WORKSPACE).input("publicNetworkAccess") == "Enabled"


# --- Autoscale -------------------------------------------------------------------------------------


def test_one_setting_per_autoscaled_deployment_in_each_committed_stack(
    stack: str, stack_run: ProgramRun
) -> None:
    settings = settings_of(stack)
    deployment_ids = {d.input("deploymentName"): d.id for d in stack_run.of_type(DEPLOYMENT)}
    expected = {deployment_ids[d.name] for d in settings.autoscaled_deployments}
    found = stack_run.of_type(AUTOSCALE_SETTING)
    assert {s.input("targetResourceUri") for s in found} == expected
    for setting in found:
        assert setting.input("location") == settings.location
        assert setting.input("tags") == settings.tags
        assert setting.input("resourceGroupName") == stack_run.outputs["resourceGroupName"]


def test_prod_autoscales_and_dev_keeps_its_single_instance(run: RunProgram) -> None:
    assert run("prod").of_type(AUTOSCALE_SETTING)
    dev = run("dev")
    assert not dev.of_type(AUTOSCALE_SETTING)
    assert dev.one(DEPLOYMENT).input("sku.capacity") == 1


def test_only_autoscaled_deployments_get_a_setting_each_with_its_own_name(
    run: RunProgram,
) -> None:
    deployments = [
        {"name": "blue", "traffic": 50, "instanceCount": 2, "autoscale": ENABLED},
        {"name": "green", "traffic": 50, "instanceCount": 2, "autoscale": ENABLED},
        {"name": "canary", "traffic": 0},
    ]
    result = run("dev", deployments=deployments)
    ids = {d.input("deploymentName"): d.id for d in result.of_type(DEPLOYMENT)}
    found = result.of_type(AUTOSCALE_SETTING)
    assert {s.input("targetResourceUri") for s in found} == {ids["blue"], ids["green"]}
    # Unique per stack and deployment, so stacks sharing a resource group never collide.
    assert {s.input("autoscaleSettingName") for s in found} == {
        "autoscale-vllm-azureml-dev-blue",
        "autoscale-vllm-azureml-dev-green",
    }

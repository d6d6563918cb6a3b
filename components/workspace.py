"""The AzureML workspace and everything it depends on, secure unless a stack deliberately asks.

Modelled on Azure Verified Modules (avm/res/machine-learning-services/workspace): one resource group
per stack (or a given one), Log Analytics with workspace-based Application Insights, a storage
account that accepts only Entra ID, an RBAC-only Key Vault, a container registry without an admin
user, and the workspace itself with a system-assigned identity and a managed network. Diagnostic
settings send the workspace's, registry's and vault's logs and metrics to Log Analytics.

Role assignments: AzureML itself grants the workspace's system-assigned identity the roles it needs
on its storage account, key vault, registry and Application Insights when the workspace is created
("Role assignment creation: Managed by Microsoft", how-to-identity-based-service-authentication;
"covered by the role assignments granted during workspace creation", how-to-managed-network), and
restores them on recovery (concept-soft-delete). Declaring the same (principal, role, scope) again
under our own name fails with RoleAssignmentExists (MicrosoftDocs/azure-docs issues 80040, 80686),
so this component declares none of them. The one it does declare is the deployer's Key Vault
Secrets Officer role, when the stack stores secrets: azure-native deletes Key Vault secrets through
the vault's data plane (provider custom_keyvault.go), which an RBAC vault refuses to a mere ARM
Contributor. :func:`lib.roles.assign_role` gives other components (the endpoint's Key Vault Secrets User) the
same deterministic, resource-scoped assignments.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import (
    applicationinsights,
    containerregistry,
    keyvault,
    machinelearningservices,
    monitor,
    operationalinsights,
    resources,
    storage,
)

from components.managed_network import ManagedNetworkProvision, ManagedNetworkProvisionArgs
from lib.naming import stable_suffix
from lib.roles import KEY_VAULT_SECRETS_OFFICER_ROLE, assign_role

# Blob and container soft delete. Matches the 14 days an AzureML workspace stays soft-deleted, so a
# workspace recovered at the end of its window still finds the blobs it wrote (ARM allows 1-365).
BLOB_SOFT_DELETE_DAYS = 14

# Outbound rule names (the map keys of managedNetwork.outboundRules) follow the same pattern as the
# workspaces/outboundRules resource name in the ARM schema.
OUTBOUND_RULE_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$")


def outbound_rule_name(fqdn: str) -> str:
    """A readable, stable outbound-rule name for ``fqdn``: 3-33 characters, letters, digits, '-'
    and '_', starting with a letter or digit. Long names keep a hash so two hosts never collide."""
    readable = re.sub(r"[^a-zA-Z0-9_-]+", "-", fqdn.replace("*.", "any.")).strip("-_")
    name = f"fqdn-{readable}"
    if len(name) > 33:
        name = f"{name[:26].rstrip('-_')}-{stable_suffix(fqdn)}"
    return name


def _after(value: pulumi.Output[Any], *dependencies: pulumi.Output[Any]) -> pulumi.Output[Any]:
    """``value``, published only once ``dependencies`` exist, so whatever consumes it is created
    after them and, on destroy, deleted before them."""
    if not dependencies:
        return value
    return pulumi.Output.all(value, *dependencies).apply(lambda parts: parts[0])


@dataclass(frozen=True)
class WorkspaceNames:
    """The Azure names of the workspace and what it depends on (:class:`lib.naming.StackNames`
    computes them; the globally unique ones carry a subscription-derived suffix, so are Outputs)."""

    resource_group: str
    log_analytics: str
    application_insights: str
    storage_account: pulumi.Input[str]
    key_vault: pulumi.Input[str]
    registry: pulumi.Input[str]
    workspace: str


@dataclass(frozen=True)
class MlWorkspaceArgs:
    """What the workspace needs, as the stack's settings give it.

    ``create_resource_group`` False means ``names.resource_group`` is a group the stack was given:
    it is looked up (failing early if it is missing or out of reach), never created or deleted.
    ``secrets_officer_principal_id`` is who may create, replace and delete this vault's secrets
    (the identity running `pulumi up`, when the stack stores a secret there), of type
    ``secrets_officer_principal_type`` (User, Group or ServicePrincipal); None grants no one.
    ``managed_network`` is the workspace's isolation mode; ``outbound_fqdns`` and
    ``firewall_sku`` apply only with AllowOnlyApprovedOutbound.
    """

    project: str
    stack: str
    location: str
    tags: Mapping[str, str]
    names: WorkspaceNames
    create_resource_group: bool
    # The Entra ID tenant that owns the Key Vault.
    tenant_id: pulumi.Input[str]
    # Stateful resources (group, storage, vault, registry, workspace) are protected from destroy.
    protect_resources: bool
    log_retention_days: int
    key_vault_retention_days: int
    key_vault_purge_protection: bool
    registry_sku: str
    public_network_access: str
    managed_network: str
    outbound_fqdns: Sequence[str]
    firewall_sku: str
    secrets_officer_principal_id: pulumi.Input[str] | None
    secrets_officer_principal_type: str


class MlWorkspace(pulumi.ComponentResource):
    """An AzureML workspace with its resource group, monitoring, storage, key vault and registry.

    Security properties, all on by default: no shared-key or anonymous access to storage, HTTPS
    and TLS 1.2 only; RBAC-only Key Vault with soft delete (purge protection unless a stack turns
    it off); registry without admin user or anonymous pull; workspace with a system-assigned
    identity, v1 legacy mode off, identity-based access to its storage and a managed network
    whose outbound traffic is limited to approved hosts unless the stack chooses otherwise.
    Stateful resources are protected from `pulumi destroy` when ``protect_resources`` is on.
    """

    resource_group_name: pulumi.Output[str]
    workspace_name: pulumi.Output[str]
    workspace_id: pulumi.Output[str]
    workspace_principal_id: pulumi.Output[str]
    registry_name: pulumi.Output[str]
    registry_login_server: pulumi.Output[str]
    registry_id: pulumi.Output[str]
    key_vault_name: pulumi.Output[str]
    key_vault_id: pulumi.Output[str]
    key_vault_uri: pulumi.Output[str]
    storage_account_id: pulumi.Output[str]
    log_analytics_workspace_id: pulumi.Output[str]
    application_insights_id: pulumi.Output[str]
    # The provisioned managed network (status Active), which online deployments must wait for;
    # None with managedNetwork: Disabled.
    managed_network: ManagedNetworkProvision | None

    def __init__(
        self,
        name: str,
        args: MlWorkspaceArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("vllm-azureml:workspace:MlWorkspace", name, None, opts)
        resource_group_name = self._resource_group(name, args)
        log_analytics, application_insights = self._monitoring(name, args, resource_group_name)
        storage_account, blob_service = self._storage(name, args, resource_group_name)
        vault = self._key_vault(name, args, resource_group_name)
        registry = self._registry(name, args, resource_group_name)
        workspace = self._workspace(
            name,
            args,
            resource_group_name,
            storage_account=storage_account,
            blob_service=blob_service,
            vault=vault,
            application_insights=application_insights,
            registry=registry,
        )
        self._diagnostics(
            name,
            log_analytics,
            targets=(("workspace", workspace), ("registry", registry), ("key-vault", vault)),
        )
        vault_ready = self._secrets_officer(name, args, vault)
        self.managed_network = self._provision_network(name, args, workspace)

        self.resource_group_name = resource_group_name
        self.workspace_name = workspace.name
        self.workspace_id = workspace.id
        self.workspace_principal_id = workspace.identity.apply(
            lambda identity: identity.principal_id if identity else ""
        )
        self.registry_name = registry.name
        self.registry_login_server = registry.login_server
        self.registry_id = registry.id
        # Published only once the deployer's secrets role exists: secrets created with this name
        # then depend on the role assignment and are deleted before it on destroy.
        self.key_vault_name = _after(vault.name, *vault_ready)
        self.key_vault_id = _after(vault.id, *vault_ready)
        self.key_vault_uri = _after(vault.properties.vault_uri, *vault_ready)
        self.storage_account_id = storage_account.id
        self.log_analytics_workspace_id = log_analytics.id
        self.application_insights_id = application_insights.id
        self.register_outputs(
            {
                "resource_group_name": self.resource_group_name,
                "workspace_name": self.workspace_name,
                "workspace_id": self.workspace_id,
                "workspace_principal_id": self.workspace_principal_id,
                "registry_name": self.registry_name,
                "registry_login_server": self.registry_login_server,
                "registry_id": self.registry_id,
                "key_vault_name": self.key_vault_name,
                "key_vault_id": self.key_vault_id,
                "key_vault_uri": self.key_vault_uri,
                "storage_account_id": self.storage_account_id,
                "log_analytics_workspace_id": self.log_analytics_workspace_id,
                "application_insights_id": self.application_insights_id,
                "managed_network_status": (
                    self.managed_network.status if self.managed_network is not None else None
                ),
            }
        )

    def _provision_network(
        self, name: str, args: MlWorkspaceArgs, workspace: machinelearningservices.Workspace
    ) -> ManagedNetworkProvision | None:
        """Provision the managed network and wait until it is Active (ADR 0020): online
        deployments cannot be created before. Not declared without a managed network."""
        if args.managed_network == "Disabled":
            return None
        return ManagedNetworkProvision(
            f"{name}-managed-network",
            ManagedNetworkProvisionArgs(
                workspace_id=workspace.id, rules_revision=network_rules_revision(args)
            ),
            opts=self._child(),
        )

    def _child(self, **extra: Any) -> pulumi.ResourceOptions:
        """Options for a child. A fresh object each time: Pulumi takes ownership of the options
        it is given."""
        return pulumi.ResourceOptions(parent=self, protect=False, **extra)

    def _stateful(self, args: MlWorkspaceArgs, **extra: Any) -> pulumi.ResourceOptions:
        """Options for stateful resources: losing them loses secrets, images or the workspace's
        history, so they carry the stack's protection."""
        return pulumi.ResourceOptions(parent=self, protect=args.protect_resources, **extra)

    def _resource_group(self, name: str, args: MlWorkspaceArgs) -> pulumi.Output[str]:
        if not args.create_resource_group:
            # A group the stack was given: look it up (failing early if it is missing or out of
            # reach), never create or delete it.
            existing = resources.get_resource_group_output(
                resource_group_name=args.names.resource_group,
                opts=pulumi.InvokeOutputOptions(parent=self),
            )
            return existing.name
        # Protected like the stateful resources it holds: deleting or replacing the group (a
        # changed name) would take the workspace, vault, storage and registry with it, whatever
        # their own protect flags say.
        group = resources.ResourceGroup(
            f"{name}-resource-group",
            resource_group_name=args.names.resource_group,
            location=args.location,
            tags=args.tags,
            opts=self._stateful(args),
        )
        return group.name

    def _monitoring(
        self, name: str, args: MlWorkspaceArgs, resource_group_name: pulumi.Output[str]
    ) -> tuple[operationalinsights.Workspace, applicationinsights.Component]:
        """Log Analytics, and Application Insights writing into it."""
        log_analytics = operationalinsights.Workspace(
            f"{name}-log-analytics",
            workspace_name=args.names.log_analytics,
            resource_group_name=resource_group_name,
            location=args.location,
            sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
            retention_in_days=args.log_retention_days,
            tags=args.tags,
            opts=self._child(),
        )
        application_insights = applicationinsights.Component(
            f"{name}-application-insights",
            resource_name_=args.names.application_insights,
            resource_group_name=resource_group_name,
            location=args.location,
            kind="web",
            application_type="web",
            # Workspace-based: telemetry lands in the Log Analytics workspace above (classic,
            # standalone Application Insights is retired).
            ingestion_mode="LogAnalytics",
            workspace_resource_id=log_analytics.id,
            # Local (instrumentation-key) auth stays on: AzureML online deployments send their
            # telemetry with the connection string's instrumentation key, not with Entra ID.
            tags=args.tags,
            opts=self._child(),
        )
        return log_analytics, application_insights

    def _storage(
        self, name: str, args: MlWorkspaceArgs, resource_group_name: pulumi.Output[str]
    ) -> tuple[storage.StorageAccount, storage.BlobServiceProperties]:
        """The workspace's default storage account, Entra ID only, with blob soft delete."""
        storage_account = storage.StorageAccount(
            f"{name}-storage",
            account_name=args.names.storage_account,
            resource_group_name=resource_group_name,
            location=args.location,
            kind="StorageV2",
            # The workspace keeps little here (logs, code snapshots); the model comes from Hugging
            # Face and the image from the registry. LRS is the cheapest redundancy AzureML accepts.
            sku=storage.SkuArgs(name="Standard_LRS"),
            access_tier=storage.AccessTier.HOT,
            # AzureML's default storage must not have a hierarchical namespace.
            is_hns_enabled=False,
            allow_blob_public_access=False,
            enable_https_traffic_only=True,
            minimum_tls_version="TLS1_2",
            # No account keys or SAS: every caller uses Entra ID. AzureML supports this for the
            # workspace's default storage when the workspace uses identity-based access
            # (systemDatastoresAuthMode Identity in _workspace; how-to-disable-local-auth-storage,
            # in preview there). The endpoint's identity is granted blob access automatically.
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            tags=args.tags,
            opts=self._stateful(args),
        )
        blob_service = storage.BlobServiceProperties(
            f"{name}-blob-service",
            account_name=storage_account.name,
            resource_group_name=resource_group_name,
            blob_services_name="default",
            delete_retention_policy=storage.DeleteRetentionPolicyArgs(
                enabled=True, days=BLOB_SOFT_DELETE_DAYS
            ),
            container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(
                enabled=True, days=BLOB_SOFT_DELETE_DAYS
            ),
            # AzureML studio may add CORS rules for its own origins to this service; they are not
            # ours to remove on the next `pulumi up`.
            opts=self._child(ignore_changes=["cors"]),
        )
        return storage_account, blob_service

    def _key_vault(
        self, name: str, args: MlWorkspaceArgs, resource_group_name: pulumi.Output[str]
    ) -> keyvault.Vault:
        """An RBAC-only vault with soft delete, and purge protection unless the stack turns it
        off."""
        vault_properties: dict[str, Any] = {
            "tenant_id": args.tenant_id,
            "sku": keyvault.SkuArgs(family="A", name=keyvault.SkuName.STANDARD),
            # Azure RBAC decides who reads secrets, not vault access policies: one permission model
            # for the whole deployment, and role assignments can be scoped to a single secret.
            "enable_rbac_authorization": True,
            "access_policies": [],
            # Soft delete cannot be turned off; its retention is fixed when the vault is created.
            "enable_soft_delete": True,
            "soft_delete_retention_in_days": args.key_vault_retention_days,
            # None of these Azure services needs to read this vault.
            "enabled_for_deployment": False,
            "enabled_for_disk_encryption": False,
            "enabled_for_template_deployment": False,
        }
        if args.key_vault_purge_protection:
            # Irreversible once on. ARM refuses enablePurgeProtection=false outright ("the property
            # does not accept false"), so a stack without purge protection leaves it unset.
            vault_properties["enable_purge_protection"] = True
        return keyvault.Vault(
            f"{name}-key-vault",
            vault_name=args.names.key_vault,
            resource_group_name=resource_group_name,
            location=args.location,
            properties=keyvault.VaultPropertiesArgs(**vault_properties),
            tags=args.tags,
            opts=self._stateful(args),
        )

    def _registry(
        self, name: str, args: MlWorkspaceArgs, resource_group_name: pulumi.Output[str]
    ) -> containerregistry.Registry:
        """The container registry the vLLM image is pushed to, Entra ID only."""
        return containerregistry.Registry(
            f"{name}-registry",
            registry_name=args.names.registry,
            resource_group_name=resource_group_name,
            location=args.location,
            # Premium is what a managed network needs: the workspace's managed network reaches the
            # registry through a private endpoint, and only Premium registries have private
            # endpoints (artifact cache rules work on every tier). Premium also raises storage and
            # pull throughput for a ~10 GB vLLM image pulled by every new instance.
            sku=containerregistry.SkuArgs(name=args.registry_sku),
            # Pushes and pulls authenticate with Entra ID: the endpoint's identity has AcrPull and
            # the deployer exchanges an Entra token; a shared admin password would bypass both.
            admin_user_enabled=False,
            anonymous_pull_enabled=False,
            tags=args.tags,
            opts=self._stateful(args),
        )

    def _workspace(
        self,
        name: str,
        args: MlWorkspaceArgs,
        resource_group_name: pulumi.Output[str],
        *,
        storage_account: storage.StorageAccount,
        blob_service: storage.BlobServiceProperties,
        vault: keyvault.Vault,
        application_insights: applicationinsights.Component,
        registry: containerregistry.Registry,
    ) -> machinelearningservices.Workspace:
        """The AzureML workspace, linked to its storage, vault, monitoring and registry."""
        return machinelearningservices.Workspace(
            f"{name}-workspace",
            workspace_name=args.names.workspace,
            resource_group_name=resource_group_name,
            location=args.location,
            kind="Default",
            sku=machinelearningservices.SkuArgs(
                name="Basic", tier=machinelearningservices.SkuTier.BASIC
            ),
            friendly_name=f"{args.project} ({args.stack})",
            description=f"vLLM serving for stack {args.stack}, managed by Pulumi.",
            identity=machinelearningservices.ManagedServiceIdentityArgs(type="SystemAssigned"),
            storage_account=storage_account.id,
            key_vault=vault.id,
            application_insights=application_insights.id,
            container_registry=registry.id,
            # The workspace reaches its storage with its managed identity, so the account's shared
            # keys can stay disabled (see _storage).
            system_datastores_auth_mode="Identity",
            v1_legacy_mode=False,
            public_network_access=args.public_network_access,
            managed_network=_managed_network(args),
            # Online deployments need the managed network to exist already ("To create an online
            # deployment, you must manually provision the managed network", how-to-managed-network).
            # Provisioning takes up to ~30 minutes, the first FQDN rule's firewall ~10 more.
            provision_network_now=True if args.managed_network != "Disabled" else None,
            tags=args.tags,
            # Created only once blob soft delete protects what it writes.
            opts=self._stateful(args, depends_on=[blob_service]),
        )

    def _diagnostics(
        self,
        name: str,
        log_analytics: operationalinsights.Workspace,
        targets: Sequence[tuple[str, pulumi.CustomResource]],
    ) -> None:
        """Each target's logs and metrics to Log Analytics; a target's role names its setting."""
        for role, target in targets:
            monitor.DiagnosticSetting(
                f"{name}-{role}-diagnostics",
                name="to-log-analytics",
                resource_uri=target.id,
                workspace_id=log_analytics.id,
                # Category groups follow the resource's categories as Azure adds them; allLogs
                # includes audit (Key Vault's AuditEvent, registry login events).
                logs=[monitor.DiagnosticsLogSettingsArgs(category_group="allLogs", enabled=True)],
                metrics=[
                    monitor.DiagnosticsMetricSettingsArgs(category="AllMetrics", enabled=True)
                ],
                opts=self._child(),
            )

    def _secrets_officer(
        self, name: str, args: MlWorkspaceArgs, vault: keyvault.Vault
    ) -> list[pulumi.Output[Any]]:
        """Key Vault Secrets Officer on this vault for ``secrets_officer_principal_id``, if any;
        returns what the published vault name must wait for.

        The endpoint component stores the Hugging Face token in this vault. azure-native creates
        secrets through ARM but deletes them through the vault's data plane, so without a data
        role on this RBAC vault the deployer could not replace or destroy the secret. ARM checks
        the principal type against Entra ID, hence the setting.
        """
        if args.secrets_officer_principal_id is None:
            return []
        officer = assign_role(
            f"{name}-deployer-secrets-officer",
            scope=vault.id,
            principal_id=args.secrets_officer_principal_id,
            role=KEY_VAULT_SECRETS_OFFICER_ROLE,
            principal_type=args.secrets_officer_principal_type,
            description="Deployer manages this stack's Key Vault secrets (Pulumi).",
            parent=self,
        )
        return [officer.id]


def network_rules_revision(args: MlWorkspaceArgs) -> str:
    """A fingerprint of what the managed network is declared to allow: a change provisions the
    network again, and deployments wait until it is Active with the new rules."""
    declared = {
        "isolation": args.managed_network,
        "fqdns": sorted(args.outbound_fqdns)
        if args.managed_network == "AllowOnlyApprovedOutbound"
        else [],
        "firewall": args.firewall_sku
        if args.managed_network == "AllowOnlyApprovedOutbound"
        else "",
    }
    return hashlib.sha256(json.dumps(declared, sort_keys=True).encode()).hexdigest()[:16]


def _managed_network(
    args: MlWorkspaceArgs,
) -> machinelearningservices.ManagedNetworkSettingsArgs:
    """The workspace's managed network: its isolation mode and, when only approved outbound
    traffic may leave, one FQDN rule per allowed host.

    The mode only tightens: ARM refuses AllowInternetOutbound -> Disabled and
    AllowOnlyApprovedOutbound -> AllowInternetOutbound (how-to-managed-network).
    """
    if args.managed_network != "AllowOnlyApprovedOutbound":
        return machinelearningservices.ManagedNetworkSettingsArgs(
            isolation_mode=args.managed_network
        )
    rules: dict[str, machinelearningservices.FqdnOutboundRuleArgs] = {}
    for fqdn in args.outbound_fqdns:
        # FQDN rules allow ports 80 and 443 only; a leading "*." is allowed (Microsoft's own
        # list uses *.docker.io).
        rules[outbound_rule_name(fqdn)] = machinelearningservices.FqdnOutboundRuleArgs(
            type="FQDN", category="UserDefined", destination=fqdn
        )
    return machinelearningservices.ManagedNetworkSettingsArgs(
        isolation_mode="AllowOnlyApprovedOutbound",
        outbound_rules=rules,
        # FQDN rules are enforced by an Azure Firewall that AzureML creates and bills hourly.
        # See README (Costs): Basic is far cheaper but shares 250 Mbps across every instance.
        firewall_sku=args.firewall_sku,
    )

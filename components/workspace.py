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
Contributor. :func:`assign_role` gives other components (the endpoint's Key Vault Secrets User) the
same deterministic, resource-scoped assignments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import (
    applicationinsights,
    authorization,
    containerregistry,
    keyvault,
    machinelearningservices,
    monitor,
    operationalinsights,
    resources,
    storage,
)

from lib.naming import StackNames, role_assignment_name, stable_suffix
from settings import Settings

# Built-in role definition GUIDs: identical in every tenant and subscription (Azure built-in roles
# reference). Only the ones this project assigns.
KEY_VAULT_SECRETS_USER_ROLE = "4633458b-17de-408a-b874-0445c86b69e6"
KEY_VAULT_SECRETS_OFFICER_ROLE = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"

# Blob and container soft delete. Matches the 14 days an AzureML workspace stays soft-deleted, so a
# workspace recovered at the end of its window still finds the blobs it wrote (ARM allows 1-365).
BLOB_SOFT_DELETE_DAYS = 14

# Outbound rule names (the map keys of managedNetwork.outboundRules) follow the same pattern as the
# workspaces/outboundRules resource name in the ARM schema.
OUTBOUND_RULE_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$")

_SUBSCRIPTION_IN_ID = re.compile(r"^/subscriptions/([^/]+)(/|$)", re.IGNORECASE)


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
class MlWorkspaceArgs:
    """What the workspace needs: the validated settings, the stack's names, the Entra ID tenant
    that owns the Key Vault, and the object id of the identity running `pulumi up` (granted Key
    Vault Secrets Officer on the vault when the stack stores a Hugging Face token there; its type
    is the ``deployerPrincipalType`` setting)."""

    settings: Settings
    names: StackNames
    tenant_id: pulumi.Input[str]
    deployer_principal_id: pulumi.Input[str] | None = None


class MlWorkspace(pulumi.ComponentResource):
    """An AzureML workspace with its resource group, monitoring, storage, key vault and registry.

    Security properties, all on by default: no shared-key or anonymous access to storage, HTTPS
    and TLS 1.2 only; RBAC-only Key Vault with soft delete (purge protection unless a stack turns
    it off); registry without admin user or anonymous pull; workspace with a system-assigned
    identity, v1 legacy mode off, identity-based access to its storage and a managed network
    whose outbound traffic is limited to approved hosts unless the stack chooses otherwise.
    Stateful resources are protected from `pulumi destroy` when ``protectResources`` is on.
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

    def __init__(
        self,
        name: str,
        args: MlWorkspaceArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("vllm-azureml:workspace:MlWorkspace", name, None, opts)
        settings, names = args.settings, args.names
        tags = settings.tags
        location = settings.location

        def child(protect: bool = False, **extra: Any) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, protect=protect, **extra)

        def stateful(**extra: Any) -> pulumi.ResourceOptions:
            """Options for stateful resources: losing them loses secrets, images or the
            workspace's history, so they carry the stack's protection. A fresh object each time:
            Pulumi takes ownership of the options it is given."""
            return child(protect=settings.protect_resources, **extra)

        # --- Resource group ------------------------------------------------------------------------
        if settings.resource_group_name:
            # A group the stack was given: look it up (failing early if it is missing or out of
            # reach), never create or delete it.
            existing = resources.get_resource_group_output(
                resource_group_name=settings.resource_group_name,
                opts=pulumi.InvokeOutputOptions(parent=self),
            )
            resource_group_name: pulumi.Output[str] = existing.name
        else:
            # Protected like the stateful resources it holds: deleting or replacing the group (a
            # changed name) would take the workspace, vault, storage and registry with it, whatever
            # their own protect flags say.
            group = resources.ResourceGroup(
                f"{name}-resource-group",
                resource_group_name=names.resource_group,
                location=location,
                tags=tags,
                opts=stateful(),
            )
            resource_group_name = group.name

        # --- Monitoring ----------------------------------------------------------------------------
        log_analytics = operationalinsights.Workspace(
            f"{name}-log-analytics",
            workspace_name=names.log_analytics,
            resource_group_name=resource_group_name,
            location=location,
            sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
            retention_in_days=settings.log_retention_days,
            tags=tags,
            opts=child(),
        )
        application_insights = applicationinsights.Component(
            f"{name}-application-insights",
            resource_name_=names.app_insights,
            resource_group_name=resource_group_name,
            location=location,
            kind="web",
            application_type="web",
            # Workspace-based: telemetry lands in the Log Analytics workspace above (classic,
            # standalone Application Insights is retired).
            ingestion_mode="LogAnalytics",
            workspace_resource_id=log_analytics.id,
            # Local (instrumentation-key) auth stays on: AzureML online deployments send their
            # telemetry with the connection string's instrumentation key, not with Entra ID.
            tags=tags,
            opts=child(),
        )

        # --- Storage ---------------------------------------------------------------------------------
        storage_account = storage.StorageAccount(
            f"{name}-storage",
            account_name=names.storage_account,
            resource_group_name=resource_group_name,
            location=location,
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
            # (systemDatastoresAuthMode Identity below; how-to-disable-local-auth-storage, in
            # preview there). The endpoint's identity is granted blob access automatically.
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            tags=tags,
            opts=stateful(),
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
            opts=child(ignore_changes=["cors"]),
        )

        # --- Key Vault -----------------------------------------------------------------------------
        vault_properties: dict[str, Any] = {
            "tenant_id": args.tenant_id,
            "sku": keyvault.SkuArgs(family="A", name=keyvault.SkuName.STANDARD),
            # Azure RBAC decides who reads secrets, not vault access policies: one permission model
            # for the whole deployment, and role assignments can be scoped to a single secret.
            "enable_rbac_authorization": True,
            "access_policies": [],
            # Soft delete cannot be turned off; its retention is fixed when the vault is created.
            "enable_soft_delete": True,
            "soft_delete_retention_in_days": settings.key_vault_retention_days,
            # None of these Azure services needs to read this vault.
            "enabled_for_deployment": False,
            "enabled_for_disk_encryption": False,
            "enabled_for_template_deployment": False,
        }
        if settings.key_vault_purge_protection:
            # Irreversible once on. ARM refuses enablePurgeProtection=false outright ("the property
            # does not accept false"), so a stack without purge protection leaves it unset.
            vault_properties["enable_purge_protection"] = True
        vault = keyvault.Vault(
            f"{name}-key-vault",
            vault_name=names.key_vault,
            resource_group_name=resource_group_name,
            location=location,
            properties=keyvault.VaultPropertiesArgs(**vault_properties),
            tags=tags,
            opts=stateful(),
        )

        # --- Container registry --------------------------------------------------------------------
        registry = containerregistry.Registry(
            f"{name}-registry",
            registry_name=names.registry,
            resource_group_name=resource_group_name,
            location=location,
            # Premium is what a managed network needs: the workspace's managed network reaches the
            # registry through a private endpoint, and only Premium registries have private
            # endpoints (artifact cache rules work on every tier). Premium also raises storage and
            # pull throughput for a ~10 GB vLLM image pulled by every new instance.
            sku=containerregistry.SkuArgs(name=settings.registry_sku),
            # Pushes and pulls authenticate with Entra ID: the endpoint's identity has AcrPull and
            # the deployer exchanges an Entra token; a shared admin password would bypass both.
            admin_user_enabled=False,
            anonymous_pull_enabled=False,
            tags=tags,
            opts=stateful(),
        )

        # --- The workspace -------------------------------------------------------------------------
        managed_network = self._managed_network(settings)
        workspace = machinelearningservices.Workspace(
            f"{name}-workspace",
            workspace_name=names.workspace,
            resource_group_name=resource_group_name,
            location=location,
            kind="Default",
            sku=machinelearningservices.SkuArgs(
                name="Basic", tier=machinelearningservices.SkuTier.BASIC
            ),
            friendly_name=f"{settings.project} ({settings.stack})",
            description=f"vLLM serving for stack {settings.stack}, managed by Pulumi.",
            identity=machinelearningservices.ManagedServiceIdentityArgs(type="SystemAssigned"),
            storage_account=storage_account.id,
            key_vault=vault.id,
            application_insights=application_insights.id,
            container_registry=registry.id,
            # The workspace reaches its storage with its managed identity, so the account's shared
            # keys can stay disabled (see the storage account above).
            system_datastores_auth_mode="Identity",
            v1_legacy_mode=False,
            public_network_access=settings.public_network_access,
            managed_network=managed_network,
            # Online deployments need the managed network to exist already ("To create an online
            # deployment, you must manually provision the managed network", how-to-managed-network).
            # Provisioning takes up to ~30 minutes, the first FQDN rule's firewall ~10 more.
            provision_network_now=True if settings.managed_network != "Disabled" else None,
            tags=tags,
            opts=child(protect=settings.protect_resources, depends_on=[blob_service]),
        )

        # --- Diagnostic settings -------------------------------------------------------------------
        for role, target in (
            ("workspace", workspace),
            ("registry", registry),
            ("key-vault", vault),
        ):
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
                opts=child(),
            )

        # --- Role assignments ----------------------------------------------------------------------
        vault_ready: list[pulumi.Output[Any]] = []
        if settings.hugging_face_token is not None and args.deployer_principal_id is not None:
            # The endpoint component stores the Hugging Face token in this vault. azure-native
            # creates secrets through ARM but deletes them through the vault's data plane, so
            # without a data role on this RBAC vault the deployer could not replace or destroy the
            # secret. ARM checks the principal type against Entra ID, hence the setting.
            officer = assign_role(
                f"{name}-deployer-secrets-officer",
                scope=vault.id,
                principal_id=args.deployer_principal_id,
                role=KEY_VAULT_SECRETS_OFFICER_ROLE,
                principal_type=settings.deployer_principal_type,
                description="Deployer manages this stack's Key Vault secrets (Pulumi).",
                parent=self,
            )
            vault_ready.append(officer.id)

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
            }
        )

    @staticmethod
    def _managed_network(settings: Settings) -> machinelearningservices.ManagedNetworkSettingsArgs:
        """The workspace's managed network: its isolation mode and, when only approved outbound
        traffic may leave, one FQDN rule per allowed host.

        The mode only tightens: ARM refuses AllowInternetOutbound -> Disabled and
        AllowOnlyApprovedOutbound -> AllowInternetOutbound (how-to-managed-network).
        """
        if settings.managed_network != "AllowOnlyApprovedOutbound":
            return machinelearningservices.ManagedNetworkSettingsArgs(
                isolation_mode=settings.managed_network
            )
        rules: dict[str, machinelearningservices.FqdnOutboundRuleArgs] = {}
        for fqdn in settings.outbound_fqdns:
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
            firewall_sku=settings.firewall_sku,
        )

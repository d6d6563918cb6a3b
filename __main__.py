"""vLLM on AzureML managed online endpoints: the whole deployment, one component per line.

Read settings (validated before anything is declared), check the subscription can take them (a real
preview or `pulumi up` only: quota, VM size, role-assignment rights, Docker), then build the
workspace and what it needs, the vLLM image, the endpoint with its deployments and traffic, and
autoscale; export what apps use.
"""

import pulumi
import pulumi_azure_native as azure_native

from components.autoscale import DeploymentAutoscale, DeploymentAutoscaleArgs
from components.dashboard import DashboardDeployment, StackDashboard, StackDashboardArgs
from components.endpoint import ServingEndpoint, ServingEndpointArgs
from components.image import VllmImage, VllmImageArgs
from components.workspace import MlWorkspace, MlWorkspaceArgs, WorkspaceNames
from lib import preflight, prices
from lib.naming import StackNames
from settings import from_pulumi
from settings.parse_models import fit_summary

settings = from_pulumi()
client = azure_native.authorization.get_client_config_output()
names = StackNames(settings, client.subscription_id)
tags = settings.tags

# Before anything is declared: stops the run with every problem and its fix (docs/adr/0021).
preflight.run_in_program(settings, resource_group=names.resource_group, workspace=names.workspace)

workspace = MlWorkspace(
    "workspace",
    MlWorkspaceArgs(
        project=settings.project,
        stack=settings.stack,
        location=settings.location,
        tags=tags,
        names=WorkspaceNames(
            resource_group=names.resource_group,
            log_analytics=names.log_analytics,
            application_insights=names.app_insights,
            storage_account=names.storage_account,
            key_vault=names.key_vault,
            registry=names.registry,
            workspace=names.workspace,
        ),
        # A resourceGroupName setting names an existing group: used, never created or deleted.
        create_resource_group=settings.resource_group_name is None,
        tenant_id=client.tenant_id,
        protect_resources=settings.protect_resources,
        log_retention_days=settings.log_retention_days,
        key_vault_retention_days=settings.key_vault_retention_days,
        key_vault_purge_protection=settings.key_vault_purge_protection,
        registry_sku=settings.registry_sku,
        public_network_access=settings.public_network_access,
        managed_network=settings.managed_network,
        outbound_fqdns=settings.outbound_fqdns,
        firewall_sku=settings.firewall_sku,
        # The endpoint stores the Hugging Face token and vLLM's API key in the vault: whoever runs
        # `pulumi up` must be able to replace and delete them, which an RBAC vault allows only to
        # a data role.
        secrets_officer_principal_id=(
            client.object_id
            if settings.hugging_face_token is not None or settings.vllm_api_key is not None
            else None
        ),
        secrets_officer_principal_type=settings.deployer_principal_type,
    ),
)

image = VllmImage(
    "vllm-image",
    VllmImageArgs(
        base_image=settings.base_image,
        base_image_source=settings.base_image_source,
        docker_hub_credential_set=settings.docker_hub_credential_set,
        docker_hub_username=settings.docker_hub_username,
        docker_hub_token=settings.docker_hub_token,
        repository=names.image_repository,
        resource_group_name=workspace.resource_group_name,
        registry_name=workspace.registry_name,
        registry_login_server=workspace.registry_login_server,
        registry_id=workspace.registry_id,
    ),
)

endpoint = ServingEndpoint(
    "endpoint",
    ServingEndpointArgs(
        endpoint_name=names.endpoint,
        location=settings.location,
        tags=tags,
        auth_mode=settings.auth_mode,
        public_network_access=settings.endpoint_public_network_access,
        deployments=settings.deployments,
        resource_group_name=workspace.resource_group_name,
        workspace_name=workspace.workspace_name,
        key_vault_name=workspace.key_vault_name,
        image_reference=image.image_reference,
        served_model_name=settings.served_model_name,
        # workspace: each model@revision staged once as a model asset (docs/models.md).
        weights_source=settings.weights_source,
        workspace_id=workspace.workspace_id,
        hugging_face_token=settings.hugging_face_token,
        vllm_api_key=settings.vllm_api_key,
        # Deployments wait until the workspace's managed network is provisioned and Active.
        managed_network=workspace.managed_network,
    ),
)

for deployment in settings.autoscaled_deployments:
    DeploymentAutoscale(
        f"autoscale-{deployment.name}",
        DeploymentAutoscaleArgs(
            deployment_name=deployment.name,
            deployment_id=endpoint.deployment_ids[deployment.name],
            autoscale=deployment.autoscale,
            setting_name=names.autoscale_setting(deployment.name),
            location=settings.location,
            resource_group_name=workspace.resource_group_name,
            tags=tags,
        ),
    )

price_table = prices.load()
dashboard = StackDashboard(
    "dashboard",
    StackDashboardArgs(
        project=settings.project,
        stack=settings.stack,
        location=settings.location,
        resource_group_name=workspace.resource_group_name,
        tags=tags,
        deployments=[
            DashboardDeployment(
                deployment.name,
                endpoint.deployment_ids[deployment.name],
                deployment.instance_type,
                deployment.publish_metrics,
                *price_table.priced(settings.location, deployment.instance_type),
            )
            for deployment in settings.deployments
        ],
    ),
)

# What apps and tools read (README, "Stack outputs"). The key is a secret and exists in Key mode only.
pulumi.export("region", settings.location)
pulumi.export("resourceGroupName", workspace.resource_group_name)
pulumi.export("workspaceName", workspace.workspace_name)
pulumi.export("endpointName", endpoint.endpoint_name)
# The ARM id names the subscription, so `make verify` reads ARM from the outputs alone.
pulumi.export("endpointId", endpoint.endpoint_id)
pulumi.export("scoringUri", endpoint.scoring_uri)
pulumi.export("openaiBaseUrl", endpoint.openai_base_url)
pulumi.export("authMode", settings.auth_mode)
# What apps send as `model`: every deployment answers to it, whichever model it serves.
pulumi.export("servedModelName", settings.served_model_name)
pulumi.export(
    "deployments",
    {
        deployment.name: {
            "model": deployment.model,
            "revision": deployment.revision,
            "servedModelName": settings.served_model_name,
            "weightsSource": settings.weights_source,
            "maxModelLen": deployment.vllm.max_model_len,
            "reasoningParser": deployment.vllm.reasoning_parser,
            **fit_summary(deployment.fit),
            "traffic": deployment.traffic,
            "mirrorTraffic": deployment.mirror_traffic,
            "instanceType": deployment.instance_type,
            "instanceCount": deployment.instance_count,
            "maxConcurrentRequestsPerInstance": deployment.max_concurrent_requests_per_instance,
            "requestTimeoutSeconds": deployment.request_timeout_seconds,
            "autoscale": deployment.autoscale.enabled,
            # What the autoscale rules read (vllm or platform); `make verify` checks vllm's.
            "autoscaleMetricsMode": deployment.autoscale.metrics_mode,
            "publishMetrics": deployment.publish_metrics,
        }
        for deployment in settings.deployments
    },
)
pulumi.export("imageReference", image.image_reference)
# The stack's Azure Monitor workbook: instances, requests, 429/408, vLLM's queue, KV cache, TTFT.
pulumi.export("dashboardUrl", dashboard.workbook_url)
if endpoint.primary_key is not None:
    pulumi.export("primaryKey", endpoint.primary_key)

"""vLLM on AzureML managed online endpoints: the whole deployment, one component per line.

Read settings (validated before anything is declared), then build the workspace and what it needs,
the vLLM image, the endpoint with its deployments and traffic, and autoscale; export what apps use.
"""

import pulumi
import pulumi_azure_native as azure_native

from components.autoscale import DeploymentAutoscale, DeploymentAutoscaleArgs
from components.endpoint import ServingEndpoint, ServingEndpointArgs
from components.image import VllmImage, VllmImageArgs
from components.workspace import MlWorkspace, MlWorkspaceArgs
from lib.naming import StackNames
from settings import from_pulumi

settings = from_pulumi()
client = azure_native.authorization.get_client_config_output()
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

image = VllmImage(
    "vllm-image",
    VllmImageArgs(
        settings=settings,
        names=names,
        resource_group_name=workspace.resource_group_name,
        registry_name=workspace.registry_name,
        registry_login_server=workspace.registry_login_server,
        registry_id=workspace.registry_id,
    ),
)

endpoint = ServingEndpoint(
    "endpoint",
    ServingEndpointArgs(
        settings=settings,
        names=names,
        resource_group_name=workspace.resource_group_name,
        workspace_name=workspace.workspace_name,
        key_vault_name=workspace.key_vault_name,
        image_reference=image.image_reference,
    ),
)

for deployment in settings.autoscaled_deployments:
    DeploymentAutoscale(
        f"autoscale-{deployment.name}",
        DeploymentAutoscaleArgs(
            settings=settings,
            deployment=deployment,
            resource_group_name=workspace.resource_group_name,
            deployment_id=endpoint.deployment_ids[deployment.name],
        ),
    )

# What apps and tools read (README, "Stack outputs"). The key is a secret and exists in Key mode only.
pulumi.export("region", settings.location)
pulumi.export("resourceGroupName", workspace.resource_group_name)
pulumi.export("workspaceName", workspace.workspace_name)
pulumi.export("endpointName", endpoint.endpoint_name)
pulumi.export("scoringUri", endpoint.scoring_uri)
pulumi.export("openaiBaseUrl", endpoint.openai_base_url)
pulumi.export("authMode", settings.auth_mode)
pulumi.export(
    "deployments",
    {
        deployment.name: {
            "model": deployment.model,
            "traffic": deployment.traffic,
            "mirrorTraffic": deployment.mirror_traffic,
            "instanceType": deployment.instance_type,
            "instanceCount": deployment.instance_count,
            "maxConcurrentRequestsPerInstance": deployment.max_concurrent_requests_per_instance,
            "requestTimeoutSeconds": deployment.request_timeout_seconds,
            "autoscale": deployment.autoscale.enabled,
        }
        for deployment in settings.deployments
    },
)
pulumi.export("imageReference", image.image_reference)
if endpoint.primary_key is not None:
    pulumi.export("primaryKey", endpoint.primary_key)

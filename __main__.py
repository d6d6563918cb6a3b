"""vLLM on AzureML managed online endpoints: the whole deployment, one component per line.

Read settings (validated before anything is declared), then build the workspace and what it needs,
the vLLM image, the endpoint with its deployments and traffic, and autoscale; export what apps use.
"""

import pulumi
import pulumi_azure_native as azure_native

from components.naming import StackNames
from components.settings import from_pulumi

settings = from_pulumi()
client = azure_native.authorization.get_client_config_output()
names = StackNames(settings, client.subscription_id)

pulumi.export("region", settings.location)
pulumi.export("resourceGroupName", names.resource_group)
pulumi.export("endpointName", names.endpoint)

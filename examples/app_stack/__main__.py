"""An app stack that calls the serving stack: a Container App whose environment names the endpoint.

What it reads from the serving stack (docs/clients.md, "Stack outputs"): `openaiBaseUrl`,
`authMode`, `servedModelName` when the serving stack exports it (else the first deployment's
`model`), and `primaryKey` in Key mode. The key stays a Pulumi secret end to end: the
StackReference returns it as a secret and the Container App stores it as a secret, referenced by
name from the environment variable, so it is never in plaintext in either stack's state or output.
In AADToken mode there is no key: give the app an identity with the endpoint's scoring permission
and have it fetch tokens (examples/openai_entra.py).
"""

from __future__ import annotations

import pulumi
import pulumi_azure_native as azure_native

# The Container App secret's name (not a secret value).
KEY_SECRET_NAME = "endpoint-key"  # noqa: S105

config = pulumi.Config()
serving = pulumi.StackReference(config.require("servingStack"))
base_url = serving.require_output("openaiBaseUrl")
auth_mode = serving.require_output("authMode")
model = pulumi.Output.all(
    serving.get_output("servedModelName"), serving.require_output("deployments")
).apply(lambda values: values[0] or next(iter(values[1].values()))["model"])
# Absent in AADToken mode; get_output gives None there.
primary_key = serving.get_output("primaryKey")

secrets = primary_key.apply(
    lambda key: [azure_native.app.SecretArgs(name=KEY_SECRET_NAME, value=key)] if key else []
)
# Decided by the auth mode, not by the key itself, so the container's environment does not inherit
# the key's secrecy and stays readable in `pulumi preview`.
key_variable = auth_mode.apply(
    lambda mode: (
        [
            azure_native.app.EnvironmentVarArgs(
                name="VLLM_AZUREML_API_KEY", secret_ref=KEY_SECRET_NAME
            )
        ]
        if mode == "Key"
        else []
    )
)

app = azure_native.app.ContainerApp(
    "app",
    resource_group_name=config.require("resourceGroupName"),
    managed_environment_id=config.require("managedEnvironmentId"),
    configuration=azure_native.app.ConfigurationArgs(secrets=secrets),
    template=azure_native.app.TemplateArgs(
        containers=[
            azure_native.app.ContainerArgs(
                name="app",
                image=config.require("image"),
                env=key_variable.apply(
                    lambda key_env: [
                        azure_native.app.EnvironmentVarArgs(
                            name="VLLM_AZUREML_BASE_URL", value=base_url
                        ),
                        azure_native.app.EnvironmentVarArgs(name="VLLM_AZUREML_MODEL", value=model),
                        azure_native.app.EnvironmentVarArgs(
                            name="VLLM_AZUREML_AUTH_MODE", value=auth_mode
                        ),
                        *key_env,
                    ]
                ),
            )
        ]
    ),
)

pulumi.export("appName", app.name)
pulumi.export("endpointBaseUrl", base_url)

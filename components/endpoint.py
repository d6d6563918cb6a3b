"""The serving path: an AzureML environment for the vLLM image, a managed online endpoint, one
online deployment per configured deployment, and the endpoint's traffic.

What the blog post did with `az ml online-endpoint create` and
`az ml online-deployment create --all-traffic`, declared, with its mistakes fixed:

* The environment references the pushed image by digest, and its version is derived from that
  digest: environment versions are immutable, so a new image is a new version, and the same image
  is the same version (a second `pulumi up` changes nothing).
* Per-instance concurrency equals vLLM's ``--max-num-seqs`` (settings enforce it), the request
  timeout is long enough for reasoning output, and the probes outlast a GPU cold start.
* The endpoint is created without traffic; :class:`components.traffic.EndpointTraffic` sets it
  once the deployments exist. The endpoint never plans a traffic change, and any update of the
  endpoint is followed by a traffic update in the same `pulumi up` (see ``_endpoint``).
* A Hugging Face token and a vLLM API key, when configured, live in the workspace Key Vault;
  deployments reference them by URI and never see the values in their definition.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlparse

import pulumi
from pulumi_azure_native import authorization, keyvault, machinelearningservices

from components.model_weights import ModelWeights, ModelWeightsArgs
from components.traffic import EndpointTraffic, EndpointTrafficArgs
from lib import runtime
from lib.metrics_environment import publisher_environment
from lib.model_assets import MODEL_MOUNT_PATH, asset_name, asset_version
from lib.roles import KEY_VAULT_SECRETS_USER_ROLE, MONITORING_METRICS_PUBLISHER_ROLE, assign_role
from lib.vllm_options import MODEL_DIR, vllm_environment
from settings import DeploymentSettings, ProbeSettings, WeightsSource

# The port `vllm serve` listens on (docker/entrypoint.sh fixes it).
VLLM_PORT = 8000
# vLLM answers /health with 200 only once the model is loaded, which makes it the right liveness
# and readiness route: AzureML sends no traffic to an instance before it answers.
HEALTH_PATH = "/health"
# The scoring route. The blog's `/` would be natural (every vLLM path would sit under it), but the
# ARM spec gives Route.path the pattern `[a-zA-Z0-9_]` and pulumi-azure-native checks spec patterns
# during preview, so `/` fails `pulumi preview`. The chat API is what R1 clients call. The route
# does not fence the container off: the endpoint forwards other paths on its host to the container
# as they are, so `/v1/models` and `/v1/completions` answer too (the blog itself calls
# /v1/completions on the endpoint host); OpenAI clients use `<host>/v1` as their base URL.
SCORING_PATH = "/v1/chat/completions"

ENVIRONMENT_NAME = "vllm"
HUGGING_FACE_SECRET_NAME = "hugging-face-token"  # noqa: S105 - a name, not a value
VLLM_API_KEY_SECRET_NAME = "vllm-api-key"  # noqa: S105 - a name, not a value

# Creating or updating a GPU deployment provisions the VM, pulls ~10 GB of image, downloads the
# weights and loads them, and AzureML waits for readiness (up to the probe budget, 17 minutes by
# default) before it reports success; a rolling update does that again for the instances it
# replaces. azure-native already waits 2 hours per operation ("the default one (2 hours)",
# azureContext in provider/pkg/provider/provider.go), and a custom timeout REPLACES that wait, so
# only a longer value helps: 3 hours for create and update, and delete keeps the default
# (docs/adr/0024-deployment-timeouts.md).
DEPLOYMENT_TIMEOUTS = pulumi.CustomTimeouts(create="3h", update="3h")

_DIGEST = re.compile(r"@sha256:([0-9a-f]{64})$")


def iso_seconds(seconds: int) -> str:
    """An ISO 8601 duration in whole seconds, the form ARM's ``requestTimeout`` and probe fields
    take (``PT180S``)."""
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {seconds}")
    return f"PT{seconds}S"


def inference_config() -> machinelearningservices.InferenceContainerPropertiesArgs:
    """How AzureML talks to the container: probes and scoring on vLLM's port."""
    return machinelearningservices.InferenceContainerPropertiesArgs(
        liveness_route=machinelearningservices.RouteArgs(path=HEALTH_PATH, port=VLLM_PORT),
        readiness_route=machinelearningservices.RouteArgs(path=HEALTH_PATH, port=VLLM_PORT),
        scoring_route=machinelearningservices.RouteArgs(path=SCORING_PATH, port=VLLM_PORT),
    )


def environment_version(image_reference: str) -> str:
    """The environment version for an image: the first 12 hex digits of its digest, then 4 of the
    inference routes. Both are immutable parts of a version, so a change to either is a new one.

    Only letters and digits, so any version rule ARM applies accepts it.
    """
    match = _DIGEST.search(image_reference)
    if match is None:
        raise ValueError(
            f"image reference {image_reference!r} is not pinned by digest (…@sha256:<64 hex>); "
            "an environment version must name exactly one image"
        )
    routes = json.dumps(
        {"health": HEALTH_PATH, "scoring": SCORING_PATH, "port": VLLM_PORT}, sort_keys=True
    )
    return match.group(1)[:12] + hashlib.sha256(routes.encode()).hexdigest()[:4]


def probe(settings: ProbeSettings) -> machinelearningservices.ProbeSettingsArgs:
    """A probe with ISO 8601 durations. Why the numbers are what they are is in settings
    (DEFAULT_READINESS_PROBE): by default each probe's budget alone covers a 15-minute cold start."""
    return machinelearningservices.ProbeSettingsArgs(
        initial_delay=iso_seconds(settings.initial_delay_seconds),
        period=iso_seconds(settings.period_seconds),
        timeout=iso_seconds(settings.timeout_seconds),
        failure_threshold=settings.failure_threshold,
        success_threshold=settings.success_threshold,
    )


def request_settings(
    deployment: DeploymentSettings,
) -> machinelearningservices.OnlineRequestSettingsArgs:
    """Scoring request limits for one deployment."""
    settings = machinelearningservices.OnlineRequestSettingsArgs(
        # AzureML admits 2 x this many requests per instance and answers 429 past it; settings
        # make it equal vLLM's --max-num-seqs, so load fills the GPU batch instead of bouncing.
        max_concurrent_requests_per_instance=deployment.max_concurrent_requests_per_instance,
        # Reasoning answers run for thousands of tokens; 180 s is the service maximum.
        request_timeout=iso_seconds(deployment.request_timeout_seconds),
    )
    # The SDK fills in the spec's default PT0.5S; the field is deprecated for managed online
    # endpoints (the request timeout covers queueing), so it is not sent.
    settings.max_queue_wait = None
    return settings


def openai_base_url(scoring_uri: str) -> str:
    """`https://<endpoint>.<region>.inference.ml.azure.com/v1`, from the endpoint's scoring URI."""
    parsed = urlparse(scoring_uri)
    return f"{parsed.scheme}://{parsed.netloc}/v1"


def _fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ServingEndpointArgs:
    """What the serving path needs: the endpoint's name, region, tags, auth mode (``Key`` or
    ``AADToken``) and public network access; its deployments, validated by settings (traffic sums
    to 100, concurrency equals vLLM's batch); where it lives; the image; and the secrets the
    container gets by secret injection: the Hugging Face token and vLLM's API key, each a Pulumi
    secret or None; and the workspace's provisioned managed network, which every
    deployment waits for (None without one)."""

    endpoint_name: pulumi.Input[str]
    location: str
    tags: Mapping[str, str]
    auth_mode: str
    public_network_access: str
    deployments: Sequence[DeploymentSettings]
    resource_group_name: pulumi.Input[str]
    workspace_name: pulumi.Input[str]
    # The workspace Key Vault (RBAC-only), for the Hugging Face token when one is configured.
    key_vault_name: pulumi.Input[str]
    # The pushed image, pinned by digest: <registry>.azurecr.io/<repository>@sha256:<digest>.
    image_reference: pulumi.Input[str]
    # What apps send as `model`; every deployment answers to it and to its model id.
    served_model_name: str
    # workspace: weights staged once as a model asset and mounted (components/model_weights.py);
    # huggingface: downloaded from the Hub at every start, pinned to the revision.
    weights_source: WeightsSource
    # The workspace's ARM id, where staged weights are registered.
    workspace_id: pulumi.Input[str]
    hugging_face_token: pulumi.Input[str] | None = None
    # vLLM's own API key (docs/adr/0010): defence in depth for /v1 behind the endpoint's auth.
    vllm_api_key: pulumi.Input[str] | None = None
    managed_network: pulumi.Resource | None = None


class ServingEndpoint(pulumi.ComponentResource):
    """A managed online endpoint serving vLLM from one or more deployments, with its traffic.

    Blue/green is data: add a deployment with traffic 0 (`pulumi up` creates it and leaves the
    traffic alone), move the traffic in the stack file (`pulumi up` changes only the traffic), then
    remove the old deployment (`pulumi up` moves nothing, then deletes it).
    """

    endpoint_name: pulumi.Output[str]
    endpoint_id: pulumi.Output[str]
    scoring_uri: pulumi.Output[str]
    openai_base_url: pulumi.Output[str]
    principal_id: pulumi.Output[str]
    deployment_ids: dict[str, pulumi.Output[str]]
    # The endpoint's primary key in Key auth mode, a secret; None with AADToken.
    primary_key: pulumi.Output[str] | None
    traffic: pulumi.Output[dict[str, int]]

    def __init__(
        self, name: str, args: ServingEndpointArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("vllm-azureml:endpoint:ServingEndpoint", name, None, opts)

        environment = self._environment(name, args)

        endpoint, endpoint_revision = self._endpoint(name, args)
        principal_id = endpoint.identity.apply(
            lambda identity: identity.principal_id if identity else ""
        )

        secret_environment, secret_grants = self._injected_secrets(name, args, principal_id)
        staged = (
            self._staged_weights(name, args, environment)
            if args.weights_source == "workspace"
            else {}
        )
        deployments = [
            self._deployment(
                name,
                args,
                deployment,
                endpoint,
                environment,
                secret_environment,
                secret_grants,
                staged.get(_weights_key(deployment)),
            )
            for deployment in args.deployments
        ]
        for deployment, resource in zip(args.deployments, deployments, strict=True):
            if deployment.publish_metrics:
                self._metrics_publisher_role(name, deployment.name, resource, principal_id)

        traffic = self._traffic(name, args, endpoint, endpoint_revision, deployments)

        self.endpoint_name = endpoint.name
        self.endpoint_id = endpoint.id
        self.scoring_uri = endpoint.properties.apply(lambda p: p.scoring_uri or "")
        self.openai_base_url = self.scoring_uri.apply(openai_base_url)
        self.principal_id = principal_id
        self.deployment_ids = {
            deployment.name: resource.id
            for deployment, resource in zip(args.deployments, deployments, strict=True)
        }
        self.primary_key = None
        if args.auth_mode == "Key":
            self.primary_key = self._primary_key(args, endpoint)
        self.traffic = traffic.traffic
        self.register_outputs(
            {
                "endpoint_name": self.endpoint_name,
                "endpoint_id": self.endpoint_id,
                "scoring_uri": self.scoring_uri,
                "openai_base_url": self.openai_base_url,
                "principal_id": self.principal_id,
                "deployment_ids": self.deployment_ids,
                "primary_key": self.primary_key,
                "traffic": self.traffic,
            }
        )

    def _environment(
        self, name: str, args: ServingEndpointArgs
    ) -> machinelearningservices.EnvironmentVersion:
        """The AzureML environment of the image: versioned by its digest, probes and scoring
        routed to vLLM."""
        return machinelearningservices.EnvironmentVersion(
            f"{name}-environment",
            name=ENVIRONMENT_NAME,
            version=pulumi.Output.from_input(args.image_reference).apply(environment_version),
            resource_group_name=args.resource_group_name,
            workspace_name=args.workspace_name,
            properties=machinelearningservices.EnvironmentVersionPropertiesArgs(
                image=args.image_reference,
                os_type="Linux",
                inference_config=inference_config(),
                description="vLLM OpenAI-compatible server (image pinned by digest)",
            ),
            # A new image is a new version (a replacement); the old version is left in the
            # workspace rather than deleted. Versions are immutable records that AzureML's own
            # tools archive instead of deleting, and a failed DELETE of a version would fail an
            # otherwise finished rollout; the workspace's deletion removes them all.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )

    def _traffic(
        self,
        name: str,
        args: ServingEndpointArgs,
        endpoint: machinelearningservices.OnlineEndpoint,
        endpoint_revision: str,
        deployments: list[machinelearningservices.OnlineDeployment],
    ) -> EndpointTraffic:
        """The endpoint's live and mirror traffic, set once every deployment exists."""
        return EndpointTraffic(
            f"{name}-traffic",
            EndpointTrafficArgs(
                endpoint_id=endpoint.id,
                traffic={d.name: d.traffic for d in args.deployments},
                mirror_traffic={
                    d.name: d.mirror_traffic for d in args.deployments if d.mirror_traffic
                },
                endpoint_revision=endpoint_revision,
                tags=args.tags,
            ),
            # After every deployment exists (ARM refuses traffic to a missing deployment); and a
            # removed deployment is deleted only after this resource has moved its traffic away,
            # because Pulumi deletes what the program no longer declares at the end of the update.
            opts=pulumi.ResourceOptions(parent=self, depends_on=deployments),
        )

    def _primary_key(
        self, args: ServingEndpointArgs, endpoint: machinelearningservices.OnlineEndpoint
    ) -> pulumi.Output[str]:
        """The endpoint's primary key, a secret.

        Read with `listKeys` during `pulumi up` only. A preview of an existing endpoint would run
        the invoke too, and pull-request previews run as a Reader, which may not list keys
        (`onlineEndpoints/listKeys/action`): the preview would fail on the one output it cannot
        show anyway. So a real preview exports the key as unknown ("known after update").
        """
        if runtime.previewing_for_real():
            return pulumi.Output.secret(
                endpoint.name.apply(lambda _: cast(str, pulumi.output.UNKNOWN))
            )
        keys = machinelearningservices.list_online_endpoint_keys_output(
            endpoint_name=endpoint.name,
            resource_group_name=args.resource_group_name,
            workspace_name=args.workspace_name,
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        # The invoke's result is not marked secret by the provider.
        return pulumi.Output.secret(keys.apply(lambda k: k.primary_key or ""))

    def _endpoint(
        self, name: str, args: ServingEndpointArgs
    ) -> tuple[machinelearningservices.OnlineEndpoint, str]:
        """The endpoint, without traffic, and a fingerprint of what it declares.

        azure-native updates an endpoint with a full PUT of the declared properties. Traffic is not
        among them (it is set later by EndpointTraffic), and ignore_changes keeps Pulumi from ever
        planning a change to it, even after `pulumi refresh` has read live traffic into the state.
        ARM does not document whether a PUT without traffic keeps the live traffic, so the design
        does not rely on it: the fingerprint is an input of EndpointTraffic, and any change to the
        endpoint's declaration is followed, in the same `pulumi up`, by a traffic PUT.
        """
        declared = {
            "location": args.location,
            "identity": "SystemAssigned",
            "authMode": args.auth_mode,
            "publicNetworkAccess": args.public_network_access,
            "description": "vLLM OpenAI-compatible server",
        }
        endpoint = machinelearningservices.OnlineEndpoint(
            f"{name}-endpoint",
            endpoint_name=args.endpoint_name,
            resource_group_name=args.resource_group_name,
            workspace_name=args.workspace_name,
            location=declared["location"],
            # System-assigned: AzureML grants it AcrPull on the workspace registry and Storage Blob
            # Data Reader on the workspace storage itself; a user-assigned identity gets nothing.
            identity=machinelearningservices.ManagedServiceIdentityArgs(type=declared["identity"]),
            properties=machinelearningservices.OnlineEndpointPropertiesArgs(
                auth_mode=declared["authMode"],
                public_network_access=declared["publicNetworkAccess"],
                description=declared["description"],
            ),
            # Tags at creation only; later tag changes go through EndpointTraffic's
            # read-modify-PUT, which keeps live traffic. A change here would be a full PUT without
            # traffic (see the docstring), and an owner or cost-center change must not risk that.
            tags=args.tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                ignore_changes=["properties.traffic", "properties.mirrorTraffic", "tags"],
            ),
        )
        return endpoint, _fingerprint(declared)

    def _injected_secrets(
        self, name: str, args: ServingEndpointArgs, principal_id: pulumi.Output[str]
    ) -> tuple[dict[str, pulumi.Input[str]], list[authorization.RoleAssignment]]:
        """The variables that carry the configured secrets (``HF_TOKEN``, which huggingface_hub
        reads; ``VLLM_API_KEY``, which vLLM reads as --api-key), and the grants they need."""
        environment: dict[str, pulumi.Input[str]] = {}
        grants: list[authorization.RoleAssignment] = []
        for variable, secret_name, value, what in (
            (
                "HF_TOKEN",
                HUGGING_FACE_SECRET_NAME,
                args.hugging_face_token,
                "the Hugging Face token",
            ),
            ("VLLM_API_KEY", VLLM_API_KEY_SECRET_NAME, args.vllm_api_key, "vLLM's API key"),
        ):
            if value is None:
                continue
            environment[variable], grant = self._key_vault_secret(
                name, args, principal_id, secret_name, value, what
            )
            grants.append(grant)
        return environment, grants

    def _key_vault_secret(
        self,
        name: str,
        args: ServingEndpointArgs,
        principal_id: pulumi.Output[str],
        secret_name: str,
        value: pulumi.Input[str],
        what: str,
    ) -> tuple[pulumi.Output[str], authorization.RoleAssignment]:
        """Store ``value`` in the workspace Key Vault and let the endpoint identity read it.

        Deployments get `${{keyvault:<versioned secret URI>}}`, which AzureML resolves with the
        endpoint identity when it starts the container (secret injection, in preview): the value
        never appears in the deployment's definition, and a new value is a new secret version, so
        the deployments roll to pick it up. Returns (reference, grant).
        """
        secret = keyvault.Secret(
            f"{name}-{secret_name}",
            resource_group_name=args.resource_group_name,
            vault_name=args.key_vault_name,
            secret_name=secret_name,
            properties=keyvault.SecretPropertiesArgs(
                value=pulumi.Output.secret(value), content_type="text/plain"
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        grant = assign_role(
            f"{name}-{secret_name}-reader",
            # The secret, not the vault: the endpoint reads this one secret and nothing else.
            scope=secret.id,
            principal_id=principal_id,
            role=KEY_VAULT_SECRETS_USER_ROLE,
            description=f"Online endpoint reads {what} (secret injection).",
            parent=self,
        )
        reference = secret.properties.apply(
            lambda properties: "${{keyvault:" + properties.secret_uri_with_version + "}}"
        )
        return reference, grant

    def _staged_weights(
        self,
        name: str,
        args: ServingEndpointArgs,
        environment: machinelearningservices.EnvironmentVersion,
    ) -> dict[tuple[str, str], ModelWeights]:
        """One staged copy per model and revision the deployments serve (blue and green on the
        same revision share it), staged with the serving image itself."""
        staged: dict[tuple[str, str], ModelWeights] = {}
        for deployment in args.deployments:
            key = _weights_key(deployment)
            if key in staged:
                continue
            staged[key] = ModelWeights(
                f"{name}-weights-{asset_name(deployment.model).lower()}-"
                f"{asset_version(deployment.revision)}",
                ModelWeightsArgs(
                    workspace_id=args.workspace_id,
                    model=deployment.model,
                    revision=deployment.revision,
                    environment_id=environment.id,
                    tags=args.tags,
                ),
                # Weights outlive this stack's use of them (ADR 0030): versions are kept.
                opts=pulumi.ResourceOptions(parent=self),
            )
        return staged

    def _metrics_publisher_role(
        self,
        name: str,
        deployment_name: str,
        deployment: machinelearningservices.OnlineDeployment,
        principal_id: pulumi.Output[str],
    ) -> authorization.RoleAssignment:
        """Let the endpoint identity (what MSI_ENDPOINT answers for inside the container) publish
        custom metrics on this one deployment: the narrowest scope the ingestion API takes, since
        the metrics are the deployment's own (docs/adr/0025-vllm-metrics-into-azure-monitor.md).
        Until the assignment exists and propagates, the publisher backs off and vLLM serves."""
        return assign_role(
            f"{name}-{deployment_name}-metrics-publisher",
            scope=deployment.id,
            principal_id=principal_id,
            role=MONITORING_METRICS_PUBLISHER_ROLE,
            parent=self,
            description="vLLM metrics publisher: custom metrics on this deployment",
        )

    def _deployment(
        self,
        name: str,
        args: ServingEndpointArgs,
        deployment: DeploymentSettings,
        endpoint: machinelearningservices.OnlineEndpoint,
        environment: machinelearningservices.EnvironmentVersion,
        shared_environment: dict[str, pulumi.Input[str]],
        secret_grants: list[authorization.RoleAssignment],
        weights: ModelWeights | None,
    ) -> machinelearningservices.OnlineDeployment:
        """One managed online deployment: ``deployment.instance_count`` GPU instances running the
        environment's image, with vLLM's options and the shared secrets as environment variables;
        with staged ``weights``, the model asset mounted at :data:`MODEL_MOUNT_PATH`."""
        for warning in deployment.fit.warnings if deployment.fit is not None else []:
            pulumi.log.warn(f"deployment {deployment.name}: {warning}", resource=self)
        environment_variables = _environment_variables(
            args, deployment, endpoint, shared_environment, staged=weights is not None
        )
        properties = machinelearningservices.ManagedOnlineDeploymentArgs(
            endpoint_compute_type="Managed",
            description=f"vLLM serving {deployment.model}@{deployment.revision[:12]}",
            # The storage initializer copies the asset here before the container starts, so a
            # new revision (a new version id) is a rolling update.
            model=weights.model_version_id if weights is not None else None,
            model_mount_path=MODEL_MOUNT_PATH if weights is not None else None,
            instance_type=deployment.instance_type,
            environment_id=environment.id,
            environment_variables=environment_variables,
            request_settings=request_settings(deployment),
            # No startupProbe: the REST API has it, but the CLI reference does not list it, so
            # nothing shows that managed deployments honour it. Liveness and readiness each
            # outlast a 15-minute cold start on their own.
            liveness_probe=probe(deployment.liveness_probe),
            readiness_probe=probe(deployment.readiness_probe),
            app_insights_enabled=True,
        )
        # The Args class fills in the spec's default egressPublicNetworkAccess "Enabled" (SDKs
        # apply spec defaults, the provider does not: pulumi/pulumi-azure-native#4825). It is a
        # legacy, immutable switch: with a workspace managed network its outbound rules decide
        # egress (the Hugging Face hosts are allowed there), and without one unset means Enabled.
        # So it is not sent, whatever the network.
        properties.egress_public_network_access = None
        return machinelearningservices.OnlineDeployment(
            f"{name}-{deployment.name}",
            deployment_name=deployment.name,
            # The endpoint's output, not the name string: the deployment waits for the endpoint.
            endpoint_name=endpoint.name,
            resource_group_name=args.resource_group_name,
            workspace_name=args.workspace_name,
            location=args.location,
            properties=properties,
            # Instance count. Managed deployments support only the "Default" scale type.
            sku=machinelearningservices.SkuArgs(name="Default", capacity=deployment.instance_count),
            tags=args.tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                # AzureML resolves ${{keyvault:...}} when it creates the deployment and fails it
                # if the endpoint identity cannot read the secret yet; and it refuses online
                # deployments before the managed network is provisioned (ADR 0020).
                depends_on=[
                    *secret_grants,
                    *([args.managed_network] if args.managed_network is not None else []),
                ],
                custom_timeouts=DEPLOYMENT_TIMEOUTS,
                # While Azure Monitor autoscale owns the instance count, Pulumi must not put it
                # back to instanceCount on every `pulumi up`.
                ignore_changes=["sku.capacity"] if deployment.autoscale.enabled else [],
            ),
        )


def _environment_variables(
    args: ServingEndpointArgs,
    deployment: DeploymentSettings,
    endpoint: machinelearningservices.OnlineEndpoint,
    shared_environment: dict[str, pulumi.Input[str]],
    staged: bool,
) -> dict[str, pulumi.Input[str]]:
    """The container's environment: vLLM's options, the shared secrets, where staged weights are
    mounted, and the metrics publisher's target."""
    variables: dict[str, pulumi.Input[str]] = {
        **vllm_environment(deployment, args.served_model_name),
        **shared_environment,
    }
    if staged:
        variables[MODEL_DIR] = MODEL_MOUNT_PATH
    if deployment.publish_metrics:
        # The deployment's own ARM id, spelled from the endpoint's: the deployment cannot take
        # its own id as an input. The publisher sends vLLM's load there (ADR 0025).
        variables.update(
            publisher_environment(
                pulumi.Output.concat(endpoint.id, "/deployments/", deployment.name),
                args.location,
                deployment.publish_interval_seconds,
            )
        )
    return variables


def _weights_key(deployment: DeploymentSettings) -> tuple[str, str]:
    return deployment.model.lower(), deployment.revision

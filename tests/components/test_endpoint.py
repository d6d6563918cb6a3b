"""The serving path under mocks, declared with args written out here: environment, endpoint,
deployments, traffic and the token.

Expected values are written out from their sources, not imported from the component, so a typo in
the component fails here instead of in Azure: enum spellings and property names from the ARM schema
(Microsoft.MachineLearningServices 2025-12-01, as pulumi-azure-native 3.29 sends it), limits from
FIELD_NOTES (request timeout at most PT180S, mirror at most 50 %), the role id from Azure's built-in
roles reference, the secret-injection syntax from the AzureML secret-injection how-to.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from components.endpoint import (
    ServingEndpoint,
    ServingEndpointArgs,
    environment_version,
    iso_seconds,
    openai_base_url,
)
from lib.roles import role_assignment_name
from lib.vllm_options import vllm_environment
from settings import DeploymentSettings, parse_settings
from tests.conftest import BLUE_GREEN_WITH_MIRROR
from tests.support.components import declare
from tools.offline import OFFLINE_SUBSCRIPTION_ID, ProgramRun, RecordedResource

ENVIRONMENT = "azure-native:machinelearningservices:EnvironmentVersion"
ENDPOINT = "azure-native:machinelearningservices:OnlineEndpoint"
DEPLOYMENT = "azure-native:machinelearningservices:OnlineDeployment"
SECRET = "azure-native:keyvault:Secret"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
TRAFFIC = "pulumi-python:dynamic/traffic:EndpointTraffic"
COMPONENT = "vllm-azureml:endpoint:ServingEndpoint"

DIGEST = "0123456789abcdef" * 4
IMAGE = f"crtest.azurecr.io/vllm-azureml@sha256:{DIGEST}"
OTHER_IMAGE = f"crtest.azurecr.io/vllm-azureml@sha256:{'fedcba9876543210' * 4}"
WORKSPACE = "mlw-test"
WORKSPACE_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-test/providers/"
    f"Microsoft.MachineLearningServices/workspaces/{WORKSPACE}"
)
KEY_VAULT = "kv-test-4k2x9z"
TOKEN = "hf_test_token_not_a_real_one"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
# Monitoring Metrics Publisher (metrics-store-custom-rest-api.md; Azure built-in roles).
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
# Route.path in the ARM spec: an unanchored pattern that azure-native checks during preview.
ROUTE_PATH_PATTERN = "[a-zA-Z0-9_]"
FIFTEEN_MINUTES = 15 * 60

AUTOSCALED_BLUE_GREEN = [
    {
        "name": "blue",
        "traffic": 100,
        "instanceCount": 2,
        "autoscale": {"enabled": True, "minInstances": 2, "defaultInstances": 2, "maxInstances": 4},
    },
    {"name": "green", "traffic": 0, "mirrorTraffic": 50},
]


def deployments(raw: list[dict[str, Any]] | None = None) -> tuple[DeploymentSettings, ...]:
    """Deployments as settings parse and validate them: the default one, or ``raw`` written as in
    a stack file."""
    return parse_settings(
        {} if raw is None else {"deployments": raw}, "test", "westeurope"
    ).deployments


ARGS = ServingEndpointArgs(
    endpoint_name="vllm-test-4k2x9z",
    location="westeurope",
    tags={"owner": "ml-team", "cost-center": "cc-1", "stack": "test"},
    auth_mode="Key",
    public_network_access="Enabled",
    deployments=deployments(),
    resource_group_name="rg-test",
    workspace_name=WORKSPACE,
    key_vault_name=KEY_VAULT,
    image_reference=IMAGE,
    served_model_name="deepseek-r1-distill-llama-8b",
    # The Hub path: the token tests below need it (staged weights take no token: test_model_weights).
    weights_source="huggingface",
    workspace_id=WORKSPACE_ID,
    hugging_face_token=None,
)


def declare_endpoint(preview: bool = True, **changes: Any) -> ProgramRun:
    """The serving path alone, with ``ARGS`` changed by ``changes``; its outputs exported."""
    args = dataclasses.replace(ARGS, **changes)

    def build() -> dict[str, Any]:
        endpoint = ServingEndpoint("endpoint", args)
        outputs: dict[str, Any] = {
            "endpointName": endpoint.endpoint_name,
            "endpointId": endpoint.endpoint_id,
            "scoringUri": endpoint.scoring_uri,
            "openaiBaseUrl": endpoint.openai_base_url,
            "principalId": endpoint.principal_id,
            "deployments": endpoint.deployment_ids,
            "traffic": endpoint.traffic,
            "hasPrimaryKey": endpoint.primary_key is not None,
        }
        if endpoint.primary_key is not None:
            outputs["primaryKey"] = endpoint.primary_key
        return outputs

    return declare(build, preview=preview)


def seconds(duration: str) -> int:
    """Whole seconds of an ISO 8601 time duration (PTnHnMnS), the form ARM takes."""
    match = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?", duration)
    assert match and duration != "PT", f"not an ISO 8601 duration: {duration!r}"
    hours, minutes, secs = (int(group or 0) for group in match.groups())
    return hours * 3600 + minutes * 60 + secs


def minutes(timeout: str) -> int:
    """Whole minutes of a Pulumi custom timeout (a Go duration: "3h", "90m", "1h30m")."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?", timeout)
    assert match and timeout, timeout
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)


# pulumi-azure-native's own wait per operation when no custom timeout is set: provider.go,
# azureContext, "either the one explicitly specified, or the default one (2 hours)"
# (`d := 120 * time.Minute`). A custom timeout replaces it; it does not add to it.
PROVIDER_DEFAULT_TIMEOUT_MINUTES = 120


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}.{index}")
    else:
        yield path, value


def places_holding(result: ProgramRun, plaintext: str) -> list[tuple[str, str, bool]]:
    """Every (resource type, input path, sent as secret) whose input contains ``plaintext``."""
    return [
        (resource.type, path, resource.is_secret(path))
        for resource in result.resources
        for path, value in walk(resource.inputs)
        if isinstance(value, str) and plaintext in value
    ]


def deployments_by_name(run: ProgramRun) -> dict[str, RecordedResource]:
    return {d.inputs["deploymentName"]: d for d in run.of_type(DEPLOYMENT)}


@pytest.fixture(params=["single", "blue-green"])
def shape(request: pytest.FixtureRequest) -> tuple[DeploymentSettings, ...]:
    """One default deployment, or a blue/green pair with mirror traffic."""
    return deployments() if request.param == "single" else deployments(BLUE_GREEN_WITH_MIRROR)


# --- Environment ---------------------------------------------------------------------------------


def test_environment_pins_the_image_and_routes_probes_and_scoring_to_vllm() -> None:
    environment = declare_endpoint().one(ENVIRONMENT)
    assert environment.inputs["name"] == "vllm"
    assert environment.input("properties.image") == IMAGE
    assert environment.input("properties.osType") == "Linux"
    routes = environment.input("properties.inferenceConfig")
    assert routes["livenessRoute"] == {"path": "/health", "port": 8000}
    assert routes["readinessRoute"] == {"path": "/health", "port": 8000}
    assert routes["scoringRoute"] == {"path": "/v1/chat/completions", "port": 8000}
    for route in routes.values():
        assert re.search(ROUTE_PATH_PATTERN, route["path"]), route
    # Why the blog's scoring route cannot be used: azure-native refuses it during preview.
    assert not re.search(ROUTE_PATH_PATTERN, "/")


def test_environment_version_comes_from_the_digest() -> None:
    environment = declare_endpoint().one(ENVIRONMENT)
    version = environment.inputs["version"]
    assert version.startswith(DIGEST[:12])
    assert re.fullmatch(r"[0-9a-f]{16}", version)


def test_new_digest_makes_a_new_version_and_the_same_digest_changes_nothing(
    shape: tuple[DeploymentSettings, ...],
) -> None:
    def snapshot(result: ProgramRun) -> str:
        return json.dumps(
            sorted([r.type, r.name, r.inputs, r.dependencies] for r in result.resources),
            sort_keys=True,
            default=str,
        )

    before = declare_endpoint(deployments=shape)
    again = declare_endpoint(deployments=shape)
    after = declare_endpoint(deployments=shape, image_reference=OTHER_IMAGE)
    assert snapshot(before) == snapshot(again)
    old, new = before.one(ENVIRONMENT), after.one(ENVIRONMENT)
    assert old.inputs["version"] != new.inputs["version"]
    assert new.input("properties.image") == OTHER_IMAGE
    for name, deployment in deployments_by_name(after).items():
        assert deployment.input("properties.environmentId") == new.id
        assert deployments_by_name(before)[name].input("properties.environmentId") == old.id
    assert snapshot(before) != snapshot(after)


def test_environment_version_refuses_an_image_without_digest() -> None:
    with pytest.raises(ValueError, match="not pinned by digest"):
        environment_version("crtest.azurecr.io/vllm-azureml:v1")


def test_old_environment_versions_are_kept_not_deleted() -> None:
    result = declare_endpoint()
    assert result.one(ENVIRONMENT).retain_on_delete
    found = result.of_type(DEPLOYMENT)
    assert found and not any(d.retain_on_delete for d in found)


# --- Endpoint ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("auth_mode", "access"), [("Key", "Enabled"), ("AADToken", "Disabled")])
def test_endpoint_identity_auth_and_network_follow_the_args(auth_mode: str, access: str) -> None:
    result = declare_endpoint(auth_mode=auth_mode, public_network_access=access)
    endpoint = result.one(ENDPOINT)
    assert endpoint.inputs["endpointName"] == result.outputs["endpointName"] == ARGS.endpoint_name
    assert endpoint.inputs["workspaceName"] == WORKSPACE
    assert endpoint.inputs["resourceGroupName"] == "rg-test"
    assert endpoint.inputs["location"] == ARGS.location
    assert endpoint.input("identity.type") == "SystemAssigned"
    assert endpoint.input("properties.authMode") == auth_mode
    assert endpoint.input("properties.publicNetworkAccess") == access
    assert endpoint.inputs["tags"] == ARGS.tags


def test_endpoint_is_created_without_traffic_and_never_plans_a_traffic_change(
    shape: tuple[DeploymentSettings, ...],
) -> None:
    endpoint = declare_endpoint(deployments=shape).one(ENDPOINT)
    # ARM refuses traffic naming a deployment that does not exist yet.
    assert "traffic" not in endpoint.inputs["properties"]
    assert "mirrorTraffic" not in endpoint.inputs["properties"]
    # azure-native PUTs the whole endpoint on update: a refreshed state holding live traffic must
    # never turn into a planned change back to "no traffic".
    assert set(endpoint.ignore_changes) >= {"properties.traffic", "properties.mirrorTraffic"}


def test_any_endpoint_update_is_followed_by_a_traffic_update() -> None:
    """An endpoint PUT carries no traffic, so whatever changes the endpoint must also change the
    traffic resource's inputs, and what does not change the endpoint must not touch traffic."""

    def revision(**changes: Any) -> str:
        return declare_endpoint(**changes).one(TRAFFIC).inputs["endpoint_revision"]

    baseline = revision()
    assert revision() == baseline
    # Each of these changes the endpoint's declared inputs (network access, auth mode, region).
    for changes in (
        {"public_network_access": "Disabled"},
        {"auth_mode": "AADToken"},
        {"location": "eastus2"},
    ):
        assert revision(**changes) != baseline, changes
    # A deployment change leaves the endpoint alone; so does a tag change, which the traffic
    # resource applies itself (next test).
    assert revision(deployments=deployments(BLUE_GREEN_WITH_MIRROR)) == baseline
    assert revision(tags={**ARGS.tags, "owner": "another-team"}) == baseline


def test_tag_changes_never_put_the_whole_endpoint() -> None:
    """Tags are set on the endpoint at creation and by the traffic resource afterwards, whose
    read-modify-PUT keeps live traffic; the endpoint itself ignores later tag changes."""
    result = declare_endpoint(tags={**ARGS.tags, "owner": "another-team"})
    endpoint = result.one(ENDPOINT)
    assert "tags" in endpoint.ignore_changes
    assert endpoint.input("tags")["owner"] == "another-team"
    assert result.one(TRAFFIC).inputs["tags"] == endpoint.input("tags")


def test_outputs_point_openai_clients_at_the_endpoint_host() -> None:
    outputs = declare_endpoint().outputs
    scoring = outputs["scoringUri"]
    host = re.match(r"https://([^/]+)/", scoring).group(1)  # type: ignore[union-attr]
    assert host.startswith(outputs["endpointName"] + ".")
    assert host.endswith(".inference.ml.azure.com")
    assert outputs["openaiBaseUrl"] == f"https://{host}/v1"
    assert re.fullmatch(r"[0-9a-f-]{36}", outputs["principalId"])


def test_primary_key_is_a_secret_in_key_mode() -> None:
    key_mode = declare_endpoint(auth_mode="Key")
    assert key_mode.outputs["hasPrimaryKey"] is True
    assert key_mode.outputs["primaryKey"]
    assert "primaryKey" in key_mode.secret_outputs


def test_there_is_no_primary_key_with_entra_id() -> None:
    assert declare_endpoint(auth_mode="AADToken").outputs["hasPrimaryKey"] is False


def test_a_real_preview_does_not_list_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pull-request previews run as a Reader, which may not call listKeys; `pulumi up` does."""
    from lib import runtime
    from tools.offline import UNKNOWN_OUTPUT

    listing = "azure-native:machinelearningservices:listOnlineEndpointKeys"
    deployed = declare_endpoint(preview=False)
    assert listing in deployed.invokes
    assert deployed.outputs["primaryKey"] == "offline-primary-key"

    monkeypatch.setattr(runtime, "previewing_for_real", lambda: True)
    previewed = declare_endpoint(preview=True)
    assert listing not in previewed.invokes
    assert previewed.outputs["primaryKey"] == UNKNOWN_OUTPUT
    assert "primaryKey" in previewed.secret_outputs


def test_openai_base_url_keeps_scheme_and_host_only() -> None:
    assert (
        openai_base_url("https://e-1.eastus2.inference.ml.azure.com/score")
        == "https://e-1.eastus2.inference.ml.azure.com/v1"
    )


# --- Deployments ---------------------------------------------------------------------------------


def test_each_deployment_serves_its_settings(shape: tuple[DeploymentSettings, ...]) -> None:
    result = declare_endpoint(deployments=shape)
    endpoint = result.one(ENDPOINT)
    environment = result.one(ENVIRONMENT)
    found = deployments_by_name(result)
    assert set(found) == {d.name for d in shape}
    assert result.outputs["deployments"] == {name: d.id for name, d in found.items()}
    for expected in shape:
        deployment = found[expected.name]
        properties = deployment.inputs["properties"]
        assert deployment.inputs["endpointName"] == endpoint.inputs["endpointName"]
        assert endpoint.urn in deployment.dependencies  # created after the endpoint
        assert deployment.inputs["location"] == ARGS.location
        assert properties["endpointComputeType"] == "Managed"
        assert properties["instanceType"] == expected.instance_type
        assert properties["environmentId"] == environment.id
        publisher = {
            "AZURE_METRICS_RESOURCE_ID": deployment.id,
            "AZURE_METRICS_REGION": ARGS.location,
            "AZURE_METRICS_INTERVAL_SECONDS": "60",
        }
        assert properties["environmentVariables"] == {
            **vllm_environment(expected, ARGS.served_model_name),
            **publisher,
        }
        assert properties["appInsightsEnabled"] is True
        assert deployment.inputs["sku"] == {"name": "Default", "capacity": expected.instance_count}
        assert deployment.inputs["tags"] == ARGS.tags


def test_concurrency_matches_vllm_batch_and_timeout_fits_reasoning(
    shape: tuple[DeploymentSettings, ...],
) -> None:
    found = deployments_by_name(declare_endpoint(deployments=shape))
    for expected in shape:
        request = found[expected.name].input("properties.requestSettings")
        assert request["maxConcurrentRequestsPerInstance"] == expected.vllm.max_num_seqs
        assert request["maxConcurrentRequestsPerInstance"] > 1  # the blog's 1 wastes the GPU
        timeout = seconds(request["requestTimeout"])
        assert timeout == expected.request_timeout_seconds
        assert 60 <= timeout <= 180
        # Deprecated for managed endpoints; the SDK would send its default PT0.5S.
        assert "maxQueueWait" not in request


def test_probes_are_iso_durations_that_survive_a_fifteen_minute_cold_start(
    shape: tuple[DeploymentSettings, ...],
) -> None:
    found = deployments_by_name(declare_endpoint(deployments=shape))
    for expected in shape:
        properties = found[expected.name].inputs["properties"]
        # Unproven for managed deployments, so the other two must cover a cold start alone.
        assert "startupProbe" not in properties
        for key, probe_settings in (
            ("livenessProbe", expected.liveness_probe),
            ("readinessProbe", expected.readiness_probe),
        ):
            probe = properties[key]
            assert seconds(probe["initialDelay"]) == probe_settings.initial_delay_seconds
            assert seconds(probe["period"]) == probe_settings.period_seconds
            assert seconds(probe["timeout"]) == probe_settings.timeout_seconds
            assert probe["failureThreshold"] == probe_settings.failure_threshold
            assert probe["successThreshold"] == 1
            budget = seconds(probe["initialDelay"]) + seconds(probe["period"]) * int(
                probe["failureThreshold"]
            )
            # A 15-minute cold start survives with room to spare, not to the second.
            assert budget == probe_settings.budget_seconds > FIFTEEN_MINUTES, key


def test_egress_switch_is_never_sent(shape: tuple[DeploymentSettings, ...]) -> None:
    # The workspace's managed network decides egress, whatever it is; the endpoint never sends
    # the legacy, immutable switch.
    found = declare_endpoint(deployments=shape).of_type(DEPLOYMENT)
    assert found
    for deployment in found:
        assert "egressPublicNetworkAccess" not in deployment.inputs["properties"]


def test_deployment_timeouts_never_shorten_the_providers_wait() -> None:
    found = declare_endpoint().of_type(DEPLOYMENT)
    assert found
    for deployment in found:
        timeouts = deployment.custom_timeouts
        # Create and update wait longer than the provider would (or are left to it); delete is
        # left to the provider, or longer.
        for operation in ("create", "update", "delete"):
            if operation in timeouts:
                assert minutes(timeouts[operation]) >= PROVIDER_DEFAULT_TIMEOUT_MINUTES, operation
        assert "delete" not in timeouts


def test_sku_is_left_to_autoscale_only_where_autoscale_is_on() -> None:
    shape = deployments(AUTOSCALED_BLUE_GREEN)
    # Both cases in one endpoint: blue autoscales, green does not.
    assert [d.autoscale.enabled for d in shape] == [True, False]
    found = deployments_by_name(declare_endpoint(deployments=shape))
    for expected in shape:
        ignored = found[expected.name].ignore_changes
        assert ignored == (["sku.capacity"] if expected.autoscale.enabled else []), expected.name


# --- Traffic -------------------------------------------------------------------------------------


def test_traffic_is_set_after_every_deployment_on_this_endpoint(
    shape: tuple[DeploymentSettings, ...],
) -> None:
    result = declare_endpoint(deployments=shape)
    traffic = result.one(TRAFFIC)
    endpoint = result.one(ENDPOINT)
    assert traffic.inputs["endpoint_id"] == endpoint.id
    assert "/onlineEndpoints/" in traffic.inputs["endpoint_id"]
    assert traffic.inputs["api_version"] == "2025-12-01"
    assert traffic.inputs["traffic"] == {d.name: d.traffic for d in shape}
    assert sum(traffic.inputs["traffic"].values()) == 100
    assert traffic.inputs["mirror_traffic"] == {
        d.name: d.mirror_traffic for d in shape if d.mirror_traffic
    }
    for deployment in result.of_type(DEPLOYMENT):
        assert deployment.urn in traffic.dependencies
    assert result.outputs["traffic"] == traffic.inputs["traffic"]


def test_blue_green_mirror_goes_to_the_idle_deployment() -> None:
    traffic = declare_endpoint(deployments=deployments(BLUE_GREEN_WITH_MIRROR)).one(TRAFFIC)
    assert traffic.inputs["traffic"] == {"blue": 100, "green": 0}
    assert traffic.inputs["mirror_traffic"] == {"green": 20}


def test_shifted_traffic_changes_only_the_traffic_resource() -> None:
    shifted = [dict(item) for item in BLUE_GREEN_WITH_MIRROR]
    shifted[0]["traffic"], shifted[1]["traffic"], shifted[1]["mirrorTraffic"] = 10, 90, 0
    before = declare_endpoint(deployments=deployments(BLUE_GREEN_WITH_MIRROR))
    after = declare_endpoint(deployments=deployments(shifted))
    old = {(r.type, r.name): r.inputs for r in before.resources}
    new = {(r.type, r.name): r.inputs for r in after.resources}
    assert set(old) == set(new)
    changed = {
        key
        for key in old
        if json.dumps(old[key], sort_keys=True, default=str)
        != json.dumps(new[key], sort_keys=True, default=str)
    }
    assert changed == {(TRAFFIC, "endpoint-traffic")}
    assert after.one(TRAFFIC).inputs["traffic"] == {"blue": 10, "green": 90}


# --- Hugging Face token --------------------------------------------------------------------------


def test_token_is_stored_in_the_key_vault_as_a_secret() -> None:
    result = declare_endpoint(hugging_face_token=TOKEN)
    secret = result.one(SECRET)
    assert secret.inputs["vaultName"] == KEY_VAULT
    assert secret.inputs["resourceGroupName"] == result.one(ENDPOINT).inputs["resourceGroupName"]
    assert secret.inputs["secretName"] == "hugging-face-token"
    assert secret.input("properties.value") == TOKEN
    assert secret.is_secret("properties.value")


def grants_of(result: ProgramRun, role: str) -> list[RecordedResource]:
    return [
        grant
        for grant in result.of_type(ROLE_ASSIGNMENT)
        if grant.inputs["roleDefinitionId"].endswith(f"/roleDefinitions/{role}")
    ]


def test_endpoint_identity_may_read_that_one_secret_and_nothing_else() -> None:
    result = declare_endpoint(hugging_face_token=TOKEN)
    secret = result.one(SECRET)
    (grant,) = grants_of(result, KEY_VAULT_SECRETS_USER)
    # Its only other grants: publishing metrics on each deployment (below).
    others = [g for g in result.of_type(ROLE_ASSIGNMENT) if g.urn != grant.urn]
    assert {g.inputs["roleDefinitionId"].rsplit("/", 1)[1] for g in others} == {
        MONITORING_METRICS_PUBLISHER
    }
    principal = result.outputs["principalId"]
    assert grant.inputs["scope"] == secret.id
    assert grant.inputs["principalId"] == principal
    assert grant.inputs["principalType"] == "ServicePrincipal"
    assert grant.inputs["roleDefinitionId"] == (
        f"/subscriptions/{OFFLINE_SUBSCRIPTION_ID}/providers/Microsoft.Authorization/"
        f"roleDefinitions/{KEY_VAULT_SECRETS_USER}"
    )
    assert grant.inputs["roleAssignmentName"] == role_assignment_name(
        secret.id, principal, grant.inputs["roleDefinitionId"]
    )


def test_deployments_reference_the_secret_version_and_wait_for_the_grant(
    shape: tuple[DeploymentSettings, ...],
) -> None:
    result = declare_endpoint(hugging_face_token=TOKEN, deployments=shape)
    secret = result.one(SECRET)
    (grant,) = grants_of(result, KEY_VAULT_SECRETS_USER)
    versioned = secret.outputs["properties"]["secretUriWithVersion"]
    assert re.fullmatch(
        r"https://[^/]+\.vault\.azure\.net/secrets/hugging-face-token/\w+", versioned
    )
    for deployment in result.of_type(DEPLOYMENT):
        environment = deployment.input("properties.environmentVariables")
        assert environment["HF_TOKEN"] == "${{keyvault:" + versioned + "}}"
        assert grant.urn in deployment.dependencies


def test_token_plaintext_appears_only_in_the_secret_value() -> None:
    result = declare_endpoint(
        hugging_face_token=TOKEN, deployments=deployments(BLUE_GREEN_WITH_MIRROR)
    )
    assert places_holding(result, TOKEN) == [(SECRET, "properties.value", True)]
    assert TOKEN not in json.dumps(result.outputs, default=str)


def test_without_a_token_there_is_no_secret_grant_or_reference() -> None:
    result = declare_endpoint()
    assert result.of_type(SECRET) == []
    assert grants_of(result, KEY_VAULT_SECRETS_USER) == []
    for deployment in result.of_type(DEPLOYMENT):
        assert "HF_TOKEN" not in deployment.input("properties.environmentVariables")


# --- vLLM API key (docs/adr/0010) ----------------------------------------------------------------

VLLM_KEY = "vllm-key-for-tests-0123456789"


def test_vllm_api_key_is_injected_from_its_own_secret_beside_the_token() -> None:
    result = declare_endpoint(hugging_face_token=TOKEN, vllm_api_key=VLLM_KEY)
    secrets = {secret.inputs["secretName"]: secret for secret in result.of_type(SECRET)}
    assert set(secrets) == {"hugging-face-token", "vllm-api-key"}
    key_secret = secrets["vllm-api-key"]
    assert key_secret.is_secret("properties.value")
    grants = {grant.inputs["scope"]: grant for grant in grants_of(result, KEY_VAULT_SECRETS_USER)}
    # One secret-reading grant per secret, each on that secret alone.
    assert set(grants) == {secret.id for secret in secrets.values()}
    versioned = key_secret.outputs["properties"]["secretUriWithVersion"]
    for deployment in result.of_type(DEPLOYMENT):
        environment = deployment.input("properties.environmentVariables")
        assert environment["VLLM_API_KEY"] == "${{keyvault:" + versioned + "}}"
        assert {grant.urn for grant in grants.values()} <= set(deployment.dependencies)


def test_vllm_api_key_plaintext_appears_only_in_its_secret_value() -> None:
    result = declare_endpoint(
        vllm_api_key=VLLM_KEY, deployments=deployments(BLUE_GREEN_WITH_MIRROR)
    )
    assert places_holding(result, VLLM_KEY) == [(SECRET, "properties.value", True)]
    for deployment in result.of_type(DEPLOYMENT):
        assert "HF_TOKEN" not in deployment.input("properties.environmentVariables")


def test_endpoint_identity_publishes_metrics_on_each_deployment_alone(
    shape: tuple[DeploymentSettings, ...],
) -> None:
    result = declare_endpoint(deployments=shape)
    principal = result.outputs["principalId"]
    grants = grants_of(result, MONITORING_METRICS_PUBLISHER)
    # The narrowest scope the ingestion API takes: the deployment the metrics describe.
    assert sorted(g.inputs["scope"] for g in grants) == sorted(
        d.id for d in result.of_type(DEPLOYMENT)
    )
    for grant in grants:
        assert grant.inputs["principalId"] == principal
        assert grant.inputs["principalType"] == "ServicePrincipal"
        assert grant.inputs["roleAssignmentName"] == role_assignment_name(
            grant.inputs["scope"], principal, grant.inputs["roleDefinitionId"]
        )


def test_publish_metrics_off_leaves_out_the_publisher_and_its_role() -> None:
    (blue,) = deployments([{"name": "blue", "traffic": 100, "publishMetrics": False}])
    result = declare_endpoint(deployments=(blue,))
    assert grants_of(result, MONITORING_METRICS_PUBLISHER) == []
    environment = result.one(DEPLOYMENT).input("properties.environmentVariables")
    assert not [name for name in environment if name.startswith("AZURE_METRICS_")]


# --- Shape ---------------------------------------------------------------------------------------


def test_every_resource_is_a_named_child_of_the_component() -> None:
    result = declare_endpoint(
        hugging_face_token=TOKEN, deployments=deployments(BLUE_GREEN_WITH_MIRROR)
    )
    component = result.one(COMPONENT)
    children = [r for r in result.resources if r is not component]
    assert {r.type for r in children} == {
        ENVIRONMENT,
        ENDPOINT,
        DEPLOYMENT,
        SECRET,
        ROLE_ASSIGNMENT,
        TRAFFIC,
    }
    for resource in children:
        assert resource.parent == component.urn, resource.name
        assert resource.name.startswith("endpoint-"), resource.name
    assert {d.name for d in result.of_type(DEPLOYMENT)} == {"endpoint-blue", "endpoint-green"}


def test_iso_seconds_spells_arm_durations() -> None:
    assert iso_seconds(180) == "PT180S"
    assert seconds(iso_seconds(600)) == 600
    with pytest.raises(ValueError):
        iso_seconds(-1)

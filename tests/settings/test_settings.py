"""Settings validation, as plain Python: no Pulumi runtime, no mocks."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from settings import (
    DEFAULTS,
    LOCATION_KEY,
    PROJECT,
    SettingsError,
    load_settings,
    parse_settings,
)
from tests.conftest import STACKS, stack_entries


def deployment(**changes: Any) -> dict[str, Any]:
    item = {"name": "blue", "traffic": 100}
    item.update(changes)
    return item


def parse(location: Any = "swedencentral", stack: str = "dev", **raw: Any):
    return parse_settings(raw, stack, location)


def problems_of(location: Any = "swedencentral", **raw: Any) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        parse(location, **raw)
    return caught.value.problems


def test_defaults_are_valid_and_match_the_issue() -> None:
    settings = parse()
    (only,) = settings.deployments
    assert only.model == "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"
    assert only.instance_type == "Standard_NC24ads_A100_v4"
    assert only.max_concurrent_requests_per_instance == only.vllm.max_num_seqs == 16
    assert only.request_timeout_seconds == 180
    assert settings.auth_mode == "Key"
    assert settings.protect_resources is True
    assert settings.key_vault_purge_protection is True


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stack_files_are_valid(stack: str) -> None:
    settings = load_settings(stack_entries(stack), stack)
    assert settings.stack == stack
    assert settings.location


def test_stacks_pick_the_documented_regions() -> None:
    assert load_settings(stack_entries("dev"), "dev").location == "swedencentral"
    assert load_settings(stack_entries("prod"), "prod").location == "eastus2"


def test_prod_autoscales_and_dev_does_not() -> None:
    prod = load_settings(stack_entries("prod"), "prod")
    dev = load_settings(stack_entries("dev"), "dev")
    assert prod.autoscaled_deployments
    assert not dev.autoscaled_deployments


def test_concurrency_follows_max_num_seqs_when_unset() -> None:
    settings = parse(deployments=[deployment(vllm={"maxNumSeqs": 32})])
    assert settings.deployments[0].max_concurrent_requests_per_instance == 32


def test_concurrency_mismatch_can_be_overridden_deliberately() -> None:
    settings = parse(
        deployments=[deployment(maxConcurrentRequestsPerInstance=8, allowConcurrencyMismatch=True)]
    )
    assert settings.deployments[0].max_concurrent_requests_per_instance == 8


def test_endpoint_access_follows_workspace_unless_set() -> None:
    assert parse(publicNetworkAccess="Disabled").endpoint_public_network_access == "Disabled"
    assert (
        parse(
            publicNetworkAccess="Disabled", endpointPublicNetworkAccess="Enabled"
        ).endpoint_public_network_access
        == "Enabled"
    )


def test_blue_green_pair_with_mirror_is_valid() -> None:
    settings = parse(
        deployments=[
            deployment(name="blue", traffic=100),
            deployment(name="green", traffic=0, mirrorTraffic=20),
        ]
    )
    assert [d.name for d in settings.deployments] == ["blue", "green"]


def test_no_deployments_means_no_traffic_rule() -> None:
    assert parse(deployments=[]).deployments == ()


def test_tags_carry_stack_region_owner_and_cost_center() -> None:
    settings = parse(owner="ml-team", costCenter="cc-42", tags={"env": "test"})
    assert settings.tags == {
        "env": "test",
        "project": PROJECT,
        "stack": "dev",
        "region": "swedencentral",
        "owner": "ml-team",
        "cost-center": "cc-42",
        "managed-by": "pulumi",
    }


def test_defaults_are_not_mutated_by_parsing() -> None:
    before = copy.deepcopy(DEFAULTS)
    parse(deployments=[deployment(vllm={"extraArgs": ["--seed", "1"]})])
    assert before == DEFAULTS


# Each bad configuration: (description, location, raw keys, text the message must contain).
BAD_CONFIGURATIONS: list[tuple[str, Any, dict[str, Any], str]] = [
    ("missing region", None, {}, f"{LOCATION_KEY}: is not set"),
    ("region with spaces", "Sweden Central", {}, "did you mean 'swedencentral'"),
    ("unknown region", "moon-1", {}, f"{LOCATION_KEY} = 'moon-1'"),
    (
        "unknown key",
        "swedencentral",
        {"authmode": "Key"},
        "unknown configuration key (did you mean 'authMode'?)",
    ),
    ("AMLToken auth", "swedencentral", {"authMode": "AMLToken"}, "AMLToken is not supported"),
    ("auth spelling", "swedencentral", {"authMode": "key"}, "did you mean 'Key'"),
    (
        "network access spelling",
        "swedencentral",
        {"publicNetworkAccess": "enabled"},
        "publicNetworkAccess = 'enabled'",
    ),
    (
        "managed network mode",
        "swedencentral",
        {"managedNetwork": "Internet"},
        "managedNetwork = 'Internet'",
    ),
    (
        "firewall sku spelling",
        "swedencentral",
        {"firewallSku": "Premium"},
        "firewallSku = 'Premium'",
    ),
    (
        "deployer principal type",
        "swedencentral",
        {"deployerPrincipalType": "MSI"},
        "deployerPrincipalType = 'MSI'",
    ),
    (
        "basic registry with managed network",
        "swedencentral",
        {"registrySku": "Basic"},
        "must be Premium",
    ),
    (
        "approved outbound without hosts",
        "swedencentral",
        {"outboundFqdns": []},
        "must list the Hugging Face hosts",
    ),
    (
        "bad host",
        "swedencentral",
        {"outboundFqdns": ["https://huggingface.co"]},
        "outboundFqdns[0]",
    ),
    (
        "key vault retention",
        "swedencentral",
        {"keyVaultRetentionDays": 3},
        "keyVaultRetentionDays = 3",
    ),
    ("log retention", "swedencentral", {"logRetentionDays": 5000}, "logRetentionDays = 5000"),
    ("protect as string", "swedencentral", {"protectResources": "yes"}, "must be true or false"),
    (
        "unpinned base image",
        "swedencentral",
        {"baseImage": "vllm/vllm-openai:" + "latest"},
        "pinned by digest",
    ),
    (
        "cache rule without credentials",
        "swedencentral",
        {"baseImageSource": "cacheRule"},
        "dockerHubCredentialSet",
    ),
    ("endpoint name too long", "swedencentral", {"endpointName": "e" * 33}, "endpointName"),
    (
        "endpoint name starts with digit",
        "swedencentral",
        {"endpointName": "1endpoint"},
        "a letter first",
    ),
    ("name salt uppercase", "swedencentral", {"nameSalt": "ABC"}, "nameSalt"),
    (
        "resource group trailing dot",
        "swedencentral",
        {"resourceGroupName": "rg."},
        "resourceGroupName",
    ),
    ("tags not an object", "swedencentral", {"tags": ["a"]}, "tags"),
    (
        "vLLM flag that a key owns, in extraArgs",
        "swedencentral",
        {"deployments": [deployment(vllm={"extraArgs": ["--max-num-seqs=64"]})]},
        "is set from vllm-azureml:deployments[0].vllm.maxNumSeqs",
    ),
    (
        "NUL in extraArgs",
        "swedencentral",
        {"deployments": [deployment(vllm={"extraArgs": ["a\0b"]})]},
        "cannot contain a NUL character",
    ),
    (
        "too many extra tags",
        "swedencentral",
        {"tags": {f"team-{index}": "x" for index in range(10)}},
        "at most 9 extra tags",
    ),
    (
        "extra tag overriding a project tag",
        "swedencentral",
        {"tags": {"owner": "someone"}},
        "tags.owner = 'someone': is set by the project (vllm-azureml:owner)",
    ),
    (
        "deployments not a list",
        "swedencentral",
        {"deployments": {"name": "blue"}},
        "must be a list of deployments",
    ),
    (
        "unknown instance type",
        "swedencentral",
        {"deployments": [deployment(instanceType="Standard_NC24ads_A100_V4")]},
        "did you mean 'Standard_NC24ads_A100_v4'",
    ),
    (
        "CPU instance type",
        "swedencentral",
        {"deployments": [deployment(instanceType="Standard_F4s_v2")]},
        "instanceType = 'Standard_F4s_v2'",
    ),
    (
        "timeout over 180 s",
        "swedencentral",
        {"deployments": [deployment(requestTimeoutSeconds=240)]},
        "180 s is the AzureML maximum",
    ),
    (
        "traffic not 100",
        "swedencentral",
        {"deployments": [deployment(traffic=90)]},
        "live traffic must sum to 100, got 90",
    ),
    (
        "pair traffic sums to 110",
        "swedencentral",
        {
            "deployments": [
                deployment(name="blue", traffic=60),
                deployment(name="green", traffic=50),
            ]
        },
        "got 110",
    ),
    (
        "mirror over 50",
        "swedencentral",
        {
            "deployments": [
                deployment(name="blue"),
                deployment(name="green", traffic=0, mirrorTraffic=60),
            ]
        },
        "at most 50 %",
    ),
    (
        "mirror to live deployment",
        "swedencentral",
        {"deployments": [deployment(name="blue", traffic=100, mirrorTraffic=10)]},
        "cannot take mirror traffic",
    ),
    (
        "mirror to two deployments",
        "swedencentral",
        {
            "deployments": [
                deployment(name="blue"),
                deployment(name="green", traffic=0, mirrorTraffic=10),
                deployment(name="red", traffic=0, mirrorTraffic=10),
            ]
        },
        "mirror traffic may go to one deployment only",
    ),
    (
        "duplicate deployment names",
        "swedencentral",
        {"deployments": [deployment(name="blue", traffic=50), deployment(name="Blue", traffic=50)]},
        "is used more than once",
    ),
    (
        "deployment name too short",
        "swedencentral",
        {"deployments": [deployment(name="b")]},
        "must be 3-32 characters",
    ),
    (
        "deployment name with underscore",
        "swedencentral",
        {"deployments": [deployment(name="blue_one")]},
        "deployments[0].name",
    ),
    (
        "concurrency mismatch",
        "swedencentral",
        {"deployments": [deployment(maxConcurrentRequestsPerInstance=1)]},
        "must equal vllm.maxNumSeqs (16)",
    ),
    (
        "model id without org",
        "swedencentral",
        {"deployments": [deployment(model="DeepSeek-R1")]},
        "Hugging Face model id",
    ),
    (
        "instance count 0",
        "swedencentral",
        {"deployments": [deployment(instanceCount=0)]},
        "instanceCount = 0",
    ),
    (
        "instance count as string",
        "swedencentral",
        {"deployments": [deployment(instanceCount="2")]},
        "must be a whole number",
    ),
    (
        "unknown deployment key",
        "swedencentral",
        {"deployments": [deployment(timeout=100)]},
        "deployments[0].timeout: unknown key",
    ),
    (
        "gpu memory utilisation 1.5",
        "swedencentral",
        {"deployments": [deployment(vllm={"gpuMemoryUtilization": 1.5})]},
        "gpuMemoryUtilization = 1.5",
    ),
    (
        "port in extra args",
        "swedencentral",
        {"deployments": [deployment(vllm={"extraArgs": ["--port", "9000"]})]},
        "is set by the image",
    ),
    (
        "probe success threshold 2",
        "swedencentral",
        {"deployments": [deployment(readinessProbe={"successThreshold": 2})]},
        "successThreshold",
    ),
    (
        "probe period 0",
        "swedencentral",
        {"deployments": [deployment(livenessProbe={"periodSeconds": 0})]},
        "livenessProbe.periodSeconds = 0",
    ),
    (
        "autoscale min 0",
        "swedencentral",
        {"deployments": [deployment(autoscale={"enabled": True, "minInstances": 0})]},
        "cannot scale to zero",
    ),
    (
        "autoscale max 51",
        "swedencentral",
        {"deployments": [deployment(autoscale={"enabled": True, "maxInstances": 51})]},
        "per-deployment limit",
    ),
    (
        "autoscale min over max",
        "swedencentral",
        {
            "deployments": [
                deployment(
                    autoscale={
                        "enabled": True,
                        "minInstances": 4,
                        "defaultInstances": 4,
                        "maxInstances": 2,
                    }
                )
            ]
        },
        "minInstances (4) <= defaultInstances (4) <= maxInstances (2)",
    ),
    (
        "autoscale default outside bounds",
        "swedencentral",
        {
            "deployments": [
                deployment(
                    instanceCount=2,
                    autoscale={
                        "enabled": True,
                        "minInstances": 2,
                        "defaultInstances": 9,
                        "maxInstances": 4,
                    },
                )
            ]
        },
        "defaultInstances (9)",
    ),
    (
        "instance count outside autoscale bounds",
        "swedencentral",
        {
            "deployments": [
                deployment(
                    instanceCount=1,
                    autoscale={
                        "enabled": True,
                        "minInstances": 2,
                        "defaultInstances": 2,
                        "maxInstances": 4,
                    },
                )
            ]
        },
        "must lie within autoscale bounds 2-4",
    ),
    (
        "unknown metrics mode",
        "swedencentral",
        {"deployments": [deployment(autoscale={"metricsMode": "gpu"})]},
        "autoscale.metricsMode = 'gpu': must be one of vllm, platform",
    ),
    (
        "running threshold above a full batch",
        "swedencentral",
        {"deployments": [deployment(autoscale={"scaleOutRunningRequests": 40})]},
        "scaleOutRunningRequests = 40: must be a number above 0 and at most 16 (vllm.maxNumSeqs, 16)",
    ),
    (
        "platform mode without the 429 rule",
        "swedencentral",
        {
            "deployments": [
                deployment(autoscale={"metricsMode": "platform", "scaleOutRejectedPerMinute": 0})
            ]
        },
        "scaleOutRejectedPerMinute = 0: must be at least 1 with metricsMode platform",
    ),
    (
        "waiting threshold of zero",
        "swedencentral",
        {"deployments": [deployment(autoscale={"scaleOutWaitingRequests": 0})]},
        "scaleOutWaitingRequests = 0: must be a number above 0 and at most 32",
    ),
    (
        "threshold that is not a number",
        "swedencentral",
        {"deployments": [deployment(autoscale={"scaleInRequestsPerMinute": "lots"})]},
        "scaleInRequestsPerMinute = 'lots': must be a number above 0",
    ),
    (
        "scale-in threshold at maxNumSeqs",
        "swedencentral",
        {"deployments": [deployment(autoscale={"scaleInRunningRequests": 16})]},
        "scaleInRunningRequests = 16: must be below vllm.maxNumSeqs (16)",
    ),
    (
        "vLLM metrics mode without the publisher",
        "swedencentral",
        {"deployments": [deployment(publishMetrics=False, autoscale={"enabled": True})]},
        "autoscale.metricsMode = 'vllm': reads the metrics the in-container publisher sends",
    ),
    (
        "window shorter than the metric grain",
        "swedencentral",
        {"deployments": [deployment(publishIntervalSeconds=600, autoscale={"enabled": True})]},
        "scaleOutWindowMinutes = 5: must be at least publishIntervalSeconds (600 s)",
    ),
    (
        "publish interval out of range",
        "swedencentral",
        {"deployments": [deployment(publishIntervalSeconds=5)]},
        "publishIntervalSeconds = 5",
    ),
    (
        "a removed GPU or latency key",
        "swedencentral",
        {"deployments": [deployment(autoscale={"scaleOutGpuPercent": 85})]},
        "autoscale.scaleOutGpuPercent",
    ),
    (
        "window too short",
        "swedencentral",
        {"deployments": [deployment(autoscale={"scaleOutWindowMinutes": 1})]},
        "5 minutes to 12 hours",
    ),
    (
        "scale-in threshold above scale-out",
        "swedencentral",
        {
            "deployments": [
                deployment(autoscale={"scaleInRunningRequests": 12, "scaleOutRunningRequests": 10})
            ]
        },
        "scaleInRunningRequests (12) must be below scaleOutRunningRequests (10), or the rules flap",
    ),
    (
        "invalid time zone",
        "swedencentral",
        {"deployments": [deployment(autoscale={"timeZone": "Europe/Stockholm"})]},
        "timeZone = 'Europe/Stockholm'",
    ),
    (
        "malformed schedule start",
        "swedencentral",
        {"deployments": [deployment(autoscale={"profiles": [{"name": "day", "start": "8am"}]})]},
        "24-hour time HH:MM",
    ),
    (
        "malformed schedule day",
        "swedencentral",
        {
            "deployments": [
                deployment(
                    autoscale={"profiles": [{"name": "day", "start": "08:00", "days": ["Mon"]}]}
                )
            ]
        },
        "days[0] = 'Mon'",
    ),
    (
        "duplicate profile names",
        "swedencentral",
        {
            "deployments": [
                deployment(
                    autoscale={
                        "profiles": [
                            {"name": "day", "start": "08:00"},
                            {"name": "day", "start": "20:00"},
                        ]
                    }
                )
            ]
        },
        "is used twice",
    ),
    (
        "bad notification e-mail",
        "swedencentral",
        {"deployments": [deployment(autoscale={"notifyEmails": ["ops"]})]},
        "must be an e-mail address",
    ),
    (
        "plain-http webhook",
        "swedencentral",
        {"deployments": [deployment(autoscale={"notifyWebhooks": ["http://hook"]})]},
        "https://",
    ),
    (
        "autoscale scale-out cooldown shorter than the readiness delay",
        "swedencentral",
        {"deployments": [deployment(autoscale={"enabled": True, "scaleOutCooldownMinutes": 5})]},
        "scaleOutCooldownMinutes = 5: must cover readinessProbe.initialDelaySeconds (600 s)",
    ),
    (
        "two autoscale profiles start at the same minute",
        "swedencentral",
        {
            "deployments": [
                deployment(
                    autoscale={
                        "profiles": [
                            {"name": "day", "start": "08:00"},
                            {"name": "monday", "start": "08:00", "days": ["Monday"]},
                        ]
                    }
                )
            ]
        },
        "profiles 'day' and 'monday' both start on Monday at 08:00",
    ),
    (
        "autoscale time zone in the wrong case",
        "swedencentral",
        {"deployments": [deployment(autoscale={"timeZone": "utc"})]},
        "did you mean 'UTC'",
    ),
    (
        "autoscale profile starting at 24:00",
        "swedencentral",
        {"deployments": [deployment(autoscale={"profiles": [{"name": "late", "start": "24:00"}]})]},
        "24-hour time HH:MM",
    ),
    (
        "autoscale profile named default",
        "swedencentral",
        {
            "deployments": [
                deployment(autoscale={"profiles": [{"name": "Default", "start": "08:00"}]})
            ]
        },
        "profiles[0].name = 'Default': is reserved",
    ),
]


@pytest.mark.parametrize(
    ("location", "raw", "expected"),
    [case[1:] for case in BAD_CONFIGURATIONS],
    ids=[case[0] for case in BAD_CONFIGURATIONS],
)
def test_bad_configuration_is_refused_with_a_clear_message(
    location: Any, raw: dict[str, Any], expected: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings(raw, "dev", location)
    message = str(caught.value)
    assert expected in message
    assert "Stack 'dev'" in message
    assert "Pulumi.dev.yaml" in message


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of(
        "Sweden Central",
        authMode="AMLToken",
        deployments=[deployment(requestTimeoutSeconds=500, traffic=50)],
    )
    assert len(problems) == 4
    assert all(problem.startswith((f"{PROJECT}:", LOCATION_KEY)) for problem in problems)


def test_message_names_key_value_and_what_is_allowed() -> None:
    (problem,) = problems_of(keyVaultRetentionDays=120)
    assert (
        problem
        == f"{PROJECT}:keyVaultRetentionDays = 120: must be from 7 to 90 (Key Vault soft-delete retention)"
    )


def test_pulumi_strings_are_decoded_before_validation() -> None:
    entries = {
        LOCATION_KEY: "eastus2",
        f"{PROJECT}:protectResources": "false",
        f"{PROJECT}:keyVaultRetentionDays": "7",
        f"{PROJECT}:deployments": '[{"name": "blue", "traffic": 100, "instanceCount": 3}]',
        f"{PROJECT}:owner": "42",
    }
    settings = load_settings(entries, "dev")
    assert settings.protect_resources is False
    assert settings.key_vault_retention_days == 7
    assert settings.deployments[0].instance_count == 3
    assert settings.owner == "42"


def test_secret_token_is_never_read_as_plain_config() -> None:
    key = f"{PROJECT}:huggingFaceToken"
    entries = {LOCATION_KEY: "eastus2", key: "hf_encrypted_in_the_stack_file"}
    settings = load_settings(entries, "dev", secret_keys={key})
    # The value reaches the program only as the Pulumi secret from_pulumi() passes in.
    assert settings.hugging_face_token is None
    assert "hf_encrypted_in_the_stack_file" not in repr(settings)


def test_a_plaintext_token_in_a_stack_file_is_refused() -> None:
    entries = {LOCATION_KEY: "eastus2", f"{PROJECT}:huggingFaceToken": "hf_plaintext"}
    with pytest.raises(SettingsError) as caught:
        load_settings(entries, "dev")
    message = str(caught.value)
    assert "vllm-azureml:huggingFaceToken: is stored in plaintext in Pulumi.dev.yaml" in message
    assert "pulumi config set --secret huggingFaceToken" in message
    assert "hf_plaintext" not in message


def test_one_wrong_value_gives_one_message_not_a_cascade() -> None:
    # "premium" is not an SKU; it must not also be reported as a non-Premium registry.
    assert problems_of(registrySku="premium") == [
        f"{PROJECT}:registrySku = 'premium': must be one of Basic, Standard, Premium "
        "(did you mean 'Premium'?)"
    ]


def test_a_typo_in_a_long_list_is_still_named() -> None:
    (problem,) = problems_of("swedencentrall")
    assert "did you mean 'swedencentral'?" in problem


@pytest.mark.parametrize("stack", ["prod_weu", "Prod", "prod-", "a" * 21])
def test_a_stack_name_azure_names_cannot_hold_is_refused(stack: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings({}, stack, "westeurope")
    assert f"stack name = '{stack}': must be 1-20 lowercase letters" in str(caught.value)


@pytest.mark.parametrize("stack", ["dev", "prod", "prod-weu", "p1"])
def test_ordinary_stack_names_are_accepted(stack: str) -> None:
    assert parse_settings({}, stack, "westeurope").stack == stack


def test_autoscale_thresholds_default_from_the_deployments_batch_and_can_be_set() -> None:
    vllm = {"maxNumSeqs": 32}
    (derived,) = parse(deployments=[deployment(vllm=vllm)]).deployments
    assert derived.autoscale.metrics_mode == "vllm"
    assert derived.autoscale.scale_out_waiting_requests == 2.0  # 32 / 16
    assert derived.autoscale.scale_out_running_requests == 27.2  # 0.85 x 32
    assert derived.autoscale.scale_in_running_requests == 16.0  # 0.5 x 32
    assert derived.autoscale.scale_in_requests_per_minute == 24.0  # 0.75 x 32
    assert derived.publish_metrics is True and derived.publish_interval_seconds == 60
    chosen = {
        "scaleOutRunningRequests": 30,
        "scaleInRunningRequests": 10.5,
        "metricsMode": "platform",
    }
    (given,) = parse(deployments=[deployment(vllm=vllm, autoscale=chosen)]).deployments
    assert given.autoscale.scale_out_running_requests == 30.0
    assert given.autoscale.scale_in_running_requests == 10.5
    assert given.autoscale.metrics_mode == "platform"

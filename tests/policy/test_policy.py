"""The CrossGuard policy pack (policy/) and the workflows that apply it (.github/workflows/).

Validators are called directly with pulumi_policy's own ``ResourceValidationArgs`` (props wrapped in
the SDK's unknown-checking proxy, exactly as the analyzer does) and a collecting report function:
no Pulumi CLI, no gRPC server. Then every committed stack's resources, from the offline run of the
real program, must pass every mandatory rule.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import json
import re
import runpy
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import grpc
import pulumi_policy
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from lib.pulumi_api import analyzer_pb2, analyzer_pb2_grpc
from policy import rules
from tests.conftest import RunProgram
from tools.offline import ROOT, RecordedResource, committed_stacks, load_stack_config

PROJECT = "vllm-azureml"
DIGEST = "sha256:" + "ab" * 32
KEY_VAULT_REFERENCE = (
    "${{keyvault:https://kv-vllm-dev-abc123.vault.azure.net/secrets/hugging-face-token/0123abcd}}"
)
# Shaped like a Hugging Face token, but not one.
FAKE_HF_TOKEN = "hf_" + "Q" * 34


def urn(stack: str, type_token: str, name: str = "resource") -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{type_token}::{name}"


def options() -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
    )


def validate(
    rule: str,
    type_token: str,
    props: Mapping[str, Any],
    stack: str = "dev",
    config: Mapping[str, Any] | None = None,
) -> list[str]:
    """Run one resource rule on one resource as the analyzer would; return the violations."""
    validator = next(r for r in rules.RESOURCE_RULES if r.name == rule).validate
    reported: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        reported.append(message)

    args = ResourceValidationArgs(
        type_token,
        unknown_checking_proxy(dict(props)),
        urn(stack, type_token),
        "resource",
        options(),
        None,
        config,
    )
    validator(args, report)
    return reported


TAGS = {
    "project": PROJECT,
    "stack": "dev",
    "region": "swedencentral",
    "owner": "ml-platform",
    "cost-center": "ml-dev",
    "managed-by": "pulumi",
}

GOOD_STORAGE = {
    "allowBlobPublicAccess": False,
    "minimumTlsVersion": "TLS1_2",
    "supportsHttpsTrafficOnly": True,
}
GOOD_VAULT = {"properties": {"enableRbacAuthorization": True, "tenantId": "t"}}
GOOD_REQUEST_SETTINGS = {"requestTimeout": "PT180S", "maxConcurrentRequestsPerInstance": 16}


def deployment(**properties: Any) -> dict[str, Any]:
    return {
        "properties": {
            "endpointComputeType": "Managed",
            "requestSettings": dict(GOOD_REQUEST_SETTINGS),
            **properties,
        }
    }


def autoscale(enabled: bool, *minimums: str) -> dict[str, Any]:
    return {
        "enabled": enabled,
        "profiles": [
            {"name": f"profile-{index}", "capacity": {"minimum": m, "maximum": "4", "default": m}}
            for index, m in enumerate(minimums or ("1",))
        ],
    }


# (rule, resource type, props that pass, props that must fail, text the violation must contain)
CASES = [
    (
        "registry-admin-user-disabled",
        rules.REGISTRY,
        {"adminUserEnabled": False},
        {"adminUserEnabled": True},
        "adminUserEnabled",
    ),
    (
        "registry-admin-user-disabled",
        rules.REGISTRY,
        {},
        {"anonymousPullEnabled": True},
        "anonymousPullEnabled",
    ),
    (
        "storage-account-locked-down",
        rules.STORAGE_ACCOUNT,
        GOOD_STORAGE,
        {**GOOD_STORAGE, "allowBlobPublicAccess": True},
        "allowBlobPublicAccess",
    ),
    (
        "storage-account-locked-down",
        rules.STORAGE_ACCOUNT,
        GOOD_STORAGE,
        {k: v for k, v in GOOD_STORAGE.items() if k != "allowBlobPublicAccess"},
        "allowBlobPublicAccess",
    ),
    (
        "storage-account-locked-down",
        rules.STORAGE_ACCOUNT,
        GOOD_STORAGE,
        {**GOOD_STORAGE, "minimumTlsVersion": "TLS1_0"},
        "TLS1_2",
    ),
    (
        "storage-account-locked-down",
        rules.STORAGE_ACCOUNT,
        GOOD_STORAGE,
        {k: v for k, v in GOOD_STORAGE.items() if k != "minimumTlsVersion"},
        "TLS1_2",
    ),
    (
        "storage-account-locked-down",
        rules.STORAGE_ACCOUNT,
        {k: v for k, v in GOOD_STORAGE.items() if k != "supportsHttpsTrafficOnly"},
        {**GOOD_STORAGE, "supportsHttpsTrafficOnly": False},
        "supportsHttpsTrafficOnly",
    ),
    (
        "key-vault-uses-rbac",
        rules.KEY_VAULT,
        GOOD_VAULT,
        {"properties": {"enableRbacAuthorization": False}},
        "enableRbacAuthorization",
    ),
    (
        "key-vault-uses-rbac",
        rules.KEY_VAULT,
        GOOD_VAULT,
        {"properties": {"tenantId": "t"}},
        "enableRbacAuthorization",
    ),
    (
        "key-vault-uses-rbac",
        rules.KEY_VAULT,
        {"properties": {"enableRbacAuthorization": True, "accessPolicies": []}},
        {
            "properties": {
                "enableRbacAuthorization": True,
                "accessPolicies": [
                    {"objectId": "o", "tenantId": "t", "permissions": {"secrets": ["get"]}}
                ],
            }
        },
        "accessPolicies",
    ),
    (
        "endpoint-requires-auth",
        rules.ONLINE_ENDPOINT,
        {"properties": {"authMode": "Key"}},
        {"properties": {"authMode": "AMLToken"}},
        "AMLToken",
    ),
    (
        "endpoint-requires-auth",
        rules.ONLINE_ENDPOINT,
        {"properties": {"authMode": "AADToken"}},
        {"properties": {}},
        "authMode",
    ),
    (
        "environment-image-pinned",
        rules.ENVIRONMENT_VERSION,
        {"properties": {"image": f"crvllm.azurecr.io/vllm-azureml@{DIGEST}"}},
        {"properties": {"image": "crvllm.azurecr.io/vllm-azureml:v0.11.0"}},
        "digest",
    ),
    (
        "environment-image-pinned",
        rules.ENVIRONMENT_VERSION,
        {"properties": {"image": f"docker.io/vllm/vllm-openai@{DIGEST}"}},
        {"properties": {"build": {"contextUri": "https://example.invalid/context"}}},
        "digest",
    ),
    (
        "environment-image-pinned",
        rules.ENVIRONMENT_VERSION,
        {"properties": {"image": f"crvllm.azurecr.io/vllm@{DIGEST}"}},
        {"properties": {"image": "crvllm.azurecr.io/vllm@sha256:abc"}},
        "digest",
    ),
    (
        "no-plaintext-secrets-in-environment",
        rules.ONLINE_DEPLOYMENT,
        deployment(environmentVariables={"HF_TOKEN": KEY_VAULT_REFERENCE}),
        deployment(environmentVariables={"HF_TOKEN": FAKE_HF_TOKEN}),
        "HF_TOKEN",
    ),
    (
        "no-plaintext-secrets-in-environment",
        rules.ONLINE_DEPLOYMENT,
        deployment(
            environmentVariables={
                "TOKENIZERS_PARALLELISM": "false",
                "MAX_NUM_BATCHED_TOKENS": "8192",
            }
        ),
        deployment(environmentVariables={"EXTRA": FAKE_HF_TOKEN}),
        "Hugging Face token",
    ),
    (
        "no-plaintext-secrets-in-environment",
        rules.ONLINE_DEPLOYMENT,
        deployment(
            environmentVariables={
                "VLLM_API_KEY": "",
                "MODEL_NAME": "deepseek-ai/DeepSeek-R1-Distill-Llama-8B",
            }
        ),
        deployment(environmentVariables={"VLLM_API_KEY": "let-me-in"}),
        "VLLM_API_KEY",
    ),
    (
        "no-plaintext-secrets-in-environment",
        rules.ONLINE_DEPLOYMENT,
        deployment(environmentVariables={"VLLM_ARGS": "--max-num-seqs 16 --api-key $VLLM_API_KEY"}),
        deployment(environmentVariables={"VLLM_ARGS": "--max-num-seqs 16 --api-key let-me-in"}),
        "--api-key",
    ),
    (
        "no-plaintext-secrets-in-environment",
        rules.ONLINE_DEPLOYMENT,
        deployment(),
        deployment(environmentVariables={"dbPassword": "hunter2"}),
        "dbPassword",
    ),
    (
        "required-tags",
        rules.ONLINE_DEPLOYMENT,
        {"tags": TAGS},
        {"tags": {k: v for k, v in TAGS.items() if k != "owner"}},
        "owner",
    ),
    ("required-tags", rules.KEY_VAULT, {"tags": TAGS}, {}, "none set"),
    (
        "required-tags",
        rules.STORAGE_ACCOUNT,
        {"tags": TAGS},
        {"tags": {**TAGS, "cost-center": " "}},
        "cost-center",
    ),
    (
        "required-tags",
        rules.REGISTRY,
        {"tags": TAGS},
        {"tags": {**TAGS, "stack": "prod"}},
        "belongs to stack 'dev'",
    ),
    (
        "deployment-request-timeout-bounded",
        rules.ONLINE_DEPLOYMENT,
        deployment(
            requestSettings={"requestTimeout": "PT3M", "maxConcurrentRequestsPerInstance": 8}
        ),
        deployment(
            requestSettings={"requestTimeout": "PT181S", "maxConcurrentRequestsPerInstance": 8}
        ),
        "PT180S",
    ),
    (
        "deployment-request-timeout-bounded",
        rules.ONLINE_DEPLOYMENT,
        deployment(
            requestSettings={"requestTimeout": "PT90S", "maxConcurrentRequestsPerInstance": 8}
        ),
        deployment(requestSettings={"maxConcurrentRequestsPerInstance": 8}),
        "must be set",
    ),
    (
        "deployment-request-timeout-bounded",
        rules.ONLINE_DEPLOYMENT,
        deployment(),
        deployment(
            requestSettings={"requestTimeout": "180", "maxConcurrentRequestsPerInstance": 8}
        ),
        "ISO 8601",
    ),
    (
        "deployment-request-timeout-bounded",
        rules.ONLINE_DEPLOYMENT,
        deployment(),
        deployment(
            requestSettings={"requestTimeout": "PT0S", "maxConcurrentRequestsPerInstance": 8}
        ),
        "more than 0",
    ),
    (
        "deployment-concurrency-above-one",
        rules.ONLINE_DEPLOYMENT,
        deployment(
            requestSettings={"requestTimeout": "PT180S", "maxConcurrentRequestsPerInstance": 2}
        ),
        deployment(
            requestSettings={"requestTimeout": "PT180S", "maxConcurrentRequestsPerInstance": 1}
        ),
        "more than 1",
    ),
    (
        "deployment-concurrency-above-one",
        rules.ONLINE_DEPLOYMENT,
        deployment(),
        deployment(requestSettings={"requestTimeout": "PT180S"}),
        "default 1",
    ),
    (
        "autoscale-keeps-capacity",
        rules.AUTOSCALE_SETTING,
        autoscale(True, "1", "2"),
        autoscale(True, "2", "0"),
        "profile-1",
    ),
    (
        "public-network-access-disabled",
        rules.ML_WORKSPACE,
        {"publicNetworkAccess": "Disabled"},
        {"publicNetworkAccess": "Enabled"},
        "Workspace",
    ),
    (
        "public-network-access-disabled",
        rules.ONLINE_ENDPOINT,
        {"properties": {"publicNetworkAccess": "Disabled"}},
        {"properties": {"authMode": "Key"}},
        "default Enabled",
    ),
]


@pytest.mark.parametrize(
    ("rule", "type_token", "good", "bad", "expected"),
    CASES,
    ids=[f"{case[0]}-{index}" for index, case in enumerate(CASES)],
)
def test_rule_passes_the_good_resource_and_fails_the_bad_one(
    rule: str, type_token: str, good: dict, bad: dict, expected: str
) -> None:
    assert validate(rule, type_token, good) == []
    violations = validate(rule, type_token, bad)
    assert violations, f"{rule} let a violating {type_token} through"
    assert any(expected in message for message in violations), violations


def test_every_resource_rule_has_a_failing_case() -> None:
    assert {rule.name for rule in rules.RESOURCE_RULES} == {case[0] for case in CASES}


def test_rules_ignore_resource_types_they_do_not_guard() -> None:
    # A role assignment takes no tags; a registry with auth settings is not an endpoint.
    assert validate("required-tags", "azure-native:authorization:RoleAssignment", {}) == []
    assert validate("endpoint-requires-auth", rules.REGISTRY, {"properties": {}}) == []


def test_secret_violations_never_repeat_the_secret() -> None:
    violations = validate(
        "no-plaintext-secrets-in-environment",
        rules.ONLINE_DEPLOYMENT,
        deployment(environmentVariables={"HF_TOKEN": FAKE_HF_TOKEN, "VLLM_API_KEY": "let-me-in"}),
    )
    assert len(violations) == 2
    assert not any(FAKE_HF_TOKEN in message or "let-me-in" in message for message in violations)


def test_autoscale_must_be_enabled_in_production_only() -> None:
    disabled = autoscale(False, "1")
    assert (
        validate("autoscale-keeps-capacity", rules.AUTOSCALE_SETTING, disabled, stack="dev") == []
    )
    for stack in ("prod", "prod-westeurope"):
        violations = validate("autoscale-keeps-capacity", rules.AUTOSCALE_SETTING, disabled, stack)
        assert any("must be enabled" in message for message in violations), stack
    # Outputs nest the same fields under `properties` (stack policies see outputs).
    nested = {"properties": disabled}
    assert validate("autoscale-keeps-capacity", rules.AUTOSCALE_SETTING, nested, stack="prod")


def test_production_stack_pattern_is_configurable() -> None:
    disabled = autoscale(False, "1")
    config = {"productionStackPattern": "^live$"}
    assert not validate(
        "autoscale-keeps-capacity", rules.AUTOSCALE_SETTING, disabled, "prod", config
    )
    assert validate("autoscale-keeps-capacity", rules.AUTOSCALE_SETTING, disabled, "live", config)


def test_unknown_values_during_preview_skip_only_their_own_check() -> None:
    # Unknown authMode: nothing to judge yet (pulumi up re-checks with the value known).
    assert (
        validate(
            "endpoint-requires-auth",
            rules.ONLINE_ENDPOINT,
            {"properties": {"authMode": UNKNOWN_STRING_VALUE}},
        )
        == []
    )
    # One unknown variable does not hide a plaintext one next to it.
    violations = validate(
        "no-plaintext-secrets-in-environment",
        rules.ONLINE_DEPLOYMENT,
        deployment(environmentVariables={"HF_TOKEN": UNKNOWN_STRING_VALUE, "API_KEY": "open"}),
    )
    assert len(violations) == 1
    assert "API_KEY" in violations[0]
    # An unknown TLS version skips the TLS check, not the public-access check.
    violations = validate(
        "storage-account-locked-down",
        rules.STORAGE_ACCOUNT,
        {**GOOD_STORAGE, "minimumTlsVersion": UNKNOWN_STRING_VALUE, "allowBlobPublicAccess": True},
    )
    assert len(violations) == 1
    assert "allowBlobPublicAccess" in violations[0]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT180S", 180),
        ("PT3M", 180),
        ("PT2M30S", 150),
        ("PT0.5S", 0.5),
        ("PT1H", 3600),
        ("P1D", 86400),
    ],
)
def test_iso_durations_parse(text: str, seconds: float) -> None:
    assert rules.duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["180", "PT", "P", "PT180", "180S", "PTS", "PT-5S", ""])
def test_non_durations_are_rejected(text: str) -> None:
    assert rules.duration_seconds(text) is None


def test_stack_name_comes_from_the_urn() -> None:
    assert rules.stack_of(urn("prod-westeurope", rules.REGISTRY)) == "prod-westeurope"
    assert rules.stack_of("not-a-urn") == ""


# --- The stack rule ------------------------------------------------------------------------------


def policy_resource(
    type_token: str, name: str, props: Mapping[str, Any], stack: str
) -> PolicyResource:
    return PolicyResource(
        type_token,
        unknown_checking_proxy(dict(props)),
        urn(stack, type_token, name),
        name,
        options(),
        None,
        None,
        [],
        {},
    )


def validate_stack(resources: list[PolicyResource]) -> list[tuple[str, str | None]]:
    reported: list[tuple[str, str | None]] = []

    def report(message: str, urn: str | None = None) -> None:
        reported.append((message, urn))

    for rule in rules.STACK_RULES:
        rule.validate(StackValidationArgs(resources, {}), report)
    return reported


def deployment_and_autoscale(stack: str, target: str) -> list[PolicyResource]:
    online = policy_resource(rules.ONLINE_DEPLOYMENT, "blue", {"name": "blue"}, stack)
    scaler = policy_resource(
        rules.AUTOSCALE_SETTING,
        "autoscale",
        {
            "properties": {
                "targetResourceUri": f"/subscriptions/s/.../onlineEndpoints/e/deployments/{target}"
            }
        },
        stack,
    )
    return [online, scaler]


def test_prod_deployment_without_autoscale_is_reported_against_the_deployment() -> None:
    resources = deployment_and_autoscale("prod", "green")
    violations = validate_stack(resources)
    assert len(violations) == 1
    assert "blue" in violations[0][0]
    assert violations[0][1] == resources[0].urn


def test_prod_deployment_with_autoscale_passes_and_dev_needs_none() -> None:
    assert validate_stack(deployment_and_autoscale("prod", "blue")) == []
    assert validate_stack(deployment_and_autoscale("dev", "green")) == []


def test_unknown_autoscale_target_falls_back_to_the_property_dependency() -> None:
    online = policy_resource(rules.ONLINE_DEPLOYMENT, "blue", {"name": "blue"}, "prod")
    scaler = policy_resource(
        rules.AUTOSCALE_SETTING, "autoscale", {"targetResourceUri": UNKNOWN_STRING_VALUE}, "prod"
    )
    assert len(validate_stack([online, scaler])) == 1
    scaler.property_dependencies["targetResourceUri"] = [online]
    assert validate_stack([online, scaler]) == []


# --- Every committed stack passes every mandatory rule --------------------------------------------


def _engine_value(value: Any) -> Any:
    """The offline recorder's "[unknown]" back to the sentinel the policy SDK sees in preview."""
    if value == "[unknown]":
        return UNKNOWN_STRING_VALUE
    if isinstance(value, dict):
        return {key: _engine_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_engine_value(item) for item in value]
    return value


def mandatory_violations(resources: list[RecordedResource]) -> list[str]:
    """Every mandatory rule over the recorded resources, as the analyzer would run them."""
    found: list[str] = []
    for resource in resources:
        for rule in rules.mandatory_resource_rules():
            messages: list[str] = []
            args = ResourceValidationArgs(
                resource.type,
                unknown_checking_proxy(_engine_value(resource.inputs)),
                resource.urn,
                resource.name,
                options(),
                None,
                {},
            )
            rule.validate(args, lambda message, urn=None, into=messages: into.append(message))
            found += [f"{rule.name}: {resource.type} {resource.name}: {m}" for m in messages]
    # Stack policies see outputs; property dependencies link autoscale settings to deployments.
    by_urn: dict[str, PolicyResource] = {}
    for resource in resources:
        converted = policy_resource(
            resource.type, resource.name, _engine_value(resource.outputs or resource.inputs), ""
        )
        converted.urn = resource.urn
        by_urn[resource.urn] = converted
    for resource in resources:
        by_urn[resource.urn].property_dependencies = {
            key: [by_urn[dependency] for dependency in urns if dependency in by_urn]
            for key, urns in resource.property_dependencies.items()
        }
    for rule in rules.STACK_RULES:
        if rule.enforcement_level == EnforcementLevel.MANDATORY:
            messages = []
            stack_args = StackValidationArgs(list(by_urn.values()), {})
            rule.validate(stack_args, lambda message, urn=None, into=messages: into.append(message))
            found += [f"{rule.name}: {m}" for m in messages]
    return found


@pytest.mark.parametrize("preview", [False, True], ids=["up", "preview"])
def test_every_committed_stack_passes_every_mandatory_rule(
    stack: str, run: RunProgram, preview: bool
) -> None:
    resources = run(stack, preview=preview).resources
    assert mandatory_violations(resources) == []


def test_the_stack_check_can_fail() -> None:
    """The check above is only meaningful if a weakened resource in a real run is caught."""
    weakened = RecordedResource(
        urn=urn("prod", rules.ONLINE_ENDPOINT, "endpoint"),
        type=rules.ONLINE_ENDPOINT,
        name="endpoint",
        custom=True,
        parent="",
        inputs={"properties": {"authMode": "AMLToken"}, "tags": TAGS},
        secret_paths=[],
        dependencies=[],
        property_dependencies={},
        protect=False,
        ignore_changes=[],
        custom_timeouts={},
        delete_before_replace=False,
        retain_on_delete=False,
    )
    violations = mandatory_violations([weakened])
    assert any(v.startswith("endpoint-requires-auth") for v in violations)
    assert any(v.startswith("required-tags") for v in violations)  # stack tag is dev, urn says prod


def _expected_types(stack: str) -> set[str]:
    expected = {
        rules.REGISTRY,
        rules.STORAGE_ACCOUNT,
        rules.KEY_VAULT,
        rules.ML_WORKSPACE,
        rules.ONLINE_ENDPOINT,
        rules.ONLINE_DEPLOYMENT,
        rules.ENVIRONMENT_VERSION,
    }
    config, _ = load_stack_config(stack)
    deployments = json.loads(config.get(f"{PROJECT}:deployments", "[]"))
    if any((entry.get("autoscale") or {}).get("enabled") for entry in deployments):
        expected.add(rules.AUTOSCALE_SETTING)
    return expected


def test_every_committed_stack_declares_what_the_rules_guard(stack: str, run: RunProgram) -> None:
    """Without this the mandatory-rule check above could pass because a resource is absent."""
    declared = {resource.type for resource in run(stack).resources}
    assert sorted(_expected_types(stack) - declared) == []


def _is_tracked(type_token: str) -> bool:
    """Whether the provider SDK's resource takes both `tags` and `location` (an ARM tracked resource)."""
    _, module, kind = type_token.split(":")
    resource_class = getattr(importlib.import_module(f"pulumi_azure_native.{module}"), kind)
    parameters = inspect.signature(resource_class._internal_init).parameters
    return "tags" in parameters and "location" in parameters


def test_taggable_types_are_real_tracked_resources() -> None:
    # A misspelt type token would silently exempt that type from the tag rule.
    assert all(_is_tracked(type_token) for type_token in rules.TAGGABLE_TYPES)


def test_every_taggable_type_the_program_declares_is_covered(stack: str, run: RunProgram) -> None:
    declared = {
        resource.type
        for resource in run(stack).resources
        if resource.custom and resource.type.startswith("azure-native:")
    }
    uncovered = sorted(t for t in declared if _is_tracked(t) and t not in rules.TAGGABLE_TYPES)
    assert uncovered == [], "add these to policy/rules.py TAGGABLE_TYPES"


# --- The pack itself ------------------------------------------------------------------------------


def test_pack_main_builds_the_pack_from_the_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    built: dict[str, Any] = {}

    def fake_pack(**kwargs: Any) -> None:  # the real one starts a server and never returns
        built.update(kwargs)

    monkeypatch.setattr(pulumi_policy, "PolicyPack", fake_pack)
    monkeypatch.syspath_prepend(str(ROOT / "policy"))
    runpy.run_path(str(ROOT / "policy" / "__main__.py"), run_name="__main__")

    names = [policy.name for policy in built["policies"]]
    assert len(names) == len(set(names)) == len(rules.RESOURCE_RULES) + len(rules.STACK_RULES)
    assert re.fullmatch(r"[a-zA-Z0-9-_.]{1,100}", built["name"])
    assert built["enforcement_level"] == EnforcementLevel.MANDATORY
    advisory = {
        p.name for p in built["policies"] if p.enforcement_level == EnforcementLevel.ADVISORY
    }
    assert advisory == {"public-network-access-disabled"}


def test_pack_answers_the_engine_over_grpc() -> None:
    """The real analyzer server, as `pulumi preview --policy-pack policy` starts it."""
    process = subprocess.Popen(
        [sys.executable, "-u", "__main__.py"],
        cwd=ROOT / "policy",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().strip())  # the pack prints its port, then serves
        stub = analyzer_pb2_grpc.AnalyzerStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
        levels = {policy.name: policy.enforcementLevel for policy in info.policies}
        assert levels["endpoint-requires-auth"] == analyzer_pb2.MANDATORY
        assert levels["public-network-access-disabled"] == analyzer_pb2.ADVISORY
        properties = struct_pb2.Struct()
        properties.update({"properties": {"authMode": "AMLToken"}, "tags": TAGS})
        response = stub.Analyze(
            analyzer_pb2.AnalyzeRequest(
                type=rules.ONLINE_ENDPOINT,
                urn=urn("dev", rules.ONLINE_ENDPOINT),
                name="resource",
                properties=properties,
            ),
            timeout=30,
        )
        blocking = {
            diagnostic.policyName
            for diagnostic in response.diagnostics
            if diagnostic.enforcementLevel == analyzer_pb2.MANDATORY
        }
        assert blocking == {"endpoint-requires-auth"}
    finally:
        process.terminate()
        process.wait(timeout=10)


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_policy_pack_pins_match_the_program_and_the_test_tooling() -> None:
    pack = _pins(ROOT / "policy" / "requirements.txt")
    assert pack["pulumi"] == _pins(ROOT / "requirements.txt")["pulumi"]
    assert pack["pulumi-policy"] == _pins(ROOT / "requirements-dev.txt")["pulumi-policy"]
    assert pack["pulumi-policy"] == importlib.metadata.version("pulumi-policy")
    manifest = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"


# --- The workflows that apply the pack ------------------------------------------------------------

WORKFLOWS = ROOT / ".github" / "workflows"

# Inputs of each pinned action, read from its action.yml at the pinned commit. actionlint knows
# only a list of popular actions, so a misspelt input of these would otherwise pass unnoticed.
ACTION_INPUTS = {
    "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1": {
        "persist-credentials",
        "fetch-depth",
        "ref",
    },
    "actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97": {
        "python-version",
        "cache",
        "cache-dependency-path",
    },
    "azure/login@f5d393ae46f8fde4be8b75f32e3fc50e654ad0ca": {
        "client-id",
        "tenant-id",
        "subscription-id",
        "allow-no-subscriptions",
        "audience",
        "environment",
        "auth-type",
        "enable-AzPSSession",
    },
    "pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d": {
        "command",
        "stack-name",
        "pulumi-version",
        "work-dir",
        "comment-on-pr",
        "comment-on-summary",
        "cloud-url",
        "secrets-provider",
        "policyPacks",
        "policyPackConfigs",
        "diff",
        "refresh",
        "upsert",
        "edit-pr-comment",
        "always-include-summary",
        "suppress-outputs",
        "message",
        "expect-no-changes",
        "github-token",
    },
}


def workflow(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as the boolean True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def steps_using(document: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [
        step
        for job in document["jobs"].values()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).startswith(action + "@")
    ]


def test_actions_are_pinned_to_commits_with_known_inputs() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        text = path.read_text()
        for uses, comment in re.findall(r"uses:\s*([^\s#]+)\s*(#.*)?", text):
            if uses.startswith("./"):
                continue
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), f"{path.name}: {uses}"
            assert re.fullmatch(r"# v\d+\.\d+\.\d+", comment), f"{path.name}: {uses} needs # vX.Y.Z"
            assert uses in ACTION_INPUTS, f"{path.name}: add {uses}'s inputs to ACTION_INPUTS"
        document = yaml.safe_load(text)
        for job in document["jobs"].values():
            for step in job.get("steps", []):
                if "uses" in step and not step["uses"].startswith("./"):
                    unknown = set(step.get("with", {})) - ACTION_INPUTS[step["uses"]]
                    assert not unknown, f"{path.name}: {step['uses']} has no inputs {unknown}"


def test_pulumi_cli_version_matches_the_sdk_pin() -> None:
    sdk = _pins(ROOT / "requirements.txt")["pulumi"]
    for name in ("preview.yml", "pulumi-up.yml"):
        assert workflow(name)["env"]["PULUMI_VERSION"] == sdk, name


def test_preview_runs_on_pull_requests_with_least_privilege_per_pr() -> None:
    preview = workflow("preview.yml")
    assert "pull_request" in preview["on"]
    assert preview["permissions"] == {"contents": "read"}
    assert "github.event.pull_request.number" in preview["concurrency"]["group"]
    assert preview["concurrency"]["cancel-in-progress"] is True
    job = preview["jobs"]["preview"]
    assert job["permissions"] == {"contents": "read", "pull-requests": "write", "id-token": "write"}
    assert set(job["needs"]) == {"test", "stacks"}
    assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    assert any(step.get("run") == "make test" for step in preview["jobs"]["test"]["steps"])


def test_preview_and_up_run_the_policy_pack_with_oidc() -> None:
    for name, command in (("preview.yml", "preview"), ("pulumi-up.yml", "up")):
        document = workflow(name)
        (pulumi,) = steps_using(document, "pulumi/actions")
        assert pulumi["with"]["command"] == command
        assert pulumi["with"]["policyPacks"] == "policy"
        (login,) = steps_using(document, "azure/login")
        assert {"client-id", "tenant-id", "subscription-id"} <= set(login["with"])
        assert "creds" not in login["with"]  # no client secret anywhere
        job = next(j for j in document["jobs"].values() if pulumi in j["steps"])
        assert job["env"]["ARM_USE_OIDC"] == "true"
        assert {"ARM_CLIENT_ID", "ARM_TENANT_ID", "ARM_SUBSCRIPTION_ID"} <= set(job["env"])
        assert job["permissions"]["id-token"] == "write"
    (pulumi,) = steps_using(workflow("preview.yml"), "pulumi/actions")
    assert pulumi["with"]["comment-on-pr"] is True


def test_stack_matrix_lists_every_committed_stack_file(tmp_path: Path) -> None:
    if not (shutil.which("bash") and shutil.which("jq")):
        pytest.skip("bash and jq are needed to run the workflow's listing script")
    (step,) = [
        s for s in workflow("preview.yml")["jobs"]["stacks"]["steps"] if s.get("id") == "list"
    ]
    for stack_file in ROOT.glob("Pulumi.*.yaml"):
        shutil.copy(stack_file, tmp_path / stack_file.name)
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    output = tmp_path / "github-output"
    result = subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        cwd=tmp_path,
        env={"GITHUB_OUTPUT": str(output), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (line,) = output.read_text().splitlines()
    assert sorted(json.loads(line.removeprefix("stacks="))) == committed_stacks()


def test_deploy_updates_dev_then_prod_behind_its_environment() -> None:
    deploy = workflow("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    assert "stack" in deploy["on"]["workflow_dispatch"]["inputs"]
    jobs = deploy["jobs"]
    for name, environment in (("dev", "dev"), ("prod", "prod")):
        assert jobs[name]["uses"] == "./.github/workflows/pulumi-up.yml"
        assert jobs[name]["with"] == {"stack": name, "environment": environment}
    assert jobs["dev"]["needs"] == "test"
    assert jobs["prod"]["needs"] == "dev"
    # Manual runs of a production stack go through the reviewed `prod` environment too.
    assert "'prod'" in jobs["dispatch"]["with"]["environment"]
    up = workflow("pulumi-up.yml")["jobs"]["up"]
    assert up["environment"] == "${{ inputs.environment }}"
    assert up["concurrency"]["cancel-in-progress"] is False
    assert up["concurrency"]["group"].endswith("${{ inputs.stack }}")

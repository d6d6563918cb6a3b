"""The guardrails of the policy pack: what no pull request may quietly weaken.

Each validator is a plain function ``(args, report_violation) -> None`` over the resource's inputs
exactly as the Pulumi engine hands them to a policy pack: camelCase wire names
(``props["properties"]["authMode"]``), secrets already unwrapped to their plaintext. Keeping them
plain functions lets the tests call them directly with ``ResourceValidationArgs``, without the gRPC
server that ``PolicyPack`` starts.

During ``pulumi preview`` some inputs are still unknown (an id or a digest that only exists once
another resource is created). A check that meets an unknown value skips that one check rather than
the whole rule: ``pulumi up`` runs every policy again, with every input resolved, before the
resource is created, so nothing unknown at preview time gets past the update.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyResource,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidation,
    StackValidationArgs,
    StackValidationPolicy,
)

try:  # imported as policy.rules (the tests)
    from policy.inputs import (
        DEFAULT_PRODUCTION_STACK_PATTERN,
        MISSING,
        UNKNOWN,
        duration_seconds,
        is_production,
        lookup,
        lookup_any,
        stack_of,
    )
    from policy.secret_forms import secret_kind
except ImportError:  # run by the policy runtime, which puts policy/ itself on sys.path
    from inputs import (  # type: ignore[no-redef]
        DEFAULT_PRODUCTION_STACK_PATTERN,
        MISSING,
        UNKNOWN,
        duration_seconds,
        is_production,
        lookup,
        lookup_any,
        stack_of,
    )
    from secret_forms import secret_kind  # type: ignore[no-redef]

PACK_NAME = "vllm-azureml-guardrails"

REGISTRY = "azure-native:containerregistry:Registry"
STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
KEY_VAULT = "azure-native:keyvault:Vault"
RESOURCE_GROUP = "azure-native:resources:ResourceGroup"
LOG_ANALYTICS = "azure-native:operationalinsights:Workspace"
APP_INSIGHTS = "azure-native:applicationinsights:Component"
ML_WORKSPACE = "azure-native:machinelearningservices:Workspace"
ONLINE_ENDPOINT = "azure-native:machinelearningservices:OnlineEndpoint"
ONLINE_DEPLOYMENT = "azure-native:machinelearningservices:OnlineDeployment"
ENVIRONMENT_VERSION = "azure-native:machinelearningservices:EnvironmentVersion"
AUTOSCALE_SETTING = "azure-native:monitor:AutoscaleSetting"
WORKBOOK = "azure-native:applicationinsights:Workbook"
ACTION_GROUP = "azure-native:monitor:ActionGroup"
METRIC_ALERT = "azure-native:monitor:MetricAlert"

# Every azure-native type this project declares (or may soon) that is an ARM tracked resource: it
# takes `tags` and a `location`, so it shows up on its own in cost reports and in Azure Policy's
# indexed mode. (Child resources such as Key Vault secrets take tags but no location, and are not
# billed on their own.) tests/test_policy.py checks this set against the provider SDK for every
# type the program declares, so a new tracked type cannot slip past the tag rule unnoticed.
TAGGABLE_TYPES = frozenset(
    {
        RESOURCE_GROUP,
        STORAGE_ACCOUNT,
        KEY_VAULT,
        REGISTRY,
        LOG_ANALYTICS,
        APP_INSIGHTS,
        ML_WORKSPACE,
        ONLINE_ENDPOINT,
        ONLINE_DEPLOYMENT,
        AUTOSCALE_SETTING,
        WORKBOOK,
        ACTION_GROUP,
        METRIC_ALERT,
    }
)

# Who owns it, who pays, which stack and region made it: what cost reports and clean-ups group by.
REQUIRED_TAGS = ("project", "stack", "region", "owner", "cost-center")

# Endpoint auth modes that require a credential the endpoint owner controls. AMLToken is refused:
# any workspace user can mint one, and it is meant for Azure ML's own tooling.
ALLOWED_AUTH_MODES = ("Key", "AADToken")

# AzureML's ceiling for requestSettings.requestTimeout (reference-yaml-deployment-managed-online).
MAX_REQUEST_TIMEOUT_SECONDS = 180.0

# Which stacks are production, for both autoscale rules. Configurable per policy:
#   pulumi preview --policy-pack policy --policy-pack-config config.json
# with {"autoscale-keeps-capacity": {"productionStackPattern": "^(prod|live)(-.+)?$"},
#       "prod-deployments-autoscaled": {"productionStackPattern": "^(prod|live)(-.+)?$"}}.
PRODUCTION_STACK_CONFIG = PolicyConfigSchema(
    properties={
        "productionStackPattern": {
            "type": "string",
            "description": "Regular expression (full match) for the stack names that are production.",
            "default": DEFAULT_PRODUCTION_STACK_PATTERN,
        }
    }
)


class Report(Protocol):
    """The engine's ``report_violation(message, urn=None)``.

    pulumi_policy's own ``ReportViolation`` alias types ``urn`` as required, but the callback the
    analyzer passes defaults it to None, and its documentation calls it with the message alone.
    """

    def __call__(self, message: str, urn: str | None = None, /) -> None: ...


# --- Mandatory rules: security ------------------------------------------------------------------


def registry_admin_user_disabled(args: ResourceValidationArgs, report: Report) -> None:
    """The registry's admin user is a shared username/password with push rights that never expires
    and appears in no audit log as a person: pulls and pushes use Entra ID identities instead."""
    if args.resource_type != REGISTRY:
        return
    if lookup(args.props, "adminUserEnabled") is True:
        report("Container registry: adminUserEnabled must be false (use Entra ID identities).")
    if lookup(args.props, "anonymousPullEnabled") is True:
        report("Container registry: anonymousPullEnabled must be false (images are private).")


def storage_account_locked_down(args: ResourceValidationArgs, report: Report) -> None:
    """The workspace storage holds models, logs and run artefacts: no anonymous blob access, and
    TLS 1.2 or newer over HTTPS only. Settings whose ARM default is or was insecure must be explicit:
    minimumTlsVersion defaults to TLS 1.0 and allowBlobPublicAccess defaulted to true on older API
    versions. supportsHttpsTrafficOnly has defaulted to true since API version 2019-04-01, so only
    an explicit false is refused."""
    if args.resource_type != STORAGE_ACCOUNT:
        return
    public = lookup(args.props, "allowBlobPublicAccess")
    if public is not UNKNOWN and public is not False:
        report(f"Storage account: allowBlobPublicAccess must be set to false (got {public!r}).")
    tls = lookup(args.props, "minimumTlsVersion")
    if tls is not UNKNOWN and tls not in ("TLS1_2", "TLS1_3"):
        report(f"Storage account: minimumTlsVersion must be TLS1_2 (got {tls!r}).")
    https_only = lookup(args.props, "supportsHttpsTrafficOnly")
    if https_only is False:
        report("Storage account: supportsHttpsTrafficOnly must not be false (HTTPS only).")


def key_vault_uses_rbac(args: ResourceValidationArgs, report: Report) -> None:
    """With access policies, anyone with Contributor on the vault can grant themselves secret
    access; with Azure RBAC only role-assignment writers can. A vault without
    enableRbacAuthorization silently falls back to access policies (ARM default false)."""
    if args.resource_type != KEY_VAULT:
        return
    rbac = lookup(args.props, "properties", "enableRbacAuthorization")
    if rbac is not UNKNOWN and rbac is not True:
        report(f"Key Vault: properties.enableRbacAuthorization must be true (got {rbac!r}).")
    policies = lookup(args.props, "properties", "accessPolicies")
    if policies not in (MISSING, UNKNOWN) and len(policies) > 0:
        report(
            f"Key Vault: properties.accessPolicies must be empty with RBAC ({len(policies)} given); "
            "grant roles such as Key Vault Secrets User instead."
        )


def endpoint_requires_auth(args: ResourceValidationArgs, report: Report) -> None:
    """The scoring endpoint must demand a key or an Entra ID token the owner controls."""
    if args.resource_type != ONLINE_ENDPOINT:
        return
    mode = lookup(args.props, "properties", "authMode")
    if mode is not UNKNOWN and mode not in ALLOWED_AUTH_MODES:
        report(
            f"Online endpoint: properties.authMode must be one of {', '.join(ALLOWED_AUTH_MODES)} "
            f"(got {mode!r}); AMLToken tokens can be minted by any workspace user."
        )


# An image reference that names a digest: the same bytes on every `pulumi up`.
_DIGEST_REFERENCE = re.compile(r"[^\s@]+@sha256:[0-9a-f]{64}")


def environment_image_pinned(args: ResourceValidationArgs, report: Report) -> None:
    """Tags move: an environment on a tag (`vllm:v1`) may deploy different software on every restart
    or scale-out. AzureML pulls exactly the digest it is given."""
    if args.resource_type != ENVIRONMENT_VERSION:
        return
    image = lookup(args.props, "properties", "image")
    if image is UNKNOWN:
        return
    if image is MISSING:
        report(
            "Environment version: properties.image must reference an image by digest; an "
            "environment built by AzureML from a build context is not pinned."
        )
    elif not isinstance(image, str) or _DIGEST_REFERENCE.fullmatch(image) is None:
        report(
            f"Environment version: properties.image must be referenced by digest "
            f"(<repository>@sha256:<64 hex>), got {image!r}."
        )


def no_plaintext_secrets_in_environment(args: ResourceValidationArgs, report: Report) -> None:
    """A deployment's environment variables are stored in the ARM resource and shown to anyone with
    Reader on the workspace, whether or not Pulumi marked the value secret. Secrets go to Key Vault
    and are injected as ``${{keyvault:https://<vault>.vault.azure.net/secrets/<name>/<version>}}``."""
    if args.resource_type != ONLINE_DEPLOYMENT:
        return
    variables = lookup(args.props, "properties", "environmentVariables")
    if variables in (MISSING, UNKNOWN) or not isinstance(variables, Mapping):
        return
    for name in sorted(variables):
        value = lookup(variables, name)
        if value is UNKNOWN or not isinstance(value, str):
            continue
        kind = secret_kind(name, value)
        if kind is not None:
            report(
                f"Online deployment: environment variable {name} holds {kind} in plaintext; "
                "store it in Key Vault and reference it as ${{keyvault:<secret URI>}}."
            )


def required_tags_present(args: ResourceValidationArgs, report: Report) -> None:
    """Cost reports, budgets and clean-up scripts group by these tags; an untagged GPU deployment is
    a bill nobody can attribute. The `stack` tag must name the stack that declared the resource."""
    if args.resource_type not in TAGGABLE_TYPES:
        return
    tags = lookup(args.props, "tags")
    if tags is UNKNOWN:
        return
    if not isinstance(tags, Mapping):
        report(f"Tags: none set; required: {', '.join(REQUIRED_TAGS)}.")
        return
    missing = []
    for tag in REQUIRED_TAGS:
        value = lookup(tags, tag)
        if value is UNKNOWN:
            continue
        if not isinstance(value, str) or not value.strip():
            missing.append(tag)
    if missing:
        report(
            f"Tags: missing or empty: {', '.join(missing)} (required: {', '.join(REQUIRED_TAGS)})."
        )
    stack = stack_of(args.urn)
    tagged_stack = lookup(tags, "stack")
    if stack and isinstance(tagged_stack, str) and tagged_stack and tagged_stack != stack:
        report(f"Tags: stack tag is {tagged_stack!r} but the resource belongs to stack {stack!r}.")


# --- Mandatory rules: serving -------------------------------------------------------------------


def deployment_request_timeout_bounded(args: ResourceValidationArgs, report: Report) -> None:
    """AzureML rejects a request timeout above 180 s, and its 5 s default cuts off a reasoning model
    after a few hundred tokens: the timeout must be set explicitly, within (0, 180] s."""
    if args.resource_type != ONLINE_DEPLOYMENT:
        return
    timeout = lookup(args.props, "properties", "requestSettings", "requestTimeout")
    if timeout is UNKNOWN:
        return
    if timeout is MISSING:
        report(
            "Online deployment: properties.requestSettings.requestTimeout must be set "
            "(AzureML's default PT5S cuts long generations off with 408)."
        )
        return
    seconds = duration_seconds(timeout) if isinstance(timeout, str) else None
    if seconds is None:
        report(
            f"Online deployment: requestSettings.requestTimeout {timeout!r} is not an ISO 8601 "
            "duration such as PT180S."
        )
    elif not 0 < seconds <= MAX_REQUEST_TIMEOUT_SECONDS:
        report(
            f"Online deployment: requestSettings.requestTimeout {timeout} must be more than 0 and "
            f"at most PT{MAX_REQUEST_TIMEOUT_SECONDS:.0f}S (AzureML's maximum)."
        )


def deployment_concurrency_above_one(args: ResourceValidationArgs, report: Report) -> None:
    """With one request per instance, AzureML admits two in flight and answers 429 to the rest
    while vLLM's batch sits mostly empty. The default is 1, so the value must be set above it."""
    if args.resource_type != ONLINE_DEPLOYMENT:
        return
    concurrency = lookup(
        args.props, "properties", "requestSettings", "maxConcurrentRequestsPerInstance"
    )
    if concurrency is UNKNOWN:
        return
    if (
        isinstance(concurrency, bool)
        or not isinstance(concurrency, int | float)
        or concurrency <= 1
    ):
        shown = "not set (default 1)" if concurrency is MISSING else repr(concurrency)
        report(
            "Online deployment: requestSettings.maxConcurrentRequestsPerInstance must be more "
            f"than 1 (got {shown}); set it to vLLM's --max-num-seqs."
        )


def autoscale_keeps_capacity(args: ResourceValidationArgs, report: Report) -> None:
    """Managed online deployments cannot scale to zero, so every profile keeps at least one
    instance; in production the setting must also be enabled (the SDK default is disabled)."""
    if args.resource_type != AUTOSCALE_SETTING:
        return
    profiles = lookup_any(args.props, ("profiles",), ("properties", "profiles"))
    if isinstance(profiles, Sequence) and not isinstance(profiles, str):
        for index in range(len(profiles)):
            minimum = lookup(profiles, index, "capacity", "minimum")
            if minimum is UNKNOWN:
                continue
            name = lookup(profiles, index, "name")
            label = name if isinstance(name, str) else f"#{index}"
            try:
                count = int(str(minimum))
            except ValueError:
                count = None
            if count is None or count < 1:
                report(
                    f"Autoscale: profile {label} capacity.minimum must be at least 1 "
                    f"(got {minimum!r}); managed online deployments cannot scale to zero."
                )
    stack = stack_of(args.urn)
    if is_production(stack, args.get_config()):
        enabled = lookup_any(args.props, ("enabled",), ("properties", "enabled"))
        if enabled is not UNKNOWN and enabled is not True:
            report(f"Autoscale: must be enabled in production stack {stack!r} (got {enabled!r}).")


def _deployment_name(resource: PolicyResource) -> str | None:
    name = lookup_any(resource.props, ("deploymentName",), ("name",))
    return name if isinstance(name, str) else None


def _targets(autoscale: PolicyResource, deployment: PolicyResource) -> bool:
    target = lookup_any(
        autoscale.props, ("targetResourceUri",), ("properties", "targetResourceUri")
    )
    name = _deployment_name(deployment)
    if isinstance(target, str) and name:
        return target.rstrip("/").lower().endswith(f"/deployments/{name.lower()}")
    # Unknown during preview: fall back to the dependency the engine recorded for the property.
    linked = autoscale.property_dependencies.get("targetResourceUri", [])
    return any(resource.urn == deployment.urn for resource in linked)


def prod_deployments_autoscaled(args: StackValidationArgs, report: Report) -> None:
    """In production, traffic varies and an instance can fail: every online deployment must have an
    autoscale setting. (Turning autoscale off for a deployment removes its setting, which a
    per-resource rule cannot see; only the whole stack shows the gap.)"""
    resources = list(args.resources)
    stack = next((stack_of(resource.urn) for resource in resources if resource.urn), "")
    if not is_production(stack, args.get_config()):
        return
    autoscales = [r for r in resources if r.resource_type == AUTOSCALE_SETTING]
    for deployment in (r for r in resources if r.resource_type == ONLINE_DEPLOYMENT):
        if not any(_targets(autoscale, deployment) for autoscale in autoscales):
            report(
                f"Online deployment {_deployment_name(deployment) or deployment.name} in "
                f"production stack {stack!r} has no autoscale setting.",
                deployment.urn,
            )


# --- Advisory rules: a stack may legitimately differ ----------------------------------------------


def public_network_access_disabled(args: ResourceValidationArgs, report: Report) -> None:
    """Public network access is fine for a public API protected by keys or Entra ID, but private
    endpoints are the stronger posture: reported, never blocking."""
    if args.resource_type == ML_WORKSPACE:
        path: tuple[str, ...] = ("publicNetworkAccess",)
        label = "Workspace"
    elif args.resource_type == ONLINE_ENDPOINT:
        path = ("properties", "publicNetworkAccess")
        label = "Online endpoint"
    else:
        return
    access = lookup(args.props, *path)
    if access is UNKNOWN or access == "Disabled":
        return
    shown = "not set (default Enabled)" if access is MISSING else repr(access)
    report(f"{label}: public network access is {shown}; consider Disabled with private endpoints.")


# --- The pack -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceRule:
    """One per-resource policy and the resource types it looks at."""

    name: str
    description: str
    resource_types: frozenset[str]
    validate: Callable[[ResourceValidationArgs, Report], None]
    enforcement_level: EnforcementLevel = EnforcementLevel.MANDATORY
    config_schema: PolicyConfigSchema | None = None


@dataclass(frozen=True)
class StackRule:
    """One whole-stack policy and the resource types it looks at."""

    name: str
    description: str
    resource_types: frozenset[str]
    validate: Callable[[StackValidationArgs, Report], None]
    enforcement_level: EnforcementLevel = EnforcementLevel.MANDATORY
    config_schema: PolicyConfigSchema | None = None


RESOURCE_RULES: tuple[ResourceRule, ...] = (
    ResourceRule(
        "registry-admin-user-disabled",
        "Container registries have the admin user and anonymous pull off.",
        frozenset({REGISTRY}),
        registry_admin_user_disabled,
    ),
    ResourceRule(
        "storage-account-locked-down",
        "Storage accounts: no public blob access, minimum TLS 1.2, HTTPS only.",
        frozenset({STORAGE_ACCOUNT}),
        storage_account_locked_down,
    ),
    ResourceRule(
        "key-vault-uses-rbac",
        "Key Vaults authorize data access with Azure RBAC and have no access policies.",
        frozenset({KEY_VAULT}),
        key_vault_uses_rbac,
    ),
    ResourceRule(
        "endpoint-requires-auth",
        "Online endpoints authenticate callers with Key or AADToken (never AMLToken).",
        frozenset({ONLINE_ENDPOINT}),
        endpoint_requires_auth,
    ),
    ResourceRule(
        "environment-image-pinned",
        "AzureML environments reference their container image by digest.",
        frozenset({ENVIRONMENT_VERSION}),
        environment_image_pinned,
    ),
    ResourceRule(
        "no-plaintext-secrets-in-environment",
        "Online deployments carry no plaintext secrets in environment variables.",
        frozenset({ONLINE_DEPLOYMENT}),
        no_plaintext_secrets_in_environment,
    ),
    ResourceRule(
        "required-tags",
        f"Taggable Azure resources carry the tags {', '.join(REQUIRED_TAGS)}.",
        TAGGABLE_TYPES,
        required_tags_present,
    ),
    ResourceRule(
        "deployment-request-timeout-bounded",
        "Online deployments set requestTimeout explicitly, at most PT180S.",
        frozenset({ONLINE_DEPLOYMENT}),
        deployment_request_timeout_bounded,
    ),
    ResourceRule(
        "deployment-concurrency-above-one",
        "Online deployments admit more than one concurrent request per instance.",
        frozenset({ONLINE_DEPLOYMENT}),
        deployment_concurrency_above_one,
    ),
    ResourceRule(
        "autoscale-keeps-capacity",
        "Autoscale profiles keep at least one instance; autoscale is enabled in production.",
        frozenset({AUTOSCALE_SETTING}),
        autoscale_keeps_capacity,
        config_schema=PRODUCTION_STACK_CONFIG,
    ),
    ResourceRule(
        "public-network-access-disabled",
        "Workspaces and online endpoints are reachable only through private endpoints.",
        frozenset({ML_WORKSPACE, ONLINE_ENDPOINT}),
        public_network_access_disabled,
        enforcement_level=EnforcementLevel.ADVISORY,
    ),
)

STACK_RULES: tuple[StackRule, ...] = (
    StackRule(
        "prod-deployments-autoscaled",
        "In production stacks every online deployment has an autoscale setting.",
        frozenset({ONLINE_DEPLOYMENT, AUTOSCALE_SETTING}),
        prod_deployments_autoscaled,
        config_schema=PRODUCTION_STACK_CONFIG,
    ),
)


def mandatory_resource_rules() -> Iterable[ResourceRule]:
    return (rule for rule in RESOURCE_RULES if rule.enforcement_level == EnforcementLevel.MANDATORY)


def policies() -> list[Policy]:
    """Every rule as a pulumi_policy policy, for ``PolicyPack(policies=...)``.

    The casts only widen ``Report`` to pulumi_policy's stricter ``ReportViolation`` alias (see
    :class:`Report`); the functions are passed unchanged.
    """
    built: list[Policy] = [
        ResourceValidationPolicy(
            name=rule.name,
            description=rule.description,
            validate=cast(ResourceValidation, rule.validate),
            enforcement_level=rule.enforcement_level,
            config_schema=rule.config_schema,
        )
        for rule in RESOURCE_RULES
    ]
    built += [
        StackValidationPolicy(
            name=rule.name,
            description=rule.description,
            validate=cast(StackValidation, rule.validate),
            enforcement_level=rule.enforcement_level,
            config_schema=rule.config_schema,
        )
        for rule in STACK_RULES
    ]
    return built

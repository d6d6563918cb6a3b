"""The settings table, stack level: the keys of ``vllm-azureml:`` itself (format: settings/schema.py)."""

from __future__ import annotations

from lib import catalog
from settings.defaults import DEFAULTS
from settings.model import BASE_IMAGE_SOURCES, PROJECT_TAGS, WEIGHTS_SOURCES
from settings.schema import Key, Section

STACK = Section(
    title="Stack keys",
    path="",
    defaults=DEFAULTS,
    intro=(
        "Set with `pulumi config set <key> <value>` (secrets with `--secret`), or in "
        "`Pulumi.<stack>.yaml` under `vllm-azureml:<key>`. The region is `azure-native:location`, "
        f"one of the {len(catalog.AZURE_REGIONS)} public regions in lib/catalog.py, and has no "
        "default: every stack names its region."
    ),
    keys=(
        Key(
            "resourceGroupName",
            "string",
            "Existing resource group to deploy into. Empty: the stack creates "
            "rg-<project>-<stack>.",
            allowed="empty, or 1-90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'",
        ),
        Key(
            "nameSalt",
            "string",
            "Mixed into globally unique names. Change it to re-create a destroyed stack while "
            "soft-deleted resources still hold the old names.",
            allowed="empty, or up to 8 lowercase letters and digits",
        ),
        Key(
            "owner",
            "string",
            "Person or team that owns the stack (tag 'owner' on every resource).",
            allowed=f"1-{catalog.MAX_TAG_VALUE_LENGTH} characters without < > % & \\ ? /",
        ),
        Key(
            "costCenter",
            "string",
            "Cost center billed for the stack (tag 'cost-center').",
            allowed=f"1-{catalog.MAX_TAG_VALUE_LENGTH} characters without < > % & \\ ? /",
        ),
        Key(
            "tags",
            "object",
            "Extra tags for every taggable resource (object of name: value). The project sets "
            "project, stack, region, owner, cost-center and managed-by itself.",
            allowed=(
                f"at most {catalog.MAX_TAGS_PER_RESOURCE - len(PROJECT_TAGS)} tags; names of 1-"
                f"{catalog.MAX_TAG_NAME_LENGTH} characters without < > % & \\ ? /, values of at "
                f"most {catalog.MAX_TAG_VALUE_LENGTH}"
            ),
        ),
        Key(
            "protectResources",
            "boolean",
            "Protect stateful resources (workspace, storage, key vault, registry) from `pulumi "
            "destroy`. Set false only for disposable stacks.",
        ),
        Key(
            "keyVaultPurgeProtection",
            "boolean",
            "Enable Key Vault purge protection (irreversible once on). Set false only for "
            "disposable stacks.",
        ),
        Key(
            "keyVaultRetentionDays",
            "integer",
            "Key Vault soft-delete retention in days.",
            minimum=catalog.MIN_KEY_VAULT_RETENTION_DAYS,
            maximum=catalog.MAX_KEY_VAULT_RETENTION_DAYS,
        ),
        Key(
            "logRetentionDays",
            "integer",
            "Log Analytics retention in days.",
            minimum=catalog.MIN_LOG_RETENTION_DAYS,
            maximum=catalog.MAX_LOG_RETENTION_DAYS,
        ),
        Key(
            "registrySku",
            "string",
            "Container registry SKU. Premium is required with a managed network (private "
            "endpoint).",
            choices=catalog.REGISTRY_SKUS,
        ),
        Key(
            "publicNetworkAccess",
            "string",
            "Workspace public network access.",
            choices=catalog.NETWORK_ACCESS,
        ),
        Key(
            "managedNetwork",
            "string",
            "Workspace managed network isolation.",
            choices=catalog.MANAGED_NETWORK_MODES,
        ),
        Key(
            "firewallSku",
            "string",
            "Azure Firewall tier for the managed network's FQDN rules (AllowOnlyApprovedOutbound). "
            "Basic costs about a third but caps all outbound traffic at 250 Mbps.",
            choices=catalog.FIREWALL_SKUS,
        ),
        Key(
            "deployerPrincipalType",
            "string",
            "Who runs `pulumi up` for this stack: User (a person) or ServicePrincipal (CI). With a "
            "Hugging Face token, the deployer is granted Key Vault Secrets Officer on the stack's "
            "vault.",
            choices=catalog.PRINCIPAL_TYPES,
        ),
        Key(
            "outboundFqdns",
            "array",
            "Hosts the managed network may reach when managedNetwork is "
            "AllowOnlyApprovedOutbound (Hugging Face by default).",
            item_type="string",
            allowed="lowercase host names (a leading '*.' is allowed); not empty with "
            "AllowOnlyApprovedOutbound",
        ),
        Key(
            "authMode",
            "string",
            "Endpoint authentication: Key or AADToken (Entra ID, audience https://ml.azure.com). "
            "AMLToken is refused.",
            choices=catalog.AUTH_MODES,
        ),
        Key(
            "endpointPublicNetworkAccess",
            "string",
            "Endpoint public network access. Empty: same as publicNetworkAccess.",
            allowed="empty, " + ", ".join(catalog.NETWORK_ACCESS),
        ),
        Key(
            "endpointName",
            "string",
            "Online endpoint name (unique in the region). Empty: derived from project, stack and a "
            "stable suffix.",
            allowed="empty, or 3-32 characters: a letter first, then letters, digits or '-', not "
            "ending in '-'",
        ),
        Key(
            "baseImage",
            "string",
            "vLLM base image on Docker Hub, pinned by digest (repository@sha256:...).",
            allowed="an image pinned by digest; tags such as 'latest' are refused",
        ),
        Key(
            "baseImageSource",
            "string",
            "How the base image reaches the registry: import (ACR importImage) or cacheRule (ACR "
            "artifact cache, needs dockerHubCredentialSet).",
            choices=BASE_IMAGE_SOURCES,
        ),
        Key(
            "dockerHubCredentialSet",
            "string",
            "Name of an ACR credential set with a Docker Hub token; required when baseImageSource "
            "is cacheRule.",
            allowed="empty, or 5-50 letters, digits or '-'",
        ),
        Key(
            "dockerHubUsername",
            "string",
            "Docker Hub user for the base image import, with dockerHubToken. Empty: the import "
            "is anonymous (Docker Hub rate-limits anonymous pulls per IP).",
            allowed="empty, or a Docker Hub user name (letters, digits, '.', '_' or '-')",
        ),
        Key(
            "dockerHubToken",
            "string",
            "Docker Hub access token for the base image import. Set with `pulumi config set "
            "--secret dockerHubToken ...`; refused in plaintext. Needs dockerHubUsername.",
            allowed="a secret; plaintext is refused",
        ),
        Key(
            "huggingFaceToken",
            "string",
            "Hugging Face token for gated models. Set with `pulumi config set --secret "
            "huggingFaceToken hf_...`; stored in Key Vault, never in plaintext. Empty: no token.",
            allowed="a secret; plaintext is refused",
        ),
        Key(
            "vllmApiKey",
            "string",
            "vLLM API key, defence in depth behind the endpoint's auth (vLLM checks it on /v1). "
            "Set with `pulumi config set --secret vllmApiKey ...`; stored in Key Vault and "
            "injected as VLLM_API_KEY. Needs authMode Key and the endpoint key set to the same "
            "value (docs/security.md). Empty: none.",
            allowed="a secret; plaintext is refused",
        ),
        Key(
            "servedModelName",
            "string",
            "The model name apps send; every deployment answers to it and to its Hugging Face id "
            "(--served-model-name). Empty: the last part of the first deployment's model id, "
            "lower-cased. See docs/models.md.",
        ),
        Key(
            "weightsSource",
            "string",
            "Where deployments get their weights: workspace (each model@revision staged once as a "
            "model asset; serving needs no Hugging Face egress or token) or huggingface "
            "(downloaded at every start). See docs/models.md.",
            choices=WEIGHTS_SOURCES,
        ),
        Key(
            "deployments",
            "array",
            "Online deployments behind the endpoint: a list of objects, whose keys are listed "
            "in docs/configuration.md; keys left out take their defaults.",
            item_type="object",
            default_text="one deployment, `blue`, with every default below",
            allowed=(
                f"at most {catalog.MAX_DEPLOYMENTS_PER_ENDPOINT} deployments; live traffic sums to "
                "100"
            ),
        ),
    ),
)

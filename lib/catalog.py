"""Azure facts and limits the project depends on, each stated once.

Settings validate against these, components and the client tools quote them, and the traffic rules
(lib/traffic_rules.py) enforce them. Nothing here imports Pulumi, so the client tools can use it.
Each fact names its source: a file name ending in .md is a page of Microsoft's AzureML docs
(github.com/MicrosoftDocs/azure-ai-docs, articles/machine-learning/).

The policy pack (policy/rules.py) runs in its own environment and keeps its own copies of the few
facts it needs; tests/lib/test_catalog.py pins those copies to this module.
"""

from __future__ import annotations

from typing import Literal, get_args

from lib.gpu_sizes import GPU_SIZES

# Public Azure regions (ARM `location` spellings). A stack file naming a region outside this list is
# almost always a typo ("Sweden Central", "eastus-2"); ARM would only say so minutes into `pulumi up`.
AZURE_REGIONS = frozenset(
    [
        "australiacentral",
        "australiacentral2",
        "australiaeast",
        "australiasoutheast",
        "austriaeast",
        "belgiumcentral",
        "brazilsouth",
        "brazilsoutheast",
        "canadacentral",
        "canadaeast",
        "centralindia",
        "centralus",
        "chilecentral",
        "eastasia",
        "eastus",
        "eastus2",
        "francecentral",
        "francesouth",
        "germanynorth",
        "germanywestcentral",
        "indonesiacentral",
        "israelcentral",
        "italynorth",
        "japaneast",
        "japanwest",
        "jioindiacentral",
        "jioindiawest",
        "koreacentral",
        "koreasouth",
        "malaysiawest",
        "mexicocentral",
        "newzealandnorth",
        "northcentralus",
        "northeurope",
        "norwayeast",
        "norwaywest",
        "polandcentral",
        "qatarcentral",
        "southafricanorth",
        "southafricawest",
        "southcentralus",
        "southindia",
        "southeastasia",
        "spaincentral",
        "swedencentral",
        "swedensouth",
        "switzerlandnorth",
        "switzerlandwest",
        "uaecentral",
        "uaenorth",
        "uksouth",
        "ukwest",
        "westcentralus",
        "westeurope",
        "westindia",
        "westus",
        "westus2",
        "westus3",
    ]
)

# GPU sizes that AzureML managed online deployments accept (reference-managed-online-endpoints-
# vm-sku-list). vLLM needs a CUDA GPU, so CPU sizes are refused here rather than by a crash-looping
# container an hour into `pulumi up`. The sizes, with their GPUs and memory, are listed once, in
# lib/gpu_sizes.py.
GPU_INSTANCE_TYPES = frozenset(GPU_SIZES)

# Windows time zone ids, the spelling Azure Monitor autoscale recurrences take (not IANA names):
# the list the autoscale API documents for RecurrentSchedule.timeZone (Microsoft.Insights
# autoscalesettings schema), west to east.
AUTOSCALE_TIME_ZONES = frozenset(
    {
        "Dateline Standard Time",
        "UTC-11",
        "Hawaiian Standard Time",
        "Alaskan Standard Time",
        "Pacific Standard Time (Mexico)",
        "Pacific Standard Time",
        "US Mountain Standard Time",
        "Mountain Standard Time (Mexico)",
        "Mountain Standard Time",
        "Central America Standard Time",
        "Central Standard Time",
        "Central Standard Time (Mexico)",
        "Canada Central Standard Time",
        "SA Pacific Standard Time",
        "Eastern Standard Time",
        "US Eastern Standard Time",
        "Venezuela Standard Time",
        "Paraguay Standard Time",
        "Atlantic Standard Time",
        "Central Brazilian Standard Time",
        "SA Western Standard Time",
        "Pacific SA Standard Time",
        "Newfoundland Standard Time",
        "E. South America Standard Time",
        "Argentina Standard Time",
        "SA Eastern Standard Time",
        "Greenland Standard Time",
        "Montevideo Standard Time",
        "Bahia Standard Time",
        "UTC-02",
        "Mid-Atlantic Standard Time",
        "Azores Standard Time",
        "Cape Verde Standard Time",
        "Morocco Standard Time",
        "UTC",
        "GMT Standard Time",
        "Greenwich Standard Time",
        "W. Europe Standard Time",
        "Central Europe Standard Time",
        "Romance Standard Time",
        "Central European Standard Time",
        "W. Central Africa Standard Time",
        "Namibia Standard Time",
        "Jordan Standard Time",
        "GTB Standard Time",
        "Middle East Standard Time",
        "Egypt Standard Time",
        "Syria Standard Time",
        "E. Europe Standard Time",
        "South Africa Standard Time",
        "FLE Standard Time",
        "Turkey Standard Time",
        "Israel Standard Time",
        "Kaliningrad Standard Time",
        "Libya Standard Time",
        "Arabic Standard Time",
        "Arab Standard Time",
        "Belarus Standard Time",
        "Russian Standard Time",
        "E. Africa Standard Time",
        "Iran Standard Time",
        "Arabian Standard Time",
        "Azerbaijan Standard Time",
        "Russia Time Zone 3",
        "Mauritius Standard Time",
        "Georgian Standard Time",
        "Caucasus Standard Time",
        "Afghanistan Standard Time",
        "West Asia Standard Time",
        "Ekaterinburg Standard Time",
        "Pakistan Standard Time",
        "India Standard Time",
        "Sri Lanka Standard Time",
        "Nepal Standard Time",
        "Central Asia Standard Time",
        "Bangladesh Standard Time",
        "N. Central Asia Standard Time",
        "Myanmar Standard Time",
        "SE Asia Standard Time",
        "North Asia Standard Time",
        "China Standard Time",
        "North Asia East Standard Time",
        "Singapore Standard Time",
        "W. Australia Standard Time",
        "Taipei Standard Time",
        "Ulaanbaatar Standard Time",
        "Tokyo Standard Time",
        "Korea Standard Time",
        "Yakutsk Standard Time",
        "Cen. Australia Standard Time",
        "AUS Central Standard Time",
        "E. Australia Standard Time",
        "AUS Eastern Standard Time",
        "West Pacific Standard Time",
        "Tasmania Standard Time",
        "Magadan Standard Time",
        "Vladivostok Standard Time",
        "Russia Time Zone 10",
        "Central Pacific Standard Time",
        "Russia Time Zone 11",
        "New Zealand Standard Time",
        "UTC+12",
        "Fiji Standard Time",
        "Kamchatka Standard Time",
        "Tonga Standard Time",
        "Samoa Standard Time",
        "Line Islands Standard Time",
    }
)

# Hosts a model download from the Hugging Face Hub reaches, as FQDN outbound rules of a managed
# network that only allows approved outbound traffic (docs/adr/0022-hugging-face-egress.md, with
# the sources). huggingface_hub >= 1.0 downloads through hf_xet: the Hub (huggingface.co) names
# the Xet CAS server (cas-server.xethub.hf.co) and that points at pre-signed transfer URLs
# (transfer.xethub.hf.co); without Xet, downloads redirect to cas-bridge.xethub.hf.co or the
# cdn-lfs hosts. Hugging Face lists nine hosts (hub-docs docs/hub/models-downloading.md, "Downloading
# behind a proxy or firewall"), adds the EU and CDN-edge ones over time ("These hostnames may
# change"), and recommends allowing the hf.co and huggingface.co suffixes. The managed network's
# rules are enforced by Azure Firewall, whose leading "*." matches any number of labels but not the
# apex (azure-docs articles/firewall/firewall-faq.yml), so three rules cover every host listed.
HUGGING_FACE_FQDNS = (
    "huggingface.co",
    "*.hf.co",
    # Legacy LFS CDN hosts (cdn-lfs[-us-1|-eu-1].huggingface.co); Microsoft's Hugging Face scenario
    # lists cdn-lfs.huggingface.co (how-to-managed-network.md).
    "*.huggingface.co",
)

# --- Choices ARM accepts, as the types settings hold them ---------------------------------------
# Each tuple is derived from its Literal, so the type pyright checks and the list validation
# offers cannot drift apart.

# Endpoint auth modes this project supports (ARM also has AMLToken, which settings refuse: its
# tokens come from a workspace data-plane call and expire hourly). The AAD token audience is
# https://ml.azure.com.
AuthMode = Literal["Key", "AADToken"]
AUTH_MODES: tuple[AuthMode, ...] = get_args(AuthMode)
REFUSED_AUTH_MODE = "AMLToken"

NetworkAccess = Literal["Enabled", "Disabled"]
NETWORK_ACCESS: tuple[NetworkAccess, ...] = get_args(NetworkAccess)

ManagedNetworkMode = Literal["Disabled", "AllowInternetOutbound", "AllowOnlyApprovedOutbound"]
MANAGED_NETWORK_MODES: tuple[ManagedNetworkMode, ...] = get_args(ManagedNetworkMode)

RegistrySku = Literal["Basic", "Standard", "Premium"]
REGISTRY_SKUS: tuple[RegistrySku, ...] = get_args(RegistrySku)

# Azure Firewall tiers AzureML offers for a managed network's FQDN rules (Premium is not offered).
FirewallSku = Literal["Basic", "Standard"]
FIREWALL_SKUS: tuple[FirewallSku, ...] = get_args(FirewallSku)

# Entra ID object types ARM accepts as a role assignment's principalType; ARM refuses a type that
# does not match the principal (UnmatchedPrincipalType).
PrincipalType = Literal["User", "ServicePrincipal", "Group"]
PRINCIPAL_TYPES: tuple[PrincipalType, ...] = get_args(PrincipalType)

# Day names of an autoscale recurrence schedule.
Weekday = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)

# --- Service limits -----------------------------------------------------------------------------

# requestSettings.requestTimeout: at most PT180S (reference-yaml-deployment-managed-online.md).
MAX_REQUEST_TIMEOUT_SECONDS = 180
# Managed online endpoints: 20 deployments per endpoint, 50 instances per deployment
# (how-to-manage-quotas.md); no scale to zero.
MAX_DEPLOYMENTS_PER_ENDPOINT = 20
MIN_INSTANCES_PER_DEPLOYMENT = 1
MAX_INSTANCES_PER_DEPLOYMENT = 50
# Live traffic shares sum to this; mirror traffic is at most 50 %, to one deployment that takes no
# live traffic (how-to-safely-rollout-online-endpoints.md).
TRAFFIC_TOTAL_PERCENT = 100
MAX_MIRROR_PERCENT = 50
# Azure Monitor autoscale: at most 20 profiles per setting; time windows of 5 minutes to 12 hours;
# cooldowns of 1 minute to 1 week (Microsoft.Insights autoscalesettings schema).
MAX_AUTOSCALE_PROFILES = 20
MIN_AUTOSCALE_WINDOW_MINUTES = 5
MAX_AUTOSCALE_WINDOW_MINUTES = 720
MIN_AUTOSCALE_COOLDOWN_MINUTES = 1
MAX_AUTOSCALE_COOLDOWN_MINUTES = 10080
# Tags: autoscale settings document at most 15 tags, the strictest of the resource types here.
# Tag names take at most 512 characters, but storage accounts only 128; values at most 256
# (azure-resource-manager/management/tag-resources.md, "Limitations"). ARM treats tag names
# case-insensitively ("Tag names are case-insensitive for operations", same page).
MAX_TAGS_PER_RESOURCE = 15
MAX_TAG_NAME_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256
# Key Vault soft-delete retention and Log Analytics retention, in days.
MIN_KEY_VAULT_RETENTION_DAYS = 7
MAX_KEY_VAULT_RETENTION_DAYS = 90
MIN_LOG_RETENTION_DAYS = 30
MAX_LOG_RETENTION_DAYS = 730

# --- Name rules for the names users may choose ---------------------------------------------------

ENDPOINT_NAME_PATTERN = r"[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]"
DEPLOYMENT_NAME_PATTERN = r"[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]"
RESOURCE_GROUP_PATTERN = r"[-\w._()]{0,89}[-\w_()]"
# Tag names: no < > % & \ ? / (tag-resources.md: "Tag names can't contain these characters"),
# at most MAX_TAG_NAME_LENGTH characters. Control characters (NUL, newline, tab, ...) are refused
# in names and values too: the page does not list them, but a tag is a cost-report column and a
# CSV cell, and a NUL or a newline in one was accepted here and broke later (issue 12).
TAG_NAME_PATTERN = rf"[^<>%&\\?/\x00-\x1f\x7f]{{1,{MAX_TAG_NAME_LENGTH}}}"
TAG_VALUE_PATTERN = rf"[^\x00-\x1f\x7f]{{0,{MAX_TAG_VALUE_LENGTH}}}"

# --- Built-in role definition ids ---------------------------------------------------------------
# Identical in every tenant and subscription (Azure built-in roles reference). Only the ones this
# project assigns.
KEY_VAULT_SECRETS_USER_ROLE = "4633458b-17de-408a-b874-0445c86b69e6"
KEY_VAULT_SECRETS_OFFICER_ROLE = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
# Lets a principal post custom metrics for a resource (metrics-store-custom-rest-api.md).
MONITORING_METRICS_PUBLISHER_ROLE = "3913510d-42f4-4e42-8a64-420c390055eb"

# --- Azure Monitor workbooks --------------------------------------------------------------------
# The workbook schema version the program writes and `make verify` expects: Workbooks 2023-06-01
# (azure-rest-api-specs applicationinsights workbooks_API.json, properties.version: "like
# 'Notebook/1.0', which should match the workbook in serializedData").
WORKBOOK_VERSION = "Notebook/1.0"

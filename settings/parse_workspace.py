"""The workspace and what sits around it: protection, Key Vault, logs, registry, network.

Keys: ``protectResources``, ``keyVaultPurgeProtection``, ``keyVaultRetentionDays``,
``logRetentionDays``, ``registrySku``, ``publicNetworkAccess``, ``managedNetwork``,
``firewallSku``, ``deployerPrincipalType``, ``outboundFqdns``. The rules that combine them
(Premium registry with a managed network, hosts for an approved-outbound network) are in
settings/rules.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lib.catalog import (
    FIREWALL_SKUS,
    MANAGED_NETWORK_MODES,
    MAX_KEY_VAULT_RETENTION_DAYS,
    MAX_LOG_RETENTION_DAYS,
    MIN_KEY_VAULT_RETENTION_DAYS,
    MIN_LOG_RETENTION_DAYS,
    NETWORK_ACCESS,
    PRINCIPAL_TYPES,
    REGISTRY_SKUS,
    FirewallSku,
    ManagedNetworkMode,
    NetworkAccess,
    PrincipalType,
    RegistrySku,
)
from settings.reader import Reader

# A host name as an FQDN outbound rule takes it; a leading "*." covers a domain's subdomains.
FQDN_PATTERN = r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
# This project's bound, not Azure's: each host becomes one outbound rule, the default list has 7,
# and a list of thousands is a mistake to refuse in one message rather than one per host.
MAX_OUTBOUND_FQDNS = 100


@dataclass(frozen=True)
class WorkspaceChoices:
    """The workspace's protection, retention, registry and network settings, validated."""

    protect_resources: bool
    key_vault_purge_protection: bool
    key_vault_retention_days: int
    log_retention_days: int
    registry_sku: RegistrySku
    public_network_access: NetworkAccess
    managed_network: ManagedNetworkMode
    firewall_sku: FirewallSku
    deployer_principal_type: PrincipalType
    outbound_fqdns: tuple[str, ...]


def parse_workspace(reader: Reader, prefix: str, values: Mapping[str, Any]) -> WorkspaceChoices:
    return WorkspaceChoices(
        protect_resources=reader.boolean(f"{prefix}protectResources", values["protectResources"]),
        key_vault_purge_protection=reader.boolean(
            f"{prefix}keyVaultPurgeProtection", values["keyVaultPurgeProtection"]
        ),
        key_vault_retention_days=reader.integer(
            f"{prefix}keyVaultRetentionDays",
            values["keyVaultRetentionDays"],
            MIN_KEY_VAULT_RETENTION_DAYS,
            MAX_KEY_VAULT_RETENTION_DAYS,
            " (Key Vault soft-delete retention)",
        ),
        log_retention_days=reader.integer(
            f"{prefix}logRetentionDays",
            values["logRetentionDays"],
            MIN_LOG_RETENTION_DAYS,
            MAX_LOG_RETENTION_DAYS,
            " (Log Analytics retention)",
        ),
        registry_sku=reader.choice(f"{prefix}registrySku", values["registrySku"], REGISTRY_SKUS),
        public_network_access=reader.choice(
            f"{prefix}publicNetworkAccess", values["publicNetworkAccess"], NETWORK_ACCESS
        ),
        managed_network=reader.choice(
            f"{prefix}managedNetwork", values["managedNetwork"], MANAGED_NETWORK_MODES
        ),
        firewall_sku=reader.choice(f"{prefix}firewallSku", values["firewallSku"], FIREWALL_SKUS),
        deployer_principal_type=reader.choice(
            f"{prefix}deployerPrincipalType", values["deployerPrincipalType"], PRINCIPAL_TYPES
        ),
        outbound_fqdns=reader.string_list(
            f"{prefix}outboundFqdns",
            values["outboundFqdns"],
            FQDN_PATTERN,
            "must be a lowercase host name such as huggingface.co (a leading '*.' is allowed)",
            max_items=MAX_OUTBOUND_FQDNS,
        ),
    )

"""The catalog of Azure facts: each stated once, and the policy pack's own copies pinned to it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from lib import catalog
from lib.autoscale_rules import METRICS_MODES, MetricsMode
from policy import rules as policy_rules
from settings import DEFAULT_INSTANCE_TYPE, DEFAULTS, PROJECT_TAGS

ROOT = Path(__file__).resolve().parents[2]
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def test_the_policy_pack_copies_agree_with_the_catalog() -> None:
    # policy/ runs in its own environment (policy/requirements.txt) without this project's code,
    # so it keeps copies; a change on either side must change both.
    assert policy_rules.ALLOWED_AUTH_MODES == catalog.AUTH_MODES
    assert policy_rules.MAX_REQUEST_TIMEOUT_SECONDS == catalog.MAX_REQUEST_TIMEOUT_SECONDS
    assert set(policy_rules.REQUIRED_TAGS) <= set(PROJECT_TAGS)


@pytest.mark.parametrize(
    ("choices", "literal"),
    [
        (catalog.AUTH_MODES, catalog.AuthMode),
        (catalog.NETWORK_ACCESS, catalog.NetworkAccess),
        (catalog.MANAGED_NETWORK_MODES, catalog.ManagedNetworkMode),
        (catalog.REGISTRY_SKUS, catalog.RegistrySku),
        (catalog.FIREWALL_SKUS, catalog.FirewallSku),
        (catalog.PRINCIPAL_TYPES, catalog.PrincipalType),
        (METRICS_MODES, MetricsMode),
        (catalog.WEEKDAYS, catalog.Weekday),
    ],
)
def test_each_list_of_choices_is_its_literal_type(
    choices: tuple[str, ...], literal: object
) -> None:
    assert choices == get_args(literal)
    assert len(set(choices)) == len(choices)


def test_the_refused_auth_mode_is_not_offered() -> None:
    assert catalog.REFUSED_AUTH_MODE not in catalog.AUTH_MODES
    assert DEFAULTS["authMode"] in catalog.AUTH_MODES


def test_defaults_are_in_the_catalog() -> None:
    assert DEFAULT_INSTANCE_TYPE in catalog.GPU_INSTANCE_TYPES
    assert DEFAULTS["deployments"][0]["autoscale"]["timeZone"] in catalog.AUTOSCALE_TIME_ZONES
    assert tuple(DEFAULTS["outboundFqdns"]) == catalog.HUGGING_FACE_FQDNS


def test_regions_are_arm_location_spellings() -> None:
    assert all(re.fullmatch(r"[a-z]+[0-9]?", region) for region in catalog.AZURE_REGIONS)


def test_role_ids_are_stated_only_in_the_catalog() -> None:
    role_ids = {catalog.KEY_VAULT_SECRETS_USER_ROLE, catalog.KEY_VAULT_SECRETS_OFFICER_ROLE}
    assert all(GUID.fullmatch(role_id) for role_id in role_ids)
    # Tests spell role ids out on purpose (an independent check); the product states each once.
    sources = [
        path
        for folder in ("components", "lib", "settings", "clients", "tools")
        for path in (ROOT / folder).rglob("*.py")
    ] + [ROOT / "__main__.py"]
    restated = [
        str(path.relative_to(ROOT))
        for path in sources
        if path.name != "catalog.py" and role_ids & set(GUID.findall(path.read_text()))
    ]
    assert restated == []

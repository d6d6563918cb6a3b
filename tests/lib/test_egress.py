"""The Hugging Face egress list covers every host a current huggingface_hub with hf_xet reaches,
with wildcards as the managed network's firewall matches them (docs/adr/0022)."""

from __future__ import annotations

import pytest

from lib.catalog import HUGGING_FACE_FQDNS
from tests.conftest import RunProgram
from tests.support.firewall import firewall_allows

# huggingface/hub-docs docs/hub/models-downloading.md, "Downloading behind a proxy or firewall"
# (242f4a1e, 2026-08-22): the hosts to allow.
DOCUMENTED = [
    "huggingface.co",
    "cas-server.xethub.hf.co",
    "cas-server.xethub-eu.hf.co",
    "transfer.xethub.hf.co",
    "transfer.xethub-eu.hf.co",
    "us.aws.cdn.hf.co",
    "us.gcp.cdn.hf.co",
    "cdn-lfs-us-1.hf.co",
    "cdn-lfs-eu-1.hf.co",
]
# The same table's earlier revision (68cf2ff8, 2026-07-08): legacy hosts still served, and where
# downloads without Xet (HF_HUB_DISABLE_XET=1) are redirected for Xet-backed files.
LEGACY = [
    "cas-bridge.xethub.hf.co",
    "cas-bridge.xethub-eu.hf.co",
    "cdn-lfs.hf.co",
    "cdn-lfs.huggingface.co",
    "cdn-lfs-us-1.huggingface.co",
    "cdn-lfs-eu-1.huggingface.co",
]


def allowed(host: str) -> bool:
    return any(firewall_allows(rule, host) for rule in HUGGING_FACE_FQDNS)


@pytest.mark.parametrize("host", DOCUMENTED + LEGACY)
def test_every_host_hugging_face_documents_is_allowed(host: str) -> None:
    assert allowed(host), host


def test_the_xet_hosts_a_download_starts_with_are_allowed() -> None:
    # The Hub's xet-read-token answer names the CAS server (casUrl), whose reconstruction answer
    # points at the transfer host (xet-core hub_client/types.rs, openapi/cas.openapi.yaml).
    assert allowed("cas-server.xethub.hf.co")
    assert allowed("transfer.xethub.hf.co")


def test_the_list_allows_hugging_face_and_nothing_else() -> None:
    for host in ("pypi.org", "github.com", "evilhf.co", "huggingface.co.example.com", "hf.space"):
        assert not allowed(host), host
    assert all(rule.endswith(("hf.co", "huggingface.co")) for rule in HUGGING_FACE_FQDNS)


def test_wildcards_follow_the_firewalls_rules() -> None:
    assert firewall_allows("*.hf.co", "us.aws.cdn.hf.co")
    assert not firewall_allows("*.hf.co", "hf.co")
    assert not firewall_allows("*.hf.co", "xhf.co")
    assert firewall_allows("huggingface.co", "HuggingFace.co")
    assert not firewall_allows("huggingface.co", "cdn-lfs.huggingface.co")


def test_the_workspace_rules_are_this_list(run: RunProgram) -> None:
    workspace = run("prod").one("azure-native:machinelearningservices:Workspace")
    rules = workspace.input("managedNetwork.outboundRules")
    assert sorted(rule["destination"] for rule in rules.values()) == sorted(HUGGING_FACE_FQDNS)
    assert all(rule["type"] == "FQDN" for rule in rules.values())

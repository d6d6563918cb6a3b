"""Which namespaces and provider keys a stack may set (lib/config_namespaces.py)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from lib.config_namespaces import PROVIDER_KEYS, PROVIDER_SECRET_KEYS, namespace_problems

PROJECT = "vllm-azureml"


@pytest.mark.parametrize(
    ("namespace", "module"), [("azure-native", "pulumi_azure_native"), ("docker", "pulumi_docker")]
)
def test_provider_keys_are_what_the_installed_sdk_reads(namespace: str, module: str) -> None:
    # Each provider config variable is one property of the SDK's config module, which reads it
    # with __config__.get('<key>'); a provider bump that adds or drops one fails here.
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    source = (Path(spec.origin).parent / "config" / "vars.py").read_text()
    read = set(re.findall(r"__config__\.get(?:_bool|_int|_float|_object)?\('([^']+)'\)", source))
    assert read == PROVIDER_KEYS[namespace]


def test_secret_provider_keys_are_provider_keys() -> None:
    for key in PROVIDER_SECRET_KEYS:
        namespace, name = key.split(":")
        assert name in PROVIDER_KEYS[namespace]


def test_known_keys_pass() -> None:
    keys = [
        f"{PROJECT}:authMode",
        "azure-native:location",
        "docker:host",
        "pulumi:disable-default-providers",
    ]
    assert namespace_problems(keys, PROJECT) == []


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("vllm-azurml:authMode", "did you mean 'vllm-azureml'?"),
        ("vllm-azuremI:authMode", "did you mean 'vllm-azureml'?"),
        ("vllm-azurem\u04cf:authMode", "U+04CF CYRILLIC SMALL LETTER PALOCHKA"),
        ("v\u217clm-azureml:authMode", "did you mean 'vllm-azureml'?"),
        ("vllm\u2011azureml:authMode", "U+2011 NON-BREAKING HYPHEN"),
        ("vllm-azure\u200bml:authMode", "U+200B ZERO WIDTH SPACE"),
        ("vllm-\u0430zureml:authMode", "U+0430 CYRILLIC SMALL LETTER A"),
        ("azure-nativ:location", "did you mean 'azure-native'?"),
        ("aws:region", "read by nothing"),
        ("azure-native:locaton", "did you mean 'location'?"),
        ("azure-native:subscriptonId", "did you mean 'subscriptionId'?"),
        ("azure-native:l\u03bfcation", "U+03BF GREEK SMALL LETTER OMICRON"),
        ("docker:hots", "did you mean 'host'?"),
        ("pulumi:disable-default-provider", "did you mean 'disable-default-providers'?"),
    ],
)
def test_a_key_nothing_reads_is_refused_with_a_hint(key: str, hint: str) -> None:
    problems = namespace_problems([key], PROJECT)
    assert len(problems) == 1
    assert hint in problems[0]


def test_provider_credentials_must_be_encrypted() -> None:
    key = "azure-native:clientSecret"
    assert "plaintext" in namespace_problems([key], PROJECT)[0]
    assert namespace_problems([key], PROJECT, secret_keys={key}) == []


def test_a_key_without_namespace_is_refused() -> None:
    assert "namespace:name" in namespace_problems(["authMode"], PROJECT)[0]

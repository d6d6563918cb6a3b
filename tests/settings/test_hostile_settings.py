"""Hostile configuration on the real program's path: the flat map of strings Pulumi hands the
program (settings.load_settings), with no stack file and no YAML loader in between."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from lib.vllm_options import MAX_EXTRA_ARGS_BYTES, is_api_key_option
from policy import secret_forms
from settings import SettingsError, load_settings

PROJECT = "vllm-azureml"
LOCATION = {"azure-native:location": "swedencentral"}
SECRET = "s3cr3t-value-do-not-echo-0123456789"


def refused(entries: dict[str, str], secret_keys: frozenset[str] = frozenset()) -> str:
    with pytest.raises(SettingsError) as raised:
        load_settings({**LOCATION, **entries}, "dev", secret_keys=secret_keys)
    return str(raised.value)


def deployments(*items: dict[str, Any]) -> dict[str, str]:
    return {f"{PROJECT}:deployments": json.dumps(list(items))}


def with_extra_args(*arguments: str) -> dict[str, str]:
    return deployments({"name": "blue", "traffic": 100, "vllm": {"extraArgs": list(arguments)}})


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("vllm-azurml:authMode", "did you mean 'vllm-azureml'?"),
        ("vllm-azuremI:endpointPublicNetworkAccess", "did you mean 'vllm-azureml'?"),
        ("vllm-\u0430zureml:authMode", "U+0430 CYRILLIC SMALL LETTER A"),
        ("azure-native:subscriptonId", "did you mean 'subscriptionId'?"),
        ("aws:region", "read by nothing"),
    ],
)
def test_a_key_nothing_reads_is_refused_on_the_real_path(key: str, hint: str) -> None:
    message = refused({key: "AADToken"})
    assert hint in message


def test_a_lookalike_project_key_gets_a_hint() -> None:
    message = refused({f"{PROJECT}:auth\u039code": "AADToken"})
    assert "did you mean 'authMode'?" in message
    assert "U+039C GREEK CAPITAL LETTER MU" in message


def test_deployments_are_counted_before_any_is_parsed() -> None:
    many = [{"name": f"d{index:05d}", "traffic": 0} for index in range(20_000)]
    started = time.perf_counter()
    message = refused(deployments(*many))
    assert time.perf_counter() - started < 1.0
    assert "at most 20 deployments per endpoint" in message
    assert message.count("\n") < 10


def test_duplicate_deployment_names_are_found() -> None:
    message = refused(deployments({"name": "blue", "traffic": 50}, {"name": "Blue", "traffic": 50}))
    assert "'blue' is used more than once" in message


@pytest.mark.parametrize(
    ("tags", "hint"),
    [
        ({"Owner": "someone"}, "case-insensitive"),
        ({"env": "a", "ENV": "b"}, "differs only in case"),
        ({"a<b": "x"}, "tag names are 1-128"),
        ({"a\nb": "x"}, "control characters"),
        ({"x" * 129: "x"}, "tag names are 1-128"),
        ({"team": "x" * 257}, "at most 256"),
        ({"team": "a\x00b"}, "control characters"),
        ({"team": "a\tb"}, "control characters"),
        ({f"t{index}": "x" for index in range(10_000)}, "at most 9 extra tags"),
    ],
)
def test_tags_follow_arm_rules(tags: dict[str, str], hint: str) -> None:
    message = refused({f"{PROJECT}:tags": json.dumps(tags)})
    assert hint in message
    assert len(message) < 2_000


@pytest.mark.parametrize(
    "arguments",
    [
        (f"--api-key={SECRET}",),
        ("--api-key", SECRET),
        ("--api-key", SECRET, "second"),
        (f"--api_key={SECRET}",),
        ("--api-k", SECRET),
        ("--enforce-eager", "--api-ke", SECRET),
    ],
)
def test_api_key_in_extra_args_is_refused_without_echo(arguments: tuple[str, ...]) -> None:
    message = refused(with_extra_args(*arguments))
    assert "vllmApiKey" in message
    assert SECRET not in message


def test_extra_args_are_bounded_in_size_and_count() -> None:
    large = ["--chat-template", "x" * (MAX_EXTRA_ARGS_BYTES + 1)]
    assert "bytes of SERVE_EXTRA_ARGS" in refused(with_extra_args(*large))
    assert "at most 64 items" in refused(with_extra_args(*["--enforce-eager"] * 65))


def test_long_lists_cost_one_message() -> None:
    fqdns = [f"h{index}.example.com" for index in range(10_000)]
    message = refused({f"{PROJECT}:outboundFqdns": json.dumps(fqdns)})
    assert "at most 100 items" in message
    assert message.count("\n") < 10


def test_echoed_values_are_cut_and_problems_capped() -> None:
    message = refused({f"{PROJECT}:owner": "o" * 10_000_000})
    assert len(message) < 1_000
    many = {f"{PROJECT}:unknown{index}": "x" for index in range(5_000)}
    message = refused(many)
    assert "... and 4,950 more" in message
    assert message.count("\n") < 60


def test_vllm_api_key_must_be_secret_and_not_with_entra_id() -> None:
    key = f"{PROJECT}:vllmApiKey"
    message = refused({key: SECRET})
    assert "plaintext" in message and SECRET not in message
    with pytest.raises(SettingsError, match="cannot be used with authMode AADToken"):
        load_settings(
            {**LOCATION, key: "[secret]", f"{PROJECT}:authMode": "AADToken"},
            "dev",
            secret_keys={key},
            vllm_api_key="[secret]",
        )
    settings = load_settings(
        {**LOCATION, key: "[secret]"}, "dev", secret_keys={key}, vllm_api_key="k"
    )
    assert settings.vllm_api_key == "k"


@pytest.mark.parametrize(
    "word", ["--api-key", "--api_key", "--api-k", "--api-key=x", "--api", "--api-keys", "--apikey"]
)
def test_settings_and_policy_pack_agree_on_api_key_spellings(word: str) -> None:
    # The pack runs in its own environment and keeps its own copy of the rule.
    assert is_api_key_option(word) == secret_forms.is_api_key_option(word)

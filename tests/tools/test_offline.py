"""The offline harness's own shortcuts (tools/offline.py) change nothing that a run records."""

from __future__ import annotations

import pulumi
import pytest
from pulumi_azure_native import resources

from tools import offline
from tools.offline import run_program


def test_dropping_the_provider_type_aliases_changes_nothing_a_run_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # prod declares every resource type dev does, and more (autoscale, the approved-outbound rules).
    with_shortcut = run_program("prod")
    monkeypatch.setattr(offline, "_without_provider_type_aliases", lambda _: None)
    without_shortcut = run_program("prod")
    # Every recorded field of every resource (inputs, options, dependencies, outputs, ids), the
    # stack outputs and which are secret, the invokes.
    assert with_shortcut == without_shortcut


def _transformed(resource: object, type_token: str, aliases: list[pulumi.Alias]) -> list:
    args = pulumi.ResourceTransformationArgs(
        resource=resource,
        type_=type_token,
        name="example",
        props={},
        opts=pulumi.ResourceOptions(aliases=aliases),
    )
    result = offline._without_provider_type_aliases(args)
    return aliases if result is None else list(result.opts.aliases or [])


def test_only_the_provider_sdks_own_type_aliases_are_dropped() -> None:
    group = object.__new__(resources.ResourceGroup)  # its class, without registering it
    token = "azure-native:resources:ResourceGroup"
    generated = pulumi.Alias(type_="azure-native:resources/v20220901:ResourceGroup")
    renamed = pulumi.Alias(name="old-group")  # a program's rename: the name, not only the type
    elsewhere = pulumi.Alias(type_="vllm-azureml:old:Group")  # another package's token
    assert _transformed(group, token, [generated, renamed, elsewhere]) == [renamed, elsewhere]


def test_aliases_on_the_programs_own_resources_are_kept() -> None:
    class Renamed(pulumi.ComponentResource):
        pass

    component = object.__new__(Renamed)
    moved = pulumi.Alias(type_="vllm-azureml:old:Renamed")
    assert _transformed(component, "vllm-azureml:new:Renamed", [moved]) == [moved]

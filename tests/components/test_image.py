"""The VllmImage component under mocks: the base copied into the registry server-side, the thin
image built FROM that copy for linux/amd64, pushed with an Entra ID token, and its digest."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi_azure_native import containerregistry

from components.image import (
    VllmImage,
    VllmImageArgs,
    build_revision,
    require_digest,
)
from lib import acr_token, runtime
from lib.acr_token import (
    NOT_FETCHED,
    NULL_GUID_USERNAME,
)
from settings import DEFAULT_BASE_IMAGE
from tests.support.components import declare
from tools.offline import AzureMocks, ProgramRun

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
IMAGE = "docker:index/image:Image"
IMPORT = "pulumi-python:dynamic/containerregistry:ImportImage"
CACHE_RULE = "azure-native:containerregistry:CacheRule"
REGISTRY_NAME = "crvllmtest123"
LOGIN_SERVER = f"{REGISTRY_NAME}.azurecr.io"
DIGEST = DEFAULT_BASE_IMAGE.split("@")[1]


# --- The component under mocks -------------------------------------------------------------------


def declare_image(preview: bool = True, **changes: Any) -> ProgramRun:
    """The image component, building into a registry declared beside it; ``changes`` replace
    its args (the default base image, imported with importImage)."""

    def build() -> dict[str, Any]:
        registry = containerregistry.Registry(
            "registry",
            registry_name=REGISTRY_NAME,
            resource_group_name="rg-test",
            sku=containerregistry.SkuArgs(name="Premium"),
            admin_user_enabled=False,
        )
        args = VllmImageArgs(
            base_image=DEFAULT_BASE_IMAGE,
            base_image_source="importImage",
            docker_hub_credential_set=None,
            repository="vllm-azureml",
            resource_group_name="rg-test",
            registry_name=registry.name,
            registry_login_server=registry.login_server,
            registry_id=registry.id,
        )
        image = VllmImage("vllm-image", dataclasses.replace(args, **changes))
        return {
            "imageReference": image.image_reference,
            "digest": image.digest,
            "baseImageReference": image.base_image_reference,
            "registryId": registry.id,
        }

    return declare(build, preview=preview)


@pytest.fixture
def invokes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every invoke token the program calls (the mocks answer them; this records them)."""
    called: list[str] = []
    original = AzureMocks.call

    def recording(self: AzureMocks, args: pulumi.runtime.MockCallArgs) -> dict:
        called.append(args.token)
        return original(self, args)

    monkeypatch.setattr(AzureMocks, "call", recording)
    return called


@pytest.fixture
def no_token_fetch(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fails the test if any code path asks Azure for a registry token."""
    attempts: list[str] = []

    def refuse(login_server: str, *_: Any, **__: Any) -> str:
        attempts.append(login_server)
        raise AssertionError("a registry token was fetched outside a real deployment")

    monkeypatch.setattr(acr_token, "exchange_refresh_token", refuse)
    return attempts


def test_builds_docker_for_linux_amd64_from_the_registry_copy(
    no_token_fetch: list[str],
) -> None:
    result = declare_image()
    image = result.one(IMAGE)
    imported = result.one(IMPORT)
    assert image.input("build.platform") == "linux/amd64"
    assert image.input("build.context") == "docker"
    assert image.input("build.dockerfile") == "docker/Dockerfile"
    assert image.input("skipPush") is False
    assert image.input("buildOnPreview") is False
    # FROM the registry's copy of the pinned digest, made by the import it depends on.
    base = f"{LOGIN_SERVER}/vllm/vllm-openai@{DIGEST}"
    assert imported.input("target_reference") == base
    assert imported.input("source_image") == f"vllm/vllm-openai@{DIGEST}"
    assert image.input("build.args.BASE_IMAGE") == base
    assert image.input("build.args.BASE_DIGEST") == DIGEST
    assert imported.urn in image.dependencies
    assert result.outputs["baseImageReference"] == base
    # Pushed under a content-derived tag, never a moving one.
    assert re.fullmatch(
        rf"{re.escape(LOGIN_SERVER)}/vllm-azureml:build-[0-9a-f]{{16}}", image.input("imageName")
    )


def test_image_reference_is_the_pushed_digest(no_token_fetch: list[str]) -> None:
    result = declare_image()
    reference = result.outputs["imageReference"]
    assert re.fullmatch(rf"{re.escape(LOGIN_SERVER)}/vllm-azureml@sha256:[0-9a-f]{{64}}", reference)
    assert reference == result.one(IMAGE).outputs["repoDigest"]
    assert result.outputs["digest"] == reference.split("@")[1]


def test_push_uses_an_entra_token_never_an_admin_credential(
    invokes: list[str], no_token_fetch: list[str]
) -> None:
    for preview in (True, False):
        result = declare_image(preview=preview)
        image = result.one(IMAGE)
        assert image.input("registry.server") == LOGIN_SERVER
        assert image.input("registry.username") == NULL_GUID_USERNAME
        assert image.is_secret("registry.password")
        assert image.input("registry.password") == NOT_FETCHED
    # Reading the admin password is an invoke (listRegistryCredentials); none happened.
    assert not [token for token in invokes if "credential" in token.lower()]
    # Offline (preview or not) no token is fetched: the mocks need no Azure login.
    assert no_token_fetch == []


def test_a_real_deployment_exchanges_a_token_after_the_import(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exchanged: list[str] = []

    def exchange(login_server: str, *_: Any, **__: Any) -> str:
        exchanged.append(login_server)
        return "acr-refresh-token"

    monkeypatch.setattr(runtime, "deploying_for_real", lambda: True)
    monkeypatch.setattr(acr_token, "exchange_refresh_token", exchange)
    result = declare_image(preview=False)
    image = result.one(IMAGE)
    assert exchanged == [LOGIN_SERVER]
    assert image.input("registry.password") == "acr-refresh-token"
    assert image.is_secret("registry.password")
    # The password waits for the import, so the token's 3 hours start just before the build.
    assert result.one(IMPORT).urn in image.property_dependencies["registry"]


def test_cache_rule_route_builds_from_the_cached_repository(
    no_token_fetch: list[str],
) -> None:
    result = declare_image(
        base_image_source="cacheRule", docker_hub_credential_set="dockerhub-creds"
    )
    assert result.of_type(IMPORT) == []
    rule = result.one(CACHE_RULE)
    assert rule.input("sourceRepository") == "docker.io/vllm/vllm-openai"
    assert rule.input("targetRepository") == "vllm/vllm-openai"
    assert rule.input("credentialSetResourceId") == (
        result.outputs["registryId"] + "/credentialSets/dockerhub-creds"
    )
    assert re.fullmatch(r"[a-zA-Z0-9-]{5,50}", rule.input("cacheRuleName"))
    image = result.one(IMAGE)
    assert image.input("build.args.BASE_IMAGE") == f"{LOGIN_SERVER}/vllm/vllm-openai@{DIGEST}"
    assert rule.urn in image.dependencies


def test_same_inputs_give_the_same_image_name(no_token_fetch: list[str]) -> None:
    names = {declare_image().one(IMAGE).input("imageName") for _ in range(2)}
    assert len(names) == 1


def test_revision_changes_exactly_when_the_build_inputs_change() -> None:
    files = {"Dockerfile": b"FROM x", "entrypoint.sh": b"exec vllm serve"}
    arguments = {"BASE_IMAGE": "r.azurecr.io/v@sha256:" + "0" * 64}
    revision = build_revision(files, arguments)
    assert revision == build_revision(dict(reversed(files.items())), dict(arguments))
    assert revision != build_revision({**files, "entrypoint.sh": b"exec vllm serve "}, arguments)
    assert revision != build_revision(files, {"BASE_IMAGE": "r.azurecr.io/v@sha256:" + "1" * 64})


def test_a_push_without_a_digest_stops_the_deployment() -> None:
    with pytest.raises(pulumi.RunError, match="not pinned"):
        require_digest(f"{LOGIN_SERVER}/vllm-azureml:build-0123456789abcdef")
    assert require_digest(f"{LOGIN_SERVER}/vllm-azureml@{DIGEST}") == (
        f"{LOGIN_SERVER}/vllm-azureml@{DIGEST}"
    )


def test_the_image_does_not_depend_on_where_the_repository_was_cloned() -> None:
    """Build arguments come from docker/ and the settings only: a fork, a CI checkout and a laptop
    build the same image, so a second `pulumi up` from elsewhere rolls nothing."""
    arguments = declare_image().one(IMAGE).input("build.args")
    assert set(arguments) == {"BASE_IMAGE", "BASE_NAME", "BASE_DIGEST", "REVISION"}
    assert "SOURCE_URL" not in (ROOT / "docker" / "Dockerfile").read_text()

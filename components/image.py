"""The vLLM serving image: the pinned vLLM base copied into the workspace registry server-side, a
thin image built FROM that copy with pulumi-docker, and its pushed digest for AzureML.

Flow on `pulumi up`:

1. The base (``baseImage``, pinned by digest) reaches the registry without touching this machine:
   by default ACR's importImage copies it from Docker Hub anonymously
   (:mod:`components.registry_import`); with ``baseImageSource: cacheRule`` an ACR artifact cache
   rule pulls it from Docker Hub, with a Docker Hub credential set, on first use.
2. pulumi-docker builds ``docker/`` for linux/amd64 FROM ``<registry>/<repository>@sha256:...`` and
   pushes it with an Entra ID-derived token (:mod:`lib.acr_token`), never the admin user.
   The registry already holds the base layers, so the push uploads only the entrypoint layer.
3. The pushed digest (``repo@sha256:...``, never a tag) is what AzureML deploys, so an unchanged
   image changes nothing and a changed one is a new environment version.

Why importImage is the default rather than the cache rule: it needs no Docker Hub account, token,
credential set or Key Vault secret (the cache rule does, because Docker Hub upstreams accept only
authenticated cache pulls); it copies exactly the pinned digest once, at a known point in
`pulumi up`, instead of on the first pull; and it is one ARM call that any registry tier accepts.
The cache rule is the choice where Docker Hub's anonymous rate limit bites (shared egress IPs) and
an organisation already has a Docker Hub credential set in the registry.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker as docker
from pulumi_azure_native import containerregistry

from components.registry_import import RegistryImport, RegistryImportArgs
from lib.acr_token import NULL_GUID_USERNAME, registry_password

ROOT = Path(__file__).resolve().parent.parent
# Relative to the project directory, where the Pulumi CLI runs the program and pulumi-docker: an
# absolute path would differ between a laptop and a CI runner and make pulumi-docker rebuild.
BUILD_CONTEXT = "docker"
DOCKERFILE = "docker/Dockerfile"
# AzureML GPU instances are x86-64; building for the host's architecture on an arm64 laptop would
# push an image that cannot start.
PLATFORM = "linux/amd64"

DOCKER_HUB = "docker.io"
_PINNED = re.compile(
    r"(?:docker\.io/)?(?P<repository>[a-z0-9._/-]+)@(?P<digest>sha256:[0-9a-f]{64})"
)
_REPO_DIGEST = re.compile(r"[^@\s]+@sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class BaseImage:
    """A Docker Hub image pinned by digest, split into what the registry copy needs."""

    repository: str
    digest: str

    @property
    def public_reference(self) -> str:
        return f"{DOCKER_HUB}/{self.repository}@{self.digest}"


def parse_base_image(reference: str) -> BaseImage:
    """``[docker.io/]namespace/name@sha256:<hex>`` -> its repository and digest."""
    match = _PINNED.fullmatch(reference)
    if match is None:
        raise ValueError(f"base image {reference!r} is not a Docker Hub image pinned by digest")
    return BaseImage(repository=match["repository"], digest=match["digest"])


def cache_rule_name(repository: str) -> str:
    """ACR cache rule names: 5-50 letters, digits and '-'."""
    return f"dockerhub-{re.sub(r'[^a-zA-Z0-9]+', '-', repository)}"[:50].rstrip("-")


def context_files(context: Path = ROOT / BUILD_CONTEXT) -> dict[str, bytes]:
    """Every file of the build directory by relative path: what the image is made of."""
    return {
        path.relative_to(context).as_posix(): path.read_bytes()
        for path in sorted(context.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def build_revision(files: dict[str, bytes], build_args: dict[str, str]) -> str:
    """A sha256 of the build directory and the build arguments: it changes exactly when the image's
    inputs do. It names the image (its tag) and fills the OCI revision label.

    Not the git commit: a commit changes with every unrelated edit (and differs between a shallow CI
    clone and a full one), which would rebuild and redeploy a GPU deployment for a README change.
    """
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    digest.update(json.dumps(build_args, sort_keys=True).encode())
    return digest.hexdigest()


def require_digest(reference: str) -> str:
    """Fail the deployment rather than hand AzureML anything but ``repository@sha256:<hex>``."""
    if not _REPO_DIGEST.fullmatch(reference):
        raise pulumi.RunError(
            f"The vLLM image push reported {reference!r} instead of a digest reference "
            "(repository@sha256:...); refusing to deploy an image that is not pinned."
        )
    return reference


@dataclass(frozen=True)
class VllmImageArgs:
    """What to build and where to push it.

    ``base_image`` is the Docker Hub vLLM image, pinned by digest; ``base_image_source`` how it
    reaches the registry (``importImage``, or ``cacheRule`` through the registry's Docker Hub
    credential set ``docker_hub_credential_set``); ``repository`` the registry repository the
    built image is pushed to. The rest is the workspace registry. ``docker_hub_username`` and
    ``docker_hub_token`` (a secret), when set, authenticate the import (docs/adr/0023).
    """

    base_image: str
    base_image_source: str
    docker_hub_credential_set: str | None
    repository: str
    resource_group_name: pulumi.Input[str]
    registry_name: pulumi.Input[str]
    registry_login_server: pulumi.Input[str]
    registry_id: pulumi.Input[str]
    docker_hub_username: str | None = None
    docker_hub_token: pulumi.Input[str] | None = None


class VllmImage(pulumi.ComponentResource):
    """The vLLM serving image in the workspace registry, referenced by digest.

    ``image_reference`` is ``<login server>/<repository>@sha256:...``; ``base_image_reference`` is
    the registry's copy of the pinned vLLM base that the image is built FROM.
    """

    image_reference: pulumi.Output[str]
    digest: pulumi.Output[str]
    base_image_reference: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: VllmImageArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("vllm-azureml:image:VllmImage", name, None, opts)
        base = parse_base_image(args.base_image)
        login_server = pulumi.Output.from_input(args.registry_login_server)
        base_reference = self._base_copy(name, args, base, login_server)
        image = self._build_and_push(name, args, base, login_server, base_reference)

        # The digest AzureML deploys.
        self.image_reference = image.repo_digest.apply(require_digest)
        self.digest = self.image_reference.apply(lambda reference: reference.split("@", 1)[1])
        self.base_image_reference = base_reference
        self.register_outputs(
            {
                "image_reference": self.image_reference,
                "digest": self.digest,
                "base_image_reference": self.base_image_reference,
            }
        )

    def _base_copy(
        self,
        name: str,
        args: VllmImageArgs,
        base: BaseImage,
        login_server: pulumi.Output[str],
    ) -> pulumi.Output[str]:
        """The base image, copied into the registry server-side; returns the copy's reference,
        known once the copy (or the cache rule that makes it on first pull) exists."""
        if args.base_image_source == "cacheRule":
            rule = containerregistry.CacheRule(
                f"{name}-base-cache-rule",
                cache_rule_name=cache_rule_name(base.repository),
                registry_name=args.registry_name,
                resource_group_name=args.resource_group_name,
                source_repository=f"{DOCKER_HUB}/{base.repository}",
                target_repository=base.repository,
                credential_set_resource_id=pulumi.Output.concat(
                    args.registry_id, "/credentialSets/", args.docker_hub_credential_set or ""
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            # Pulling the digest through the rule is what fills the cache: the build does it.
            return pulumi.Output.all(login_server, rule.id).apply(
                lambda values: f"{values[0]}/{base.repository}@{base.digest}"
            )
        imported = RegistryImport(
            f"{name}-base-import",
            RegistryImportArgs(
                registry_id=args.registry_id,
                login_server=login_server,
                source_registry=DOCKER_HUB,
                source_image=f"{base.repository}@{base.digest}",
                target_repository=base.repository,
                # Docker Hub limits anonymous pulls per IP; credentials lift that (ADR 0023).
                source_username=args.docker_hub_username,
                source_password=args.docker_hub_token,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return imported.target_reference

    def _build_and_push(
        self,
        name: str,
        args: VllmImageArgs,
        base: BaseImage,
        login_server: pulumi.Output[str],
        base_reference: pulumi.Output[str],
    ) -> docker.Image:
        """The thin image, built FROM the registry copy and pushed under a content-derived tag."""
        files = context_files()

        def arguments(base_image: str) -> dict[str, str]:
            fixed = {
                "BASE_IMAGE": base_image,
                "BASE_NAME": base.public_reference,
                "BASE_DIGEST": base.digest,
            }
            return {**fixed, "REVISION": build_revision(files, fixed)}

        build_args = base_reference.apply(arguments)
        image_name = pulumi.Output.all(login_server, build_args).apply(
            lambda values: f"{values[0]}/{args.repository}:build-{values[1]['REVISION'][:16]}"
        )
        return docker.Image(
            f"{name}-image",
            image_name=image_name,
            build=docker.DockerBuildArgs(
                context=BUILD_CONTEXT,
                dockerfile=DOCKERFILE,
                platform=PLATFORM,
                args=build_args,
            ),
            registry=docker.RegistryArgs(
                server=login_server,
                username=NULL_GUID_USERNAME,
                password=registry_password(login_server, after=base_reference),
            ),
            skip_push=False,
            # A preview must not need Docker, an Azure login or 10 GB of downloads.
            build_on_preview=False,
            opts=pulumi.ResourceOptions(parent=self),
        )

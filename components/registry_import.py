"""Copy a public image into the workspace registry, server-side, with the registry's importImage action.

ACR's ``importImage`` ARM action (``POST .../registries/{name}/importImage``) makes the registry
itself fetch an image from Docker Hub: the ~10 GB vLLM base never crosses the machine that runs
Pulumi, and the image build then starts FROM the registry copy, so its push uploads only the thin
top layer. azure-native has no resource type for the action, so this module wraps it in a
``pulumi.dynamic`` resource that calls ARM through :mod:`lib.arm`.

The import is by digest: what lands in the registry is byte-for-byte the vetted image, whatever
happens to the tag on Docker Hub. It runs anonymously (Docker Hub allows anonymous pulls of public
images; no Docker Hub account or credential is stored anywhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic

from lib.arm import ArmClient, TokenCredential

# A stable ARM API version that has importImage (azure-rest-api-specs, containerregistry
# stable/2023-07-01, example ImportImageFromPublicRegistry.json) and is rolled out in every region.
IMPORT_API_VERSION = "2023-07-01"

# Copying ~10 GB between registries takes minutes; ARM reports it as one asynchronous operation.
IMPORT_TIMEOUT_SECONDS = 3600.0

# Inputs whose change means a different image in the registry, so a new import (a replacement).
_IMPORT_INPUTS = ("registry_id", "source_registry", "source_image", "target_tag")


def digest_tag(digest: str) -> str:
    """The tag the registry copy gets: the digest spelled as a tag (``sha256-<hex>``).

    Tagged rather than untagged because registries may purge untagged manifests (ACR retention
    policy), which would break the next build FROM it; a tag derived from the digest can only ever
    name these same bytes, so re-importing over it is harmless.
    """
    return digest.replace(":", "-")


def import_request(source_registry: str, source_image: str, target_tag: str) -> dict[str, Any]:
    """The importImage request body (ARM ImportImageParameters)."""
    return {
        "source": {"registryUri": source_registry, "sourceImage": source_image},
        "targetTags": [target_tag],
        # Force: a retry after an interrupted `pulumi up` finds the tag already there. The tag is
        # derived from the digest, so overwriting it rewrites the same manifest.
        "mode": "Force",
    }


class RegistryImportProvider(pulumi.dynamic.ResourceProvider):
    """Creates the registry copy with ARM's importImage; the copy outlives the resource.

    ``credential`` and ``base_url`` exist for tests (a loopback fake ARM); in a deployment both are
    None, so the provider serialized into the stack's state carries no credential and authenticates
    with azure-identity's default chain (`az login`, or the CI's federated login) when it runs.
    """

    # Nothing secret is captured (no credential in a deployment), so the serialized provider need
    # not be encrypted into the state.
    serialize_as_secret_always = False

    def __init__(
        self,
        credential: TokenCredential | None = None,
        base_url: str | None = None,
        poll_interval: float = 10.0,
    ):
        super().__init__()
        self.credential = credential
        self.base_url = base_url
        self.poll_interval = poll_interval

    def _client(self) -> ArmClient:
        return ArmClient(
            credential=self.credential,
            base_url=self.base_url,
            poll_interval=self.poll_interval,
            timeout=IMPORT_TIMEOUT_SECONDS,
        )

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        self._client().post(
            f"{props['registry_id']}/importImage",
            IMPORT_API_VERSION,
            import_request(props["source_registry"], props["source_image"], props["target_tag"]),
        )
        outputs = {key: value for key, value in props.items() if key != "__provider"}
        return pulumi.dynamic.CreateResult(id_=props["target_reference"], outs=outputs)

    def diff(
        self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]
    ) -> pulumi.dynamic.DiffResult:
        changed = [key for key in _IMPORT_INPUTS if _olds.get(key) != _news.get(key)]
        return pulumi.dynamic.DiffResult(
            changes=bool(changed), replaces=changed, delete_before_replace=False
        )

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        # Deliberately a no-op. Deleting a manifest needs the registry's data-plane API, and images
        # built FROM this copy share its layers; the registry, and the copy with it, goes when the
        # stack's registry is deleted. An old base left behind by a bump costs storage only:
        # README, "Bumping vLLM", says how to remove it.
        return None


@dataclass(frozen=True)
class RegistryImportArgs:
    """What to import: ``source_image`` (repository@sha256:digest) from ``source_registry`` into
    ``target_repository`` of the registry ``registry_id`` whose login server is ``login_server``."""

    registry_id: pulumi.Input[str]
    login_server: pulumi.Input[str]
    source_registry: str
    source_image: str
    target_repository: str


class RegistryImport(pulumi.dynamic.Resource, module="containerregistry", name="ImportImage"):
    """A public image copied into a registry by digest; ``target_reference`` pins the copy
    (``<login server>/<repository>@sha256:...``) and resolves only once the copy exists."""

    target_reference: pulumi.Output[str]
    target_tag: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: RegistryImportArgs,
        opts: pulumi.ResourceOptions | None = None,
    ):
        digest = args.source_image.partition("@")[2]
        if not digest.startswith("sha256:"):
            raise ValueError(f"import by digest only, got {args.source_image!r}")
        target_tag = f"{args.target_repository}:{digest_tag(digest)}"
        target_reference = pulumi.Output.concat(
            args.login_server, "/", args.target_repository, "@", digest
        )
        super().__init__(
            RegistryImportProvider(),
            name,
            {
                "registry_id": args.registry_id,
                "source_registry": args.source_registry,
                "source_image": args.source_image,
                "target_tag": target_tag,
                "target_reference": target_reference,
            },
            opts,
        )
